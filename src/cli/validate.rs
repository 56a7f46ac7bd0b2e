//! `maestro validate FILE...`: load each file as a run would, contact no
//! service, print one summary line per valid file and every problem of the
//! others. A workflow's test file (`NAME.test.yaml`) is checked as tests.

use std::path::PathBuf;

use super::{EXIT_INVALID, EXIT_OK, say};
use crate::escape;
use crate::workflow::{self, Action, Node, Workflow};

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

/// `workflow loan_processing, 9 steps (1 parallel group), 8 services`;
/// steps of loops count, a child workflow's do not (it is named instead).
pub fn summary(workflow: &Workflow) -> String {
    let mut count = Count::default();
    count.nodes(&workflow.steps);
    let steps = count.steps;
    let services = workflow.services.len();
    let mut text = format!("workflow {}, {steps} step{}", workflow.name, plural(steps));
    let mut parts = Vec::new();
    if count.groups > 0 {
        parts.push(format!(
            "{} parallel group{}",
            count.groups,
            plural(count.groups)
        ));
    }
    if count.loops > 0 {
        parts.push(format!("{} loop{}", count.loops, plural(count.loops)));
    }
    if !count.children.is_empty() {
        let n = count.children.len();
        let files = count.children.join(", ");
        parts.push(format!("{n} child workflow{}: {files}", plural(n)));
    }
    if !parts.is_empty() {
        text.push_str(&format!(" ({})", parts.join(", ")));
    }
    text.push_str(&format!(", {services} service{}", plural(services)));
    if let Some(wait) = first_wait(workflow) {
        text.push_str(&format!(
            "; waits for signal `{wait}`: execute it with --state-dir or --state"
        ));
    }
    text
}

/// What a file's own steps hold, loops' bodies included.
#[derive(Default)]
struct Count {
    steps: usize,
    groups: usize,
    loops: usize,
    /// Each child workflow's path, as written, once.
    children: Vec<String>,
}

impl Count {
    fn nodes(&mut self, nodes: &[Node]) {
        for node in nodes {
            if matches!(node, Node::Parallel(_)) {
                self.groups += 1;
            }
            for step in node.steps() {
                self.steps += 1;
                match &step.action {
                    Action::Foreach(each) => {
                        self.loops += 1;
                        self.nodes(&each.body);
                    }
                    Action::Workflow(child) => {
                        let path = escape::line(&child.path).into_owned();
                        if !self.children.contains(&path) {
                            self.children.push(path);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The signal of the first `wait` step at any depth (a loop's body, a
/// child workflow), if the workflow has one.
pub fn first_wait(workflow: &Workflow) -> Option<&str> {
    workflow
        .deep_steps()
        .into_iter()
        .find_map(|s| match &s.action {
            Action::Wait(wait) => Some(wait.signal.as_str()),
            _ => None,
        })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
