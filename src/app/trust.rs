//! What a command trusts and signs with: trusted keys and keyless identities from the
//! configuration and flags, narrowed to the external trust anchor when CI sets one, the
//! signing key, and the signer (key or keyless).

use std::path::Path;

use anyhow::{Result, bail};

use super::Workspace;
use crate::anchor::{
    IdentityAnchor, KeyAnchor, TRANSPARENCY_ENV, TRUSTED_IDENTITIES_ENV, TRUSTED_KEY_IDS_ENV,
};
use crate::cli::TrustArgs;
use crate::config::SigningMode;
use crate::keyless::verify::{IdentityPolicy, KeylessTrust};
use crate::signing::{Trust, TrustedKey};

/// What verification trusts: `--key` files, else `signing.public_keys` (with their validity
/// windows); for keyless entries, the identities, issuer and trusted root from the flags,
/// else from `signing`. Keyless trust exists when identities are given or the mode is keyless.
/// With the external anchors set ([`KeyAnchor`], [`IdentityAnchor`]), only the keys and
/// identities they list ([`Anchors::narrow`]).
pub fn trust(ws: &Workspace, args: &TrustArgs) -> Result<Trust> {
    let anchors = Anchors::from_env()?;
    let mut trust = configured(ws, args, &anchors)?;
    anchors.narrow(&mut trust, !args.keys.is_empty())?;
    Ok(trust)
}

/// The external trust anchors CI set, if any.
#[derive(Default)]
pub(super) struct Anchors {
    keys: Option<KeyAnchor>,
    identities: Option<IdentityAnchor>,
    /// `PROMPTRAIL_TRANSPARENCY`, if set.
    transparency: Option<bool>,
}

impl Anchors {
    pub(super) fn from_env() -> Result<Anchors> {
        Ok(Anchors {
            keys: KeyAnchor::from_env()?,
            identities: IdentityAnchor::from_env()?,
            transparency: crate::anchor::transparency_from_env().map_err(anyhow::Error::msg)?,
        })
    }

    /// Whether keyless entries must be in a transparency log: the workflow's
    /// `PROMPTRAIL_TRANSPARENCY`, else under the identity anchor always (the checkout's
    /// `signing.transparency: false` is whoever pushed it), else the checkout's setting.
    fn transparency(&self, configured: bool) -> bool {
        self.transparency
            .unwrap_or(self.identities.is_some() || configured)
    }

    /// Narrows `trust` to the anchors: the keys to [`anchored`]; under the identity anchor
    /// alone, no key is trusted (the configured keys are dropped; a `--key`, `flagged`, is
    /// refused): the keys at hand come from the working tree or the caller, and only
    /// `PROMPTRAIL_TRUSTED_KEY_IDS` says which of them CI trusts.
    fn narrow(self, trust: &mut Trust, flagged: bool) -> Result<()> {
        trust.identity_anchor = self.identities.is_some();
        match self.keys {
            Some(anchor) => anchored(trust, anchor, flagged),
            None if self.identities.is_some() => {
                if flagged {
                    bail!(
                        "{TRUSTED_IDENTITIES_ENV} is set and {TRUSTED_KEY_IDS_ENV} is not: no \
                         key is trusted, so --key is refused (list its id in \
                         {TRUSTED_KEY_IDS_ENV} to trust key-signed entries too)"
                    );
                }
                trust.keys.clear();
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// [`trust`] before the anchors narrow it. Under the identity anchor, keyless trust rests on
/// its identities, the issuer flag (else GitHub's) and the trusted root flag (else
/// Sigstore's public-good root), never on `.promptrail.yml`'s; under the key anchor alone no
/// keyless trust is built (it would rest on identities, an issuer and a trusted root the
/// working tree names).
fn configured(ws: &Workspace, args: &TrustArgs, anchors: &Anchors) -> Result<Trust> {
    let signing = &ws.config.signing;
    let keys = if !args.keys.is_empty() {
        load_keys(&args.keys)?
    } else {
        signing
            .public_keys
            .iter()
            .map(|k| {
                let path = ws.git.root().join(k.path());
                let mut key = TrustedKey::load(&path)?;
                pinned(ws, k, &path, &key)?;
                (key.not_before, key.not_after) = k.window();
                Ok::<_, anyhow::Error>(key)
            })
            .collect::<Result<Vec<_>>>()?
    };
    let flagged = !args.identities.is_empty() || !args.identity_regexps.is_empty();
    if let Some(anchor) = &anchors.identities {
        return Ok(Trust {
            keys,
            keyless: identity_anchored(anchor, args, !anchors.transparency(signing.transparency))?,
            ..Default::default()
        });
    }
    if anchors.keys.is_some() {
        if flagged {
            bail!(
                "{TRUSTED_KEY_IDS_ENV} is set: it anchors key mode only, and keyless trust \
                 (--certificate-identity) under an external anchor is not supported; unset \
                 {TRUSTED_KEY_IDS_ENV} to verify keyless entries"
            );
        }
        return Ok(Trust {
            keys,
            ..Default::default()
        });
    }
    let (exact, patterns) = if flagged {
        (args.identities.clone(), args.identity_regexps.clone())
    } else {
        (
            signing.identities.clone(),
            signing
                .identity_regexps
                .iter()
                .map(|p| p.0.clone())
                .collect(),
        )
    };
    let issuer = args
        .issuer
        .clone()
        .unwrap_or_else(|| signing.issuer.clone());
    let root = args
        .trusted_root
        .clone()
        .or_else(|| signing.trusted_root.as_ref().map(|p| ws.git.root().join(p)));
    let keyless = keyless_trust(
        (exact, &patterns, issuer),
        root.as_deref(),
        !anchors.transparency(signing.transparency),
        signing.mode == SigningMode::Keyless,
    )?;
    Ok(Trust {
        keys,
        keyless,
        ..Default::default()
    })
}

/// Whether keyless signing logs to Rekor: [`Anchors::transparency`], refusing under the
/// identity anchor when the checkout turns the log off and the workflow does not: the entries
/// would not verify under the anchor, and publishing what the checkout asked to keep private
/// would be worse than stopping.
fn logged(anchors: &Anchors, configured: bool) -> Result<bool> {
    if anchors.identities.is_some() && anchors.transparency.is_none() && !configured {
        bail!(
            "{TRUSTED_IDENTITIES_ENV} is set: keyless signing does not use \
             `signing.transparency: false` from .promptrail.yml (whoever pushed the checkout \
             could turn the transparency log off for the entries CI trusts); set \
             {TRANSPARENCY_ENV}=false in the workflow to sign without it, or remove the setting \
             to log to Rekor"
        );
    }
    Ok(anchors.transparency(configured))
}

/// Keyless trust under the identity anchor: its identities exactly, the issuer and trusted
/// root from the flags alone (`--certificate-identity` flags are refused: the anchor decides).
fn identity_anchored(
    anchor: &IdentityAnchor,
    args: &TrustArgs,
    allow_unlogged: bool,
) -> Result<Option<KeylessTrust>> {
    if !args.identities.is_empty() || !args.identity_regexps.is_empty() {
        bail!(
            "{TRUSTED_IDENTITIES_ENV} is set: it decides which certificate identities are \
             trusted, whatever --certificate-identity says; drop the flag, or unset the variable"
        );
    }
    let issuer = args
        .issuer
        .clone()
        .unwrap_or_else(|| crate::keyless::GITHUB_ISSUER.to_owned());
    keyless_trust(
        (
            anchor.identities().map(str::to_owned).collect(),
            &[],
            issuer,
        ),
        args.trusted_root.as_deref(),
        allow_unlogged,
        true,
    )
}

/// Narrows `trust` to the anchor: a `--key` (`flagged`) the anchor does not list is refused
/// (the user asked to trust it; silently dropping it would look like trust); a configured key
/// it does not list is dropped (the working tree may name anything); and every listed id must
/// be among the keys left, or the keys at hand are not the ones CI trusts and nothing is.
fn anchored(trust: &mut Trust, anchor: KeyAnchor, flagged: bool) -> Result<()> {
    if flagged && let Some(k) = trust.keys.iter().find(|k| !anchor.lists(&k.key_id)) {
        bail!(
            "{}: its key id is {}, which {TRUSTED_KEY_IDS_ENV} does not list: not trusting it \
             (the external anchor decides, whatever --key says)",
            k.source,
            k.key_id
        );
    }
    trust.keys.retain(|k| anchor.lists(&k.key_id));
    let missing: Vec<&str> = anchor
        .ids()
        .filter(|id| !trust.keys.iter().any(|k| k.key_id.as_str() == *id))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{TRUSTED_KEY_IDS_ENV} lists key id(s) {} that no {} has: the keys at hand are not \
             the ones CI trusts, so nothing is trusted (give the listed keys, or correct the \
             variable)",
            missing.join(", "),
            if flagged {
                "--key file"
            } else {
                "key at hand (`signing.public_keys`, or the signing key)"
            }
        );
    }
    trust.anchor = Some(anchor);
    Ok(())
}

/// What the flags alone trust (no repository, no config): for checking a proof anywhere.
pub fn trust_from_flags(args: &TrustArgs) -> Result<Trust> {
    let issuer = args
        .issuer
        .clone()
        .unwrap_or_else(|| crate::keyless::GITHUB_ISSUER.to_owned());
    let anchors = Anchors::from_env()?;
    let flagged = !args.identities.is_empty() || !args.identity_regexps.is_empty();
    if anchors.keys.is_some() && anchors.identities.is_none() && flagged {
        bail!(
            "{TRUSTED_KEY_IDS_ENV} is set: it anchors key mode only; unset it to check a \
             keyless proof (or set {TRUSTED_IDENTITIES_ENV})"
        );
    }
    // A proof names no transparency setting: the workflow's `PROMPTRAIL_TRANSPARENCY`,
    // else under the identity anchor logged (as `verify` there), else entries without a
    // Rekor entry are checked at their own time, as verify does for such logs.
    let unlogged = !anchors.transparency(false);
    let keyless = match &anchors.identities {
        Some(anchor) => identity_anchored(anchor, args, unlogged)?,
        None if anchors.keys.is_some() => None,
        None => keyless_trust(
            (args.identities.clone(), &args.identity_regexps, issuer),
            args.trusted_root.as_deref(),
            unlogged,
            false,
        )?,
    };
    let mut trust = Trust {
        keys: load_keys(&args.keys)?,
        keyless,
        ..Default::default()
    };
    // Every key here is a `--key` (the key anchor's "flagged" reading); under the identity
    // anchor alone only a `--key` actually given is refused.
    let flagged = !args.keys.is_empty() || anchors.keys.is_some();
    anchors.narrow(&mut trust, flagged)?;
    Ok(trust)
}

fn load_keys(paths: &[std::path::PathBuf]) -> Result<Vec<TrustedKey>> {
    Ok(paths
        .iter()
        .map(|p| TrustedKey::load(p))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Keyless trust for `(identities, patterns, issuer)` and a trusted-root file (default:
/// Sigstore's public-good root); none when no identity is given, unless `required`.
fn keyless_trust(
    (exact, patterns, issuer): (Vec<String>, &[String], String),
    root_file: Option<&Path>,
    allow_unlogged: bool,
    required: bool,
) -> Result<Option<KeylessTrust>> {
    let policy = IdentityPolicy {
        exact,
        patterns: patterns
            .iter()
            .map(|p| IdentityPolicy::compile(p))
            .collect::<Result<_>>()?,
        issuer,
    };
    if policy.is_empty() && !required {
        return Ok(None);
    }
    let root = match root_file {
        Some(p) => Some((
            crate::fsread::read_text(
                p,
                crate::fsread::TRUSTED_ROOT_LIMIT,
                "a trusted root",
                crate::fsread::Symlinks::Follow,
            )?,
            p.display().to_string(),
        )),
        None => None,
    };
    Ok(Some(KeylessTrust::new(root, policy, allow_unlogged)?))
}

/// A private key file: a regular file of at most 64 KiB.
fn read_key(path: &Path) -> Result<Vec<u8>> {
    Ok(crate::fsread::read_regular(
        path,
        crate::fsread::KEY_LIMIT,
        "a signing key",
        crate::fsread::Symlinks::Follow,
    )?)
}

/// The signing key: `--key PATH`, else `PROMPTRAIL_SIGNING_KEY` (PEM text), else
/// `signing.key` from the config. The password comes from `PROMPTRAIL_KEY_PASSWORD` or a
/// terminal prompt.
pub fn load_signing_key(ws: &Workspace, flag: Option<&Path>) -> Result<crate::signing::SigningKey> {
    use crate::signing::{KEY_ENV, SigningKey, read_password};
    let (pem, source) = if let Some(path) = flag {
        let pem = read_key(path)?;
        (pem, path.display().to_string())
    } else if let Some(pem) = std::env::var_os(KEY_ENV).filter(|v| !v.is_empty()) {
        (pem.into_encoded_bytes(), format!("${KEY_ENV}"))
    } else if let Some(rel) = &ws.config.signing.key {
        let path = ws.git.root().join(rel);
        let pem = read_key(&path)?;
        (pem, path.display().to_string())
    } else {
        bail!(
            "no signing key: pass --key PATH, set {KEY_ENV} to the private key's PEM text, \
             or set `signing.key` in .promptrail.yml (create one with `promptrail keygen`)"
        );
    };
    let password = read_password(&format!("Password for {source}: "), false)?;
    Ok(SigningKey::from_encrypted_pem(
        &pem,
        password.as_bytes(),
        &source,
    )?)
}

/// The signer for `record`, `deploy` and `rollback` (`--keyless` or `signing.mode`), and what
/// they trust when reading the log back: the configured trust, plus the signing key itself in
/// key mode (refused when its configured window excludes now).
pub fn load_signer(
    ws: &Workspace,
    args: &crate::cli::KeyArg,
) -> Result<(crate::signing::Signer, crate::signing::Trust)> {
    use crate::config::SigningMode;
    use crate::keyless::{KeylessSigner, PUBLIC_FULCIO, PUBLIC_REKOR, Services};
    use crate::signing::{Signer, TrustedKey};
    let signing = &ws.config.signing;
    let anchors = Anchors::from_env()?;
    let mut trust = configured(
        ws,
        &crate::cli::TrustArgs {
            trusted_root: args.trusted_root.clone(),
            ..Default::default()
        },
        &anchors,
    )?;
    if args.keyless || (signing.mode == SigningMode::Keyless && args.key.is_none()) {
        if anchors.keys.is_some() && anchors.identities.is_none() {
            bail!(
                "{TRUSTED_KEY_IDS_ENV} is set: it anchors key mode only; keyless signing needs \
                 {TRUSTED_IDENTITIES_ENV} beside it (the certificate identities CI trusts), or \
                 sign with a listed key (--key or PROMPTRAIL_SIGNING_KEY)"
            );
        }
        let Some(keyless) = &trust.keyless else {
            bail!(
                "keyless signing needs `signing.identities` (or `identity_regexps`) in \
                 .promptrail.yml: the workflows whose certificates verify will trust"
            );
        };
        let anchored = anchors.identities.is_some();
        let url = |flag: &Option<String>, config: &Option<String>, public: &str, name: &str| {
            match (flag, config) {
                (Some(f), _) => Ok(f.clone()),
                // The checkout is whoever pushed it: its Fulcio would receive this job's
                // OIDC token, good for a certificate of the very identity the anchor trusts.
                (None, Some(c)) if anchored && c.trim_end_matches('/') != public => bail!(
                    "{TRUSTED_IDENTITIES_ENV} is set: keyless signing does not use \
                     `signing.{name}_url` from .promptrail.yml ({c}): whoever pushed the \
                     checkout could name a server of their own and receive this job's OIDC \
                     token, then sign as this workflow; give it from the workflow with \
                     --{name}-url (or PROMPTRAIL_{upper}_URL), or remove it from \
                     .promptrail.yml to use {public}",
                    upper = name.to_ascii_uppercase()
                ),
                (None, Some(c)) => Ok(c.clone()),
                (None, None) => Ok(public.to_owned()),
            }
        };
        let signer = KeylessSigner::new(Services {
            fulcio_url: url(
                &args.fulcio_url,
                &signing.fulcio_url,
                PUBLIC_FULCIO,
                "fulcio",
            )?,
            rekor_url: url(&args.rekor_url, &signing.rekor_url, PUBLIC_REKOR, "rekor")?,
            transparency: logged(&anchors, signing.transparency)?,
            policy: keyless.policy.clone(),
        })?;
        anchors.narrow(&mut trust, false)?;
        return Ok((Signer::Keyless(signer), trust));
    }
    if anchors.identities.is_some() && anchors.keys.is_none() {
        bail!(
            "{TRUSTED_IDENTITIES_ENV} is set and {TRUSTED_KEY_IDS_ENV} is not: entries signed \
             with a key would not be trusted; sign keylessly, or list the key's id in \
             {TRUSTED_KEY_IDS_ENV}"
        );
    }
    let key = load_signing_key(ws, args.key.as_deref())?;
    if let Some(anchor) = &anchors.keys
        && !anchor.lists(key.key_id())
    {
        bail!(
            "the signing key {} is not one {TRUSTED_KEY_IDS_ENV} lists: the entries and \
             checkpoints it signed would not be trusted; sign with a listed key, or add its id \
             to the variable",
            key.key_id()
        );
    }
    match trust.keys.iter().find(|k| &k.key_id == key.key_id()) {
        Some(k) if !k.valid_at(chrono::Utc::now()) => bail!(
            "the signing key {} is outside its validity window in .promptrail.yml (retired or \
             not yet valid): sign with the current key",
            key.key_id()
        ),
        Some(_) => {}
        None => trust.keys.push(TrustedKey::from_pem(
            key.public_pem().as_bytes(),
            "the signing key",
        )?),
    }
    anchors.narrow(&mut trust, false)?;
    Ok((Signer::Key(key), trust))
}

/// A configured key file inside the repository is trusted only with the key id
/// `.promptrail.yml` pins it to: the policy file is governed (an edit takes effect only once
/// approved), the key file's bytes are not, so anyone with push access could otherwise swap
/// in a key of their own and have their entries and checkpoints trusted.
fn pinned(
    ws: &Workspace,
    k: &crate::config::PublicKeyRef,
    path: &std::path::Path,
    key: &TrustedKey,
) -> Result<()> {
    let found = key.key_id.to_string();
    match k.key_id() {
        Some(want) if want.eq_ignore_ascii_case(&found) => Ok(()),
        Some(want) => bail!(
            "{}: its key id is {found}, but .promptrail.yml pins {want} (`signing.public_keys`): \
             not trusting it",
            path.display()
        ),
        None => {
            let root = std::fs::canonicalize(ws.git.root())?;
            let inside = std::fs::canonicalize(path).is_ok_and(|p| p.starts_with(&root));
            if inside {
                bail!(
                    "{}: a key file inside the repository must be pinned by its id in \
                     .promptrail.yml, or anyone who can push could replace it: write \
                     `- {{ path: {}, key_id: {found} }}` under `signing.public_keys`",
                    path.display(),
                    k.path().display()
                );
            }
            Ok(())
        }
    }
}
