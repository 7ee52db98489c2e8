//! `promptrail init`: write the commented config template.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::Outcome;
use crate::cli::InitArgs;
use crate::config::{FILE_NAME, TEMPLATE};
use crate::git::Git;

pub fn run(dir: &Path, args: &InitArgs) -> Result<Outcome> {
    let git = Git::open(dir)?;
    let path = git.root().join(FILE_NAME);
    if path.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        );
    }
    std::fs::write(&path, TEMPLATE).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    println!("next: `promptrail keygen --out <dir>` for a signing key, then `promptrail record`");
    Ok(Outcome::Ok)
}
