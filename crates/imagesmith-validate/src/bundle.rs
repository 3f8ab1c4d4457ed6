//! Checking many files at once, each in the context of its project, and the validated
//! project bundle every command that does work starts from.

use crate::{
    check_file, discover, find_project_root, load_project, Context, Document, FileReport,
    LoadedProject, ProjectError, Validated, PROJECT_FILE,
};
use imagesmith_catalog::file_stem;
use imagesmith_diagnostics::{Diagnostics, SourceFile};
use imagesmith_model::{DocumentKind, Spec};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a report keeps of each file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Documents and sources, for commands that go on to plan.
    Everything,
    /// Only diagnostics and the sources they point into: thousands of files stay cheap.
    Diagnostics,
}

/// Checks files, each in the context of the project it belongs to (or the built-in catalog).
pub fn check_files(
    files: &[PathBuf],
    base: &Path,
    kind: Option<DocumentKind>,
    today: &str,
    keep: Keep,
) -> Result<Vec<FileReport>, ProjectError> {
    // Group files by project so each project is loaded once.
    let mut groups: BTreeMap<Option<PathBuf>, Vec<&PathBuf>> = BTreeMap::new();
    // Thousands of files share a few folders: look each folder's project up once.
    let mut roots: HashMap<&Path, Option<PathBuf>> = HashMap::new();
    for file in files {
        let parent = file.parent().unwrap_or(Path::new("."));
        let root = roots
            .entry(parent)
            .or_insert_with(|| {
                find_project_root(if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                })
            })
            .clone();
        groups.entry(root).or_default().push(file);
    }
    let mut reports = Vec::with_capacity(files.len());
    for (root, group) in groups {
        let project = match &root {
            Some(root) => Some(load_project(root, base, today)?),
            None => None,
        };
        reports.append(&mut check_group(
            &group,
            base,
            kind,
            today,
            project.as_ref(),
            keep,
        ));
    }
    Ok(reports)
}

/// Checks files of one project (or of none: the built-in catalog) in parallel.
pub fn check_group(
    files: &[&PathBuf],
    base: &Path,
    kind: Option<DocumentKind>,
    today: &str,
    project: Option<&LoadedProject>,
    keep: Keep,
) -> Vec<FileReport> {
    let builtin;
    let context = match project {
        Some(project) => &project.context,
        None => {
            let mut context = Context::builtin();
            context.today = today.to_string();
            builtin = context;
            &builtin
        }
    };
    let project_file = project.map(|p| p.root.join(PROJECT_FILE));
    files
        .par_iter()
        .map(|file| {
            if let (Some(project), Some(project_file)) = (project, &project_file) {
                let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
                if &absolute == project_file {
                    return project.project_report.clone();
                }
            }
            let mut report = check_file(file, base, kind, context);
            if keep == Keep::Diagnostics {
                report.document = None;
                if report.diagnostics.is_empty() {
                    report.source = SourceFile::new(report.path.clone(), "");
                }
            }
            report
        })
        .collect()
}

/// A customer spec with the name of its image and the file it came from.
#[derive(Debug, Clone)]
pub struct NamedSpec {
    /// The image name.
    pub name: String,
    /// The file, relative to the project folder.
    pub source: String,
    /// The spec.
    pub spec: Validated<Spec>,
}

/// A project file's name and text, kept to point into it (`imagesmith.yaml:41`).
#[derive(Debug, Clone)]
pub struct ProjectText {
    /// The file as shown (relative to the folder the command ran in).
    pub shown: Arc<str>,
    /// Its text.
    pub text: String,
}

/// A project whose every document passed every check: what locking starts from, and the
/// only way to get one is [`validate_project`] (or [`ValidatedProject::builtin`]).
#[derive(Debug, Clone)]
pub struct ValidatedProject {
    /// The project folder, or `None` for the built-in catalog alone.
    pub root: Option<PathBuf>,
    /// The folder paths in diagnostics and in the catalog's sources are shown relative to.
    pub base: PathBuf,
    /// The catalog (built-in plus the project's components and recipes) and the project.
    pub context: Context,
    /// The customer specs under the project's spec folders, by image name.
    pub specs: Vec<NamedSpec>,
    /// The project's own golden recipes, by image name.
    pub recipes: Vec<String>,
    /// The project file's text, when there is a project.
    pub project_text: Option<ProjectText>,
}

impl ValidatedProject {
    /// The built-in catalog with no project: every golden recipe it has.
    pub fn builtin(today: &str) -> ValidatedProject {
        let mut context = Context::builtin();
        context.today = today.to_string();
        ValidatedProject {
            root: None,
            base: PathBuf::from("."),
            context,
            specs: Vec::new(),
            recipes: Vec::new(),
            project_text: None,
        }
    }
}

/// Why a project is not valid: every problem of every file.
#[derive(Debug, Clone)]
pub struct InvalidProject {
    /// The problems, sorted.
    pub diagnostics: Diagnostics,
    /// The text of each file a problem points into.
    pub sources: HashMap<Arc<str>, SourceFile>,
    /// How many files were checked.
    pub files: usize,
}

/// Validates the project at or above `cwd` (the built-in catalog alone when there is none):
/// every file of it, in parallel, with paths shown relative to `cwd`. Only a project with no
/// error gives a [`ValidatedProject`].
pub fn validate_project(
    cwd: &Path,
    today: &str,
) -> Result<Result<ValidatedProject, InvalidProject>, ProjectError> {
    let Some(root) = find_project_root(cwd) else {
        return Ok(Ok(ValidatedProject::builtin(today)));
    };
    let loaded: LoadedProject = load_project(&root, cwd, today)?;
    let files = discover(std::slice::from_ref(&root))?;
    let file_refs: Vec<&PathBuf> = files.iter().collect();
    let reports = check_group(
        &file_refs,
        cwd,
        None,
        today,
        Some(&loaded),
        Keep::Everything,
    );
    let mut diagnostics = Diagnostics::new();
    let mut sources: HashMap<Arc<str>, SourceFile> = HashMap::new();
    let mut specs = Vec::new();
    let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
    let spec_files: std::collections::HashSet<PathBuf> =
        loaded.specs.iter().map(absolute).collect();
    let project_file = absolute(&root.join(PROJECT_FILE));
    let mut project_text = None;
    for (file, report) in files.iter().zip(reports) {
        let path = absolute(file);
        if path == project_file {
            project_text = Some(ProjectText {
                shown: report.path.clone(),
                text: report.source.text.to_string(),
            });
        }
        if !report.diagnostics.is_empty() {
            sources.insert(report.path.clone(), report.source.clone());
            diagnostics.extend(report.diagnostics);
        }
        // Only files under the project's spec folders are images.
        if !spec_files.contains(&path) {
            continue;
        }
        if let Some(Document::Spec(spec)) = report.document.as_ref().map(|document| document.get())
        {
            let name = spec
                .name
                .clone()
                .unwrap_or_else(|| file_stem(&file.to_string_lossy()).to_string());
            specs.push(NamedSpec {
                name,
                source: crate::project::display_path(&path, &root),
                spec: Validated(spec.clone()),
            });
        }
    }
    if diagnostics.has_errors() {
        diagnostics.sort();
        return Ok(Err(InvalidProject {
            diagnostics,
            sources,
            files: files.len(),
        }));
    }
    let recipes = loaded
        .recipes
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    Ok(Ok(ValidatedProject {
        root: Some(root),
        base: cwd.to_path_buf(),
        context: loaded.context,
        specs,
        recipes,
        project_text,
    }))
}

impl ValidatedProject {
    /// A source as the catalog shows it (relative to [`ValidatedProject::base`], or
    /// `<built-in>/…`), made relative to the project folder, so that what is recorded does not
    /// depend on the folder a command ran in.
    pub fn project_relative(&self, shown: &str) -> String {
        let Some(root) = &self.root else {
            return shown.to_string();
        };
        if shown.starts_with(imagesmith_catalog::BUILT_IN) {
            return shown.to_string();
        }
        let path = std::path::absolute(self.base.join(shown)).unwrap_or_else(|_| shown.into());
        // `..` parts are resolved by hand: the file may not exist any more.
        let mut clean = PathBuf::new();
        for part in path.components() {
            match part {
                std::path::Component::ParentDir => {
                    clean.pop();
                }
                std::path::Component::CurDir => {}
                other => clean.push(other),
            }
        }
        crate::project::display_path(&clean, root)
    }
}
