//! `promptrail trace`: an OpenTelemetry trace export (OTLP JSON) annotated span by span with
//! the prompt version each span used, its approvals, and whether it was live where and when
//! the span ran.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, bail};

use super::{DecodedEntry, Outcome, Workspace, print_json};
use crate::cli::{Format, TraceArgs};
use crate::fsread::{Symlinks, TRACE_LIMIT, read_regular};
use crate::ledger::{Ledger, RecordedVersion};
use crate::otlp::{self, PromptSpan};
use crate::report::trace::{self, Flag, SpanResult, TraceView};
use crate::report::which::approval_sentence;

pub fn run(dir: &Path, args: &TraceArgs) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let fallback_env = args.env.as_deref().map(|e| ws.environment(e)).transpose()?;
    if args.attribute.is_empty() || args.attribute.chars().any(char::is_control) {
        bail!("--attribute: expected an attribute name such as promptrail.prompt.sha256");
    }
    let data = read_regular(&args.file, TRACE_LIMIT, "a trace export", Symlinks::Follow)?;
    let export = otlp::parse(&data, &args.attribute)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    let statements = super::verified::verified_statements(&ws, &branch, &args.trust, "trace")?;
    let ledger = Ledger::new(
        statements
            .iter()
            .map(|DecodedEntry { statement: st, .. }| st),
    );
    let known: Vec<&str> = ws
        .config
        .environments
        .iter()
        .map(|e| e.0.as_str())
        .collect();
    // An export has many spans on few contents: look each content up once.
    let mut contents: HashMap<&str, Vec<&RecordedVersion>> = HashMap::new();
    let mut results = Vec::with_capacity(export.prompt_spans.len());
    for span in &export.prompt_spans {
        let Some(env) = span.environment.clone().or_else(|| fallback_env.clone()) else {
            bail!(
                "{}: {}: the span names no environment (neither it nor its resource has `{}`): \
                 pass --env",
                args.file.display(),
                span.location,
                otlp::ENVIRONMENT_ATTRIBUTE
            );
        };
        let versions = contents
            .entry(span.sha256.as_str())
            .or_insert_with(|| ledger.with_content(span.sha256.as_str()));
        results.push(judge(&ledger, span, env, &known, versions));
    }
    let flagged = results.iter().filter(|r| !r.ok).count();
    let view = TraceView {
        file: args.file.display().to_string(),
        attribute: args.attribute.clone(),
        spans: export.spans,
        flagged,
        results,
    };
    match args.format.format {
        Format::Json => print_json(&view)?,
        Format::Text => print!("{}", trace::text(&view)),
    }
    Ok(if flagged > 0 || view.results.is_empty() {
        Outcome::No
    } else {
        Outcome::Ok
    })
}

/// One span: which recorded version its content is (`versions`: every one with its content),
/// approved or not, and whether it was the version live in `env` at the span's start.
fn judge(
    ledger: &Ledger,
    span: &PromptSpan,
    env: String,
    known: &[&str],
    versions: &[&RecordedVersion],
) -> SpanResult {
    let sha = span.sha256.as_str();
    let configured = known.contains(&env.as_str());
    let state = ledger.content_at_among(&env, sha, span.start, versions);
    let live = state.live.filter(|_| configured);
    // The version the span ran: the one live then, else the newest with this content.
    let version = live.and(state.version).or_else(|| versions.last().copied());
    let mut flags = Vec::new();
    if version.is_none() {
        flags.push(Flag::Unrecorded);
    }
    if version.is_some_and(|v| !v.approved()) {
        flags.push(Flag::Unapproved);
    }
    if live.is_none() {
        flags.push(Flag::NotDeployed);
    }
    let labels = mislabel(span, version);
    if labels.is_some() {
        flags.push(Flag::Mislabelled);
    }
    let reason = if !configured {
        format!(
            "`{}` is not one of .promptrail.yml's environments ({}): nothing was deployed \
             there through promptrail",
            env.escape_debug(),
            known.join(", ")
        )
    } else if versions.is_empty() && live.is_none() {
        "this content is not a recorded version: it never landed on the protected branch, so \
         it was never approved or deployed"
            .to_owned()
    } else {
        state.reason(&env, span.start)
    };
    SpanResult {
        location: span.location.clone(),
        trace_id: span.trace_id.clone(),
        span_id: span.span_id.clone(),
        name: span.name.clone(),
        service: span.service.clone(),
        start: span.start,
        environment: env,
        sha256: sha.to_owned(),
        ok: flags.is_empty(),
        flags,
        path: version.map(|v| v.prompt.path.clone()),
        version: version.map(|v| v.prompt.version),
        version_entry: version.map(|v| v.entry),
        approved: version.is_some_and(|v| v.approved()),
        approval: version.map(approval_sentence),
        approvals: version.map(|v| v.approvals.clone()).unwrap_or_default(),
        deployment: live.map(|d| d.entry),
        reason,
        labels,
    }
}

/// What the span's path and version labels claim, when they disagree with the record of its
/// digest (an unrecorded digest makes any label wrong).
fn mislabel(span: &PromptSpan, version: Option<&RecordedVersion>) -> Option<String> {
    if span.claimed_path.is_none() && span.claimed_version.is_none() {
        return None;
    }
    let path_ok = |v: &RecordedVersion| {
        span.claimed_path
            .as_deref()
            .is_none_or(|p| p == v.prompt.path.as_str())
    };
    let version_ok = |v: &RecordedVersion| {
        span.claimed_version
            .is_none_or(|n| n == u64::from(v.prompt.version.0))
    };
    if version.is_some_and(|v| path_ok(v) && version_ok(v)) {
        return None;
    }
    let claimed = format!(
        "{} {}",
        span.claimed_path.as_deref().unwrap_or("(no path)"),
        span.claimed_version
            .map_or("(no version)".to_owned(), |n| format!("v{n}"))
    );
    Some(match version {
        Some(v) => format!(
            "the span says {claimed}, but its digest is {} {}",
            v.prompt.path, v.prompt.version
        ),
        None => format!("the span says {claimed}, but its digest is no recorded version"),
    })
}
