//! `imagesmith render [--out DIR] [--target ...]`: pipeline-as-code from the validated plan.
//!
//! The files are rendered in memory first, then written below a temporary folder next to the
//! output folder and moved into place: a failed render leaves the previous output untouched,
//! and a first render appears all at once. A manifest (`.imagesmith-render.json`) lists what
//! was written, so files the project no longer renders are removed — and only those: nothing
//! the manifest does not name is ever deleted.
//!
//! `--out .` renders into the project root, the repository layout GitHub reads: workflows in
//! `.github/workflows/`, the other targets in their folders beside the specs (`docker/`,
//! `terraform/`, …). The manifest also tells `validate` which files are rendered output, not
//! input (see `imagesmith_validate::discover`).
//!
//! `render --check` renders in memory and compares with the output folder: every rendered
//! file's bytes, the manifest, and the files the manifest lists that would no longer be
//! rendered. It writes nothing and exits 1 when anything differs (the drift gate of the
//! rendered `validate.yml`).

use crate::project::load_locked;
use crate::{current_dir, ExitStatus};
use anyhow::Context as _;
use imagesmith_render::{render, shell_word, RenderOptions, Target, TerraformBackend};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The manifest of rendered files, inside the output folder (`validate` skips what it lists).
pub const MANIFEST: &str = imagesmith_validate::RENDER_MANIFEST;

/// A target on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetArg {
    /// EC2 Image Builder stacks.
    Cloudformation,
    /// Terraform.
    Terraform,
    /// Dockerfiles.
    Dockerfile,
    /// AWSTOE documents.
    Awstoe,
    /// GitHub Actions workflows.
    GithubActions,
    /// Everything.
    All,
}

impl From<TargetArg> for Target {
    fn from(arg: TargetArg) -> Target {
        match arg {
            TargetArg::Cloudformation => Target::Cloudformation,
            TargetArg::Terraform => Target::Terraform,
            TargetArg::Dockerfile => Target::Dockerfile,
            TargetArg::Awstoe => Target::Awstoe,
            TargetArg::GithubActions => Target::GithubActions,
            TargetArg::All => Target::All,
        }
    }
}

/// A Terraform state backend on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// S3 bucket with a DynamoDB lock table.
    S3,
    /// Terraform Cloud or Enterprise.
    Cloud,
}

/// Arguments of `render`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Images to render (default: all), with the golden images they build on.
    pub names: Vec<String>,
    /// The output folder (default: `rendered/` in the project).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// What to render; repeatable.
    #[arg(long, value_enum, default_value = "all")]
    pub target: Vec<TargetArg>,
    /// Where Terraform keeps its state.
    #[arg(long, value_enum, default_value = "s3")]
    pub terraform_backend: BackendArg,
    /// Terraform Cloud organization (default: `TF_CLOUD_ORGANIZATION` at init time).
    #[arg(long, value_name = "NAME")]
    pub terraform_cloud_organization: Option<String>,
    /// Terraform Cloud workspace (default: `<project>-infra`).
    #[arg(long, value_name = "NAME")]
    pub terraform_cloud_workspace: Option<String>,
    /// Terraform Enterprise hostname (default: app.terraform.io).
    #[arg(long, value_name = "HOST")]
    pub terraform_cloud_hostname: Option<String>,
    /// Another region AMIs are copied to; repeatable.
    #[arg(long, value_name = "REGION")]
    pub distribution_region: Vec<String>,
    /// Write nothing: exit 1 when the files on disk differ from what would be rendered,
    /// listing each differing, missing and stale file.
    #[arg(long)]
    pub check: bool,
}

/// `path` with `.` and `..` resolved lexically (`/repo/.` is `/repo`, `/repo/specs/..` too).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Runs `render`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let cwd = current_dir()?;
    let locked = match load_locked(&cwd, &args.names, "render")? {
        Ok(locked) => locked,
        Err(status) => return Ok(status),
    };
    let base = normalize(&locked.root.clone().unwrap_or_else(|| cwd.clone()));
    let out = normalize(&match &args.out {
        Some(out) if out.is_absolute() => out.clone(),
        Some(out) => cwd.join(out),
        None => base.join("rendered"),
    });
    if !out.starts_with(&base) {
        eprintln!(
            "warning: `{}` is outside the project `{}`: the workflows refer to the rendered files as if they were in the project root",
            out.display(),
            base.display()
        );
    }
    let targets: Vec<Target> = args.target.iter().copied().map(Target::from).collect();
    let mut options = RenderOptions::new(&targets);
    options.output_dir = out
        .strip_prefix(&base)
        .ok()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| ".".to_string());
    options.distribution_regions = args.distribution_region.clone();
    options.images = args.names.clone();
    options.terraform_backend = match args.terraform_backend {
        BackendArg::S3 => TerraformBackend::S3,
        BackendArg::Cloud => TerraformBackend::Cloud {
            organization: args.terraform_cloud_organization.clone(),
            workspace: args.terraform_cloud_workspace.clone(),
            hostname: args.terraform_cloud_hostname.clone(),
        },
    };
    let rendered = match render(&locked.locked, &options) {
        Ok(rendered) => rendered,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitStatus::Invalid);
        }
    };
    let files: Vec<(String, String)> = rendered
        .files
        .iter()
        .map(|f| (f.path.clone(), f.contents.clone()))
        .collect();
    if args.check {
        return check(&out, &files);
    }
    let removed = write_tree(&out, &files)?;
    for note in &rendered.notes {
        eprintln!("warning: {}: {}", note.file, note.message);
    }
    eprintln!(
        "Rendered {} files to `{}`{}",
        files.len(),
        out.display(),
        if removed > 0 {
            format!("; removed {removed} no longer rendered")
        } else {
            String::new()
        }
    );
    Ok(ExitStatus::Success)
}

/// How one file on disk differs from the render.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Drift {
    /// Rendered, but not on disk.
    Missing(String),
    /// On disk with other bytes.
    Differs(String),
    /// Listed by the manifest on disk, no longer rendered (`render` would remove it).
    Stale(String),
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::Missing(path) => write!(f, "missing: {path}"),
            Drift::Differs(path) => write!(f, "differs: {path}"),
            Drift::Stale(path) => write!(f, "stale:   {path} (no longer rendered)"),
        }
    }
}

/// What differs between `files` (and the manifest `write_tree` would write for them) and
/// the folder `out`; empty when rendering would change nothing.
pub fn drift(out: &Path, files: &[(String, String)]) -> Vec<Drift> {
    let mut found = Vec::new();
    let mut paths: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
    paths.sort();
    let manifest = manifest_text(&paths);
    for (path, contents) in files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .chain([(MANIFEST, manifest.as_str())])
    {
        let target = out.join(path);
        match std::fs::symlink_metadata(&target) {
            Ok(metadata) if metadata.is_file() => {
                match imagesmith_yaml::read_regular(&target, contents.len() as u64 + 1) {
                    Ok(bytes) if bytes == contents.as_bytes() => {}
                    _ => found.push(Drift::Differs(path.to_string())),
                }
            }
            Ok(_) => found.push(Drift::Differs(path.to_string())),
            Err(_) => found.push(Drift::Missing(path.to_string())),
        }
    }
    let current: BTreeSet<&str> = paths.iter().map(String::as_str).collect();
    for stale in manifest_paths(out)
        .into_iter()
        .filter(|p| !current.contains(p.as_str()) && safe(p))
    {
        if out.join(&stale).is_file() {
            found.push(Drift::Stale(stale));
        }
    }
    found
}

/// `render --check`: reports the drift of `out` and exits 1 when there is any.
fn check(out: &Path, files: &[(String, String)]) -> anyhow::Result<ExitStatus> {
    let found = drift(out, files);
    if found.is_empty() {
        eprintln!(
            "The {} rendered files in `{}` are up to date",
            files.len(),
            out.display()
        );
        return Ok(ExitStatus::Success);
    }
    let mut stdout = String::new();
    for drift in &found {
        stdout.push_str(&format!("{drift}\n"));
    }
    print!("{stdout}");
    eprintln!(
        "error: {} of the rendered files in `{}` differ from what `imagesmith render` writes",
        found.len(),
        out.display()
    );
    let again: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--check")
        .map(|a| shell_word(&a))
        .collect();
    eprintln!(
        "hint: run `imagesmith {}` to update, and commit the result",
        again.join(" ")
    );
    Ok(ExitStatus::Invalid)
}

/// The manifest listing `paths` (sorted).
fn manifest_text(paths: &[String]) -> String {
    serde_json::to_string_pretty(paths).expect("a list of strings serializes") + "\n"
}

/// The largest manifest read: a path per rendered file, far below this for any project.
const MANIFEST_MAX_BYTES: u64 = 16 * 1024 * 1024;

fn manifest_paths(out: &Path) -> BTreeSet<String> {
    // A manifest that is not a regular file (a FIFO would block the read) is no manifest:
    // nothing is removed.
    let Ok(bytes) = imagesmith_yaml::read_regular(&out.join(MANIFEST), MANIFEST_MAX_BYTES) else {
        return BTreeSet::new();
    };
    serde_json::from_slice::<Vec<String>>(&bytes)
        .map(|v| v.into_iter().collect())
        .unwrap_or_default()
}

/// A relative path that stays inside the output folder.
fn safe(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// Writes `files` below `out` (see the module docs) and returns how many stale files were
/// removed.
pub fn write_tree(out: &Path, files: &[(String, String)]) -> anyhow::Result<usize> {
    for (path, _) in files {
        anyhow::ensure!(
            safe(path),
            "Refusing to write `{path}` outside the output folder"
        );
    }
    let out = &normalize(out);
    let parent = out
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    fs_err::create_dir_all(&parent)?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "rendered".to_string());
    // An existing folder (the project root with `--out .`) stages inside itself, so every
    // rename stays on its file system; a new one is staged beside it and appears at once.
    let staging = if out.is_dir() {
        out.join(format!(".imagesmith-render-{}", std::process::id()))
    } else {
        parent.join(format!(".{name}.imagesmith-{}", std::process::id()))
    };
    if staging.exists() {
        fs_err::remove_dir_all(&staging)?;
    }
    let mut paths: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
    paths.sort();
    let manifest = manifest_text(&paths);
    let stage = || -> anyhow::Result<()> {
        for (path, contents) in files {
            let target = staging.join(path);
            if let Some(dir) = target.parent() {
                fs_err::create_dir_all(dir)?;
            }
            fs_err::write(&target, contents)?;
        }
        fs_err::write(staging.join(MANIFEST), &manifest)?;
        Ok(())
    };
    if let Err(error) = stage() {
        let _ = fs_err::remove_dir_all(&staging);
        return Err(error.context(format!(
            "Cannot write the rendered files next to `{}`",
            out.display()
        )));
    }
    if !out.exists() {
        fs_err::rename(&staging, out)
            .with_context(|| format!("Cannot move the rendered files to `{}`", out.display()))?;
        return Ok(0);
    }
    // The folder exists: move each file into place (rename is atomic per file), then drop
    // what the previous render wrote and this one did not.
    let previous = manifest_paths(out);
    for path in paths.iter().map(String::as_str).chain([MANIFEST]) {
        let target = out.join(path);
        if let Some(dir) = target.parent() {
            fs_err::create_dir_all(dir)?;
        }
        fs_err::rename(staging.join(path), &target)
            .with_context(|| format!("Cannot move `{path}` into `{}`", out.display()))?;
    }
    let _ = fs_err::remove_dir_all(&staging);
    let current: BTreeSet<&str> = paths.iter().map(String::as_str).collect();
    let mut removed = 0;
    for stale in previous
        .iter()
        .filter(|p| !current.contains(p.as_str()) && safe(p))
    {
        let target = out.join(stale);
        if target.is_file() {
            fs_err::remove_file(&target)?;
            removed += 1;
            // Remove folders the file leaves empty, up to the output folder.
            let mut dir = target.parent();
            while let Some(d) = dir {
                if d == out || std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_what_it_rendered_before() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("rendered");
        let files = vec![
            ("a/one.txt".to_string(), "1".to_string()),
            ("b/two.txt".to_string(), "2".to_string()),
        ];
        assert_eq!(write_tree(&out, &files).unwrap(), 0);
        fs_err::write(out.join("mine.txt"), "kept").unwrap();
        let fewer = vec![("a/one.txt".to_string(), "1+".to_string())];
        assert_eq!(write_tree(&out, &fewer).unwrap(), 1);
        assert_eq!(fs_err::read_to_string(out.join("a/one.txt")).unwrap(), "1+");
        assert!(!out.join("b").exists());
        assert_eq!(
            fs_err::read_to_string(out.join("mine.txt")).unwrap(),
            "kept"
        );
        assert!(!dir.path().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("imagesmith-")));
    }

    /// The starter project of `imagesmith init` (the seed recipe, customer spec and Static Code
    /// Scanner plus the built-in golden images) renders the same twice.
    #[test]
    fn renders_the_starter_project_deterministically() {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in crate::commands::init::starter_files() {
            let target = dir.path().join(path);
            fs_err::create_dir_all(target.parent().unwrap()).unwrap();
            fs_err::write(target, text).unwrap();
        }
        let relocked = crate::project::relock(dir.path()).unwrap().unwrap();
        let options = RenderOptions::new(&[Target::All]);
        let first = render(&relocked.fresh, &options).unwrap();
        let second = render(&relocked.fresh, &options).unwrap();
        assert_eq!(first, second);
        let root = dir.path().to_string_lossy().to_string();
        assert!(first.files.iter().all(|f| !f.contents.contains(&root)));
        let listing: Vec<&str> = first.files.iter().map(|f| f.path.as_str()).collect();
        insta::assert_snapshot!("starter_tree", listing.join("\n"));
        let dockerfile = first
            .file("docker/static-code-scanner/Dockerfile")
            .expect("the Static Code Scanner has a Dockerfile");
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[digest]");
        settings.bind(|| {
            insta::assert_snapshot!(
                "starter_static_code_scanner_dockerfile",
                dockerfile.contents
            )
        });
    }

    /// `--check`: everything missing before a render, nothing after it; then each differing, missing and stale file; and
    /// it writes nothing.
    #[test]
    fn drift_lists_differing_missing_and_stale_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_path_buf();
        let files = vec![
            ("a/one.txt".to_string(), "1".to_string()),
            ("b/two.txt".to_string(), "2".to_string()),
        ];
        assert_eq!(drift(&out, &files).len(), 3, "everything is missing");
        write_tree(&out.join("."), &files).unwrap();
        assert!(drift(&out.join("."), &files).is_empty());
        let now = vec![
            ("a/one.txt".to_string(), "1+".to_string()),
            ("c/three.txt".to_string(), "3".to_string()),
        ];
        assert_eq!(
            drift(&out, &now),
            [
                Drift::Differs("a/one.txt".into()),
                Drift::Missing("c/three.txt".into()),
                Drift::Differs(MANIFEST.into()),
                Drift::Stale("b/two.txt".into()),
            ]
        );
        assert!(!out.join("c").exists());
        assert_eq!(fs_err::read_to_string(out.join("a/one.txt")).unwrap(), "1");
    }

    #[test]
    fn refuses_paths_outside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![("../escape".to_string(), String::new())];
        assert!(write_tree(&dir.path().join("out"), &files).is_err());
    }
}
