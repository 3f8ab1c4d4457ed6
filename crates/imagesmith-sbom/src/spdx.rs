//! SPDX 2.3 JSON.

use serde_json::{json, Map, Value};

use crate::view::{self, View};
use crate::{identity, purl, Package, SbomInput, TOOL};

const NOASSERTION: &str = "NOASSERTION";
const IMAGE_ID: &str = "SPDXRef-Image";
const OS_ID: &str = "SPDXRef-OperatingSystem";

/// An SPDX 2.3 JSON document for an image.
///
/// The image is the root package (`DESCRIBES`); it `CONTAINS` its operating system, every OS
/// package and every installed catalog component; a component installed from OS packages
/// `DEPENDS_ON` them. Components that were not installed are listed in an annotation on the
/// image. Licenses are NOASSERTION unless they translate to a valid SPDX expression.
pub fn spdx(input: &SbomInput) -> Value {
    let view = View::new(input);
    let created = identity::rfc3339(input.created);
    let image_name = if input.image_name.trim().is_empty() {
        "image"
    } else {
        input.image_name.as_str()
    };

    let mut packages = vec![image_package(input, image_name, &view, &created)];
    let mut relationships = vec![relationship("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID)];

    if let Some(os) = &input.os {
        let mut package = base_package(OS_ID, &os.id, os.version_id.as_deref());
        package.insert("primaryPackagePurpose".into(), json!("OPERATING-SYSTEM"));
        if let Some(pretty) = &os.pretty_name {
            package.insert("description".into(), json!(pretty));
        }
        packages.push(Value::Object(package));
        relationships.push(relationship(IMAGE_ID, "CONTAINS", OS_ID));
    }

    let package_ids: Vec<String> = view
        .packages
        .iter()
        .map(|package| package_id(package))
        .collect();
    for (package, id) in view.packages.iter().zip(&package_ids) {
        packages.push(os_package(package, id, input));
        relationships.push(relationship(IMAGE_ID, "CONTAINS", id));
    }

    let mut depends = Vec::new();
    for installed in &view.components {
        let record = installed.record;
        let id = format!(
            "SPDXRef-Component-{}-{}",
            identity::spdx_safe(&record.name),
            identity::short_hash(&[&record.name, &record.version])
        );
        let mut package = base_package(&id, &record.name, Some(&record.version));
        package.insert("primaryPackagePurpose".into(), json!("APPLICATION"));
        if let crate::ArtifactRef::Download { url, .. } = &record.artifact {
            if let Some(url) = view::url(url) {
                package.insert("downloadLocation".into(), json!(url));
            }
        }
        if let Some(sha256) = view::sha256(record) {
            package.insert(
                "checksums".into(),
                json!([{ "algorithm": "SHA256", "checksumValue": sha256 }]),
            );
        }
        package.insert(
            "comment".into(),
            json!(format!(
                "imagesmith catalog component. {}",
                view::provenance(installed)
            )),
        );
        packages.push(Value::Object(package));
        relationships.push(relationship(IMAGE_ID, "CONTAINS", &id));
        for &index in &installed.packages {
            depends.push(relationship(&id, "DEPENDS_ON", &package_ids[index]));
        }
    }
    relationships.extend(depends);

    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": image_name,
        "documentNamespace": format!(
            "https://imagesmith.invalid/spdx/{}-{}",
            purl::encode(image_name),
            identity::image_uuid(&input.image_digest)
        ),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: {TOOL}")],
        },
        "packages": packages,
        "relationships": relationships,
    })
}

fn image_package(input: &SbomInput, name: &str, view: &View<'_>, created: &str) -> Value {
    let version = (!input.image_digest.is_empty()).then_some(input.image_digest.as_str());
    let mut package = base_package(IMAGE_ID, name, version);
    package.insert("primaryPackagePurpose".into(), json!("CONTAINER"));
    if let Some(hex) = input.image_digest.strip_prefix("sha256:") {
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            package.insert(
                "checksums".into(),
                json!([{ "algorithm": "SHA256", "checksumValue": hex }]),
            );
        }
    }
    if let Some(purl) = purl::image(&input.image_name, &input.image_digest) {
        package.insert("externalRefs".into(), purl_ref(&purl));
    }
    if !view.omitted.is_empty() {
        let annotations: Vec<Value> = view
            .omitted
            .iter()
            .map(|record| {
                json!({
                    "annotationDate": created,
                    "annotationType": "OTHER",
                    "annotator": format!("Tool: {TOOL}"),
                    "comment": format!("imagesmith:omitted {}", view::omission(record)),
                })
            })
            .collect();
        package.insert("annotations".into(), Value::Array(annotations));
        let names: Vec<String> = view
            .omitted
            .iter()
            .map(|record| view::omission(record))
            .collect();
        package.insert(
            "comment".into(),
            json!(format!(
                "Catalog components not installed in this image: {}",
                names.join("; ")
            )),
        );
    }
    Value::Object(package)
}

fn os_package(package: &Package, id: &str, input: &SbomInput) -> Value {
    let version = package.display_version();
    let mut out = base_package(id, &package.name, Some(&version));
    if let Some(supplier) = package.supplier.as_deref().and_then(supplier) {
        out.insert("supplier".into(), json!(supplier));
    }
    if let Some(homepage) = package.homepage.as_deref().and_then(view::url) {
        out.insert("homepage".into(), json!(homepage));
    }
    if package.source.is_some() || package.source_version.is_some() {
        let source = package.source.as_deref().unwrap_or(&package.name);
        let source_info = match &package.source_version {
            Some(version) => format!("built package from: {source} {version}"),
            None => format!("built package from: {source}"),
        };
        out.insert("sourceInfo".into(), json!(source_info));
    }
    if let Some(license) = &package.license {
        out.insert("licenseDeclared".into(), json!(license));
    } else if !package.licenses.is_empty() {
        out.insert(
            "licenseComments".into(),
            json!(format!(
                "Stated licenses that do not translate to SPDX: {}",
                package.licenses.join("; ")
            )),
        );
    }
    out.insert(
        "externalRefs".into(),
        purl_ref(&package.purl(input.os.as_ref())),
    );
    Value::Object(out)
}

/// The fields every package has, with NOASSERTION where nothing is known.
fn base_package(id: &str, name: &str, version: Option<&str>) -> Map<String, Value> {
    let mut package = Map::new();
    package.insert("SPDXID".into(), json!(id));
    package.insert("name".into(), json!(name));
    if let Some(version) = version.filter(|version| !version.is_empty()) {
        package.insert("versionInfo".into(), json!(version));
    }
    package.insert("downloadLocation".into(), json!(NOASSERTION));
    package.insert("filesAnalyzed".into(), json!(false));
    package.insert("licenseConcluded".into(), json!(NOASSERTION));
    package.insert("licenseDeclared".into(), json!(NOASSERTION));
    package.insert("copyrightText".into(), json!(NOASSERTION));
    package
}

fn package_id(package: &Package) -> String {
    format!(
        "SPDXRef-Package-{}-{}-{}",
        package.manager.purl_type(),
        identity::spdx_safe(&package.name),
        identity::short_hash(&[&identity::package_key(package)])
    )
}

fn purl_ref(purl: &str) -> Value {
    json!([{
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    }])
}

fn relationship(element: &str, kind: &str, related: &str) -> Value {
    json!({
        "spdxElementId": element,
        "relationshipType": kind,
        "relatedSpdxElement": related,
    })
}

/// `Organization: Debian GCC Maintainers (debian-gcc@lists.debian.org)` or
/// `Person: Jane Doe (jane@example.org)`.
fn supplier(text: &str) -> Option<String> {
    let (name, email) = view::person(text);
    if name.is_empty() {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let organization = [
        "maintainers",
        "team",
        "group",
        "project",
        "developers",
        "debian",
        "amazon",
        "linux",
        "foundation",
        "inc",
        "ltd",
        "llc",
        "corporation",
        "fedora",
        "red hat",
        "ubuntu",
    ]
    .iter()
    .any(|word| {
        lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|token| token == *word)
            || (word.contains(' ') && lower.contains(word))
    });
    let kind = if organization {
        "Organization"
    } else {
        "Person"
    };
    Some(match email {
        Some(email) => format!("{kind}: {name} ({email})"),
        None => format!("{kind}: {name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppliers() {
        assert_eq!(
            supplier("Debian GCC Maintainers <debian-gcc@lists.debian.org>").as_deref(),
            Some("Organization: Debian GCC Maintainers (debian-gcc@lists.debian.org)")
        );
        assert_eq!(
            supplier("Jane Doe <jane@example.org>").as_deref(),
            Some("Person: Jane Doe (jane@example.org)")
        );
        assert_eq!(
            supplier("Amazon Linux").as_deref(),
            Some("Organization: Amazon Linux")
        );
        assert_eq!(supplier("<only@email.org>"), None);
    }
}
