//! Running the scanners that are installed: Trivy on an oci-archive, Grype on the layout
//! directory, Snyk container on an oci-archive

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::finding::{Finding, Scanner};
use crate::report::parse_report;

/// The command line that scans `layout` (or `archive`, an oci-archive of it) with `scanner`
pub fn command(scanner: Scanner, layout: &Path, archive: &Path) -> Command {
    match scanner {
        Scanner::Trivy => {
            let mut command = Command::new("trivy");
            command
                .args(["image", "--format", "json", "--quiet", "--input"])
                .arg(archive);
            command
        }
        Scanner::Grype => {
            let mut command = Command::new("grype");
            command
                .arg(format!("oci-dir:{}", layout.display()))
                .args(["-o", "json"]);
            command
        }
        Scanner::Snyk => {
            let mut command = Command::new("snyk");
            command
                .args(["container", "test"])
                .arg(format!("oci-archive:{}", archive.display()))
                .arg("--json");
            command
        }
    }
}

/// Whether `scanner` needs an oci-archive of the image
/// Whether `scanner`'s program is on `PATH`.
pub fn installed(scanner: Scanner) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let file = dir.join(scanner.as_str());
        std::fs::metadata(&file).is_ok_and(|meta| meta.is_file())
    })
}

/// Whether the scanner reads an oci-archive (Trivy, Snyk) rather than the layout.
pub fn needs_archive(scanner: Scanner) -> bool {
    matches!(scanner, Scanner::Trivy | Scanner::Snyk)
}

/// Runs `scanner` and reads its report; the error is why the scanner broke
pub fn run(
    scanner: Scanner,
    layout: &Path,
    archive: Option<&PathBuf>,
) -> Result<Vec<Finding>, String> {
    let archive = archive.map(PathBuf::as_path).unwrap_or(layout);
    let mut command = command(scanner, layout, archive);
    let tool = scanner.as_str();
    let output = match command.output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "`{tool}` is configured in `scanners` but not installed (not on PATH); install it or pass `--report {tool}=FILE`"
            ))
        }
        Err(error) => return Err(format!("`{tool}` could not be started: {error}")),
    };
    let origin = format!("stdout of {tool}");
    let code = output.status.code();
    // Snyk exits 1 when it found vulnerabilities: a normal result with a JSON report.
    let normal = code == Some(0) || (scanner == Scanner::Snyk && code == Some(1));
    let parsed = parse_report(scanner, &output.stdout, &origin);
    match (normal, parsed) {
        (true, Ok(findings)) => Ok(findings),
        (true, Err(error)) => Err(error.to_string()),
        (false, Ok(findings)) if scanner == Scanner::Snyk && code == Some(1) => Ok(findings),
        (false, result) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            let detail = match result {
                Err(error) => format!("; {error}"),
                Ok(_) => String::new(),
            };
            Err(format!(
                "`{tool}` exited with {}{detail}{}",
                code.map_or("a signal".to_owned(), |c| format!("code {c}")),
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", tail.join(" / "))
                }
            ))
        }
    }
}
