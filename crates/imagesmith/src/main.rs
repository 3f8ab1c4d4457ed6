//! The `imagesmith` binary: all logic lives in `imagesmith-cli`.

// Validation allocates many small short-lived values per file; mimalloc halves their cost.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    imagesmith_cli::main()
}
