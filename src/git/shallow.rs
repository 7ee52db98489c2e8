//! Fetching only what an answer needs: one branch's tip commit and its parent with their
//! trees and no blobs (`--depth=2 --filter=blob:none`), then exactly the blobs asked for, and completing such a
//! branch when a full read is needed after all.
//!
//! A filtered fetch marks the remote as a promisor and records the filter as
//! `remote.<r>.partialclonefilter`; that filter is put back to what it was afterwards, so
//! that later plain fetches (of the protected branch, say) still bring every blob.

use std::process::Stdio;

use anyhow::{Context, Result, bail};

use super::{Git, output_with_input, redact};
use crate::types::Oid;

impl Git {
    /// Fetches the tip of `branch` on `remote` and its parent into its remote-tracking ref,
    /// with their trees but no blobs, and no history before them. `None` when the remote has
    /// no such branch.
    pub fn fetch_tip_trees(&self, remote: &str, branch: &str) -> Result<Option<Oid>> {
        let tracking = format!("refs/remotes/{remote}/{branch}");
        let refspec = format!("+refs/heads/{branch}:{tracking}");
        let out = self.keeping_filter(remote, || {
            self.cmd()
                .args([
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--depth=2",
                    "--filter=blob:none",
                    remote,
                    &refspec,
                ])
                .output()
                .context("could not run `git fetch`")
        })?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("couldn't find remote ref") {
                return Ok(None);
            }
            bail!(
                "could not fetch {branch} from {remote}: {}",
                redact(err.trim())
            );
        }
        self.resolve_commit(&tracking)
    }

    /// The objects of `oids` this repository does not have (never fetched lazily to find out).
    pub fn missing(&self, oids: &[Oid]) -> Result<Vec<Oid>> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = self.cmd();
        cmd.env("GIT_NO_LAZY_FETCH", "1")
            .args(["cat-file", "--batch-check=%(objectname)"])
            .stderr(Stdio::null());
        let out = output_with_input(cmd, lines(oids), "git cat-file")?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .lines()
            .filter_map(|l| l.strip_suffix(" missing"))
            .filter_map(Oid::parse)
            .collect())
    }

    /// Fetches exactly these objects from `remote` (those already here are skipped), in one
    /// request, the way git fetches a partial clone's missing blobs.
    pub fn fetch_objects(&self, remote: &str, oids: &[Oid]) -> Result<usize> {
        let wanted = self.missing(oids)?;
        if wanted.is_empty() {
            return Ok(0);
        }
        let out = self.keeping_filter(remote, || {
            let mut cmd = self.cmd();
            cmd.args([
                "-c",
                "fetch.negotiationAlgorithm=noop",
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--recurse-submodules=no",
                "--filter=blob:none",
                "--stdin",
                remote,
            ])
            .stderr(Stdio::piped());
            output_with_input(cmd, lines(&wanted), "git fetch")
        })?;
        if !out.status.success() {
            bail!(
                "could not fetch {} object(s) from {remote}: {}",
                wanted.len(),
                redact(String::from_utf8_lossy(&out.stderr).trim())
            );
        }
        Ok(wanted.len())
    }

    /// Completes a branch fetched by [`Git::fetch_tip_trees`]: its whole history and every
    /// blob (`--refetch`: the blobs of the trees already here were never sent).
    pub fn complete_branch(&self, remote: &str, branch: &str) -> Result<Option<Oid>> {
        let (tracking, out) =
            self.fetch_to_tracking(remote, branch, &["--refetch", "--depth=2147483647"])?;
        if !out.status.success() {
            bail!(
                "could not fetch all of {branch} from {remote}: {}",
                redact(String::from_utf8_lossy(&out.stderr).trim())
            );
        }
        self.resolve_commit(&tracking)
    }

    /// Whether `tip`'s history is cut short here: a shallow commit is `tip` or behind it.
    pub fn is_shallow_at(&self, tip: &Oid) -> Result<bool> {
        for s in self.shallow_commits()? {
            if &s == tip || self.is_ancestor(&s, tip)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Runs `fetch` and puts `remote.<remote>.partialclonefilter` back as it was: a filtered
    /// fetch records its filter there, and every later fetch from the remote would inherit it.
    fn keeping_filter<T>(&self, remote: &str, fetch: impl FnOnce() -> Result<T>) -> Result<T> {
        let key = format!("remote.{remote}.partialclonefilter");
        let before = self.config_value(&key)?;
        let result = fetch();
        let after = self.config_value(&key)?;
        if after != before {
            match &before {
                Some(v) => self.run(&["config", "--local", &key, v]).map(drop)?,
                None => self
                    .run(&["config", "--local", "--unset", &key])
                    .map(drop)?,
            }
        }
        result
    }

    fn config_value(&self, key: &str) -> Result<Option<String>> {
        let out = self
            .cmd()
            .args(["config", "--local", "--get", key])
            .output()
            .context("could not run `git config`")?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_owned()))
    }
}

/// One object id a line, as `--stdin` readers take them.
fn lines(oids: &[Oid]) -> Vec<u8> {
    oids.iter()
        .flat_map(|o| format!("{o}\n").into_bytes())
        .collect()
}
