//! Fetching only what an answer needs: one branch's tip commit and its parent without
//! their trees (`--depth=2 --filter=tree:0`), then exactly the trees and blobs asked for,
//! by id, a level of trees per request; or, from a server that refuses that filter, the two
//! commits with all their trees and no blobs (`--depth=2 --filter=blob:none`) and then the
//! blobs asked for. And completing such a branch when a full read is needed after all.
//!
//! A filtered fetch marks the remote as a promisor and records the filter as
//! `remote.<r>.partialclonefilter`; that filter is put back to what it was afterwards, so
//! that later plain fetches (of the protected branch, say) still bring every blob.

use std::collections::HashSet;
use std::process::Stdio;

use anyhow::{Context, Result, bail};

use super::{Git, ObjectReader, Trees, output_with_input, redact};
use crate::types::Oid;

/// The ids of paths asked for, in order (`None`: no such path).
pub type Ids = Vec<Option<Oid>>;

/// Paths under a commit and its parent resolved through their trees, with what this
/// repository lacks (a branch fetched tip-first) fetched from the remote by id first: a
/// request per tree level, the files and directories asked for in the same requests. Its
/// reads never fetch lazily: what was not brought is missing, never a fetch per object.
pub struct TipTrees {
    git: Git,
    /// Where missing objects come from (`None`: nothing is fetched).
    remote: Option<String>,
    partial: Partial,
    reader: ObjectReader,
    tip: Trees,
    parent: Option<Trees>,
    /// Objects known to be here: fetched, or read.
    here: HashSet<Oid>,
}

impl TipTrees {
    /// The trees of `tip` and `parent` (root tree ids), none read yet.
    pub fn new(
        git: &Git,
        remote: Option<&str>,
        partial: Partial,
        tip: &Oid,
        parent: Option<&Oid>,
    ) -> Result<TipTrees> {
        Ok(TipTrees {
            git: git.clone(),
            remote: remote.map(str::to_owned),
            partial,
            reader: git.object_reader_here()?,
            tip: Trees::new(tip),
            parent: parent.map(Trees::new),
            here: HashSet::new(),
        })
    }

    /// Brings `tip_paths` of the tip and `parent_paths` of the parent (see
    /// [`Trees::resolve_together`]; a path ending in `/` brings its directory's tree only):
    /// their ids, `None` where there is no such path.
    pub fn bring(&mut self, tip_paths: &[&str], parent_paths: &[&str]) -> Result<(Ids, Ids)> {
        let TipTrees {
            git,
            remote,
            partial,
            reader,
            tip,
            parent,
            here,
        } = self;
        let mut fetch = |dirs: &[Oid], files: &[Oid]| -> Result<()> {
            let new = |ids: &[Oid]| -> Vec<Oid> {
                ids.iter().filter(|i| !here.contains(*i)).cloned().collect()
            };
            let (dirs, files) = (new(dirs), new(files));
            if let Some(remote) = remote.as_deref() {
                let both: Vec<Oid> = dirs.iter().chain(&files).cloned().collect();
                if !both.is_empty() && git.fetch_objects_as(remote, &both, *partial).is_err() {
                    // Under `tree:0` a server leaves out an object asked for that is also
                    // in a tree asked for (the same bytes at two paths): asked apart, each
                    // comes.
                    for ids in [&dirs, &files] {
                        git.fetch_objects_as(remote, ids, *partial)?;
                    }
                }
            }
            here.extend(dirs);
            here.extend(files);
            Ok(())
        };
        let mut sets: Vec<(&mut Trees, &[&str])> = vec![(tip, tip_paths)];
        if let Some(p) = parent.as_mut() {
            sets.push((p, parent_paths));
        }
        let mut found = Trees::resolve_together(reader, &mut sets, &mut fetch)?.into_iter();
        let tip_ids = found.next().unwrap_or_default();
        let parent_ids = found
            .next()
            .unwrap_or_else(|| vec![None; parent_paths.len()]);
        Ok((tip_ids, parent_ids))
    }

    /// The name of the last row of the tip's directory `dir`, once brought.
    pub fn tip_last_name(&self, dir: &str) -> Result<Option<String>> {
        self.tip.last_name(dir)
    }

    /// A blob brought before, by id.
    pub fn blob(&mut self, oid: &Oid) -> Result<Vec<u8>> {
        self.reader.blob(oid)
    }
}

impl Git {
    /// Fetches the tip of `branch` on `remote` and its parent into its remote-tracking ref,
    /// with their trees but no blobs, and no history before them. `None` when the remote has
    /// no such branch.
    pub fn fetch_tip_trees(&self, remote: &str, branch: &str) -> Result<Option<Oid>> {
        self.fetch_tip(remote, branch, Partial::Blobless)
    }

    /// [`Git::fetch_tip_trees`] without the trees: the two commits alone (each tree is then
    /// fetched by id, [`Git::fetch_objects_as`] with [`Partial::Treeless`]). An error when
    /// the server refuses the filter (GitHub serves `tree:0`; a server may disallow it).
    pub fn fetch_tip_commits(&self, remote: &str, branch: &str) -> Result<Option<Oid>> {
        self.fetch_tip(remote, branch, Partial::Treeless)
    }

    fn fetch_tip(&self, remote: &str, branch: &str, partial: Partial) -> Result<Option<Oid>> {
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
                    partial.filter(),
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
        self.fetch_objects_as(remote, oids, Partial::Blobless)
    }

    /// [`Git::fetch_objects`] with the filter `partial` names: a tree asked for under
    /// [`Partial::Treeless`] comes alone, under [`Partial::Blobless`] with every tree below.
    pub fn fetch_objects_as(&self, remote: &str, oids: &[Oid], partial: Partial) -> Result<usize> {
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
                partial.filter(),
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

    /// [`Git::fetch_tip_trees`] again over a branch fetched by [`Git::fetch_tip_commits`]
    /// (`--refetch`: its commits are here, their trees mostly not).
    pub fn refetch_tip_trees(&self, remote: &str, branch: &str) -> Result<()> {
        let (_, out) = self.keeping_filter(remote, || {
            self.fetch_to_tracking(
                remote,
                branch,
                &["--refetch", "--depth=2", "--filter=blob:none"],
            )
        })?;
        if !out.status.success() {
            bail!(
                "could not fetch the trees of {branch} from {remote}: {}",
                redact(String::from_utf8_lossy(&out.stderr).trim())
            );
        }
        Ok(())
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

/// How much of a branch a filtered fetch leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partial {
    /// Every blob (`blob:none`): the trees come along.
    Blobless,
    /// Every tree and blob not asked for by id (`tree:0`).
    Treeless,
}

impl Partial {
    fn filter(self) -> &'static str {
        match self {
            Partial::Blobless => "--filter=blob:none",
            Partial::Treeless => "--filter=tree:0",
        }
    }
}

/// One object id a line, as `--stdin` readers take them.
fn lines(oids: &[Oid]) -> Vec<u8> {
    oids.iter()
        .flat_map(|o| format!("{o}\n").into_bytes())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &std::path::Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// A remote whose `audit` tip holds `top` and `d/same` with the same bytes, and a repo
    /// that fetched its two commits without trees.
    fn treeless() -> (tempfile::TempDir, Git, Oid, Option<Oid>) {
        let dir = tempfile::TempDir::new().unwrap();
        let (remote, work, clone) = (
            dir.path().join("remote.git"),
            dir.path().join("work"),
            dir.path().join("clone"),
        );
        run(dir.path(), &["init", "-q", "--bare", "remote.git"]);
        run(&remote, &["config", "uploadpack.allowFilter", "true"]);
        run(dir.path(), &["init", "-q", "work"]);
        for round in ["1", "2"] {
            std::fs::create_dir_all(work.join("d/e")).unwrap();
            std::fs::write(work.join("top"), round).unwrap();
            std::fs::write(work.join("d/same"), round).unwrap();
            std::fs::write(work.join("d/e/deep"), "deep").unwrap();
            run(&work, &["add", "-A"]);
            run(
                &work,
                &[
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@t",
                    "commit",
                    "-qm",
                    round,
                ],
            );
        }
        run(
            &work,
            &["push", "-q", "../remote.git", "HEAD:refs/heads/audit"],
        );
        run(dir.path(), &["init", "-q", "clone"]);
        let url = format!("file://{}", remote.display());
        run(&clone, &["remote", "add", "origin", &url]);
        let git = Git::open(&clone).unwrap();
        let tip = git.fetch_tip_commits("origin", "audit").unwrap().unwrap();
        let root = git.commit_tree_and_message(&tip).unwrap().0;
        let parent = git.commit_parents(&tip).unwrap().pop();
        let parent_root = parent.map(|p| git.commit_tree_and_message(&p).unwrap().0);
        (dir, git, root, parent_root)
    }

    #[test]
    fn tip_trees_fetch_a_level_at_a_time_and_only_the_paths_asked() {
        let (dir, git, root, parent) = treeless();
        let id =
            |spec: &str| Oid::parse(&run(&dir.path().join("work"), &["rev-parse", spec])).unwrap();
        let roots = std::slice::from_ref(&root);
        assert_eq!(git.missing(roots).unwrap(), roots);
        let mut trees = TipTrees::new(
            &git,
            Some("origin"),
            Partial::Treeless,
            &root,
            parent.as_ref(),
        )
        .unwrap();
        // `top` and `d/same` have the same bytes: asked with `d`'s tree, `tree:0` leaves
        // the blob out unless asked apart.
        let (tip, old) = trees.bring(&["top", "d/same", "d/e/"], &["top"]).unwrap();
        let (top, same) = (tip[0].clone().unwrap(), tip[1].clone().unwrap());
        assert_eq!(top, same);
        assert_eq!(trees.blob(&top).unwrap(), b"2");
        assert_eq!(trees.blob(old[0].as_ref().unwrap()).unwrap(), b"1");
        assert!(
            tip[2].is_none(),
            "a directory asked for has no id of its own"
        );
        assert_eq!(trees.tip_last_name("d/e").unwrap().as_deref(), Some("deep"));
        // What was not asked for is not here, and is never fetched lazily: the blob under
        // `d/e`, the parent's `d`.
        for spec in ["HEAD:d/e/deep", "HEAD~1:d"] {
            let oid = id(spec);
            let asked = std::slice::from_ref(&oid);
            assert_eq!(git.missing(asked).unwrap(), asked, "{spec}");
        }
        assert!(trees.blob(&id("HEAD:d/e/deep")).is_err());
    }
}
