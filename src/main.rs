use std::process::ExitCode;

fn main() -> ExitCode {
    maestro::cli::main()
}
