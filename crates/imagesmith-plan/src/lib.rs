//! Locking: turns a [`ValidatedProject`] into a [`LockedProject`], the one model every
//! backend consumes, and keeps it in `imagesmith.lock`.
//!
//! Locking resolves every image's components to exact versions, documents, artifacts and
//! parameters, orders the images (golden images before the customized images built on them),
//! gives every image its semantic version and tags, and computes its labels: the local
//! builder, the Dockerfile and the Image Builder recipe all write the same ones.
//!
//! An image's version comes from the previous lock: unchanged inputs keep it, changed inputs
//! bump it (see [`Level`]): a major for a new base OS, a removed component or a major
//! component upgrade; a minor for an added or upgraded component or a changed document; a
//! patch for the same inputs rebuilt on a newer parent or base. Tags are `v<version>` and
//! `v<version>-<build id>` (the first 12 hex digits of the image's input digest), so a tag
//! never names two different sets of inputs.
//!
//! Every locked image carries a digest of everything that decides its bits (its parent's
//! digest, its components' versions, documents and parameters). Changing one project default
//! changes the digest of exactly the images that follow it, and of their children.
#![deny(missing_docs)]

mod change;
mod diff;
mod lockfile;
mod published;

pub use change::{changes, compare, next_version, Change, ImageChange, Level};
pub use diff::{diff, Changelog, ImageDiff};
pub use lockfile::{
    render_url, ArtifactEntry, ComponentEntry, ImageEntry, LockError, LockFile, ParentEntry,
    LOCK_FILE, LOCK_FORMAT,
};

pub use imagesmith_validate::{NamedSpec, ValidatedProject, VersionSource};
pub use published::{Publication, Published, PUBLISHED_FILE, PUBLISHED_FORMAT};

use imagesmith_model::{
    Artifact, Component, ImageType, Os, Parameter, Platform, Project, Recipe, RegistryKind,
    VersionText,
};
use imagesmith_validate::{recipe_image_type, recipe_os, resolve_version};
use indexmap::IndexMap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The prefix of the labels giving each component's version.
pub const COMPONENT_LABEL_PREFIX: &str = "io.imagesmith.component.";

/// The AWS region used when the project names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Why a project could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// An image names a golden parent the catalog does not have.
    #[error("Image `{image}` builds on `{parent}`, which is not a known golden image")]
    UnknownParent {
        /// The image.
        image: String,
        /// The parent it names.
        parent: String,
    },
    /// A golden recipe's OS cannot be told.
    #[error("Cannot tell the OS of golden image `{image}`")]
    UnknownOs {
        /// The image.
        image: String,
    },
    /// A component is missing from the catalog or not available on the image's OS.
    #[error("Component `{component}` of image `{image}` is not available on `{os}`")]
    Unavailable {
        /// The image.
        image: String,
        /// The component.
        component: String,
        /// The OS.
        os: String,
    },
    /// Nothing matches a requested image name.
    #[error("No image named `{name}` in the lock")]
    UnknownImage {
        /// The name asked for.
        name: String,
        /// The closest known name.
        suggestion: Option<String>,
    },
}

/// Whether an image is a golden one or a customer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// OS plus the platform's agents.
    Golden,
    /// A customer's components on a golden image.
    Customized,
}

impl Role {
    /// `golden` or `customized`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Golden => "golden",
            Role::Customized => "customized",
        }
    }
}

/// What an image starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Parent {
    /// An OS base: a container image reference, an AMI id, an `ssm:` parameter or an ARN.
    Base {
        /// The reference as written in the recipe.
        reference: String,
    },
    /// A golden image of this project.
    Golden {
        /// Its name.
        name: String,
    },
}

/// The one place that decides a component's version: a file and the keys leading to the
/// value (`imagesmith.yaml`, `defaults.terraform`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct DecidedBy {
    /// The file, relative to the project folder (`<built-in>/…` for the catalog's own).
    pub file: String,
    /// The mapping keys from the document's root to the value.
    pub keys: Vec<String>,
}

impl DecidedBy {
    /// The place as the lock writes it: `FILE#key.key`.
    pub fn to_key(&self) -> String {
        format!("{}#{}", self.file, self.keys.join("."))
    }

    /// The place from what [`DecidedBy::to_key`] wrote.
    pub fn parse(key: &str) -> DecidedBy {
        let (file, keys) = key.rsplit_once('#').unwrap_or((key, ""));
        DecidedBy {
            file: file.to_string(),
            keys: keys
                .split('.')
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

impl std::fmt::Display for DecidedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` in {}", self.keys.join("."), self.file)
    }
}

/// One component of one image, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct LockedComponent {
    /// The component name.
    pub name: String,
    /// The exact version (a pattern is never left here; `latest` only for a vendor API that
    /// picks its newest release at build time, marked in [`LockedComponent::resolved_at_build`]).
    pub version: VersionText,
    /// Where the version came from.
    #[serde(serialize_with = "version_source")]
    pub version_source: VersionSource,
    /// The one place that decides it.
    pub decided_by: DecidedBy,
    /// The definition.
    #[serde(skip)]
    pub component: Arc<Component>,
    /// How it is installed on the image's OS.
    #[serde(skip)]
    pub platform: Platform,
    /// The file the definition came from, relative to the project folder.
    pub source: String,
    /// AWSTOE parameter values (`version`, `arch`, and the non-secret parameters given).
    pub parameters: IndexMap<String, String>,
    /// The secret parameters it needs at run time (never values).
    pub secrets: Vec<String>,
    /// What it installs, pinned as far as the catalog can.
    pub artifact: ArtifactEntry,
    /// What is only known when the image is built, said openly (`None`: fully pinned).
    pub resolved_at_build: Option<String>,
    /// Digest of the AWSTOE document.
    pub document_digest: String,
    /// Digest of everything that decides what it installs.
    pub digest: String,
    /// Set when the release is withdrawn: its vendor downloads are gone, so it installs only
    /// through a project mirror (see [`unobtainable`]).
    #[serde(skip)]
    pub withdrawn: Option<WithdrawnPin>,
}

/// Why a locked release cannot be had from its vendor, and where to move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawnPin {
    /// What happened, from the version index.
    pub reason: String,
    /// The day its downloads went, when known.
    pub since: Option<String>,
    /// The nearest obtainable release on the image's OS, newer preferred.
    pub nearest: Option<String>,
}

/// A withdrawn release that a project would install from a vendor URL that no mirror rewrites:
/// a download that 404s. `lock`, `plan`, `render` and `build` refuse the project for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unobtainable {
    /// The image.
    pub image: String,
    /// The component.
    pub component: String,
    /// The locked version.
    pub version: String,
    /// The value that pins it.
    pub decided_by: DecidedBy,
    /// The vendor URL that no longer serves it.
    pub url: String,
    /// Why, and where to move.
    pub withdrawn: WithdrawnPin,
}

impl std::fmt::Display for Unobtainable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since = self
            .withdrawn
            .since
            .as_deref()
            .map(|d| format!(" on {d}"))
            .unwrap_or_default();
        write!(
            f,
            "`{}` {} of image `{}` was withdrawn{since} ({}): no mirror serves `{}`",
            self.component, self.version, self.image, self.withdrawn.reason, self.url
        )
    }
}

impl Unobtainable {
    /// The fix: a mirror, or the nearest obtainable release.
    pub fn hint(&self) -> String {
        let prefix = self
            .url
            .match_indices('/')
            .nth(2)
            .map(|(i, _)| &self.url[..=i])
            .unwrap_or(self.url.as_str());
        let mirror = format!(
            "add a mirror that kept it to `imagesmith.yaml` (`mirrors: {{\"{prefix}\": \"https://<your-mirror>/...\"}}`)"
        );
        match &self.withdrawn.nearest {
            Some(nearest) => format!(
                "{mirror}, or move `{}` to {nearest}, the nearest obtainable release",
                self.component
            ),
            None => mirror,
        }
    }
}

/// Every withdrawn release of `locked` whose download no project mirror rewrites, once per
/// image and component. Only downloads are judged: a package repository is its own channel.
pub fn unobtainable(locked: &LockedProject) -> Vec<Unobtainable> {
    let mut out = Vec::new();
    for image in &locked.images {
        for component in &image.components {
            let Some(withdrawn) = &component.withdrawn else {
                continue;
            };
            let ArtifactEntry::Download { url, .. } = &component.artifact else {
                continue;
            };
            if locked.mirror(url) != *url {
                continue;
            }
            out.push(Unobtainable {
                image: image.name.clone(),
                component: component.name.clone(),
                version: component.version.to_string(),
                decided_by: component.decided_by.clone(),
                url: url.clone(),
                withdrawn: withdrawn.clone(),
            });
        }
    }
    out
}

fn version_source<S: serde::Serializer>(source: &VersionSource, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(version_source_str(*source))
}

/// How a version source is written in the lock.
pub fn version_source_str(source: VersionSource) -> &'static str {
    match source {
        VersionSource::Document => "document",
        VersionSource::Latest => "latest",
        VersionSource::ProjectDefault => "project-default",
        VersionSource::CatalogDefault => "catalog-default",
    }
}

/// One image, locked.
#[derive(Debug, Clone, Serialize)]
pub struct LockedImage {
    /// The image name (`golden-container-debian12`, `static-code-scanner`).
    pub name: String,
    /// Golden or customized.
    pub role: Role,
    /// Container or AMI.
    pub image_type: ImageType,
    /// The OS.
    #[serde(skip)]
    pub os: Os,
    /// What it starts from.
    pub parent: Parent,
    /// The image's semantic version, from the lock.
    pub version: String,
    /// Its tags: `v<version>` and `v<version>-<build id>`.
    pub tags: Vec<String>,
    /// The repository it is pushed to (`<prefix><name>`).
    pub repository: String,
    /// The reference of its `v<version>` tag (`<registry>/<repository>:v<version>`).
    pub reference: String,
    /// What it says it is for.
    pub description: Option<String>,
    /// Components in install order.
    pub components: Vec<LockedComponent>,
    /// Every label the image carries, computed once: the OCI annotations, imagesmith's own and
    /// the document's. The builder adds only what is known when it runs (creation time, the
    /// base's digest, omitted components).
    pub labels: IndexMap<String, String>,
    /// The labels the document itself gives.
    pub document_labels: IndexMap<String, String>,
    /// Environment variables.
    pub environment: IndexMap<String, String>,
    /// The default user.
    pub user: Option<String>,
    /// The file it came from, relative to the project folder.
    pub source: String,
    /// Digest of the parent's digest and every component's digest.
    pub digest: String,
}

impl LockedImage {
    /// The OS id.
    pub fn os_id(&self) -> &str {
        &self.os.id
    }

    /// The build id of its second tag.
    pub fn build_id(&self) -> &str {
        build_id(&self.digest)
    }
}

fn build_id(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

/// Every image to build or render, golden ones first: the locked model every backend takes.
#[derive(Debug, Clone, Serialize)]
pub struct LockedProject {
    /// The project name (`imagesmith` without a project).
    pub project: String,
    /// The target architecture (`x86_64`).
    pub architecture: String,
    /// The images, each after the golden image it builds on.
    pub images: Vec<LockedImage>,
    /// URL prefix rewrites for downloads (Artifactory/Nexus mirrors).
    pub mirrors: IndexMap<String, String>,
    /// The project's settings (registry, scanners, schedule, network), when there is a project.
    #[serde(skip)]
    pub settings: Option<Project>,
}

impl LockedProject {
    /// The image called `name`.
    pub fn image(&self, name: &str) -> Option<&LockedImage> {
        self.images.iter().find(|i| i.name == name)
    }

    /// `url` with the first matching mirror prefix applied.
    pub fn mirror(&self, url: &str) -> String {
        rewrite(&self.mirrors, url)
    }

    /// The project's AWS region.
    pub fn region(&self) -> String {
        region(self.settings.as_ref())
    }

    /// The registry host, when the project names one (`<account>.dkr.ecr.<region>.amazonaws.com`).
    pub fn registry_host(&self) -> Option<String> {
        registry_host(self.settings.as_ref())
    }

    /// The lock narrowed to the images in `only` and the golden images they build on (all of
    /// it when `only` is empty).
    pub fn select(&self, only: &[String]) -> Result<LockedProject, PlanError> {
        if only.is_empty() {
            return Ok(self.clone());
        }
        for name in only {
            if self.image(name).is_none() {
                let candidates: Vec<&str> = self.images.iter().map(|i| i.name.as_str()).collect();
                return Err(PlanError::UnknownImage {
                    name: name.clone(),
                    suggestion: suggest(name, &candidates),
                });
            }
        }
        let mut keep: Vec<&str> = only.iter().map(String::as_str).collect();
        for name in only {
            if let Some(Parent::Golden { name: parent }) = self.image(name).map(|i| &i.parent) {
                keep.push(parent);
            }
        }
        let mut selected = self.clone();
        selected.images.retain(|i| keep.contains(&i.name.as_str()));
        Ok(selected)
    }
}

impl LockedComponent {
    /// A component locked by hand, for backends' tests (everything else comes from [`lock`]):
    /// `parameters` as given, the artifact and digests derived from them.
    pub fn for_test(
        name: &str,
        version: &str,
        component: Arc<Component>,
        platform: Platform,
        parameters: IndexMap<String, String>,
        secrets: Vec<String>,
    ) -> LockedComponent {
        let (artifact, resolved_at_build) =
            lockfile::artifact_entry(&platform.artifact, &parameters, None);
        LockedComponent {
            name: name.to_string(),
            version: VersionText(version.to_string()),
            version_source: VersionSource::CatalogDefault,
            decided_by: DecidedBy {
                file: "test".into(),
                keys: vec!["components".into(), name.to_string()],
            },
            source: "test".into(),
            artifact,
            resolved_at_build,
            document_digest: digest_of(&platform.document),
            digest: digest_of(&(
                name,
                &parameters,
                &secrets,
                &platform.artifact,
                &platform.document,
            )),
            component,
            platform,
            parameters,
            secrets,
            withdrawn: None,
        }
    }
}

impl LockedImage {
    /// An image locked by hand, for backends' tests: version `1.0.0`, labels as [`lock`] gives
    /// them for its name, OS and components.
    pub fn for_test(
        name: &str,
        role: Role,
        os: Os,
        parent: Parent,
        components: Vec<LockedComponent>,
        environment: IndexMap<String, String>,
    ) -> LockedImage {
        let digest = image_digest(
            &digest_of(&parent),
            &components,
            &IndexMap::new(),
            &environment,
            None,
        );
        let mut labels = IndexMap::new();
        labels.insert(
            "org.opencontainers.image.title".to_string(),
            name.to_string(),
        );
        labels.insert(
            "org.opencontainers.image.version".to_string(),
            "1.0.0".to_string(),
        );
        labels.insert(
            "org.opencontainers.image.base.name".to_string(),
            match &parent {
                Parent::Base { reference } => reference.clone(),
                Parent::Golden { name } => format!("{name}:v1.0.0"),
            },
        );
        for component in &components {
            labels.insert(
                format!("{COMPONENT_LABEL_PREFIX}{}", component.name),
                component.version.to_string(),
            );
        }
        LockedImage {
            name: name.to_string(),
            role,
            image_type: ImageType::Container,
            os,
            parent,
            version: "1.0.0".into(),
            tags: vec!["v1.0.0".into()],
            repository: name.to_string(),
            reference: format!("{name}:v1.0.0"),
            description: None,
            components,
            labels,
            document_labels: IndexMap::new(),
            environment,
            user: None,
            source: "test".into(),
            digest,
        }
    }
}

impl LockedProject {
    /// A project locked by hand, for backends' tests.
    pub fn for_test(images: Vec<LockedImage>) -> LockedProject {
        LockedProject {
            project: "test".into(),
            architecture: "x86_64".into(),
            images,
            mirrors: IndexMap::new(),
            settings: None,
        }
    }
}

pub use imagesmith_index::rewrite;

fn suggest(name: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (common_prefix(name, c), *c))
        .filter(|(n, _)| *n >= 4)
        .max_by_key(|(n, _)| *n)
        .map(|(_, c)| c.to_string())
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

fn region(project: Option<&Project>) -> String {
    project
        .and_then(|p| p.registry.as_ref())
        .and_then(|r| r.region.clone())
        .unwrap_or_else(|| DEFAULT_REGION.to_string())
}

fn registry_host(project: Option<&Project>) -> Option<String> {
    let registry = project?.registry.as_ref()?;
    match registry.kind {
        RegistryKind::Ecr => {
            let account = registry.account_id.as_ref()?;
            Some(format!(
                "{account}.dkr.ecr.{}.amazonaws.com",
                registry.region.as_deref().unwrap_or(DEFAULT_REGION)
            ))
        }
        RegistryKind::Oci => registry.url.clone(),
    }
}

/// Locks `validated`: every project recipe, every golden image a spec builds on and every
/// spec (with no project: every recipe of the built-in catalog). Versions continue from
/// `previous`, the lock being replaced.
pub fn lock(
    validated: &ValidatedProject,
    previous: Option<&LockFile>,
) -> Result<LockedProject, PlanError> {
    lock_with(validated, previous, &Pins::new())
}

/// Checksums pinned at lock time (`sha256:<hex>`), by the download's URL (before mirrors).
pub type Pins = std::collections::BTreeMap<String, String>;

/// The checksums a lock file pinned, by URL: what a re-lock in memory carries over so it
/// agrees with the file byte for byte.
pub fn pins_of(lock: &LockFile) -> Pins {
    let mut pins = Pins::new();
    for image in lock.images.values() {
        for component in image.components.values() {
            if let ArtifactEntry::Download {
                url,
                checksum: Some(checksum),
                ..
            } = &component.artifact
            {
                pins.insert(url.clone(), checksum.clone());
            }
        }
    }
    pins
}

/// [`lock`] with checksums pinned beyond the index and the previous lock (fetched by
/// `imagesmith lock` from the vendors' checksum files, or by hashing a download).
pub fn lock_with(
    validated: &ValidatedProject,
    previous: Option<&LockFile>,
    extra: &Pins,
) -> Result<LockedProject, PlanError> {
    lock_published(validated, previous, extra, None)
}

/// [`lock_with`] knowing what was published: a version already published from other inputs
/// (a lock lost, reset or rewritten by hand) is passed over for the next free patch, so a
/// tag never has to name two contents.
pub fn lock_published(
    validated: &ValidatedProject,
    previous: Option<&LockFile>,
    extra: &Pins,
    published: Option<&Published>,
) -> Result<LockedProject, PlanError> {
    let mut pins = previous.map(pins_of).unwrap_or_default();
    pins.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    let context = &validated.context;
    let catalog = &context.catalog;
    let project = context.project.as_ref();
    let architecture = "x86_64".to_string();
    let mut golden_names: Vec<String> = if validated.root.is_none() {
        catalog.recipes.keys().cloned().collect()
    } else {
        validated.recipes.clone()
    };
    for named in &validated.specs {
        if !golden_names.contains(&named.spec.base_image) {
            golden_names.push(named.spec.base_image.clone());
        }
    }
    golden_names.sort();
    golden_names.dedup();

    let mut locker = Locker {
        validated,
        previous,
        pins,
        published,
        architecture: &architecture,
        images: Vec::new(),
        levels: IndexMap::new(),
    };
    for name in &golden_names {
        let recipe = catalog
            .recipe(name)
            .ok_or_else(|| PlanError::UnknownParent {
                image: name.clone(),
                parent: name.clone(),
            })?;
        let os = recipe_os(recipe, catalog)
            .cloned()
            .ok_or_else(|| PlanError::UnknownOs {
                image: name.clone(),
            })?;
        let source = catalog
            .sources
            .get(&format!("recipe:{name}"))
            .map(|s| validated.project_relative(s))
            .unwrap_or_default();
        locker.recipe(name, recipe, os, source)?;
    }
    let mut customized: Vec<&NamedSpec> = validated.specs.iter().collect();
    customized.sort_by(|a, b| a.name.cmp(&b.name));
    for named in customized {
        locker.spec(named)?;
    }
    let images = locker.images;
    Ok(LockedProject {
        project: project.map_or_else(|| "imagesmith".to_string(), |p| p.name.clone()),
        architecture,
        images,
        mirrors: project.map(|p| p.mirrors.clone()).unwrap_or_default(),
        settings: project.cloned(),
    })
}

/// What an image is made of before it gets its version.
struct Draft {
    name: String,
    role: Role,
    image_type: ImageType,
    os: Os,
    parent: Parent,
    declared: Option<String>,
    description: Option<String>,
    components: Vec<LockedComponent>,
    labels: IndexMap<String, String>,
    environment: IndexMap<String, String>,
    user: Option<String>,
    source: String,
    digest: String,
}

struct Locker<'a> {
    validated: &'a ValidatedProject,
    previous: Option<&'a LockFile>,
    /// Checksums pinned at lock time, by download URL.
    pins: Pins,
    /// What was published, whose versions are not given to other inputs.
    published: Option<&'a Published>,
    architecture: &'a str,
    images: Vec<LockedImage>,
    /// How much each locked image changed against the previous lock.
    levels: IndexMap<String, Option<Level>>,
}

impl Locker<'_> {
    fn recipe(
        &mut self,
        name: &str,
        recipe: &Recipe,
        os: Os,
        source: String,
    ) -> Result<(), PlanError> {
        let components =
            self.components(name, &source, &os, &recipe.components, &recipe.parameters)?;
        let parent = Parent::Base {
            reference: recipe.base_image.clone(),
        };
        let digest = image_digest(
            &digest_of(&parent),
            &components,
            &recipe.labels,
            &recipe.environment,
            recipe.user.as_deref(),
        );
        self.finish(Draft {
            name: name.to_string(),
            role: Role::Golden,
            image_type: recipe_image_type(recipe),
            os,
            parent,
            declared: recipe.version.as_ref().map(|v| v.to_string()),
            description: recipe.description.clone(),
            components,
            labels: recipe.labels.clone(),
            environment: recipe.environment.clone(),
            user: recipe.user.clone(),
            source,
            digest,
        });
        Ok(())
    }

    fn spec(&mut self, named: &NamedSpec) -> Result<(), PlanError> {
        let spec = named.spec.get();
        let parent_image = self
            .images
            .iter()
            .find(|i| i.name == spec.base_image)
            .ok_or_else(|| PlanError::UnknownParent {
                image: named.name.clone(),
                parent: spec.base_image.clone(),
            })?;
        let os = parent_image.os.clone();
        let parent_digest = parent_image.digest.clone();
        let components = self.components(
            &named.name,
            &named.source,
            &os,
            &spec.components,
            &spec.parameters,
        )?;
        let digest = image_digest(
            &parent_digest,
            &components,
            &spec.labels,
            &spec.environment,
            spec.user.as_deref(),
        );
        self.finish(Draft {
            name: named.name.clone(),
            role: Role::Customized,
            image_type: spec.image_type,
            os,
            parent: Parent::Golden {
                name: spec.base_image.clone(),
            },
            declared: spec.version.as_ref().map(|v| v.to_string()),
            description: spec.description.clone(),
            components,
            labels: spec.labels.clone(),
            environment: spec.environment.clone(),
            user: spec.user.clone(),
            source: named.source.clone(),
            digest,
        });
        Ok(())
    }

    /// Gives a draft its version, tags and labels, comparing it with the previous lock.
    fn finish(&mut self, draft: Draft) {
        let settings = self.validated.context.project.as_ref();
        let parent_level = match &draft.parent {
            Parent::Golden { name } => self.levels.get(name).copied().flatten(),
            Parent::Base { .. } => None,
        };
        let previous = self.previous.and_then(|p| p.images.get(&draft.name));
        let entry = lockfile::entry_of_draft(&draft, self.images.as_slice());
        let changes = match previous {
            Some(previous) => change::compare(previous, &entry, parent_level),
            None => Vec::new(),
        };
        let level = changes.iter().map(Change::level).max();
        let mut version = change::next_version(
            previous.map(|p| p.version.as_str()),
            level,
            draft.declared.as_deref(),
        );
        if let Some(published) = self.published {
            while published.taken(&draft.name, &version, &draft.digest) {
                version = change::next_version(Some(&version), Some(Level::Patch), None);
            }
        }
        self.levels.insert(
            draft.name.clone(),
            match previous {
                Some(_) => level,
                None => Some(Level::Major),
            },
        );
        let repository = format!(
            "{}{}",
            settings
                .and_then(|p| p.registry.as_ref())
                .and_then(|r| r.repository_prefix.clone())
                .unwrap_or_default(),
            draft.name
        );
        let tag = format!("v{version}");
        let reference = match registry_host(settings) {
            Some(host) => format!("{host}/{repository}:{tag}"),
            None => format!("{repository}:{tag}"),
        };
        let tags = vec![tag.clone(), format!("{tag}-{}", build_id(&draft.digest))];
        let base_name = match &draft.parent {
            Parent::Base { reference } => reference.clone(),
            Parent::Golden { name } => self
                .images
                .iter()
                .find(|i| &i.name == name)
                .map(|g| g.reference.clone())
                .unwrap_or_else(|| name.clone()),
        };
        let mut labels = IndexMap::new();
        labels.insert("org.opencontainers.image.title".into(), draft.name.clone());
        labels.insert(
            "org.opencontainers.image.description".into(),
            draft.description.clone().unwrap_or_else(|| {
                format!(
                    "{} {} image on {}",
                    match draft.role {
                        Role::Golden => "Golden",
                        Role::Customized => "Customized",
                    },
                    draft.image_type.as_str(),
                    draft.os.name
                )
            }),
        );
        labels.insert("org.opencontainers.image.version".into(), version.clone());
        labels.insert("org.opencontainers.image.base.name".into(), base_name);
        labels.insert("io.imagesmith.role".into(), draft.role.as_str().into());
        labels.insert("io.imagesmith.os".into(), draft.os.id.clone());
        for component in &draft.components {
            labels.insert(
                format!("{COMPONENT_LABEL_PREFIX}{}", component.name),
                component.version.to_string(),
            );
        }
        labels.insert("io.imagesmith.digest".into(), draft.digest.clone());
        for (key, value) in &draft.labels {
            labels.insert(key.clone(), value.clone());
        }
        self.images.push(LockedImage {
            name: draft.name,
            role: draft.role,
            image_type: draft.image_type,
            os: draft.os,
            parent: draft.parent,
            version,
            tags,
            repository,
            reference,
            description: draft.description,
            components: draft.components,
            labels,
            document_labels: draft.labels,
            environment: draft.environment,
            user: draft.user,
            source: draft.source,
            digest: draft.digest,
        });
    }

    fn components(
        &self,
        image: &str,
        image_source: &str,
        os: &Os,
        wanted: &IndexMap<String, Option<VersionText>>,
        given: &IndexMap<String, IndexMap<String, String>>,
    ) -> Result<Vec<LockedComponent>, PlanError> {
        let context = &self.validated.context;
        let mut out = Vec::new();
        for (name, requested) in wanted {
            let unavailable = || PlanError::Unavailable {
                image: image.to_string(),
                component: name.clone(),
                os: os.id.clone(),
            };
            let component = context.catalog.component(name).ok_or_else(unavailable)?;
            let declared_platform = component.platforms.get(&os.id).ok_or_else(unavailable)?;
            let resolution = resolve_version(
                component,
                os,
                requested.as_ref(),
                context.project.as_ref(),
                &context.index,
                self.architecture,
            )
            .map_err(|_| unavailable())?;
            // The install method serving the version (the platform or one of its `otherwise`).
            let platform = resolution.method;
            let source = context
                .catalog
                .sources
                .get(&format!("component:{name}"))
                .map(|s| self.validated.project_relative(s))
                .unwrap_or_default();
            let decided_by = match resolution.source {
                VersionSource::Document | VersionSource::Latest => DecidedBy {
                    file: image_source.to_string(),
                    keys: vec!["components".into(), name.clone()],
                },
                VersionSource::ProjectDefault => {
                    let mut keys = vec!["defaults".to_string(), name.clone()];
                    if let Some(imagesmith_model::DefaultVersion::PerOs(map)) =
                        context.project.as_ref().and_then(|p| p.defaults.get(name))
                    {
                        keys.push(if map.contains_key(&os.id) {
                            os.id.clone()
                        } else {
                            "default".into()
                        });
                    }
                    DecidedBy {
                        file: imagesmith_validate::PROJECT_FILE.to_string(),
                        keys,
                    }
                }
                VersionSource::CatalogDefault => DecidedBy {
                    file: source.clone(),
                    keys: if declared_platform.default.is_some() {
                        vec!["platforms".into(), os.id.clone(), "default".into()]
                    } else {
                        vec!["versions".into(), "default".into()]
                    },
                },
            };
            let version = resolution.version;
            let mut parameters = IndexMap::new();
            parameters.insert("version".to_string(), version.to_string());
            let arch_token = match &platform.artifact {
                Artifact::Download { arch, .. } => {
                    let token = arch
                        .get(self.architecture)
                        .cloned()
                        .unwrap_or_else(|| self.architecture.to_string());
                    parameters.insert("arch".to_string(), token.clone());
                    Some(token)
                }
                _ => None,
            };
            let declared = |p: &&Parameter| !p.secret;
            for p in component.parameters.iter().filter(declared) {
                let value = given
                    .get(name)
                    .and_then(|g| g.get(&p.name))
                    .cloned()
                    .or_else(|| p.default.clone());
                if let Some(value) = value {
                    parameters.insert(p.name.clone(), value);
                }
            }
            let secrets: Vec<String> = component
                .parameters
                .iter()
                .filter(|p| p.secret)
                .map(|p| p.name.clone())
                .collect();
            let declares = |param: &str| component.parameters.iter().any(|p| p.name == param);
            if let Some(build) = resolution.release.as_ref().and_then(|r| r.build.as_ref()) {
                // The vendor's build id from the index (Splunk's download names carry one).
                if declares("build") && parameters.get("build").is_none_or(|b| b.is_empty()) {
                    parameters.insert("build".to_string(), build.clone());
                }
            }
            let (mut artifact, mut resolved_at_build) =
                lockfile::artifact_entry(&platform.artifact, &parameters, arch_token.as_deref());
            if let ArtifactEntry::Download {
                url,
                checksum,
                checksum_url,
                ..
            } = &mut artifact
            {
                // The index names the release's real file where the vendor's naming changed
                // between releases (Splunk's `Linux-x86_64.tgz` up to 9.3): it wins, and a
                // checksum file beside the artifact follows it.
                if let Some(indexed) = resolution.artifact.as_ref() {
                    // Only a renamed file of the same folder and kind: an index filled from a
                    // release page may record another asset (a tarball where the catalog
                    // installs an rpm) that the document never downloads.
                    if file_name(&indexed.url) != file_name(url) && same_kind(&indexed.url, url) {
                        if let Some(suffix) = checksum_url
                            .as_deref()
                            .and_then(|c| c.strip_prefix(url.as_str()))
                            .map(str::to_string)
                        {
                            *checksum_url = Some(format!("{}{suffix}", indexed.url));
                        }
                        *url = indexed.url.clone();
                        if checksum.is_none() {
                            if let Some(file) = checksum_url.as_deref() {
                                resolved_at_build = Some(format!(
                                    "the checksum is read from the vendor's `{file}` when the image is built"
                                ));
                            }
                        }
                    }
                }
                if checksum.is_none() {
                    let from_index = resolution
                        .artifact
                        .as_ref()
                        .filter(|a| file_name(&a.url) == file_name(url))
                        .and_then(|a| a.sha256.as_ref())
                        .map(|hex| format!("sha256:{hex}"));
                    if let Some(pinned) =
                        from_index.or_else(|| self.pins.get(url.as_str()).cloned())
                    {
                        *checksum = Some(pinned);
                        resolved_at_build = None;
                    }
                }
                // A sha256 given by hand in the spec is the pin when nothing else is.
                let given = parameters
                    .get("sha256")
                    .map(|v| v.trim().to_ascii_lowercase())
                    .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
                if checksum.is_none() && declares("sha256") {
                    if let Some(hex) = given {
                        *checksum = Some(format!("sha256:{hex}"));
                        resolved_at_build = None;
                    }
                }
                if let Some(hex) = checksum.as_deref().and_then(|c| c.strip_prefix("sha256:")) {
                    if declares("sha256") && parameters.get("sha256").is_none_or(|v| v.is_empty()) {
                        parameters.insert("sha256".to_string(), hex.to_string());
                    }
                }
            }
            let resolved_at_build = match (resolved_at_build, version.is_latest()) {
                (Some(why), _) => Some(why),
                (None, true) => Some("`latest`: the newest release when the image is built".into()),
                (None, false) => None,
            };
            let withdrawn = resolution
                .release
                .as_ref()
                .and_then(|r| r.withdrawn.as_ref())
                .map(|w| WithdrawnPin {
                    reason: w.reason.clone(),
                    since: w.since.clone(),
                    nearest: imagesmith_validate::nearest_obtainable(
                        component,
                        &context.index,
                        imagesmith_index::Target {
                            os: &os.id,
                            family: os.family.as_str(),
                            arch: self.architecture,
                        },
                        version.as_str(),
                    ),
                });
            let document_digest = digest_of(&platform.document);
            let digest = digest_of(&(
                name,
                &parameters,
                &secrets,
                &platform.artifact,
                &platform.document,
            ));
            out.push(LockedComponent {
                name: name.clone(),
                version,
                version_source: resolution.source,
                decided_by,
                component: Arc::clone(component),
                platform: platform.clone(),
                source,
                parameters,
                secrets,
                artifact,
                resolved_at_build,
                document_digest,
                digest,
                withdrawn,
            });
        }
        Ok(out)
    }
}

/// Whether two URLs name files of the same folder with the same extension.
fn same_kind(a: &str, b: &str) -> bool {
    let folder = |u: &str| u.rsplit_once('/').map(|(f, _)| f.to_string());
    let extension = |u: &str| {
        let name = file_name(u).to_ascii_lowercase();
        [
            ".tar.gz", ".tar.xz", ".tgz", ".zip", ".rpm", ".deb", ".msi", ".exe", ".pkg",
        ]
        .into_iter()
        .find(|e| name.ends_with(e))
        .unwrap_or("")
    };
    folder(a) == folder(b) && extension(a) == extension(b)
}

/// The last path segment of a URL, without a query.
fn file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

fn image_digest(
    parent: &str,
    components: &[LockedComponent],
    labels: &IndexMap<String, String>,
    environment: &IndexMap<String, String>,
    user: Option<&str>,
) -> String {
    let parts: Vec<&str> = components.iter().map(|c| c.digest.as_str()).collect();
    digest_of(&(parent, parts, labels, environment, user))
}

/// `sha256:<hex>` of the canonical JSON of `value`.
pub fn digest_of<T: Serialize + ?Sized>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_rewrite_the_first_matching_prefix() {
        let mut mirrors = IndexMap::new();
        mirrors.insert(
            "https://github.com/".to_string(),
            "http://127.0.0.1:8080/github/".to_string(),
        );
        assert_eq!(
            rewrite(&mirrors, "https://github.com/a/b.tar.gz"),
            "http://127.0.0.1:8080/github/a/b.tar.gz"
        );
        assert_eq!(
            rewrite(&mirrors, "https://example.com/x"),
            "https://example.com/x"
        );
    }

    #[test]
    fn build_ids_are_twelve_hex_digits() {
        assert_eq!(build_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
