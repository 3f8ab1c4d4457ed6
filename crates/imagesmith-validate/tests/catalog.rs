//! The built-in catalog is valid: every embedded file passes the same checks users' files do.

use imagesmith_catalog::{builtin, embedded_files, BUILT_IN};
use imagesmith_validate::{check_bytes, Context};

#[test]
fn the_builtin_catalog_decodes_cleanly() {
    let (catalog, diagnostics) = builtin();
    let problems: Vec<String> = diagnostics
        .iter()
        .map(|d| format!("{}:{}: {}", d.path, d.line(), d.message))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(catalog.components.len() >= 23);
    assert_eq!(catalog.os.len(), 5);
}

#[test]
fn every_embedded_file_validates_without_errors() {
    let mut context = Context::builtin();
    context.today = "2026-11-21".into();
    let mut problems = Vec::new();
    for folder in ["os", "components", "recipes", "starter"] {
        for file in embedded_files(folder) {
            let report = check_bytes(
                format!("{BUILT_IN}/{}", file.path),
                file.text.as_bytes(),
                None,
                &context,
            );
            for d in report.diagnostics.iter().filter(|d| d.is_error()) {
                problems.push(format!(
                    "{}:{}:{}: {} [{}]",
                    d.path,
                    d.line(),
                    d.column(),
                    d.message,
                    d.code
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_supported_os_has_both_golden_images() {
    let (catalog, _) = builtin();
    for os in catalog.os.values() {
        if os.status == imagesmith_model::OsStatus::Planned {
            continue;
        }
        for kind in ["container", "ami"] {
            let name = format!("golden-{kind}-{}", os.id);
            assert!(catalog.recipe(&name).is_some(), "{name} missing");
        }
    }
}
