//! One module per command: each wires config, git, the store and a report together.

mod active;
mod approvals;
mod attest;
mod check;
mod deploy;
mod doctor;
mod drift;
mod export;
mod fresh;
mod generate;
mod indexed;
mod init;
mod keygen;
mod log;
mod merge_group;
mod prove;
mod record;
mod rollback;
pub(crate) mod show;
mod status;
mod trace;
mod verify;
mod which;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::git::Git;
use crate::prompt::PromptMatcher;
use crate::types::Oid;

/// How a command ended, mapped to the documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: everything held.
    Ok,
    /// 1: the policy or verification said no.
    No,
    /// 2: usage, config or runtime error.
    Error,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Outcome::Ok => 0,
            Outcome::No => 1,
            Outcome::Error => 2,
        })
    }
}

/// Runs a parsed command line; errors are printed to stderr.
pub fn run(cli: Cli) -> Outcome {
    let progress = Progress {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    let result = match &cli.command {
        Command::Init(a) => init::run(&cli.repo, a),
        Command::Keygen(a) => keygen::run(a),
        Command::Status(a) => status::run(&cli.repo, a),
        Command::Record(a) => record::run(&cli.repo, a, &progress),
        Command::Verify(a) => verify::run(&cli.repo, a, &progress),
        Command::Log(a) => log::run(&cli.repo, a),
        Command::Show(a) => show::run(&cli.repo, a),
        Command::Check(a) => check::run(&cli.repo, a, &progress),
        Command::Gate(a) => deploy::gate(&cli.repo, a, &progress),
        Command::Deploy(a) => deploy::run(&cli.repo, a, &progress),
        Command::Rollback(a) => rollback::run(&cli.repo, a, &progress),
        Command::Active(a) => active::run(&cli.repo, a),
        Command::Checkpoint(a) => verify::print_checkpoint(&cli.repo, a),
        Command::Prove(a) => prove::run(&cli.repo, a),
        Command::VerifyEntry(a) => prove::verify_entry(a),
        Command::Export(a) => export::run(&cli.repo, a),
        Command::Doctor(a) => doctor::run(&cli.repo, a),
        Command::Generate(a) => generate::run(a),
        Command::Which(a) => which::run(&cli.repo, a),
        Command::Trace(a) => trace::run(&cli.repo, a),
        Command::Drift(a) => drift::run(&cli.repo, a),
    };
    match result {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("error: {e:#}");
            Outcome::Error
        }
    }
}

/// Progress and warnings on stderr.
pub struct Progress {
    pub quiet: bool,
    pub verbose: bool,
}

impl Progress {
    pub fn say(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }

    pub fn warn(&self, msg: &str) {
        eprintln!("warning: {msg}");
    }
}

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
            "no signing key: pass --key PATH, set {KEY_ENV} to the private key's PEM text,              or set `signing.key` in .promptrail.yml (create one with `promptrail keygen`)"
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
    let mut trust = verify::trust(
        ws,
        &crate::cli::TrustArgs {
            trusted_root: args.trusted_root.clone(),
            ..Default::default()
        },
    )?;
    if args.keyless || (signing.mode == SigningMode::Keyless && args.key.is_none()) {
        let Some(keyless) = &trust.keyless else {
            bail!(
                "keyless signing needs `signing.identities` (or `identity_regexps`) in \
                 .promptrail.yml: the workflows whose certificates verify will trust"
            );
        };
        let url = |flag: &Option<String>, config: &Option<String>, public: &str| {
            flag.clone()
                .or_else(|| config.clone())
                .unwrap_or_else(|| public.to_owned())
        };
        let signer = KeylessSigner::new(Services {
            fulcio_url: url(&args.fulcio_url, &signing.fulcio_url, PUBLIC_FULCIO),
            rekor_url: url(&args.rekor_url, &signing.rekor_url, PUBLIC_REKOR),
            transparency: signing.transparency,
            policy: keyless.policy.clone(),
        })?;
        return Ok((Signer::Keyless(signer), trust));
    }
    let key = load_signing_key(ws, args.key.as_deref())?;
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
    Ok((Signer::Key(key), trust))
}

/// Parses the RFC 3339 time of flag `--NAME`, when given.
pub(crate) fn parse_time(
    flag: &str,
    s: &Option<String>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    s.as_ref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .with_context(|| {
                    format!("--{flag} {s}: expected RFC 3339, e.g. 2026-11-20T15:00:00Z")
                })
        })
        .transpose()
}

/// Prints a serializable value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// One audit branch read once: its tip and every file, for commands that both verify and
/// query the log.
pub struct AuditLog {
    pub branch: String,
    pub tip: Oid,
    pub files: crate::store::LogFiles,
}

/// A decoded entry: its file, its key hint, its Statement.
pub type DecodedEntry = (
    String,
    Option<crate::signing::SignedBy>,
    crate::attestation::Statement,
);

/// The local branch `refs/heads/<branch>`, if there is one.
fn self_local(ws: &Workspace, branch: &str) -> Result<Option<Oid>> {
    ws.git.resolve_commit(&format!("refs/heads/{branch}"))
}

impl AuditLog {
    /// Reads the branch, refusing one that is not a promptrail audit branch.
    pub fn open(ws: &Workspace, branch: &str) -> Result<AuditLog> {
        let log = AuditLog::open_unchecked(ws, branch)?;
        ws.store(branch).read_meta(&log.tip)?;
        Ok(log)
    }

    /// Reads the branch as the remote has it, when the remote can be reached: what the gate
    /// judges and what `deploy` appends to. A local ref that differs (stale, or rolled back to
    /// a tip where a weaker policy was in force) is not believed. Offline, the local branch.
    pub fn open_remote_first(
        ws: &Workspace,
        branch: &str,
        progress: &Progress,
    ) -> Result<AuditLog> {
        let store = ws.store(branch);
        let remote = &ws.config.audit.remote.0;
        match ws.git.fetch_branch(remote, branch) {
            Ok(Some(remote_tip)) => {
                // The local branch is believed only when it extends the remote's (entries
                // recorded with --no-push): an older or diverging one is not.
                let local = self_local(ws, branch)?;
                let tip = match local {
                    Some(l) if l != remote_tip && ws.git.is_ancestor(&remote_tip, &l)? => l,
                    Some(l) if l != remote_tip => {
                        progress.warn(&format!(
                            "the local `{branch}` is not {remote}'s or ahead of it: judging \
                             {remote}'s"
                        ));
                        remote_tip
                    }
                    _ => remote_tip,
                };
                store.read_meta(&tip)?;
                let files = store.read_all(&tip)?;
                Ok(AuditLog {
                    branch: branch.to_owned(),
                    tip,
                    files,
                })
            }
            // A log kept only locally (`record --no-push`).
            Ok(None) => AuditLog::open(ws, branch),
            Err(e) => {
                progress.warn(&format!("{e:#}; judging the local `{branch}`"));
                AuditLog::open(ws, branch)
            }
        }
    }

    /// Reads the branch whatever it holds (`verify` reports a missing `promptrail.json`).
    pub fn open_unchecked(ws: &Workspace, branch: &str) -> Result<AuditLog> {
        let store = ws.store(branch);
        let tip = store.resolve_for_reading()?;
        let files = store.read_all(&tip)?;
        Ok(AuditLog {
            branch: branch.to_owned(),
            tip,
            files,
        })
    }

    /// The decoded entries (for readers; `verify` is what checks them).
    pub fn statements(&self) -> Result<Vec<DecodedEntry>> {
        self.files
            .entries
            .iter()
            .map(|e| {
                let (bundle, st) = e.decode().map_err(|err| {
                    anyhow::anyhow!("{}: {err} (run `promptrail verify`)", e.path)
                })?;
                Ok((e.path.clone(), signed_by(&bundle), st))
            })
            .collect()
    }
}

/// Who an entry says signed it: its key hint, or its certificate's identity.
fn signed_by(bundle: &crate::attestation::Bundle) -> Option<crate::signing::SignedBy> {
    use crate::signing::SignedBy;
    match bundle.key_hint() {
        Some(hint) => Some(SignedBy::Key(hint.to_string())),
        None => crate::keyless::certificate_identity(bundle).map(SignedBy::Keyless),
    }
}

/// The audit log's decoded entries with their file names and signers.
pub fn read_statements(ws: &Workspace, branch: &str) -> Result<Vec<DecodedEntry>> {
    AuditLog::open(ws, branch)?.statements()
}

/// The audit log's entries as views.
pub fn read_log(ws: &Workspace, branch: &str) -> Result<Vec<crate::report::views::EntryView>> {
    Ok(read_statements(ws, branch)?
        .iter()
        .map(|(file, key, st)| crate::report::views::EntryView::new(file, key.clone(), st))
        .collect())
}

/// One audit branch listed, its entries read a window at a time when walked: what the
/// streaming readers (`log`, `export`) hold instead of every entry's bytes.
pub struct ListedLog {
    pub branch: String,
    pub tip: Oid,
    pub listing: crate::store::LogListing,
}

impl ListedLog {
    /// Lists the branch, refusing one that is not a promptrail audit branch.
    pub fn open(ws: &Workspace, branch: &str) -> Result<ListedLog> {
        let store = ws.store(branch);
        let tip = store.resolve_for_reading()?;
        store.read_meta(&tip)?;
        let listing = store.list(&tip)?;
        Ok(ListedLog {
            branch: branch.to_owned(),
            tip,
            listing,
        })
    }

    /// Decodes the entries in log order, a window at a time, and calls `each` per window.
    pub fn for_each_window(
        &self,
        ws: &Workspace,
        mut each: impl FnMut(&[DecodedEntry]) -> Result<()>,
    ) -> Result<()> {
        let mut windows =
            crate::store::EntryWindows::new(ws.git.object_reader()?, &self.listing.entries);
        windows.for_each(crate::store::READ_WINDOW, |window| {
            each(&decode_window(window)?)
        })
    }

    /// [`ListedLog::for_each_window`] with each entry's bytes beside its decoded form.
    pub fn for_each_stored(
        &self,
        ws: &Workspace,
        mut each: impl FnMut(&[(crate::store::StoredEntry, DecodedEntry)]) -> Result<()>,
    ) -> Result<()> {
        let mut windows =
            crate::store::EntryWindows::new(ws.git.object_reader()?, &self.listing.entries);
        windows.for_each(crate::store::READ_WINDOW, |window| {
            let decoded = decode_window(window)?;
            let pairs: Vec<_> = window.iter().cloned().zip(decoded).collect();
            each(&pairs)
        })
    }

    /// The listed entry files at `positions`, in that order, as stored.
    pub fn read_at_stored(
        &self,
        ws: &Workspace,
        positions: &[usize],
    ) -> Result<Vec<crate::store::StoredEntry>> {
        crate::store::EntryWindows::new(ws.git.object_reader()?, &self.listing.entries)
            .read_at(positions)
    }

    /// Decodes the listed entries at `positions`, in that order.
    pub fn read_at(&self, ws: &Workspace, positions: &[usize]) -> Result<Vec<DecodedEntry>> {
        let mut windows =
            crate::store::EntryWindows::new(ws.git.object_reader()?, &self.listing.entries);
        decode_window(&windows.read_at(positions)?)
    }
}

fn decode_window(window: &[crate::store::StoredEntry]) -> Result<Vec<DecodedEntry>> {
    window
        .iter()
        .map(|e| {
            let (bundle, st) = e
                .decode()
                .map_err(|err| anyhow::anyhow!("{}: {err} (run `promptrail verify`)", e.path))?;
            Ok((e.path.clone(), signed_by(&bundle), st))
        })
        .collect()
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
