//! HTTP to GitHub: octocrab's raw requests, with our pagination, retries and errors.

use std::cell::Cell;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::Repo;
use super::wire::ErrorBody;

/// Why a GitHub request failed. Messages never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error(
        "no GitHub token: set {var} (in GitHub Actions: `env: {var}: ${{{{ github.token }}}}`), or pass \
         --github-token-env NAME; or run offline where the command allows it"
    )]
    NoToken { var: String },
    #[error(
        "GitHub rejected the token on {endpoint} (401 {message}): check that it is valid and not expired"
    )]
    Unauthorized { endpoint: String, message: String },
    #[error("GitHub refused {endpoint} (403 {message}): {hint}")]
    Forbidden {
        endpoint: String,
        message: String,
        hint: String,
    },
    #[error("GitHub found nothing at {endpoint} (404): {hint}")]
    NotFound {
        endpoint: String,
        hint: String,
        /// GitHub's own `message` (for example "Branch not protected"), for callers that
        /// tell a documented 404 answer from an unreadable resource.
        message: String,
    },
    #[error("GitHub rate-limited {endpoint}: {message}")]
    RateLimited { endpoint: String, message: String },
    #[error("GitHub failed on {endpoint} ({status}) {attempts} times; try again later")]
    Server {
        endpoint: String,
        status: u16,
        attempts: u32,
    },
    #[error("GitHub answered {endpoint} with {status}: {message}")]
    Unexpected {
        endpoint: String,
        status: u16,
        message: String,
    },
    #[error("could not reach GitHub for {endpoint}: {message}")]
    Transport { endpoint: String, message: String },
    #[error("unexpected response from GitHub for {endpoint}: {message}")]
    Decode { endpoint: String, message: String },
    #[error(
        "pull request #{number} changes 3,000 files or more, and GitHub lists no more than that: \
         promptrail cannot see every prompt it changes, so it fails closed (split the pull request)"
    )]
    TooManyFiles { number: u64 },
    #[error(
        "pull request #{number} has 250 commits or more, and GitHub lists no more than that: \
         promptrail cannot see every author of the change, so it fails closed (split the pull \
         request, or squash it)"
    )]
    TooManyCommits { number: u64 },
    #[error(
        "cannot see team {team} (GitHub answers 404 for the team itself), so whether @{login} is \
         a member is unknown: the token lacks `read:org` (organization `members: read`) or the \
         team is secret; use a GitHub App installation token that can read it (see README)"
    )]
    TeamNotVisible { team: String, login: String },
}

/// How hard to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// First backoff when GitHub gives no hint; doubles each time.
    pub base: Duration,
    /// Longest wait accepted from `retry-after` or `x-ratelimit-reset`.
    pub max_wait: Duration,
    /// Least wait after a secondary rate limit that gives no `retry-after` (GitHub asks for
    /// at least a minute).
    pub secondary_wait: Duration,
}

impl RetryPolicy {
    /// Defaults, adjustable with `PROMPTRAIL_GITHUB_RETRIES`, `PROMPTRAIL_GITHUB_BACKOFF_MS`
    /// and `PROMPTRAIL_GITHUB_MAX_WAIT_SECS` (tests use short waits).
    pub fn from_env() -> Self {
        let num = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        RetryPolicy {
            retries: num("PROMPTRAIL_GITHUB_RETRIES", 4) as u32,
            base: Duration::from_millis(num("PROMPTRAIL_GITHUB_BACKOFF_MS", 1000)),
            max_wait: Duration::from_secs(num("PROMPTRAIL_GITHUB_MAX_WAIT_SECS", 120)),
            secondary_wait: Duration::from_secs(num("PROMPTRAIL_GITHUB_SECONDARY_WAIT_SECS", 60)),
        }
    }
}

/// A GitHub REST client for one repository.
pub struct Client {
    octo: octocrab::Octocrab,
    rt: tokio::runtime::Runtime,
    repo: Repo,
    retry: RetryPolicy,
    requests: Cell<u32>,
}

impl Client {
    /// `api` is the REST base (`GITHUB_API_URL`, e.g. `https://api.github.com`).
    pub fn new(api: &str, token: String, repo: Repo) -> Result<Client, GitHubError> {
        let transport = |message: String| GitHubError::Transport {
            endpoint: api.to_owned(),
            message,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| transport(e.to_string()))?;
        let octo = {
            let _guard = rt.enter();
            octocrab::Octocrab::builder()
                .base_uri(api)
                .map_err(|_| transport(format!("`{api}` is not a valid API URL")))?
                .personal_token(token)
                .set_connect_timeout(Some(Duration::from_secs(10)))
                .set_read_timeout(Some(Duration::from_secs(
                    std::env::var("PROMPTRAIL_GITHUB_TIMEOUT_SECS")
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(30),
                )))
                .build()
                .map_err(|e| transport(e.to_string()))?
        };
        Ok(Client {
            octo,
            rt,
            repo,
            retry: RetryPolicy::from_env(),
            requests: Cell::new(0),
        })
    }

    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// Requests sent so far (retries included).
    pub fn requests(&self) -> u32 {
        self.requests.get()
    }

    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GitHubError> {
        let (_, body) = self.send(Method::Get, path, None)?;
        decode(&endpoint_name(Method::Get, path), &body)
    }

    pub(crate) fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, GitHubError> {
        let (_, text) = self.send(Method::Post, path, Some(body))?;
        decode(&endpoint_name(Method::Post, path), &text)
    }

    /// All pages of a list endpoint, 100 per page, following `Link: <…>; rel="next"`.
    pub(crate) fn get_pages<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, GitHubError> {
        self.pages(path, decode)
    }

    /// All pages of a list endpoint that wraps its items in an object, such as
    /// `{"total_count": 2, "secrets": […]}` (`field` = `"secrets"`).
    pub(crate) fn get_pages_in<T: DeserializeOwned>(
        &self,
        path: &str,
        field: &str,
    ) -> Result<Vec<T>, GitHubError> {
        self.pages(path, |endpoint, body| {
            let mut page: serde_json::Map<String, serde_json::Value> = decode(endpoint, body)?;
            let items = page.remove(field).ok_or_else(|| GitHubError::Decode {
                endpoint: endpoint.to_owned(),
                message: format!("no `{field}` list in the answer"),
            })?;
            serde_json::from_value(items).map_err(|e| GitHubError::Decode {
                endpoint: endpoint.to_owned(),
                message: format!("`{field}`: {e}"),
            })
        })
    }

    fn pages<T>(
        &self,
        path: &str,
        items: impl Fn(&str, &str) -> Result<Vec<T>, GitHubError>,
    ) -> Result<Vec<T>, GitHubError> {
        let mut out = Vec::new();
        let mut next = Some(format!("{path}?per_page=100"));
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 1000 {
                return Err(GitHubError::Decode {
                    endpoint: path.to_owned(),
                    message: "more than 1,000 pages: giving up".into(),
                });
            }
            let (headers, body) = self.send(Method::Get, &url, None)?;
            let mut page = items(&endpoint_name(Method::Get, path), &body)?;
            out.append(&mut page);
            next = headers
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
        }
        Ok(out)
    }

    fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(HeaderMap, String), GitHubError> {
        let endpoint = endpoint_name(method, url);
        let mut attempt = 0;
        loop {
            self.requests.set(self.requests.get() + 1);
            let result = self.rt.block_on(async {
                let response = match method {
                    Method::Get => self.octo._get(url).await,
                    Method::Post => self.octo._post(url, body).await,
                }?;
                let status = response.status();
                let headers = response.headers().clone();
                let text = self.octo.body_to_string(response).await?;
                Ok::<_, octocrab::Error>((status, headers, text))
            });
            let (status, headers, text) = match result {
                Ok(r) => r,
                Err(e) => {
                    // A POST that may have reached GitHub is not sent twice.
                    if matches!(method, Method::Get) && attempt < self.retry.retries {
                        self.sleep(self.backoff(attempt));
                        attempt += 1;
                        continue;
                    }
                    return Err(GitHubError::Transport {
                        endpoint,
                        message: transport_message(&e),
                    });
                }
            };
            if status.is_success() {
                return Ok((headers, text));
            }
            let message = serde_json::from_str::<ErrorBody>(&text)
                .ok()
                .and_then(|b| b.message)
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
            let retry = self
                .retry_wait(status, &headers, &message, attempt)
                // A POST answered 5xx may have been applied: report it rather than repeat it.
                .filter(|_| matches!(method, Method::Get) || !status.is_server_error());
            if let Some(wait) = retry {
                if attempt >= self.retry.retries {
                    return Err(if status.is_server_error() {
                        GitHubError::Server {
                            endpoint,
                            status: status.as_u16(),
                            attempts: attempt + 1,
                        }
                    } else {
                        GitHubError::RateLimited {
                            endpoint,
                            message: format!("{message} (gave up after {} attempts)", attempt + 1),
                        }
                    });
                }
                if wait > self.retry.max_wait {
                    return Err(GitHubError::RateLimited {
                        endpoint,
                        message: format!(
                            "{message}; GitHub asks to wait {} s, longer than the {} s promptrail waits",
                            wait.as_secs(),
                            self.retry.max_wait.as_secs()
                        ),
                    });
                }
                self.sleep(wait);
                attempt += 1;
                continue;
            }
            return Err(classify(status, endpoint, message));
        }
    }

    /// Exponential backoff with up to 25 % jitter, so that parallel jobs spread out.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.retry.base.saturating_mul(1 << attempt.min(10));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        base + base.mul_f64(f64::from(nanos % 250) / 1000.0)
    }

    /// `Some(wait)` when the failure is worth retrying: 5xx, 429, or a 403 that is a rate
    /// limit (secondary limit message, `retry-after`, or no requests remaining).
    fn retry_wait(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        message: &str,
        attempt: u32,
    ) -> Option<Duration> {
        let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
        let exhausted = header("x-ratelimit-remaining") == Some("0");
        let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::FORBIDDEN
                && (retry_after.is_some()
                    || exhausted
                    || message.to_ascii_lowercase().contains("rate limit")));
        if !(rate_limited || status.is_server_error()) {
            return None;
        }
        if let Some(secs) = retry_after {
            return Some(Duration::from_secs(secs));
        }
        if exhausted
            && let Some(reset) = header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok())
        {
            let now = chrono::Utc::now().timestamp();
            return Some(Duration::from_secs((reset - now).max(1) as u64));
        }
        if rate_limited {
            return Some(self.backoff(attempt).max(self.retry.secondary_wait));
        }
        Some(self.backoff(attempt))
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

#[derive(Debug, Clone, Copy)]
enum Method {
    Get,
    Post,
}

/// `GET /repos/o/r/pulls/1/reviews`, without host or query.
fn endpoint_name(method: Method, url: &str) -> String {
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
    let path = path.split('?').next().unwrap_or(path);
    format!(
        "{} {path}",
        match method {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    )
}

fn decode<T: DeserializeOwned>(endpoint: &str, body: &str) -> Result<T, GitHubError> {
    serde_json::from_str(body).map_err(|e| GitHubError::Decode {
        endpoint: endpoint.to_owned(),
        message: e.to_string(),
    })
}

/// Octocrab's errors can be long chains; keep the first line, never headers.
fn transport_message(e: &octocrab::Error) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or("transport error").to_owned()
}

/// The permission a workflow token needs for an endpoint, for 403/404 messages.
fn permission_hint(endpoint: &str) -> String {
    let settings = "(a fine-grained token or GitHub App token: the workflow token never has it)";
    if endpoint.contains("/attestations") {
        "uploading attestations needs `attestations: write` on the repository".into()
    } else if endpoint.contains("/secrets") {
        format!("listing secret names needs `secrets: read` {settings}")
    } else if endpoint.contains("/actions/variables") {
        format!("reading repository variables needs `variables: read` {settings}")
    } else if endpoint.contains("/protection") || endpoint.contains("/actions/permissions") {
        format!("reading repository settings needs `administration: read` {settings}")
    } else if endpoint.contains("/environments") {
        "reading environments needs `actions: read` on the repository".into()
    } else if endpoint.contains("/rules/") || endpoint.contains("/rulesets") {
        "reading rulesets needs `metadata: read` on the repository".into()
    } else if endpoint.contains("/teams/") {
        "reading team membership needs a token with `read:org` (organization `members: read`); \
         the default workflow token cannot: use a GitHub App installation token (see README)"
            .into()
    } else if endpoint.contains("/collaborators/") {
        "reading a reviewer's permission needs `metadata: read` on the repository".into()
    } else if endpoint.contains("/deployments") {
        "creating deployments needs `deployments: write`".into()
    } else if endpoint.contains("/pulls") {
        "the token needs `pull-requests: read` (and `contents: read`) on the repository".into()
    } else {
        "the token needs `contents: read` on the repository".into()
    }
}

fn classify(status: StatusCode, endpoint: String, message: String) -> GitHubError {
    match status.as_u16() {
        401 => GitHubError::Unauthorized { endpoint, message },
        403 => {
            let hint = permission_hint(&endpoint);
            GitHubError::Forbidden {
                endpoint,
                message,
                hint,
            }
        }
        404 => {
            let hint = format!(
                "it does not exist, or the token cannot see it ({})",
                permission_hint(&endpoint)
            );
            GitHubError::NotFound {
                endpoint,
                hint,
                message,
            }
        }
        code => GitHubError::Unexpected {
            endpoint,
            status: code,
            message,
        },
    }
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim();
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next() {
        let h = r#"<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", <https://api.github.com/repositories/1300192/issues?page=4>; rel="next", <https://api.github.com/repositories/1300192/issues?page=515>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/repositories/1300192/issues?page=4")
        );
        assert_eq!(next_link(r#"<https://x/y?page=1>; rel="first""#), None);
    }

    #[test]
    fn endpoint_names_have_no_host_or_query() {
        assert_eq!(
            endpoint_name(
                Method::Get,
                "https://api.github.com/repos/a/b/pulls/1/reviews?per_page=100&page=2"
            ),
            "GET /repos/a/b/pulls/1/reviews"
        );
        assert_eq!(
            endpoint_name(Method::Post, "/repos/a/b/deployments"),
            "POST /repos/a/b/deployments"
        );
    }
}
