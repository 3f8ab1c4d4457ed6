//! Locking and planning: resolves every image's components to exact versions, documents and
//! parameters, and orders the images into a [`BuildPlan`] (golden images before the
//! customized images built on them).
//!
//! Every planned image carries a content digest of everything that decides its bits (its
//! parent's digest, its components' versions, documents and parameters). Changing one
//! project default changes the digest of exactly the images that follow it, which is how
//! renders and builds know what to redo.
#![deny(missing_docs)]

use imagesmith_model::{
    Artifact, Component, ImageType, Os, Parameter, Platform, Project, Recipe, Spec, VersionText,
};
use imagesmith_validate::{
    recipe_image_type, recipe_os, resolve_version, Context, Validated, VersionSource,
};
use indexmap::IndexMap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why a plan could not be made from validated documents.
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
    #[error("No image named `{name}`")]
    UnknownImage {
        /// The name asked for.
        name: String,
        /// The closest known name.
        suggestion: Option<String>,
    },
}

/// Whether an image is a golden one or a customer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// OS plus the platform's agents.
    Golden,
    /// A customer's components on a golden image.
    Customized,
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
    /// A golden image of this plan.
    Golden {
        /// Its name.
        name: String,
    },
}

/// One component of one image, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedComponent {
    /// The component name.
    pub name: String,
    /// The exact version asked for (a pattern is never left here).
    pub version: VersionText,
    /// Where the version came from.
    #[serde(serialize_with = "version_source")]
    pub version_source: VersionSource,
    /// The definition.
    #[serde(skip)]
    pub component: Arc<Component>,
    /// How it is installed on the image's OS.
    #[serde(skip)]
    pub platform: Platform,
    /// AWSTOE parameter values (`version`, `arch`, and the non-secret parameters given).
    pub parameters: IndexMap<String, String>,
    /// The secret parameters it needs at run time (never values).
    pub secrets: Vec<String>,
    /// Digest of everything that decides what it installs.
    pub digest: String,
}

fn version_source<S: serde::Serializer>(source: &VersionSource, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match source {
        VersionSource::Document => "document",
        VersionSource::Latest => "latest",
        VersionSource::ProjectDefault => "project-default",
        VersionSource::CatalogDefault => "catalog-default",
    })
}

/// One image, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedImage {
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
    /// The image's semantic version, when the document gives one.
    pub version: Option<String>,
    /// What it says it is for.
    pub description: Option<String>,
    /// Components in install order.
    pub components: Vec<PlannedComponent>,
    /// Labels.
    pub labels: IndexMap<String, String>,
    /// Environment variables.
    pub environment: IndexMap<String, String>,
    /// The default user.
    pub user: Option<String>,
    /// The file it came from.
    pub source: String,
    /// Digest of the parent's digest and every component's digest.
    pub digest: String,
}

impl PlannedImage {
    /// The OS id.
    pub fn os_id(&self) -> &str {
        &self.os.id
    }
}

/// Every image to build or render, golden ones first.
#[derive(Debug, Clone, Serialize)]
pub struct BuildPlan {
    /// The project name (`imagesmith` without a project).
    pub project: String,
    /// The target architecture (`x86_64`).
    pub architecture: String,
    /// The images, each after the golden image it builds on.
    pub images: Vec<PlannedImage>,
    /// URL prefix rewrites for downloads (Artifactory/Nexus mirrors).
    pub mirrors: IndexMap<String, String>,
}

impl BuildPlan {
    /// The image called `name`.
    pub fn image(&self, name: &str) -> Option<&PlannedImage> {
        self.images.iter().find(|i| i.name == name)
    }

    /// `url` with the first matching mirror prefix applied.
    pub fn mirror(&self, url: &str) -> String {
        rewrite(&self.mirrors, url)
    }
}

/// `url` with the first matching prefix of `mirrors` replaced.
pub fn rewrite(mirrors: &IndexMap<String, String>, url: &str) -> String {
    for (from, to) in mirrors {
        if let Some(rest) = url.strip_prefix(from.as_str()) {
            return format!("{to}{rest}");
        }
    }
    url.to_string()
}

/// A customer spec with the name of its image and the file it came from.
#[derive(Debug, Clone)]
pub struct NamedSpec {
    /// The image name.
    pub name: String,
    /// The file.
    pub source: String,
    /// The spec.
    pub spec: Validated<Spec>,
}

/// Plans the project's images: every spec, every golden image a spec builds on, and every
/// project recipe. `only` narrows the plan to the named images and the golden images they
/// need.
pub fn plan(
    context: &Context,
    specs: &[NamedSpec],
    project_recipes: &[String],
    only: &[String],
) -> Result<BuildPlan, PlanError> {
    let catalog = &context.catalog;
    let project = context.project.as_ref();
    let architecture = "x86_64".to_string();
    // Which golden images are needed.
    let mut golden_names: Vec<String> = project_recipes.to_vec();
    for named in specs {
        if !golden_names.contains(&named.spec.base_image) {
            golden_names.push(named.spec.base_image.clone());
        }
    }
    for name in only {
        if catalog.recipe(name).is_some() && !golden_names.contains(name) {
            golden_names.push(name.clone());
        }
    }
    // Narrow to what was asked for.
    if !only.is_empty() {
        for name in only {
            let known = catalog.recipe(name).is_some() || specs.iter().any(|s| &s.name == name);
            if !known {
                let candidates: Vec<&str> = catalog
                    .recipes
                    .keys()
                    .map(String::as_str)
                    .chain(specs.iter().map(|s| s.name.as_str()))
                    .collect();
                return Err(PlanError::UnknownImage {
                    name: name.clone(),
                    suggestion: imagesmith_diagnostics_suggest(name, &candidates),
                });
            }
        }
        let needed_golden: Vec<String> = only
            .iter()
            .flat_map(|n| {
                let parent = specs
                    .iter()
                    .find(|s| &s.name == n)
                    .map(|s| s.spec.base_image.clone());
                [Some(n.clone()), parent]
            })
            .flatten()
            .collect();
        golden_names.retain(|g| needed_golden.contains(g));
    }
    golden_names.sort();
    golden_names.dedup();

    let mut images = Vec::new();
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
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
            .map(|s| s.to_string())
            .unwrap_or_default();
        let image = plan_recipe(context, name, recipe, os, source, &architecture)?;
        digests.insert(name.clone(), image.digest.clone());
        images.push(image);
    }
    let mut customized: Vec<&NamedSpec> = specs
        .iter()
        .filter(|s| only.is_empty() || only.contains(&s.name))
        .collect();
    customized.sort_by(|a, b| a.name.cmp(&b.name));
    for named in customized {
        let spec = named.spec.get();
        let parent_image = images
            .iter()
            .find(|i| i.name == spec.base_image)
            .ok_or_else(|| PlanError::UnknownParent {
                image: named.name.clone(),
                parent: spec.base_image.clone(),
            })?;
        let os = parent_image.os.clone();
        let parent_digest = parent_image.digest.clone();
        let components = plan_components(
            context,
            &named.name,
            &os,
            &spec.components,
            &spec.parameters,
            &architecture,
        )?;
        let digest = image_digest(
            &parent_digest,
            &components,
            &spec.labels,
            &spec.environment,
            spec.user.as_deref(),
        );
        images.push(PlannedImage {
            name: named.name.clone(),
            role: Role::Customized,
            image_type: spec.image_type,
            os,
            parent: Parent::Golden {
                name: spec.base_image.clone(),
            },
            version: spec.version.as_ref().map(|v| v.to_string()),
            description: spec.description.clone(),
            components,
            labels: spec.labels.clone(),
            environment: spec.environment.clone(),
            user: spec.user.clone(),
            source: named.source.clone(),
            digest,
        });
    }
    let _ = project;
    Ok(BuildPlan {
        project: project.map_or_else(|| "imagesmith".to_string(), |p| p.name.clone()),
        architecture,
        images,
        mirrors: project
            .map(|p: &Project| p.mirrors.clone())
            .unwrap_or_default(),
    })
}

fn imagesmith_diagnostics_suggest(name: &str, candidates: &[&str]) -> Option<String> {
    // Same rule as the validator's hints, without pulling the renderer in.
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

fn plan_recipe(
    context: &Context,
    name: &str,
    recipe: &Recipe,
    os: Os,
    source: String,
    architecture: &str,
) -> Result<PlannedImage, PlanError> {
    let components = plan_components(
        context,
        name,
        &os,
        &recipe.components,
        &recipe.parameters,
        architecture,
    )?;
    let parent = Parent::Base {
        reference: recipe.base_image.clone(),
    };
    let parent_digest = digest_of(&parent);
    let digest = image_digest(
        &parent_digest,
        &components,
        &recipe.labels,
        &recipe.environment,
        recipe.user.as_deref(),
    );
    Ok(PlannedImage {
        name: name.to_string(),
        role: Role::Golden,
        image_type: recipe_image_type(recipe),
        os,
        parent,
        version: recipe.version.as_ref().map(|v| v.to_string()),
        description: recipe.description.clone(),
        components,
        labels: recipe.labels.clone(),
        environment: recipe.environment.clone(),
        user: recipe.user.clone(),
        source,
        digest,
    })
}

fn plan_components(
    context: &Context,
    image: &str,
    os: &Os,
    wanted: &IndexMap<String, Option<VersionText>>,
    given: &IndexMap<String, IndexMap<String, String>>,
    architecture: &str,
) -> Result<Vec<PlannedComponent>, PlanError> {
    let mut out = Vec::new();
    for (name, requested) in wanted {
        let unavailable = || PlanError::Unavailable {
            image: image.to_string(),
            component: name.clone(),
            os: os.id.clone(),
        };
        let component = context.catalog.component(name).ok_or_else(unavailable)?;
        let platform = component.platforms.get(&os.id).ok_or_else(unavailable)?;
        let resolution = resolve_version(
            component,
            &os.id,
            requested.as_ref(),
            context.project.as_ref(),
        )
        .ok_or_else(unavailable)?;
        let mut parameters = IndexMap::new();
        parameters.insert("version".to_string(), resolution.version.to_string());
        if let Artifact::Download { arch, .. } = &platform.artifact {
            let token = arch
                .get(architecture)
                .cloned()
                .unwrap_or_else(|| architecture.to_string());
            parameters.insert("arch".to_string(), token);
        }
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
        let digest = digest_of(&(
            name,
            &parameters,
            &secrets,
            &platform.artifact,
            &platform.document,
        ));
        out.push(PlannedComponent {
            name: name.clone(),
            version: resolution.version,
            version_source: resolution.source,
            component: Arc::clone(component),
            platform: platform.clone(),
            parameters,
            secrets,
            digest,
        });
    }
    Ok(out)
}

fn image_digest(
    parent: &str,
    components: &[PlannedComponent],
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
}
