//! `promptrail generate` (hidden): shell completions and man pages from the clap definitions,
//! so that they can never disagree with `--help`. The release workflow runs it on the binary
//! it just built and ships the output in each archive.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory as _;

use super::Outcome;
use crate::cli::{Cli, Generate, GenerateArgs};

pub fn run(args: &GenerateArgs) -> Result<Outcome> {
    let mut command = Cli::command();
    match &args.what {
        Generate::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut command, "promptrail", &mut out);
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&out)
                .and_then(|()| stdout.flush())
                .context("writing the completion script to stdout")?;
        }
        Generate::Man { dir } => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut command = command.disable_help_subcommand(true);
            command.build();
            write_man_pages(&command, dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
        }
    }
    Ok(Outcome::Ok)
}

/// One page per visible command (promptrail.1, promptrail-check.1, ...), each headed with
/// promptrail's version (clap_mangen would give a subcommand's page its own, empty, version).
fn write_man_pages(command: &clap::Command, dir: &Path) -> std::io::Result<()> {
    let source = format!("promptrail {}", env!("CARGO_PKG_VERSION"));
    clap_mangen::Man::new(command.clone())
        .source(source)
        .manual("promptrail manual")
        .generate_to(dir)?;
    for sub in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        write_man_pages(sub, dir)?;
    }
    Ok(())
}
