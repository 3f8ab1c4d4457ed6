//! Loading the current project, validating all of it and planning its images: what every
//! command that does work (`build`, `render`) starts with. Nothing is built or rendered
//! from a project with an invalid document.

use crate::commands::validate::{check_group, Keep};
use crate::{color_stdout, ExitStatus};
use anyhow::Context as _;
use imagesmith_catalog::file_stem;
use imagesmith_diagnostics::{render, Diagnostics, Format, HumanOptions, SourceFile};
use imagesmith_plan::{plan, BuildPlan, NamedSpec};
use imagesmith_validate::{
    discover, find_project_root, load_project, today, Context, LoadedProject,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A validated, planned project.
#[derive(Debug)]
pub struct Planned {
    /// The project folder, or `None` when running on the built-in catalog alone.
    pub root: Option<PathBuf>,
    /// The context documents were checked in.
    pub context: Context,
    /// The plan.
    pub plan: BuildPlan,
}

/// Validates the project at or above `cwd` (or the built-in catalog when there is none) and
/// plans the images in `only` (all when empty). Diagnostics are printed to stderr; an
/// invalid project gives `Err(ExitStatus::Invalid)`.
pub fn load_and_plan(cwd: &Path, only: &[String]) -> anyhow::Result<Result<Planned, ExitStatus>> {
    let today = today();
    let Some(root) = find_project_root(cwd) else {
        let context = Context::builtin();
        let plan = match plan(&context, &[], &[], only) {
            Ok(plan) => plan,
            Err(error) => {
                eprintln!("error: {error}");
                return Ok(Err(ExitStatus::Invalid));
            }
        };
        return Ok(Ok(Planned {
            root: None,
            context,
            plan,
        }));
    };
    let loaded: LoadedProject = load_project(&root, cwd, &today)
        .with_context(|| format!("Cannot load the project at `{}`", root.display()))?;
    let files = discover(std::slice::from_ref(&root)).context("Cannot list the project's files")?;
    let file_refs: Vec<&PathBuf> = files.iter().collect();
    let reports = check_group(
        &file_refs,
        cwd,
        None,
        &today,
        Some(&loaded),
        Keep::Everything,
    );
    let mut diagnostics = Diagnostics::new();
    let mut sources: HashMap<Arc<str>, SourceFile> = HashMap::new();
    let mut specs = Vec::new();
    let spec_files: Vec<PathBuf> = loaded
        .specs
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    for (file, report) in files.iter().zip(reports) {
        let absolute = std::path::absolute(file).unwrap_or_else(|_| file.clone());
        if !report.diagnostics.is_empty() {
            sources.insert(report.path.clone(), report.source.clone());
            diagnostics.extend(report.diagnostics);
        }
        // Only files under the project's spec folders are images to plan.
        if !spec_files.contains(&absolute) {
            continue;
        }
        if let Some(spec) = report.document.and_then(|d| d.into_spec()) {
            let name = spec
                .name
                .clone()
                .unwrap_or_else(|| file_stem(&file.to_string_lossy()).to_string());
            specs.push(NamedSpec {
                name,
                source: report.path.to_string(),
                spec,
            });
        }
    }
    if diagnostics.has_errors() {
        diagnostics.sort();
        eprint!(
            "{}",
            render(
                &diagnostics,
                &sources,
                files.len(),
                Format::Human,
                HumanOptions {
                    color: color_stdout()
                }
            )
        );
        eprintln!("error: The project has invalid documents; nothing was done");
        return Ok(Err(ExitStatus::Invalid));
    }
    let recipes: Vec<String> = loaded
        .recipes
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    match plan(&loaded.context, &specs, &recipes, only) {
        Ok(plan) => Ok(Ok(Planned {
            root: Some(root),
            context: loaded.context,
            plan,
        })),
        Err(error) => {
            eprintln!("error: {error}");
            if let imagesmith_plan::PlanError::UnknownImage {
                suggestion: Some(s),
                ..
            } = &error
            {
                eprintln!("hint: did you mean `{s}`?");
            }
            Ok(Err(ExitStatus::Invalid))
        }
    }
}
