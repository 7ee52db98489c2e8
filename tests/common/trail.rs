//! A recorded trail with approvals and deployments, for the runtime questions (`which`,
//! `trace`, `drift`, the exports): real git, a bare remote, the GitHub stand-in.
//!
//! `prompts/clinical/intake.md`: v1 pushed directly (no pull request, so unapproved); v2
//! through PR #12 approved by @rita, deployed to production; v3 through PR #13 approved by
//! @rita, deployed to staging and then to production; v4 pushed directly (unapproved),
//! recorded, never deployed. The working tree ends at v4.
#![allow(dead_code)]

use super::github::{Review, StandIn};
use super::*;

pub const INTAKE: &str = "prompts/clinical/intake.md";
pub const V1: &str = "You are a clinical intake assistant.\n";
pub const V2: &str = "You are a clinical intake assistant.\nAsk about allergies.\n";
pub const V3: &str =
    "You are a clinical intake assistant.\nAsk about allergies.\nEscalate chest pain.\n";
pub const V4: &str = "You are a clinical intake assistant.\nSkip the allergy questions.\n";

pub struct Trail {
    pub repo: Repo,
    pub standin: StandIn,
    /// The deployment entries' manifests, in order: production v2, staging v3, production v3.
    pub manifests: Vec<serde_json::Value>,
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Trail {
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = self.repo.cmd();
        self.standin.env(&mut cmd);
        cmd.args(args).output().unwrap()
    }

    fn record(&self) {
        assert_ok(&self.run(&["record", "--key", keys().private.to_str().unwrap()]));
    }

    fn deploy(&self, env: &str, run_id: &str) -> serde_json::Value {
        let mut cmd = self.repo.cmd();
        self.standin
            .env(&mut cmd)
            .env("GITHUB_RUN_ID", run_id)
            .env("GITHUB_ACTOR", "release-manager")
            .args(["deploy", "--env", env, "--format", "json", "--key"])
            .arg(&keys().private);
        let out = cmd.output().unwrap();
        assert_ok(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Lands `content` through PR `n` approved by @rita (a merge commit), and records it.
    fn land_reviewed(&self, n: u64, content: &str, base: &str) -> String {
        let r = &self.repo;
        let branch = format!("pr-{n}");
        r.git(&["checkout", "-q", "-b", &branch]);
        r.write(INTAKE, content);
        let head = r.commit_as(
            "Ana Author <ana@example.org>",
            &format!("intake change {n}"),
        );
        r.git(&["push", "-q", "origin", &format!("HEAD:refs/pull/{n}/head")]);
        r.git(&["checkout", "-q", "main"]);
        r.git(&[
            "-c",
            "user.name=Mia Merger",
            "-c",
            "user.email=mia@example.org",
            "merge",
            "-q",
            "--no-ff",
            &branch,
            "-m",
            &format!("Merge pull request #{n}"),
        ]);
        r.push();
        let merge = r.git(&["rev-parse", "HEAD"]);
        let s = &self.standin;
        s.reviews(
            n,
            &[Review {
                id: n * 10,
                login: "rita",
                state: "APPROVED",
                commit: &head,
            }],
            1,
        );
        s.commits(n, &[(&head, "ana")]);
        s.commit_pulls(
            &merge,
            Some(s.pull_json(n, "ana", &head, base, Some(&merge))),
        );
        self.record();
        merge
    }

    /// Pushes `content` straight to main (no pull request) and records it.
    fn land_direct(&self, content: &str, message: &str) -> String {
        self.repo.write(INTAKE, content);
        let sha = self.repo.commit(message);
        self.repo.push();
        self.standin.commit_pulls(&sha, None);
        self.record();
        sha
    }
}

/// Builds the trail described in the module docs. Deployments are a second apart, so
/// their windows do not share a second.
pub fn deployed_trail() -> Trail {
    let repo = Repo::new();
    repo.write(
        ".promptrail.yml",
        &format!(
            "signing:\n  public_keys: [\"{}\"]\n",
            keys().public.display()
        ),
    );
    let standin = StandIn::start();
    standin.permission("rita", "write");
    let mut t = Trail {
        repo,
        standin,
        manifests: Vec::new(),
    };
    let base = t.land_direct(V1, "intake v1");
    let m12 = t.land_reviewed(12, V2, &base);
    t.manifests.push(t.deploy("production", "101"));
    t.land_reviewed(13, V3, &m12);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    t.manifests.push(t.deploy("staging", "102"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    t.manifests.push(t.deploy("production", "103"));
    t.land_direct(V4, "intake v4, unreviewed");
    t
}
