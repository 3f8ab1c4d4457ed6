//! The shape of the SPDX and CycloneDX documents.

use serde_json::Value;

use imagesmith_sbom::{cyclonedx, spdx, SbomInput};

fn fixture() -> SbomInput {
    let root = tempfile::tempdir().unwrap();
    crate::debian_rootfs(root.path());
    crate::input(root.path())
}

fn find<'a>(items: &'a Value, key: &str, value: &str) -> &'a Value {
    items
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item[key] == value)
        .unwrap_or_else(|| panic!("no item with {key} = {value}"))
}

#[test]
fn same_input_same_bytes() {
    let input = fixture();
    let mut shuffled = input.clone();
    shuffled.packages.reverse();
    shuffled.components.reverse();
    for render in [spdx, cyclonedx] {
        let first = serde_json::to_vec_pretty(&render(&input)).unwrap();
        let second = serde_json::to_vec_pretty(&render(&input)).unwrap();
        let third = serde_json::to_vec_pretty(&render(&shuffled)).unwrap();
        assert_eq!(first, second);
        assert_eq!(first, third, "input order must not matter");
    }
}

#[test]
fn spdx_document() {
    let input = fixture();
    let document = spdx(&input);
    assert_eq!(document["spdxVersion"], "SPDX-2.3");
    assert_eq!(document["dataLicense"], "CC0-1.0");
    assert_eq!(document["SPDXID"], "SPDXRef-DOCUMENT");
    assert_eq!(document["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(
        document["creationInfo"]["creators"][0],
        format!("Tool: imagesmith-{}", env!("CARGO_PKG_VERSION"))
    );
    let namespace = document["documentNamespace"].as_str().unwrap();
    assert!(namespace.starts_with("https://imagesmith.invalid/spdx/golden-container-debian12-"));

    // The namespace follows the digest, not the run.
    let mut other = input.clone();
    other.image_digest = other.image_digest.replace("5e1c", "5e1d");
    assert_ne!(
        spdx(&other)["documentNamespace"],
        document["documentNamespace"]
    );

    let packages = &document["packages"];
    let image = find(packages, "SPDXID", "SPDXRef-Image");
    assert_eq!(image["primaryPackagePurpose"], "CONTAINER");
    assert_eq!(image["checksums"][0]["algorithm"], "SHA256");
    let annotation = image["annotations"][0]["comment"].as_str().unwrap();
    assert!(annotation.starts_with("imagesmith:omitted falcon_sensor 7.18: needs the host kernel"));
    assert!(image["comment"].as_str().unwrap().contains("falcon_sensor"));
    // The omitted component is not a package.
    assert!(!packages
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "falcon_sensor"));

    let bash = find(packages, "name", "bash");
    assert_eq!(bash["versionInfo"], "5.2.15-2+b2");
    assert_eq!(bash["downloadLocation"], "NOASSERTION");
    assert_eq!(bash["filesAnalyzed"], false);
    assert_eq!(bash["licenseConcluded"], "NOASSERTION");
    assert_eq!(bash["licenseDeclared"], "BSD-4-Clause AND GPL-3.0-or-later");
    assert_eq!(bash["supplier"], "Person: Matthias Klose (doko@debian.org)");
    assert_eq!(bash["externalRefs"][0]["referenceType"], "purl");
    assert_eq!(
        bash["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"
    );

    let libc6: Vec<&Value> = packages
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "libc6")
        .collect();
    assert_eq!(libc6.len(), 2);
    assert_ne!(libc6[0]["SPDXID"], libc6[1]["SPDXID"]);
    assert_eq!(libc6[0]["licenseDeclared"], "NOASSERTION");
    assert!(libc6[0]["licenseComments"]
        .as_str()
        .unwrap()
        .contains("public-domain"));
    assert_eq!(libc6[0]["sourceInfo"], "built package from: glibc");

    let exporter = find(packages, "name", "node_exporter");
    assert!(exporter["downloadLocation"]
        .as_str()
        .unwrap()
        .starts_with("https://github.com/"));
    assert_eq!(exporter["checksums"][0]["algorithm"], "SHA256");
    assert!(exporter["comment"]
        .as_str()
        .unwrap()
        .contains("sha256sums.txt"));

    let chrony_component = packages
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["name"] == "chrony"
                && p["SPDXID"]
                    .as_str()
                    .unwrap()
                    .starts_with("SPDXRef-Component-")
        })
        .unwrap();
    assert!(chrony_component["comment"]
        .as_str()
        .unwrap()
        .contains("not found in the image's package database: not-in-the-image"));

    let relationships = document["relationships"].as_array().unwrap();
    assert_eq!(relationships[0]["relationshipType"], "DESCRIBES");
    assert_eq!(relationships[0]["relatedSpdxElement"], "SPDXRef-Image");
    let depends: Vec<&Value> = relationships
        .iter()
        .filter(|r| r["relationshipType"] == "DEPENDS_ON")
        .collect();
    // chrony, and both architectures of libc6.
    assert_eq!(depends.len(), 3);
    assert!(depends
        .iter()
        .all(|r| r["spdxElementId"] == chrony_component["SPDXID"]));
    let contains = relationships
        .iter()
        .filter(|r| r["relationshipType"] == "CONTAINS")
        .count();
    // The OS, five packages, three installed components.
    assert_eq!(contains, 1 + 5 + 3);
}

#[test]
fn cyclonedx_bom() {
    let input = fixture();
    let bom = cyclonedx(&input);
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    assert_eq!(bom["version"], 1);
    let serial = bom["serialNumber"].as_str().unwrap();
    assert!(
        serial.starts_with("urn:uuid:") && serial.len() == 45,
        "{serial}"
    );
    assert!(spdx(&input)["documentNamespace"]
        .as_str()
        .unwrap()
        .ends_with(&serial[9..]));
    assert_eq!(bom["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
    assert_eq!(
        bom["metadata"]["tools"]["components"][0]["name"],
        "imagesmith"
    );

    let image = &bom["metadata"]["component"];
    assert_eq!(image["type"], "container");
    assert_eq!(image["name"], "golden-container-debian12");
    assert!(image["purl"]
        .as_str()
        .unwrap()
        .starts_with("pkg:oci/golden-container-debian12@sha256%3A"));
    let omitted = find(&image["properties"], "name", "imagesmith:omitted");
    assert!(omitted["value"]
        .as_str()
        .unwrap()
        .starts_with("falcon_sensor 7.18: "));

    let components = &bom["components"];
    assert_eq!(
        find(components, "type", "operating-system")["version"],
        "12"
    );
    let bash = find(components, "name", "bash");
    assert_eq!(bash["type"], "library");
    assert_eq!(bash["bom-ref"], bash["purl"]);
    assert_eq!(
        bash["licenses"][0]["expression"],
        "BSD-4-Clause AND GPL-3.0-or-later"
    );
    assert_eq!(bash["supplier"]["name"], "Matthias Klose");
    let libc6 = find(components, "name", "libc6");
    assert_eq!(libc6["licenses"][1]["license"]["name"], "public-domain");

    let exporter = find(components, "name", "node_exporter");
    assert_eq!(exporter["type"], "application");
    assert_eq!(exporter["externalReferences"][0]["type"], "distribution");
    assert_eq!(exporter["hashes"][0]["alg"], "SHA-256");
    assert_eq!(
        find(&exporter["properties"], "name", "imagesmith:component")["value"],
        "node_exporter"
    );
    assert_eq!(
        find(&exporter["properties"], "name", "imagesmith:artifact")["value"],
        "download"
    );

    let chrony = find(
        &bom["dependencies"],
        "ref",
        "imagesmith:component:chrony@4.3",
    );
    assert_eq!(chrony["dependsOn"].as_array().unwrap().len(), 3);
    // Every dependency points at a component that exists.
    let refs: Vec<&Value> = components
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["bom-ref"])
        .collect();
    for dependency in bom["dependencies"].as_array().unwrap() {
        assert!(refs.contains(&&dependency["ref"]));
        for target in dependency["dependsOn"].as_array().unwrap() {
            assert!(refs.contains(&target), "{target}");
        }
    }
}

#[test]
fn odd_input_still_gives_a_document() {
    let input = SbomInput {
        image_name: String::new(),
        image_digest: "not a digest".into(),
        created: u64::MAX,
        os: None,
        packages: vec![],
        components: vec![imagesmith_sbom::ComponentRecord {
            name: "x y/z".into(),
            version: String::new(),
            artifact: imagesmith_sbom::ArtifactRef::Download {
                url: "ftp://10.0.0.1/file".into(),
                checksum_url: None,
                sha256: Some("short".into()),
            },
            omitted: None,
        }],
    };
    let document = spdx(&input);
    assert_eq!(document["name"], "image");
    assert_eq!(document["creationInfo"]["created"], "9999-12-31T23:59:59Z");
    let component = &document["packages"][1];
    assert_eq!(component["downloadLocation"], "NOASSERTION");
    assert!(component.get("checksums").is_none());
    assert!(component["SPDXID"]
        .as_str()
        .unwrap()
        .starts_with("SPDXRef-Component-x-y-z-"));
    let bom = cyclonedx(&input);
    assert!(bom["metadata"]["component"].get("purl").is_none());
}
