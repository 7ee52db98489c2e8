//! The only module that runs git. Everything goes through the `git` CLI, which is what CI
//! runners have and what `actions/checkout` configures credentials for.
//!
//! History is read in one streaming `git log` pass, blob contents through one
//! `git cat-file --batch` process, and audit-branch commits are written by one
//! `git fast-import` process per append, whatever the number of entries.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};

use crate::types::Oid;

mod objects;
mod shallow;
mod stream;

pub use objects::{Object, ObjectReader, TreeEntry, TreeRow, TreeRows, Trees};
use objects::{list_within, parse_tree_line};
pub use shallow::{Partial, TipTrees};
pub use stream::{RawChange, RawCommit};
use stream::{nonce, parse_commit};

/// Small pack windows under a small limit, for a process that reads objects all over a long
/// log's pack: git maps pack files in windows (1 GiB each by default, up to 8 GiB) and every
/// page it touches counts in its resident size, so a pass over all of a large pack would
/// hold the whole pack; windows this small are unmapped as the reader moves on.
const BOUNDED_PACK_WINDOWS: [&str; 4] = [
    "-c",
    "core.packedGitWindowSize=16m",
    "-c",
    "core.packedGitLimit=64m",
];

/// [`BOUNDED_PACK_WINDOWS`] for a process that reads a few thousand objects scattered over
/// the pack ([`Git::object_reader_for_few`]): every window it maps is touched in a few
/// places only, so small windows map what it reads and little more.
const FEW_OBJECTS_PACK_WINDOWS: [&str; 4] = [
    "-c",
    "core.packedGitWindowSize=4m",
    "-c",
    "core.packedGitLimit=16m",
];

/// Starts a streaming `git log` (`cmd` holds its arguments but the closing `--`), its stdout
/// to be read as it comes and its stderr kept for [`finish_log`].
fn spawn_log(cmd: &mut Command) -> Result<(std::process::Child, std::process::ChildStdout)> {
    let mut child = cmd
        .arg("--")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("could not run `git log`")?;
    let stdout = child.stdout.take().context("git log has no stdout")?;
    Ok((child, stdout))
}

/// Waits for a `git log` from [`spawn_log`] whose stdout was read to its end; a failure
/// carries git's message, credentials in URLs redacted.
fn finish_log(child: std::process::Child) -> Result<()> {
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "`git log` failed: {}",
            redact(String::from_utf8_lossy(&out.stderr).trim())
        );
    }
    Ok(())
}

/// One commit of a first-parent walk.
#[derive(Debug, Clone)]
pub struct FirstParent {
    pub oid: Oid,
    pub parents: Vec<Oid>,
    /// The first line of the message (author-controlled: a hint, never proof).
    pub subject: String,
}

/// A repository on disk, addressed by its top-level directory.
#[derive(Debug, Clone)]
pub struct Git {
    root: PathBuf,
}

/// What a push of the audit branch came to.
#[derive(Debug, PartialEq, Eq)]
pub enum PushOutcome {
    Pushed,
    /// The remote moved on (someone else appended): fetch and rebuild.
    Rejected,
}

/// File mode git uses for symbolic links.
pub const MODE_SYMLINK: u32 = 0o120000;
/// File mode git uses for submodules (gitlinks).
pub const MODE_GITLINK: u32 = 0o160000;

impl Git {
    /// Opens the repository containing `dir`.
    pub fn open(dir: &Path) -> Result<Git> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "--show-toplevel"])
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .context("could not run `git`: is git installed and on PATH?")?;
        if !out.status.success() {
            bail!(
                "{} is not inside a git repository (run `git init`, or pass -C <repo>)",
                dir.display()
            );
        }
        let root = String::from_utf8(out.stdout)
            .context("repository path is not valid UTF-8")?
            .trim_end()
            .to_owned();
        Ok(Git { root: root.into() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(&self.root)
            // Stable, parseable output whatever the user's config says.
            .args([
                "-c",
                "core.quotepath=false",
                "-c",
                "log.showSignature=false",
                // The repository's hooks never run inside promptrail's git commands: they
                // would see the process environment.
                "-c",
                "core.hooksPath=/dev/null",
            ])
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            // History must be what the objects say, not what `refs/replace` substitutes.
            .env("GIT_NO_REPLACE_OBJECTS", "1")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            // Secrets promptrail reads are not for git or anything git starts.
            .env_remove(crate::signing::KEY_ENV)
            .env_remove(crate::signing::PASSWORD_ENV)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs git and returns stdout; a failure carries git's stderr, credentials redacted.
    fn run(&self, args: &[&str]) -> Result<Vec<u8>> {
        let out = self
            .cmd()
            .args(args)
            .output()
            .with_context(|| format!("could not run `git {}`", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "`git {}` failed: {}",
                args.first().copied().unwrap_or(""),
                redact(String::from_utf8_lossy(&out.stderr).trim())
            );
        }
        Ok(out.stdout)
    }

    fn run_text(&self, args: &[&str]) -> Result<String> {
        let out = self.run(args)?;
        Ok(String::from_utf8_lossy(&out).trim_end().to_owned())
    }

    /// Resolves a revision to a commit id; `None` when it does not exist.
    pub fn resolve_commit(&self, rev: &str) -> Result<Option<Oid>> {
        let out = self
            .cmd()
            .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
            .arg(format!("{rev}^{{commit}}"))
            .output()
            .context("could not run `git rev-parse`")?;
        if !out.status.success() {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        Oid::parse(text.trim())
            .map(Some)
            .ok_or_else(|| anyhow!("git printed an unexpected object id for {rev}"))
    }

    /// True when the repository has at least one commit on HEAD.
    pub fn has_commits(&self) -> Result<bool> {
        Ok(self.resolve_commit("HEAD")?.is_some())
    }

    pub fn is_shallow(&self) -> Result<bool> {
        Ok(self.run_text(&["rev-parse", "--is-shallow-repository"])? == "true")
    }

    /// The commits whose parents this repository does not have (`.git/shallow`).
    pub fn shallow_commits(&self) -> Result<Vec<Oid>> {
        let path = self.run_text(&["rev-parse", "--git-path", "shallow"])?;
        let path = self.root.join(path);
        match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .map(|l| Oid::parse(l.trim()).with_context(|| format!("{}: {l:?}", path.display())))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// A commit's parents as its object lists them (also in a shallow repository, where
    /// `rev-parse tip^` finds none).
    pub fn commit_parents(&self, commit: &Oid) -> Result<Vec<Oid>> {
        let raw = self.run(&["cat-file", "commit", commit.as_str()])?;
        let text = String::from_utf8_lossy(&raw);
        text.lines()
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.strip_prefix("parent "))
            .map(|p| Oid::parse(p).with_context(|| format!("commit {commit}: parent {p:?}")))
            .collect()
    }

    /// A commit's tree and its message (the object read, nothing else: in a partial clone
    /// the tree itself may not be here).
    pub fn commit_tree_and_message(&self, commit: &Oid) -> Result<(Oid, String)> {
        let raw = self.run(&["cat-file", "commit", commit.as_str()])?;
        let text = String::from_utf8_lossy(&raw);
        let (head, message) = text.split_once("\n\n").unwrap_or((&text, ""));
        let tree = head
            .lines()
            .find_map(|l| l.strip_prefix("tree "))
            .and_then(Oid::parse)
            .with_context(|| format!("commit {commit} names no tree"))?;
        Ok((tree, message.to_owned()))
    }

    /// The branch checked out now, if any.
    pub fn current_branch(&self) -> Result<Option<String>> {
        let out = self
            .cmd()
            .args(["symbolic-ref", "--quiet", "--short", "HEAD"])
            .output()?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }

    /// The remote's default branch as recorded by clone (`refs/remotes/<remote>/HEAD`).
    pub fn remote_default_branch(&self, remote: &str) -> Result<Option<String>> {
        let out = self
            .cmd()
            .args(["symbolic-ref", "--quiet", "--short"])
            .arg(format!("refs/remotes/{remote}/HEAD"))
            .output()?;
        if !out.status.success() {
            return Ok(None);
        }
        let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Ok(s.strip_prefix(&format!("{remote}/")).map(str::to_owned))
    }

    pub fn remote_url(&self, remote: &str) -> Result<Option<String>> {
        let out = self
            .cmd()
            .args(["remote", "get-url", "--", remote])
            .output()?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }

    /// `git merge-base --is-ancestor a b`.
    pub fn is_ancestor(&self, a: &Oid, b: &Oid) -> Result<bool> {
        let status = self
            .cmd()
            .args(["merge-base", "--is-ancestor", a.as_str(), b.as_str()])
            .status()?;
        match status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => bail!("`git merge-base` failed comparing {a} and {b}"),
        }
    }

    /// The first-parent commits of `base..tip`, oldest first: id, parents and subject line
    /// (one `git log` process; a subject that is not UTF-8 is read lossily).
    pub fn first_parent_commits(&self, tip: &Oid, base: &Oid) -> Result<Vec<FirstParent>> {
        let out = self.run(&[
            "log",
            "--first-parent",
            "--reverse",
            "-z",
            "--no-show-signature",
            "--format=%H %P%x1f%s",
            &format!("^{base}"),
            tip.as_str(),
            "--",
        ])?;
        out.split(|b| *b == 0)
            .filter(|r| !r.is_empty())
            .map(|record| {
                let text = String::from_utf8_lossy(record);
                let (ids, subject) = text.split_once('\x1f').unwrap_or((&text, ""));
                let mut ids = ids.split(' ').filter(|s| !s.is_empty()).map(Oid::parse);
                let oid = ids
                    .next()
                    .flatten()
                    .ok_or_else(|| anyhow!("`git log` printed an unexpected commit id"))?;
                Ok(FirstParent {
                    oid,
                    parents: ids.flatten().collect(),
                    subject: subject.to_owned(),
                })
            })
            .collect()
    }

    /// Streams every commit reachable from `tip`, each with its changes against its first
    /// parent, in one `git log` process. Renames are detected (`-M`).
    pub fn log(&self, tip: &Oid, each: impl FnMut(RawCommit) -> Result<()>) -> Result<()> {
        self.log_range(tip, &[], each)
    }

    /// Like [`Git::log`], without the commits reachable from `exclude` (`tip ^exclude…`).
    pub fn log_range(
        &self,
        tip: &Oid,
        exclude: &[Oid],
        mut each: impl FnMut(RawCommit) -> Result<()>,
    ) -> Result<()> {
        // Field and record markers carry a per-run nonce: names, emails and trailers may
        // contain any control byte, but not a marker nobody could predict.
        let nonce = nonce();
        let rec = format!("\x1e{nonce}\x1e").into_bytes();
        let field = format!("\x1f{nonce}\x1f");
        let f = format!("%x1f{nonce}%x1f");
        let format = format!(
            "--format=%x1e{nonce}%x1e%H{f}%P{f}%an{f}%ae{f}%aI{f}%cn{f}%ce{f}%cI{f}%(trailers:key=Co-authored-by,valueonly,unfold,separator=%x1d){f}"
        );
        let mut cmd = self.cmd();
        cmd.args([
            "log",
            "--raw",
            "-M",
            "--no-abbrev",
            "-z",
            "--root",
            "--diff-merges=first-parent",
            "--no-use-mailmap",
            "--no-ext-diff",
            "--no-textconv",
            "--no-relative",
        ])
        .arg(format)
        .arg(tip.as_str())
        .args(exclude.iter().map(|e| format!("^{e}")));
        let (child, stdout) = spawn_log(&mut cmd)?;
        let mut reader = BufReader::with_capacity(1 << 16, stdout);
        let mut buf = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut emit = |record: &[u8]| -> Result<()> {
            if record.is_empty() {
                return Ok(());
            }
            let commit = parse_commit(record, field.as_bytes())?;
            if !seen.insert(commit.oid.clone()) {
                bail!("`git log` printed commit {} twice", commit.oid);
            }
            each(commit)
        };
        loop {
            let n = reader.read_until(0x1e, &mut buf)?;
            if n == 0 {
                break;
            }
            if buf.ends_with(&rec) {
                let len = buf.len() - rec.len();
                emit(&buf[..len])?;
                buf.clear();
            }
        }
        emit(&buf)?;
        finish_log(child)
    }

    /// Streams the first-parent line of `tip`, newest first: each commit's id, its number of
    /// parents and its root tree, without any diff (one `git log` process; not `--reverse`,
    /// which makes git hold every commit of a long line before it prints the first).
    pub fn first_parent_line(
        &self,
        tip: &Oid,
        mut each: impl FnMut(Oid, usize, Oid) -> Result<()>,
    ) -> Result<()> {
        let mut cmd = self.cmd();
        // Commits lie all over a long log's pack: bounded windows, as `object_reader`.
        cmd.args(BOUNDED_PACK_WINDOWS)
            .args(["log", "--first-parent", "--format=%H %T %P"])
            .arg(tip.as_str());
        let (child, stdout) = spawn_log(&mut cmd)?;
        let mut failed = None;
        for line in BufReader::with_capacity(1 << 16, stdout).lines() {
            let line = line?;
            let mut ids = line.split(' ').filter(|s| !s.is_empty());
            let (Some(commit), Some(tree)) = (
                ids.next().and_then(Oid::parse),
                ids.next().and_then(Oid::parse),
            ) else {
                bail!("unexpected `git log` line: {line}");
            };
            if let Err(e) = each(commit, ids.count(), tree) {
                failed = Some(e);
                break;
            }
        }
        if let Some(e) = failed {
            return abandon(child, e);
        }
        finish_log(child)
    }

    /// Starts one `git cat-file --batch` process for reading many objects.
    pub fn object_reader(&self) -> Result<ObjectReader> {
        // Bounded memory on a long log.
        self.reader(true, &BOUNDED_PACK_WINDOWS, "core.deltaBaseCacheLimit=32m")
    }

    /// [`Git::object_reader`] that never fetches a missing object from a promisor remote
    /// (it answers "missing"): for a partial clone whose reads were fetched first.
    pub fn object_reader_here(&self) -> Result<ObjectReader> {
        self.reader(false, &BOUNDED_PACK_WINDOWS, "core.deltaBaseCacheLimit=32m")
    }

    /// [`Git::object_reader`] for a reader of a few thousand objects scattered over a long
    /// log (the state summary's files, the entries an answer names): smaller pack windows
    /// under a smaller limit and a smaller cache of delta bases, so that git's resident
    /// size follows the objects read, not the pack (measured at 1,000,000 entries: 15,000
    /// deployment chunks in the same CPU time at 40 MiB instead of 96 MiB).
    pub fn object_reader_for_few(&self) -> Result<ObjectReader> {
        self.reader(
            true,
            &FEW_OBJECTS_PACK_WINDOWS,
            "core.deltaBaseCacheLimit=16m",
        )
    }

    fn reader(&self, lazy: bool, windows: &[&str], delta_cache: &str) -> Result<ObjectReader> {
        let mut cmd = self.cmd();
        if !lazy {
            cmd.env("GIT_NO_LAZY_FETCH", "1");
        }
        let mut child = cmd
            .args(windows)
            .args(["-c", delta_cache, "cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("could not run `git cat-file`")?;
        let stdin = BufWriter::new(child.stdin.take().context("no stdin")?);
        let stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        Ok(ObjectReader {
            child,
            stdin,
            stdout,
        })
    }

    /// Lists a tree (non-recursive, or recursive with `recursive`), `-z` safe.
    pub fn ls_tree(&self, treeish: &str, recursive: bool) -> Result<Vec<TreeEntry>> {
        let mut args = vec!["ls-tree", "-z", "--full-tree"];
        if recursive {
            args.push("-r");
        }
        args.push(treeish);
        let out = self.run(&args)?;
        out.split(|b| *b == 0)
            .filter(|l| !l.is_empty())
            .map(parse_tree_line)
            .collect()
    }

    /// [`Git::ls_tree`], each row handed to `each` as git writes it: a long log's listing
    /// (a million rows) is never held as git's output and its rows at once.
    pub fn ls_tree_each(
        &self,
        treeish: &str,
        recursive: bool,
        mut each: impl FnMut(TreeEntry) -> Result<()>,
    ) -> Result<()> {
        let mut args = vec!["ls-tree", "-z", "--full-tree"];
        if recursive {
            args.push("-r");
        }
        args.push(treeish);
        // git's default 96 MiB cache of delta bases is most of its memory here: the tip's
        // trees are deltas of their predecessors (measured at 110,000 entries: 157 MiB
        // with the defaults, 58 MiB with these, in the same time).
        let mut child = self
            .cmd()
            .args(FEW_OBJECTS_PACK_WINDOWS)
            .args(["-c", "core.deltaBaseCacheLimit=8m"])
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("could not run `git ls-tree`")?;
        let stdout = child.stdout.take().context("git ls-tree has no stdout")?;
        let mut failed = None;
        for line in BufReader::new(stdout).split(0) {
            let row = line.context("reading `git ls-tree`").and_then(|l| {
                if l.is_empty() {
                    Ok(None)
                } else {
                    parse_tree_line(&l).map(Some)
                }
            });
            if let Err(e) = row.and_then(|r| r.map_or(Ok(()), &mut each)) {
                failed = Some(e);
                break;
            }
        }
        if let Some(e) = failed {
            return abandon(child, e);
        }
        let out = child
            .wait_with_output()
            .context("waiting for `git ls-tree`")?;
        if !out.status.success() {
            bail!(
                "`git ls-tree` failed: {}",
                redact(String::from_utf8_lossy(&out.stderr).trim())
            );
        }
        Ok(())
    }

    /// The files of `commit`'s tree inside the directories `descend` admits, as
    /// [`list_within`] reads them (through a `cat-file --batch` of its own).
    pub fn ls_tree_within(
        &self,
        commit: &Oid,
        descend: impl FnMut(&[u8]) -> bool,
    ) -> Result<Vec<TreeEntry>> {
        list_within(&mut self.object_reader()?, commit, descend)
    }

    /// Writes commits with `git fast-import` and returns the id of the last one. `stream`
    /// builds the fast-import stream for the scratch ref it is given
    /// (`refs/promptrail/tmp/<pid>-<nanos>`), which is removed afterwards: nothing visible
    /// changes, the caller decides which ref (if any) moves.
    pub fn fast_import(&self, stream: impl FnOnce(&str) -> Vec<u8>) -> Result<Oid> {
        let scratch = scratch_ref();
        let mut child = self
            .cmd()
            .args(["fast-import", "--quiet", "--done"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("could not run `git fast-import`")?;
        {
            let mut stdin = child.stdin.take().context("no stdin")?;
            stdin.write_all(&stream(&scratch))?;
            stdin.write_all(b"done\n")?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            let _ = self.delete_ref(&scratch);
            bail!(
                "`git fast-import` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let oid = self
            .resolve_commit(&scratch)?
            .context("fast-import wrote no commit")?;
        self.delete_ref(&scratch)?;
        Ok(oid)
    }

    fn delete_ref(&self, name: &str) -> Result<()> {
        self.run(&["update-ref", "-d", name]).map(drop)
    }

    /// Moves `name` to `new` only if it still points at `old` (`None`: must not exist).
    pub fn update_ref(&self, name: &str, new: &Oid, old: Option<&Oid>) -> Result<()> {
        let zero = "0".repeat(new.as_str().len());
        let old = old.map_or(zero.as_str(), Oid::as_str);
        self.run(&[
            "update-ref",
            "-m",
            "promptrail: append",
            name,
            new.as_str(),
            old,
        ])
        .map(drop)
    }

    /// Fetches one branch of `remote` into its remote-tracking ref. Returns the fetched tip,
    /// or `None` when the remote has no such branch (the tracking ref is then removed).
    pub fn fetch_branch(&self, remote: &str, branch: &str) -> Result<Option<Oid>> {
        let (tracking, out) = self.fetch_to_tracking(remote, branch, &[])?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("couldn't find remote ref") {
                if self.resolve_commit(&tracking)?.is_some() {
                    self.delete_ref(&tracking)?;
                }
                return Ok(None);
            }
            bail!(
                "could not fetch {branch} from {remote}: {}",
                redact(err.trim())
            );
        }
        self.resolve_commit(&tracking)
    }

    /// Runs `git fetch` of `branch` from `remote` into its remote-tracking ref, with `extra`
    /// options; returns the tracking ref's name and git's output, for the caller to judge.
    pub(super) fn fetch_to_tracking(
        &self,
        remote: &str,
        branch: &str,
        extra: &[&str],
    ) -> Result<(String, std::process::Output)> {
        let tracking = format!("refs/remotes/{remote}/{branch}");
        let refspec = format!("+refs/heads/{branch}:{tracking}");
        let out = self
            .cmd()
            .args(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"])
            .args(extra)
            .args([remote, refspec.as_str()])
            .output()
            .context("could not run `git fetch`")?;
        Ok((tracking, out))
    }

    /// Fetches one ref (e.g. `refs/pull/12/head`) from `remote` into a local scratch ref;
    /// returns the fetched commit, or `None` when the remote has no such ref or refuses.
    pub fn fetch_ref(&self, remote: &str, refname: &str) -> Result<Option<Oid>> {
        let local = format!(
            "refs/promptrail/fetched/{}",
            refname.trim_start_matches("refs/")
        );
        let out = self
            .cmd()
            .args([
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                remote,
            ])
            .arg(format!("+{refname}:{local}"))
            .output()
            .context("could not run `git fetch`")?;
        if !out.status.success() {
            return Ok(None);
        }
        self.resolve_commit(&local)
    }

    /// The blob id git would store for `bytes` added at `path`, through the path's
    /// `.gitattributes` filters (`ident`, `text`/`eol`, filter drivers): what `git add` would
    /// make of a working-tree file. Only to explain why raw bytes match no recorded version.
    pub fn blob_id_through_filters(&self, path: &str, bytes: &[u8]) -> Result<Oid> {
        if path.chars().any(char::is_control) {
            bail!("{path:?}: file name contains control characters; rename it");
        }
        let mut cmd = self.cmd();
        cmd.args(["hash-object", "--stdin"])
            .arg(format!("--path={path}"))
            .stderr(Stdio::piped());
        let out = output_with_input(cmd, bytes.to_vec(), "git hash-object")?;
        if !out.status.success() {
            bail!(
                "`git hash-object` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Oid::parse(String::from_utf8_lossy(&out.stdout).trim())
            .context("bad object id from git hash-object")
    }

    /// Tracked files in the working tree (`git ls-files -z`), raw bytes.
    pub fn tracked_files(&self) -> Result<Vec<Vec<u8>>> {
        let out = self.run(&["ls-files", "-z", "--full-name"])?;
        Ok(out
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(<[u8]>::to_vec)
            .collect())
    }

    /// Pushes `oid` to `refs/heads/<branch>` on `remote`, fast-forward only.
    pub fn push(&self, remote: &str, oid: &Oid, branch: &str) -> Result<PushOutcome> {
        let refspec = format!("{}:refs/heads/{branch}", oid.as_str());
        let out = self
            .cmd()
            .args([
                "push",
                "--porcelain",
                "--quiet",
                "--no-verify",
                remote,
                &refspec,
            ])
            .output()
            .context("could not run `git push`")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return Ok(PushOutcome::Pushed);
        }
        // Porcelain: `!<tab>src:dst<tab>[rejected] (fetch first)` when the remote moved.
        // A concurrent update of the same ref on the remote's side is the same race.
        let rejected = stdout.lines().any(|l| {
            l.starts_with('!')
                && ((l.contains("[rejected]")
                    && (l.contains("fetch first") || l.contains("non-fast-forward")))
                    || (l.contains("[remote rejected]")
                        && (l.contains("failed to update ref")
                            || l.contains("cannot lock ref")
                            || l.contains("incorrect old value"))))
        });
        if rejected {
            return Ok(PushOutcome::Rejected);
        }
        let detail = redact(format!("{} {}", stdout.trim(), stderr.trim()).trim());
        let hint = if detail.contains("403")
            || detail.contains("denied")
            || detail.contains("not allowed")
            || detail.contains("protected branch")
        {
            " (the token needs write access to the repository's contents — in GitHub \
             Actions: `permissions: contents: write` — and the audit branch must allow \
             pushes from CI)"
        } else {
            ""
        };
        bail!("could not push {branch} to {remote}: {detail}{hint}")
    }
}

impl Git {
    /// Unified diff between two blobs, labelled with their paths; `None` when equal.
    pub fn diff_blobs(
        &self,
        old: &Oid,
        new: &Oid,
        old_path: &str,
        new_path: &str,
    ) -> Result<Option<String>> {
        if old == new {
            return Ok(None);
        }
        let out = self.run(&[
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            old.as_str(),
            new.as_str(),
        ])?;
        let text = String::from_utf8_lossy(&out);
        // git labels blob diffs with the blob ids; name the files instead.
        let text = text
            .replacen(&format!("--- a/{old}"), &format!("--- a/{old_path}"), 1)
            .replacen(&format!("+++ b/{new}"), &format!("+++ b/{new_path}"), 1)
            .replacen(
                &format!("diff --git a/{old} b/{new}"),
                &format!("diff --git a/{old_path} b/{new_path}"),
                1,
            );
        Ok(Some(text))
    }
}

/// Runs `cmd` with `input` on its stdin (written from a thread, so a child that answers
/// while it reads cannot deadlock) and its stdout collected; stderr as `cmd` set it.
pub(crate) fn output_with_input(
    mut cmd: Command,
    input: Vec<u8>,
    what: &str,
) -> Result<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not run `{what}`"))?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    let _ = writer.join();
    Ok(out)
}

/// Stops a streaming git whose output the caller refused (it may be blocked writing), and
/// returns the caller's error.
fn abandon<T>(mut child: std::process::Child, e: anyhow::Error) -> Result<T> {
    let _ = child.kill();
    let _ = child.wait();
    Err(e)
}

/// A path of the form `refs/promptrail/tmp/<pid>-<nanos>` unique to this process.
fn scratch_ref() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("refs/promptrail/tmp/{}-{nanos}", std::process::id())
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Removes credentials from URLs in git's messages (`https://user:token@host` → `https://***@host`).
pub fn redact(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_userinfo_in_urls() {
        assert_eq!(
            redact(
                "fatal: unable to access 'https://x-access-token:ghs_SECRET@github.com/o/r/': 403"
            ),
            "fatal: unable to access 'https://***@github.com/o/r/': 403"
        );
        assert_eq!(redact("no url here"), "no url here");
        assert_eq!(redact("file:///tmp/x"), "file:///tmp/x");
    }
}
