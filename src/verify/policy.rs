//! PT018: every entry names the policy that was in force for it, recomputed from the log
//! (see [`crate::governance`]), and each version entry's rule and required count are that
//! policy's. An entry judged by a policy that never took effect (an unapproved change, a
//! file the attacker pushed) is reported, even when its signature is good.

use std::collections::HashMap;
use std::path::Path;

use super::{Check, Evidence, Finding, Loc, RepoObjects};
use crate::attestation::Statement;
use crate::attestation::predicate::{EventType, PolicyInForce, RuleRecord};
use crate::config::{Config, FILE_NAME};
use crate::governance::{PolicyTracker, describe};
use crate::policy::{Policy, is_policy_file};
use crate::types::{EntryIndex, Sha256Hex};

/// Replays the log's policy changes while the entries are checked in order.
#[derive(Default)]
pub(super) struct PolicyCheck {
    tracker: PolicyTracker,
    /// Policies read back from git, by the SHA-256 of their file (`None`: unreadable).
    policies: HashMap<Sha256Hex, Option<Policy>>,
}

impl PolicyCheck {
    pub(super) fn check(
        &mut self,
        at: &Loc,
        st: &Statement,
        repo: &mut dyn RepoObjects,
        out: &mut Vec<Finding>,
    ) -> anyhow::Result<()> {
        let expected = self.tracker.for_entry(st);
        let p = &st.predicate;
        // Only a version entry is judged by the policy's rules and may claim the baseline.
        let version = match p.event {
            EventType::Version => true,
            EventType::Deployment | EventType::Rollback => false,
        };
        let index = EntryIndex(at.entry);
        let Some(recorded) = &p.policy.in_force else {
            // Entries made before the policy was governed name none; nothing to compare.
            self.tracker.observe(index, st);
            return Ok(());
        };
        if p.policy.adoption && (!self.tracker.adoption_open() || !version) {
            out.push(at.finding(
                Check::Policy,
                None,
                Evidence {
                    expected: "policy.adoption only on version entries of the log's first record",
                    found: "policy.adoption on a later entry",
                    message: "entry claims the adoption baseline after the log had \
                    left it: a policy change that was not approved would \
                    take effect",
                },
            ));
        }
        if !same_policy(recorded, &expected) {
            out.push(at.finding(
                Check::Policy,
                None,
                Evidence {
                    expected: &describe_full(&expected),
                    found: &describe_full(recorded),
                    message: "entry was judged by a policy that was not in force: the \
                    newest policy that landed approved before it is another",
                },
            ));
        } else if version {
            self.check_rules(at, &expected, &p.policy.rules, repo, out)?;
        }
        self.tracker.observe(index, st);
        Ok(())
    }

    /// Each rule record names the rule, and the count, that the policy in force sets.
    fn check_rules(
        &mut self,
        at: &Loc,
        in_force: &PolicyInForce,
        rules: &[RuleRecord],
        repo: &mut dyn RepoObjects,
        out: &mut Vec<Finding>,
    ) -> anyhow::Result<()> {
        let Some(policy) = self.policy(at, in_force, repo, out)? else {
            return Ok(());
        };
        for r in rules {
            let parts = policy.parts_for(&r.path);
            let (name, required) = policy.rule_for(&r.path);
            let expected_parts: Vec<(String, u32)> = if is_policy_file(&r.path) {
                parts
                    .iter()
                    .map(|(n, c)| (n.clone(), c.approvals))
                    .collect()
            } else {
                Vec::new()
            };
            let found_parts: Vec<(String, u32)> = r
                .parts
                .iter()
                .map(|p| (p.rule.clone(), p.required))
                .collect();
            // Records without reviews (no pull request, not fetched) carry no parts.
            let parts_ok = found_parts.is_empty() || found_parts == expected_parts;
            let rule_ok =
                r.rule == name && (is_policy_file(&r.path) || r.required == required.approvals);
            if !(parts_ok && rule_ok) {
                let show = |rule: &str, req: u32, parts: &[(String, u32)]| {
                    let mut s = format!("rule {rule} requiring {req}");
                    for (n, c) in parts {
                        s.push_str(&format!("; {n}: {c}"));
                    }
                    s
                };
                out.push(at.finding(
                    Check::Policy,
                    Some(&r.path),
                    Evidence {
                        expected: &show(&name, required.approvals, &expected_parts),
                        found: &show(&r.rule, r.required, &found_parts),
                        message: "the recorded rule is not the one the policy in force \
                    sets for this path",
                    },
                ));
            }
            let all_parts = r
                .parts
                .iter()
                .all(|p| p.approved && p.counted >= p.required);
            if r.approved && (!all_parts || (r.parts.is_empty() && r.counted < r.required)) {
                out.push(at.finding(
                    Check::Policy,
                    Some(&r.path),
                    Evidence {
                        expected: "approved only when every rule counted its approvals",
                        found: &format!("approved with {} of {} counted", r.counted, r.required),
                        message: "the entry says approved, but its own counts say otherwise",
                    },
                ));
            }
        }
        Ok(())
    }

    /// The policy in force, read back from the repository (cached).
    fn policy(
        &mut self,
        at: &Loc,
        in_force: &PolicyInForce,
        repo: &mut dyn RepoObjects,
        out: &mut Vec<Finding>,
    ) -> anyhow::Result<Option<&Policy>> {
        if !self.policies.contains_key(&in_force.sha256) {
            let loaded = match &in_force.commit {
                None => Some(Config::default()),
                Some(commit) => match repo.blob_at(commit.as_str(), FILE_NAME)? {
                    Some((_, bytes)) if Sha256Hex::of(&bytes) == in_force.sha256 => {
                        std::str::from_utf8(&bytes)
                            .ok()
                            .and_then(|t| Config::parse(t, Path::new(FILE_NAME)).ok())
                    }
                    _ => None,
                },
            };
            let compiled = loaded.and_then(|c| Policy::new(&c.policy, "").ok());
            if compiled.is_none() {
                out.push(at.finding(
                    Check::Policy,
                    None,
                    Evidence {
                        expected: &format!(
                            "{} readable in the repository",
                            describe_full(in_force)
                        ),
                        found: "missing, altered or not a valid configuration",
                        message: "the policy in force cannot be read back from the \
                    repository's history",
                    },
                ));
            }
            self.policies.insert(in_force.sha256.clone(), compiled);
        }
        Ok(self.policies.get(&in_force.sha256).and_then(Option::as_ref))
    }
}

fn same_policy(a: &PolicyInForce, b: &PolicyInForce) -> bool {
    a.version == b.version && a.entry == b.entry && a.sha256 == b.sha256
}

fn describe_full(p: &PolicyInForce) -> String {
    format!("{} (sha256 {})", describe(p), p.sha256)
}
