//! `maestro validate FILE...`: load each file as a run would, contact no
//! service, print one summary line per valid file and every problem of the
//! others. A workflow's test file (`NAME.test.yaml`) is checked as tests.

use std::path::PathBuf;

use super::{EXIT_INVALID, EXIT_OK, say};
use crate::escape;
use crate::workflow::{self, Node, Workflow};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Workflow files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: &Args) -> u8 {
    let mut status = EXIT_OK;
    for file in &args.files {
        // A workflow's tests, next to it (`examples/workflows/*.yaml`).
        if workflow::is_test_file(file) {
            match super::test::check_file(file) {
                Ok(summary) => {
                    let file = escape::line(&file.display().to_string()).into_owned();
                    super::print(&format!("{file}: ok: {summary}\n"));
                }
                Err(message) => {
                    say::error(&message);
                    status = EXIT_INVALID;
                }
            }
            continue;
        }
        match workflow::load_file(file) {
            Ok(workflow) => {
                let file = escape::line(&file.display().to_string()).into_owned();
                // A reader that went away misses the ok lines, never a problem.
                super::print(&format!("{file}: ok: {}\n", summary(&workflow)));
            }
            Err(diagnostics) => {
                say::say(say::Level::Error, &diagnostics.to_string());
                let n = diagnostics.len();
                let file = escape::line(&file.display().to_string()).into_owned();
                say::say(
                    say::Level::Error,
                    &format!("{file}: {n} problem{}", plural(n)),
                );
                status = EXIT_INVALID;
            }
        }
    }
    status
}

/// `workflow loan_processing, 9 steps (1 parallel group), 8 services`.
pub fn summary(workflow: &Workflow) -> String {
    let steps = workflow.all_steps().count();
    let groups = workflow
        .steps
        .iter()
        .filter(|n| matches!(n, Node::Parallel(_)))
        .count();
    let services = workflow.services.len();
    let mut text = format!("workflow {}, {steps} step{}", workflow.name, plural(steps));
    if groups > 0 {
        text.push_str(&format!(" ({groups} parallel group{})", plural(groups)));
    }
    text.push_str(&format!(", {services} service{}", plural(services)));
    if let Some(wait) = first_wait(workflow) {
        text.push_str(&format!(
            "; waits for signal `{wait}`: execute it with --state-dir or --state"
        ));
    }
    text
}

/// The signal of the first `wait` step, if the workflow has one.
pub fn first_wait(workflow: &Workflow) -> Option<&str> {
    workflow.all_steps().find_map(|s| match &s.action {
        crate::workflow::Action::Wait(wait) => Some(wait.signal.as_str()),
        _ => None,
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
