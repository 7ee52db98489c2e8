//! One module per command: each wires config, git, the store and a report together.
mod active;
mod approvals;
mod attest;
mod audit_log;
mod check;
mod checkpoint;
mod console;
mod deploy;
mod deployment;
mod doctor;
mod drift;
mod export;
mod fresh;
mod gate;
mod gating;
mod generate;
mod indexed;
mod init;
mod keygen;
mod log;
mod merge_group;
mod prove;
mod record;
mod rollback;
mod show;
mod signers;
mod since;
mod status;
mod trace;
mod trust;
mod verified;
mod verify;
mod verify_entry;
mod which;
mod workspace;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub use audit_log::{AuditLog, DecodedEntry, ListedLog, read_log, read_statements};
pub(crate) use console::parse_time;
pub use console::{Progress, print_json};
pub use trust::{load_signer, load_signing_key};
pub(crate) use workspace::actions_event;
pub use workspace::{Workspace, normalize_origin};

/// How a command ended, mapped to the documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: everything held.
    Ok,
    /// 1: the policy or verification said no.
    No,
    /// 2: usage, config or runtime error.
    Error,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Outcome::Ok => 0,
            Outcome::No => 1,
            Outcome::Error => 2,
        })
    }
}

/// Runs a parsed command line; errors are printed to stderr.
pub fn run(cli: Cli) -> Outcome {
    let progress = Progress {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    let result = match &cli.command {
        Command::Init(a) => init::run(&cli.repo, a),
        Command::Keygen(a) => keygen::run(a),
        Command::Status(a) => status::run(&cli.repo, a),
        Command::Record(a) => record::run(&cli.repo, a, &progress),
        Command::Verify(a) => verify::run(&cli.repo, a, &progress),
        Command::Log(a) => log::run(&cli.repo, a),
        Command::Show(a) => show::run(&cli.repo, a),
        Command::Check(a) => check::run(&cli.repo, a, &progress),
        Command::Gate(a) => gate::gate(&cli.repo, a, &progress),
        Command::Deploy(a) => deploy::run(&cli.repo, a, &progress),
        Command::Rollback(a) => rollback::run(&cli.repo, a, &progress),
        Command::Active(a) => active::run(&cli.repo, a),
        Command::Checkpoint(a) => checkpoint::print_checkpoint(&cli.repo, a),
        Command::Prove(a) => prove::run(&cli.repo, a),
        Command::VerifyEntry(a) => verify_entry::verify_entry(a),
        Command::Export(a) => export::run(&cli.repo, a),
        Command::Doctor(a) => doctor::run(&cli.repo, a),
        Command::Generate(a) => generate::run(a),
        Command::Which(a) => which::run(&cli.repo, a),
        Command::Trace(a) => trace::run(&cli.repo, a),
        Command::Drift(a) => drift::run(&cli.repo, a),
    };
    match result {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("error: {e:#}");
            Outcome::Error
        }
    }
}
