//! What a shell and `man` need of the command line, generated from the same
//! definition clap parses: completion scripts and manual pages.

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, EXIT_ERROR, EXIT_OK, say};

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for: bash, zsh, fish, powershell (or elvish).
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The folder to write `maestro.1`, `maestro-execute.1`, ... into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `maestro completions SHELL`: the script on stdout, to source or install.
pub fn completions(args: &CompletionsArgs) -> u8 {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "maestro", &mut script);
    if super::print(&String::from_utf8_lossy(&script)) {
        EXIT_OK
    } else {
        EXIT_ERROR
    }
}

/// `maestro man --out DIR`: one page per command (`make man`).
pub fn man(args: &ManArgs) -> u8 {
    let written = std::fs::create_dir_all(&args.out)
        .and_then(|()| clap_mangen::generate_to(Cli::command(), &args.out));
    match written {
        Ok(()) => EXIT_OK,
        Err(e) => {
            say::error(&format!(
                "cannot write man pages to {}: {e}",
                args.out.display()
            ));
            EXIT_ERROR
        }
    }
}
