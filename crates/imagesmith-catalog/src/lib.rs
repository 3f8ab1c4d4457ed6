//! The built-in catalog: component definitions, operating systems and golden recipes,
//! embedded in the binary as YAML data (`catalog/`), plus the starter project of
//! `imagesmith init`.
//!
//! The catalog is data, not code: adding a component is adding a file. A project may add its
//! own components on top with [`Catalog::with_components`].
#![deny(missing_docs)]

use imagesmith_diagnostics::Diagnostics;
use imagesmith_model::{decode, Component, Os, Recipe};
use imagesmith_yaml::{load_str, Limits};
use include_dir::{include_dir, Dir};
use indexmap::IndexMap;
use std::sync::{Arc, OnceLock};

static CATALOG_DIR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/catalog");

/// Everything imagesmith knows without a project.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Components by name.
    pub components: Map<Arc<Component>>,
    /// Operating systems by id.
    pub os: Map<Os>,
    /// Golden recipes by image name (`golden-container-debian12`).
    pub recipes: Map<Arc<Recipe>>,
    /// Where each entry came from (`<built-in>/components/python.yaml`).
    pub sources: Map<Arc<str>>,
}

/// A catalog table by name, in insertion order. Every spec checked looks names up in it many
/// times, so it hashes with foldhash (fast, fixed seed) rather than SipHash: its keys come
/// from the catalog and the project, not from an attacker choosing collisions.
pub type Map<V> = IndexMap<String, V, foldhash::fast::FixedState>;

/// An embedded file.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedFile {
    /// Its path below `catalog/`, with `/` separators.
    pub path: &'static str,
    /// Its text.
    pub text: &'static str,
}

/// The prefix shown for embedded files in messages.
pub const BUILT_IN: &str = "<built-in>";

/// Every embedded file below `folder` (`components`, `os`, `recipes`, `starter`), sorted.
pub fn embedded_files(folder: &str) -> Vec<EmbeddedFile> {
    let mut out = Vec::new();
    if let Some(dir) = CATALOG_DIR.get_dir(folder) {
        collect(dir, &mut out);
    }
    out.sort_by_key(|f| f.path);
    out
}

fn collect(dir: &'static Dir<'static>, out: &mut Vec<EmbeddedFile>) {
    for file in dir.files() {
        if let (Some(path), Some(text)) = (file.path().to_str(), file.contents_utf8()) {
            out.push(EmbeddedFile { path, text });
        }
    }
    for sub in dir.dirs() {
        collect(sub, out);
    }
}

/// The built-in catalog, decoded once per process.
///
/// The embedded files are checked by this crate's tests, so the diagnostics are empty in a
/// release; they are kept so a broken build says what broke instead of panicking.
pub fn builtin() -> &'static (Catalog, Diagnostics) {
    static BUILTIN: OnceLock<(Catalog, Diagnostics)> = OnceLock::new();
    BUILTIN.get_or_init(load_builtin)
}

fn load_builtin() -> (Catalog, Diagnostics) {
    let mut catalog = Catalog::default();
    let mut diagnostics = Diagnostics::new();
    let limits = Limits {
        max_bytes: 4 * 1024 * 1024,
        ..Limits::DEFAULT
    };
    for file in embedded_files("os") {
        let name: Arc<str> = format!("{BUILT_IN}/{}", file.path).into();
        let loaded = load_str(name.clone(), file.text, limits);
        diagnostics.extend(loaded.diagnostics);
        let Some(root) = loaded.root else { continue };
        let mut decoder = decode::Decoder::new(&name, &mut diagnostics);
        if let Some(os) = decode::os(&mut decoder, &root) {
            catalog.sources.insert(format!("os:{}", os.id), name);
            catalog.os.insert(os.id.clone(), os);
        }
    }
    for file in embedded_files("components") {
        let name: Arc<str> = format!("{BUILT_IN}/{}", file.path).into();
        let loaded = load_str(name.clone(), file.text, limits);
        diagnostics.extend(loaded.diagnostics);
        let Some(root) = loaded.root else { continue };
        let mut decoder = decode::Decoder::new(&name, &mut diagnostics);
        if let Some(component) = decode::component(&mut decoder, &root) {
            catalog
                .sources
                .insert(format!("component:{}", component.name), name);
            catalog
                .components
                .insert(component.name.clone(), Arc::new(component));
        }
    }
    for file in embedded_files("recipes") {
        let name: Arc<str> = format!("{BUILT_IN}/{}", file.path).into();
        let loaded = load_str(name.clone(), file.text, limits);
        diagnostics.extend(loaded.diagnostics);
        let Some(root) = loaded.root else { continue };
        let mut decoder = decode::Decoder::new(&name, &mut diagnostics);
        if let Some(recipe) = decode::recipe(&mut decoder, &root) {
            let image = recipe
                .name
                .clone()
                .unwrap_or_else(|| file_stem(file.path).to_string());
            catalog.sources.insert(format!("recipe:{image}"), name);
            catalog.recipes.insert(image, Arc::new(recipe));
        }
    }
    catalog.components.sort_keys();
    catalog.recipes.sort_keys();
    (catalog, diagnostics)
}

/// The file name without folders and extension.
pub fn file_stem(path: &str) -> &str {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    name.strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))
        .unwrap_or(name)
}

impl Catalog {
    /// A catalog with `components` added; a project component replaces a built-in one of the
    /// same name.
    pub fn with_components(
        &self,
        components: impl IntoIterator<Item = (Arc<str>, Component)>,
    ) -> Catalog {
        let mut catalog = self.clone();
        for (source, component) in components {
            catalog
                .sources
                .insert(format!("component:{}", component.name), source);
            catalog
                .components
                .insert(component.name.clone(), Arc::new(component));
        }
        catalog
    }

    /// A catalog with `recipes` added (golden recipes of a project), by image name.
    pub fn with_recipes(
        &self,
        recipes: impl IntoIterator<Item = (String, Arc<str>, Recipe)>,
    ) -> Catalog {
        let mut catalog = self.clone();
        for (image, source, recipe) in recipes {
            catalog.sources.insert(format!("recipe:{image}"), source);
            catalog.recipes.insert(image, Arc::new(recipe));
        }
        catalog
    }

    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&Arc<Component>> {
        self.components.get(name)
    }

    /// The OS with id `id`.
    pub fn os(&self, id: &str) -> Option<&Os> {
        self.os.get(id)
    }

    /// The golden recipe of image `name`.
    pub fn recipe(&self, name: &str) -> Option<&Arc<Recipe>> {
        self.recipes.get(name)
    }

    /// The OS whose container images include `reference` (`amazonlinux:2023`,
    /// `public.ecr.aws/amazonlinux/amazonlinux:2023`, `docker.io/library/debian:12`).
    pub fn os_of_container_image(&self, reference: &str) -> Option<&Os> {
        let wanted = normalise_reference(reference);
        self.os.values().find(|os| {
            os.container_images
                .iter()
                .any(|image| normalise_reference(image) == wanted)
        })
    }

    /// The OS whose AMI SSM parameters or Image Builder parents include `source`.
    pub fn os_of_ami_source(&self, source: &str) -> Option<&Os> {
        let source = source.strip_prefix("ssm:").unwrap_or(source);
        self.os.values().find(|os| {
            os.ami_ssm_parameters
                .values()
                .chain(os.imagebuilder_parents.values())
                .any(|p| p.strip_prefix("ssm:").unwrap_or(p) == source)
        })
    }
}

/// `docker.io/library/debian:12` and `debian:12` are the same image; so are
/// `public.ecr.aws/amazonlinux/amazonlinux:2023` and `amazonlinux:2023`.
fn normalise_reference(reference: &str) -> String {
    let r = reference.trim();
    let r = r.strip_prefix("docker.io/").unwrap_or(r);
    let r = r.strip_prefix("library/").unwrap_or(r);
    let r = r.strip_prefix("public.ecr.aws/amazonlinux/").unwrap_or(r);
    if r.contains(':') || r.contains('@') {
        r.to_string()
    } else {
        format!("{r}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_normalised() {
        assert_eq!(
            normalise_reference("docker.io/library/debian:12"),
            "debian:12"
        );
        assert_eq!(
            normalise_reference("public.ecr.aws/amazonlinux/amazonlinux:2023"),
            "amazonlinux:2023"
        );
        assert_eq!(normalise_reference("ubuntu"), "ubuntu:latest");
    }

    #[test]
    fn file_stem_drops_folders_and_extension() {
        assert_eq!(
            file_stem("recipes/golden-container-debian12.yaml"),
            "golden-container-debian12"
        );
    }
}
