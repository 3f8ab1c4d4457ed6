//! `imagesmith scan NAME|LAYOUT [--report SCANNER=FILE]... [--format table|json|sarif]`: the
//! gates on a built image (Trivy, Grype, Snyk and the hygiene checks), the verdict stored
//! beside the image. Exit 0 passed, 1 a gate failed, 2 a scanner or check broke.

use crate::project::relock;
use crate::{current_dir, ExitStatus};
use imagesmith_scan::{sarif, scan, store_verdict, Decision, ScanInput, Scanner, Status, Verdict};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `scan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An image of the project (its layout in the build cache) or an OCI layout directory.
    pub target: String,
    /// A report a CI step already produced, instead of running the scanner
    /// (`trivy=trivy.json`, `grype=grype.json`, `snyk=snyk.json`); repeatable.
    #[arg(long = "report", value_name = "SCANNER=FILE", value_parser = parse_report)]
    pub reports: Vec<(Scanner, PathBuf)>,
    /// A secret the build was given, `NAME=PATH` (as for `build`): its value must be in no
    /// layer, the config or the history; repeatable.
    #[arg(long, value_name = "NAME=PATH")]
    pub secret: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// The image's name in the layout (default: its only image).
    #[arg(long)]
    pub reference: Option<String>,
    /// The cache directory (default `$XDG_CACHE_HOME/imagesmith` or `~/.cache/imagesmith`).
    #[arg(long, env = "IMAGESMITH_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Judge waivers as of this day (for tests).
    #[arg(long, hide = true)]
    pub today: Option<String>,
}

/// The `--format` values of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table: finding, package, installed, fixed, severity, scanner, waived-by.
    Table,
    /// The verdict as JSON.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
}

fn parse_report(text: &str) -> Result<(Scanner, PathBuf), String> {
    let (name, file) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not SCANNER=FILE (e.g. `trivy=trivy.json`)"))?;
    let scanner = Scanner::from_name(name)
        .ok_or_else(|| format!("Unknown scanner `{name}`: expected trivy, grype or snyk"))?;
    if file.is_empty() {
        return Err(format!("`{text}` names no file"));
    }
    Ok((scanner, PathBuf::from(file)))
}

/// Runs `scan`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let cwd = current_dir()?;
    let relocked = match relock(&cwd)? {
        Ok(relocked) => relocked,
        Err(status) => return Ok(status),
    };
    let settings = relocked.fresh.settings.clone();
    let as_dir = cwd.join(&args.target);
    let (layout, image, user) = if as_dir.join("index.json").is_file() {
        let name = as_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| args.target.clone());
        let user = relocked
            .fresh
            .images
            .iter()
            .find(|i| i.name == name)
            .and_then(|i| i.user.clone());
        (as_dir, name, user)
    } else {
        let Some(locked) = relocked.fresh.images.iter().find(|i| i.name == args.target) else {
            eprintln!(
                "error: `{}` is neither an image of the project nor an OCI layout directory",
                args.target
            );
            return Ok(ExitStatus::Invalid);
        };
        let cache = args
            .cache_dir
            .clone()
            .unwrap_or_else(imagesmith_build::default_cache_dir);
        let layout = cache.join("images").join(&locked.name);
        if !layout.join("index.json").is_file() {
            eprintln!(
                "error: `{}` is not built: no `{}`",
                locked.name,
                layout.display()
            );
            eprintln!("hint: run `imagesmith build {}`", locked.name);
            return Ok(ExitStatus::Invalid);
        }
        (layout, locked.name.clone(), locked.user.clone())
    };
    let secret_args = match crate::secrets::parse(&args.secret) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitStatus::Invalid);
        }
    };
    let secrets = match crate::secrets::read(&secret_args) {
        Ok(read) => secret_args
            .iter()
            .filter_map(|arg| read.get(arg.name, None))
            .map(|value| String::from_utf8_lossy(&value).trim().to_owned())
            .collect(),
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitStatus::Invalid);
        }
    };
    let today = args
        .today
        .clone()
        .unwrap_or_else(imagesmith_validate::today);
    let input = ScanInput {
        layout: layout.clone(),
        reference: args.reference.clone(),
        image,
        user,
        scanners: settings.and_then(|s| s.scanners),
        reports: args
            .reports
            .iter()
            .map(|(s, p)| (*s, cwd.join(p)))
            .collect(),
        secrets,
        today,
    };
    let verdict = scan(&input)?;
    if let Err(error) = store_verdict(&layout, &verdict) {
        eprintln!("warning: {error:#}");
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&verdict)?)?,
        Format::Sarif => writeln!(out, "{}", serde_json::to_string_pretty(&sarif(&verdict))?)?,
        Format::Table => write!(out, "{}", table(&verdict))?,
    }
    for waiver in &verdict.expired_waivers {
        eprintln!(
            "warning: The waiver of `{}` expired on {} and waives nothing: {}",
            waiver.id, waiver.expires, waiver.reason
        );
    }
    for check in &verdict.checks {
        if check.status == Status::Failed {
            for problem in &check.problems {
                eprintln!("{}: {}: {problem}", check.severity_word(), check.name);
            }
        }
    }
    Ok(match verdict.exit_code() {
        0 => {
            eprintln!("Scanned `{}`: passed", verdict.image);
            ExitStatus::Success
        }
        1 => {
            eprintln!("error: {}", verdict.summary());
            ExitStatus::Invalid
        }
        _ => {
            eprintln!("error: {}", verdict.summary());
            ExitStatus::Failure
        }
    })
}

trait SeverityWord {
    fn severity_word(&self) -> &'static str;
}

impl SeverityWord for imagesmith_scan::CheckVerdict {
    fn severity_word(&self) -> &'static str {
        match self.severity {
            imagesmith_scan::GateSeverity::Error => "error",
            imagesmith_scan::GateSeverity::Warning => "warning",
        }
    }
}

/// The findings as a table, worst first, then each scanner's outcome.
pub fn table(verdict: &Verdict) -> String {
    let mut rows: Vec<[String; 7]> = vec![[
        "FINDING".into(),
        "PACKAGE".into(),
        "INSTALLED".into(),
        "FIXED".into(),
        "SEVERITY".into(),
        "SCANNER".into(),
        "WAIVED-BY".into(),
    ]];
    let mut findings: Vec<_> = verdict.findings.iter().collect();
    findings.sort_by(|a, b| {
        b.finding
            .severity
            .cmp(&a.finding.severity)
            .then_with(|| a.finding.id.cmp(&b.finding.id))
            .then_with(|| a.finding.scanner.cmp(&b.finding.scanner))
    });
    for judged in findings {
        let f = &judged.finding;
        let waived = match judged.decision {
            Decision::Waived => judged.waived_by.clone().unwrap_or_default(),
            Decision::Unfixed => "(unfixed, ignored)".into(),
            Decision::BelowThreshold => "(below threshold)".into(),
            Decision::Counted => judged
                .expired_waiver
                .as_ref()
                .map(|w| format!("(expired: {w})"))
                .unwrap_or_else(|| "-".into()),
        };
        rows.push([
            f.id.clone(),
            f.package.clone(),
            f.installed.clone(),
            f.fixed.clone().unwrap_or_else(|| "-".into()),
            f.severity.as_str().to_ascii_uppercase(),
            f.scanner.as_str().into(),
            waived,
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (i, cell) in row.iter().enumerate().take(6) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut text = String::new();
    if rows.len() > 1 {
        for row in &rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i < 6 {
                    line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
                } else {
                    line.push_str(cell);
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text.push('\n');
    }
    for scanner in &verdict.scanners {
        let status = match &scanner.status {
            Status::Passed => "passed".to_owned(),
            Status::Failed => format!("failed ({} findings count)", scanner.counts.counted),
            Status::Broke { reason } => format!("broke: {reason}"),
            Status::Skipped { reason } => format!("skipped: {reason}"),
        };
        text.push_str(&format!(
            "{}: {status}; {} findings, {} waived, {} unfixed ignored, {} below threshold\n",
            scanner.name,
            scanner.counts.total,
            scanner.counts.waived,
            scanner.counts.unfixed,
            scanner.counts.below_threshold
        ));
    }
    for check in &verdict.checks {
        let status = match &check.status {
            Status::Passed => "passed".to_owned(),
            Status::Failed => format!("found {} problem(s)", check.problems.len()),
            Status::Broke { reason } => format!("broke: {reason}"),
            Status::Skipped { reason } => format!("skipped: {reason}"),
        };
        text.push_str(&format!("{}: {status}\n", check.name));
    }
    text
}
