//! Loading the seed fixture project and rendering it.

use imagesmith_plan::{lock, LockedProject};
use imagesmith_render::{render, RenderOptions, Rendered, Target};
use imagesmith_validate::validate_project;
use std::path::{Path, PathBuf};

/// The fixture project mirroring the seed documents.
pub fn seed_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed")
}

/// Validates and locks a project folder the way `imagesmith lock` does (with no previous lock).
pub fn load(root: &Path) -> LockedProject {
    // A fixed date keeps end-of-life checks from changing the outcome.
    let project = validate_project(root, "2026-01-01")
        .expect("fixture loads")
        .unwrap_or_else(|invalid| panic!("the fixture is invalid: {:?}", invalid.diagnostics));
    lock(&project, None).expect("fixture locks")
}

/// Renders the seed fixture for every target.
pub fn render_seed() -> Rendered {
    let plan = load(&seed_root());
    render(&plan, &RenderOptions::new(&[Target::All])).expect("renders")
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

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The seed fixture in a temporary folder, with `edit` applied to its project file.
pub fn seed_copy(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&seed_root(), dir.path());
    let project = dir.path().join("imagesmith.yaml");
    let text = std::fs::read_to_string(&project).expect("project file");
    std::fs::write(&project, edit(text)).expect("write project file");
    dir
}

/// The seed with every project key of issue 12 set: Terraform as the workflows' stack, build
/// jobs on its CodeBuild runner, ECR lifecycle and pull policies and a pinned imagesmith
/// source; rendered for every target. The checkers run on it besides the seed.
pub fn render_everything() -> Rendered {
    let dir = seed_copy(|text| {
        let text = text.replace(
            "  repository_prefix: docker-image-4codebuild/\n",
            "  repository_prefix: docker-image-4codebuild/\n  lifecycle: {keep_tagged: 50, expire_untagged_days: 7}\n  pull_accounts: [\"111122223333\"]\n  pull_organization: o-abc1234567\n",
        );
        format!("{text}\ninfrastructure: terraform\nci:\n  runner: codebuild\nimagesmith:\n  git: https://github.com/example/imagesmith\n  rev: 0123456789abcdef0123456789abcdef01234567\n")
    });
    let plan = load(dir.path());
    render(&plan, &RenderOptions::new(&[Target::All])).expect("renders")
}
