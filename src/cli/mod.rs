//! The `maestro` command line: `validate`, `graph`, `execute`. Data a user may
//! pipe goes to stdout; diagnostics and timelines go to stderr.

mod execute;
mod graph;
mod timeline;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Exit statuses, the same for every subcommand, so that scripts can tell a
// broken workflow from a failed run.

/// Everything went as asked.
pub const EXIT_OK: u8 = 0;
/// The run failed, and every completed step was compensated.
pub const EXIT_COMPENSATED: u8 = 1;
/// The workflow file or the run's input is invalid (nothing was called), or
/// the command line is wrong.
pub const EXIT_INVALID: u8 = 2;
/// The run failed and at least one compensation did not succeed: some
/// service may hold state that needs a person's attention.
pub const EXIT_COMPENSATION_FAILED: u8 = 3;
/// The workflow's `timeout` expired; the completed steps were compensated.
pub const EXIT_TIMED_OUT: u8 = 4;

/// Glue your services into workflows that survive failure.
#[derive(Debug, Parser)]
#[command(name = "maestro", version, about, long_about = None)]
pub struct Cli {
    /// Log what happens in detail on stderr (`RUST_LOG` refines it).
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check workflow files without calling any service.
    Validate(validate::Args),
    /// Draw a workflow as a Mermaid or Graphviz flowchart.
    Graph(graph::Args),
    /// Run a workflow once: its output on stdout, a step timeline on stderr.
    Execute(execute::ExecuteArgs),
}

pub fn main() -> ExitCode {
    // clap exits with 2 on usage errors, which is `EXIT_INVALID`.
    let cli = Cli::parse();
    init_logging(cli.debug);
    let status = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Execute(args) => return execute::run(args),
    };
    ExitCode::from(status)
}

/// Logs go to stderr; `--debug` raises maestro's own level unless `RUST_LOG`
/// says otherwise.
fn init_logging(debug: bool) {
    let default = if debug { "maestro=debug,info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn debug_is_accepted_after_the_subcommand() {
        let cli = Cli::try_parse_from(["maestro", "validate", "a.yaml", "--debug"]).unwrap();
        assert!(cli.debug);
    }
}
