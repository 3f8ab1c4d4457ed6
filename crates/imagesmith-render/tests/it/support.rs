//! Loading the seed fixture project and rendering it.

use imagesmith_plan::{plan, BuildPlan, NamedSpec};
use imagesmith_render::{render, RenderOptions, Rendered, Target};
use imagesmith_validate::{load_project, validate_spec, Context};
use std::path::{Path, PathBuf};

/// The fixture project mirroring the seed documents.
pub fn seed_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed")
}

/// Validates and plans a project folder the way `imagesmith render` does.
pub fn load(root: &Path) -> (BuildPlan, Context) {
    // A fixed date keeps end-of-life checks from changing the outcome.
    let loaded = load_project(root, root, "2026-01-01").expect("fixture loads");
    let mut specs = Vec::new();
    for path in &loaded.specs {
        let text = std::fs::read_to_string(path).expect("spec reads");
        let shown = path
            .strip_prefix(root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let (spec, _) = validate_spec(shown.clone(), &text, &loaded.context)
            .unwrap_or_else(|d| panic!("{shown} is invalid: {d:?}"));
        specs.push(NamedSpec {
            name: spec
                .get()
                .name
                .clone()
                .unwrap_or_else(|| imagesmith_catalog::file_stem(&shown).to_string()),
            source: shown,
            spec,
        });
    }
    let recipes: Vec<String> = loaded.recipes.iter().map(|(n, _)| n.clone()).collect();
    let plan = plan(&loaded.context, &specs, &recipes, &[]).expect("fixture plans");
    (plan, loaded.context)
}

/// Renders the seed fixture for every target.
pub fn render_seed() -> Rendered {
    let (plan, context) = load(&seed_root());
    render(&plan, &context, &RenderOptions::new(&[Target::All])).expect("renders")
}

/// Writes `rendered` below a new temporary folder.
pub fn write(rendered: &Rendered) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for file in &rendered.files {
        let path = dir.path().join(&file.path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &file.contents).expect("write");
    }
    dir
}
