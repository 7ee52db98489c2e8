//! Who may sign the audit branch: the keys the policy in force names, read back from the
//! recorded configuration ([`crate::store::SignerPolicy`] for appends), never the working
//! tree's `.promptrail.yml`, which anyone who can push may change.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use super::Workspace;
use crate::signing::TrustedKey;
use crate::store::{SignerPolicy, Store};
use crate::types::{Oid, Sha256Hex};

/// A recorded configuration (its SHA-256) and the commit its key files are read at.
type ConfigAt = (Sha256Hex, Option<Oid>);

/// The policy in force after a commit, from that commit's state summary (bound to its
/// checkpoint; whether that checkpoint is trusted the append's walk decides), and its keys:
/// `signing.public_keys` of the configuration it names, read from git at the commit it
/// landed in (a key file inside the repository as it was there, trusted only as pinned).
pub struct PolicySigners<'w> {
    ws: &'w Workspace,
    /// Keys by the configuration that names them (its SHA-256) and the commit read at.
    known: RefCell<HashMap<ConfigAt, Vec<TrustedKey>>>,
}

impl<'w> PolicySigners<'w> {
    pub fn new(ws: &'w Workspace) -> Self {
        PolicySigners {
            ws,
            known: RefCell::new(HashMap::new()),
        }
    }

    /// The keys a recorded configuration names, each as pinned; one that cannot be read or
    /// is not as pinned refuses (a policy's keys are never quietly fewer).
    fn keys_of(&self, config: &crate::config::Config, at: &Oid) -> Result<Vec<TrustedKey>> {
        config
            .signing
            .public_keys
            .iter()
            .map(|k| {
                let unusable = || {
                    anyhow::anyhow!(
                        "the policy in force at {} names the key {}, which cannot be read \
                         there or is not as pinned",
                        at.short(),
                        k.path().display()
                    )
                };
                let mut key = self.key_at(k.path(), at).ok_or_else(unusable)?;
                let pinned = k.key_id();
                if pinned.is_some_and(|want| !want.eq_ignore_ascii_case(&key.key_id.to_string()))
                    || (pinned.is_none() && k.path().is_relative())
                {
                    return Err(unusable());
                }
                (key.not_before, key.not_after) = k.window();
                Ok(key)
            })
            .collect()
    }

    /// A key file: inside the repository as committed at `at`, else from disk.
    fn key_at(&self, path: &Path, at: &Oid) -> Option<TrustedKey> {
        if path.is_absolute() {
            return TrustedKey::load(path).ok();
        }
        let spec = format!("{at}:{}", path.to_str()?);
        let mut reader = self.ws.git.object_reader().ok()?;
        match reader
            .read_bounded(&spec, crate::fsread::KEY_LIMIT)
            .ok()??
        {
            Ok(obj) => TrustedKey::from_pem(&obj.data, &spec).ok(),
            Err(_) => None,
        }
    }
}

impl SignerPolicy for PolicySigners<'_> {
    fn keys_after(&self, store: &Store, commit: &Oid) -> Result<Option<Vec<TrustedKey>>> {
        // A commit whose summary is missing or not bound to its checkpoint cannot say who
        // may sign after it: refused, never the working tree's keys instead.
        let Some(mut view) = crate::summary::StateView::open(store, commit)? else {
            anyhow::bail!(
                "{} carries no state summary, so the keys its policy names cannot be read",
                commit.short()
            );
        };
        view.check_binding().map_err(|e| {
            anyhow::anyhow!(
                "the state summary of {} is not believed: {e}",
                commit.short()
            )
        })?;
        let in_force = view.policy()?.for_next_change();
        if let Some(keys) = self
            .known
            .borrow()
            .get(&(in_force.sha256.clone(), in_force.commit.clone()))
        {
            return Ok((!keys.is_empty()).then(|| keys.clone()));
        }
        let keys = match &in_force.commit {
            None => Vec::new(),
            Some(at) => self.keys_of(&self.ws.config_in_force(&in_force)?, at)?,
        };
        self.known.borrow_mut().insert(
            (in_force.sha256.clone(), in_force.commit.clone()),
            keys.clone(),
        );
        Ok((!keys.is_empty()).then_some(keys))
    }
}
