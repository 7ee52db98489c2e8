//! The opened repository: its git, its configuration and what the environment (GitHub
//! Actions or a terminal) says about it; origin normalisation; the Actions event payload.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::config::Config;
use crate::git::Git;
use crate::prompt::PromptMatcher;
use crate::types::Oid;

/// An opened repository with its configuration.
pub struct Workspace {
    pub git: Git,
    pub config: Config,
}

impl Workspace {
    pub fn open(dir: &Path) -> Result<Workspace> {
        let git = Git::open(dir)?;
        let config = Config::load(git.root())?;
        Ok(Workspace { git, config })
    }

    /// The configuration as committed at `rev` (defaults when the file is absent there):
    /// what governs a change is the policy *before* it, never the one it brings.
    pub fn config_at(&self, rev: &Oid) -> Result<Config> {
        let mut reader = self.git.object_reader()?;
        let limit = crate::fsread::CONFIG_LIMIT;
        match reader.read_bounded(&format!("{rev}:{}", crate::config::FILE_NAME), limit)? {
            Some(Err(size)) => bail!(
                "{} at {} is {}, larger than the {} a config may be: refusing it",
                crate::config::FILE_NAME,
                rev.short(),
                crate::fsread::Size(size),
                crate::fsread::Size(limit)
            ),
            Some(Ok(obj)) => {
                let text = String::from_utf8(obj.data).with_context(|| {
                    format!(
                        "{} at {} is not UTF-8",
                        crate::config::FILE_NAME,
                        rev.short()
                    )
                })?;
                Config::parse(
                    &text,
                    Path::new(&format!("{}:{}", rev.short(), crate::config::FILE_NAME)),
                )
                .map_err(Into::into)
            }
            None => Ok(Config {
                digest: Some(crate::types::Sha256Hex::of(b"")),
                ..Config::default()
            }),
        }
    }

    /// The configuration whose policy is in force (see [`crate::governance`]): the recorded
    /// `.promptrail.yml` version read back from git and checked against its recorded digest,
    /// or the built-in default.
    pub fn config_in_force(
        &self,
        in_force: &crate::attestation::predicate::PolicyInForce,
    ) -> Result<Config> {
        let Some(commit) = &in_force.commit else {
            return Ok(Config {
                digest: Some(crate::types::Sha256Hex::of(b"")),
                ..Config::default()
            });
        };
        let config = self.config_at(commit).with_context(|| {
            format!(
                "reading the policy in force ({} v{} at {})",
                crate::config::FILE_NAME,
                in_force.version.map_or(0, |v| v.0),
                commit.short()
            )
        })?;
        let found = config
            .digest
            .clone()
            .unwrap_or_else(|| crate::types::Sha256Hex::of(b""));
        if found != in_force.sha256 {
            bail!(
                "the policy in force is {} with SHA-256 {}, but {}:{} has SHA-256 {found}: the \
                 repository's history does not match the audit log (run `promptrail verify`)",
                crate::config::FILE_NAME,
                in_force.sha256,
                commit.short(),
                crate::config::FILE_NAME
            );
        }
        Ok(config)
    }

    pub fn matcher(&self) -> Result<PromptMatcher> {
        PromptMatcher::new(&self.config.prompts).context("invalid prompt globs")
    }

    /// The files at `commit` that may be prompts: its tree listed as `git ls-tree -r`
    /// does, but only inside directories that could hold a file the include globs select
    /// (and the root, where the policy file lives). Every prompt and every file an include
    /// glob matches is listed; a large tree of other files is not read at all.
    pub fn prompt_files(
        &self,
        commit: &Oid,
        matcher: &PromptMatcher,
    ) -> Result<Vec<crate::git::TreeEntry>> {
        self.git
            .ls_tree_within(commit, |dir| {
                matcher.may_contain(&String::from_utf8_lossy(dir))
            })
            .with_context(|| format!("listing the files of {}", commit.short()))
    }

    /// The audit branch to read: `--branch`, else the config's.
    pub fn audit_branch(&self, flag: Option<&str>) -> Result<String> {
        match flag {
            Some(b) => {
                crate::config::RefName::validate(b).map_err(anyhow::Error::msg)?;
                Ok(b.strip_prefix("refs/heads/").unwrap_or(b).to_owned())
            }
            None => Ok(self.config.audit.branch.0.clone()),
        }
    }

    /// Checks that `env` is one of the configured environments.
    pub fn environment(&self, env: &str) -> Result<String> {
        if self.config.environments.iter().any(|e| e.0 == env) {
            Ok(env.to_owned())
        } else {
            let known: Vec<&str> = self
                .config
                .environments
                .iter()
                .map(|e| e.0.as_str())
                .collect();
            bail!(
                "unknown environment `{env}`: .promptrail.yml lists [{}]",
                known.join(", ")
            )
        }
    }

    pub fn store(&self, branch: &str) -> crate::store::Store<'_> {
        crate::store::Store::new(&self.git, branch, &self.config.audit.remote.0)
    }

    /// The protected branch's name: config, else the remote's default, else the current one.
    pub fn protected_branch(&self) -> Result<String> {
        if let Some(b) = &self.config.protected_branch {
            return Ok(b.0.clone());
        }
        // In GitHub Actions the event names the repository's default branch.
        if let Some(b) = actions_event().ok().flatten().and_then(|e| {
            e["repository"]["default_branch"]
                .as_str()
                .map(str::to_owned)
        }) {
            return Ok(b);
        }
        if let Some(b) = self
            .git
            .remote_default_branch(&self.config.audit.remote.0)?
        {
            return Ok(b);
        }
        match self.git.current_branch()? {
            Some(b) => Ok(b),
            None => bail!(
                "cannot tell the protected branch (detached HEAD and no {}/HEAD): set \
                 `protected_branch` in .promptrail.yml or pass --commit",
                self.config.audit.remote.0
            ),
        }
    }

    /// Digest of `.promptrail.yml` as read (of the empty string without one).
    pub fn config_digest(&self) -> crate::types::Sha256Hex {
        self.config
            .digest
            .clone()
            .unwrap_or_else(|| crate::types::Sha256Hex::of(b""))
    }

    /// Refuses repositories whose history cannot be numbered: no commits, or shallow.
    fn require_full_history(&self) -> Result<()> {
        if !self.git.has_commits()? {
            bail!("the repository has no commits yet: commit your prompts first");
        }
        if self.git.is_shallow()? && !self.shallow_only_on_audit_branch()? {
            bail!(
                "this is a shallow clone: promptrail needs the full history to number \
                 versions (in GitHub Actions: `actions/checkout` with `fetch-depth: 0`)"
            );
        }
        Ok(())
    }

    /// Whether every shallow commit is the audit branch's (fetched tip-only by `gate` and
    /// `deploy`) and none is in HEAD's history: the audit branch numbers no version.
    fn shallow_only_on_audit_branch(&self) -> Result<bool> {
        let store = self.store(&self.config.audit.branch.0);
        let audit = store.local_tip()?;
        let head = self.git.resolve_commit("HEAD")?;
        for s in self.git.shallow_commits()? {
            let on_audit = match &audit {
                Some(a) => a == &s || self.git.is_ancestor(&s, a)?,
                None => false,
            };
            let on_head = match &head {
                Some(h) => h == &s || self.git.is_ancestor(&s, h)?,
                None => false,
            };
            if !on_audit || on_head {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Resolves `--commit REV`, else the protected branch's tip (local, else remote-tracking).
    pub fn target_commit(&self, rev: Option<&str>) -> Result<(String, Oid)> {
        self.require_full_history()?;
        if let Some(rev) = rev {
            let oid = self
                .git
                .resolve_commit(rev)?
                .with_context(|| format!("--commit {rev}: no such commit"))?;
            return Ok((rev.to_owned(), oid));
        }
        let branch = self.protected_branch()?;
        let remote = &self.config.audit.remote.0;
        for candidate in [
            format!("refs/heads/{branch}"),
            format!("refs/remotes/{remote}/{branch}"),
        ] {
            if let Some(oid) = self.git.resolve_commit(&candidate)? {
                return Ok((branch, oid));
            }
        }
        bail!("protected branch `{branch}` not found locally or on {remote}")
    }

    /// What landed: the protected branch as the remote has it (fetched now), and the commit
    /// to record up to (`--commit REV`, which must be on that branch's first-parent line —
    /// checked by the caller against the history).
    pub fn landed(&self, rev: Option<&str>) -> Result<(String, Oid, Oid)> {
        self.require_full_history()?;
        let branch = self.protected_branch()?;
        let remote = &self.config.audit.remote.0;
        if self.git.remote_url(remote)?.is_none() {
            bail!(
                "remote `{remote}` is not configured: record publishes what landed on \
                 {remote}/{branch} (add the remote, or pass --no-push to record local history)"
            );
        }
        let tip = self.git.fetch_branch(remote, &branch)?.with_context(|| {
            format!("protected branch `{branch}` does not exist on {remote}: push it first, or set `protected_branch`")
        })?;
        let target = match rev {
            None => tip.clone(),
            Some(r) => self
                .git
                .resolve_commit(r)?
                .with_context(|| format!("--commit {r}: no such commit"))?,
        };
        Ok((format!("{remote}/{branch}"), tip, target))
    }

    /// The log's origin for a new audit branch: the GitHub repository when running in
    /// Actions, else the remote's URL without credentials, else the directory name.
    pub fn origin(&self) -> Result<String> {
        if let (Ok(server), Ok(repo)) = (
            std::env::var("GITHUB_SERVER_URL"),
            std::env::var("GITHUB_REPOSITORY"),
        ) && !repo.is_empty()
        {
            return Ok(normalize_origin(&format!("{server}/{repo}")));
        }
        if let Some(url) = self.git.remote_url(&self.config.audit.remote.0)? {
            return Ok(normalize_origin(&url));
        }
        let name = self
            .git
            .root()
            .file_name()
            .map_or("repository".into(), |n| n.to_string_lossy().into_owned());
        Ok(format!("local/{name}"))
    }
}

/// `https://user:tok@github.com/o/r.git` and `git@github.com:o/r.git` → `github.com/o/r`.
pub fn normalize_origin(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.to_owned(),
        None => match url.split_once(':') {
            // scp-like `user@host:path`, but not a Windows drive or a plain path.
            Some((host, path)) if host.contains('@') || (!host.contains('/') && host.len() > 1) => {
                format!("{host}/{path}")
            }
            _ => return url.to_owned(),
        },
    };
    let rest = match rest.split_once('/') {
        Some((authority, path)) => {
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{host}/{path}")
        }
        None => rest.rsplit('@').next().unwrap_or(&rest).to_owned(),
    };
    rest.trim_start_matches('/').to_owned()
}

/// The Actions event payload, when `GITHUB_EVENT_PATH` names one: a regular file of at most
/// 25 MiB (GitHub's cap on webhook payloads), never a device or FIFO.
pub(crate) fn actions_event() -> Result<Option<serde_json::Value>> {
    let Some(path) = std::env::var_os("GITHUB_EVENT_PATH").filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let path = std::path::PathBuf::from(path);
    let text = crate::fsread::read_text(
        &path,
        crate::fsread::EVENT_LIMIT,
        "the Actions event payload",
        crate::fsread::Symlinks::Follow,
    )?;
    let event = serde_json::from_str(&text)
        .with_context(|| format!("the event payload {} is not JSON", path.display()))?;
    Ok(Some(event))
}

#[cfg(test)]
mod tests {
    use super::normalize_origin;

    #[test]
    fn origins_are_normalized_without_credentials() {
        for (url, want) in [
            (
                "https://github.com/acme/intake.git",
                "github.com/acme/intake",
            ),
            (
                "https://x-access-token:SECRET@github.com/acme/intake",
                "github.com/acme/intake",
            ),
            ("git@github.com:acme/intake.git", "github.com/acme/intake"),
            (
                "ssh://git@ghe.example.com:2222/acme/intake",
                "ghe.example.com:2222/acme/intake",
            ),
            ("/tmp/remote.git", "/tmp/remote"),
            ("file:///tmp/remote.git", "tmp/remote"),
        ] {
            assert_eq!(normalize_origin(url), want, "{url}");
        }
    }
}
