//! Finding and loading a project from disk: `imagesmith.yaml` plus its recipes, specs and
//! components.

use crate::{check_bytes, Context, Document, FileReport};
use imagesmith_catalog::file_stem;
use imagesmith_diagnostics::Code;
use imagesmith_model::{decode, DocumentKind, Project};
use imagesmith_yaml::{load_bytes, open_regular, Limits, ReadError};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The project file name.
pub const PROJECT_FILE: &str = "imagesmith.yaml";

/// The manifest `imagesmith render` writes in its output folder: a JSON list of the files it
/// wrote, relative to that folder. Those files are output, never input.
pub const RENDER_MANIFEST: &str = ".imagesmith-render.json";

/// The largest render manifest read (a path per rendered file: far below this).
const RENDER_MANIFEST_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Files that render manifests list, as absolute paths.
#[derive(Debug, Default)]
struct RenderedFiles(HashSet<PathBuf>);

impl RenderedFiles {
    /// Adds the files of the manifest in `dir`, if it has one. A manifest that cannot be
    /// read as a list of relative paths lists nothing.
    fn add_manifest(&mut self, dir: &Path) {
        let Ok(bytes) =
            imagesmith_yaml::read_regular(&dir.join(RENDER_MANIFEST), RENDER_MANIFEST_MAX_BYTES)
        else {
            return;
        };
        let Ok(paths) = serde_json::from_slice::<Vec<String>>(&bytes) else {
            return;
        };
        let dir = absolute(dir);
        for path in paths {
            let inside = !path.is_empty()
                && !path.starts_with('/')
                && path.split('/').all(|p| !p.is_empty() && p != "..");
            if inside {
                self.0.insert(dir.join(path));
            }
        }
    }

    fn contains(&self, path: &Path) -> bool {
        !self.0.is_empty() && self.0.contains(&absolute(path))
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Why a project could not be read at all (as opposed to being invalid).
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// A file or folder could not be read.
    #[error("Cannot read `{path}`: {source}")]
    Read {
        /// What was being read.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A file of the project is not a regular file, or could not be read.
    #[error(transparent)]
    File(#[from] ReadError),
    /// A file of the project's version index is not valid.
    #[error(transparent)]
    Index(#[from] imagesmith_index::IndexError),
}

/// A project read from disk and the context its documents are checked in.
#[derive(Debug, Clone)]
pub struct LoadedProject {
    /// The folder holding `imagesmith.yaml`.
    pub root: PathBuf,
    /// The project file's own report.
    pub project_report: FileReport,
    /// The catalog with the project's components and recipes, and the project.
    pub context: Context,
    /// The project's recipe files, by image name.
    pub recipes: Vec<(String, PathBuf)>,
    /// The project's spec files.
    pub specs: Vec<PathBuf>,
    /// The project's component files.
    pub components: Vec<PathBuf>,
}

/// The nearest folder at or above `start` holding `imagesmith.yaml`.
pub fn find_project_root(start: &Path) -> Option<PathBuf> {
    let start = if start.is_file() {
        start.parent()?
    } else {
        start
    };
    let start = std::path::absolute(start).ok()?;
    start
        .ancestors()
        .find(|dir| dir.join(PROJECT_FILE).is_file())
        .map(Path::to_path_buf)
}

/// Every YAML file at or below `paths`, sorted, skipping hidden folders (`.github/`, `.git/`),
/// build output (`target/`, `node_modules/`) and rendered output: every file a render
/// manifest ([`RENDER_MANIFEST`]) lists, whether the manifest is in a folder walked or above
/// it — so neither `rendered/` nor a render into the project root (`--out .`) is read as
/// input. A file named in `paths` is checked as asked.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ProjectError> {
    let mut out = Vec::new();
    for path in paths {
        let metadata = fs_err::metadata(path).map_err(|e| ProjectError::Read {
            path: path.clone(),
            source: e,
        })?;
        if metadata.is_dir() {
            let mut rendered = RenderedFiles::default();
            for above in absolute(path).ancestors().skip(1) {
                rendered.add_manifest(above);
            }
            walk(path, &mut rendered, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    rendered: &mut RenderedFiles,
    out: &mut Vec<PathBuf>,
) -> Result<(), ProjectError> {
    let read = |e: std::io::Error| ProjectError::Read {
        path: dir.to_path_buf(),
        source: e,
    };
    rendered.add_manifest(dir);
    // Each name is taken once: `DirEntry::file_name` allocates, so sorting by it would
    // allocate twice per comparison.
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read)?
        .map(|entry| entry.map(|e| (e.file_name(), e)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    entries.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    for (name, entry) in entries {
        let name = name.to_string_lossy();
        let path = entry.path();
        let file_type = entry.file_type().map_err(read)?;
        if file_type.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                walk(&path, rendered, out)?;
            }
        } else if (name.ends_with(".yaml") || name.ends_with(".yml")) && !rendered.contains(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads a file for checking, never more than one byte past the size limit: the loader
/// reports an oversized file without the rest of it being read. FIFOs, devices and sockets
/// are refused before they are read (see [`open_regular`]).
pub(crate) fn read_limited(path: &Path) -> Result<Vec<u8>, ReadError> {
    with_file_bytes(path, <[u8]>::to_vec)
}

/// Reads a file as [`read_limited`] does into a buffer kept per thread, and hands its bytes to
/// `f`: checking thousands of small files allocates no read buffer per file.
pub(crate) fn with_file_bytes<T>(path: &Path, f: impl FnOnce(&[u8]) -> T) -> Result<T, ReadError> {
    use std::cell::RefCell;
    use std::io::Read;
    thread_local! {
        static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let limit = Limits::DEFAULT.max_bytes as u64 + 1;
    let mut file = open_regular(path)?.0.take(limit);
    BUFFER.with(|cell| {
        // A re-entrant call (none today) gets a buffer of its own rather than a panic.
        let mut own = Vec::new();
        let mut borrowed = cell.try_borrow_mut();
        let buffer = match borrowed.as_mut() {
            Ok(buffer) => &mut **buffer,
            Err(_) => &mut own,
        };
        buffer.clear();
        // Room for a typical document up front: one read fills it and one more sees the end
        // (an empty buffer makes std probe with 32-byte reads first).
        buffer.reserve(16 * 1024);
        file.read_to_end(buffer).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let result = f(buffer);
        // A huge file's buffer is not kept for the next one.
        if buffer.capacity() > 64 * 1024 {
            *buffer = Vec::new();
        }
        Ok(result)
    })
}

/// A path shown relative to `base` when it is below it.
pub(crate) fn display_path(path: &Path, base: &Path) -> String {
    let shown = path.strip_prefix(base).unwrap_or(path);
    shown.to_string_lossy().replace('\\', "/")
}

/// Loads the project at `root`: its file, then its components and recipes into the catalog.
pub fn load_project(root: &Path, base: &Path, today: &str) -> Result<LoadedProject, ProjectError> {
    let project_path = root.join(PROJECT_FILE);
    let read = |path: &Path| read_limited(path).map_err(ProjectError::File);
    let project_bytes = read(&project_path)?;
    let project_name: Arc<str> = display_path(&project_path, base).into();
    // Decode the project first to find its folders; it is checked once the catalog is complete.
    let project: Option<Project> = {
        let loaded = load_bytes(project_name.clone(), &project_bytes, Limits::DEFAULT);
        let mut scratch = imagesmith_diagnostics::Diagnostics::new();
        loaded.root.as_ref().and_then(|root| {
            let mut decoder = decode::Decoder::new(&project_name, &mut scratch);
            decode::project(&mut decoder, root)
        })
    };
    let paths = project
        .as_ref()
        .and_then(|p| p.paths.clone())
        .unwrap_or_default();
    let folders = |given: &[String], default: &str| -> Vec<PathBuf> {
        if given.is_empty() {
            vec![root.join(default)]
        } else {
            given.iter().map(|g| root.join(g)).collect()
        }
    };
    let existing = |dirs: Vec<PathBuf>| -> Result<Vec<PathBuf>, ProjectError> {
        let dirs: Vec<PathBuf> = dirs.into_iter().filter(|d| d.exists()).collect();
        discover(&dirs)
    };
    let component_files = existing(folders(&paths.components, "components"))?;
    let recipe_files = existing(folders(&paths.recipes, "recipes"))?;
    let spec_files = existing(folders(&paths.specs, "specs"))?;

    let builtin = &imagesmith_catalog::builtin().0;
    // Decoding only: these files get their full checks (and their diagnostics) when they are
    // validated themselves; here they extend the catalog the other files are checked against.
    let decode_file =
        |path: &Path| -> Result<Option<(Arc<str>, imagesmith_yaml::Node)>, ProjectError> {
            let bytes = read(path)?;
            let name: Arc<str> = display_path(path, base).into();
            Ok(load_bytes(name.clone(), &bytes, Limits::DEFAULT)
                .root
                .map(|root| (name, root)))
        };
    let mut components = Vec::new();
    for path in &component_files {
        if let Some((name, root)) = decode_file(path)? {
            let mut scratch = imagesmith_diagnostics::Diagnostics::new();
            if let Some(c) =
                decode::component(&mut decode::Decoder::new(&name, &mut scratch), &root)
            {
                components.push((name, c));
            }
        }
    }
    let catalog = builtin.with_components(components);
    let mut recipes = Vec::new();
    let mut recipe_names = Vec::new();
    for path in &recipe_files {
        if let Some((name, root)) = decode_file(path)? {
            let mut scratch = imagesmith_diagnostics::Diagnostics::new();
            if let Some(r) = decode::recipe(&mut decode::Decoder::new(&name, &mut scratch), &root) {
                let image = r
                    .name
                    .clone()
                    .unwrap_or_else(|| file_stem(&path.to_string_lossy()).to_string());
                recipe_names.push((image.clone(), path.clone()));
                recipes.push((image, name, r));
            }
        }
    }
    let catalog = catalog.with_recipes(recipes);
    let index = imagesmith_index::Index::for_project(root)?;
    let mut context = Context {
        catalog,
        project: None,
        today: today.to_string(),
        index,
    };
    let project_report = check_bytes(
        project_name,
        &project_bytes,
        Some(DocumentKind::Project),
        &context,
    );
    if let Some(Document::Project(p)) = project_report.document.as_ref().map(|d| d.get()) {
        context.project = Some(p.clone());
    } else {
        // An invalid project file still lends its defaults to the other checks.
        context.project = project;
    }
    // Checks that need every image of the project: the recipes and the specs
    let mut project_report = project_report;
    if let Some(p) = &context.project {
        let found = waiver_images(p, &project_report.path, &project_report.source.text, || {
            let mut images: Vec<String> = context.catalog.recipes.keys().cloned().collect();
            images.extend(spec_files.iter().map(|path| spec_name(path)));
            images
        });
        if !found.is_empty() {
            project_report.diagnostics.extend(found);
            project_report.document = None;
        }
    }
    Ok(LoadedProject {
        root: root.to_path_buf(),
        project_report,
        context,
        recipes: recipe_names,
        specs: spec_files,
        components: component_files,
    })
}

/// Checks one file from disk in `context`, with its path shown relative to `base`.
pub fn check_file(
    path: &Path,
    base: &Path,
    kind: Option<DocumentKind>,
    context: &Context,
) -> FileReport {
    let name: Arc<str> = display_path(path, base).into();
    match with_file_bytes(path, |bytes| {
        check_bytes(name.clone(), bytes, kind, context)
    }) {
        Ok(report) => report,
        Err(error) => {
            let (code, message) = match &error {
                ReadError::Io { source, .. } => {
                    (Code::IoError, format!("Cannot read `{name}`: {source}"))
                }
                ReadError::NotRegular { kind, .. } => (
                    Code::NotARegularFile,
                    format!("`{name}` is {kind}, not a regular file; it was not read"),
                ),
                ReadError::TooLarge { size, limit, .. } => (
                    Code::FileTooLarge,
                    format!("File is {size} bytes, larger than the limit of {limit} bytes"),
                ),
            };
            let mut diagnostics = imagesmith_diagnostics::Diagnostics::new();
            diagnostics.push(
                imagesmith_diagnostics::Diagnostic::error(&name, None, code, message)
                    .with_hint_opt(error.hint().map(str::to_string)),
            );
            FileReport {
                source: imagesmith_diagnostics::SourceFile::new(name.clone(), ""),
                path: name,
                kind,
                document: None,
                diagnostics,
            }
        }
    }
}

/// A waiver's `image` that names no image of the project (a typo would waive nothing
/// and leave the finding failing the gate, or waive it in an image renamed later)
fn waiver_images(
    project: &Project,
    shown: &Arc<str>,
    text: &str,
    images: impl FnOnce() -> Vec<String>,
) -> imagesmith_diagnostics::Diagnostics {
    let mut found = imagesmith_diagnostics::Diagnostics::new();
    let Some(waivers) = project.scanners.as_ref().map(|scanners| &scanners.waivers) else {
        return found;
    };
    if waivers.iter().all(|waiver| waiver.image.is_none()) {
        return found;
    }
    let images = images();
    let loaded = imagesmith_yaml::load_str(shown.clone(), text, Limits::DEFAULT);
    let nodes = loaded
        .root
        .as_ref()
        .and_then(|root| root.get("scanners"))
        .and_then(|scanners| scanners.get("waivers"))
        .and_then(|waivers| waivers.as_sequence());
    for (index, waiver) in waivers.iter().enumerate() {
        let Some(image) = &waiver.image else { continue };
        if images.iter().any(|name| name == image) {
            continue;
        }
        let span = nodes
            .and_then(|nodes| nodes.get(index))
            .and_then(|node| node.get("image"))
            .map(|node| node.span);
        let hint = match imagesmith_diagnostics::did_you_mean(image, images.iter().map(String::as_str)) {
            Some(close) => format!("did you mean `{close}`?"),
            None => String::from(
                "name a recipe or spec of the project (`imagesmith plan` lists them), or drop `image` to waive the finding in every image",
            ),
        };
        found.push(
            imagesmith_diagnostics::Diagnostic::error(
                shown,
                span,
                imagesmith_diagnostics::Code::UnknownImage,
                format!(
                    "The waiver of `{}` names image `{image}`, which the project does not have",
                    waiver.id
                ),
            )
            .with_hint(hint),
        );
    }
    found
}

/// The image a spec file makes: its `name`, else its file name without the extension
fn spec_name(path: &Path) -> String {
    let stem = || file_stem(&path.to_string_lossy()).to_string();
    let Ok(bytes) = read_limited(path) else {
        return stem();
    };
    let loaded = load_bytes(Arc::from(""), &bytes, Limits::DEFAULT);
    loaded
        .root
        .as_ref()
        .and_then(|root| root.get("name"))
        .and_then(|name| name.as_str())
        .map(str::to_owned)
        .unwrap_or_else(stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }

    /// Files a render manifest lists are output, wherever the manifest is (the folder walked,
    /// one below it, one above it); `.github/` is never read; files it does not list are.
    #[test]
    fn discover_skips_rendered_files_and_github() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("imagesmith.yaml"), "x: 1\n");
        write(&root.join("specs/app.yaml"), "x: 1\n");
        write(&root.join("components/mine.yaml"), "x: 1\n");
        // `render --out .`: the manifest in the root.
        write(&root.join("awstoe/linux/a.yaml"), "x: 1\n");
        write(&root.join("cloudformation/a.yml"), "x: 1\n");
        write(&root.join(".github/workflows/validate.yml"), "x: 1\n");
        write(&root.join("awstoe/linux/hand-written.yaml"), "x: 1\n");
        write(
            &root.join(RENDER_MANIFEST),
            r#"["awstoe/linux/a.yaml", "cloudformation/a.yml", ".github/workflows/validate.yml", "../outside.yaml"]"#,
        );
        // The default `rendered/`.
        write(&root.join("rendered/awstoe/b.yaml"), "x: 1\n");
        write(
            &root.join("rendered/.imagesmith-render.json"),
            r#"["awstoe/b.yaml"]"#,
        );
        let shown = |files: Vec<PathBuf>| -> Vec<String> {
            files
                .iter()
                .map(|f| display_path(f, root))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shown(discover(&[root.to_path_buf()]).unwrap()),
            [
                "awstoe/linux/hand-written.yaml",
                "components/mine.yaml",
                "imagesmith.yaml",
                "specs/app.yaml"
            ]
        );
        // Walking a folder below the manifest reads the manifest above it.
        assert_eq!(
            shown(discover(&[root.join("awstoe")]).unwrap()),
            ["awstoe/linux/hand-written.yaml"]
        );
        // A file named on the command line is checked as asked.
        assert_eq!(
            shown(discover(&[root.join("awstoe/linux/a.yaml")]).unwrap()),
            ["awstoe/linux/a.yaml"]
        );
    }
}
