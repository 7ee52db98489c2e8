use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = promptrail::cli::Cli::parse();
    promptrail::app::run(cli).exit_code()
}
