//! `.promptrail.yml`: parsed with `deny_unknown_fields`, values validated while parsing so
//! that every error carries the file, line and column of the value at fault.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, de::Error as _};

use crate::types::Sha256Hex;

/// The config file's name at the repository root.
pub const FILE_NAME: &str = ".promptrail.yml";

/// Default limit on a prompt file's size.
pub const DEFAULT_MAX_PROMPT_BYTES: u64 = 1024 * 1024;

/// A configuration error: where it is and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Unreadable { file: PathBuf, message: String },
    /// Not a regular file, larger than 1 MiB, or unreadable.
    #[error(transparent)]
    Read(#[from] crate::fsread::ReadError),
}

/// The most globs a config may hold (include, exclude and rule paths together).
pub const MAX_GLOBS: usize = 1000;

/// The whole configuration, with defaults filled in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Format version of this file; only 1 exists.
    pub version: ConfigVersion,
    pub prompts: PromptsConfig,
    pub audit: AuditConfig,
    /// The branch whose first-parent history defines what landed. Default: the remote's
    /// default branch (`refs/remotes/<remote>/HEAD`), else the checked-out branch.
    pub protected_branch: Option<RefName>,
    pub signing: SigningConfig,
    /// Deployment environments, in promotion order.
    pub environments: Vec<EnvName>,
    /// Who must approve which prompts.
    pub policy: PolicyConfig,
    /// Digest of the file's bytes (of the empty string when there is no file).
    #[serde(skip)]
    pub digest: Option<Sha256Hex>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            version: ConfigVersion,
            prompts: PromptsConfig::default(),
            audit: AuditConfig::default(),
            protected_branch: None,
            signing: SigningConfig::default(),
            environments: vec![EnvName("staging".into()), EnvName("production".into())],
            policy: PolicyConfig::default(),
            digest: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromptsConfig {
    /// Globs (repository-relative, `/`-separated) that select prompt files.
    pub include: Vec<GlobPattern>,
    /// Globs removed from the selection.
    pub exclude: Vec<GlobPattern>,
    /// Largest prompt file accepted, in bytes.
    pub max_bytes: PositiveSize,
}

impl Default for PromptsConfig {
    fn default() -> Self {
        Self {
            include: vec![GlobPattern("prompts/**".into())],
            exclude: Vec::new(),
            max_bytes: PositiveSize(DEFAULT_MAX_PROMPT_BYTES),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The orphan branch holding the audit log.
    pub branch: RefName,
    /// The remote the audit branch is pushed to and fetched from.
    pub remote: RemoteName,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            branch: RefName("promptrail/audit".into()),
            remote: RemoteName("origin".into()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// How new entries are signed: with a key, or keyless (Sigstore: OIDC → Fulcio → Rekor).
    pub mode: SigningMode,
    /// Path (repository-relative) to the encrypted private key, when not given by `--key`
    /// or `PROMPTRAIL_SIGNING_KEY`. Usually unset: CI passes the key as a secret.
    pub key: Option<PathBuf>,
    /// Public keys (repository-relative paths) that `verify` trusts when no `--key` is given,
    /// each optionally with a validity window (for key rotation).
    pub public_keys: Vec<PublicKeyRef>,
    /// Keyless: log every entry in Rekor (public). `false` keeps certificate signing but
    /// makes no public log entry (private repositories).
    pub transparency: bool,
    /// Keyless: also upload each new entry's bundle to GitHub's attestation store
    /// (`POST /repos/{owner}/{repo}/attestations`), so `gh attestation verify` finds it.
    pub github_attestations: bool,
    /// Keyless: certificate identities allowed to sign (exact).
    pub identities: Vec<String>,
    /// Keyless: patterns an allowed certificate identity matches in full.
    pub identity_regexps: Vec<IdentityPattern>,
    /// Keyless: the OIDC issuer the certificates must name.
    pub issuer: String,
    /// Keyless: Fulcio, Rekor and the trusted root (repository-relative), for private
    /// Sigstore deployments. Default: Sigstore's public-good instance.
    pub fulcio_url: Option<String>,
    pub rekor_url: Option<String>,
    pub trusted_root: Option<PathBuf>,
}

impl Default for SigningConfig {
    fn default() -> Self {
        Self {
            mode: SigningMode::Key,
            key: None,
            public_keys: Vec::new(),
            transparency: true,
            github_attestations: false,
            identities: Vec::new(),
            identity_regexps: Vec::new(),
            issuer: crate::keyless::GITHUB_ISSUER.to_owned(),
            fulcio_url: None,
            rekor_url: None,
            trusted_root: None,
        }
    }
}

/// How entries are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningMode {
    Key,
    Keyless,
}

/// A regular expression for certificate identities (checked while parsing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPattern(pub String);

impl<'de> Deserialize<'de> for IdentityPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::keyless::verify::IdentityPolicy::compile(&s)
            .map_err(|e| D::Error::custom(format!("{e:#}")))?;
        Ok(IdentityPattern(s))
    }
}

/// A trusted public key: a path, or a path with the window in which it may sign.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum PublicKeyRef {
    Path(PathBuf),
    Windowed(WindowedKey),
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WindowedKey {
    pub path: PathBuf,
    /// Entries recorded before this time must not be signed by this key.
    #[serde(default)]
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Entries recorded after this time must not be signed by this key (it was retired).
    #[serde(default)]
    pub not_after: Option<chrono::DateTime<chrono::Utc>>,
    /// The key's id (SHA-256 of its SubjectPublicKeyInfo, as `keygen` prints it): required
    /// for a key file inside the repository, whose bytes the policy does not otherwise pin.
    #[serde(default)]
    pub key_id: Option<String>,
}

impl PublicKeyRef {
    pub fn path(&self) -> &std::path::Path {
        match self {
            PublicKeyRef::Path(p) => p,
            PublicKeyRef::Windowed(w) => &w.path,
        }
    }

    /// The key id `.promptrail.yml` pins the file to, if any.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            PublicKeyRef::Path(_) => None,
            PublicKeyRef::Windowed(w) => w.key_id.as_deref(),
        }
    }

    pub fn window(
        &self,
    ) -> (
        Option<chrono::DateTime<chrono::Utc>>,
        Option<chrono::DateTime<chrono::Utc>>,
    ) {
        match self {
            PublicKeyRef::Path(_) => (None, None),
            PublicKeyRef::Windowed(w) => (w.not_before, w.not_after),
        }
    }
}

/// The approval policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Whether an author of a prompt's change may approve it.
    pub allow_author_approval: bool,
    /// The rule for prompts no path rule matches.
    pub default: RuleConfig,
    /// Per-path rules; the first whose globs match a prompt applies.
    pub rules: Vec<PathRule>,
    /// Extra requirements for deploying to an environment.
    pub environments: std::collections::BTreeMap<String, EnvRule>,
}

/// Who may approve, and how many approvals are needed.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RuleConfig {
    /// Approvals needed (0: no approval needed).
    pub approvals: u32,
    /// If users or teams are listed, only they count (besides the permission floor).
    pub users: Vec<String>,
    /// Teams as `org/slug` (or `slug`, in the repository owner's organisation).
    pub teams: Vec<TeamRef>,
    /// Least repository permission an approver needs: read, triage, write, maintain, admin.
    pub permission: PermissionLevel,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            approvals: 1,
            users: Vec::new(),
            teams: Vec::new(),
            permission: PermissionLevel(crate::review::Permission::Write),
        }
    }
}

/// A rule for the prompts matching `paths`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PathRule {
    /// A name for reports; default: the first glob.
    #[serde(default)]
    pub name: Option<String>,
    pub paths: Vec<GlobPattern>,
    #[serde(default = "one")]
    pub approvals: u32,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub teams: Vec<TeamRef>,
    #[serde(default)]
    pub permission: PermissionLevel,
}

fn one() -> u32 {
    1
}

impl PathRule {
    pub fn rule(&self) -> RuleConfig {
        RuleConfig {
            approvals: self.approvals,
            users: self.users.clone(),
            teams: self.teams.clone(),
            permission: self.permission,
        }
    }

    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.paths.first().map_or(String::new(), |g| g.0.clone()))
    }
}

/// What deploying to an environment needs beyond the path rule.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EnvRule {
    /// At least this many counted approvals.
    pub approvals: Option<u32>,
    /// If listed, only approvals from these users or teams count toward `approvals`.
    pub users: Vec<String>,
    pub teams: Vec<TeamRef>,
}

/// `org/slug` or `slug`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TeamRef {
    pub org: Option<String>,
    pub slug: String,
}

impl TeamRef {
    /// The canonical `org/slug` with the given default organisation.
    pub fn qualified(&self, default_org: &str) -> String {
        format!(
            "{}/{}",
            self.org.as_deref().unwrap_or(default_org),
            self.slug
        )
        .to_ascii_lowercase()
    }
}

impl<'de> Deserialize<'de> for TeamRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let s = s.trim_start_matches('@');
        let ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        };
        match s.split_once('/') {
            Some((org, slug)) if ok(org) && ok(slug) => Ok(TeamRef {
                org: Some(org.to_owned()),
                slug: slug.to_owned(),
            }),
            None if ok(s) => Ok(TeamRef {
                org: None,
                slug: s.to_owned(),
            }),
            _ => Err(D::Error::custom(format!(
                "team `{s}` must be `org/team-slug` or `team-slug`"
            ))),
        }
    }
}

/// A permission level in config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermissionLevel(pub crate::review::Permission);

impl Default for PermissionLevel {
    fn default() -> Self {
        PermissionLevel(crate::review::Permission::Write)
    }
}

impl<'de> Deserialize<'de> for PermissionLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::review::Permission::parse(&s)
            .filter(|p| *p != crate::review::Permission::None)
            .map(PermissionLevel)
            .ok_or_else(|| {
                D::Error::custom(format!(
                    "permission `{s}` must be one of read, triage, write, maintain, admin"
                ))
            })
    }
}

/// `version: 1`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigVersion;

impl<'de> Deserialize<'de> for ConfigVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u32::deserialize(d)? {
            1 => Ok(ConfigVersion),
            n => Err(D::Error::custom(format!(
                "unsupported config version {n}; this promptrail reads version 1"
            ))),
        }
    }
}

/// A glob checked for syntax while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobPattern(pub String);

impl<'de> Deserialize<'de> for GlobPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(D::Error::custom("empty glob"));
        }
        if s.starts_with('/') || s.contains('\\') {
            return Err(D::Error::custom(format!(
                "glob `{s}` must be repository-relative with `/` separators (e.g. `prompts/**`)"
            )));
        }
        globset::Glob::new(&s).map_err(|e| D::Error::custom(format!("invalid glob `{s}`: {e}")))?;
        Ok(GlobPattern(s))
    }
}

/// A branch name that git would accept (a conservative subset of `git check-ref-format`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefName(pub String);

impl RefName {
    pub fn validate(s: &str) -> Result<(), String> {
        let bad = s.is_empty()
            || s.starts_with('/')
            || s.ends_with('/')
            || s.ends_with(".lock")
            || s.starts_with('-')
            || s.contains("..")
            || s.contains("//")
            || s.contains("@{")
            || s.split('/').any(|c| c.starts_with('.'))
            || s.chars().any(|c| {
                c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
            });
        if bad {
            Err(format!("`{s}` is not a valid git branch name"))
        } else {
            Ok(())
        }
    }
}

impl<'de> Deserialize<'de> for RefName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let s = s.strip_prefix("refs/heads/").unwrap_or(&s).to_owned();
        RefName::validate(&s).map_err(D::Error::custom)?;
        Ok(RefName(s))
    }
}

/// A git remote name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteName(pub String);

impl<'de> Deserialize<'de> for RemoteName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() || s.starts_with('-') || s.chars().any(|c| c.is_whitespace()) {
            return Err(D::Error::custom(format!(
                "`{s}` is not a valid remote name"
            )));
        }
        Ok(RemoteName(s))
    }
}

/// An environment name: letters, digits, `-`, `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvName(pub String);

impl<'de> Deserialize<'de> for EnvName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(D::Error::custom(format!(
                "environment `{s}` must be letters, digits, `-` or `_`"
            )));
        }
        Ok(EnvName(s))
    }
}

/// A size in bytes greater than zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositiveSize(pub u64);

impl<'de> Deserialize<'de> for PositiveSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d)? {
            0 => Err(D::Error::custom("max_bytes must be greater than 0")),
            n => Ok(PositiveSize(n)),
        }
    }
}

impl Config {
    /// Parses config text; `file` names the source in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        // Bounded before any parsing: serde_yaml's time and memory grow with the size and the
        // nesting of its input, and a config needs neither.
        let limit = crate::fsread::CONFIG_LIMIT;
        if text.len() as u64 > limit {
            return Err(ConfigError::Invalid {
                file: file.to_owned(),
                line: 1,
                column: 1,
                message: format!(
                    "is {}, larger than the {} a config may be: refusing it",
                    crate::fsread::Size(text.len() as u64),
                    crate::fsread::Size(limit)
                ),
            });
        }
        if let Some((line, column)) = crate::yamlscan::too_deep(text, crate::yamlscan::MAX_DEPTH) {
            return Err(ConfigError::Invalid {
                file: file.to_owned(),
                line,
                column,
                message: format!(
                    "nested more than {} levels deep (a config needs about 5): refusing it \
                     before parsing",
                    crate::yamlscan::MAX_DEPTH
                ),
            });
        }
        // An empty file (or only comments) means "all defaults".
        let mut config: Config = if text.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t == "---"
        }) {
            Config::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| {
                let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
                ConfigError::Invalid {
                    file: file.to_owned(),
                    line,
                    column,
                    message: strip_location(&e.to_string()),
                }
            })?
        };
        // Globs compile into automata: tens are plenty, thousands cost seconds and hundreds
        // of MiB (31,000 globs in 1 MiB took 730 MiB), so their number is bounded too.
        let globs = config.prompts.include.len()
            + config.prompts.exclude.len()
            + config
                .policy
                .rules
                .iter()
                .map(|r| r.paths.len())
                .sum::<usize>();
        if globs > MAX_GLOBS {
            return Err(ConfigError::Invalid {
                file: file.to_owned(),
                line: find_line(text, "prompts"),
                column: 1,
                message: format!(
                    "{globs} globs in prompts.include, prompts.exclude and policy.rules[].paths: \
                     at most {MAX_GLOBS} are accepted (use `**` to cover many paths with one)"
                ),
            });
        }
        if config.prompts.include.is_empty() {
            return Err(ConfigError::Invalid {
                file: file.to_owned(),
                line: find_line(text, "include"),
                column: 1,
                message: "prompts.include is empty: no file could ever be a prompt".into(),
            });
        }
        for env in config.policy.environments.keys() {
            if !config.environments.iter().any(|e| &e.0 == env) {
                return Err(ConfigError::Invalid {
                    file: file.to_owned(),
                    line: find_line(text, &format!("{env}:")),
                    column: 1,
                    message: format!(
                        "policy.environments names `{env}`, which is not in `environments`"
                    ),
                });
            }
        }
        config.digest = Some(Sha256Hex::of(text.as_bytes()));
        Ok(config)
    }

    /// Loads `.promptrail.yml` from the repository root; defaults when it does not exist.
    /// Only a regular file (not a symlink, device or FIFO) of at most 1 MiB is read.
    pub fn load(repo_root: &Path) -> Result<Config, ConfigError> {
        let file = repo_root.join(FILE_NAME);
        match crate::fsread::read_regular(
            &file,
            crate::fsread::CONFIG_LIMIT,
            "the config",
            crate::fsread::Symlinks::Refuse,
        ) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| ConfigError::Unreadable {
                    file: file.clone(),
                    message: "not valid UTF-8".into(),
                })?;
                Config::parse(&text, Path::new(FILE_NAME))
            }
            Err(e) if e.is_not_found() => Ok(Config {
                digest: Some(Sha256Hex::of(b"")),
                ..Config::default()
            }),
            Err(e) => Err(e.into()),
        }
    }
}

/// serde_yaml appends " at line L column C"; we print the location ourselves.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

fn find_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(key))
        .map_or(1, |i| i + 1)
}

/// The commented template that `promptrail init` writes.
pub const TEMPLATE: &str = r#"# promptrail configuration. Every key is optional; the values shown are the defaults.
# Docs: https://github.com/promptrail/promptrail#configuration
version: 1

prompts:
  # Files that are prompts: repository-relative globs with `/` separators.
  # `*` stays inside one directory, `**` crosses directories.
  include:
    - "prompts/**"
  # Files under `include` that are not prompts (fixtures, READMEs...).
  exclude: []
  # Prompt files larger than this (bytes) are refused, as are binary files.
  max_bytes: 1048576

audit:
  # Orphan branch that holds the signed audit log. Protect it: only CI should push.
  branch: promptrail/audit
  # Remote that the audit branch is pushed to.
  remote: origin

# Branch whose first-parent history defines which prompt versions landed.
# Default: the remote's default branch.
# protected_branch: main

signing:
  # Encrypted private key (from `promptrail keygen`). Prefer the PROMPTRAIL_SIGNING_KEY
  # secret in CI; never commit the private key.
  # key: .promptrail/promptrail.key
  # Public keys that `promptrail verify` trusts when no --key is given. Commit these, each
  # pinned by the key id `promptrail keygen` printed (a key file inside the repository is
  # refused unpinned: this file is governed, the key file's bytes are not).
  # To rotate a key, give each its window: entries must be recorded inside the window of
  # the key that signed them.
  #   - path: keys/2025.pub
  #     key_id: <64 hex digits>
  #     not_after: 2026-03-01T00:00:00Z
  #   - path: keys/2026.pub
  #     key_id: <64 hex digits>
  #     not_before: 2026-02-15T00:00:00Z
  public_keys: []
  # Keyless signing instead (Sigstore, GitHub Actions only; the job needs
  # `permissions: id-token: write`): no private key exists at all.
  # mode: keyless
  # Workflows whose certificates may sign (verify rejects every other identity):
  # identities:
  #   - https://github.com/OWNER/REPO/.github/workflows/promptrail-record.yml@refs/heads/main
  # identity_regexps: ['https://github\.com/OWNER/REPO/\.github/workflows/promptrail-.*@refs/heads/main']
  # Rekor entries are public (the envelope's hash, signature and certificate naming the
  # repository and workflow; never the prompt text). For a private repository:
  # transparency: false
  # Also upload each new keyless entry to GitHub's attestation store, for
  # `gh attestation verify` (the recording and deploying jobs need `attestations: write`):
  # github_attestations: true

# Deployment environments, in promotion order.
environments:
  - staging
  - production

# Who must approve prompt changes. An approval counts only if it is the reviewer's latest
# verdict, the reviewer did not author the change, the prompt's content is unchanged since the
# reviewed commit, and the reviewer passes the rule's filters.
policy:
  # May an author (PR opener, or author/co-author of a commit touching the prompt) approve?
  allow_author_approval: false
  # The rule for prompts no path rule matches.
  default:
    approvals: 1
    # If users or teams are listed, only they count. Teams need a token with read:org.
    users: []
    teams: []
    # Least repository permission (role) an approver needs.
    permission: write
  # Per-path rules: the first whose globs match a prompt applies.
  rules: []
  #  - name: clinical
  #    paths: ["prompts/clinical/**"]
  #    approvals: 2
  #    teams: ["clinical-review"]
  # Extra requirements to deploy to an environment.
  environments: {}
  #  production:
  #    approvals: 2
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new(FILE_NAME))
    }

    #[test]
    fn template_parses_to_the_defaults() {
        let c = parse(TEMPLATE).unwrap();
        assert_eq!(c.prompts.include, vec![GlobPattern("prompts/**".into())]);
        assert_eq!(c.audit.branch.0, "promptrail/audit");
        assert_eq!(c.audit.remote.0, "origin");
        assert_eq!(c.prompts.max_bytes.0, DEFAULT_MAX_PROMPT_BYTES);
        assert_eq!(c.environments.len(), 2);
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let c = parse("# nothing\n").unwrap();
        assert_eq!(c.audit.branch.0, "promptrail/audit");
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let err = parse("version: 1\naudit:\n  brnch: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(".promptrail.yml:3:3: "), "{err}");
        assert!(err.contains("unknown field `brnch`"), "{err}");
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let err = parse("prompts:\n  include: [\"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(".promptrail.yml:"), "{err}");
        let ConfigError::Invalid { line, .. } = parse("prompts:\n  include: [\"a\"\n").unwrap_err()
        else {
            panic!("expected Invalid")
        };
        assert!(line >= 2);
    }

    #[test]
    fn bad_values_are_located() {
        for (text, line, needle) in [
            ("prompts:\n  include:\n    - \"a/[\"\n", 3, "invalid glob"),
            ("prompts:\n  max_bytes: 0\n", 2, "greater than 0"),
            ("audit:\n  branch: \"a..b\"\n", 2, "not a valid git branch"),
            ("environments: [\"pro d\"]\n", 1, "environment `pro d`"),
            ("version: 2\n", 1, "unsupported config version 2"),
        ] {
            let err = parse(text).unwrap_err();
            let ConfigError::Invalid {
                line: l, message, ..
            } = &err
            else {
                panic!("{err}")
            };
            assert_eq!(*l, line, "{text}: {err}");
            assert!(message.contains(needle), "{text}: {message}");
        }
    }

    #[test]
    fn policy_parses_with_defaults_and_located_errors() {
        let c = parse(
            "policy:\n  rules:\n    - paths: [\"prompts/clinical/**\"]\n      approvals: 2\n      teams: [\"acme/clinical-review\"]\n  environments:\n    production:\n      approvals: 2\n",
        )
        .unwrap();
        assert_eq!(c.policy.default.approvals, 1);
        assert_eq!(c.policy.rules[0].approvals, 2);
        assert_eq!(
            c.policy.rules[0].teams[0].qualified("x"),
            "acme/clinical-review"
        );
        assert_eq!(c.policy.environments["production"].approvals, Some(2));
        let err = parse("policy:\n  default:\n    permission: owner\n").unwrap_err();
        assert!(err.to_string().contains(":3:"), "{err}");
        let err = parse("policy:\n  rules:\n    - paths: [\"a\"]\n      teems: []\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `teems`"), "{err}");
    }

    #[test]
    fn policy_environments_must_exist() {
        let err = parse(
            "environments: [staging]\npolicy:\n  environments:\n    prod:\n      approvals: 2\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(":4:1: policy.environments names `prod`"),
            "{err}"
        );
    }

    #[test]
    fn empty_include_is_refused() {
        assert!(parse("prompts:\n  include: []\n").is_err());
    }
}
