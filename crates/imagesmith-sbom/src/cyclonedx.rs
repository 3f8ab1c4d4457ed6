//! CycloneDX JSON.

use serde_json::{json, Map, Value};

use crate::view::{self, View};
use crate::{identity, purl, ArtifactRef, Package, PackageManager, SbomInput};

/// The CycloneDX specification version written.
pub const CYCLONEDX_SPEC_VERSION: &str = "1.5";

const IMAGE_REF: &str = "imagesmith:image";
const OS_REF: &str = "imagesmith:os";

/// A CycloneDX 1.5 JSON BOM for an image.
///
/// The image is `metadata.component`; OS packages are `library` components (bom-ref = purl),
/// catalog components are `application` components carrying `imagesmith:*` properties and a
/// dependency on the packages they were installed from. Components that were not installed
/// appear as `imagesmith:omitted` properties of the image.
pub fn cyclonedx(input: &SbomInput) -> Value {
    let view = View::new(input);
    let mut components = Vec::new();

    if let Some(os) = &input.os {
        let mut component = Map::new();
        component.insert("type".into(), json!("operating-system"));
        component.insert("bom-ref".into(), json!(OS_REF));
        component.insert("name".into(), json!(os.id));
        if let Some(version) = &os.version_id {
            component.insert("version".into(), json!(version));
        }
        if let Some(pretty) = &os.pretty_name {
            component.insert("description".into(), json!(pretty));
        }
        components.push(Value::Object(component));
    }

    let package_refs: Vec<String> = view
        .packages
        .iter()
        .map(|package| package.purl(input.os.as_ref()))
        .collect();
    for (package, bom_ref) in view.packages.iter().zip(&package_refs) {
        components.push(os_package(package, bom_ref));
    }

    let mut dependencies = Vec::new();
    for installed in &view.components {
        let record = installed.record;
        let bom_ref = format!("imagesmith:component:{}@{}", record.name, record.version);
        let mut component = Map::new();
        component.insert("type".into(), json!("application"));
        component.insert("bom-ref".into(), json!(bom_ref));
        component.insert("name".into(), json!(record.name));
        if !record.version.is_empty() {
            component.insert("version".into(), json!(record.version));
        }
        if let Some(sha256) = view::sha256(record) {
            component.insert(
                "hashes".into(),
                json!([{ "alg": "SHA-256", "content": sha256 }]),
            );
        }
        if let ArtifactRef::Download { url, .. } = &record.artifact {
            if let Some(url) = view::url(url) {
                component.insert(
                    "externalReferences".into(),
                    json!([{ "type": "distribution", "url": url }]),
                );
            }
        }
        let source = match &record.artifact {
            ArtifactRef::Package { .. } => "package",
            ArtifactRef::Download { .. } => "download",
            ArtifactRef::VendorApi { .. } => "vendor-api",
        };
        component.insert(
            "properties".into(),
            json!([
                { "name": "imagesmith:component", "value": record.name },
                { "name": "imagesmith:artifact", "value": source },
                { "name": "imagesmith:provenance", "value": view::provenance(installed) },
            ]),
        );
        components.push(Value::Object(component));
        let depends_on: Vec<&String> = installed
            .packages
            .iter()
            .map(|&index| &package_refs[index])
            .collect();
        dependencies.push(json!({ "ref": bom_ref, "dependsOn": depends_on }));
    }

    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": CYCLONEDX_SPEC_VERSION,
        "serialNumber": format!("urn:uuid:{}", identity::image_uuid(&input.image_digest)),
        "version": 1,
        "metadata": {
            "timestamp": identity::rfc3339(input.created),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "imagesmith",
                    "version": env!("CARGO_PKG_VERSION"),
                }],
            },
            "component": image(input, &view),
        },
        "components": components,
        "dependencies": dependencies,
    })
}

fn image(input: &SbomInput, view: &View<'_>) -> Value {
    let mut component = Map::new();
    component.insert("type".into(), json!("container"));
    component.insert("bom-ref".into(), json!(IMAGE_REF));
    let name = if input.image_name.trim().is_empty() {
        "image"
    } else {
        input.image_name.as_str()
    };
    component.insert("name".into(), json!(name));
    if !input.image_digest.is_empty() {
        component.insert("version".into(), json!(input.image_digest));
    }
    if let Some(hex) = input.image_digest.strip_prefix("sha256:") {
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            component.insert(
                "hashes".into(),
                json!([{ "alg": "SHA-256", "content": hex.to_ascii_lowercase() }]),
            );
        }
    }
    if let Some(purl) = purl::image(&input.image_name, &input.image_digest) {
        component.insert("purl".into(), json!(purl));
    }
    let properties: Vec<Value> = view
        .omitted
        .iter()
        .map(|record| json!({ "name": "imagesmith:omitted", "value": view::omission(record) }))
        .collect();
    if !properties.is_empty() {
        component.insert("properties".into(), Value::Array(properties));
    }
    Value::Object(component)
}

fn os_package(package: &Package, bom_ref: &str) -> Value {
    let mut component = Map::new();
    component.insert("type".into(), json!("library"));
    component.insert("bom-ref".into(), json!(bom_ref));
    if let Some(supplier) = &package.supplier {
        let (name, email) = view::person(supplier);
        if !name.is_empty() {
            let mut entity = Map::new();
            entity.insert("name".into(), json!(name));
            if let Some(email) = email {
                entity.insert("contact".into(), json!([{ "email": email }]));
            }
            component.insert("supplier".into(), Value::Object(entity));
        }
    }
    component.insert("name".into(), json!(package.name));
    component.insert("version".into(), json!(package.display_version()));
    if let Some(license) = &package.license {
        component.insert("licenses".into(), json!([{ "expression": license }]));
    } else if !package.licenses.is_empty() {
        let names: Vec<Value> = package
            .licenses
            .iter()
            .map(|name| json!({ "license": { "name": name } }))
            .collect();
        component.insert("licenses".into(), Value::Array(names));
    }
    component.insert("purl".into(), json!(bom_ref));
    if let Some(homepage) = package.homepage.as_deref().and_then(view::url) {
        component.insert(
            "externalReferences".into(),
            json!([{ "type": "website", "url": homepage }]),
        );
    }
    let manager = match package.manager {
        PackageManager::Dpkg => "dpkg",
        PackageManager::Rpm => "rpm",
    };
    let mut properties = vec![json!({ "name": "imagesmith:package-manager", "value": manager })];
    if let Some(source) = &package.source {
        properties.push(json!({ "name": "imagesmith:source-package", "value": source }));
    }
    if let Some(version) = &package.source_version {
        properties.push(json!({ "name": "imagesmith:source-version", "value": version }));
    }
    component.insert("properties".into(), Value::Array(properties));
    Value::Object(component)
}
