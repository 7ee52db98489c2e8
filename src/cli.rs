//! Command-line definitions (clap derive). CI inputs can come from environment variables.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A signed, git-native audit trail for the LLM prompts a repository ships.
///
/// Every prompt version, its authors and approvers, and every deployment are recorded as
/// signed in-toto attestations on an append-only git branch that anyone holding the public
/// key can verify offline.
///
/// Exit codes: 0 ok; 1 the policy or verification said no; 2 usage, config or runtime error.
#[derive(Debug, Parser)]
#[command(name = "promptrail", version, max_term_width = 100)]
pub struct Cli {
    /// Run as if started in DIR (like `git -C`).
    #[arg(
        short = 'C',
        long = "repo",
        global = true,
        value_name = "DIR",
        default_value = "."
    )]
    pub repo: PathBuf,

    /// Print progress only for errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Print more detail (for example how many GitHub requests were made).
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented .promptrail.yml with the defaults.
    Init(InitArgs),
    /// Generate a signing key pair (encrypted private key + public key).
    Keygen(KeygenArgs),
    /// Show each prompt's latest version and whether it is recorded in the audit log.
    Status(StatusArgs),
    /// Append signed entries for prompt versions that landed since the log's last entry.
    Record(RecordArgs),
    /// Check every entry of the audit log: signatures, chain, indexes, digests, numbering.
    Verify(VerifyArgs),
    /// List the audit log's entries.
    Log(LogArgs),
    /// Show one prompt version: content, diff, authors, approvals, deployments.
    Show(ShowArgs),
    /// Decide whether a pull request's changed prompts are approved (a CI check).
    Check(CheckArgs),
    /// Block deployment unless every prompt in the working tree is an approved, recorded version.
    Gate(GateArgs),
    /// Gate, then record a signed deployment of the prompts to an environment.
    Deploy(DeployArgs),
    /// Restore an earlier approved version of a prompt and record the rollback.
    Rollback(RollbackArgs),
    /// Show which version of each prompt was live in an environment at a time.
    Active(ActiveArgs),
    /// Print the audit log's current signed checkpoint (keep it: `verify --checkpoint` later
    /// proves the log only grew since).
    Checkpoint(CheckpointArgs),
    /// Write a self-contained proof of one version: its entry, an inclusion proof, and the
    /// signed checkpoint (checked offline by `verify-entry`).
    Prove(ProveArgs),
    /// Check a proof from `prove` offline, without the repository.
    VerifyEntry(VerifyEntryArgs),
    /// Write a report of the audit log for compliance: json, csv, md, html, OCSF events for
    /// a SIEM, or an auditor's pack (report, CSV, verification, checkpoint, proofs).
    Export(ExportArgs),
    /// Check, through the GitHub API, the repository settings the trust model relies on.
    ///
    /// Branch rules on the protected branch (required reviews, the required check, stale
    /// approvals) and on the audit branch (force pushes, deletion), Actions workflow
    /// permissions, environments' deployment branches, and where the signing key secret is
    /// visible: each is ok, missing (with the setting to change; exit 1) or cannot read (the
    /// token lacks a permission, named).
    Doctor(DoctorArgs),
    /// Write shell completions or man pages, generated from these definitions (for packagers:
    /// the release archives ship them).
    #[command(hide = true)]
    Generate(GenerateArgs),
    /// Which recorded version has this content? From a runtime digest (or a file) to its
    /// path, version, authors, approvals and when it was live where.
    ///
    /// The audit log is verified first, against --key / --certificate-identity or the
    /// configured trust: a log that does not verify is an error (exit 2), never an answer.
    Which(WhichArgs),
    /// Annotate an OpenTelemetry trace export (OTLP JSON): each span's prompt version, its
    /// approvals, and whether it was live there and then.
    ///
    /// For each span that carries a prompt digest: the recorded version with that content, its
    /// approvals, and whether it was the version live in the span's environment at the span's
    /// start time.
    ///
    /// Spans that ran unrecorded, unapproved or not-deployed content, or whose path and version
    /// labels disagree with their digest, are flagged (exit 1, also when no span carries the
    /// attribute). A malformed export or attribute is an error
    /// (exit 2) naming the span. The audit log is verified first, against --key /
    /// --certificate-identity or the configured trust: a log that does not verify is an
    /// error (exit 2), never an answer.
    Trace(TraceArgs),
    /// Compare the prompt files actually served (a directory or a deploy manifest) with what
    /// the trail says is live in an environment.
    ///
    /// Reports files served that are not live there (unexpected), live prompts not served
    /// (missing), bytes that match no recorded version, an unapproved one, or an approved
    /// version that is not the live one, and links or special files where prompts should be.
    /// Exit 1 on any drift. The audit log is verified first, against --key /
    /// --certificate-identity or the configured trust: a log that does not verify is an
    /// error (exit 2), never an answer.
    Drift(DriftArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document on stdout, for scripts.
    Json,
}

#[derive(Debug, Args)]
pub struct FormatArg {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct BranchArg {
    /// Audit branch to read (default: `audit.branch` from .promptrail.yml).
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
}

#[derive(Debug, Args)]
pub struct FollowArg {
    /// Stay on the path given: do not follow the prompt across renames (by default its
    /// history under former names counts too).
    #[arg(long)]
    pub no_follow: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing .promptrail.yml.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory to write promptrail.key and promptrail.pub into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub format: FormatArg,
    #[command(flatten)]
    pub branch: BranchArg,
}

#[derive(Debug, Args)]
pub struct KeyArg {
    /// Encrypted private key file. Default: the PROMPTRAIL_SIGNING_KEY variable (the PEM
    /// text, as a CI secret holds it), then `signing.key` from .promptrail.yml. The password
    /// comes from PROMPTRAIL_KEY_PASSWORD, or is asked for on a terminal. When
    /// PROMPTRAIL_TRUSTED_KEY_IDS is set, the key must be one it lists.
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Sign keylessly (Sigstore), as `signing.mode: keyless` does: the job's GitHub OIDC
    /// identity gets a short-lived Fulcio certificate and every entry is logged in Rekor. The
    /// job needs `permissions: id-token: write`.
    #[arg(long, conflicts_with = "key")]
    pub keyless: bool,
    /// Fulcio to get certificates from (keyless). Default: `signing.fulcio_url` (refused
    /// under PROMPTRAIL_TRUSTED_IDENTITIES: it would receive the job's OIDC token), else
    /// Sigstore's public-good https://fulcio.sigstore.dev.
    #[arg(long, value_name = "URL", env = "PROMPTRAIL_FULCIO_URL")]
    pub fulcio_url: Option<String>,
    /// Rekor to log entries in (keyless). Default: `signing.rekor_url` (refused under
    /// PROMPTRAIL_TRUSTED_IDENTITIES), else Sigstore's public-good https://rekor.sigstore.dev.
    #[arg(long, value_name = "URL", env = "PROMPTRAIL_REKOR_URL")]
    pub rekor_url: Option<String>,
    /// Sigstore trusted root (trusted_root.json) for checking the log's keyless entries.
    /// Default: `signing.trusted_root`, else Sigstore's public-good root.
    #[arg(long, value_name = "FILE", env = "PROMPTRAIL_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
}

/// What verification trusts.
#[derive(Debug, Args, Default)]
pub struct TrustArgs {
    /// Trusted public key (PEM) for key-mode entries; repeat for several. Default:
    /// `signing.public_keys`. When PROMPTRAIL_TRUSTED_KEY_IDS is set (comma-separated key
    /// ids, from outside the repository), only the keys it lists are trusted: a key it does
    /// not list is refused, and each id it lists must be given.
    #[arg(long = "key", value_name = "PUB")]
    pub keys: Vec<PathBuf>,
    /// Keyless entries: a certificate identity allowed to sign (for GitHub, the workflow:
    /// https://github.com/OWNER/REPO/.github/workflows/FILE@REF); repeatable. Default:
    /// `signing.identities`. When PROMPTRAIL_TRUSTED_IDENTITIES is set (from outside the
    /// repository), only the identities it lists are trusted, and this flag is refused.
    #[arg(long = "certificate-identity", value_name = "IDENTITY")]
    pub identities: Vec<String>,
    /// Keyless entries: a regular expression an allowed identity matches in full;
    /// repeatable. Default: `signing.identity_regexps`.
    #[arg(long = "certificate-identity-regexp", value_name = "REGEXP")]
    pub identity_regexps: Vec<String>,
    /// Keyless entries: the OIDC issuer certificates must name. Default: `signing.issuer`,
    /// else https://token.actions.githubusercontent.com.
    #[arg(long = "certificate-oidc-issuer", value_name = "URL")]
    pub issuer: Option<String>,
    /// Sigstore trusted root (trusted_root.json) for keyless entries. Default:
    /// `signing.trusted_root`, else Sigstore's public-good root.
    #[arg(long, value_name = "FILE", env = "PROMPTRAIL_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Record history up to this commit (default: the protected branch's tip).
    #[arg(long, value_name = "REV")]
    pub commit: Option<String>,
    #[command(flatten)]
    pub key: KeyArg,
    /// Append to the local audit branch only; do not fetch or push.
    #[arg(long)]
    pub no_push: bool,
    /// Do not read approvals from GitHub: record them as "not fetched" (the gate then treats
    /// those versions as unapproved). Without this, record refuses to run without GitHub access.
    #[arg(long)]
    pub offline: bool,
    /// Keyless: also upload each new entry's bundle to GitHub's attestation store, so that
    /// `gh attestation verify` finds it (as `signing.github_attestations: true`; needs
    /// `attestations: write`).
    #[arg(long)]
    pub github_attestations: bool,
    #[command(flatten)]
    pub github: GitHubArgs,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub trust: TrustArgs,
    /// A checkpoint you saved earlier (`promptrail checkpoint`): prove the log is an
    /// append-only extension of it.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    #[command(flatten)]
    pub branch: BranchArg,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only entries about this prompt (any of its names across renames).
    #[arg(long, value_name = "PATH")]
    pub prompt: Option<String>,
    /// Only deployments and rollbacks to this environment.
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Only entries recorded at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    #[command(flatten)]
    pub follow: FollowArg,
    #[command(flatten)]
    pub branch: BranchArg,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The version to show, as PATH@vN (for example prompts/intake.md@v12).
    #[arg(value_name = "PROMPT@vN")]
    pub target: String,
    #[command(flatten)]
    pub follow: FollowArg,
    #[command(flatten)]
    pub branch: BranchArg,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct GitHubArgs {
    /// Environment variable that holds the GitHub token.
    #[arg(long, value_name = "NAME", default_value = "GITHUB_TOKEN")]
    pub github_token_env: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Pull request number (default: from the event in GITHUB_EVENT_PATH).
    #[arg(long, value_name = "N")]
    pub pr: Option<u64>,
    /// Report unapproved prompts but exit 0.
    #[arg(long)]
    pub warn_only: bool,
    #[command(flatten)]
    pub github: GitHubArgs,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The required status check promptrail's check job reports (the job's `name:` in
    /// promptrail-check.yml).
    #[arg(long, value_name = "NAME", default_value = "prompt approvals")]
    pub check_name: String,
    #[command(flatten)]
    pub github: GitHubArgs,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct EnvArg {
    /// Environment (one of `environments` in .promptrail.yml).
    #[arg(long, value_name = "ENV")]
    pub env: String,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// Only these prompts (paths); default: every prompt in the working tree.
    #[arg(long = "prompt", value_name = "PATH")]
    pub prompts: Vec<String>,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// Only these prompts (paths); default: every prompt in the working tree.
    #[arg(long = "prompt", value_name = "PATH")]
    pub prompts: Vec<String>,
    #[command(flatten)]
    pub key: KeyArg,
    /// Write the manifest of what was deployed (path, version, sha256) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Also create a GitHub Deployment and its status (needs `deployments: write`).
    #[arg(long)]
    pub github_deployment: bool,
    /// Keyless: also upload each new entry's bundle to GitHub's attestation store, so that
    /// `gh attestation verify` finds it (as `signing.github_attestations: true`; needs
    /// `attestations: write`).
    #[arg(long)]
    pub github_attestations: bool,
    #[command(flatten)]
    pub github: GitHubArgs,
    /// Append to the local audit branch only; do not fetch or push.
    #[arg(long)]
    pub no_push: bool,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// The prompt to roll back (path).
    #[arg(long, value_name = "PATH")]
    pub prompt: String,
    /// Version to restore (default: the one deployed to ENV before the current one).
    #[arg(long, value_name = "N")]
    pub to: Option<u32>,
    #[command(flatten)]
    pub key: KeyArg,
    /// Append to the local audit branch only; do not fetch or push.
    #[arg(long)]
    pub no_push: bool,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct ActiveArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// Point in time (RFC 3339, e.g. 2026-11-20T15:00:00Z); default: now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    #[command(flatten)]
    pub follow: FollowArg,
    #[command(flatten)]
    pub branch: BranchArg,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub branch: BranchArg,
}

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The version, as PATH@vN.
    #[arg(value_name = "PROMPT@vN")]
    pub target: String,
    /// Write the proof here (default: stdout).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub branch: BranchArg,
}

#[derive(Debug, Args)]
pub struct VerifyEntryArgs {
    /// A proof written by `promptrail prove`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// What the proof is checked with (flags only: no repository or config is read).
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Every entry decoded, with the verification result.
    Json,
    /// One row per prompt per event, for a spreadsheet.
    Csv,
    /// A compliance summary.
    Md,
    /// One self-contained page: timelines, diffs, approvals, what was live, verification.
    Html,
    /// OCSF 1.8.0 Entity Management (3004) events, one JSON object a line, for a SIEM.
    Ocsf,
    /// A directory for an auditor (--out DIR): the HTML report, CSV, the verification
    /// result, the checkpoint, a proof of every deployed version, and an index.
    Pack,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  promptrail export --format html --out report.html      # one self-contained page
  promptrail export --format ocsf --since 2026-01-01T00:00:00Z >> siem.jsonl
  promptrail export --format pack --out audit-2026-q1    # a directory for the auditor

Every format but html streams the log (constant memory at any length). A pack needs the
trusted keys (it carries the verification result) and refuses a non-empty directory
without --force.")]
pub struct ExportArgs {
    /// Report format.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Only deployments to this environment.
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Only entries recorded at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only entries recorded at or before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Write the report here (default: stdout); for `pack`, the directory to create.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// With `pack`: replace the contents of a non-empty --out directory.
    #[arg(long)]
    pub force: bool,
    /// What to verify the log with; without any trust configured, the report says the log
    /// was not verified.
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub follow: FollowArg,
    #[command(flatten)]
    pub branch: BranchArg,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub what: Generate,
}

#[derive(Debug, Subcommand)]
pub enum Generate {
    /// Print the completion script for SHELL on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write a man page for promptrail and one per command (promptrail-check.1, ...) into DIR
    /// (created if missing).
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  promptrail which 3f1c9a…e2                          # a sha256 (or a prefix of 6+ digits)
  promptrail which sha256:3f1c9a0b                    # the same, as traces often carry it
  promptrail which blob:053ec019                      # a git blob id (or prefix)
  promptrail which ./served/intake.md                 # a file's bytes, hashed raw
  promptrail which 3f1c9a0b --at 2026-11-20T15:00:00Z --env production

Exit codes: 0 found (with --at: live and approved in ENV at TIME); 1 no recorded version has
this content (with --at: it was not live there then, or not approved); 2 error, including a
prefix that matches several contents (the message lists them).")]
pub struct WhichArgs {
    /// A sha256 (64 hex digits), a git blob id (40), a prefix of either (6 or more digits),
    /// `sha256:HEX` / `blob:HEX`, or a FILE whose raw bytes are hashed. Text that looks like
    /// hex is read as a digest: name a file that looks like one as ./NAME.
    #[arg(value_name = "DIGEST|FILE")]
    pub target: String,
    /// Answer "was this content live and approved in ENV at TIME" (RFC 3339; needs --env).
    #[arg(long, value_name = "TIME", requires = "env")]
    pub at: Option<String>,
    /// Only this environment's deployments (with --at: the environment asked about).
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub branch: BranchArg,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The export: an OTLP JSON `TracesData` / `ExportTraceServiceRequest` document, or several
    /// one after another (the collector's file exporter), at most 64 MiB.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The span attribute holding the SHA-256 of the prompt bytes the span used.
    #[arg(long, value_name = "NAME", default_value = crate::otlp::DIGEST_ATTRIBUTE)]
    pub attribute: String,
    /// The environment of spans that name none (by default a span's or its resource's
    /// `deployment.environment.name`).
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub branch: BranchArg,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// What is served: a directory (e.g. copied out of the production image; read like the
    /// gate reads the working tree: regular files only, links and special files block), or a
    /// deploy manifest JSON file (`deploy --manifest`).
    #[arg(value_name = "DIR|MANIFEST")]
    pub path: PathBuf,
    /// The environment whose live prompts to compare with.
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// The repository directory that DIR holds (e.g. `prompts` when DIR is a copy of the
    /// prompts directory itself); by default DIR is laid out like the repository root.
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<String>,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub branch: BranchArg,
    #[command(flatten)]
    pub format: FormatArg,
}
