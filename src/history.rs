//! Prompt versions and their authors, reconstructed from one pass over the git history.
//!
//! A version is what *landed*: each first-parent commit of the protected branch whose tree
//! changes a prompt's content against its first parent makes a new version. Commits inside a
//! merged branch are drafts; they only contribute authors.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod seed;

pub use seed::{Recorded, Seed};

use crate::git::{Git, MODE_GITLINK, RawChange, RawCommit};
use crate::prompt::{PromptMatcher, prompt_path};
use crate::types::{Oid, PromptPath, Version};

/// A person as git knows them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub email: String,
}

impl Person {
    /// Parses `Name <email>` as written in a `Co-authored-by` trailer.
    pub fn parse_trailer(s: &str) -> Option<Person> {
        let open = s.rfind('<')?;
        let close = s[open..].find('>')? + open;
        let email = s[open + 1..close].trim();
        if email.is_empty() {
            return None;
        }
        Some(Person {
            name: s[..open].trim().to_owned(),
            email: email.to_owned(),
        })
    }

    /// The GitHub login behind a `users.noreply.github.com` address (`ID+login@…` or the
    /// older `login@…`; the domain in any case), if it is one.
    pub fn github_login(&self) -> Option<String> {
        let local = self.noreply_local()?;
        Some(match local.split_once('+') {
            Some((_, login)) => login.to_owned(),
            None => local.to_owned(),
        })
    }

    /// The GitHub account id in an `ID+login@users.noreply.github.com` address: it names the
    /// account even after a rename, when the login in the address is stale.
    pub fn github_id(&self) -> Option<u64> {
        self.noreply_local()?.split_once('+')?.0.parse().ok()
    }

    fn noreply_local(&self) -> Option<&str> {
        const DOMAIN: &str = "@users.noreply.github.com";
        let email = self.email.trim();
        let at = email.len().checked_sub(DOMAIN.len())?;
        (email.is_char_boundary(at) && email[at..].eq_ignore_ascii_case(DOMAIN))
            .then(|| &email[..at])
            .filter(|l| !l.is_empty())
    }
}

/// A commit on the protected branch's first-parent line.
#[derive(Debug, Clone)]
pub struct Commit {
    pub oid: Oid,
    pub parents: Vec<Oid>,
    pub author: Person,
    pub authored_at: DateTime<Utc>,
    pub committer: Person,
    pub committed_at: DateTime<Utc>,
    pub coauthors: Vec<Person>,
}

/// How someone took part in a prompt change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    Author,
    CoAuthor,
}

/// One author of a prompt change and the commit that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorship {
    pub person: Person,
    pub role: Role,
    pub commit: Oid,
}

/// What happened to a prompt in one landed commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// New content (or the prompt came back after a deletion): a new version.
    Version {
        version: Version,
        previous: Option<Version>,
        /// Set when the content equals an earlier version's (a revert).
        equals: Option<Version>,
        /// The prompt had been deleted and comes back at this path (numbering continues).
        readded: bool,
    },
    /// Moved with unchanged content: same version, new path.
    Renamed { version: Version },
    /// Removed from the tree; `version` is the one that was live.
    Deleted { version: Version },
}

impl EventKind {
    pub fn version(&self) -> Version {
        match *self {
            EventKind::Version { version, .. }
            | EventKind::Renamed { version }
            | EventKind::Deleted { version } => version,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Version { previous: None, .. } => "added",
            EventKind::Version { readded: true, .. } => "readded",
            EventKind::Version {
                equals: Some(_), ..
            } => "reverted",
            EventKind::Version { .. } => "modified",
            EventKind::Renamed { .. } => "renamed",
            EventKind::Deleted { .. } => "deleted",
        }
    }
}

/// One prompt event at one landed commit.
#[derive(Debug, Clone)]
pub struct PromptEvent {
    /// Index into [`History::commits`].
    pub commit: usize,
    pub path: PromptPath,
    pub previous_path: Option<PromptPath>,
    pub kind: EventKind,
    /// The content after the event (for a deletion: the content that was deleted).
    pub blob: Oid,
    pub mode: u32,
    pub authors: Vec<Authorship>,
    /// Whether the commit's diff showed this content as a change from what the log has live
    /// at this path (a whole new file always is): `false` for a rename without changes, a
    /// mode-only change, or a change from bytes the log never recorded there (edited while
    /// the globs left the file out, moved in from a file that was no prompt). A version its
    /// reviewers were not shown takes no approval from them.
    pub shown: bool,
}

/// The protected branch's landed history, as prompt events.
#[derive(Debug, Default)]
pub struct History {
    /// First-parent commits, oldest first.
    pub commits: Vec<Commit>,
    /// Prompt events in landing order (by commit, then path).
    pub events: Vec<PromptEvent>,
    /// Every path in the tip's tree that existed as a prompt at the end (live prompts). For
    /// a history read since a commit ([`History::scan_since`]) only the paths it knows.
    pub live: Vec<(PromptPath, Version, Oid)>,
    position: HashMap<Oid, usize>,
    /// Set when only the commits after one were read.
    since: Option<Since>,
}

/// Where a history read since a commit starts, and what it knows.
#[derive(Debug)]
struct Since {
    base: Oid,
    /// The paths whose lineage it holds (seeded or touched): `live` is complete for these.
    known: BTreeSet<PromptPath>,
    /// Where the log's lineages disagree with `base`'s tree (see [`History::scan_since`]).
    disagreements: Vec<String>,
}

impl History {
    /// Position of a commit on the first-parent line, if it is there.
    pub fn position(&self, oid: &Oid) -> Option<usize> {
        self.position.get(oid).copied()
    }

    /// Reads the history reachable from `tip` in one `git log` pass.
    pub fn scan(git: &Git, tip: &Oid, matcher: &PromptMatcher) -> Result<History> {
        let all = stream(git, tip, &[], matcher)?;
        let line = first_parent_line(&all, tip, None)?
            .context("the first-parent line ends before its root")?;
        walk(all, &line, HashMap::new(), matcher)
    }

    /// Reads only the commits after `base` (`git log tip ^base`), when `base` is on `tip`'s
    /// first-parent line: the events, positions and commits are those [`History::scan`]
    /// gives after `base`, provided `seed` returns the lineages of the paths those commits
    /// touch as they stood at `base` (see [`Seed`]) and the prompt globs never changed.
    /// Versions are numbered per prompt in log order: when the globs changed, the lineages
    /// the log recorded are the ones continued, which a walk of every commit with today's
    /// globs does not give (it would number content the log never recorded, entries
    /// `verify` rejects). Every touched path is compared with `base`'s tree and each
    /// difference kept ([`History::disagreements`]). `Ok(Err(why))`: `base` is not on the
    /// line, or the seed was refused — read the whole history instead.
    pub fn scan_since(
        git: &Git,
        tip: &Oid,
        base: &Oid,
        matcher: &PromptMatcher,
        seed: impl FnOnce(&BTreeSet<PromptPath>) -> Result<Result<Seed, String>>,
    ) -> Result<Result<History, String>> {
        let all = stream(git, tip, std::slice::from_ref(base), matcher)?;
        let Some(line) = first_parent_line(&all, tip, Some(base))? else {
            return Ok(Err(format!(
                "{} is not on the first-parent line of {}",
                base.short(),
                tip.short()
            )));
        };
        let mut touched = BTreeSet::new();
        for oid in &line {
            for c in &all[oid].raw.changes {
                for p in std::iter::once(&c.path).chain(c.old_path.as_ref()) {
                    if matcher.matches(p) {
                        touched.insert(prompt_path(p)?);
                    }
                }
            }
        }
        let seed = match seed(&touched)? {
            Ok(s) => s,
            Err(why) => return Ok(Err(why)),
        };
        if touched.iter().any(|p| p.as_str().contains('\n')) {
            return Ok(Err("a changed path holds a newline".into()));
        }
        let disagreements = seed.disagreements_with_tree(git, base, &touched)?;
        let mut known: BTreeSet<PromptPath> = seed.lineages.keys().cloned().collect();
        known.extend(touched);
        let mut history = walk(all, &line, seed.lineages, matcher)?;
        history.live.retain(|(p, _, _)| known.contains(p));
        history.since = Some(Since {
            base: base.clone(),
            known,
            disagreements,
        });
        Ok(Ok(history))
    }

    /// Where the lineages seeded from the log disagree with the tree of the commit this
    /// history was read after: a prompt that entered the globs with content the log never
    /// recorded, or was edited while they left it out. Versions are numbered in log order,
    /// so such a prompt's next event continues its lineage as the log has it (or starts
    /// one at version 1), not as a walk of every commit with today's globs would.
    pub fn disagreements(&self) -> &[String] {
        self.since.as_ref().map_or(&[], |s| &s.disagreements)
    }

    /// The commit this history was read after (`None`: read from the root).
    pub fn since(&self) -> Option<&Oid> {
        self.since.as_ref().map(|s| &s.base)
    }

    /// Whether `live` is complete for `path`: always for a whole history, for one read since
    /// a commit only for the paths whose lineage it holds.
    pub fn knows(&self, path: &PromptPath) -> bool {
        self.since.as_ref().is_none_or(|s| s.known.contains(path))
    }
}

/// Every commit `git log tip ^exclude…` lists, with only its prompt changes kept.
fn stream(
    git: &Git,
    tip: &Oid,
    exclude: &[Oid],
    matcher: &PromptMatcher,
) -> Result<HashMap<Oid, Node>> {
    let mut all: HashMap<Oid, Node> = HashMap::new();
    git.log_range(tip, exclude, |raw| {
        let node = Node::from_raw(raw, matcher);
        all.insert(node.commit_oid(), node);
        Ok(())
    })?;
    Ok(all)
}

/// The first-parent line from `tip` back to its root, or to the commit whose first parent
/// is `base`; oldest first. `None` when it ends elsewhere (`base` is not on it).
fn first_parent_line(
    all: &HashMap<Oid, Node>,
    tip: &Oid,
    base: Option<&Oid>,
) -> Result<Option<Vec<Oid>>> {
    let mut line = Vec::new();
    let mut cur = Some(tip.clone());
    while let Some(oid) = cur {
        let Some(node) = all.get(&oid) else {
            if base.is_some() {
                return Ok(None);
            }
            bail!("commit {oid} is missing from the history stream");
        };
        cur = node.raw.parents.first().cloned();
        line.push(oid);
        if base.is_some() && cur.as_ref() == base {
            line.reverse();
            return Ok(Some(line));
        }
    }
    if base.is_some() {
        return Ok(None);
    }
    line.reverse();
    Ok(Some(line))
}

/// A commit of the whole graph with only its prompt changes kept.
struct Node {
    raw: RawCommit,
}

impl Node {
    fn from_raw(mut raw: RawCommit, matcher: &PromptMatcher) -> Node {
        // A submodule (gitlink) is not a file: its appearance is a deletion of whatever
        // file was there, its replacement by a file an addition.
        for c in &mut raw.changes {
            if c.new_mode == MODE_GITLINK && c.old_mode != MODE_GITLINK && c.old_mode != 0 {
                c.status = b'D';
                c.old_path = None;
            } else if c.old_mode == MODE_GITLINK && c.new_mode != MODE_GITLINK && c.new_mode != 0 {
                c.status = b'A';
                c.old_path = None;
            }
        }
        raw.changes.retain(|c| {
            !(c.new_mode == MODE_GITLINK || (c.old_mode == MODE_GITLINK && c.new_mode == 0))
        });
        // Keeping only prompt changes keeps memory proportional to prompt activity.
        raw.changes.retain(|c| {
            matcher.matches(&c.path) || c.old_path.as_deref().is_some_and(|p| matcher.matches(p))
        });
        Node { raw }
    }

    fn commit_oid(&self) -> Oid {
        self.raw.oid.clone()
    }
}

struct Lineage {
    /// Blob of each version, by number - 1.
    versions: Vec<Oid>,
    /// Content live now; `None` after a deletion.
    live: Option<Oid>,
}

/// Walks the first-parent `line` (oldest first) from `lineages`, the prompts' lineages as
/// they stood before its first commit. The merged sides are what `all` holds: commits
/// before the line are not in it, so a merge attributes only commits new to the line.
fn walk(
    mut all: HashMap<Oid, Node>,
    line: &[Oid],
    mut lineages: HashMap<PromptPath, Lineage>,
    matcher: &PromptMatcher,
) -> Result<History> {
    let mut history = History::default();
    let mut landed: HashSet<Oid> = HashSet::with_capacity(all.len());

    for (pos, oid) in line.iter().enumerate() {
        landed.insert(oid.clone());
        let node = all.get(oid).context("commit vanished")?;
        // Commits brought in by this merge: reachable from the other parents, not landed yet.
        let mut side: Vec<Oid> = Vec::new();
        let mut stack: Vec<Oid> = node.raw.parents.iter().skip(1).cloned().collect();
        while let Some(s) = stack.pop() {
            if !landed.insert(s.clone()) {
                continue;
            }
            if let Some(n) = all.get(&s) {
                stack.extend(n.raw.parents.iter().cloned());
                side.push(s);
            }
        }
        let side_nodes: Vec<&RawCommit> = side
            .iter()
            .filter_map(|s| all.get(s))
            .map(|n| &n.raw)
            .collect();
        let commit = to_commit(&node.raw)?;
        let events = apply_changes(&node.raw.changes, &mut lineages, pos, matcher)?;
        for mut ev in events {
            ev.authors = authors_of(&ev, &commit, &side_nodes)?;
            history.events.push(ev);
        }
        history.position.insert(oid.clone(), pos);
        history.commits.push(commit);
    }
    // Side commits are no longer needed once attributed.
    all.clear();

    let mut live: Vec<_> = lineages
        .into_iter()
        .filter_map(|(p, l)| {
            let blob = l.live?;
            let v = l.versions.iter().rposition(|b| *b == blob)? + 1;
            Some((p, Version(v as u32), blob))
        })
        .collect();
    live.sort();
    history.live = live;
    Ok(history)
}

fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(s)
        .with_context(|| format!("bad date from git log: {s}"))?
        .with_timezone(&Utc))
}

fn to_commit(raw: &RawCommit) -> Result<Commit> {
    Ok(Commit {
        oid: raw.oid.clone(),
        parents: raw.parents.clone(),
        author: Person {
            name: raw.author_name.clone(),
            email: raw.author_email.clone(),
        },
        authored_at: parse_time(&raw.author_date)?,
        committer: Person {
            name: raw.committer_name.clone(),
            email: raw.committer_email.clone(),
        },
        committed_at: parse_time(&raw.committer_date)?,
        coauthors: raw
            .coauthors
            .iter()
            .filter_map(|c| Person::parse_trailer(c))
            .collect(),
    })
}

/// Applies one landed commit's prompt changes to the lineages; returns the events.
fn apply_changes(
    changes: &[RawChange],
    lineages: &mut HashMap<PromptPath, Lineage>,
    pos: usize,
    matcher: &PromptMatcher,
) -> Result<Vec<PromptEvent>> {
    let mut events = Vec::new();
    // Renames first take the lineage away from their source path, so that a new file
    // added at that path in the same commit starts fresh.
    // By change index: the deletions of prompts renamed out of the globs come in git's order.
    let mut moved: BTreeMap<usize, (PromptPath, Option<Lineage>)> = BTreeMap::new();
    for (i, c) in changes.iter().enumerate() {
        if let (b'R', Some(old)) = (c.status, &c.old_path)
            && matcher.matches(old)
        {
            let old = prompt_path(old)?;
            let lineage = lineages.remove(&old);
            moved.insert(i, (old, lineage));
        }
    }
    for (i, c) in changes.iter().enumerate() {
        if !matcher.matches(&c.path) {
            continue; // renamed out of the globs: handled below as a deletion
        }
        let path = prompt_path(&c.path)?;
        // Whether the diff showed this content as a change from what the log has live
        // (`base`): a whole new file always is; bytes that did not change, or changed from
        // content the log never recorded at that path (edited while the globs left it out,
        // moved in from a file that was no prompt), are not.
        let shown = |base: Option<&Oid>| {
            c.status == b'A' || (c.old_oid != c.new_oid && base == Some(&c.old_oid))
        };
        let event = |kind, previous_path, blob: &Oid, shown: bool| PromptEvent {
            commit: pos,
            path: path.clone(),
            previous_path,
            kind,
            blob: blob.clone(),
            mode: c.new_mode,
            authors: Vec::new(),
            shown,
        };
        match c.status {
            b'D' => {
                if let Some(l) = lineages.get_mut(&path)
                    && let Some(blob) = l.live.take()
                {
                    let v = version_of(l, &blob);
                    events.push(event(EventKind::Deleted { version: v }, None, &blob, true));
                }
            }
            b'R' => {
                let (old, lineage) = match moved.remove(&i) {
                    Some((old, lineage)) => (Some(old), lineage),
                    None => (None, None),
                };
                match lineage {
                    Some(l) if l.live.as_ref() == Some(&c.new_oid) => {
                        let v = version_of(&l, &c.new_oid);
                        let shown = shown(l.live.as_ref());
                        events.push(event(
                            EventKind::Renamed { version: v },
                            old,
                            &c.new_oid,
                            shown,
                        ));
                        lineages.insert(path.clone(), l);
                    }
                    Some(mut l) => {
                        let shown = shown(l.live.as_ref());
                        let kind = new_version(&mut l, &c.new_oid);
                        events.push(event(kind, old, &c.new_oid, shown));
                        lineages.insert(path.clone(), l);
                    }
                    None => {
                        // Moved in from a path that was not a prompt: it starts here.
                        let mut l = lineages.remove(&path).unwrap_or_else(Lineage::new);
                        let kind = new_version(&mut l, &c.new_oid);
                        events.push(event(kind, None, &c.new_oid, shown(None)));
                        lineages.insert(path.clone(), l);
                    }
                }
            }
            _ => {
                let l = lineages.entry(path.clone()).or_insert_with(Lineage::new);
                if l.live.as_ref() == Some(&c.new_oid) {
                    continue; // mode-only change: same content, same version
                }
                let shown = shown(l.live.as_ref());
                let kind = new_version(l, &c.new_oid);
                events.push(event(kind, None, &c.new_oid, shown));
            }
        }
    }
    // Renamed out of the prompt globs: the prompt is gone.
    for (old, lineage) in moved.into_values() {
        if let Some(mut l) = lineage
            && let Some(blob) = l.live.take()
        {
            let v = version_of(&l, &blob);
            events.push(PromptEvent {
                commit: pos,
                path: old.clone(),
                previous_path: None,
                kind: EventKind::Deleted { version: v },
                blob,
                mode: 0,
                authors: Vec::new(),
                shown: true,
            });
            lineages.insert(old, l);
        }
    }
    Ok(events)
}

impl Lineage {
    fn new() -> Self {
        Lineage {
            versions: Vec::new(),
            live: None,
        }
    }
}

fn version_of(l: &Lineage, blob: &Oid) -> Version {
    Version(
        l.versions
            .iter()
            .rposition(|b| b == blob)
            .map_or(0, |i| i + 1) as u32,
    )
}

fn new_version(l: &mut Lineage, blob: &Oid) -> EventKind {
    let previous = l
        .live
        .as_ref()
        .map(|b| version_of(l, b))
        .or_else(|| (!l.versions.is_empty()).then_some(Version(l.versions.len() as u32)));
    let equals = l
        .versions
        .iter()
        .position(|b| b == blob)
        .map(|i| Version(i as u32 + 1));
    let readded = l.live.is_none() && !l.versions.is_empty();
    l.versions.push(blob.clone());
    l.live = Some(blob.clone());
    EventKind::Version {
        version: Version(l.versions.len() as u32),
        previous,
        equals,
        readded,
    }
}

/// Who wrote an event's change: the merged side's commits that touched the prompt, or the
/// landed commit itself (its author and `Co-authored-by` trailers).
fn authors_of(ev: &PromptEvent, landed: &Commit, side: &[&RawCommit]) -> Result<Vec<Authorship>> {
    let mut out: Vec<Authorship> = Vec::new();
    let mut push = |person: Person, role: Role, commit: &Oid| {
        let dup = out
            .iter()
            .any(|a| a.person.email.eq_ignore_ascii_case(&person.email));
        if !dup {
            out.push(Authorship {
                person,
                role,
                commit: commit.clone(),
            });
        }
    };
    let names: Vec<&[u8]> = std::iter::once(ev.path.as_str().as_bytes())
        .chain(ev.previous_path.as_ref().map(|p| p.as_str().as_bytes()))
        .collect();
    // Merges inside the merged branch (syncing it with main) carry other people's work:
    // they count only when no ordinary commit touched the prompt.
    let touches = |c: &&&RawCommit| {
        c.changes.iter().any(|ch| {
            names.contains(&ch.path.as_slice())
                || ch.old_path.as_deref().is_some_and(|o| names.contains(&o))
        })
    };
    let mut touching: Vec<&&RawCommit> = side
        .iter()
        .filter(|c| c.parents.len() < 2)
        .filter(touches)
        .collect();
    if touching.is_empty() {
        touching = side.iter().filter(touches).collect();
    }
    if touching.is_empty() {
        push(landed.author.clone(), Role::Author, &landed.oid);
        for c in &landed.coauthors {
            push(c.clone(), Role::CoAuthor, &landed.oid);
        }
    } else {
        // Oldest first reads naturally in reports.
        for raw in touching.iter().rev() {
            let c = to_commit(raw)?;
            push(c.author.clone(), Role::Author, &c.oid);
            for co in &c.coauthors {
                push(co.clone(), Role::CoAuthor, &c.oid);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_parsing() {
        assert_eq!(
            Person::parse_trailer("Jane Doe <jane@example.org>"),
            Some(Person {
                name: "Jane Doe".into(),
                email: "jane@example.org".into()
            })
        );
        assert_eq!(Person::parse_trailer("no email"), None);
    }

    #[test]
    fn github_login_from_noreply_email() {
        let p = Person {
            name: "x".into(),
            email: "12345+octocat@users.noreply.github.com".into(),
        };
        assert_eq!(p.github_login().as_deref(), Some("octocat"));
        assert_eq!(p.github_id(), Some(12345));
        let p = Person {
            name: "x".into(),
            email: "12345+Octocat@Users.NoReply.GitHub.com".into(),
        };
        assert_eq!(p.github_login().as_deref(), Some("Octocat"));
        assert_eq!(p.github_id(), Some(12345));
        let p = Person {
            name: "x".into(),
            email: "octocat@users.noreply.github.com".into(),
        };
        assert_eq!(p.github_login().as_deref(), Some("octocat"));
        assert_eq!(p.github_id(), None);
        let p = Person {
            name: "x".into(),
            email: "x@example.org".into(),
        };
        assert_eq!(p.github_login(), None);
    }
}
