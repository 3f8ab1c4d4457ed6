//! The imagesmith command line: one module per command
#![deny(missing_docs)]

/// Runs the command line and returns the process exit code.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
