//! Semantic checks against the catalog and the project.

use crate::versions::{any_matches, newest, syntax_matches};
use crate::{Context, Document};
use imagesmith_catalog::Catalog;
use imagesmith_diagnostics::{
    did_you_mean, Code, Diagnostic, Diagnostics, Severity, SourceFile, Span,
};
use imagesmith_index::{artifact_of, ArtifactRef, Index, Release, Target};
use imagesmith_model::decode::is_safe_name;
use imagesmith_model::{
    Component, DefaultVersion, ImageType, Infrastructure, Os, OsStatus, Platform, PolicyLevel,
    Project, Recipe, RegistryKind, Runner, Spec, VersionSyntax, VersionText,
};
use imagesmith_yaml::{Node, Style};
use indexmap::IndexMap;
use std::collections::HashMap;
use std::sync::Arc;

/// Where a resolved version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSource {
    /// Written in the spec or recipe.
    Document,
    /// `latest` in the document, resolved to the newest supported version.
    Latest,
    /// The project's `defaults`.
    ProjectDefault,
    /// The catalog's default for this OS.
    CatalogDefault,
}

/// A component version resolved for one OS.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution<'c> {
    /// The version installed: the exact release the index resolves the request to (`20` →
    /// `20.19.5`), or the request itself where the install method takes a line (an OS
    /// package of a major version) or the component has no index.
    pub version: VersionText,
    /// The version as written, or the default taken.
    pub requested: VersionText,
    /// Where it came from.
    pub source: VersionSource,
    /// The install method chosen for it on this OS (the platform, or one of its `otherwise`).
    pub method: &'c Platform,
    /// How the version was judged.
    pub judged: Judged,
    /// The index's release, when the index resolved it.
    pub release: Option<Release>,
    /// The index's artifact of that release on this OS and architecture.
    pub artifact: Option<ArtifactRef>,
}

/// What decided that a version exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// The version index: a real upstream release.
    Index,
    /// The install method's own `versions` (an OS package line).
    Method,
    /// The component's `supported` patterns (it has no index).
    Supported,
}

/// Why a version could not be resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Unresolved {
    /// The component has no install method for the OS.
    NoPlatform,
    /// Nothing gave a version.
    NoVersion,
    /// The index has no such release on the OS and architecture.
    NotReleased {
        /// The version asked for.
        requested: VersionText,
        /// Where it came from.
        source: VersionSource,
        /// The nearest real versions.
        nearest: Vec<String>,
        /// When the index was gathered.
        updated: String,
    },
}

/// Resolves the version of `component` on `os`: the document's, else the project default,
/// else the catalog default; then picks the install method serving it and, when the component
/// has an index, the exact release (`latest` is the newest release, or the newest the method
/// lists).
pub fn resolve_version<'c>(
    component: &'c Component,
    os: &Os,
    requested: Option<&VersionText>,
    project: Option<&Project>,
    index: &Index,
    arch: &str,
) -> Result<Resolution<'c>, Unresolved> {
    let platform = component
        .platforms
        .get(&os.id)
        .ok_or(Unresolved::NoPlatform)?;
    let (version, source) = match requested {
        Some(v) => (v.clone(), VersionSource::Document),
        None => match project.and_then(|p| project_default(p, &component.name, &os.id)) {
            Some(v) => (v, VersionSource::ProjectDefault),
            None => (
                platform
                    .default
                    .clone()
                    .or_else(|| component.versions.default.clone())
                    .or_else(|| {
                        newest(
                            platform
                                .versions
                                .as_ref()
                                .unwrap_or(&component.versions.supported),
                        )
                        .cloned()
                    })
                    .ok_or(Unresolved::NoVersion)?,
                VersionSource::CatalogDefault,
            ),
        },
    };
    let target = Target {
        os: &os.id,
        family: os.family.as_str(),
        arch,
    };
    let entry = index.get(&component.name);
    let resolution = |version: VersionText, method: &'c Platform, judged| Resolution {
        requested: version.clone(),
        version,
        source,
        method,
        judged,
        release: None,
        artifact: None,
    };
    if version.is_latest() {
        let source = VersionSource::Latest;
        let os_package = matches!(
            &platform.artifact,
            imagesmith_model::Artifact::Package {
                repository: None,
                ..
            }
        );
        return Ok(match (&platform.versions, entry.filter(|_| !os_package)) {
            (None, Some(entry)) => match entry.newest(target, None) {
                Some(release) => Resolution {
                    version: VersionText::from(release.version.as_str()),
                    requested: version.clone(),
                    source,
                    method: platform,
                    judged: Judged::Index,
                    artifact: artifact_of(release, target).cloned(),
                    release: Some(release.clone()),
                },
                None => Resolution {
                    source,
                    ..resolution(version.clone(), platform, Judged::Supported)
                },
            },
            (narrow, _) => {
                let patterns = narrow.as_ref().unwrap_or(&component.versions.supported);
                let judged = if narrow.is_some() {
                    Judged::Method
                } else {
                    Judged::Supported
                };
                Resolution {
                    requested: version.clone(),
                    source,
                    ..resolution(
                        newest(patterns).cloned().unwrap_or(version),
                        platform,
                        judged,
                    )
                }
            }
        });
    }
    let method = platform.method_for(version.as_str());
    if method.versions.is_some() {
        // The method lists what it installs (an OS package line); the last of the chain
        // rejecting it is reported against its list.
        return Ok(resolution(version, method, Judged::Method));
    }
    // The distribution's own package is judged by the catalog's patterns: its builds are the
    // distribution's, not the upstream releases the index lists (Ubuntu 22.04's chrony is 4.2
    // whatever upstream released since). A vendor repository carries the vendor's releases.
    let os_package = matches!(
        &method.artifact,
        imagesmith_model::Artifact::Package {
            repository: None,
            ..
        }
    );
    let Some(entry) = entry.filter(|_| !os_package) else {
        return Ok(resolution(version, method, Judged::Supported));
    };
    match entry.resolve(version.as_str(), target) {
        None if entry.partial => Ok(resolution(version, method, Judged::Supported)),
        Some(found) => Ok(Resolution {
            version: VersionText::from(found.release.version.as_str()),
            requested: version,
            source,
            method,
            judged: Judged::Index,
            artifact: found.artifact.cloned(),
            release: Some(found.release.clone()),
        }),
        None => Err(Unresolved::NotReleased {
            nearest: entry
                .nearest(version.as_str(), target, 4)
                .into_iter()
                .map(str::to_string)
                .collect(),
            requested: version,
            source,
            updated: entry.updated.clone(),
        }),
    }
}

fn project_default(project: &Project, component: &str, os: &str) -> Option<VersionText> {
    match project.defaults.get(component)? {
        DefaultVersion::Version(v) => Some(v.clone()),
        DefaultVersion::PerOs(map) => map.get(os).or_else(|| map.get("default")).cloned(),
    }
}

/// Splits `golden-{container|ami}-{os}` into its image type and OS id.
pub fn golden_image_parts(name: &str) -> Option<(ImageType, &str)> {
    let rest = name.strip_prefix("golden-")?;
    let (kind, os) = rest.split_once('-')?;
    let kind = ImageType::ALL.into_iter().find(|k| k.as_str() == kind)?;
    (!os.is_empty()).then_some((kind, os))
}

/// The image type of a recipe: written, or inferred from its base image.
pub fn recipe_image_type(recipe: &Recipe) -> ImageType {
    recipe.image_type.unwrap_or_else(|| {
        let base = recipe.base_image.as_str();
        if base.starts_with("ami-") || base.starts_with("ssm:") || base.starts_with("arn:aws") {
            ImageType::Ami
        } else {
            ImageType::Container
        }
    })
}

/// The OS of a recipe: written, or inferred from its base image or its name.
pub fn recipe_os<'c>(recipe: &Recipe, catalog: &'c Catalog) -> Option<&'c Os> {
    if let Some(os) = &recipe.os {
        return catalog.os(os);
    }
    let from_base = match recipe_image_type(recipe) {
        ImageType::Container => catalog.os_of_container_image(&recipe.base_image),
        ImageType::Ami => catalog.os_of_ami_source(&recipe.base_image),
    };
    from_base.or_else(|| {
        recipe
            .name
            .as_deref()
            .and_then(golden_image_parts)
            .and_then(|(_, os)| catalog.os(os))
    })
}

/// Runs the semantic checks of one document.
pub(crate) struct Checker<'a> {
    path: &'a Arc<str>,
    root: &'a Node,
    /// The file's text: a problem inside a script is shown at its line of the file.
    source: &'a SourceFile,
    context: &'a Context,
    diagnostics: &'a mut Diagnostics,
}

/// A component wanted in an image, with where it was written.
struct Wanted<'n> {
    name: &'n str,
    requested: Option<&'n VersionText>,
    key: Option<&'n Node>,
    value: Option<&'n Node>,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(
        path: &'a Arc<str>,
        root: &'a Node,
        source: &'a SourceFile,
        context: &'a Context,
        diagnostics: &'a mut Diagnostics,
    ) -> Self {
        Checker {
            path,
            root,
            source,
            context,
            diagnostics,
        }
    }

    fn push(
        &mut self,
        severity: Severity,
        span: Option<Span>,
        code: Code,
        message: String,
        hint: Option<String>,
    ) {
        self.diagnostics
            .push(Diagnostic::new(severity, self.path, span, code, message).with_hint_opt(hint));
    }

    fn error(&mut self, span: Option<Span>, code: Code, message: String, hint: Option<String>) {
        self.push(Severity::Error, span, code, message, hint);
    }

    fn span_of(&self, key: &str) -> Option<Span> {
        self.root.get(key).map(|n| n.span)
    }

    fn key_span_of(&self, key: &str) -> Option<Span> {
        self.root.get_entry(key).map(|(k, _)| k.span)
    }

    pub(crate) fn document(&mut self, document: &Document) {
        match document {
            Document::Spec(spec) => self.spec(spec),
            Document::Recipe(recipe) => self.recipe(recipe),
            Document::Component(component) => self.component(component),
            Document::Project(project) => self.project(project),
            Document::Os(_) => {}
        }
    }

    fn image_name(&mut self, name: Option<&str>) {
        let Some(name) = name else { return };
        let valid = !name.is_empty()
            && name.len() <= 128
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            });
        if !valid {
            self.error(
                self.span_of("name"),
                Code::InvalidName,
                format!("Image name `{name}` is not a valid repository name"),
                Some("use lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit".into()),
            );
        }
    }

    fn wanted<'n>(&self, components: &'n IndexMap<String, Option<VersionText>>) -> Vec<Wanted<'n>>
    where
        'a: 'n,
    {
        let nodes = entries_by_key(self.root.get("components"));
        components
            .iter()
            .map(|(name, requested)| {
                let entry = nodes.get(name.as_str()).copied();
                Wanted {
                    name,
                    requested: requested.as_ref(),
                    key: entry.map(|(k, _)| k),
                    value: entry.map(|(_, v)| v),
                }
            })
            .collect()
    }

    /// An image that orders no component is an error: it would only copy its base.
    fn some_components(&mut self, what: &str) {
        let node = self.root.get("components");
        let empty = node.is_none_or(|n| n.is_null() || n.as_mapping().is_some_and(<[_]>::is_empty));
        // A misspelt `components:` is already reported as an unknown key with the fix.
        let misspelt = node.is_none()
            && self.root.as_mapping().is_some_and(|entries| {
                entries.iter().any(|(key, _)| {
                    key.as_str()
                        .is_some_and(|k| did_you_mean(k, ["components"]).is_some())
                })
            });
        if empty && !misspelt {
            let span = self
                .key_span_of("components")
                .unwrap_or_else(|| Span::point(self.root.span.start));
            self.error(
                Some(span),
                Code::NoComponents,
                format!("{what} orders no component"),
                Some(
                    "list at least one under `components:`, e.g. `python: \"3.12\"`; run `imagesmith catalog` to list them"
                        .into(),
                ),
            );
        }
    }

    fn spec(&mut self, spec: &Spec) {
        let context: &'a Context = self.context;
        let catalog = &context.catalog;
        self.image_name(spec.name.as_deref());
        self.some_components("Spec");
        let base_span = self.span_of("base_image");
        let Some(golden) = catalog.recipe(&spec.base_image) else {
            let hint =
                match did_you_mean(&spec.base_image, catalog.recipes.keys().map(String::as_str)) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => {
                        let mut names: Vec<&str> = catalog
                            .recipes
                            .keys()
                            .map(String::as_str)
                            .filter(|n| {
                                golden_image_parts(n).is_some_and(|(t, _)| t == spec.image_type)
                            })
                            .collect();
                        names.truncate(6);
                        format!(
                            "a spec builds on a golden image `golden-{}-<os>`: {}",
                            spec.image_type.as_str(),
                            names
                                .iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                };
            self.error(
                base_span,
                Code::UnknownBaseImage,
                format!("Unknown golden image `{}`", spec.base_image),
                Some(hint),
            );
            // Without the base, component checks still run against the OS in the name.
            if let Some((_, os)) = golden_image_parts(&spec.base_image) {
                if let Some(os) = catalog.os(os) {
                    let none = IndexMap::new();
                    self.components(&spec.components, &spec.parameters, os, false, &none);
                }
            }
            return;
        };
        let golden_type = recipe_image_type(golden);
        if golden_type != spec.image_type {
            self.error(
                self.span_of("image_type"),
                Code::ImageTypeMismatch,
                format!(
                    "`image_type` is `{}` but `{}` is a {} image",
                    spec.image_type.as_str(),
                    spec.base_image,
                    golden_type.as_str()
                ),
                Some(format!(
                    "use `image_type: {}`, or a `golden-{}-<os>` base image",
                    golden_type.as_str(),
                    spec.image_type.as_str()
                )),
            );
        }
        let Some(os) = recipe_os(golden, catalog) else {
            return;
        };
        if os.status == OsStatus::Planned {
            self.push(
                Severity::Warning,
                base_span,
                Code::OsPlanned,
                format!(
                    "{} (`{}`) is planned: validated, but not built yet",
                    os.name, os.id
                ),
                None,
            );
        }
        self.components(
            &spec.components,
            &spec.parameters,
            os,
            false,
            &golden.components,
        );
    }

    fn recipe(&mut self, recipe: &Recipe) {
        let catalog = &self.context.catalog;
        let inferred = recipe_image_type(recipe);
        self.some_components("Recipe");
        if let Some(name) = &recipe.name {
            self.image_name(Some(name));
            if let Some((kind, os)) = golden_image_parts(name) {
                if kind != inferred {
                    self.error(
                        self.span_of("name"),
                        Code::ImageTypeMismatch,
                        format!(
                            "Recipe `{name}` is named as a {} image but builds a {} image",
                            kind.as_str(),
                            inferred.as_str()
                        ),
                        Some("make the name, `image_type` and `base_image` agree".into()),
                    );
                }
                if recipe.os.as_deref().is_some_and(|o| o != os) {
                    self.error(
                        self.span_of("os"),
                        Code::OsMismatch,
                        format!(
                            "Recipe `{name}` is named for `{os}` but `os` is `{}`",
                            recipe.os.as_deref().unwrap_or_default()
                        ),
                        None,
                    );
                }
            }
        }
        if let (Some(written), ImageType::Container) = (
            recipe.image_type,
            recipe_image_type(&Recipe {
                image_type: None,
                ..recipe.clone()
            }),
        ) {
            if written == ImageType::Ami {
                self.error(
                    self.span_of("image_type"),
                    Code::ImageTypeMismatch,
                    format!("`image_type` is `ami` but `{}` is a container image", recipe.base_image),
                    Some("an AMI recipe starts from an AMI id, an `ssm:` parameter or an Image Builder image ARN".into()),
                );
            }
        }
        if recipe
            .base_image
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            self.error(
                self.span_of("base_image"),
                Code::InvalidBaseImage,
                format!(
                    "Base image `{}` is not a valid reference",
                    recipe.base_image.escape_debug()
                ),
                Some("write an image reference such as `amazonlinux:2023`".into()),
            );
        }
        let os = match &recipe.os {
            Some(id) => match catalog.os(id) {
                Some(os) => Some(os.clone()),
                None => {
                    let hint = did_you_mean(id, catalog.os.keys().map(String::as_str))
                        .map(|b| format!("did you mean `{b}`?"))
                        .unwrap_or_else(|| {
                            format!("known OS ids: {}", backticked(catalog.os.keys()))
                        });
                    self.error(
                        self.span_of("os"),
                        Code::UnknownOs,
                        format!("Unknown OS `{id}`"),
                        Some(hint),
                    );
                    None
                }
            },
            None => match recipe_os(recipe, catalog) {
                Some(os) => Some(os.clone()),
                None => {
                    self.error(
                        self.span_of("base_image"),
                        Code::UnknownOs,
                        format!("Cannot tell the OS of base image `{}`", recipe.base_image),
                        Some(format!(
                            "add `os:` with one of {}",
                            backticked(catalog.os.keys())
                        )),
                    );
                    None
                }
            },
        };
        if let Some(os) = os {
            if os.status == OsStatus::Planned {
                self.push(
                    Severity::Warning,
                    self.span_of("base_image"),
                    Code::OsPlanned,
                    format!(
                        "{} (`{}`) is planned: validated, but not built yet",
                        os.name, os.id
                    ),
                    None,
                );
            }
            self.components(
                &recipe.components,
                &recipe.parameters,
                &os,
                true,
                &IndexMap::new(),
            );
        }
    }

    /// Checks the components of an image on `os`; `base` lists what the parent already has.
    fn components(
        &mut self,
        components: &IndexMap<String, Option<VersionText>>,
        parameters: &IndexMap<String, IndexMap<String, String>>,
        os: &Os,
        golden: bool,
        base: &IndexMap<String, Option<VersionText>>,
    ) {
        let catalog = &self.context.catalog;
        let project = self.context.project.as_ref();
        let today = self.context.today.as_str();
        let mut present: Vec<(Arc<Component>, Option<Span>)> = Vec::new();
        for name in base.keys() {
            if let Some(c) = catalog.component(name) {
                present.push((Arc::clone(c), None));
            }
        }
        for wanted in self.wanted(components) {
            let key_span = wanted.key.map(|k| k.span);
            let value_span = wanted.value.map(|v| v.span).or(key_span);
            let Some(component) = catalog.component(wanted.name) else {
                let hint = match did_you_mean(
                    wanted.name,
                    catalog.components.keys().map(String::as_str),
                ) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "run `imagesmith catalog` to list the components".to_string(),
                };
                self.error(
                    key_span,
                    Code::UnknownComponent,
                    format!("Unknown component `{}`", wanted.name),
                    Some(hint),
                );
                continue;
            };
            let component = Arc::clone(component);
            if component.golden_only && !golden {
                self.error(
                    key_span,
                    Code::GoldenOnly,
                    format!("`{}` is installed by golden images only", wanted.name),
                    Some("remove it: every golden image already has the platform's security and observability agents".into()),
                );
                continue;
            }
            if base.contains_key(wanted.name) {
                self.push(
                    Severity::Warning,
                    key_span,
                    Code::AlreadyInBase,
                    format!("`{}` is already in the golden base image", wanted.name),
                    Some("remove it; the golden image pins its version".into()),
                );
            }
            if !component.platforms.contains_key(&os.id) {
                let supported: Vec<&str> = component.platforms.keys().map(String::as_str).collect();
                self.error(
                    key_span,
                    Code::UnsupportedOs,
                    format!(
                        "`{}` is not available on {} (`{}`)",
                        wanted.name, os.name, os.id
                    ),
                    Some(format!(
                        "it is available on: {}",
                        backticked(supported.iter())
                    )),
                );
                continue;
            };
            present.push((Arc::clone(&component), key_span));
            let index = &self.context.index;
            let indexed = index.get(&component.name).is_some();
            if let Some(requested) = wanted.requested {
                // Where the index holds exact releases, a release or a prefix of one is
                // ordered (`20.11.1`, `20`, `1.7`); lines (`3.12`) and package versions keep
                // their own form.
                let syntax = match component.versions.syntax {
                    VersionSyntax::Semver | VersionSyntax::Major | VersionSyntax::Dotted
                        if indexed =>
                    {
                        VersionSyntax::Dotted
                    }
                    other => other,
                };
                if !requested.is_latest() && !syntax_matches(syntax, requested.as_str()) {
                    let form = if syntax == component.versions.syntax {
                        syntax.describe()
                    } else {
                        "a release (`1.8.2`) or a prefix of one (`1.8`)"
                    };
                    self.error(
                        value_span,
                        Code::InvalidVersion,
                        format!(
                            "Version `{requested}` of `{}` is not written as {form}",
                            wanted.name,
                        ),
                        None,
                    );
                    continue;
                }
                // A revoked release is refused whether or not the vendor still lists it
                // (compromised releases are usually deleted upstream).
                if let Some(note) = component
                    .versions
                    .revoked
                    .iter()
                    .find(|n| note_matches(n.version.as_str(), requested.as_str()))
                {
                    self.error(
                        value_span,
                        Code::RevokedVersion,
                        format!(
                            "`{}` {requested} is revoked and must never be installed",
                            wanted.name
                        ),
                        Some(
                            note.reason
                                .clone()
                                .unwrap_or_else(|| "choose another version".into()),
                        ),
                    );
                    continue;
                }
            }
            let from_of = |source: VersionSource| match source {
                VersionSource::ProjectDefault => " (the project default)",
                VersionSource::CatalogDefault => " (the catalog default)",
                _ => "",
            };
            let resolution = match resolve_version(
                &component,
                os,
                wanted.requested,
                project,
                index,
                imagesmith_index::DEFAULT_ARCH,
            ) {
                Ok(resolution) => resolution,
                Err(Unresolved::NoPlatform) => continue,
                Err(Unresolved::NoVersion) => {
                    self.error(
                        key_span,
                        Code::NoVersion,
                        format!("No version given for `{}` and no default", wanted.name),
                        Some(format!(
                            "write a version, or add `{}` to the project's `defaults`",
                            wanted.name
                        )),
                    );
                    continue;
                }
                Err(Unresolved::NotReleased {
                    requested,
                    source,
                    nearest,
                    updated,
                }) => {
                    let nearest = if nearest.is_empty() {
                        "the index lists no release there".to_string()
                    } else {
                        format!("nearest real releases: {}", nearest.join(", "))
                    };
                    self.error(
                        value_span,
                        Code::UnknownRelease,
                        format!(
                            "`{}` {requested}{} is not a release of {} on `{}` ({})",
                            wanted.name,
                            from_of(source),
                            wanted.name,
                            os.id,
                            imagesmith_index::DEFAULT_ARCH
                        ),
                        Some(format!(
                            "{nearest} (version index of {updated}; `imagesmith index update` refreshes it)"
                        )),
                    );
                    continue;
                }
            };
            let version = resolution.version.as_str();
            let requested = resolution.requested.as_str();
            if resolution.version.is_latest() {
                // Only patterns are listed (`7.*`): the exact build is chosen at lock time
                // from what the vendor publishes.
                continue;
            }
            let from = from_of(resolution.source);
            let shown = if version == requested {
                version.to_string()
            } else {
                format!("{requested} (release {version})")
            };
            let revoked_in_index = resolution.release.as_ref().and_then(|r| r.revoked.clone());
            if let Some(reason) = component
                .versions
                .revoked
                .iter()
                .find(|n| note_matches(n.version.as_str(), version))
                .map(|n| n.reason.clone())
                .or(revoked_in_index.map(Some))
            {
                self.error(
                    value_span,
                    Code::RevokedVersion,
                    format!(
                        "`{}` {shown}{from} is revoked and must never be installed",
                        wanted.name
                    ),
                    Some(reason.unwrap_or_else(|| "choose another version".into())),
                );
                continue;
            }
            let policy = project.and_then(|p| p.policy.as_ref());
            if let Some(withdrawn) = resolution
                .release
                .as_ref()
                .and_then(|r| r.withdrawn.as_ref())
            {
                let target = imagesmith_index::Target {
                    os: &os.id,
                    family: os.family.as_str(),
                    arch: imagesmith_index::DEFAULT_ARCH,
                };
                let level = policy
                    .and_then(|p| p.withdrawn)
                    .unwrap_or(PolicyLevel::Warning);
                let since = withdrawn
                    .since
                    .as_deref()
                    .map(|d| format!(" on {d}"))
                    .unwrap_or_default();
                let nearest = match nearest_obtainable(&component, index, target, version) {
                    Some(v) => format!("move to {v}, the nearest obtainable release, or "),
                    None => String::new(),
                };
                self.push(
                    severity_of(level),
                    value_span,
                    Code::WithdrawnRelease,
                    format!(
                        "`{}` {shown}{from} was withdrawn{since}: {}",
                        wanted.name, withdrawn.reason
                    ),
                    Some(format!(
                        "{nearest}add a `mirrors:` entry in `imagesmith.yaml` for a mirror that kept it: without one it cannot be locked or built"
                    )),
                );
            }
            let listed = match resolution.judged {
                Judged::Index => None,
                Judged::Method => resolution.method.versions.as_ref(),
                Judged::Supported => Some(&component.versions.supported),
            };
            if let Some(supported) = listed.filter(|s| !any_matches(s, version)) {
                let mut exact: Vec<&str> = supported.iter().map(VersionText::as_str).collect();
                let shown = if exact.len() > 8 {
                    exact.split_off(exact.len() - 8)
                } else {
                    exact
                };
                self.error(
                    value_span,
                    Code::UnsupportedVersion,
                    format!(
                        "`{}` {version}{from} is not supported on `{}`",
                        wanted.name, os.id
                    ),
                    Some(format!("supported: {}", shown.join(", "))),
                );
                continue;
            }
            if let Some(missing) = unpinnable(&component, &resolution, parameters.get(wanted.name))
            {
                self.error(
                    value_span,
                    Code::Unpinnable,
                    format!(
                        "`{}` {shown}{from} cannot be pinned: its download URL needs `{missing}`, which neither the version index nor the document gives",
                        wanted.name
                    ),
                    Some(format!(
                        "set `parameters: {{{}: {{{missing}: ...}}}}` (the vendor's download page shows it in the file name), or choose a release the index knows it for",
                        wanted.name
                    )),
                );
                continue;
            }
            let target = imagesmith_index::Target {
                os: &os.id,
                family: os.family.as_str(),
                arch: imagesmith_index::DEFAULT_ARCH,
            };
            let newest_version = match (resolution.judged, index.get(&component.name)) {
                (Judged::Index, Some(entry)) => {
                    entry.newest(target, None).map(|r| r.version.clone())
                }
                _ => newest(listed.unwrap_or(&component.versions.supported))
                    .map(|v| v.as_str().to_string()),
            };
            if let Some(note) = component.versions.end_of_life.iter().find(|n| {
                (note_matches(n.version.as_str(), version)
                    || note_matches(n.version.as_str(), requested))
                    && n.date.as_deref().is_none_or(|d| d <= today)
            }) {
                let level = policy
                    .and_then(|p| p.end_of_life)
                    .unwrap_or(PolicyLevel::Warning);
                let when = note
                    .date
                    .as_deref()
                    .map(|d| format!(" on {d}"))
                    .unwrap_or_default();
                let newest = newest_version
                    .filter(|v| crate::versions::compare(v, version).is_gt())
                    .map(|v| format!("upgrade to {v}"))
                    .unwrap_or_default();
                self.push(
                    severity_of(level),
                    value_span,
                    Code::EndOfLife,
                    format!(
                        "`{}` {shown}{from} reached its end of life{when}",
                        wanted.name
                    ),
                    Some(match &note.reason {
                        Some(r) if newest.is_empty() => r.clone(),
                        Some(r) => format!("{newest}; {r}"),
                        None => newest,
                    })
                    .filter(|h| !h.is_empty()),
                );
            } else if let Some(note) = component.versions.deprecated.iter().find(|n| {
                (note_matches(n.version.as_str(), version)
                    || note_matches(n.version.as_str(), requested))
                    && n.date.as_deref().is_none_or(|d| d <= today)
            }) {
                let level = policy
                    .and_then(|p| p.deprecated)
                    .unwrap_or(PolicyLevel::Warning);
                self.push(
                    severity_of(level),
                    value_span,
                    Code::DeprecatedVersion,
                    format!("`{}` {shown}{from} is deprecated", wanted.name),
                    note.reason.clone(),
                );
            }
        }
        self.conflicts(&present);
        self.parameters(parameters, components);
    }

    fn conflicts(&mut self, present: &[(Arc<Component>, Option<Span>)]) {
        for (i, (a, a_span)) in present.iter().enumerate() {
            for (b, b_span) in &present[i + 1..] {
                let named = a.conflicts.contains(&b.name) || b.conflicts.contains(&a.name);
                let shared = a.provides.iter().find(|p| b.provides.contains(p));
                if !named && shared.is_none() {
                    continue;
                }
                let span = b_span.or(*a_span);
                let why = shared
                    .map(|p| format!(" (both provide `{p}`)"))
                    .unwrap_or_default();
                self.error(
                    span,
                    Code::Conflict,
                    format!("`{}` conflicts with `{}`{why}", b.name, a.name),
                    Some(format!("keep one of `{}` and `{}`", a.name, b.name)),
                );
            }
        }
    }

    fn parameters(
        &mut self,
        parameters: &IndexMap<String, IndexMap<String, String>>,
        components: &IndexMap<String, Option<VersionText>>,
    ) {
        let nodes = entries_by_key(self.root.get("parameters"));
        for (component_name, values) in parameters {
            let entry = nodes.get(component_name.as_str()).copied();
            let key_span = entry.map(|(k, _)| k.span);
            if !components.contains_key(component_name) {
                self.error(
                    key_span,
                    Code::UnknownComponent,
                    format!(
                        "Parameters given for `{component_name}`, which is not in `components`"
                    ),
                    Some("add the component, or remove its parameters".into()),
                );
                continue;
            }
            let Some(component) = self.context.catalog.component(component_name).cloned() else {
                continue;
            };
            for name in values.keys() {
                let span = entry
                    .and_then(|(_, v)| v.get_entry(name))
                    .map(|(k, _)| k.span)
                    .or(key_span);
                match component.parameters.iter().find(|p| &p.name == name) {
                    None => {
                        let names: Vec<&str> = component
                            .parameters
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect();
                        let hint = did_you_mean(name, names.iter().copied())
                            .map(|b| format!("did you mean `{b}`?"))
                            .unwrap_or_else(|| {
                                format!("`{component_name}` takes: {}", backticked(names.iter()))
                            });
                        self.error(
                            span,
                            Code::UnknownParameter,
                            format!("`{component_name}` has no parameter `{name}`"),
                            Some(hint),
                        );
                    }
                    Some(p) if p.secret => {
                        let env = p.env.clone().unwrap_or_else(|| name.to_ascii_uppercase());
                        // The value is never shown: the snippet quoting its line masks it.
                        let value = entry.and_then(|(_, v)| v.get(name)).map(|value| value.span);
                        self.diagnostics.push(
                            Diagnostic::error(
                                self.path,
                                span,
                                Code::SecretLiteral,
                                format!("`{name}` of `{component_name}` is a secret and cannot be written in a document"),
                            )
                            .with_hint(format!("remove it; local builds read it from `${env}`, pipelines from AWS Secrets Manager"))
                            .with_redacted(value),
                        );
                    }
                    Some(_) => {
                        let value = values.get(name).map(String::as_str).unwrap_or_default();
                        let value_span = entry
                            .and_then(|(_, v)| v.get(name))
                            .map(|value| value.span)
                            .or(span);
                        if let Some(problem) = parameter_value_problem(name, value) {
                            self.error(
                                value_span,
                                Code::InvalidParameterValue,
                                format!("`{name}` of `{component_name}` {problem}"),
                                Some("parameters reach build scripts: one line of printable text (a checksum is 64 hex digits, a Splunk build 12)".into()),
                            );
                        }
                    }
                }
            }
        }
    }

    fn component(&mut self, component: &Component) {
        let catalog = &self.context.catalog;
        let versions_span = self.span_of("versions");
        if let Some(default) = &component.versions.default {
            if !any_matches(&component.versions.supported, default.as_str()) {
                self.error(
                    versions_span,
                    Code::UnsupportedVersion,
                    format!("Default version `{default}` is not in `supported`"),
                    Some("add it to `supported`, or change the default".into()),
                );
            }
        }
        for v in &component.versions.supported {
            let text = v.as_str().trim_end_matches('*').trim_end_matches('.');
            if !text.is_empty()
                && !v.as_str().ends_with('*')
                && !syntax_matches(component.versions.syntax, text)
            {
                self.error(
                    versions_span,
                    Code::InvalidVersion,
                    format!(
                        "Supported version `{v}` is not written as {}",
                        component.versions.syntax.describe()
                    ),
                    None,
                );
            }
        }
        let platforms = self.root.get("platforms");
        for (os, platform) in &component.platforms {
            let key_span = platforms.and_then(|p| p.get_entry(os)).map(|(k, _)| k.span);
            if catalog.os(os).is_none() {
                let hint = did_you_mean(os, catalog.os.keys().map(String::as_str))
                    .map(|b| format!("did you mean `{b}`?"))
                    .unwrap_or_else(|| format!("known OS ids: {}", backticked(catalog.os.keys())));
                self.error(
                    key_span,
                    Code::UnknownOs,
                    format!("Unknown OS `{os}`"),
                    Some(hint),
                );
            }
            if let Some(default) = &platform.default {
                let supported = platform
                    .versions
                    .as_ref()
                    .unwrap_or(&component.versions.supported);
                if !any_matches(supported, default.as_str()) {
                    self.error(
                        key_span,
                        Code::UnsupportedVersion,
                        format!("Default version `{default}` on `{os}` is not among its versions"),
                        None,
                    );
                }
            }
        }
        let mut scripts: IndexMap<ScriptKey, ScriptSeen> = IndexMap::new();
        for (os_id, platform) in &component.platforms {
            let os = catalog.os(os_id);
            let family = os.map_or(imagesmith_model::OsFamily::Linux, |o| o.family);
            // A `-minimal` image's `dnf` is microdnf (the script lints need to know).
            let minimal_image = os.is_some_and(|o| {
                o.package_manager == imagesmith_model::PackageManager::Dnf
                    && (o.container_images.iter().any(|i| i.contains("minimal"))
                        || o.ami_ssm_parameters.values().any(|p| p.contains("minimal")))
            });
            let options = imagesmith_awstoe::CheckOptions {
                secret_names: component
                    .parameters
                    .iter()
                    .filter(|p| p.secret)
                    .map(|p| p.name.clone())
                    .collect(),
                os_family: family,
                warn_unused: true,
                os_id: Some(os_id.clone()),
                minimal_image,
            };
            // The platform's method, then each of its `otherwise` methods.
            let mut method = Some(platform);
            let mut node = platforms.and_then(|p| p.get(os_id));
            let mut depth = 0;
            while let Some(current) = method {
                let document_node = node.and_then(|p| p.get("document"));
                let which = if depth == 0 {
                    format!("platform `{os_id}`")
                } else {
                    format!("`otherwise` {depth} of platform `{os_id}`")
                };
                for finding in imagesmith_awstoe::check(&current.document, &options) {
                    if finding.within.is_some() {
                        // A script shared by several platforms (a YAML anchor) is one problem:
                        // reported once, naming every platform it is found on.
                        let span = document_node.map(|node| {
                            script_span(
                                self.source,
                                node_at(node, &finding.path),
                                finding.within.unwrap_or(imagesmith_awstoe::TextPosition {
                                    line: 1,
                                    column: 1,
                                }),
                            )
                        });
                        let key = (span, finding.code, finding.message.clone());
                        scripts
                            .entry(key)
                            .or_insert_with(|| (finding.severity, finding.hint.clone(), Vec::new()))
                            .2
                            .push(which.clone());
                        continue;
                    }
                    let span = document_node
                        .map(|node| {
                            let at = node_at(node, &finding.path);
                            match finding.within {
                                Some(within) => script_span(self.source, at, within),
                                None => at.span,
                            }
                        })
                        .or(self.span_of("platforms"));
                    self.push(
                        finding.severity,
                        span,
                        finding.code,
                        format!("{} ({which})", finding.message),
                        finding.hint.clone(),
                    );
                }
                method = current.otherwise.as_deref();
                node = node.and_then(|p| p.get("otherwise"));
                depth += 1;
            }
        }
        for ((span, code, message), (severity, hint, platforms)) in scripts {
            let span = span.or(self.span_of("platforms"));
            self.push(
                severity,
                span,
                code,
                match platforms.as_slice() {
                    [one] => format!("{message} ({one})"),
                    several => format!(
                        "{message} (platforms {})",
                        several
                            .iter()
                            .map(|p| p.strip_prefix("platform ").unwrap_or(p))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
                hint,
            );
        }
        for name in &component.conflicts {
            if catalog.component(name).is_none() && name != &component.name {
                self.push(
                    Severity::Warning,
                    self.span_of("conflicts"),
                    Code::UnknownComponent,
                    format!("Conflict with unknown component `{name}`"),
                    None,
                );
            }
        }
        for p in &component.parameters {
            if p.secret && p.default.is_some() {
                // The snippet of `parameters` quotes the default: it is masked.
                let value = self
                    .root
                    .get("parameters")
                    .and_then(|n| n.as_sequence())
                    .and_then(|items| {
                        items.iter().find(|i| {
                            i.get("name").and_then(|n| n.as_str()) == Some(p.name.as_str())
                        })
                    })
                    .and_then(|item| item.get("default"))
                    .map(|value| value.span);
                self.diagnostics.push(
                    Diagnostic::error(
                        self.path,
                        self.span_of("parameters"),
                        Code::SecretLiteral,
                        format!("Secret parameter `{}` has a default value", p.name),
                    )
                    .with_hint("secrets never have literal values; remove `default`")
                    .with_redacted(value),
                );
            }
        }
    }

    fn project(&mut self, project: &Project) {
        let catalog = &self.context.catalog;
        if !is_safe_name(&project.name.replace('-', "_")) {
            self.error(
                self.span_of("name"),
                Code::InvalidName,
                format!("Project name `{}` is not valid", project.name),
                Some("use lowercase letters, digits, `-` and `_`".into()),
            );
        }
        let os_node = self.root.get("os");
        for (i, os) in project.os.iter().enumerate() {
            if catalog.os(os).is_none() {
                let span = os_node
                    .and_then(|n| n.as_sequence())
                    .and_then(|s| s.get(i))
                    .map(|n| n.span);
                let hint = did_you_mean(os, catalog.os.keys().map(String::as_str))
                    .map(|b| format!("did you mean `{b}`?"))
                    .unwrap_or_else(|| format!("known OS ids: {}", backticked(catalog.os.keys())));
                self.error(
                    span,
                    Code::UnknownOs,
                    format!("Unknown OS `{os}`"),
                    Some(hint),
                );
            }
        }
        let defaults_node = self.root.get("defaults");
        for (name, default) in &project.defaults {
            let entry = defaults_node.and_then(|n| n.get_entry(name));
            let key_span = entry.map(|(k, _)| k.span);
            let value_span = entry.map(|(_, v)| v.span);
            let Some(component) = catalog.component(name) else {
                let hint = did_you_mean(name, catalog.components.keys().map(String::as_str))
                    .map(|b| format!("did you mean `{b}`?"))
                    .unwrap_or_else(|| "run `imagesmith catalog` to list the components".into());
                self.error(
                    key_span,
                    Code::UnknownComponent,
                    format!("Unknown component `{name}`"),
                    Some(hint),
                );
                continue;
            };
            let pairs: Vec<(Option<&str>, &VersionText)> = match default {
                DefaultVersion::Version(v) => vec![(None, v)],
                DefaultVersion::PerOs(map) => map
                    .iter()
                    .map(|(os, v)| {
                        (
                            if os == "default" {
                                None
                            } else {
                                Some(os.as_str())
                            },
                            v,
                        )
                    })
                    .collect(),
            };
            for (os, version) in pairs {
                if version.is_latest() {
                    continue;
                }
                if !syntax_matches(component.versions.syntax, version.as_str()) {
                    self.error(
                        value_span,
                        Code::InvalidVersion,
                        format!(
                            "Default `{name}` {version} is not written as {}",
                            component.versions.syntax.describe()
                        ),
                        None,
                    );
                    continue;
                }
                let ok = match os {
                    Some(os) => component.platforms.get(os).map(|p| {
                        any_matches(
                            p.versions.as_ref().unwrap_or(&component.versions.supported),
                            version.as_str(),
                        )
                    }),
                    None => Some(
                        any_matches(&component.versions.supported, version.as_str())
                            || component.platforms.values().any(|p| {
                                p.versions
                                    .as_ref()
                                    .is_some_and(|v| any_matches(v, version.as_str()))
                            }),
                    ),
                };
                match ok {
                    Some(true) => {}
                    Some(false) => self.error(
                        value_span,
                        Code::UnsupportedVersion,
                        format!(
                            "Default `{name}` {version} is not supported{}",
                            os.map(|o| format!(" on `{o}`")).unwrap_or_default()
                        ),
                        Some(format!(
                            "supported: {}",
                            component
                                .versions
                                .supported
                                .iter()
                                .map(VersionText::as_str)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    ),
                    None => self.error(
                        value_span,
                        Code::UnsupportedOs,
                        format!("`{name}` is not available on `{}`", os.unwrap_or_default()),
                        None,
                    ),
                }
            }
        }
        if let Some(registry) = &project.registry {
            let node = self.root.get("registry");
            let span = |key: &str| {
                node.and_then(|n| n.get(key))
                    .map(|n| n.span)
                    .or(node.map(|n| n.span))
            };
            match registry.kind {
                RegistryKind::Ecr => {
                    match &registry.account_id {
                        Some(id) if is_account_id(id) => {}
                        Some(id) => self.error(span("account_id"), Code::InvalidValue, format!("AWS account id `{id}` is not 12 digits"), Some("quote it so leading zeros are kept: `account_id: \"012345678901\"`".into())),
                        None => self.error(span("type"), Code::MissingField, "An `ecr` registry has no `account_id`".into(), Some("add `account_id: \"123456789012\"`".into())),
                    }
                    match &registry.region {
                        Some(region) if is_region(region) => {}
                        Some(region) => self.error(
                            span("region"),
                            Code::InvalidValue,
                            format!("`{region}` is not an AWS region"),
                            Some("e.g. `us-east-1`".into()),
                        ),
                        None => self.error(
                            span("type"),
                            Code::MissingField,
                            "An `ecr` registry has no `region`".into(),
                            Some("add `region: us-east-1`".into()),
                        ),
                    }
                }
                RegistryKind::Oci => {
                    if registry.url.is_none() {
                        self.error(
                            span("type"),
                            Code::MissingField,
                            "An `oci` registry has no `url`".into(),
                            Some("add `url: registry.example.com/platform`".into()),
                        );
                    }
                    for key in ["lifecycle", "pull_accounts", "pull_organization"] {
                        if node.and_then(|n| n.get(key)).is_some() {
                            self.error(
                                node.and_then(|n| n.get_entry(key)).map(|(k, _)| k.span),
                                Code::InvalidValue,
                                format!("`registry.{key}` applies to ECR repositories only; this registry is `oci`"),
                                Some("remove it, or use `type: ecr`".into()),
                            );
                        }
                    }
                }
            }
            let accounts = node
                .and_then(|n| n.get("pull_accounts"))
                .and_then(|n| n.as_sequence());
            for (index, id) in registry.pull_accounts.iter().enumerate() {
                if !is_account_id(id) {
                    let at = accounts
                        .and_then(|items| items.get(index))
                        .map(|n| n.span)
                        .or(span("pull_accounts"));
                    self.error(
                        at,
                        Code::InvalidValue,
                        format!(
                            "AWS account id `{id}` in `registry.pull_accounts` is not 12 digits"
                        ),
                        Some("quote it so leading zeros are kept: `- \"012345678901\"`".into()),
                    );
                }
            }
            if let Some(organization) = &registry.pull_organization {
                if !is_organization_id(organization) {
                    self.error(
                        span("pull_organization"),
                        Code::InvalidValue,
                        format!("`{organization}` is not an AWS Organizations id"),
                        Some("an organization id is `o-` and 10 to 32 lowercase letters or digits (`aws organizations describe-organization --query Organization.Id`)".into()),
                    );
                }
            }
        }
        let runner = project.ci.as_ref().and_then(|ci| ci.runner);
        let infrastructure = project.infrastructure.unwrap_or_default();
        if runner == Some(Runner::Codebuild) && infrastructure == Infrastructure::Cloudformation {
            let at = self
                .root
                .get("ci")
                .and_then(|n| n.get("runner"))
                .map(|n| n.span);
            let hint = if project.infrastructure.is_some() {
                "set `infrastructure: terraform` (its `terraform/codebuild.tf` creates the runner), or `ci: {runner: github}`"
            } else {
                "add `infrastructure: terraform` (its `terraform/codebuild.tf` creates the runner; the default is `cloudformation`), or `ci: {runner: github}`"
            };
            self.error(
                at,
                Code::InvalidValue,
                "`ci.runner: codebuild` needs a CodeBuild runner, and the CloudFormation stacks create none".into(),
                Some(hint.into()),
            );
        }
        if let Some(schedule) = &project.schedule {
            let expression = schedule.cron.trim();
            let inner = expression
                .strip_prefix("cron(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap_or(expression);
            let fields = inner.split_whitespace().count();
            if fields != 6 {
                let span = self
                    .root
                    .get("schedule")
                    .and_then(|n| n.get("cron"))
                    .map(|n| n.span);
                self.error(
                    span,
                    Code::InvalidCron,
                    format!(
                        "Cron expression `{}` has {fields} fields; Image Builder needs 6",
                        schedule.cron
                    ),
                    Some(
                        "minutes hours day-of-month month day-of-week year, e.g. `0 9 1 * ? *`"
                            .into(),
                    ),
                );
            }
        }
        let mirrors = self.root.get("mirrors");
        for (from, to) in &project.mirrors {
            for url in [from, to] {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    let span = mirrors.and_then(|n| n.get_entry(from)).map(|(k, _)| k.span);
                    self.error(
                        span,
                        Code::InvalidValue,
                        format!("Mirror `{url}` is not an http(s) URL"),
                        None,
                    );
                }
            }
        }
        let egress_node = self
            .root
            .get("network")
            .and_then(|n| n.get("egress"))
            .and_then(|n| n.as_sequence());
        let egress = project.network.as_ref().and_then(|n| n.egress.as_ref());
        for (index, entry) in egress.into_iter().flatten().enumerate() {
            if let Err(problem) = imagesmith_model::HostPattern::parse(entry) {
                let span = egress_node
                    .and_then(|items| items.get(index))
                    .map(|n| n.span);
                self.error(
                    span,
                    Code::InvalidValue,
                    format!("Egress entry {problem}"),
                    Some(
                        "a host (`deb.debian.org`), `*.` and a domain (`*.amazonaws.com`), optionally with `:port`"
                            .into(),
                    ),
                );
            }
        }
        let _ = self.key_span_of("name");
    }
}

/// What is wrong with a parameter value given in a document, if anything: values reach build
/// scripts, so control characters (a newline would end a quoted block early) are refused, and
/// the parameters the lock also fills (`sha256`, `build`) must have their form.
fn parameter_value_problem(name: &str, value: &str) -> Option<String> {
    if value.chars().any(char::is_control) {
        return Some(
            "has a control character (a newline or tab); it must be one line of text".into(),
        );
    }
    let hex = |n: usize| value.len() == n && value.bytes().all(|b| b.is_ascii_hexdigit());
    let build_token = value
        .strip_prefix('b')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    match name {
        "sha256" if !value.is_empty() && !hex(64) => {
            Some("is not a SHA-256 (64 hex digits)".into())
        }
        // Splunk's build hash, or the CloudWatch agent's build token (`b1491`).
        "build" if !value.is_empty() && !hex(12) && !build_token => {
            Some("is not a build id (12 hex digits, or `b` and digits)".into())
        }
        _ => None,
    }
}

/// The parameter a download URL needs that nothing gives: not the spec, not the parameter's
/// default, not the index (a release's `build`).
fn unpinnable(
    component: &Component,
    resolution: &Resolution<'_>,
    given: Option<&IndexMap<String, String>>,
) -> Option<String> {
    let imagesmith_model::Artifact::Download { url, .. } = &resolution.method.artifact else {
        return None;
    };
    for placeholder in imagesmith_awstoe::expr::scan(url).ok()? {
        let name = placeholder.text.as_str();
        if matches!(name, "version" | "arch") {
            continue;
        }
        let Some(parameter) = component.parameters.iter().find(|p| p.name == name) else {
            continue;
        };
        let non_empty = |v: &String| !v.trim().is_empty();
        let from_spec = given.and_then(|g| g.get(name)).is_some_and(non_empty);
        let from_default = parameter.default.as_ref().is_some_and(non_empty);
        let from_index = name == "build"
            && resolution
                .release
                .as_ref()
                .is_some_and(|r| r.build.is_some());
        if !(from_spec || from_default || from_index) {
            return Some(name.to_string());
        }
    }
    None
}

/// Whether a note's pattern covers `version`: the pattern (`3.8.*`, `3.10`), or a line it
/// names (`20` covers `20.11.1`).
/// The release a withdrawn pin should move to on `target`: the closest obtainable one (neither
/// revoked nor withdrawn in the index, nor revoked by the catalog), newer preferred.
pub fn nearest_obtainable(
    component: &Component,
    index: &Index,
    target: Target<'_>,
    version: &str,
) -> Option<String> {
    let entry = index.get(&component.name)?;
    entry
        .nearest_obtainable(version, target, |release| {
            !component
                .versions
                .revoked
                .iter()
                .any(|n| note_matches(n.version.as_str(), &release.version))
        })
        .map(|r| r.version.clone())
}

fn note_matches(pattern: &str, version: &str) -> bool {
    crate::versions::pattern_matches(pattern, version)
        || imagesmith_index::prefix_matches(pattern, version)
}

fn severity_of(level: PolicyLevel) -> Severity {
    match level {
        PolicyLevel::Warning => Severity::Warning,
        PolicyLevel::Error => Severity::Error,
    }
}

/// Whether `id` is an AWS account id: 12 digits.
fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `id` is an AWS Organizations id: `o-` and 10 to 32 lowercase letters or digits.
fn is_organization_id(id: &str) -> bool {
    id.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn backticked<'s>(names: impl Iterator<Item = &'s (impl AsRef<str> + ?Sized + 's)>) -> String {
    names
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The deepest node along `path` (keys and indexes), stopping where the path leaves the tree.
/// The entries of a mapping by key (the first of a duplicated key, as [`Node::get_entry`]
/// gives): looking each of a document's thousands of components up in the mapping again
/// made validating it quadratic.
fn entries_by_key(node: Option<&Node>) -> HashMap<&str, (&Node, &Node)> {
    let mut by_key = HashMap::new();
    for (key, value) in node.and_then(Node::as_mapping).unwrap_or_default() {
        if let Some(name) = key.as_str() {
            by_key.entry(name).or_insert((key, value));
        }
    }
    by_key
}

/// A script problem: where, what kind, what.
type ScriptKey = (Option<Span>, Code, String);
/// Its severity, hint and the platforms it is found on.
type ScriptSeen = (Severity, Option<String>, Vec<String>);

/// Where a line and column inside a script's command string is in the file: for a literal `|`
/// block, its line at the block's indentation (the scalar's span starts at its first content
/// character); for a one-line scalar, its column after any opening quote. Anything else (a
/// folded or multi-line quoted scalar) points at the scalar itself.
fn script_span(source: &SourceFile, node: &Node, within: imagesmith_awstoe::TextPosition) -> Span {
    let Some(scalar) = node.as_scalar() else {
        return node.span;
    };
    let start = node.span.start;
    let position = match scalar.style {
        Style::Block => {
            // Only a literal block keeps the script's lines as the file's lines.
            let before = source.text.get(..start.offset).unwrap_or("");
            let header = before.trim_end().rsplit('\n').next().unwrap_or("");
            let indicator = header.rsplit(' ').next().unwrap_or("");
            if !indicator.starts_with('|') {
                return node.span;
            }
            let Some(first) = scalar.value.lines().position(|l| !l.trim().is_empty()) else {
                return node.span;
            };
            let value_indent = leading_spaces(scalar.value.lines().nth(first).unwrap_or(""));
            let indent = (start.column as usize - 1).saturating_sub(value_indent);
            let Some(line) = (start.line as usize + within.line).checked_sub(1 + first) else {
                return node.span;
            };
            source.position(line, indent + within.column - 1)
        }
        Style::Plain | Style::Quoted if !scalar.value.contains('\n') && within.line == 1 => {
            let quote = usize::from(scalar.style == Style::Quoted);
            source.position(
                start.line as usize,
                start.column as usize - 1 + quote + within.column - 1,
            )
        }
        _ => return node.span,
    };
    Span::point(position)
}

fn leading_spaces(line: &str) -> usize {
    line.chars().take_while(|&c| c == ' ').count()
}

fn node_at<'n>(node: &'n Node, path: &[imagesmith_awstoe::PathSegment]) -> &'n Node {
    let mut current = node;
    for segment in path {
        let next = match segment {
            imagesmith_awstoe::PathSegment::Key(key) => current.get(key),
            imagesmith_awstoe::PathSegment::Index(i) => {
                current.as_sequence().and_then(|s| s.get(*i))
            }
        };
        match next {
            Some(n) => current = n,
            None => break,
        }
    }
    current
}
