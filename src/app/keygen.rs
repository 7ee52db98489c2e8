//! `promptrail keygen`: an encrypted, cosign-compatible ECDSA P-256 key pair.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::Outcome;
use crate::cli::KeygenArgs;
use crate::signing;

pub const PRIVATE_FILE: &str = "promptrail.key";
pub const PUBLIC_FILE: &str = "promptrail.pub";

pub fn run(args: &KeygenArgs) -> Result<Outcome> {
    let private = args.out.join(PRIVATE_FILE);
    let public = args.out.join(PUBLIC_FILE);
    for p in [&private, &public] {
        if p.exists() && !args.force {
            bail!(
                "{} already exists; pass --force to overwrite it",
                p.display()
            );
        }
    }
    let password = signing::read_password("Password for the new private key: ", true)?;
    if password.as_str().is_empty() {
        eprintln!("warning: the private key is encrypted with an empty password");
    }
    let key = signing::generate(password.as_bytes())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_private(&private, key.private_pem.as_bytes())?;
    std::fs::write(&public, &key.public_pem)
        .with_context(|| format!("writing {}", public.display()))?;
    println!(
        "private key: {} (keep it secret; store it as the PROMPTRAIL_SIGNING_KEY secret)",
        private.display()
    );
    println!(
        "public key:  {} (commit it; auditors verify with it)",
        public.display()
    );
    println!("key id:      {}", key.key_id);
    Ok(Outcome::Ok)
}

/// Writes the private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}
