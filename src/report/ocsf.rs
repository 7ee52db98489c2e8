//! `export --format ocsf`: the audit log as OCSF events, one JSON object a line, for a SIEM
//! or a warehouse. Class: Entity Management (3004, category IAM) of OCSF 1.8.0: a prompt
//! (or the policy file) is the managed entity; a landed version creates, updates, moves or
//! deletes it; a counted approval is activity Other (99, "Approve"); a deployment or a
//! rollback activates a version in an environment (10, "Activate"). Every event names its
//! entry: `metadata.sequence` = index, `metadata.correlation_uid` = sha256 of the entry
//! file, `metadata.log_source` = origin, and the same under `unmapped.promptrail`.

use serde_json::{Value, json};

use crate::attestation::Statement;
use crate::attestation::predicate::{
    AuthorRecord, AuthorRole, ChangeType, DeploymentRecord, EventType, PromptRecord,
};
use crate::types::Sha256Hex;

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.8.0";
const CLASS_UID: u32 = 3004;
const CATEGORY_UID: u32 = 3;

/// Entity Management activities used here.
#[derive(Clone, Copy)]
enum Activity {
    Create = 1,
    Update = 3,
    Delete = 4,
    Move = 5,
    Activate = 10,
    Other = 99,
}

impl Activity {
    fn caption(self) -> &'static str {
        match self {
            Activity::Create => "Create",
            Activity::Update => "Update",
            Activity::Delete => "Delete",
            Activity::Move => "Move",
            Activity::Activate => "Activate",
            Activity::Other => "Other",
        }
    }
}

/// Where an entry sits: what every event carries to find it again.
pub struct EntryRef<'a> {
    pub file: &'a str,
    pub sha256: &'a Sha256Hex,
    pub branch: &'a str,
}

/// The OCSF events of one entry, in order: per prompt its version or activation, and after
/// a version its counted approvals.
pub fn events(entry: &EntryRef, st: &Statement) -> Vec<Value> {
    let p = &st.predicate;
    let mut out = Vec::new();
    for (n, pr) in p.prompts.iter().enumerate() {
        match p.event {
            EventType::Version => {
                out.push(version_event(entry, st, n, pr));
                out.extend(approval_events(entry, st, n, pr));
            }
            EventType::Deployment | EventType::Rollback => {
                let Some(d) = &p.deployment else { continue };
                out.push(activation_event(entry, st, n, pr, d));
            }
        }
    }
    out
}

/// A landed version: the prompt created, updated, moved or deleted, by its author.
fn version_event(entry: &EntryRef, st: &Statement, n: usize, pr: &PromptRecord) -> Value {
    let p = &st.predicate;
    let activity = match pr.change {
        Some(ChangeType::Added | ChangeType::Readded) | None => Activity::Create,
        Some(ChangeType::Modified | ChangeType::Reverted) => Activity::Update,
        Some(ChangeType::Renamed) => Activity::Move,
        Some(ChangeType::Deleted) => Activity::Delete,
    };
    let author = p
        .authors
        .iter()
        .find(|a| a.role == AuthorRole::Author)
        .or_else(|| p.authors.first());
    let rule = p.policy.rules.iter().find(|r| r.path == pr.path);
    let approved = rule.is_some_and(|r| {
        r.approved && r.status == crate::attestation::predicate::ApprovalStatus::Evaluated
    });
    let mut ev = base(
        entry,
        st,
        n,
        activity,
        None,
        pr.landed_at.timestamp_millis(),
    );
    ev["entity"] = entity(pr);
    ev["entity_result"] = entity(pr);
    if let Some(a) = author {
        ev["actor"] = json!({ "user": user(a.name.as_str(), &a.email, a.login.as_deref()) });
    }
    ev["message"] = json!(format!(
        "{} v{} {}{}",
        pr.path,
        pr.version.0,
        pr.change.map_or("recorded", |c| c.as_str()),
        if approved {
            ", approved"
        } else {
            ", not approved"
        }
    ));
    ev["unmapped"]["promptrail"]["approved"] = json!(approved);
    ev["unmapped"]["promptrail"]["authors"] = json!(
        p.authors
            .iter()
            .map(|a: &AuthorRecord| json!({
                "name": a.name, "email": a.email, "login": a.login,
                "role": a.role,
            }))
            .collect::<Vec<_>>()
    );
    if let Some(r) = rule {
        ev["unmapped"]["promptrail"]["rule"] = json!({
            "name": r.rule, "required": r.required, "counted": r.counted,
        });
    }
    ev
}

/// The approvals counted for one landed version, each an "Approve" by its reviewer.
fn approval_events<'a>(
    entry: &'a EntryRef,
    st: &'a Statement,
    n: usize,
    pr: &'a PromptRecord,
) -> impl Iterator<Item = Value> + 'a {
    st.predicate
        .approvals
        .iter()
        .filter(|a| a.counted && a.path == pr.path)
        .map(move |a| {
            let time = a
                .submitted_at
                .map_or(pr.landed_at.timestamp_millis(), |t| t.timestamp_millis());
            let mut ev = base(entry, st, n, Activity::Other, Some("Approve"), time);
            ev["entity"] = entity(pr);
            ev["actor"] = json!({
                "user": user(&a.reviewer, "", Some(&a.reviewer)),
            });
            ev["comment"] = json!(format!(
                "review {} ({}) on pull request #{}",
                a.review_id, a.state, a.pull_request
            ));
            ev["message"] = json!(format!(
                "{} v{} approved by @{}",
                pr.path, pr.version.0, a.reviewer
            ));
            ev["unmapped"]["promptrail"]["approval"] = json!({
                "reviewer": a.reviewer, "reviewerId": a.reviewer_id,
                "reviewId": a.review_id, "state": a.state,
                "pullRequest": a.pull_request, "url": a.url,
            });
            ev
        })
}

/// A deployment or a rollback: the version activated in an environment.
fn activation_event(
    entry: &EntryRef,
    st: &Statement,
    n: usize,
    pr: &PromptRecord,
    d: &DeploymentRecord,
) -> Value {
    let mut ev = base(
        entry,
        st,
        n,
        Activity::Activate,
        None,
        d.deployed_at.timestamp_millis(),
    );
    ev["entity"] = entity(pr);
    ev["actor"] = json!({ "user": { "name": d.actor } });
    ev["message"] = json!(format!(
        "{} v{} {} {}{}",
        pr.path,
        pr.version.0,
        match st.predicate.event {
            EventType::Rollback => "rolled back in",
            EventType::Deployment | EventType::Version => "deployed to",
        },
        d.environment,
        d.replaces
            .map(|v| format!(" (replacing v{})", v.0))
            .unwrap_or_default()
    ));
    ev["unmapped"]["promptrail"]["deployment"] = json!({
        "environment": d.environment, "actor": d.actor, "workflow": d.workflow,
        "runId": d.run_id, "runUrl": d.run_url, "ref": d.git_ref,
        "sha": d.sha, "replaces": d.replaces,
    });
    ev
}

fn base(
    entry: &EntryRef,
    st: &Statement,
    n: usize,
    activity: Activity,
    name: Option<&str>,
    time: i64,
) -> Value {
    let p = &st.predicate;
    let activity_id = activity as u32;
    let activity_name = name.unwrap_or(activity.caption());
    json!({
        "class_uid": CLASS_UID,
        "class_name": "Entity Management",
        "category_uid": CATEGORY_UID,
        "category_name": "Identity & Access Management",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": format!("Entity Management: {activity_name}"),
        "severity_id": 1,
        "severity": "Informational",
        "status_id": 1,
        "status": "Success",
        "time": time,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "promptrail",
                "vendor_name": "promptrail",
                "version": p.tool.version,
            },
            "uid": format!("{}:{}:{n}", entry.sha256, activity_id),
            "correlation_uid": entry.sha256.as_str(),
            "sequence": p.log.index.0,
            "event_code": p.event.as_str(),
            "log_name": entry.branch,
            "log_provider": "promptrail",
            "log_source": p.log.origin,
            "logged_time": p.recorded_at.timestamp_millis(),
        },
        "unmapped": {
            "promptrail": {
                "origin": p.log.origin,
                "entry": p.log.index.0,
                "entryFile": entry.file,
                "entrySha256": entry.sha256.as_str(),
                "event": p.event.as_str(),
            }
        }
    })
}

fn entity(pr: &PromptRecord) -> Value {
    let kind = if pr.path.as_str() == crate::config::FILE_NAME {
        "policy"
    } else {
        "prompt"
    };
    json!({
        "name": pr.path.as_str(),
        "uid": format!("{}@v{}", pr.path, pr.version.0),
        "type": kind,
        "version": pr.version.0.to_string(),
        "data": {
            "sha256": pr.digest.sha256,
            "gitBlob": pr.digest.git_blob,
            "commit": pr.commit,
            "change": pr.change,
            "previousPath": pr.previous_path,
            "previousVersion": pr.previous_version,
            "equalsVersion": pr.equals_version,
        }
    })
}

/// An OCSF User; the email only when it has the shape OCSF's `email_t` accepts (a hostile
/// author email would make the event invalid), else it stays in `unmapped`.
fn user(name: &str, email: &str, login: Option<&str>) -> Value {
    let mut u = json!({ "name": name });
    if let Some(l) = login {
        u["uid"] = json!(l);
    }
    if email_shaped(email) {
        u["email_addr"] = json!(email);
    }
    u
}

/// OCSF 1.8.0 `email_t`: `^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$`
/// (the `+-/` in its class is a range: `+ , - . /`).
fn email_shaped(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+,-./=?^_`{|}~".contains(&b));
    let Some((host, rest)) = domain.split_once('.') else {
        return false;
    };
    let host_ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let rest_ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    local_ok && host_ok && rest_ok
}

#[cfg(test)]
mod tests {
    use super::email_shaped;

    #[test]
    fn only_email_t_shaped_addresses_are_mapped() {
        assert!(email_shaped("ana@example.org"));
        assert!(email_shaped("a.b+c@mail.example.org"));
        for bad in [
            "",
            "ana",
            "ana@localhost",
            "a b@example.org",
            "ana@ex ample.org",
            "\"quoted\"@example.org",
            "ana@example.org\n",
            "ana@@example.org",
        ] {
            assert!(!email_shaped(bad), "{bad:?}");
        }
    }
}
