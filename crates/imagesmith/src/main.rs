//! The `imagesmith` binary: all logic lives in `imagesmith-cli`.
fn main() -> std::process::ExitCode {
    imagesmith_cli::main()
}
