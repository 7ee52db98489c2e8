//! Which policy is in force (pure): the policy is governed content. A change of
//! `.promptrail.yml` takes effect only once it landed *approved* under the policy in force
//! before it; an unapproved change is recorded (as a version of `.promptrail.yml`) but judges
//! nothing. Replaying the log's entries in order gives the policy that judged each entry, and
//! the one that will judge the next change; `record`, `check`, `gate` and `verify` all use
//! this one definition.
//!
//! Bootstrap: before any version of `.promptrail.yml` took effect, the built-in default
//! policy is in force (one approval from a writer). The log's first `record` writes the
//! *adoption baseline*: the history from before promptrail was adopted, in which each
//! `.promptrail.yml` change takes effect as it landed (its approvals are recorded all the
//! same); its entries carry `policy.adoption`. Every later change needs approval.

use crate::attestation::Statement;
use crate::attestation::predicate::{ChangeType, EventType, PolicyInForce};
use crate::policy::is_policy_file;
use crate::types::{EntryIndex, Oid, Sha256Hex};

/// The built-in default policy, in force until a `.promptrail.yml` version takes effect.
pub fn default_policy() -> PolicyInForce {
    PolicyInForce {
        version: None,
        entry: None,
        commit: None,
        sha256: Sha256Hex::of(b""),
    }
}

/// Replays entries to know the policy in force. Entries of one commit are all judged by the
/// policy in force before that commit, even when the commit also changes the policy.
#[derive(Debug, Clone)]
pub struct PolicyTracker {
    in_force: PolicyInForce,
    /// A change that takes effect once the log moves past the commit that made it.
    pending: Option<(Oid, PolicyInForce)>,
    /// Whether an entry outside the adoption baseline was seen (no baseline after it).
    past_adoption: bool,
}

impl Default for PolicyTracker {
    fn default() -> Self {
        PolicyTracker {
            in_force: default_policy(),
            pending: None,
            past_adoption: false,
        }
    }
}

/// Whether an entry's `.promptrail.yml` change took effect, and what is in force after it.
pub fn takes_effect(index: EntryIndex, st: &Statement) -> Option<(Oid, PolicyInForce)> {
    let p = &st.predicate;
    match p.event {
        EventType::Version => {}
        EventType::Deployment | EventType::Rollback => return None,
    }
    let prompt = p.prompts.iter().find(|pr| is_policy_file(&pr.path))?;
    let approved = p
        .policy
        .rules
        .iter()
        .any(|r| r.path == prompt.path && r.is_approved());
    if !(approved || p.policy.adoption) {
        return None;
    }
    let after = match prompt.change {
        // An approved deletion restores the built-in default.
        Some(ChangeType::Deleted) => default_policy(),
        _ => PolicyInForce {
            version: Some(prompt.version),
            entry: Some(index),
            commit: Some(prompt.commit.clone()),
            sha256: prompt.digest.sha256.clone(),
        },
    };
    Some((prompt.commit.clone(), after))
}

/// The commit an entry is about (version entries), if any.
fn entry_commit(st: &Statement) -> Option<&Oid> {
    match st.predicate.event {
        EventType::Version => st.predicate.prompts.first().map(|p| &p.commit),
        EventType::Deployment | EventType::Rollback => None,
    }
}

impl PolicyTracker {
    /// A tracker resuming at an entry that names the policy in force for it.
    pub fn starting_with(in_force: PolicyInForce) -> Self {
        PolicyTracker {
            in_force,
            pending: None,
            past_adoption: false,
        }
    }

    /// The policy in force for a change landing at `commit` (or for a deployment, `None`).
    pub fn for_commit(&mut self, commit: Option<&Oid>) -> &PolicyInForce {
        if let Some((made_by, _)) = &self.pending
            && commit != Some(made_by)
            && let Some((_, next)) = self.pending.take()
        {
            self.in_force = next;
        }
        &self.in_force
    }

    /// The policy in force for the entry `st`, before it is observed.
    pub fn for_entry(&mut self, st: &Statement) -> PolicyInForce {
        self.for_commit(entry_commit(st)).clone()
    }

    /// Takes an entry into account (after [`PolicyTracker::for_entry`]).
    pub fn observe(&mut self, index: EntryIndex, st: &Statement) {
        if !st.predicate.policy.adoption && st.predicate.policy.in_force.is_some() {
            self.past_adoption = true;
        }
        if let Some(change) = takes_effect(index, st) {
            self.pending = Some(change);
        }
    }

    /// Whether an adoption-baseline entry may still come (only before any other entry).
    pub fn adoption_open(&self) -> bool {
        !self.past_adoption
    }

    /// The tracker's whole state: the policy in force, a change waiting for the log to move
    /// past its commit, and whether the adoption baseline is closed (what the state summary
    /// stores, so that an append resumes without replaying the log).
    pub fn parts(&self) -> (&PolicyInForce, Option<&(Oid, PolicyInForce)>, bool) {
        (&self.in_force, self.pending.as_ref(), self.past_adoption)
    }

    /// A tracker resumed from [`PolicyTracker::parts`].
    pub fn from_parts(
        in_force: PolicyInForce,
        pending: Option<(Oid, PolicyInForce)>,
        past_adoption: bool,
    ) -> Self {
        PolicyTracker {
            in_force,
            pending,
            past_adoption,
        }
    }

    /// The policy that will judge the next change (a commit not yet recorded).
    pub fn for_next_change(&mut self) -> &PolicyInForce {
        self.for_commit(None)
    }
}

/// The policy in force after all of `entries` (oldest first): what judges the next change
/// or deployment.
pub fn in_force_after<'a>(
    entries: impl IntoIterator<Item = (EntryIndex, &'a Statement)>,
) -> PolicyInForce {
    let mut tracker = PolicyTracker::default();
    for (index, st) in entries {
        tracker.for_entry(st);
        tracker.observe(index, st);
    }
    tracker.for_next_change().clone()
}

/// `.promptrail.yml v3 (entry #12)`, or the built-in default.
pub fn describe(p: &PolicyInForce) -> String {
    let file = crate::config::FILE_NAME;
    match (p.version, p.entry) {
        (Some(v), Some(e)) => format!("{file} {v} (entry #{})", e.0),
        (Some(v), None) => format!("{file} {v}"),
        _ => "the built-in default policy".to_owned(),
    }
}
