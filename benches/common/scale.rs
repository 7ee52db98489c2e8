//! A large audit log for the scale benchmark, generated once and cached on disk.
//!
//! The repository is [`super::generate`]'s (one prompt changed per commit, prompts in
//! directories of 100); its audit log holds one signed `version` entry per landed commit,
//! each approved by one reviewer, and after every ten versions a `deployment` of those ten
//! prompts, alternately to production and staging. Entries are built in-process (the
//! wire format `record` and `deploy` write, signed with a real key) and written with one
//! `git fast-import`, one commit per entry, because `record` of 100,000 versions takes
//! minutes. `verify` accepts the result: the benchmark checks it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use promptrail::attestation::Statement;
use promptrail::checkpoint::Checkpoint;
use promptrail::git::Git;
use promptrail::history::{EventKind, History};
use promptrail::merkle::{CompactRange, leaf_hash};
use promptrail::prompt::PromptMatcher;
use promptrail::signing::{Signer, SigningKey};
use promptrail::store::{LogMeta, entry_path};
use promptrail::types::{EntryIndex, Sha256Hex};
use serde_json::json;

use super::{PASSWORD, generate, run};

/// Bump when the generated data changes shape, so that stale caches are regenerated
/// (7: every entry names `policy.inForce`, as entries written since policy governance do;
/// 8: the state summary's format 2; 9: the summary has `state/tree.json`, the Merkle
/// tree's complete-chunk roots).
const FORMAT: u32 = 9;
/// Bump when the generated repository (the prompt commits, before any audit entry) changes
/// shape: it is cached apart from the data set, so a change of the log's format does not
/// regenerate it (at 1,000,000 commits that takes tens of minutes).
const REPO_FORMAT: u32 = 1;
/// The generated log's origin.
pub const ORIGIN: &str = "github.com/acme/bench";
/// A deployment after this many versions.
pub const DEPLOY_EVERY: usize = 10;

/// A generated repository with its audit log, a bare remote holding both, and keys.
pub struct Scale {
    pub root: PathBuf,
    pub repo: PathBuf,
    pub remote: PathBuf,
    pub keys: PathBuf,
    pub versions: usize,
    pub prompts: usize,
    pub entries: u64,
}

impl Scale {
    pub fn private_key(&self) -> PathBuf {
        self.keys.join("promptrail.key")
    }

    pub fn public_key(&self) -> PathBuf {
        self.keys.join("promptrail.pub")
    }

    /// The path of prompt `p`, as [`super::generate`] names it.
    pub fn prompt(p: usize) -> String {
        format!("prompts/d{:03}/p{p:05}.md", p / 100)
    }

    /// A fresh clone of the remote (what a CI runner starts from), at `name` under the
    /// cache (replaced if present): the protected branch only, over the wire (`file://`, so
    /// that no object of the audit branch is copied along), from a remote that serves
    /// partial fetches as GitHub does.
    pub fn fresh_clone(&self, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        run(Command::new("git").arg("-C").arg(&self.remote).args([
            "config",
            "uploadpack.allowFilter",
            "true",
        ]));
        run(Command::new("git")
            .args(["clone", "-q", "--single-branch", "-b", "main"])
            .arg(format!("file://{}", self.remote.display()))
            .arg(&dir));
        dir
    }
}

/// The cached data set of `versions` commits over `prompts` prompts, generated on first use
/// under `target/bench-data/` (delete it to regenerate).
pub fn scale(versions: usize, prompts: usize) -> Scale {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(format!("scale-v{FORMAT}-{versions}x{prompts}"));
    let deployments = versions / DEPLOY_EVERY;
    let data = Scale {
        repo: root.join("repo"),
        remote: root.join("remote.git"),
        keys: root.join("keys"),
        root: root.clone(),
        versions,
        prompts,
        entries: (versions + deployments) as u64,
    };
    if root.join("done").exists() {
        return data;
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let started = std::time::Instant::now();
    let generated = repository(versions, prompts);
    // A local clone hard-links the cached objects; the remote it names is dropped again.
    run(Command::new("git")
        .args(["clone", "-q", "--local", "-o", "generated"])
        .arg(&generated)
        .arg(&data.repo));
    run(Command::new("git")
        .current_dir(&data.repo)
        .args(["remote", "remove", "generated"]));
    run(Command::new(env!("CARGO_BIN_EXE_promptrail"))
        .args(["keygen", "--out"])
        .arg(&data.keys));
    write_log(&data);
    eprintln!(
        "wrote {} signed entries in {:?}",
        data.entries,
        started.elapsed()
    );
    run(Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&data.remote));
    run(Command::new("git")
        .current_dir(&data.repo)
        .args(["remote", "add", "origin"])
        .arg(&data.remote));
    run(Command::new("git").current_dir(&data.repo).args([
        "push",
        "-q",
        "origin",
        "main",
        "promptrail/audit",
    ]));
    run(Command::new("git")
        .current_dir(&data.repo)
        .args(["fetch", "-q", "origin"]));
    // The readers believe the state summary only when a configured key checks its signature:
    // an untracked `.promptrail.yml` trusting the key (outside the repository, so unpinned).
    std::fs::write(
        data.repo.join(".promptrail.yml"),
        format!(
            "signing:\n  public_keys: [{:?}]\n",
            data.keys.join("promptrail.pub").display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(root.join("done"), b"").unwrap();
    eprintln!("data set ready in {:?}", started.elapsed());
    data
}

/// The generated repository of `versions` commits over `prompts` prompts (no audit log),
/// cached under `target/bench-data/` apart from the data sets built on it.
pub fn repository(versions: usize, prompts: usize) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(format!("repo-v{REPO_FORMAT}-{versions}x{prompts}"));
    let repo = root.join("repo");
    if root.join("done").exists() {
        return repo;
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let started = std::time::Instant::now();
    generate(&repo, prompts, versions);
    eprintln!("generated {versions} commits in {:?}", started.elapsed());
    std::fs::write(root.join("done"), b"").unwrap();
    repo
}

/// Signs every entry and writes the audit branch with one `git fast-import`.
fn write_log(data: &Scale) {
    let git = Git::open(&data.repo).unwrap();
    let tip = git.resolve_commit("main").unwrap().unwrap();
    let matcher = PromptMatcher::new(&Default::default()).unwrap();
    let started = std::time::Instant::now();
    let history = History::scan(&git, &tip, &matcher).unwrap();
    eprintln!(
        "scanned {} commits in {:?}",
        history.commits.len(),
        started.elapsed()
    );
    let oids: Vec<_> = history.events.iter().map(|e| e.blob.clone()).collect();
    let shas: Vec<Sha256Hex> = git
        .object_reader()
        .unwrap()
        .blobs(&oids)
        .unwrap()
        .iter()
        .map(|b| Sha256Hex::of(b))
        .collect();
    let pem = std::fs::read(data.private_key()).unwrap();
    let signer =
        Signer::Key(SigningKey::from_encrypted_pem(&pem, PASSWORD.as_bytes(), "bench").unwrap());

    let mut w = LogWriter {
        signer,
        repo: data.repo.clone(),
        import: Some(FastImport::start(&data.repo)),
        previous: None,
        range: CompactRange::default(),
        chunks: promptrail::subtree::Chunks::default(),
        index: 0,
        total: data.entries,
        summary: promptrail::state::Summary::new(),
    };
    let mut since_deploy: Vec<serde_json::Value> = Vec::new();
    let mut rules: Vec<serde_json::Value> = Vec::new();
    let mut round = 0usize;
    // Every entry names the policy that judged it, as `record` and `deploy` write them: the
    // repository has no `.promptrail.yml` in its history, so the built-in default.
    let in_force = serde_json::to_value(promptrail::governance::default_policy()).unwrap();
    let rfc =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (ev, sha) in history.events.iter().zip(&shas) {
        let c = &history.commits[ev.commit];
        let EventKind::Version {
            version,
            previous: prev,
            equals,
            ..
        } = ev.kind
        else {
            panic!("the generator only modifies prompts");
        };
        let change = if prev.is_none() {
            "added"
        } else if equals.is_some() {
            "reverted"
        } else {
            "modified"
        };
        let digest = json!({"sha256": sha.to_string(), "gitBlob": ev.blob.to_string()});
        let landed = rfc(c.committed_at);
        let prompt = json!({
            "path": ev.path.as_str(), "change": change, "version": version.0,
            "previousVersion": prev.map(|v| v.0), "equalsVersion": equals.map(|v| v.0),
            "commit": c.oid.to_string(), "landedAt": landed, "digest": digest,
        });
        let pr = ev.commit as u64 + 1;
        let rule = json!({"path": ev.path.as_str(), "rule": "default", "required": 1, "counted": 1,
                          "approved": true, "status": "evaluated", "pullRequest": pr});
        let st = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": ev.path.as_str(), "digest": digest}],
            "predicateType": "https://promptrail.dev/audit-event/v1",
            "predicate": {
                "event": "version",
                "log": {"index": w.index, "previous": w.previous.as_ref().map(|p| p.to_string()), "origin": ORIGIN},
                "prompts": [prompt],
                "authors": [
                    {"name": c.author.name, "email": c.author.email, "role": "author", "commit": c.oid.to_string()},
                    {"name": c.committer.name, "email": c.committer.email, "role": "committer", "commit": c.oid.to_string()},
                ],
                "approvals": [{
                    "reviewer": "reviewer", "reviewerId": 7, "reviewId": pr * 10, "state": "APPROVED",
                    "reviewedCommit": c.oid.to_string(), "submittedAt": landed, "pullRequest": pr,
                    "url": format!("https://github.com/acme/bench/pull/{pr}#pullrequestreview-{}", pr * 10),
                    "headCommit": c.oid.to_string(), "mergeCommit": c.oid.to_string(),
                    "path": ev.path.as_str(), "counted": true, "reason": "approved by a writer",
                    "permission": "write",
                }],
                "policy": {"configDigest": {"sha256": Sha256Hex::of(b"").to_string()}, "rules": [rule], "inForce": in_force},
                "recordedAt": landed,
                "tool": {"name": "promptrail", "version": "bench"},
            }
        });
        let summary = format!("version {} {version} {change}", ev.path);
        let time = c.committed_at.timestamp();
        w.append(st, &summary, time);
        let mut deployed = prompt.clone();
        deployed.as_object_mut().unwrap().remove("change");
        since_deploy.push(deployed);
        rules.push(rule);
        if since_deploy.len() == DEPLOY_EVERY {
            let env = if round.is_multiple_of(2) {
                "production"
            } else {
                "staging"
            };
            round += 1;
            let at = rfc(c.committed_at + chrono::Duration::seconds(30));
            let subjects: Vec<_> = since_deploy
                .iter()
                .map(|p| json!({"name": p["path"], "digest": p["digest"]}))
                .collect();
            let st = json!({
                "_type": "https://in-toto.io/Statement/v1",
                "subject": subjects,
                "predicateType": "https://promptrail.dev/audit-event/v1",
                "predicate": {
                    "event": "deployment",
                    "log": {"index": w.index, "previous": w.previous.as_ref().map(|p| p.to_string()), "origin": ORIGIN},
                    "prompts": since_deploy,
                    "authors": [], "approvals": [],
                    "policy": {"configDigest": {"sha256": Sha256Hex::of(b"").to_string()}, "rules": rules, "inForce": in_force},
                    "deployment": {"environment": env, "actor": "ci", "runId": format!("bench-{round}"),
                                   "ref": "refs/heads/main", "sha": c.oid.to_string(), "deployedAt": at},
                    "recordedAt": at,
                    "tool": {"name": "promptrail", "version": "bench"},
                }
            });
            w.append(st, &format!("deployment {env}"), time + 30);
            since_deploy = Vec::new();
            rules = Vec::new();
        }
    }
    assert_eq!(w.index, w.total);
    if let Some(import) = w.import.take() {
        import.finish();
    }
}

/// One `git fast-import` process.
struct FastImport {
    child: std::process::Child,
    out: std::io::BufWriter<std::process::ChildStdin>,
}

impl FastImport {
    fn start(repo: &Path) -> FastImport {
        let mut child = Command::new("git")
            .current_dir(repo)
            .args(["fast-import", "--quiet"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::io::BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());
        FastImport { child, out }
    }

    fn finish(self) {
        let FastImport { mut child, mut out } = self;
        out.flush().unwrap();
        drop(out);
        assert!(child.wait().unwrap().success(), "git fast-import failed");
    }
}

/// Signs entries and writes one fast-import commit for each. The last two commits carry a
/// checkpoint and `checkpoint.range` as an append writes them, the last one's naming its
/// parent and binding the state summary (so it is written by a second fast-import, once
/// its parent's id is known).
struct LogWriter {
    signer: Signer,
    repo: PathBuf,
    import: Option<FastImport>,
    previous: Option<Sha256Hex>,
    range: CompactRange,
    /// The roots of the complete chunks of 1,024 leaves (`state/tree.json`).
    chunks: promptrail::subtree::Chunks,
    index: u64,
    total: u64,
    /// The state summary, written with the last entry as an append writes it.
    summary: promptrail::state::Summary,
}

impl LogWriter {
    fn append(&mut self, st: serde_json::Value, summary: &str, time: i64) {
        let statement: Statement = serde_json::from_value(st).unwrap();
        let bytes = self
            .signer
            .sign_entry(statement.to_payload().unwrap())
            .unwrap();
        self.previous = Some(Sha256Hex::of(&bytes));
        self.chunks.push(&mut self.range, leaf_hash(&bytes));
        let last = self.index + 1 == self.total;
        let parent = if last && self.index > 0 {
            self.import.take().unwrap().finish();
            self.import = Some(FastImport::start(&self.repo));
            Git::open(&self.repo)
                .unwrap()
                .resolve_commit("refs/heads/promptrail/audit")
                .unwrap()
        } else {
            None
        };
        let out = &mut self.import.as_mut().unwrap().out;
        let message = format!("{summary}\n\nPromptrail-Entry: {}\n", self.index);
        writeln!(out, "commit refs/heads/promptrail/audit").unwrap();
        writeln!(
            out,
            "committer promptrail <promptrail@localhost> {time} +0000"
        )
        .unwrap();
        writeln!(out, "data {}\n{message}", message.len()).unwrap();
        if let Some(p) = &parent {
            writeln!(out, "from {p}").unwrap();
        }
        if self.index == 0 {
            let mut meta = serde_json::to_vec_pretty(&LogMeta::new(ORIGIN.into())).unwrap();
            meta.push(b'\n');
            writeln!(out, "M 100644 inline promptrail.json\ndata {}", meta.len()).unwrap();
            out.write_all(&meta).unwrap();
            writeln!(out).unwrap();
        }
        let path = entry_path(EntryIndex(self.index));
        writeln!(out, "M 100644 inline {path}\ndata {}", bytes.len()).unwrap();
        out.write_all(&bytes).unwrap();
        writeln!(out).unwrap();
        self.summary.apply(EntryIndex(self.index), &statement);
        self.index += 1;
        if self.index.is_multiple_of(100_000) {
            eprintln!("signed {} of {} entries", self.index, self.total);
        }
        if self.index + 1 >= self.total {
            let mut extensions = Vec::new();
            if last {
                let state = self
                    .summary
                    .encode()
                    .and_then(|e| {
                        Ok(e.with_file(promptrail::state::TREE_FILE, self.chunks.to_bytes())?)
                    })
                    .unwrap();
                for (path, bytes) in &state.files {
                    writeln!(out, "M 100644 inline {path}\ndata {}", bytes.len()).unwrap();
                    out.write_all(bytes).unwrap();
                    writeln!(out).unwrap();
                }
                extensions = vec![
                    promptrail::state::extension_line(&state.index_sha256),
                    promptrail::checkpoint::parent_extension(parent.as_ref().map(|p| p.as_str())),
                ];
            }
            let cp = Checkpoint::sign_with(
                ORIGIN,
                self.range.size(),
                self.range.root(),
                extensions,
                &self.signer,
            )
            .unwrap()
            .to_text();
            let r = self.range.to_text();
            writeln!(out, "M 100644 inline checkpoint\ndata {}\n{cp}", cp.len()).unwrap();
            writeln!(
                out,
                "M 100644 inline checkpoint.range\ndata {}\n{r}",
                r.len()
            )
            .unwrap();
        }
        writeln!(out).unwrap();
    }
}
