//! A GitHub stand-in on 127.0.0.1 (wiremock) answering with GitHub's documented JSON shapes:
//! every body starts from a fixture in `tests/fixtures/github/` (copied from GitHub's REST
//! reference examples) with only the fields a scenario needs changed.
#![allow(dead_code)]

use std::process::Command;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TOKEN: &str = "ghs_standInSecretToken0123456789";
pub const OWNER: &str = "acme";
pub const REPO: &str = "clinic";

pub fn fixture(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/github")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn user(login: &str) -> Value {
    let mut u = fixture("pull.json")["user"].clone();
    u["login"] = login.into();
    u["id"] = user_id(login).into();
    u["type"] = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    }
    .into();
    u
}

pub struct StandIn {
    pub server: MockServer,
    rt: tokio::runtime::Runtime,
}

pub struct Review<'a> {
    pub id: u64,
    pub login: &'a str,
    pub state: &'a str,
    /// The reviewed commit; `""` sends `"commit_id": null` (documented: the commit was
    /// force-pushed away or garbage-collected).
    pub commit: &'a str,
}

/// The account id the stand-in gives `login` (the sum of its bytes).
pub fn user_id(login: &str) -> u64 {
    login.bytes().map(u64::from).sum()
}

impl StandIn {
    pub fn start() -> StandIn {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        StandIn::start_on(listener)
    }

    /// Starts on a listener bound beforehand (so its address is known before any thread).
    pub fn start_on(listener: std::net::TcpListener) -> StandIn {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(MockServer::builder().listener(listener).start());
        StandIn { server, rt }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    pub fn mount(&self, mock: Mock) {
        self.rt.block_on(mock.mount(&self.server));
    }

    /// Points a promptrail command at the stand-in.
    pub fn env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("GITHUB_API_URL", self.url())
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_REPOSITORY", format!("{OWNER}/{REPO}"))
            .env("PROMPTRAIL_GITHUB_BACKOFF_MS", "10")
            .env("PROMPTRAIL_GITHUB_SECONDARY_WAIT_SECS", "1")
    }

    /// Runs a promptrail command against the stand-in; the token never shows in its output
    /// and it never panics, whatever GitHub answered.
    pub fn output(&self, cmd: &mut Command) -> std::process::Output {
        let out = self.env(cmd).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(
            !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
            "token leaked"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        out
    }

    /// Requests received so far (method and path), in order.
    pub fn requests(&self) -> Vec<String> {
        self.rt
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .iter()
            .map(|r| format!("{} {}", r.method, r.url.path()))
            .collect()
    }

    /// The JSON bodies of the requests received at `route`, in order.
    pub fn bodies(&self, route: &str) -> Vec<Value> {
        self.rt
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == route)
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    pub fn reset(&self) {
        self.rt.block_on(self.server.reset());
    }

    fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{OWNER}/{REPO}{rest}")
    }

    pub fn pull_json(
        &self,
        number: u64,
        opener: &str,
        head: &str,
        base: &str,
        merge: Option<&str>,
    ) -> Value {
        let mut p = fixture("pull.json");
        p["number"] = number.into();
        p["html_url"] = format!("https://github.com/{OWNER}/{REPO}/pull/{number}").into();
        p["user"] = user(opener);
        p["head"]["sha"] = head.into();
        p["base"]["sha"] = base.into();
        p["base"]["ref"] = "main".into();
        p["merged"] = merge.is_some().into();
        p["merged_at"] = merge.map_or(Value::Null, |_| "2026-11-20T14:30:00Z".into());
        p["merge_commit_sha"] = merge.map_or(Value::Null, Value::from);
        p["state"] = if merge.is_some() { "closed" } else { "open" }.into();
        p
    }

    /// `GET /pulls/N`.
    pub fn pull(&self, number: u64, opener: &str, head: &str, base: &str, merge: Option<&str>) {
        let body = self.pull_json(number, opener, head, base, merge);
        self.mount(
            Mock::given(method("GET"))
                .and(path(self.repo_path(&format!("/pulls/{number}"))))
                .respond_with(ResponseTemplate::new(200).set_body_json(body)),
        );
    }

    /// `GET /pulls/N/files`, one page.
    pub fn files(&self, number: u64, files: &[(&str, &str)]) {
        let template = fixture("files.json")[0].clone();
        let body: Vec<Value> = files
            .iter()
            .map(|(name, status)| {
                let mut f = template.clone();
                f["filename"] = (*name).into();
                f["status"] = (*status).into();
                f
            })
            .collect();
        self.mount(
            Mock::given(method("GET"))
                .and(path(self.repo_path(&format!("/pulls/{number}/files"))))
                .respond_with(ResponseTemplate::new(200).set_body_json(body)),
        );
    }

    fn review_json(&self, number: u64, r: &Review) -> Value {
        let mut v = fixture("reviews.json")[0].clone();
        v["id"] = r.id.into();
        v["user"] = if r.login == "ghost" {
            Value::Null
        } else {
            user(r.login)
        };
        v["state"] = r.state.into();
        v["commit_id"] = if r.commit.is_empty() {
            Value::Null
        } else {
            r.commit.into()
        };
        v["submitted_at"] = format!("2026-11-20T14:{:02}:00Z", r.id % 60).into();
        v["html_url"] = format!(
            "https://github.com/{OWNER}/{REPO}/pull/{number}#pullrequestreview-{}",
            r.id
        )
        .into();
        v
    }

    /// `GET /pulls/N/reviews`, split over `pages` pages linked with `Link: rel="next"`.
    pub fn reviews(&self, number: u64, reviews: &[Review], pages: usize) {
        let all: Vec<Value> = reviews
            .iter()
            .map(|r| self.review_json(number, r))
            .collect();
        let route = self.repo_path(&format!("/pulls/{number}/reviews"));
        let per = all.len().div_ceil(pages.max(1)).max(1);
        let chunks: Vec<Vec<Value>> = if all.is_empty() {
            vec![Vec::new()]
        } else {
            all.chunks(per).map(<[Value]>::to_vec).collect()
        };
        let n = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let page = i + 1;
            let mut resp = ResponseTemplate::new(200).set_body_json(chunk);
            if page < n {
                resp = resp.insert_header(
                    "link",
                    format!(
                        "<{}{route}?per_page=100&page={}>; rel=\"next\", <{}{route}?per_page=100&page={n}>; rel=\"last\"",
                        self.url(),
                        page + 1,
                        self.url()
                    )
                    .as_str(),
                );
            }
            let mock = Mock::given(method("GET")).and(path(route.clone()));
            let mock = if page == 1 {
                mock.respond_with(resp).with_priority(5)
            } else {
                mock.and(query_param("page", page.to_string()))
                    .respond_with(resp)
                    .with_priority(1)
            };
            self.mount(mock);
        }
    }

    /// Replaces PR `n`'s reviews (a new review was submitted).
    pub fn reset_reviews(&self, number: u64, reviews: &[Review]) {
        let all: Vec<Value> = reviews
            .iter()
            .map(|r| self.review_json(number, r))
            .collect();
        self.mount(
            Mock::given(method("GET"))
                .and(path(self.repo_path(&format!("/pulls/{number}/reviews"))))
                .respond_with(ResponseTemplate::new(200).set_body_json(all))
                .with_priority(2),
        );
    }

    /// One entry of `GET /pulls/N/commits` authored and committed by `login`.
    pub fn commit_json(&self, sha: &str, login: &str) -> Value {
        let mut c = fixture("commits.json")[0].clone();
        c["sha"] = sha.into();
        c["author"] = user(login);
        c["committer"] = user(login);
        c["commit"]["author"]["email"] = format!("{login}@example.org").into();
        c
    }

    /// `GET /pulls/N/commits`: (sha, author login).
    pub fn commits(&self, number: u64, commits: &[(&str, &str)]) {
        let body: Vec<Value> = commits
            .iter()
            .map(|(sha, login)| self.commit_json(sha, login))
            .collect();
        self.commits_raw(number, body);
    }

    /// `GET /pulls/N/commits` answering `body` as is.
    pub fn commits_raw(&self, number: u64, body: Vec<Value>) {
        self.mount(
            Mock::given(method("GET"))
                .and(path(self.repo_path(&format!("/pulls/{number}/commits"))))
                .respond_with(ResponseTemplate::new(200).set_body_json(body)),
        );
    }

    /// `GET /commits?author=EMAIL`: the account an email belongs to.
    pub fn email_login(&self, email: &str, login: &str) {
        let mut c = fixture("commits.json")[0].clone();
        c["author"] = user(login);
        self.mount(
            Mock::given(method("GET"))
                .and(path(self.repo_path("/commits")))
                .and(query_param("author", email))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!([c]))),
        );
    }

    /// `GET /commits/SHA/pulls`: the merged PR behind a landed commit (or none).
    pub fn commit_pulls(&self, sha: &str, pr: Option<Value>) {
        let body = match pr {
            Some(p) => json!([p]),
            None => json!([]),
        };
        self.mount(
            Mock::given(method("GET"))
                .and(path(self.repo_path(&format!("/commits/{sha}/pulls"))))
                .respond_with(ResponseTemplate::new(200).set_body_json(body)),
        );
    }

    /// `GET /collaborators/LOGIN/permission` with `role_name`.
    pub fn permission(&self, login: &str, role: &str) {
        let mut body = fixture("collaborator_permission.json");
        body["role_name"] = role.into();
        body["permission"] = match role {
            "maintain" => "write",
            "triage" => "read",
            r => r,
        }
        .into();
        body["user"]["login"] = login.into();
        self.mount(
            Mock::given(method("GET"))
                .and(path(
                    self.repo_path(&format!("/collaborators/{login}/permission")),
                ))
                .respond_with(ResponseTemplate::new(200).set_body_json(body)),
        );
    }

    /// `GET /orgs/ORG/teams/SLUG/memberships/LOGIN`.
    pub fn membership(&self, team: &str, login: &str, state: &str) {
        let mut body = fixture("team_membership.json");
        body["state"] = state.into();
        body["role"] = "member".into();
        self.mount(
            Mock::given(method("GET"))
                .and(path(format!(
                    "/orgs/{OWNER}/teams/{team}/memberships/{login}"
                )))
                .respond_with(ResponseTemplate::new(200).set_body_json(body)),
        );
    }

    /// `GET /orgs/ORG/teams/SLUG`: the team is visible to the token.
    pub fn team(&self, team: &str) {
        let mut body = fixture("team.json");
        body["slug"] = team.into();
        body["name"] = team.into();
        self.mount(
            Mock::given(method("GET"))
                .and(path(format!("/orgs/{OWNER}/teams/{team}")))
                .respond_with(ResponseTemplate::new(200).set_body_json(body)),
        );
    }

    /// Deployments and their statuses.
    pub fn deployments(&self) {
        self.mount(
            Mock::given(method("POST"))
                .and(path(self.repo_path("/deployments")))
                .respond_with(ResponseTemplate::new(201).set_body_json(fixture("deployment.json"))),
        );
        let id = fixture("deployment.json")["id"].as_u64().unwrap();
        self.mount(
            Mock::given(method("POST"))
                .and(path(self.repo_path(&format!("/deployments/{id}/statuses"))))
                .respond_with(
                    ResponseTemplate::new(201).set_body_json(fixture("deployment_status.json")),
                ),
        );
    }

    /// GitHub's attestation store: `POST /attestations` answers the documented `201 {"id": …}`.
    pub fn attestations(&self) {
        self.mount(
            Mock::given(method("POST"))
                .and(path(self.repo_path("/attestations")))
                .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 2}))),
        );
    }

    /// Any request to `route` answers `status` with a documented error body.
    pub fn error(&self, route: &str, status: u16, fixture_name: &str) {
        self.mount(
            Mock::given(path(route.to_owned()))
                .respond_with(ResponseTemplate::new(status).set_body_json(fixture(fixture_name)))
                .with_priority(1),
        );
    }
}
