//! The `maestro` command line: `validate`, `graph`, `execute`, `serve`, `runs`,
//! `signal`, `schema`. Data a user may pipe goes to stdout; diagnostics and timelines
//! go to stderr.

mod execute;
mod exit;
mod graph;
mod interrupt;
mod live;
mod report;
mod resume;
mod retry;
mod runs;
mod say;
mod serve;
mod shell;
mod signal;
mod state;
mod test;
mod timeline;
mod traces;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use exit::{
    EXIT_COMPENSATED, EXIT_COMPENSATION_FAILED, EXIT_ERROR, EXIT_INVALID, EXIT_OK, EXIT_TIMED_OUT,
};

/// Glue your services into workflows that survive failure.
#[derive(Debug, Parser)]
#[command(name = "maestro", version, about, long_about = None)]
pub struct Cli {
    /// Log what happens in detail on stderr (`RUST_LOG` refines it).
    #[arg(long, global = true)]
    pub debug: bool,
    /// How logs are written: `pretty` for people, `json` (one object per
    /// line) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// A folder a workflow's `proto` and `import_paths` may also read from;
    /// without it, only the workflow file's own folder and below.
    #[arg(long, global = true, value_name = "DIR")]
    pub proto_root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

// Deferred: only the subcommand given has its arguments built, not the
// other nine (a tenth of a cold `execute` went to building them all).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Check workflow files without calling any service.
    Validate(validate::Args),
    /// Draw a workflow as a Mermaid or Graphviz flowchart.
    Graph(graph::Args),
    /// Run a workflow once: its output on stdout, a step timeline on stderr.
    Execute(execute::ExecuteArgs),
    /// Serve many concurrent runs of the given workflows over HTTP.
    Serve(serve::ServeArgs),
    /// Read journaled runs: `runs list`, `runs show RUN_ID`.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Send a signal to a run's `wait` steps, through the journal it is in.
    Signal(signal::SignalArgs),
    /// Run a workflow's tests (`NAME.test.yaml`) against canned answers,
    /// with no service running.
    Test(test::TestArgs),
    /// Print the JSON Schema of a workflow file, for editors.
    Schema,
    /// Print a shell's completion script: `maestro completions bash`.
    Completions(shell::CompletionsArgs),
    /// Write the manual pages into a folder (`make man`).
    #[command(hide = true)]
    Man(shell::ManArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

pub fn main() -> ExitCode {
    // clap exits with 2 on usage errors, which is `EXIT_INVALID`.
    let cli = Cli::parse();
    // A server logs what it does; tests log only Maestro's own errors, the
    // failures they script being theirs.
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        Command::Test(_) => "error",
        _ => "warn",
    };
    say::set_json(cli.log_format == LogFormat::Json);
    init_logging(cli.debug, cli.log_format, default_level);
    if let Some(dir) = &cli.proto_root
        && let Err(message) = crate::workflow::allow_proto_root(dir)
    {
        say::error(&message);
        return ExitCode::from(EXIT_INVALID);
    }
    let status = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Execute(args) => return execute::run(args),
        Command::Serve(args) => return serve::run(args),
        Command::Runs(command) => return runs::run(command),
        Command::Signal(args) => return signal::run(args),
        Command::Test(args) => return test::run(args),
        Command::Schema => print_schema(),
        Command::Completions(args) => shell::completions(&args),
        Command::Man(args) => shell::man(&args),
    };
    ExitCode::from(status)
}

/// `maestro schema`: the schema docs/workflow.schema.json holds a copy of.
fn print_schema() -> u8 {
    let schema = crate::workflow::schema::schema();
    let text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    if print(&format!("{text}\n")) {
        EXIT_OK
    } else {
        EXIT_ERROR
    }
}

/// A write to stdout failed because its reader went away (`| head`): the
/// rest of the output is not wanted, which is no error.
fn reader_gone(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

/// Write `text` to stdout; false when that failed for another reason than
/// a reader that went away, which is then said on stderr.
fn print(text: &str) -> bool {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => true,
        Err(e) if reader_gone(&e) => true,
        Err(e) => {
            say::error(&format!("cannot write to stdout: {e}"));
            false
        }
    }
}

/// The async runtime of a command that does one thing and exits
/// (`execute`, `runs`, `signal`): on this thread alone, since a run's calls
/// wait on the network, not the CPU, and worker threads would cost more to
/// start and wake than they save. Failing to build one is reported here.
fn async_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    built(tokio::runtime::Builder::new_current_thread().enable_all())
}

/// The async runtime of `serve`: a worker thread per core, for many runs
/// at once.
fn server_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    built(tokio::runtime::Builder::new_multi_thread().enable_all())
}

fn built(builder: &mut tokio::runtime::Builder) -> Result<tokio::runtime::Runtime, ExitCode> {
    builder.build().map_err(|e| {
        say::error(&format!("cannot start the async runtime: {e}"));
        ExitCode::from(EXIT_ERROR)
    })
}

/// Logs go to stderr; `--debug` raises maestro's own level unless `RUST_LOG`
/// says otherwise. A server logs actor lifecycle at info by default, since
/// a person tailing it wants to see actors start, fail and restart.
fn init_logging(debug: bool, format: LogFormat, level: &str) {
    let default = if debug { "maestro=debug,info" } else { level };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
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
    fn only_the_subcommand_given_has_its_arguments_built() {
        let mut cli = Cli::command();
        let serve = cli.find_subcommand("serve").unwrap();
        assert_eq!(serve.get_arguments().count(), 0, "built before it is used");
        cli.build();
        let signal = cli.find_subcommand("signal").unwrap();
        assert!(signal.get_arguments().any(|a| a.get_id() == "payload"));
        let about = signal.get_about().map(|a| a.to_string());
        assert_eq!(
            about.as_deref(),
            Some("Send a signal to a run's `wait` steps, through the journal it is in")
        );
    }

    #[test]
    fn debug_is_accepted_after_the_subcommand() {
        let cli = Cli::try_parse_from(["maestro", "validate", "a.yaml", "--debug"]).unwrap();
        assert!(cli.debug);
    }

    #[test]
    fn proto_root_is_accepted_by_every_command_that_loads_workflows() {
        for args in [
            &["validate", "a.yaml"][..],
            &["graph", "a.yaml"],
            &["execute", "a.yaml"],
            &["serve", "--workflows", "a.yaml"],
        ] {
            let line = [&["maestro"], args, &["--proto-root", "protos"]].concat();
            let cli = Cli::try_parse_from(line).unwrap();
            assert_eq!(cli.proto_root, Some(PathBuf::from("protos")), "{args:?}");
        }
    }
}
