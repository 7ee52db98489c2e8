//! Human-readable text.

use std::fmt::Write as _;

use super::views::{EntryView, RecordView, ShowView, StatusView};
use crate::attestation::predicate::{AuthorRole, EventType, PromptRecord};
use crate::types::PromptPath;
use crate::verify::Report;

/// `prompts/a.md v3 modified` plus rename and revert notes.
pub fn prompt_line(p: &PromptRecord) -> String {
    let mut s = format!("{} {}", p.path, p.version);
    if let Some(c) = p.change {
        let _ = write!(s, " {}", c.as_str());
    }
    if let Some(prev) = &p.previous_path {
        let _ = write!(s, " (from {prev})");
    }
    if let Some(eq) = p.equals_version {
        let _ = write!(s, " (same content as {eq})");
    }
    s
}

/// `author     Name <email> @login (commit)`, the role padded to the label column.
pub fn author_line(a: &crate::attestation::predicate::AuthorRecord) -> String {
    let role = match a.role {
        AuthorRole::Author => "author",
        AuthorRole::CoAuthor => "co-author",
        AuthorRole::Committer => "committer",
    };
    let login = a
        .login
        .as_deref()
        .map(|l| format!(" @{l}"))
        .unwrap_or_default();
    format!(
        "{role:<10} {} <{}>{login} ({})",
        a.name,
        a.email,
        a.commit.short()
    )
}

/// `approved   @rita APPROVED <time> (PR #12, reviewed abc1234): reason`.
pub fn approval_line(a: &crate::attestation::predicate::ApprovalRecord) -> String {
    let when = a
        .submitted_at
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    format!(
        "{:<10} @{} {} {when} (PR #{}, reviewed {}): {}",
        if a.counted { "approved" } else { "not counted" },
        a.reviewer,
        a.state,
        a.pull_request,
        a.reviewed_commit
            .as_ref()
            .map_or("an unknown commit", crate::types::Oid::short),
        a.reason
    )
}

fn people(e: &EntryView) -> String {
    let names: Vec<String> = e
        .authors
        .iter()
        .filter(|a| a.role != AuthorRole::Committer)
        .map(|a| a.name.clone())
        .collect();
    names.join(", ")
}

pub fn entry_row(e: &EntryView) -> String {
    let prompts: Vec<String> = e.prompts.iter().map(prompt_line).collect();
    let commit = e.prompts.first().map_or("", |p| p.commit.short());
    let who = match &e.deployment {
        Some(d) => format!("to {} by {}", d.environment, d.actor),
        None => format!("by {}", people(e)),
    };
    // A policy change says whether it took effect: an unapproved one judges nothing.
    let policy_change = match e.event {
        EventType::Version => e
            .prompts
            .first()
            .filter(|p| crate::policy::is_policy_file(&p.path)),
        EventType::Deployment | EventType::Rollback => None,
    };
    let effect = match policy_change {
        Some(p) => {
            let approved = e
                .policy
                .rules
                .iter()
                .any(|r| r.path == p.path && r.is_approved());
            if approved || e.policy.adoption {
                "  (in force)"
            } else {
                "  (not approved: takes no effect)"
            }
        }
        None => "",
    };
    format!(
        "#{:<5} {}  {:<10} {}  {}  {who}{effect}",
        e.index.0,
        e.recorded_at,
        e.event.as_str(),
        commit,
        prompts.join("; "),
    )
}

pub fn log(entries: &[EntryView]) -> String {
    let mut out = String::new();
    for e in entries {
        let _ = writeln!(out, "{}", entry_row(e));
    }
    if entries.is_empty() {
        out.push_str("no entries\n");
    }
    out
}

pub fn record(v: &RecordView) -> String {
    let mut out = String::new();
    if v.appended.is_empty() {
        let _ = writeln!(
            out,
            "{}: up to date with {} (nothing new to record)",
            v.audit_branch,
            v.commit.short()
        );
        return out;
    }
    for e in &v.appended {
        let _ = writeln!(out, "{}", entry_row(e));
    }
    let _ = writeln!(
        out,
        "recorded {} entr{} on {}{}{}",
        v.appended.len(),
        if v.appended.len() == 1 { "y" } else { "ies" },
        v.audit_branch,
        if v.pushed {
            " (pushed)"
        } else {
            " (local only)"
        },
        if v.retries > 0 {
            format!(", after {} rebuild(s) for concurrent appends", v.retries)
        } else {
            String::new()
        }
    );
    out
}

pub fn status(v: &StatusView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} at {}; audit log {} has {} entr{}",
        v.branch,
        v.commit.short(),
        v.audit_branch,
        v.log_entries,
        if v.log_entries == 1 { "y" } else { "ies" }
    );
    for p in &v.prompts {
        let state = match p.recorded {
            Some(r) if r == p.version => "recorded".to_owned(),
            Some(r) => format!("unrecorded (log has {r})"),
            None => "unrecorded".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {:<48} {:<5} {state}",
            p.path.as_str(),
            p.version.to_string()
        );
    }
    if v.prompts.is_empty() {
        out.push_str("  no prompts on the protected branch\n");
    }
    if !v.unrecorded.is_empty() {
        let _ = writeln!(
            out,
            "{} change(s) not in the audit log yet (run `promptrail record`):",
            v.unrecorded.len()
        );
        for e in &v.unrecorded {
            let _ = writeln!(
                out,
                "  {} {} {} at {}",
                e.path,
                e.version,
                e.change,
                e.commit.short()
            );
        }
    }
    out
}

pub fn show(v: &ShowView) -> String {
    let mut out = String::new();
    let p = &v.prompt;
    let _ = writeln!(out, "{}", prompt_line(p));
    if v.names.len() > 1 {
        let names: Vec<&str> = v.names.iter().map(PromptPath::as_str).collect();
        let _ = writeln!(out, "  names      {}", names.join(" -> "));
    }
    let _ = writeln!(out, "  entry      #{} ({})", v.entry.index.0, v.entry.file);
    let _ = writeln!(
        out,
        "  landed     {} in {}",
        p.landed_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        p.commit
    );
    let _ = writeln!(out, "  recorded   {}", v.entry.recorded_at);
    let _ = writeln!(out, "  sha256     {}", p.digest.sha256);
    let _ = writeln!(out, "  git blob   {}", p.digest.git_blob);
    if let Some(k) = &v.entry.key_id {
        let _ = writeln!(out, "  signed by  key {k}");
    }
    if let Some(identity) = &v.entry.certificate_identity {
        let _ = writeln!(out, "  signed by  {identity} (keyless certificate)");
    }
    for a in &v.entry.authors {
        let _ = writeln!(out, "  {}", author_line(a));
    }
    if v.entry.approvals.is_empty() {
        out.push_str("  approvals  none recorded\n");
    }
    for a in &v.entry.approvals {
        let _ = writeln!(out, "  {}", approval_line(a));
    }
    if v.deployments.is_empty() {
        out.push_str("  deployed   not yet\n");
    }
    for d in &v.deployments {
        if let Some(dep) = &d.deployment {
            let _ = writeln!(
                out,
                "  {:<10} {} by {} at {} (entry #{})",
                d.event.as_str(),
                dep.environment,
                dep.actor,
                d.recorded_at,
                d.index.0
            );
        }
    }
    match &v.diff {
        Some(diff) => {
            let _ = writeln!(out, "\n{diff}");
        }
        None => {
            if let Some(text) = &v.content {
                out.push_str("\n--- content ---\n");
                out.push_str(text);
                if !text.ends_with('\n') {
                    out.push('\n');
                }
            } else {
                out.push_str("\n(content not in this clone: fetch the protected branch)\n");
            }
        }
    }
    out
}

pub fn verify(r: &Report, branch: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "audit log {branch}: {} entr{}{}",
        r.entries,
        if r.entries == 1 { "y" } else { "ies" },
        r.origin
            .as_ref()
            .map(|o| format!(", origin {o}"))
            .unwrap_or_default()
    );
    for (key, n) in &r.signed_by {
        match key.strip_prefix("keyless ") {
            Some(identity) => {
                let _ = writeln!(out, "  {n} signed keylessly by {identity}");
            }
            None => {
                let _ = writeln!(out, "  {n} signed by key {key}");
            }
        }
    }
    let keyless: u64 = r
        .signed_by
        .iter()
        .filter(|(k, _)| k.starts_with("keyless "))
        .map(|(_, n)| n)
        .sum();
    if keyless > r.unlogged {
        let _ = writeln!(
            out,
            "  {} keyless entr{} logged in Rekor: inclusion proof and signed entry timestamp verified",
            keyless - r.unlogged,
            if keyless - r.unlogged == 1 {
                "y"
            } else {
                "ies"
            },
        );
    }
    if r.unlogged > 0 {
        let _ = writeln!(
            out,
            "  {} keyless entr{} not in a transparency log (signing.transparency: false): \
             certificate checked at the entry's own recordedAt, which nobody outside witnessed",
            r.unlogged,
            if r.unlogged == 1 { "y" } else { "ies" },
        );
    }
    for f in &r.findings {
        let at = match (&f.entry, &f.file) {
            (Some(e), Some(file)) => format!("entry {e} ({file})"),
            (Some(e), None) => format!("entry {e}"),
            _ => "log".to_owned(),
        };
        let prompt = f
            .prompt
            .as_ref()
            .map(|p| format!(" [{p}]"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "FAIL {at} {} {}{prompt}: {}\n       expected: {}\n       found:    {}",
            f.code,
            f.check.name(),
            f.message,
            f.expected,
            f.found
        );
    }
    if r.ok {
        let _ = writeln!(
            out,
            "OK: every signature, index, hash link, digest and version number checks out"
        );
    } else {
        let _ = writeln!(
            out,
            "FAILED: {} finding{}",
            r.findings.len(),
            if r.findings.len() == 1 { "" } else { "s" }
        );
    }
    out
}

pub fn check(v: &super::views::CheckView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pull request #{} at {}: {} prompt{} changed",
        v.pull_request,
        v.head.short(),
        v.decisions.len(),
        if v.decisions.len() == 1 { "" } else { "s" }
    );
    for d in &v.decisions {
        let _ = writeln!(
            out,
            "  {} {}  rule {}: {} of {} approval{}",
            if d.approved { "ok  " } else { "FAIL" },
            d.path,
            d.rule,
            d.counted,
            d.required,
            if d.required == 1 { "" } else { "s" }
        );
        for verdict in &d.verdicts {
            let _ = writeln!(
                out,
                "         @{:<16} {:<11} {}",
                verdict.review.reviewer.login,
                if verdict.counted {
                    "counted"
                } else {
                    "not counted"
                },
                verdict.reason
            );
        }
    }
    let _ = writeln!(
        out,
        "{}",
        if v.approved {
            "approved: every changed prompt has the approvals its rule needs"
        } else {
            "not approved: see the reasons above"
        }
    );
    out
}

pub fn merge_group(v: &super::views::MergeGroupView) -> String {
    let mut out = format!(
        "merge group {} into {} ({} pull request{})\n",
        v.head_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(&v.head_ref),
        v.base_branch,
        v.pull_requests.len(),
        if v.pull_requests.len() == 1 { "" } else { "s" }
    );
    for pr in &v.pull_requests {
        out.push_str(&check(pr));
    }
    for g in &v.group {
        let _ = writeln!(
            out,
            "group {} {}: {}",
            if g.ok { "ok  " } else { "FAIL" },
            g.path,
            g.reason
        );
    }
    out.push_str(if v.approved {
        "merge group approved: every pull request and every prompt it lands\n"
    } else {
        "merge group not approved: see the reasons above\n"
    });
    out
}

pub fn gate(v: &super::views::GateView) -> String {
    let mut out = String::new();
    if let Some(p) = &v.log_problem {
        let _ = writeln!(out, "BLOCKED: {p}");
    }
    let _ = writeln!(out, "policy in force: {}", v.policy);
    for r in &v.prompts {
        let _ = writeln!(
            out,
            "  {} {} {}: {}",
            if r.ok { "ok     " } else { "BLOCKED" },
            r.path,
            r.version
                .map_or("(unrecorded)".to_owned(), |v| v.to_string()),
            r.reason
        );
    }
    let blocked = v.prompts.iter().filter(|r| !r.ok).count();
    let _ = writeln!(
        out,
        "{}",
        if v.ok {
            format!(
                "gate {}: open ({} prompt(s) approved)",
                v.environment,
                v.prompts.len()
            )
        } else {
            format!(
                "gate {}: closed ({blocked} prompt(s) blocked)",
                v.environment
            )
        }
    );
    out
}

pub fn manifest(m: &super::views::Manifest) -> String {
    let mut out = String::new();
    for p in &m.prompts {
        let _ = writeln!(
            out,
            "  {} {} sha256:{} (entry #{}){}",
            p.path,
            p.version,
            &p.sha256[..12.min(p.sha256.len())],
            p.version_entry.0,
            p.replaces
                .map(|r| format!(" (replaces {r})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "{} to {} recorded as entry #{}{}",
        m.event,
        m.environment,
        m.entry.map_or(0, |e| e.0),
        if m.already_recorded {
            " (already recorded by this run)"
        } else {
            ""
        }
    );
    out
}

pub fn active(
    env: &str,
    at: chrono::DateTime<chrono::Utc>,
    rows: &[crate::ledger::Deployed],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "live in {env} at {}:",
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    for d in rows {
        let _ = writeln!(
            out,
            "  {:<40} {:<5} since {} ({} by {}, entry #{})",
            d.path.as_str(),
            d.version.to_string(),
            d.deployed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            d.event.as_str(),
            d.actor,
            d.entry.0
        );
    }
    if rows.is_empty() {
        out.push_str("  nothing was deployed yet\n");
    }
    out
}

pub fn doctor(v: &super::views::DoctorView) -> String {
    use crate::doctor::Status;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: protected branch {}, audit branch {}",
        v.repository, v.protected_branch, v.audit_branch
    );
    for f in &v.findings {
        let status = match f.status {
            Status::Ok => "ok",
            Status::Missing => "MISSING",
            Status::CannotRead => "CANNOT READ",
        };
        let _ = writeln!(out, "{status:<12} {}: {}", f.id, f.detail);
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "{:<12}   fix: {fix}", "");
        }
        if f.status == Status::CannotRead {
            let _ = writeln!(out, "{:<12}   needs: a token with {}", "", f.permission);
        }
    }
    let _ = writeln!(
        out,
        "{} missing, {} could not be read{}",
        v.missing,
        v.cannot_read,
        match (v.missing, v.cannot_read) {
            (0, 0) => ": every setting the trust model relies on is in place",
            (0, _) => ": give the token the permissions above for a complete answer",
            _ => ": change the settings marked MISSING",
        }
    );
    out
}
