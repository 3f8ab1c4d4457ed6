//! `imagesmith catalog [COMPONENT]`.

use crate::{current_dir, ExitStatus, OutputFormat};
use imagesmith_catalog::Catalog;
use imagesmith_diagnostics::did_you_mean;
use imagesmith_model::{Artifact, Component, VersionText};
use imagesmith_validate::{find_project_root, load_project, today};
use serde_json::json;
use std::fmt::Write as _;

/// Arguments of `catalog`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show one component in full.
    pub component: Option<String>,
    /// Output format (`human` or `json`).
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

/// Runs `catalog`: the built-in catalog plus the current project's components.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let cwd = current_dir()?;
    let catalog = match find_project_root(&cwd) {
        Some(root) => load_project(&root, &cwd, &today())?.context.catalog,
        None => imagesmith_catalog::builtin().0.clone(),
    };
    let json = matches!(args.format, OutputFormat::Json);
    match &args.component {
        None => {
            if json {
                let list: Vec<_> = catalog
                    .components
                    .values()
                    .map(|c| summary_json(c))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", table(&catalog));
            }
            Ok(ExitStatus::Success)
        }
        Some(name) => match catalog.component(name) {
            Some(component) => {
                if json {
                    println!("{}", serde_json::to_string_pretty(component.as_ref())?);
                } else {
                    print!("{}", detail(component));
                }
                Ok(ExitStatus::Success)
            }
            None => {
                eprintln!("error: Unknown component `{name}`");
                if let Some(best) =
                    did_you_mean(name, catalog.components.keys().map(String::as_str))
                {
                    eprintln!("hint: did you mean `{best}`?");
                }
                Ok(ExitStatus::Invalid)
            }
        },
    }
}

fn summary_json(c: &Component) -> serde_json::Value {
    json!({
        "name": c.name,
        "description": c.description,
        "category": c.category,
        "golden_only": c.golden_only,
        "default": c.versions.default,
        "supported": c.versions.supported,
        "os": c.platforms.keys().collect::<Vec<_>>(),
    })
}

/// The component table.
pub fn table(catalog: &Catalog) -> String {
    let os_ids: Vec<&str> = catalog.os.keys().map(String::as_str).collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "{:<18} {:<14} {:<12} {:<7}",
        "COMPONENT", "CATEGORY", "DEFAULT", "GOLDEN"
    );
    for os in &os_ids {
        let _ = write!(out, " {os:<15}");
    }
    out.push('\n');
    for c in catalog.components.values() {
        let category = serde_json::to_value(c.category)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let default = c
            .versions
            .default
            .as_ref()
            .map(VersionText::as_str)
            .unwrap_or("-");
        let _ = write!(
            out,
            "{:<18} {:<14} {:<12} {:<7}",
            c.name,
            category,
            default,
            if c.golden_only { "yes" } else { "" }
        );
        for os in &os_ids {
            let cell = match c.platforms.get(*os).map(|p| &p.artifact) {
                Some(Artifact::Package { .. }) => "package",
                Some(Artifact::Download { .. }) => "download",
                Some(Artifact::VendorApi { .. }) => "vendor-api",
                None => "-",
            };
            let _ = write!(out, " {cell:<15}");
        }
        out.push('\n');
    }
    out
}

/// One component in full.
pub fn detail(c: &Component) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} — {}", c.name, c.description);
    if let Some(home) = &c.homepage {
        let _ = writeln!(out, "homepage: {home}");
    }
    let join = |v: &[VersionText]| {
        v.iter()
            .map(VersionText::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "versions: {}", join(&c.versions.supported));
    if let Some(index) = imagesmith_index::Index::builtin().get(&c.name) {
        let newest = index
            .releases
            .iter()
            .rev()
            .find(|r| r.revoked.is_none())
            .map(|r| r.version.as_str())
            .unwrap_or("-");
        let _ = writeln!(
            out,
            "releases: {} in the version index{} ({}), newest {newest}, gathered {}",
            index.releases.len(),
            if index.partial { ", partial" } else { "" },
            index.source.kind(),
            index.updated
        );
    }
    if let Some(d) = &c.versions.default {
        let _ = writeln!(out, "default: {d}");
    }
    for (label, notes) in [
        ("deprecated", &c.versions.deprecated),
        ("end of life", &c.versions.end_of_life),
        ("revoked", &c.versions.revoked),
    ] {
        for n in notes {
            let _ = writeln!(
                out,
                "{label}: {}{}{}",
                n.version,
                n.date
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                n.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
        }
    }
    if !c.conflicts.is_empty() {
        let _ = writeln!(out, "conflicts: {}", c.conflicts.join(", "));
    }
    for p in &c.parameters {
        let _ = writeln!(
            out,
            "parameter {}{}: {}",
            p.name,
            if p.secret { " (secret)" } else { "" },
            p.description
        );
    }
    for (os, platform) in &c.platforms {
        let how = install_method(&platform.artifact);
        let _ = writeln!(out, "{os}: {how}");
        if let Some(v) = &platform.versions {
            let _ = writeln!(out, "  versions: {}", join(v));
        }
        let mut otherwise = platform.otherwise.as_deref();
        while let Some(method) = otherwise {
            let how = install_method(&method.artifact);
            let versions = method
                .versions
                .as_deref()
                .map(|v| format!(" ({})", join(v)))
                .unwrap_or_else(|| " (any other release)".into());
            let _ = writeln!(out, "  otherwise{versions}: {how}");
            otherwise = method.otherwise.as_deref();
        }
        for note in &platform.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    out
}

fn install_method(artifact: &Artifact) -> String {
    match artifact {
        Artifact::Package { names, .. } => format!("package {}", names.join(" ")),
        Artifact::Download { url, .. } => format!("download {url}"),
        Artifact::VendorApi { description, .. } => format!("vendor API: {description}"),
    }
}
