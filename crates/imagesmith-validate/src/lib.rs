//! Validation: turns parsed documents into [`Validated`] ones, reporting every problem at once.
//!
//! A file goes through three passes, each adding diagnostics without stopping the others:
//! YAML loading (syntax, duplicate keys, limits), decoding (structure, types, unknown keys),
//! and semantic checks against the catalog and the project (unknown components, versions,
//! OS support, conflicts, image types). Only a file with no error yields a [`Validated`]
//! document, so later stages cannot be handed an unchecked one.
#![deny(missing_docs)]

mod bundle;
mod checks;
mod date;
mod project;
pub mod versions;

pub use bundle::{
    check_files, check_group, validate_project, InvalidProject, Keep, NamedSpec, ProjectText,
    ValidatedProject,
};
pub use checks::{
    golden_image_parts, nearest_obtainable, recipe_image_type, recipe_os, resolve_version, Judged,
    Resolution, Unresolved, VersionSource,
};
pub use date::today;
pub use project::{
    check_file, discover, find_project_root, load_project, LoadedProject, ProjectError,
    PROJECT_FILE, RENDER_MANIFEST,
};

use imagesmith_catalog::Catalog;
use imagesmith_diagnostics::{Code, Diagnostic, Diagnostics, SourceFile};
use imagesmith_model::{decode, Component, DocumentKind, Os, Project, Recipe, Spec};
use imagesmith_yaml::{load_bytes, Limits, Node};
use std::sync::Arc;

/// A decoded document of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// A customer spec.
    Spec(Spec),
    /// A golden recipe.
    Recipe(Recipe),
    /// A component definition.
    Component(Component),
    /// A project file.
    Project(Project),
    /// An OS definition of the catalog.
    Os(Os),
}

impl Document {
    /// Its kind.
    pub fn kind(&self) -> DocumentKind {
        match self {
            Document::Spec(_) => DocumentKind::Spec,
            Document::Recipe(_) => DocumentKind::Recipe,
            Document::Component(_) => DocumentKind::Component,
            Document::Project(_) => DocumentKind::Project,
            Document::Os(_) => DocumentKind::Os,
        }
    }
}

/// A document that passed every check. Only this crate makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated<T>(T);

impl<T> Validated<T> {
    /// The document.
    pub fn get(&self) -> &T {
        &self.0
    }

    /// The document, owned.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl Validated<Document> {
    /// The spec, when the validated document is one.
    pub fn into_spec(self) -> Option<Validated<Spec>> {
        match self.0 {
            Document::Spec(spec) => Some(Validated(spec)),
            _ => None,
        }
    }
}

impl<T> std::ops::Deref for Validated<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// What checks are made against.
#[derive(Debug, Clone)]
pub struct Context {
    /// The catalog: built-in plus the project's own components and recipes.
    pub catalog: Catalog,
    /// The project, when the file belongs to one.
    pub project: Option<Project>,
    /// Today's date, `YYYY-MM-DD`, for end-of-life checks.
    pub today: String,
    /// The version index: the built-in snapshot with the project's `index/` on top.
    pub index: imagesmith_index::Index,
}

impl Context {
    /// The built-in catalog, no project, today's date.
    pub fn builtin() -> Context {
        Context {
            catalog: imagesmith_catalog::builtin().0.clone(),
            project: None,
            today: today(),
            index: imagesmith_index::Index::builtin().clone(),
        }
    }
}

/// The outcome of checking one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file's name as shown.
    pub path: Arc<str>,
    /// The file's text, for snippets.
    pub source: SourceFile,
    /// The kind it was read as.
    pub kind: Option<DocumentKind>,
    /// The document, when it had no error.
    pub document: Option<Validated<Document>>,
    /// Every problem found.
    pub diagnostics: Diagnostics,
}

/// Recognises a document's kind from an explicit `kind:` or from its keys.
pub fn detect_kind(root: &Node) -> Option<DocumentKind> {
    if let Some(kind) = root.get("kind").and_then(Node::as_str) {
        return DocumentKind::ALL.into_iter().find(|k| k.as_str() == kind);
    }
    let has = |key: &str| root.get(key).is_some();
    if has("family") && has("package_manager") {
        Some(DocumentKind::Os)
    } else if has("platforms") || has("versions") || has("schemaVersion") || has("phases") {
        Some(DocumentKind::Component)
    } else if has("image_type") && !has("os") {
        Some(DocumentKind::Spec)
    } else if has("registry")
        || has("defaults")
        || has("scanners")
        || has("paths")
        || has("mirrors")
    {
        Some(DocumentKind::Project)
    } else if let Some(base) = root.get("base_image").and_then(Node::as_str) {
        if base.starts_with("golden-") {
            Some(DocumentKind::Spec)
        } else {
            Some(DocumentKind::Recipe)
        }
    } else {
        None
    }
}

/// Checks one file's bytes. `kind` forces the document kind (otherwise it is recognised).
pub fn check_bytes(
    path: impl Into<Arc<str>>,
    bytes: &[u8],
    kind: Option<DocumentKind>,
    context: &Context,
) -> FileReport {
    let path: Arc<str> = path.into();
    let loaded = load_bytes(path.clone(), bytes, Limits::DEFAULT);
    let mut diagnostics = loaded.diagnostics;
    let Some(root) = loaded.root else {
        return FileReport {
            path,
            source: loaded.source,
            kind,
            document: None,
            diagnostics,
        };
    };
    if kind.is_none() {
        if let Some(node) = root.get("kind") {
            let written = node.as_str().unwrap_or_default();
            if !DocumentKind::ALL.iter().any(|k| k.as_str() == written) {
                let names = DocumentKind::ALL.map(DocumentKind::as_str);
                let hint = imagesmith_diagnostics::did_you_mean(written, names)
                    .map(|b| format!("did you mean `{b}`?"))
                    .unwrap_or_else(|| format!("expected one of: {}", names.join(", ")));
                diagnostics.push(
                    Diagnostic::error(
                        &path,
                        Some(node.span),
                        Code::InvalidValue,
                        format!("Unknown document kind `{written}`"),
                    )
                    .with_hint(hint),
                );
                return FileReport {
                    path,
                    source: loaded.source,
                    kind: None,
                    document: None,
                    diagnostics,
                };
            }
        }
    }
    let kind = kind.or_else(|| detect_kind(&root));
    let document = match kind {
        None => {
            let d = if root.as_mapping().is_none() {
                Diagnostic::error(
                    &path,
                    Some(root.span),
                    Code::UnknownDocument,
                    format!(
                        "Expected a mapping at the top of the file, found {}",
                        root.type_name()
                    ),
                )
                .with_hint("a spec starts with `image_type:`, `base_image:` and `components:`")
            } else {
                Diagnostic::error(
                    &path,
                    Some(imagesmith_diagnostics::Span::point(root.span.start)),
                    Code::UnknownDocument,
                    "Cannot tell what kind of document this is",
                )
                .with_hint(
                    "add `kind: spec` (or recipe, component, project); a spec needs `image_type` and `base_image`",
                )
            };
            diagnostics.push(d);
            None
        }
        Some(kind) => {
            let mut decoder = decode::Decoder::new(&path, &mut diagnostics);
            let document = match kind {
                DocumentKind::Spec => decode::spec(&mut decoder, &root).map(Document::Spec),
                DocumentKind::Recipe => decode::recipe(&mut decoder, &root).map(Document::Recipe),
                DocumentKind::Component => {
                    decode::component(&mut decoder, &root).map(Document::Component)
                }
                DocumentKind::Project => {
                    decode::project(&mut decoder, &root).map(Document::Project)
                }
                DocumentKind::Os => decode::os(&mut decoder, &root).map(Document::Os),
            };
            if let Some(document) = &document {
                let mut checker =
                    checks::Checker::new(&path, &root, &loaded.source, context, &mut diagnostics);
                checker.document(document);
            }
            document
        }
    };
    let document = if diagnostics.has_errors() {
        None
    } else {
        document.map(Validated)
    };
    FileReport {
        path,
        source: loaded.source,
        kind,
        document,
        diagnostics,
    }
}

/// Checks a spec already known to be one, returning it validated or its diagnostics.
pub fn validate_spec(
    path: impl Into<Arc<str>>,
    text: &str,
    context: &Context,
) -> Result<(Validated<Spec>, Diagnostics), Diagnostics> {
    let report = check_bytes(path, text.as_bytes(), Some(DocumentKind::Spec), context);
    match report.document.map(Validated::into_inner) {
        Some(Document::Spec(spec)) => Ok((Validated(spec), report.diagnostics)),
        _ => Err(report.diagnostics),
    }
}
