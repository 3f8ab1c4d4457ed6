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

/// A project (named `name`) below a new temporary folder holding every built-in golden recipe
/// of each of `oses` and customized specs on each OS's golden container listing every customer
/// component with a method for it (default versions), in as few specs as their conflicts
/// allow.
pub fn every_component_project(name: &str, oses: &[&str]) -> tempfile::TempDir {
    use imagesmith_catalog::{builtin, embedded_files};
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    for folder in ["recipes", "specs"] {
        std::fs::create_dir_all(root.join(folder)).expect("mkdir");
    }
    std::fs::write(
        root.join("imagesmith.yaml"),
        format!(
            "kind: project\nname: {name}\nregistry:\n  type: ecr\n  account_id: \"123456789012\"\n  region: us-east-1\n  repository_prefix: {name}/\nos: [{}]\n",
            oses.join(", ")
        ),
    )
    .expect("write project");
    for file in embedded_files("recipes") {
        let file_name = Path::new(&file.path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if file_name.starts_with("golden-")
            && oses
                .iter()
                .any(|os| file_name.ends_with(&format!("-{os}.yaml")))
        {
            std::fs::write(root.join("recipes").join(&file_name), file.text).expect("write recipe");
        }
    }
    let (catalog, _) = builtin();
    // Golden-only components no built-in recipe of the OS lists (systemd-timesyncd, the
    // alternative to chrony) go in one more golden recipe on the golden container's base
    for os in oses {
        let recipes: Vec<String> = embedded_files("recipes")
            .into_iter()
            .filter(|f| f.path.ends_with(&format!("golden-container-{os}.yaml")))
            .map(|f| f.text.to_string())
            .collect();
        let Some(base) = recipes.first().and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("base_image: "))
                .map(str::to_string)
        }) else {
            continue;
        };
        let listed = |name: &str| {
            embedded_files("recipes").into_iter().any(|f| {
                f.path.ends_with(&format!("-{os}.yaml"))
                    && f.text
                        .lines()
                        .any(|l| l.trim_start().starts_with(&format!("{name}:")))
            })
        };
        let mut extra: Vec<&String> = catalog
            .components
            .iter()
            .filter(|(name, c)| c.golden_only && c.platforms.contains_key(*os) && !listed(name))
            .map(|(name, _)| name)
            .collect();
        extra.sort();
        if extra.is_empty() {
            continue;
        }
        let mut text = format!(
            "kind: recipe\nname: golden-more-container-{os}\ndescription: The golden-only components no built-in recipe lists\nimage_type: container\nos: {os}\nbase_image: {base}\nversion: 1.0.0\ncomponents:\n"
        );
        for name in extra {
            text.push_str(&format!("  {name}:\n"));
        }
        std::fs::write(
            root.join(format!("recipes/golden-more-container-{os}.yaml")),
            text,
        )
        .expect("write recipe");
    }
    for os in oses {
        let mut names: Vec<&String> = catalog
            .components
            .iter()
            .filter(|(_, c)| !c.golden_only && c.platforms.contains_key(*os))
            .map(|(name, _)| name)
            .collect();
        names.sort();
        let mut specs: Vec<Vec<&String>> = Vec::new();
        for name in names {
            let conflicts = |other: &String| {
                catalog.components[name.as_str()].conflicts.contains(other)
                    || catalog.components[other.as_str()].conflicts.contains(name)
            };
            match specs.iter_mut().find(|s| !s.iter().any(|o| conflicts(o))) {
                Some(spec) => spec.push(name),
                None => specs.push(vec![name]),
            }
        }
        for (i, components) in specs.iter().enumerate() {
            let mut text = format!(
                "image_type: container\nbase_image: golden-container-{os}\nversion: 1.0.0\ncomponents:\n"
            );
            for component in components {
                text.push_str(&format!("  {component}:\n"));
            }
            std::fs::write(root.join(format!("specs/tools-{os}-{i}.yaml")), text)
                .expect("write spec");
        }
    }
    dir
}
