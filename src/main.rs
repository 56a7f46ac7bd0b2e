use std::process::ExitCode;

// A run makes hundreds of small, short-lived allocations on several
// threads; under glibc's malloc they took a quarter of `maestro serve`'s
// CPU. See BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    maestro::cli::main()
}
