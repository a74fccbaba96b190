//! `ecr-keeper`: the command line over ecr-keeper's core.

mod lifecycle;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "ecr-keeper", version, about = "Keep Amazon ECR repositories in good shape", propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate, generate and preview ECR lifecycle policies, offline.
    #[command(subcommand)]
    Lifecycle(lifecycle::LifecycleCommand),
}

/// Exit codes scripts can rely on.
pub const EXIT_OK: u8 = 0;
pub const EXIT_INVALID: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lifecycle(cmd) => lifecycle::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("ecr-keeper: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}
