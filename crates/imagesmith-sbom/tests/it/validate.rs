//! The documents checked by the reference tools: spdx-tools for SPDX, cyclonedx-python-lib's
//! strict JSON schema validator for CycloneDX. Skipped with a printed reason when the
//! Python modules are absent, except under `CI=true`, where that is a failure.

use std::process::Command;

use serde_json::Value;

use imagesmith_sbom::{cyclonedx, spdx, ArtifactRef, ComponentRecord, SbomInput};

/// Exit code the scripts use for "the Python module is not installed".
const MISSING: i32 = 3;

const SPDX_SCRIPT: &str = r#"
import sys
try:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
except ImportError as error:
    print(f"spdx-tools is not installed: {error}")
    sys.exit(3)
document = parse_file(sys.argv[1])
messages = validate_full_spdx_document(document)
for message in messages:
    print(message.validation_message, "|", message.context.spdx_id)
sys.exit(1 if messages else 0)
"#;

const CYCLONEDX_SCRIPT: &str = r#"
import sys
try:
    from cyclonedx.validation.json import JsonStrictValidator
    from cyclonedx.schema import SchemaVersion
    import jsonschema
except ImportError as error:
    print(f"cyclonedx-python-lib[json-validation] is not installed: {error}")
    sys.exit(3)
validator = JsonStrictValidator(SchemaVersion.V1_5)
with open(sys.argv[1]) as file:
    error = validator.validate_str(file.read())
if error is not None:
    # The error's text carries the whole schema; print only what failed and where.
    data = getattr(error, "data", None)
    print(getattr(data, "message", error), "at", list(getattr(data, "absolute_path", [])))
    sys.exit(1)
"#;

/// Runs a validation script on `document`; `false` when it was skipped.
fn run(script: &str, what: &str, document: &Value) -> bool {
    let directory = tempfile::tempdir().unwrap();
    // spdx-tools picks the parser by extension.
    let path = directory.path().join("document.json");
    std::fs::write(&path, serde_json::to_vec_pretty(document).unwrap()).unwrap();
    let output = match Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
    {
        Ok(output) => output,
        Err(error) => {
            let reason = format!("python3 cannot run: {error}");
            assert!(!crate::required(), "CI=true: {reason}");
            eprintln!("skipped {what} validation: {reason}");
            return false;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(MISSING) {
        assert!(!crate::required(), "CI=true: {stdout}");
        eprintln!("skipped {what} validation: {stdout}");
        return false;
    }
    if !output.status.success() {
        let text = serde_json::to_string_pretty(document).unwrap();
        let shown: String = text.chars().take(20_000).collect();
        panic!("{what} validation failed:\n{stdout}\n{stderr}\n{shown}");
    }
    true
}

/// Asserts the reference SPDX tools accept `document` with no validation messages.
pub fn assert_valid_spdx(document: &Value) {
    run(SPDX_SCRIPT, "SPDX", document);
}

/// Asserts cyclonedx-python-lib's strict 1.5 schema accepts `document`.
pub fn assert_valid_cyclonedx(document: &Value) {
    run(CYCLONEDX_SCRIPT, "CycloneDX", document);
}

fn fixture() -> SbomInput {
    let root = tempfile::tempdir().unwrap();
    crate::debian_rootfs(root.path());
    crate::input(root.path())
}

#[test]
fn fixture_spdx_is_valid() {
    assert_valid_spdx(&spdx(&fixture()));
}

#[test]
fn fixture_cyclonedx_is_valid() {
    assert_valid_cyclonedx(&cyclonedx(&fixture()));
}

/// Inputs at the edges: no OS, no packages, odd names and URLs, an empty version.
#[test]
fn odd_input_is_valid() {
    let input = SbomInput {
        image_name: "registry.example:5000/team/App:1.0".into(),
        image_digest: "sha512:abc".into(),
        created: 0,
        os: None,
        packages: vec![imagesmith_sbom::Package::new(
            imagesmith_sbom::PackageManager::Rpm,
            "perl-Scalar-List-Utils",
            "1.63-489.amzn2023.0.2",
        )],
        components: vec![
            ComponentRecord {
                name: "weird name/with:chars".into(),
                version: String::new(),
                artifact: ArtifactRef::Download {
                    url: "https://10.1.2.3/file".into(),
                    checksum_url: None,
                    sha256: None,
                },
                omitted: None,
            },
            ComponentRecord {
                name: "everything".into(),
                version: "1".into(),
                artifact: ArtifactRef::Package { names: vec![] },
                omitted: Some("why \"quoted\"\nand multi-line".into()),
            },
        ],
    };
    assert_valid_spdx(&spdx(&input));
    assert_valid_cyclonedx(&cyclonedx(&input));
}
