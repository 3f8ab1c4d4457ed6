//! `imagesmith diff A B`: the changelog between two locks (files, or git revisions of the
//! project's `imagesmith.lock`), or between two built images (OCI layouts, by their SPDX
//! SBOMs: components and OS packages).

use crate::{current_dir, ExitStatus};
use imagesmith_plan::{diff, Changelog, ImageDiff, LockFile, LOCK_FILE};
use std::collections::BTreeMap;

/// The SPDX SBOM's media type, as `imagesmith build` stores it.
const SPDX_MEDIA_TYPE: &str = "application/spdx+json";
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The older lock: a file, a folder holding `imagesmith.lock`, or a git revision
    /// (`HEAD~1`, `v1.4.0`, `REV:path/to/imagesmith.lock`).
    pub a: String,
    /// The newer lock, as for A (`.` is the working tree's).
    pub b: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: DiffFormat,
}

/// The `--format` values of `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// A section per image, a line per change.
    Markdown,
    /// The changelog as JSON.
    Json,
}

/// Why a lock could not be had.
#[derive(Debug, thiserror::Error)]
enum SourceError {
    #[error("`{given}` is neither a lock file nor a git revision of `{LOCK_FILE}`: {reason}")]
    NotFound { given: String, reason: String },
    #[error(transparent)]
    Lock(#[from] imagesmith_plan::LockError),
}

/// Reads the lock `given` names, relative to `cwd`.
fn load(given: &str, cwd: &Path) -> Result<LockFile, SourceError> {
    let path = cwd.join(given);
    let file = if path.is_dir() {
        path.join(LOCK_FILE)
    } else {
        path.clone()
    };
    if file.is_file() {
        return LockFile::read(&file)?.ok_or_else(|| SourceError::NotFound {
            given: given.to_string(),
            reason: "it vanished while being read".to_string(),
        });
    }
    // A git revision: `REV:path` as git writes it, or `REV` for the project's lock file.
    let spec = if given.contains(':') {
        given.to_string()
    } else {
        let root = imagesmith_validate::find_project_root(cwd).unwrap_or_else(|| cwd.into());
        let prefix = git(cwd, &["rev-parse", "--show-prefix"]).unwrap_or_default();
        let relative = root
            .strip_prefix(cwd)
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(LOCK_FILE);
        let in_repository = Path::new(prefix.trim()).join(relative);
        format!("{given}:{}", in_repository.to_string_lossy())
    };
    let text = git(cwd, &["show", &spec]).map_err(|reason| SourceError::NotFound {
        given: given.to_string(),
        reason,
    })?;
    Ok(LockFile::parse(Path::new(&spec), &text)?)
}

fn git(cwd: &Path, args: &[&str]) -> Result<String, String> {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(cwd)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    String::from_utf8(output.stdout).map_err(|e| e.to_string())
}

/// The packages (components and OS packages) of the image in an OCI layout written by
/// `imagesmith build --output`, from its SPDX SBOM: name → version (the image's own digest
/// under the empty name).
pub fn layout_packages(layout: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    use anyhow::Context as _;
    let read_json = |path: PathBuf| -> anyhow::Result<serde_json::Value> {
        let text = fs_err::read_to_string(&path)?;
        serde_json::from_str(&text).with_context(|| format!("`{}` is not JSON", path.display()))
    };
    let blob = |digest: &str| -> anyhow::Result<PathBuf> {
        let (algorithm, hex) = digest
            .split_once(':')
            .filter(|(a, h)| {
                !a.is_empty() && !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .ok_or_else(|| anyhow::anyhow!("Invalid digest `{digest}`"))?;
        Ok(layout.join("blobs").join(algorithm).join(hex))
    };
    let index = read_json(layout.join("index.json"))?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let sbom = manifests
        .iter()
        .find(|m| {
            m["artifactType"] == SPDX_MEDIA_TYPE
                || m["annotations"]["org.opencontainers.image.ref.name"] == "sbom-spdx"
        })
        .ok_or_else(|| {
            anyhow::anyhow!(
                "`{}` holds no SPDX SBOM (`imagesmith build --output` writes one)",
                layout.display()
            )
        })?;
    let manifest = read_json(blob(sbom["digest"].as_str().unwrap_or_default())?)?;
    let layer = manifest["layers"][0]["digest"].as_str().unwrap_or_default();
    let document = read_json(blob(layer)?)?;
    let mut packages = BTreeMap::new();
    for package in document["packages"].as_array().into_iter().flatten() {
        if let Some(name) = package["name"].as_str() {
            let version = package["versionInfo"].as_str().unwrap_or("").to_string();
            // The image itself (its version is its digest) is not one of its packages.
            if package["primaryPackagePurpose"] == "CONTAINER" || version.starts_with("sha256:") {
                packages.insert(IMAGE_KEY.to_string(), version);
                continue;
            }
            packages.insert(name.to_string(), version);
        }
    }
    Ok(packages)
}

/// The key [`layout_packages`] gives the image's own digest under.
const IMAGE_KEY: &str = "";

/// The changelog between two built images' packages.
pub fn diff_layouts(a: &Path, b: &Path) -> anyhow::Result<Changelog> {
    let (mut before, mut after) = (layout_packages(a)?, layout_packages(b)?);
    let (from, to) = (before.remove(IMAGE_KEY), after.remove(IMAGE_KEY));
    let name = b
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| b.display().to_string());
    let mut image = ImageDiff {
        name,
        from,
        to,
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        other: Vec::new(),
    };
    for (package, version) in &before {
        match after.get(package) {
            None => image.removed.push((package.clone(), version.clone())),
            Some(now) if now != version => {
                image
                    .changed
                    .push((package.clone(), version.clone(), now.clone()))
            }
            Some(_) => {}
        }
    }
    for (package, version) in &after {
        if !before.contains_key(package) {
            image.added.push((package.clone(), version.clone()));
        }
    }
    let unchanged = image.added.is_empty() && image.removed.is_empty() && image.changed.is_empty();
    Ok(Changelog {
        images: if unchanged { Vec::new() } else { vec![image] },
    })
}

/// Runs `diff`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let cwd = current_dir()?;
    let layout = |given: &str| cwd.join(given).join("index.json").is_file();
    if layout(&args.a) || layout(&args.b) {
        let changelog = match diff_layouts(&cwd.join(&args.a), &cwd.join(&args.b)) {
            Ok(changelog) => changelog,
            Err(error) => {
                eprintln!("error: {error:#}");
                eprintln!("hint: name two OCI layouts written by `imagesmith build --output`");
                return Ok(ExitStatus::Invalid);
            }
        };
        return print(&changelog, args.format);
    }
    let mut locks = Vec::new();
    for given in [&args.a, &args.b] {
        match load(given, &cwd) {
            Ok(lock) => locks.push(lock),
            Err(error) => {
                eprintln!("error: {error}");
                eprintln!("hint: name a lock file, a folder holding one, or a git revision");
                return Ok(ExitStatus::Invalid);
            }
        }
    }
    print(&diff(&locks[0], &locks[1]), args.format)
}

fn print(changelog: &Changelog, format: DiffFormat) -> anyhow::Result<ExitStatus> {
    let text = match format {
        DiffFormat::Markdown => changelog.markdown(),
        DiffFormat::Json => serde_json::to_string_pretty(&changelog)? + "\n",
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    Ok(ExitStatus::Success)
}
