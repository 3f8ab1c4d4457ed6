//! `imagesmith schema`: committed schemas match the generated ones, and documents validate.

use crate::{fixtures, imagesmith, repo_root, stdout};
use imagesmith_yaml::{load_str, Limits};
use serde_json::Value;

const KINDS: [&str; 5] = ["spec", "recipe", "component", "project", "os"];

#[test]
fn committed_schemas_are_up_to_date() {
    let mut stale = Vec::new();
    for kind in KINDS {
        let output = imagesmith(&["schema", kind], &repo_root());
        assert_eq!(output.status.code(), Some(0));
        let path = repo_root().join(format!("schemas/{kind}.json"));
        let generated = stdout(&output);
        if std::env::var_os("IMAGESMITH_UPDATE_SCHEMAS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            stale.push(kind);
        }
    }
    assert!(
        stale.is_empty(),
        "schemas/{stale:?}.json differ from `imagesmith schema`; regenerate with IMAGESMITH_UPDATE_SCHEMAS=1 cargo nextest run -E 'test(committed_schemas)'"
    );
}

fn as_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let loaded = load_str(path.to_string_lossy().as_ref(), &text, Limits::DEFAULT);
    imagesmith_model::decode::to_json(loaded.root.as_ref().unwrap())
}

#[test]
fn seed_examples_match_the_exported_schemas() {
    let schema = |kind: &str| -> Value {
        serde_json::from_str(&stdout(&imagesmith(&["schema", kind], &repo_root()))).unwrap()
    };
    let spec = jsonschema::validator_for(&schema("spec")).unwrap();
    let recipe = jsonschema::validator_for(&schema("recipe")).unwrap();
    let dir = fixtures().join("valid");
    for (name, validator) in [
        ("seed-customer-spec.yaml", &spec),
        ("seed-static-code-scanner.yaml", &spec),
        ("seed-recipe.yaml", &recipe),
    ] {
        let errors: Vec<String> = validator
            .iter_errors(&as_json(&dir.join(name)))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
    // A structural error is an error for the schema too.
    let bad = as_json(&fixtures().join("invalid/01-unknown-top-key.yaml"));
    assert!(!spec.is_valid(&bad));
}
