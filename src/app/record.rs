//! `promptrail record`: one signed `version` entry per prompt event that landed since the
//! log's last version entry; idempotent, and safe when several jobs append at once.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::{SubsecRound as _, Utc};

use super::approvals::{Target, client, judge};
use super::{Outcome, Progress, Workspace, attest, print_json};
use crate::attestation::predicate::{
    ApprovalRecord, ApprovalStatus, AuditEvent, AuthorRecord, AuthorRole, ChangeType, ConfigDigest,
    EventType, LogPosition, PolicyInForce, PolicyRecord, PromptRecord, RulePart, RuleRecord,
    ToolRecord,
};
use crate::attestation::statement::DigestSet;
use crate::attestation::{ResourceDescriptor, Statement};
use crate::cli::{Format, RecordArgs};
use crate::git::MODE_SYMLINK;
use crate::github::Client;
use crate::governance::PolicyTracker;
use crate::history::{EventKind, History, PromptEvent, Role};
use crate::policy::{Decision, Policy};
use crate::prompt::{PromptMatcher, check_symlink};
use crate::report::plain;
use crate::report::views::{EntryView, RecordView};
use crate::review::PullRequest;
use crate::signing::{Signer, Trust};
use crate::store::{Appended, NewEntry, Store, Tip, decode_entry};
use crate::summary::StateView;
use crate::types::{EntryIndex, Oid, PromptPath, Sha256Hex};

pub fn run(dir: &Path, args: &RecordArgs, progress: &Progress) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let matcher = ws.matcher()?;
    let (signer, trusted, uploads) = attest::signing(&ws, args)?;
    let approvals = Approvals::open(&ws, args, progress)?;
    // What landed on the remote's protected branch, not local commits nobody pushed.
    let (target_name, tip_commit, target) = if args.no_push {
        let (name, t) = ws.target_commit(args.commit.as_deref())?;
        (name, t.clone(), t)
    } else {
        ws.landed(args.commit.as_deref())?
    };
    warn_unmatched(&ws, &matcher, &target, progress)?;

    let branch = ws.config.audit.branch.0.clone();
    let signers = super::signers::PolicySigners::new(&ws);
    let store = ws.store(&branch).trusting(&trusted).governed_by(&signers);
    let origin = ws.origin()?;
    let mut entries = EntryMaker {
        signer: &signer,
        config_digest: ws.config_digest(),
        contents: ContentCache::new(&ws, &matcher)?,
        approvals,
    };
    let mut made: Vec<(String, Statement)> = Vec::new();
    // The protected branch's history is read only when the log has not recorded its tip yet:
    // "nothing new" costs a few reads at the log's end, whatever the history's length; and
    // then, when the summary is believed, only the commits after the last one recorded.
    let mut scanned: Option<(History, usize)> = None;

    let appended = store.append(
        !args.no_push,
        &origin,
        &signer,
        |tip| {
            made.clear();
            let (last, resume, mut view) = last_recorded_commit(&store, tip, &trusted, progress)?;
            if args.commit.is_none() && last.as_ref() == Some(&target) {
                return Ok(Vec::new());
            }
            // A history read since a commit serves a retry only while the log's last
            // recorded commit is that one or on it (another job recorded part of it).
            if scanned.as_ref().is_some_and(|(h, _)| {
                h.since().is_some_and(|base| {
                    Some(base) != last.as_ref()
                        && last.as_ref().is_none_or(|l| h.position(l).is_none())
                })
            }) {
                scanned = None;
            }
            let (history, target_pos) = match &mut scanned {
                Some(s) => &*s,
                slot @ None => {
                    let since = last.as_ref().map(|base| match &mut view {
                        Ok(view) => Ok((base, view)),
                        Err(why) => Err(why.clone()),
                    });
                    &*slot.insert(scan_history(
                        &ws,
                        &matcher,
                        (&tip_commit, &target),
                        &target_name,
                        since.map(|s| s.map(|(base, view)| (base, view, &trusted))),
                        progress,
                    )?)
                }
            };
            let target_pos = *target_pos;
            if tip.commit.is_none() {
                refuse_a_second_log(&ws, history, &branch, !args.no_push)?;
            }
            let start = match history.since() {
                // Read after the last recorded commit: everything in it is new.
                Some(base) if Some(base) == last.as_ref() => None,
                _ => resume_position(&ws, last, history, (&target, target_pos))?,
            };
            let pending: Vec<&PromptEvent> = history
                .events
                .iter()
                .filter(|e| start.is_none_or(|s| e.commit > s) && e.commit <= target_pos)
                .collect();
            if !pending.is_empty() {
                progress.say(&format!(
                    "recording {} prompt event(s) from entry {}",
                    pending.len(),
                    tip.next_index
                ));
            }
            let mut carried = Carried {
                store: &store,
                trusted: &trusted,
                tip: tip.commit.as_ref(),
                view: view.as_mut().ok(),
            };
            entries.sign(&pending, history, tip, resume, &mut carried, &mut made)
        },
        |msg| progress.say(msg),
    )?;

    if progress.verbose
        && let Some(n) = entries.approvals.requests()
    {
        progress.say(&format!("GitHub API requests: {n}"));
    }
    let view = record_view(branch, target, appended.as_ref(), &made, &signer);
    match args.format.format {
        Format::Json => print_json(&view)?,
        Format::Text => print!("{}", plain::record(&view)),
    }
    if let (Some(gh), Some(a)) = (&uploads, appended.as_ref().filter(|a| a.pushed)) {
        attest::upload(
            &ws,
            gh,
            (a.first.0..a.first.0 + a.count).map(crate::types::EntryIndex),
            progress,
        )?;
    }
    Ok(Outcome::Ok)
}

/// What `record` reports: the entries it appended (none when nothing was new), whether they
/// were pushed, and after how many rejected pushes.
fn record_view(
    audit_branch: String,
    commit: Oid,
    appended: Option<&Appended>,
    made: &[(String, Statement)],
    signer: &Signer,
) -> RecordView {
    RecordView {
        audit_branch,
        commit,
        appended: match appended {
            Some(_) => made
                .iter()
                .map(|(file, st)| EntryView::new(file, signer.signed_by(), st))
                .collect(),
            None => Vec::new(),
        },
        pushed: appended.is_some_and(|a| a.pushed),
        retries: appended.map_or(0, |a| a.retries),
    }
}

/// What turns pending prompt events into signed `version` entries: each event's content
/// checked, its approvals judged, the policy in force tracked entry by entry.
struct EntryMaker<'a> {
    signer: &'a Signer,
    config_digest: Sha256Hex,
    contents: ContentCache<'a>,
    approvals: Approvals<'a>,
}

impl EntryMaker<'_> {
    /// One signed entry per pending event, in order, chained from the tip; `made` gets each
    /// entry's file and statement.
    fn sign(
        &mut self,
        pending: &[&PromptEvent],
        history: &History,
        tip: &Tip,
        Resume {
            mut policy,
            adoption,
        }: Resume,
        carried: &mut Carried<'_>,
        made: &mut Vec<(String, Statement)>,
    ) -> Result<Vec<NewEntry>> {
        let mut previous = tip.previous.clone();
        let mut out = Vec::with_capacity(pending.len());
        for (i, ev) in pending.iter().enumerate() {
            let index = EntryIndex(tip.next_index.0 + i as u64);
            let sha = self.contents.sha256(ev)?;
            let in_force = policy
                .for_commit(Some(&history.commits[ev.commit].oid))
                .clone();
            let (mut approval_records, mut rule) =
                self.approvals.for_event(history, ev, &in_force)?;
            judge_unshown(ev, carried, made, &mut approval_records, &mut rule)?;
            let statement = version_statement(
                ev,
                history,
                LogPosition {
                    index,
                    previous: previous.clone(),
                    origin: tip.meta.origin.clone(),
                },
                sha,
                PolicyRecord {
                    config_digest: ConfigDigest {
                        sha256: self.config_digest.clone(),
                    },
                    rules: vec![rule],
                    in_force: Some(in_force),
                    adoption,
                },
                approval_records,
            );
            policy.observe(index, &statement);
            let payload = statement
                .to_payload()
                .context("serialising the version statement")?;
            let bytes = self.signer.sign_entry(payload)?;
            previous = Some(Sha256Hex::of(&bytes));
            let summary = format!(
                "version {} {} {}",
                ev.path,
                ev.kind.version(),
                ev.kind.name()
            );
            made.push((crate::store::entry_path(index), statement.clone()));
            out.push(NewEntry {
                bytes,
                summary,
                recorded_at: statement.predicate.recorded_at,
            });
        }
        Ok(out)
    }
}

/// What the reviewers of the change that landed `ev` approved when the commit's diff did not
/// show its content as a change from what the log has live ([`PromptEvent::shown`]: a
/// rename or copy without changes, a mode-only change, an edit on top of bytes the log never
/// recorded at that path): not that content. Their verdicts are kept, uncounted, with that
/// reason, so that neither the path's rule nor an environment's counts them. A new version (content
/// the log never recorded at that path: edited while the globs left it out, moved in from a
/// file that was no prompt) is then approved only where the rule needs no approval, as a
/// direct push is. A rename without changes carries the version it moves: the verdicts that
/// version was recorded with come along (marked carried), and it is approved when that
/// version was, under the same rule with at least the approvals the new path's rule needs,
/// and the rename's own decision approves the move.
fn judge_unshown(
    ev: &PromptEvent,
    carried: &mut Carried<'_>,
    made: &[(String, Statement)],
    approvals: &mut Vec<ApprovalRecord>,
    rule: &mut RuleRecord,
) -> Result<()> {
    if ev.shown || matches!(ev.kind, EventKind::Deleted { .. }) {
        return Ok(());
    }
    let move_approved = rule.is_approved();
    let free = rule.required == 0 && rule.parts.iter().all(|p| p.required == 0);
    let why = match ev.kind {
        EventKind::Renamed { .. } => {
            "shown no content: a rename without changes (it carries the approval of the \
             version it moves, it does not give one)"
        }
        _ => {
            "not shown: the change that landed it did not show these bytes as a change from \
             what the log has at this path (renamed, copied or its mode changed without \
             changes, or edited on top of bytes the log never recorded), so its reviewers did \
             not approve them"
        }
    };
    for a in approvals.iter_mut().filter(|a| a.counted) {
        a.counted = false;
        a.reason = why.to_owned();
    }
    rule.counted = 0;
    rule.approved = move_approved && free;
    for p in &mut rule.parts {
        p.counted = 0;
        p.approved = p.approved && p.required == 0;
    }
    let (EventKind::Renamed { version }, Some(from)) = (&ev.kind, &ev.previous_path) else {
        return Ok(());
    };
    let Some(c) = carried.version(from, &ev.blob, made)? else {
        return Ok(());
    };
    approvals.extend(c.approvals.into_iter().map(|mut a| {
        a.reason = format!(
            "carried from {from} {version} (entry #{}): {}",
            c.entry.0, a.reason
        );
        a.path = ev.path.clone();
        a
    }));
    if let Some(was) = c.rule.filter(|r| {
        r.is_approved() && r.parts.is_empty() && r.rule == rule.rule && r.required >= rule.required
    }) && rule.parts.is_empty()
    {
        rule.approved = move_approved;
        rule.counted = was.counted;
    }
    Ok(())
}

/// The version a rename carries, as its entry recorded it: its rule's decision and verdicts.
struct CarriedVersion {
    entry: EntryIndex,
    rule: Option<RuleRecord>,
    approvals: Vec<ApprovalRecord>,
}

/// Where the version a rename carries is read: this run's entries, the believed state
/// summary (the entry it names, signature-checked), else the log read back from its end
/// (every entry passed signature-checked).
struct Carried<'a> {
    store: &'a Store<'a>,
    trusted: &'a Trust,
    tip: Option<&'a Oid>,
    view: Option<&'a mut StateView>,
}

impl Carried<'_> {
    /// The newest version recorded at `path` with content `blob` (`None`: the log records
    /// none).
    fn version(
        &mut self,
        path: &PromptPath,
        blob: &Oid,
        made: &[(String, Statement)],
    ) -> Result<Option<CarriedVersion>> {
        let found_in = |st: &Statement| -> Option<CarriedVersion> {
            let p = &st.predicate;
            if p.event != EventType::Version {
                return None;
            }
            p.prompts
                .iter()
                .find(|r| {
                    &r.path == path
                        && &r.digest.git_blob == blob
                        && r.change != Some(ChangeType::Deleted)
                })
                .map(|_| CarriedVersion {
                    entry: p.log.index,
                    rule: p.policy.rules.iter().find(|r| &r.path == path).cloned(),
                    approvals: p
                        .approvals
                        .iter()
                        .filter(|a| &a.path == path)
                        .cloned()
                        .collect(),
                })
        };
        if let Some(c) = made.iter().rev().find_map(|(_, st)| found_in(st)) {
            return Ok(Some(c));
        }
        let Some(tip) = self.tip else {
            return Ok(None);
        };
        if let Some(view) = self.view.as_deref_mut()
            && let Some(history) = view.history(path)?
            && let Some(v) = history
                .versions
                .iter()
                .rev()
                .find(|v| &v.git_blob == blob && v.change != Some(ChangeType::Deleted))
        {
            let entry = view.entries(&[v.entry])?;
            let st = trusted_entry(self.trusted, entry.first().context("no entry read")?)?;
            if let Some(c) = found_in(&st) {
                return Ok(Some(c));
            }
        }
        let mut found = None;
        self.store.entries_backwards(tip, |entry| {
            let st = trusted_entry(self.trusted, entry)?;
            found = found_in(&st);
            Ok(found.is_none())
        })?;
        Ok(found)
    }
}

/// A history read since the log's last recorded commit (`None`: nothing is recorded): that
/// commit, the believed summary that seeds the lineages (`Err`: why there is none to use).
type SinceLast<'a> = Option<Result<(&'a Oid, &'a mut StateView, &'a Trust), String>>;

/// The protected branch's first-parent history up to `tip`, and `target`'s position on it:
/// only the commits after the last recorded one when `since` allows it and `target` is
/// among them, else the whole history.
fn scan_history(
    ws: &Workspace,
    matcher: &PromptMatcher,
    (tip, target): (&Oid, &Oid),
    target_name: &str,
    since: SinceLast<'_>,
    progress: &Progress,
) -> Result<(History, usize)> {
    let started = std::time::Instant::now();
    let why = match since {
        None => None,
        Some(Err(why)) => Some(why),
        Some(Ok((base, view, trusted))) => Some({
            match super::since::history_since(ws, view, (base, tip), matcher, |e| {
                trusted_entry(trusted, e)
            })? {
                Ok(history) => match history.position(target) {
                    Some(pos) => {
                        for d in history.disagreements() {
                            progress.say(&format!(
                                "numbered from the log, not the tree: {d} (the prompt globs \
                                 changed?)"
                            ));
                        }
                        progress.say(&format!(
                            "read {} commits of {target_name} since the last recorded one ({}): \
                             {} prompt events ({} ms)",
                            history.commits.len(),
                            base.short(),
                            history.events.len(),
                            started.elapsed().as_millis()
                        ));
                        return Ok((history, pos));
                    }
                    None => format!("{} is not after {}", target.short(), base.short()),
                },
                Err(why) => why,
            }
        }),
    };
    if let Some(why) = why {
        progress.say(&format!(
            "reading the whole history of {target_name}, not only what follows the last \
             recorded commit: {why}"
        ));
    }
    let history = History::scan(&ws.git, tip, matcher)?;
    progress.say(&format!(
        "scanned {} commits of {target_name}: {} prompt events ({} ms)",
        history.commits.len(),
        history.events.len(),
        started.elapsed().as_millis()
    ));
    let target_pos = history.position(target).with_context(|| {
        format!(
            "{} is not on the first-parent history of {target_name}: only what landed there is \
             recorded",
            target.short()
        )
    })?;
    Ok((history, target_pos))
}

/// The policy in force after the log's last entry, and whether this run writes the
/// adoption baseline (the log holds no governed entry yet).
struct Resume {
    policy: PolicyTracker,
    adoption: bool,
}

/// The commit of the log's newest `version` entry (`None` for a log without one), and the
/// policy that judges what comes next: from the checked state summary when it is believed
/// (its cost does not grow with the log), else read from the log's end back to the first
/// entry of the newest commit that names its policy. Every entry passed must be signed by a
/// trusted key.
fn last_recorded_commit(
    store: &Store,
    tip: &Tip,
    trusted: &Trust,
    progress: &Progress,
) -> Result<(Option<Oid>, Resume, Seedable)> {
    let Some(commit) = &tip.commit else {
        let fresh = Resume {
            policy: PolicyTracker::default(),
            adoption: true,
        };
        return Ok((None, fresh, Err("the log is empty".into())));
    };
    match from_summary(store, commit, trusted) {
        Ok(Some(found)) => return Ok(found),
        Ok(None) => {}
        // Not believed: read the log instead (which judges every entry it passes).
        Err(why) => progress.say(&format!(
            "the state summary is not believed to resume from ({why:#}): reading the log's end"
        )),
    }
    let (last, resume) = walk_back(store, commit, trusted)?;
    Ok((last, resume, Err("no state summary is believed".into())))
}

/// The believed summary, to seed a history read since the last recorded commit; `Err`
/// says why there is none. (Whatever `.promptrail.yml` the log's entries were made under:
/// versions are numbered per prompt in log order, so a lineage continues as the log
/// recorded it; see [`History::scan_since`].)
type Seedable = Result<StateView, String>;

/// An entry decoded, refused unless a trusted key (or keyless identity) signed it. Recording
/// never builds on an entry nobody trusted signed: someone with push access alone could
/// otherwise steer where recording resumes.
fn trusted_entry(trusted: &Trust, entry: &crate::store::StoredEntry) -> Result<Statement> {
    let (bundle, st) = decode_entry(&entry.bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}; run `promptrail verify`", entry.path))?;
    let keyless_ok = || {
        trusted
            .keyless
            .as_ref()
            .is_some_and(|k| k.verify_entry(&entry.bytes, &st).is_ok())
    };
    let signed =
        (bundle.is_keyless() && keyless_ok()) || trusted.verify_key_entry(&bundle).is_some();
    if !signed {
        bail!(
            "{} on the audit branch is not signed by a trusted key: run `promptrail verify`; \
             refusing to append after it",
            entry.path
        );
    }
    Ok(st)
}

/// The commit a `version` entry is about (`None` for deployments and rollbacks).
fn commit_of(st: &Statement) -> Option<Oid> {
    match st.predicate.event {
        EventType::Version => st.predicate.prompts.first().map(|p| p.commit.clone()),
        EventType::Deployment | EventType::Rollback => None,
    }
}

/// [`last_recorded_commit`] from the state summary at `commit`: `Ok(None)` when the branch
/// has none, `Err` when it is not believed. Believed only when its checkpoint is signed by a
/// trusted key, it covers the tip, and the newest `version` entry (read back from the end,
/// each entry passed signature-checked) is about the commit the summary names.
fn from_summary(
    store: &Store,
    commit: &Oid,
    trusted: &Trust,
) -> Result<Option<(Option<Oid>, Resume, Seedable)>> {
    let Some(mut view) = crate::summary::StateView::open(store, commit)? else {
        return Ok(None);
    };
    view.check(trusted).map_err(anyhow::Error::msg)?;
    let named = view.index().last_version_commit.clone();
    let policy = view.policy()?;
    // The newest version entry: the summary's claim is checked against it, and whether it
    // names its policy says if the log has left its adoption baseline (a log recorded
    // before the policy was governed names none, and its next run is its baseline).
    let mut newest: Option<Statement> = None;
    store.entries_backwards(commit, |entry| {
        let st = trusted_entry(trusted, entry)?;
        if commit_of(&st).is_some() {
            newest = Some(st);
            return Ok(false);
        }
        Ok(true)
    })?;
    let found = newest.as_ref().and_then(commit_of);
    if found != named {
        bail!(
            "it names {} as the last recorded commit, the newest version entry {}",
            named.as_ref().map_or("none", Oid::as_str),
            found.as_ref().map_or("none", Oid::as_str)
        );
    }
    let adoption = !policy.past_adoption
        && newest
            .as_ref()
            .is_none_or(|st| st.predicate.policy.in_force.is_none());
    let seedable = match &newest {
        Some(_) => Ok(view),
        None => Err("nothing is recorded yet".into()),
    };
    Ok(Some((
        found,
        Resume {
            policy: policy.tracker(),
            adoption,
        },
        seedable,
    )))
}

/// [`last_recorded_commit`] without a believed summary: the log read from its end.
fn walk_back(store: &Store, commit: &Oid, trusted: &Trust) -> Result<(Option<Oid>, Resume)> {
    let mut last: Option<Oid> = None;
    let mut anchor: Option<Oid> = None;
    // Newest first, back to the first entry of the newest commit that names its policy.
    let mut walked: Vec<(EntryIndex, Statement)> = Vec::new();
    store.entries_backwards(commit, |entry| {
        let st = trusted_entry(trusted, entry)?;
        // Replay starts at the oldest entry of the newest commit whose entries name the
        // policy in force for them: all of that commit's entries are replayed, so that a
        // policy change it made (its entry sorts first) is known.
        if let Some(c) = &anchor {
            if commit_of(&st).as_ref() != Some(c) {
                return Ok(false);
            }
        } else if let Some(c) = commit_of(&st) {
            last.get_or_insert_with(|| c.clone());
            if st.predicate.policy.in_force.is_some() {
                anchor = Some(c);
            }
        }
        walked.push((st.predicate.log.index, st));
        Ok(true)
    })?;
    // Replay oldest first from the entry that names its policy (a log made before the policy
    // was governed names none: its next run is still its adoption baseline).
    walked.reverse();
    let adoption = walked
        .first()
        .is_none_or(|(_, st)| st.predicate.policy.in_force.is_none());
    let mut policy = walked
        .first()
        .and_then(|(_, st)| st.predicate.policy.in_force.clone())
        .map_or_else(PolicyTracker::default, PolicyTracker::starting_with);
    for (index, st) in &walked {
        policy.for_entry(st);
        policy.observe(*index, st);
    }
    Ok((last, Resume { policy, adoption }))
}

/// Position (on the first-parent line) of `last`, the commit of the log's newest `version`
/// entry: everything up to and including it is recorded. `None` for a log without one.
fn resume_position(
    ws: &Workspace,
    last: Option<Oid>,
    history: &History,
    (target, target_pos): (&Oid, usize),
) -> Result<Option<usize>> {
    let Some(oid) = last else {
        return Ok(None);
    };
    if let Some(pos) = history.position(&oid) {
        return Ok(Some(pos));
    }
    if ws.git.resolve_commit(oid.as_str())?.is_none() {
        bail!(
            "the audit log has recorded commit {oid}, which this clone does not have: fetch the \
             protected branch (`git fetch {remote}`) and retry",
            remote = ws.config.audit.remote.0
        );
    }
    // Another job recorded further than our target reaches: we have nothing new.
    if ws.git.is_ancestor(target, &oid)? {
        return Ok(Some(target_pos));
    }
    let landed_tip = &history.commits[history.commits.len() - 1].oid;
    if ws.git.is_ancestor(&oid, landed_tip)? {
        bail!(
            "the audit log's last recorded commit {oid} is in the history of the protected \
             branch but no longer on its first-parent line: someone pushed a merge whose first \
             parent is not the previous tip (for example `git pull` then `git push`). Require \
             pull requests (or linear history) on the protected branch"
        );
    }
    bail!(
        "the audit log's last recorded commit {oid} is not in the history of the protected \
         branch: was it rewritten (force-pushed)? `git log --first-parent` must contain {oid}"
    )
}

/// A new (empty) audit log starts an adoption baseline, in which policy changes take effect
/// as they landed. Pointing `audit.branch` at an empty branch must not be a way to start one
/// over: when another audit branch named by the history's `.promptrail.yml` (or the default)
/// already holds a log, recording into an empty one is refused.
fn refuse_a_second_log(
    ws: &Workspace,
    history: &History,
    branch: &str,
    remote: bool,
) -> Result<()> {
    let remote_name = &ws.config.audit.remote.0;
    let tip_of = |name: &str| -> Result<Option<Oid>> {
        if remote {
            ws.git.fetch_branch(remote_name, name)
        } else {
            crate::store::Store::new(&ws.git, name, remote_name).local_tip()
        }
    };
    if tip_of(branch)?.is_some() {
        return Ok(());
    }
    let mut names: std::collections::BTreeSet<String> =
        [crate::config::AuditConfig::default().branch.0].into();
    for ev in history
        .events
        .iter()
        .filter(|e| crate::policy::is_policy_file(&e.path))
        .filter(|e| !matches!(e.kind, EventKind::Deleted { .. }))
    {
        // A version that does not parse names no branch; recording it is refused elsewhere.
        if let Ok(config) = ws.config_at(&history.commits[ev.commit].oid) {
            names.insert(config.audit.branch.0);
        }
    }
    names.remove(branch);
    for other in names {
        if tip_of(&other)?.is_some() {
            bail!(
                "the audit branch `{branch}` is empty, but `{other}` (named by the history's \
                 {file}) holds an audit log: recording into a new branch would start a second \
                 log and a new adoption baseline. Keep `audit.branch: {other}`; to start over \
                 deliberately, delete or rename `{other}` first",
                file = crate::config::FILE_NAME
            );
        }
    }
    Ok(())
}

/// Warns about include globs that match no file at `commit` (a typo records nothing).
fn warn_unmatched(
    ws: &Workspace,
    matcher: &PromptMatcher,
    commit: &Oid,
    progress: &Progress,
) -> Result<()> {
    let tree = ws.prompt_files(commit, matcher)?;
    for pattern in matcher.unmatched_patterns(tree.iter().map(|e| e.path.as_slice())) {
        progress.warn(&format!(
            "prompts.include pattern `{pattern}` matches no file at {}",
            commit.short()
        ));
    }
    Ok(())
}

/// Reads and checks prompt contents once each, through one `git cat-file` process.
struct ContentCache<'a> {
    reader: crate::git::ObjectReader,
    matcher: &'a PromptMatcher,
    /// Checked contents by (blob, mode): a symlink and a file may share a blob.
    seen: HashMap<(Oid, u32), Sha256Hex>,
}

impl<'a> ContentCache<'a> {
    fn new(ws: &Workspace, matcher: &'a PromptMatcher) -> Result<Self> {
        Ok(ContentCache {
            reader: ws.git.object_reader()?,
            matcher,
            seen: HashMap::new(),
        })
    }

    fn sha256(&mut self, ev: &PromptEvent) -> Result<Sha256Hex> {
        let key = (ev.blob.clone(), ev.mode);
        if let Some(s) = self.seen.get(&key) {
            return Ok(s.clone());
        }
        let data = self.reader.blob(&ev.blob)?;
        if ev.mode == MODE_SYMLINK {
            check_symlink(&ev.path, &data)?;
        }
        // The policy file is bounded and parsed as configuration, not held to prompt limits.
        if !matches!(ev.kind, EventKind::Deleted { .. }) && !crate::policy::is_policy_file(&ev.path)
        {
            self.matcher.check_content(&ev.path, &data)?;
        }
        let sha = Sha256Hex::of(&data);
        self.seen.insert(key, sha.clone());
        Ok(sha)
    }
}

/// The Statement for one prompt event.
fn version_statement(
    ev: &PromptEvent,
    history: &History,
    log: LogPosition,
    sha256: Sha256Hex,
    policy: PolicyRecord,
    approvals: Vec<ApprovalRecord>,
) -> Statement {
    let commit = &history.commits[ev.commit];
    let digest = DigestSet {
        sha256,
        git_blob: ev.blob.clone(),
    };
    let (change, previous_version, equals_version) = super::since::change_of(&ev.kind);
    let mut authors: Vec<AuthorRecord> = ev
        .authors
        .iter()
        .map(|a| AuthorRecord {
            name: a.person.name.clone(),
            email: a.person.email.clone(),
            login: a.person.github_login(),
            role: match a.role {
                Role::Author => AuthorRole::Author,
                Role::CoAuthor => AuthorRole::CoAuthor,
            },
            commit: a.commit.clone(),
        })
        .collect();
    authors.push(AuthorRecord {
        name: commit.committer.name.clone(),
        email: commit.committer.email.clone(),
        login: commit.committer.github_login(),
        role: AuthorRole::Committer,
        commit: commit.oid.clone(),
    });
    let prompt = PromptRecord {
        path: ev.path.clone(),
        change: Some(change),
        version: ev.kind.version(),
        previous_version,
        previous_path: ev.previous_path.clone(),
        equals_version,
        commit: commit.oid.clone(),
        landed_at: commit.committed_at,
        digest: digest.clone(),
    };
    Statement::new(
        vec![ResourceDescriptor {
            name: ev.path.to_string(),
            digest,
        }],
        AuditEvent {
            event: EventType::Version,
            log,
            prompts: vec![prompt],
            authors,
            approvals,
            policy,
            deployment: None,
            recorded_at: Utc::now().trunc_subsecs(0),
            tool: ToolRecord::this(),
        },
    )
}

/// Approvals of the pull requests that landed commits, read from GitHub once per commit and
/// judged by the policy against the content that landed.
struct Approvals<'a> {
    ws: &'a Workspace,
    gh: Option<Client>,
    /// Organisation of teams named without one.
    org: String,
    /// Policies in force, compiled, by the SHA-256 of their file.
    policies: HashMap<Sha256Hex, Policy>,
    protected: Option<String>,
    progress: &'a Progress,
    cache: HashMap<(usize, Sha256Hex), Landed>,
}

struct Landed {
    pr: Option<PullRequest>,
    decisions: HashMap<PromptPath, Decision>,
}

impl<'a> Approvals<'a> {
    fn open(ws: &'a Workspace, args: &RecordArgs, progress: &'a Progress) -> Result<Self> {
        let gh = if args.offline {
            None
        } else {
            Some(client(ws, &args.github.github_token_env).map_err(|e| {
                anyhow::anyhow!(
                    "{e:#}\nrecord reads each version's approvals from GitHub and records them \
                     permanently; without GitHub access pass --offline (approvals are recorded as \
                     \"not fetched\", and the gate treats those versions as unapproved)"
                )
            })?)
        };
        let org = match &gh {
            Some(gh) => gh.repo().owner.clone(),
            None => {
                crate::github::Repo::from_origin(&ws.origin()?).map_or(String::new(), |r| r.owner)
            }
        };
        Ok(Approvals {
            org,
            policies: HashMap::new(),
            protected: ws.protected_branch().ok(),
            ws,
            gh,
            progress,
            cache: HashMap::new(),
        })
    }

    /// The verdicts recorded with an event, and the policy's decision for its prompt.
    fn for_event(
        &mut self,
        history: &History,
        ev: &PromptEvent,
        in_force: &PolicyInForce,
    ) -> Result<(Vec<ApprovalRecord>, RuleRecord)> {
        // The change is judged by the policy in force before it landed: the newest policy
        // that itself landed approved, never the file as the change's parent has it.
        let policy = match self.policies.get(&in_force.sha256) {
            Some(p) => p,
            None => {
                let config = self.ws.config_in_force(in_force)?;
                let p = Policy::new(&config.policy, &self.org)?;
                self.policies.entry(in_force.sha256.clone()).or_insert(p)
            }
        };
        let (rule_name, rule) = policy.rule_for(&ev.path);
        // The decision when no reviews could be judged.
        let unjudged = |status| RuleRecord {
            path: ev.path.clone(),
            rule: rule_name.clone(),
            required: rule.approvals,
            counted: 0,
            approved: status == ApprovalStatus::NoPullRequest && rule.approvals == 0,
            status,
            pull_request: None,
            parts: Vec::new(),
        };
        let Some(gh) = &self.gh else {
            return Ok((Vec::new(), unjudged(ApprovalStatus::NotFetched)));
        };
        let key = (ev.commit, in_force.sha256.clone());
        if !self.cache.contains_key(&key) {
            let landed = Landed::read(
                self.ws,
                gh,
                self.protected.as_deref(),
                policy,
                history,
                ev,
                self.progress,
            )?;
            self.cache.insert(key.clone(), landed);
        }
        let landed = &self.cache[&key];
        let (Some(pr), Some(decision)) = (&landed.pr, landed.decisions.get(&ev.path)) else {
            return Ok((Vec::new(), unjudged(ApprovalStatus::NoPullRequest)));
        };
        Ok(evaluated(pr, decision, &ev.path))
    }

    fn requests(&self) -> Option<u32> {
        self.gh.as_ref().map(Client::requests)
    }
}

impl Landed {
    /// The pull request that landed the event's commit (the one whose merge commit it is,
    /// else a merged one into the protected branch) and the policy's decisions for every
    /// prompt the commit changed, judged against the content that landed.
    fn read(
        ws: &Workspace,
        gh: &Client,
        protected: Option<&str>,
        policy: &Policy,
        history: &History,
        ev: &PromptEvent,
        progress: &Progress,
    ) -> Result<Landed> {
        let commit = &history.commits[ev.commit];
        let paths: Vec<PromptPath> = history
            .events
            .iter()
            .filter(|e| e.commit == ev.commit)
            .map(|e| e.path.clone())
            .collect();
        let pulls = gh.pulls_for_commit(&commit.oid)?;
        let pr = pulls
            .iter()
            .find(|p| p.merged && p.merge_commit.as_ref() == Some(&commit.oid))
            .or_else(|| {
                pulls
                    .iter()
                    .find(|p| p.merged && protected.is_none_or(|b| b == p.base_ref))
            })
            .cloned();
        Ok(match pr {
            None => Landed {
                pr: None,
                decisions: HashMap::new(),
            },
            Some(pr) => {
                let decisions = judge(
                    ws,
                    gh,
                    policy,
                    &pr,
                    &paths,
                    &Target::Landed(commit.oid.clone()),
                    progress,
                )?;
                Landed {
                    pr: Some(pr),
                    decisions: decisions.into_iter().map(|d| (d.path.clone(), d)).collect(),
                }
            }
        })
    }
}

/// The verdicts and the rule's decision for one prompt of a landed pull request.
fn evaluated(
    pr: &PullRequest,
    decision: &Decision,
    path: &PromptPath,
) -> (Vec<ApprovalRecord>, RuleRecord) {
    let records = decision
        .verdicts
        .iter()
        .map(|v| ApprovalRecord {
            reviewer: v.review.reviewer.login.clone(),
            reviewer_id: v.review.reviewer.id,
            review_id: v.review.id,
            state: v.review.state.to_string(),
            reviewed_commit: v.review.commit.clone(),
            submitted_at: v.review.submitted_at,
            pull_request: pr.number,
            url: v.review.url.clone(),
            head_commit: pr.head.clone(),
            merge_commit: pr.merge_commit.clone(),
            path: path.clone(),
            counted: v.counted,
            reason: v.reason.clone(),
            permission: v.permission.map(|p| p.to_string()),
            teams: v.teams.clone(),
        })
        .collect();
    let rule = RuleRecord {
        path: path.clone(),
        rule: decision.rule.clone(),
        required: decision.required,
        counted: decision.counted,
        approved: decision.approved,
        status: ApprovalStatus::Evaluated,
        pull_request: Some(pr.number),
        parts: decision
            .parts
            .iter()
            .map(|p| RulePart {
                rule: p.rule.clone(),
                required: p.required,
                counted: p.counted,
                approved: p.approved,
            })
            .collect(),
    };
    (records, rule)
}
