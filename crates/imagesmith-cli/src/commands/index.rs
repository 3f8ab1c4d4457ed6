//! `imagesmith index update [COMPONENT...]` and `imagesmith index list`.
//!
//! The version index says which releases of each component exist. The binary carries a
//! snapshot; `index update` fetches each component's source (through the project's `mirrors`,
//! with credentials from the environment) into the project's `index/` folder, which replaces
//! the snapshot component by component and is committed like the lock.

use crate::{current_dir, ExitStatus};
use imagesmith_index::{ComponentIndex, Index, Origin, INDEX_DIR};
use imagesmith_sources::{Context, Credentials, Http, HttpOptions};
use imagesmith_validate::{find_project_root, load_project, today};
use std::io::{IsTerminal, Write};
use std::path::Path;

/// Arguments of `index`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: IndexCommand,
}

/// The `index` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum IndexCommand {
    /// Fetch every component's version source into the project's `index/` folder
    Update(UpdateArgs),
    /// List each component's index: its source, releases, newest release and age
    List(ListArgs),
}

/// Arguments of `index update`.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Components to update (default: every component with a source).
    pub components: Vec<String>,
    /// Where HTTP answers are cached and revalidated (default: the build cache's `http-index`).
    #[arg(long)]
    pub cache_dir: Option<std::path::PathBuf>,
}

/// Arguments of `index list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `index`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let cwd = current_dir()?;
    match args.command {
        IndexCommand::Update(args) => update(&cwd, args),
        IndexCommand::List(args) => list(&cwd, args),
    }
}

fn project_index(
    cwd: &Path,
) -> anyhow::Result<Result<(Option<std::path::PathBuf>, Index), ExitStatus>> {
    let Some(root) = find_project_root(cwd) else {
        return Ok(Ok((None, Index::builtin().clone())));
    };
    match Index::for_project(&root) {
        Ok(index) => Ok(Ok((Some(root), index))),
        Err(error) => {
            eprintln!("error: {error}");
            eprintln!("hint: fix or delete the file; `imagesmith index update` writes it afresh");
            Ok(Err(ExitStatus::Invalid))
        }
    }
}

fn update(cwd: &Path, args: UpdateArgs) -> anyhow::Result<ExitStatus> {
    let (root, index) = match project_index(cwd)? {
        Ok(found) => found,
        Err(status) => return Ok(status),
    };
    let Some(root) = root else {
        eprintln!("error: No `imagesmith.yaml` in this folder or any folder above it");
        eprintln!(
            "hint: the index is kept in the project (`index/`); run `imagesmith init` to start one"
        );
        return Ok(ExitStatus::Invalid);
    };
    let mirrors = load_project(&root, cwd, &today())
        .ok()
        .and_then(|loaded| loaded.context.project.map(|p| p.mirrors))
        .unwrap_or_default();
    for name in &args.components {
        if index.entry(name).is_none() {
            eprintln!("error: `{name}` has no version index");
            eprintln!(
                "hint: the components with one are: {}",
                index
                    .iter()
                    .map(|(c, _)| c.component.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Ok(ExitStatus::Invalid);
        }
    }
    let cache_dir = args
        .cache_dir
        .unwrap_or_else(|| imagesmith_build::default_cache_dir().join("http-index"));
    let http = Http::new(HttpOptions {
        cache_dir: Some(cache_dir),
        ..HttpOptions::default()
    });
    let interactive = std::io::stderr().is_terminal();
    let progress = move |line: &str| {
        if interactive {
            eprint!("\r\x1b[2K  {line}");
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("  {line}");
        }
    };
    let mut context = Context::new(&today(), Credentials::from_process());
    context.mirrors = mirrors;
    context.progress = &progress;
    let selected: Vec<&ComponentIndex> = index
        .iter()
        .map(|(c, _)| c)
        .filter(|c| args.components.is_empty() || args.components.contains(&c.component))
        .collect();
    let dir = root.join(INDEX_DIR);
    fs_err::create_dir_all(&dir)?;
    let (mut updated, mut failed, total) = (0usize, 0usize, selected.len());
    for (n, current) in selected.into_iter().enumerate() {
        eprintln!(
            "[{}/{total}] {} ({})",
            n + 1,
            current.component,
            current.source.kind()
        );
        match imagesmith_sources::update(current, &http, &context) {
            Ok(fresh) => {
                if interactive {
                    eprint!("\r\x1b[2K");
                }
                let added = fresh.releases.len().saturating_sub(current.releases.len());
                let path = dir.join(format!("{}.json", fresh.component));
                let text = fresh.to_text();
                let before = fs_err::read_to_string(&path).ok();
                if before.as_deref() != Some(text.as_str()) {
                    fs_err::write(&path, &text)?;
                }
                updated += 1;
                eprintln!(
                    "      {} releases ({added} new), newest {}",
                    fresh.releases.len(),
                    fresh
                        .releases
                        .last()
                        .map(|r| r.version.as_str())
                        .unwrap_or("none")
                );
            }
            Err(error) => {
                if interactive {
                    eprint!("\r\x1b[2K");
                }
                failed += 1;
                eprintln!("      warning: {error}");
            }
        }
    }
    eprintln!(
        "Updated {updated} of {total} indexes in `{INDEX_DIR}/`{}",
        if failed > 0 {
            format!("; {failed} could not be fetched and keep their data (set a mirror in the project's `mirrors`, or credentials as `IMAGESMITH_AUTH_<HOST>`)")
        } else {
            String::new()
        }
    );
    Ok(if failed > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

fn list(cwd: &Path, args: ListArgs) -> anyhow::Result<ExitStatus> {
    let (root, index) = match project_index(cwd)? {
        Ok(found) => found,
        Err(status) => return Ok(status),
    };
    let today = today();
    let rows: Vec<serde_json::Value> = index
        .iter()
        .map(|(c, origin)| {
            let from = match origin {
                Origin::Builtin => "built-in".to_string(),
                Origin::Project(path) => root
                    .as_deref()
                    .and_then(|r| path.strip_prefix(r).ok())
                    .unwrap_or(path)
                    .display()
                    .to_string(),
            };
            serde_json::json!({
                "component": c.component,
                "source": c.source.kind(),
                "releases": c.releases.len(),
                "newest": c.releases.iter().rev().find(|r| r.revoked.is_none()).map(|r| r.version.clone()),
                "updated": c.updated,
                "age_days": days_between(&c.updated, &today),
                "partial": c.partial,
                "from": from,
            })
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(ExitStatus::Success);
    }
    writeln!(
        out,
        "{:<18} {:<16} {:>8} {:<14} {:<11} from",
        "component", "source", "releases", "newest", "updated"
    )?;
    for row in &rows {
        writeln!(
            out,
            "{:<18} {:<16} {:>8} {:<14} {:<11} {}{}",
            row["component"].as_str().unwrap_or_default(),
            row["source"].as_str().unwrap_or_default(),
            row["releases"].as_u64().unwrap_or(0),
            row["newest"].as_str().unwrap_or("-"),
            row["updated"].as_str().unwrap_or_default(),
            row["from"].as_str().unwrap_or_default(),
            if row["partial"].as_bool() == Some(true) {
                " (partial)"
            } else {
                ""
            }
        )?;
    }
    Ok(ExitStatus::Success)
}

/// Days from `from` to `to` (`YYYY-MM-DD`), when both are dates.
pub(crate) fn days_between(from: &str, to: &str) -> Option<i64> {
    Some(day_number(to)? - day_number(from)?)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (the civil-from-days inverse).
fn day_number(date: &str) -> Option<i64> {
    let mut parts = date.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_between_dates() {
        assert_eq!(super::days_between("2026-12-01", "2026-12-02"), Some(1));
        assert_eq!(super::days_between("2024-02-28", "2024-03-01"), Some(2));
        assert_eq!(super::days_between("1970-01-01", "1970-01-01"), Some(0));
        assert_eq!(super::days_between("x", "2026-12-02"), None);
    }
}
