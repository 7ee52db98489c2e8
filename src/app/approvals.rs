//! Reading a pull request's approvals from GitHub and judging them with the policy: shared
//! by `check` (content at the PR head) and `record` (content that landed).

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result};

use super::{Progress, Workspace};
use crate::github::{Client, GitHubError, Repo};
use crate::history::Person;
use crate::policy::{Content, Decision, Input, Policy, PromptChange, ReviewerFacts};
use crate::prompt::PromptMatcher;
use crate::review::{PrCommit, PullRequest, Review, ReviewState};
use crate::types::{Oid, PromptPath};

/// Opens a client from the Actions environment: `GITHUB_API_URL`, the token in `token_env`,
/// the repository from `GITHUB_REPOSITORY` or the log's origin.
pub fn client(ws: &Workspace, token_env: &str) -> Result<Client> {
    let token = std::env::var(token_env)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| GitHubError::NoToken {
            var: token_env.to_owned(),
        })?;
    let api = std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "https://api.github.com".into());
    let repo = match std::env::var("GITHUB_REPOSITORY")
        .ok()
        .filter(|s| !s.is_empty())
    {
        Some(r) => Repo::parse(&r)
            .with_context(|| format!("GITHUB_REPOSITORY `{r}` is not `owner/name`"))?,
        None => {
            let origin = ws.origin()?;
            Repo::from_origin(&origin).with_context(|| {
                format!("cannot tell the GitHub repository from `{origin}`: set GITHUB_REPOSITORY=owner/name")
            })?
        }
    };
    Ok(Client::new(api.trim_end_matches('/'), token, repo)?)
}

/// What the prompts are compared against.
#[derive(Debug, Clone)]
pub enum Target {
    /// The pull request's head (a check before merging).
    Head,
    /// The content that landed at this commit (recording).
    Landed(Oid),
}

/// Reads reviews and commits, gathers reviewer facts, compares content, and decides each
/// prompt in `prompts` for pull request `pr`.
pub fn judge(
    ws: &Workspace,
    gh: &Client,
    policy: &Policy,
    pr: &PullRequest,
    prompts: &[PromptPath],
    target: &Target,
    progress: &Progress,
) -> Result<Vec<Decision>> {
    let reviews = gh.reviews(pr.number)?;
    let commits = gh.commits(pr.number)?;
    let head_present = ensure_commit(ws, &pr.head, pr.number, progress)?;
    // Reviewers by account id: a noreply co-author address `ID+login@…` names the account
    // by id, which holds even when the login in it is stale (the account was renamed).
    let login_of_id: HashMap<u64, String> = reviews
        .iter()
        .filter(|r| r.reviewer.id != 0)
        .map(|r| (r.reviewer.id, r.reviewer.login.clone()))
        .collect();
    let authors = authors_by_prompt(ws, gh, pr, &commits, prompts, head_present, &login_of_id)?;

    // Facts only for reviewers whose latest verdict approves: the others never count.
    let teams = policy.teams();
    let mut facts: HashMap<String, ReviewerFacts> = HashMap::new();
    for r in crate::policy::latest_verdicts(&reviews) {
        if r.state != ReviewState::Approved {
            continue;
        }
        let login = r.reviewer.login.to_ascii_lowercase();
        if facts.contains_key(&login) {
            continue;
        }
        let mut f = ReviewerFacts::default();
        // A record is permanent: a fact GitHub failed to give is an error there, never a
        // silent "not counted". A check can report it as a reason and be re-run.
        let strict = matches!(target, Target::Landed(_));
        match gh.permission(&r.reviewer.login) {
            Ok(Some(p)) => f.permission = Some(p),
            Ok(None) => f.error = Some(format!("not a collaborator of {}", gh.repo())),
            Err(e) if strict => return Err(e.into()),
            Err(e) => f.error = Some(e.to_string()),
        }
        // Each team on its own: a team the token cannot see (404 for the team itself)
        // makes that membership unknown, which never counts; other teams still do.
        for team in &teams {
            match gh.team_member(team, &r.reviewer.login) {
                Ok(true) => {
                    f.teams.insert(team.clone());
                }
                Ok(false) => {}
                Err(e) if strict => return Err(e.into()),
                Err(e) => {
                    progress.warn(&e.to_string());
                    f.error = Some(e.to_string());
                }
            }
        }
        facts.insert(login, f);
    }

    let content = compare_content(ws, pr, &reviews, prompts, target, progress)?;
    let changes: Vec<PromptChange> = prompts
        .iter()
        .map(|p| PromptChange {
            path: p.clone(),
            authors: authors.get(p).cloned().unwrap_or_default(),
        })
        .collect();
    let lookup = |commit: &Oid, path: &PromptPath| {
        content
            .get(&(commit.clone(), path.clone()))
            .cloned()
            .unwrap_or_else(|| Content::Unknown("not compared".into()))
    };
    Ok(policy.decide(&Input {
        reviews: &reviews,
        prompts: &changes,
        facts: &facts,
        content: &lookup,
    }))
}

/// Makes sure `commit` is in the clone, fetching `refs/pull/N/head` if needed.
fn ensure_commit(ws: &Workspace, commit: &Oid, number: u64, progress: &Progress) -> Result<bool> {
    if ws.git.resolve_commit(commit.as_str())?.is_some() {
        return Ok(true);
    }
    progress.say(&format!(
        "fetching refs/pull/{number}/head: {} is not in this clone",
        commit.short()
    ));
    ws.git.fetch_ref(
        &ws.config.audit.remote.0,
        &format!("refs/pull/{number}/head"),
    )?;
    Ok(ws.git.resolve_commit(commit.as_str())?.is_some())
}

/// GitHub logins of everyone who wrote each prompt's change in the PR: the opener, and the
/// authors, co-authors and committers of PR commits that touched it (GitHub's own web-flow
/// committer excepted). Co-authors are recognised by a noreply address or by an email that
/// GitHub linked to a login on another commit. Without the PR's commits in the clone, every
/// commit's people count for every prompt (the safe side).
fn authors_by_prompt(
    ws: &Workspace,
    gh: &Client,
    pr: &PullRequest,
    commits: &[PrCommit],
    prompts: &[PromptPath],
    head_present: bool,
    login_of_id: &HashMap<u64, String>,
) -> Result<HashMap<PromptPath, BTreeSet<String>>> {
    let people_of = |c: &PrCommit| -> Vec<String> {
        c.author
            .iter()
            .chain(c.committer.iter().filter(|l| l.as_str() != "web-flow"))
            .cloned()
            .collect()
    };
    let by_sha: HashMap<&Oid, &PrCommit> = commits.iter().map(|c| (&c.sha, c)).collect();
    let mut login_of_email: HashMap<String, String> = commits
        .iter()
        .filter_map(|c| {
            Some((
                c.author_email.as_ref()?.to_ascii_lowercase(),
                c.author.clone()?,
            ))
        })
        .collect();
    let opener = pr.opener.login.clone();
    let mut out: HashMap<PromptPath, BTreeSet<String>> = prompts
        .iter()
        .map(|p| (p.clone(), BTreeSet::from([opener.clone()])))
        .collect();
    let base_present = ws.git.resolve_commit(pr.base.as_str())?.is_some();
    if !head_present || !base_present {
        let everyone: Vec<String> = commits.iter().flat_map(people_of).collect();
        for set in out.values_mut() {
            set.extend(everyone.iter().cloned());
        }
        return Ok(out);
    }
    let mut unmapped: Vec<(PromptPath, String)> = Vec::new();
    ws.git
        .log_range(&pr.head, std::slice::from_ref(&pr.base), |c| {
            for ch in &c.changes {
                let touched: Vec<&PromptPath> = prompts
                    .iter()
                    .filter(|p| {
                        ch.path == p.as_str().as_bytes()
                            || ch.old_path.as_deref() == Some(p.as_str().as_bytes())
                    })
                    .collect();
                for p in touched {
                    let set = out.entry(p.clone()).or_default();
                    if let Some(pc) = by_sha.get(&c.oid) {
                        set.extend(people_of(pc));
                    }
                    let people = std::iter::once(Person {
                        name: c.author_name.clone(),
                        email: c.author_email.clone(),
                    })
                    .chain(c.coauthors.iter().filter_map(|t| Person::parse_trailer(t)));
                    for person in people {
                        if let Some(login) = person.github_id().and_then(|id| login_of_id.get(&id))
                        {
                            set.insert(login.clone());
                        }
                        match person.github_login().or_else(|| {
                            login_of_email
                                .get(&person.email.to_ascii_lowercase())
                                .cloned()
                        }) {
                            Some(login) => {
                                set.insert(login);
                            }
                            None => unmapped.push((p.clone(), person.email.to_ascii_lowercase())),
                        }
                    }
                }
            }
            Ok(())
        })?;
    // Co-authors known only by email: ask GitHub which account that email belongs to.
    for (path, email) in unmapped {
        let login = match login_of_email.get(&email) {
            Some(l) => Some(l.clone()),
            None => {
                let l = gh.login_for_email(&email)?;
                if let Some(l) = &l {
                    login_of_email.insert(email.clone(), l.clone());
                }
                l
            }
        };
        if let Some(login) = login {
            out.entry(path).or_default().insert(login);
        }
    }
    Ok(out)
}

/// For every (reviewed commit, prompt): is the prompt's content there the same as at the
/// target? Missing commits are fetched once from `refs/pull/N/head`; what still cannot be
/// read is `Unknown`, and never counts.
fn compare_content(
    ws: &Workspace,
    pr: &PullRequest,
    reviews: &[Review],
    prompts: &[PromptPath],
    target: &Target,
    progress: &Progress,
) -> Result<HashMap<(Oid, PromptPath), Content>> {
    let mut reader = ws.git.object_reader()?;
    let target_commit = match target {
        Target::Head => pr.head.clone(),
        Target::Landed(c) => c.clone(),
    };
    let mut blob_at = |commit: &Oid, path: &PromptPath| -> Result<Option<Oid>> {
        Ok(reader
            .read(&format!("{commit}:{path}"))?
            .filter(|o| o.kind == "blob")
            .map(|o| o.oid))
    };
    let target_present = ws.git.resolve_commit(target_commit.as_str())?.is_some();
    let mut fetched = false;
    let mut out = HashMap::new();
    let commits: BTreeSet<&Oid> = reviews
        .iter()
        .filter(|r| r.state == ReviewState::Approved)
        .filter_map(|r| r.commit.as_ref())
        .collect();
    for commit in commits {
        let mut present = ws.git.resolve_commit(commit.as_str())?.is_some();
        if !present && !fetched {
            fetched = true;
            present = ensure_commit(ws, commit, pr.number, progress)?;
        }
        for p in prompts {
            let c = if !target_present {
                Content::Unknown(format!(
                    "the compared commit {} is not in this clone",
                    target_commit.short()
                ))
            } else if !present {
                Content::Unknown(format!(
                    "commit {} is not in this clone, even after fetching refs/pull/{}/head (force-pushed away?)",
                    commit.short(),
                    pr.number
                ))
            } else if blob_at(commit, p)? == blob_at(&target_commit, p)? {
                Content::Same
            } else {
                Content::Changed
            };
            out.insert((commit.clone(), p.clone()), c);
        }
    }
    Ok(out)
}

/// The prompts a pull request changes, from its file list (renames count under both names).
pub fn changed_prompts(
    files: &[crate::review::ChangedFile],
    matcher: &PromptMatcher,
) -> Vec<PromptPath> {
    let mut out: BTreeSet<PromptPath> = BTreeSet::new();
    for f in files {
        if matcher.matches(f.path.as_bytes()) {
            out.insert(PromptPath::new(&f.path));
        }
        if let Some(prev) = &f.previous_path
            && matcher.matches(prev.as_bytes())
            && !matcher.matches(f.path.as_bytes())
        {
            out.insert(PromptPath::new(prev));
        }
    }
    out.into_iter().collect()
}
