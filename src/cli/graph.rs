//! `maestro graph FILE`: the workflow as a flowchart on stdout, ready to pipe
//! into a Markdown file or `dot -Tsvg`.

use std::path::PathBuf;

use super::{EXIT_INVALID, EXIT_OK};
use crate::graph::{self, Format};
use crate::workflow;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Workflow file to draw.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Output language.
    #[arg(long, value_enum, default_value_t = Format::Mermaid)]
    pub format: Format,
}

pub fn run(args: &Args) -> u8 {
    match workflow::load_file(&args.file) {
        Ok(workflow) => {
            if super::print(&graph::render(&workflow, args.format)) {
                EXIT_OK
            } else {
                super::EXIT_ERROR
            }
        }
        Err(diagnostics) => {
            super::say::say(super::say::Level::Error, &diagnostics.to_string());
            EXIT_INVALID
        }
    }
}
