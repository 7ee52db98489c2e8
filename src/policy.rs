//! The approval policy: a pure function from reviews, authors, reviewer facts and content
//! comparisons to a decision per prompt, with a reason for every review.
//!
//! An approval counts for a prompt only when all hold:
//! 1. it is the reviewer's latest verdict (APPROVED, CHANGES_REQUESTED or DISMISSED; a later
//!    COMMENTED review does not cancel an approval);
//! 2. the reviewer is not an author of that prompt's change, unless `allow_author_approval`;
//! 3. the prompt's content at the reviewed commit equals its content at the head being
//!    checked or merged (an approval goes stale only when *that prompt* changed);
//! 4. the reviewer passes the rule's filters: a listed user or member of a listed team (when
//!    any are listed), and at least the rule's repository permission. Bots and deleted
//!    accounts do not count.

use std::collections::{BTreeSet, HashMap};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Serialize;

use crate::config::{EnvRule, PolicyConfig, RuleConfig};
use crate::review::{Account, AccountKind, Permission, Review, ReviewState};
use crate::types::{Oid, PromptPath};

/// The policy, compiled.
pub struct Policy {
    config: PolicyConfig,
    rules: Vec<GlobSet>,
    /// Organisation of teams written without one (the repository owner).
    default_org: String,
}

/// What promptrail learned about a reviewer from GitHub.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewerFacts {
    /// Repository permission (role); `None` when it could not be read.
    pub permission: Option<Permission>,
    /// Teams (`org/slug`, lowercase) the reviewer is an *active* member of, among those the
    /// policy names.
    pub teams: BTreeSet<String>,
    /// Why some fact could not be read, if so.
    pub error: Option<String>,
}

/// A prompt's content at a reviewed commit compared with the content being decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Same,
    Changed,
    /// It could not be checked (commit missing from the clone…); never counted.
    Unknown(String),
}

/// One changed prompt and who wrote the change (GitHub logins, any case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptChange {
    pub path: PromptPath,
    pub authors: BTreeSet<String>,
}

/// Everything the decision needs.
pub struct Input<'a> {
    pub reviews: &'a [Review],
    pub prompts: &'a [PromptChange],
    /// Facts by lowercase login.
    pub facts: &'a HashMap<String, ReviewerFacts>,
    /// Compares a prompt's content at a reviewed commit with the decided content.
    pub content: &'a dyn Fn(&Oid, &PromptPath) -> Content,
}

/// The decision for one prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub path: PromptPath,
    pub rule: String,
    pub required: u32,
    pub counted: u32,
    pub approved: bool,
    /// Each reviewer's latest verdict, and whether and why it counted.
    pub verdicts: Vec<Verdict>,
    /// For a policy change: each rule of the policy in force, evaluated on its own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartDecision>,
}

/// One rule of a policy change's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartDecision {
    pub rule: String,
    pub required: u32,
    pub counted: u32,
    pub approved: bool,
}

/// The rule name recorded for a change of the policy file.
pub const POLICY_CHANGE: &str = "policy change (every rule)";

/// Whether `path` is the policy file, which promptrail governs like a prompt.
pub fn is_policy_file(path: &PromptPath) -> bool {
    path.as_str() == crate::config::FILE_NAME
}

/// Approvals an environment rule needs: its count, or one when it only lists who may approve.
pub fn env_required(rule: &EnvRule) -> u32 {
    rule.approvals
        .unwrap_or(u32::from(!rule.users.is_empty() || !rule.teams.is_empty()))
}

/// One reason for a verdict judged against several rules: where it counts, and why not
/// elsewhere. It counts for the change only if it counts for at least one rule.
fn combine_reasons(parts: &[(String, RuleConfig)], judged: Vec<(bool, String)>) -> (bool, String) {
    let yes: Vec<&str> = parts
        .iter()
        .zip(&judged)
        .filter(|(_, (ok, _))| *ok)
        .map(|((n, _), _)| n.as_str())
        .collect();
    let no: Vec<String> = parts
        .iter()
        .zip(&judged)
        .filter(|(_, (ok, _))| !*ok)
        .map(|((n, _), (_, why))| format!("not for {n}: {why}"))
        .collect();
    // The same reason for every rule (not a verdict, an author…) reads once.
    let first = judged.first().map(|(_, w)| w.as_str());
    if yes.is_empty() && judged.iter().all(|(_, w)| Some(w.as_str()) == first) {
        return (false, first.unwrap_or_default().to_owned());
    }
    let mut reason = if yes.is_empty() {
        String::new()
    } else {
        format!("counts for {}", yes.join(", "))
    };
    if !no.is_empty() {
        if !reason.is_empty() {
            reason.push_str("; ");
        }
        reason.push_str(&no.join("; "));
    }
    (!yes.is_empty(), reason)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub review: Review,
    pub counted: bool,
    pub reason: String,
    /// The reviewer's teams among those the policy names (for environment rules later).
    pub teams: Vec<String>,
    pub permission: Option<Permission>,
}

fn compile(globs: &[crate::config::GlobPattern]) -> Result<GlobSet, globset::Error> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(GlobBuilder::new(&g.0).literal_separator(true).build()?);
    }
    b.build()
}

impl Policy {
    pub fn new(config: &PolicyConfig, default_org: &str) -> Result<Policy, globset::Error> {
        Ok(Policy {
            rules: config
                .rules
                .iter()
                .map(|r| compile(&r.paths))
                .collect::<Result<_, _>>()?,
            config: config.clone(),
            default_org: default_org.to_ascii_lowercase(),
        })
    }

    /// The rule for a prompt: the first path rule whose globs match, else the default. For
    /// the config file itself this is a summary (the rule needing most approvals); what a
    /// policy change must satisfy is [`Policy::parts_for`].
    pub fn rule_for(&self, path: &PromptPath) -> (String, RuleConfig) {
        if is_policy_file(path) {
            let parts = self.policy_parts();
            let strictest = parts
                .iter()
                .max_by_key(|(_, r)| r.approvals)
                .map(|(_, r)| r.clone())
                .unwrap_or_else(|| self.config.default.clone());
            return (POLICY_CHANGE.to_owned(), strictest);
        }
        for (rule, set) in self.config.rules.iter().zip(&self.rules) {
            if set.is_match(path.as_str()) {
                return (rule.display_name(), rule.rule());
            }
        }
        ("default".into(), self.config.default.clone())
    }

    /// The rules a change to `path` must satisfy, each on its own: the prompt's rule; for a
    /// change of the policy file, every rule of the policy (the default, each path rule,
    /// each environment rule), so that no approval can lower a bar it would not meet.
    pub fn parts_for(&self, path: &PromptPath) -> Vec<(String, RuleConfig)> {
        if is_policy_file(path) {
            self.policy_parts()
        } else {
            vec![self.rule_for(path)]
        }
    }

    fn policy_parts(&self) -> Vec<(String, RuleConfig)> {
        let mut parts = vec![("default".to_owned(), self.config.default.clone())];
        parts.extend(
            self.config
                .rules
                .iter()
                .map(|r| (format!("rule {}", r.display_name()), r.rule())),
        );
        parts.extend(self.config.environments.iter().map(|(env, e)| {
            (
                format!("environment {env}"),
                RuleConfig {
                    approvals: env_required(e),
                    users: e.users.clone(),
                    teams: e.teams.clone(),
                    // Environment rules name who, not how much access: the default rule's
                    // floor applies.
                    permission: self.config.default.permission,
                },
            )
        }));
        parts
    }

    /// Every team the policy names (path rules and environments), as `org/slug`.
    pub fn teams(&self) -> BTreeSet<String> {
        let rules = std::iter::once(&self.config.default.teams)
            .chain(self.config.rules.iter().map(|r| &r.teams))
            .chain(self.config.environments.values().map(|e| &e.teams));
        rules
            .flatten()
            .map(|t| t.qualified(&self.default_org))
            .collect()
    }

    pub fn env_rule(&self, env: &str) -> Option<&EnvRule> {
        self.config.environments.get(env)
    }

    pub fn default_org(&self) -> &str {
        &self.default_org
    }

    /// Decides every prompt.
    pub fn decide(&self, input: &Input) -> Vec<Decision> {
        let latest = latest_verdicts(input.reviews);
        input
            .prompts
            .iter()
            .map(|p| self.decide_one(p, &latest, input))
            .collect()
    }

    fn decide_one(&self, prompt: &PromptChange, latest: &[&Review], input: &Input) -> Decision {
        let parts = self.parts_for(&prompt.path);
        let mut verdicts = Vec::new();
        // counted[i]: approvals counted for part i.
        let mut counted = vec![0u32; parts.len()];
        for review in latest {
            let facts = input
                .facts
                .get(&review.reviewer.login.to_ascii_lowercase())
                .cloned()
                .unwrap_or_default();
            let judged: Vec<(bool, String)> = parts
                .iter()
                .map(|(_, rule)| self.judge(review, prompt, rule, &facts, input))
                .collect();
            for (n, (ok, _)) in counted.iter_mut().zip(&judged) {
                *n += u32::from(*ok);
            }
            let (ok, reason) = if parts.len() == 1 {
                judged.into_iter().next().unwrap_or((false, String::new()))
            } else {
                combine_reasons(&parts, judged)
            };
            verdicts.push(Verdict {
                review: (*review).clone(),
                counted: ok,
                reason,
                teams: facts.teams.iter().cloned().collect(),
                permission: facts.permission,
            });
        }
        let part_decisions: Vec<PartDecision> = parts
            .iter()
            .zip(&counted)
            .map(|((name, rule), &n)| PartDecision {
                rule: name.clone(),
                required: rule.approvals,
                counted: n,
                approved: n >= rule.approvals,
            })
            .collect();
        let approved = part_decisions.iter().all(|p| p.approved);
        if !is_policy_file(&prompt.path) {
            let p = &part_decisions[0];
            return Decision {
                path: prompt.path.clone(),
                rule: p.rule.clone(),
                required: p.required,
                counted: p.counted,
                approved,
                verdicts,
                parts: Vec::new(),
            };
        }
        // A summary for one-line reports: the part that falls shortest (or needs most).
        let summary = part_decisions
            .iter()
            .max_by_key(|p| {
                (
                    !p.approved,
                    p.required.saturating_sub(p.counted),
                    p.required,
                )
            })
            .cloned();
        Decision {
            path: prompt.path.clone(),
            rule: POLICY_CHANGE.to_owned(),
            required: summary.as_ref().map_or(0, |p| p.required),
            counted: summary.as_ref().map_or(0, |p| p.counted),
            approved,
            verdicts,
            parts: part_decisions,
        }
    }

    /// Whether one latest verdict counts for one prompt, and why.
    fn judge(
        &self,
        review: &Review,
        prompt: &PromptChange,
        rule: &RuleConfig,
        facts: &ReviewerFacts,
        input: &Input,
    ) -> (bool, String) {
        let short = review
            .commit
            .as_ref()
            .map_or_else(|| "an unknown commit".to_owned(), |c| c.short().to_owned());
        let counts = || -> Result<(), String> {
            verdict_approves(review, &short)?;
            // GitHub documents `commit_id` as null once the reviewed commit was force-pushed
            // away or garbage-collected: what was approved cannot be compared with the content.
            let Some(reviewed) = &review.commit else {
                return Err(
                    "the reviewed commit is unknown (GitHub reports none: force-pushed away or \
                     garbage-collected), so the approval cannot be checked against the content"
                        .into(),
                );
            };
            let listed = rule.users.iter().any(|u| review.reviewer.is(u));
            self.reviewer_may_count(&review.reviewer, listed, prompt)?;
            content_unchanged(input, reviewed, prompt, &short)?;
            self.reviewer_is_allowed(rule, facts, listed)?;
            permission_suffices(rule, facts)
        };
        match counts() {
            Ok(()) => (true, format!("approved {short}; content unchanged since")),
            Err(why) => (false, why),
        }
    }

    /// The reviewer's account may count at all: not deleted, not an unlisted bot, not an
    /// author of the change (unless the policy allows it).
    fn reviewer_may_count(
        &self,
        who: &Account,
        listed: bool,
        prompt: &PromptChange,
    ) -> Result<(), String> {
        match who.kind {
            AccountKind::Ghost => return Err("the reviewer's account was deleted".into()),
            AccountKind::Bot if !listed => {
                return Err("bot accounts do not count unless listed in `users`".into());
            }
            _ => {}
        }
        if !self.config.allow_author_approval && prompt.authors.iter().any(|a| who.is(a)) {
            return Err("author of this change (policy.allow_author_approval is false)".into());
        }
        Ok(())
    }

    /// When the rule names users or teams, the reviewer is one of them.
    fn reviewer_is_allowed(
        &self,
        rule: &RuleConfig,
        facts: &ReviewerFacts,
        listed: bool,
    ) -> Result<(), String> {
        if rule.users.is_empty() && rule.teams.is_empty() {
            return Ok(());
        }
        let in_team = rule
            .teams
            .iter()
            .any(|t| facts.teams.contains(&t.qualified(&self.default_org)));
        if listed || in_team {
            return Ok(());
        }
        let mut allowed: Vec<String> = rule.users.iter().map(|u| format!("@{u}")).collect();
        allowed.extend(
            rule.teams
                .iter()
                .map(|t| format!("team {}", t.qualified(&self.default_org))),
        );
        let hint = facts
            .error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        Err(format!("not one of {}{hint}", allowed.join(", ")))
    }
}

/// The review is an approval (any other state, known or not, does not approve).
fn verdict_approves(review: &Review, short: &str) -> Result<(), String> {
    match &review.state {
        ReviewState::Approved => Ok(()),
        ReviewState::ChangesRequested => {
            Err(format!("requested changes at {short} (latest verdict)"))
        }
        ReviewState::Dismissed => Err("review was dismissed".into()),
        ReviewState::Commented | ReviewState::Pending => Err("not a verdict".into()),
        ReviewState::Unknown(state) => Err(format!(
            "unknown review state {state}: treated as a verdict that does not approve"
        )),
    }
}

/// The prompt's content at the reviewed commit is the content being judged.
fn content_unchanged(
    input: &Input,
    reviewed: &Oid,
    prompt: &PromptChange,
    short: &str,
) -> Result<(), String> {
    match (input.content)(reviewed, &prompt.path) {
        Content::Same => Ok(()),
        Content::Changed => Err(format!(
            "stale: {} changed after the approved commit {short}",
            prompt.path
        )),
        Content::Unknown(why) => Err(format!(
            "content at the approved commit {short} could not be checked: {why}"
        )),
    }
}

/// The reviewer's repository permission is known and at least the rule's.
fn permission_suffices(rule: &RuleConfig, facts: &ReviewerFacts) -> Result<(), String> {
    match facts.permission {
        Some(p) if p >= rule.permission.0 => Ok(()),
        Some(p) => Err(format!(
            "repository permission {p} is below the required {}",
            rule.permission.0
        )),
        None => {
            let why = facts.error.as_deref().unwrap_or("not a collaborator");
            Err(format!("repository permission unknown: {why}"))
        }
    }
}

/// Each reviewer's latest verdict (APPROVED, CHANGES_REQUESTED, DISMISSED or a state this
/// version does not know), oldest first; comments and pending reviews never replace a
/// verdict. A verdict without a reviewed commit is a verdict all the same.
pub fn latest_verdicts(reviews: &[Review]) -> Vec<&Review> {
    let mut sorted: Vec<&Review> = reviews.iter().filter(|r| r.state.is_verdict()).collect();
    // Review ids grow with time; submitted_at breaks no ties that ids don't.
    sorted.sort_by_key(|r| (r.submitted_at, r.id));
    let mut latest: Vec<&Review> = Vec::new();
    for r in sorted {
        let key = |x: &Review| (x.reviewer.id, x.reviewer.login.to_ascii_lowercase());
        latest.retain(|l| key(l) != key(r));
        latest.push(r);
    }
    latest
}

/// Whether recorded approvals satisfy an environment's extra rule: (ok, counted, required).
pub fn env_satisfied(
    rule: &EnvRule,
    default_org: &str,
    approvals: &[crate::attestation::predicate::ApprovalRecord],
) -> (bool, u32, u32) {
    // Listing who may approve without a count means "at least one of them".
    let required = env_required(rule);
    let teams: BTreeSet<String> = rule
        .teams
        .iter()
        .map(|t| t.qualified(default_org))
        .collect();
    let counted = approvals
        .iter()
        .filter(|a| a.counted)
        .filter(|a| {
            (rule.users.is_empty() && rule.teams.is_empty())
                || rule
                    .users
                    .iter()
                    .any(|u| u.eq_ignore_ascii_case(&a.reviewer))
                || a.teams
                    .iter()
                    .any(|t| teams.contains(&t.to_ascii_lowercase()))
        })
        .count() as u32;
    (counted >= required, counted, required)
}
