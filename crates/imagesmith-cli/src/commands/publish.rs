//! `imagesmith publish [NAME...]`: the whole road of the project's images, golden ones first:
//! the lock checked, the images built (from the cache when nothing changed), the gates run,
//! the image pushed with its SBOMs and verdict under the plan's tags, signed, and recorded in
//! `imagesmith.published.json`.
//!
//! A version is published once: an image whose version is already recorded with the same
//! manifest digest is left alone (its tags are checked, and put back if the registry lost
//! them); one recorded with another digest is refused, as the registry's immutable tags
//! would refuse it. A customized image is published only on a golden digest that is
//! published (in this run or before): the digest its build started from.

use std::io::Write as _;
use std::path::PathBuf;

use crate::commands::build::{build_all, enter_build_namespaces, options_of, BuildFlags};
use crate::commands::verify::{load_signing_key, sign_pushed};
use crate::{current_dir, project, ExitStatus};
use imagesmith_build::{BuildOptions, ImageReport};
use imagesmith_oci::registry::{PushOptions, Reference, RegistryClient, RegistryError};
use imagesmith_plan::{LockedImage, Parent, Publication, Published, Role, PUBLISHED_FILE};

/// Arguments of `publish`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Images to publish, with the golden images they need (default: all of the project).
    pub names: Vec<String>,
    /// How the images are built.
    #[command(flatten)]
    pub flags: BuildFlags,
    /// The build id of the second tag, `v<version>-<BUILD ID>` (default: the CI run,
    /// `GITHUB_RUN_ID-GITHUB_RUN_ATTEMPT`, else the plan's input digest).
    #[arg(long, value_name = "ID")]
    pub build_id: Option<String>,
    /// Sign every pushed image with this ECDSA P-256 private key (PEM; cosign's encrypted
    /// key too, with its password in `COSIGN_PASSWORD`).
    #[arg(long, value_name = "FILE", env = "IMAGESMITH_SIGN_KEY")]
    pub sign_key: Option<PathBuf>,
    /// A scanner's report produced by an earlier CI step, `SCANNER=FILE` (trivy, grype or
    /// snyk), used instead of running the scanner. Repeatable.
    #[arg(long, value_name = "SCANNER=FILE")]
    pub report: Vec<String>,
    /// Reach the registry over plain HTTP (besides localhost, which may always).
    #[arg(long)]
    pub insecure: bool,
    /// Print what was published as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// What happened to one image.
#[derive(Debug, Clone, serde::Serialize)]
struct Outcome {
    name: String,
    version: String,
    digest: String,
    repository: String,
    tags: Vec<String>,
    /// `published`, `unchanged` (published before with this digest), `gate-failed`,
    /// `skipped` (its golden image was not published)
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// Runs `publish`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    if let Some(status) = enter_build_namespaces() {
        return Ok(status);
    }
    let cwd = current_dir()?;
    let loaded = match project::load_locked(&cwd, &args.names, "publish")? {
        Ok(loaded) => loaded,
        Err(status) => return Ok(status),
    };
    let Some(root) = loaded.root.clone() else {
        eprintln!("error: No `imagesmith.yaml` in this folder or any folder above it: `imagesmith publish` publishes a project's images");
        eprintln!("hint: run `imagesmith init`, set `registry:` in `imagesmith.yaml`, then `imagesmith lock`");
        return Ok(ExitStatus::Invalid);
    };
    let locked = loaded.locked;
    if locked
        .settings
        .as_ref()
        .and_then(|p| p.registry.as_ref())
        .is_none()
    {
        eprintln!("error: `imagesmith.yaml` names no `registry:`; there is nowhere to publish");
        eprintln!("hint: add `registry: {{type: oci, url: registry.example.com/platform}}` (or `type: ecr` with `account_id` and `region`), then `imagesmith lock`");
        return Ok(ExitStatus::Invalid);
    }
    let build_id = match build_id(args.build_id.as_deref()) {
        Ok(id) => id,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitStatus::Invalid);
        }
    };
    let key = match load_signing_key(args.sign_key.as_deref()) {
        Ok(key) => key,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitStatus::Invalid);
        }
    };
    let record_path = root.join(PUBLISHED_FILE);
    let mut record = match Published::read(&record_path) {
        Ok(record) => record,
        Err(error) => {
            eprintln!("error: {error}\nhint: {}", error.hint());
            return Ok(ExitStatus::Invalid);
        }
    };

    // Build (every layer from the cache when nothing changed)
    let options = match options_of(&args.flags, &locked) {
        Ok(options) => options,
        Err(status) => return Ok(status),
    };
    let summary = match build_all(&locked, &options) {
        Ok(summary) => summary,
        Err(status) => return Ok(status),
    };

    let hosts: Vec<&str> = locked
        .images
        .iter()
        .map(|image| image.reference.split('/').next().unwrap_or_default())
        .collect();
    let client = crate::commands::push::client(&hosts, args.insecure);
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut status = ExitStatus::Success;
    for image in &locked.images {
        let Some(report) = summary.images.iter().find(|r| r.name == image.name) else {
            continue;
        };
        let repository = match image.reference.rsplit_once(':') {
            Some((repository, _)) => repository.to_owned(),
            None => image.reference.clone(),
        };
        let tags = vec![
            format!("v{}", image.version),
            format!(
                "v{}-{}",
                image.version,
                build_id.as_deref().unwrap_or(image.build_id())
            ),
        ];
        let mut outcome = Outcome {
            name: image.name.clone(),
            version: image.version.clone(),
            digest: report.digest.clone(),
            repository: repository.clone(),
            tags: tags.clone(),
            status: "published",
            reason: None,
        };
        // A customized image only on a published golden digest
        if let (Role::Customized, Parent::Golden { name }) = (&image.role, &image.parent) {
            let published_golden = locked
                .image(name)
                .and_then(|golden| record.get(name, &golden.version))
                .filter(|p| p.digest == report.base.digest);
            if published_golden.is_none() {
                outcome.status = "skipped";
                outcome.reason = Some(format!(
                    "its golden image `{name}` ({}) is not published",
                    report.base.digest
                ));
                eprintln!(
                    "error: `{}` is not published: {}",
                    image.name,
                    outcome.reason.as_deref().unwrap_or_default()
                );
                status = worst(status, ExitStatus::Invalid);
                outcomes.push(outcome);
                continue;
            }
        }
        if let Some(previous) = record.get(&image.name, &image.version) {
            if previous.digest != report.digest {
                outcome.status = "refused";
                outcome.reason = Some(format!(
                    "v{} was published as {} and this build is {}: a version is published once",
                    image.version, previous.digest, report.digest
                ));
                eprintln!(
                    "error: `{}` {}\nhint: the build is not reproducible from the lock, or the record was edited: change an input (or `imagesmith bump {}`) and lock to publish a new version",
                    image.name,
                    outcome.reason.as_deref().unwrap_or_default(),
                    image.name
                );
                status = worst(status, ExitStatus::Invalid);
                outcomes.push(outcome);
                continue;
            }
        }
        // The gates
        let scanners = locked.settings.as_ref().and_then(|p| p.scanners.clone());
        let verdict = match gate(&root, image, report, &args.report, &options, scanners) {
            GateOutcome::Passed(verdict) => verdict,
            GateOutcome::Failed(message) => {
                eprintln!(
                    "error: `{}` is not published: the gate failed: {message}",
                    image.name
                );
                outcome.status = "gate-failed";
                outcome.reason = Some(message);
                status = worst(status, ExitStatus::Invalid);
                outcomes.push(outcome);
                continue;
            }
            GateOutcome::Broke(message) => {
                eprintln!(
                    "error: `{}` is not published: the scanner broke: {message}",
                    image.name
                );
                outcome.status = "gate-broke";
                outcome.reason = Some(message);
                status = worst(status, ExitStatus::Failure);
                outcomes.push(outcome);
                continue;
            }
        };
        #[cfg(feature = "aws")]
        {
            if let Err(message) = ensure_ecr_repository(&repository) {
                eprintln!("error: {message}");
                status = worst(status, ExitStatus::Failure);
                outcome.status = "push-failed";
                outcome.reason = Some(message);
                outcomes.push(outcome);
                continue;
            }
        }
        // The golden image's blobs are mounted, not uploaded again, when it lives in the
        // same registry
        let mut push_options = PushOptions {
            state_dir: Some(options.cache_dir.join("push")),
            ..PushOptions::default()
        };
        if let Parent::Golden { name } = &image.parent {
            let golden = locked
                .image(name)
                .and_then(|golden| record.get(name, &golden.version));
            let host = repository.split('/').next().unwrap_or_default();
            if let Some((golden_host, golden_repository)) =
                golden.and_then(|golden| golden.repository.split_once('/'))
            {
                if golden_host == host {
                    push_options.mount_from.push(golden_repository.to_owned());
                }
            }
        }
        match push_tags(&client, report, &repository, &tags, &push_options) {
            Ok(unchanged) => {
                if unchanged && record.get(&image.name, &image.version).is_some() {
                    outcome.status = "unchanged";
                }
            }
            Err(error) => {
                eprintln!("error: `{}`: {error}", image.name);
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    eprintln!("  caused by: {cause}");
                    source = cause.source();
                }
                status = worst(
                    status,
                    if matches!(error, RegistryError::TagExists { .. }) {
                        ExitStatus::Invalid
                    } else {
                        ExitStatus::Failure
                    },
                );
                outcome.status = "push-failed";
                outcome.reason = Some(error.to_string());
                outcomes.push(outcome);
                continue;
            }
        }
        let signed_by = match &key {
            Some(key) => match sign_pushed(&client, key, &repository, &report.digest) {
                Ok(identity) => Some(identity),
                Err(message) => {
                    eprintln!(
                        "error: `{}` was pushed but not signed: {message}",
                        image.name
                    );
                    status = worst(status, ExitStatus::Failure);
                    outcome.status = "sign-failed";
                    outcome.reason = Some(message);
                    outcomes.push(outcome);
                    continue;
                }
            },
            None => None,
        };
        if outcome.status == "published" {
            record.record(
                &image.name,
                publication(
                    image,
                    report,
                    &repository,
                    &tags,
                    verdict,
                    signed_by,
                    &build_id,
                ),
            );
            if let Err(error) = record.write(&record_path) {
                eprintln!("error: {error}\nhint: {}", error.hint());
                return Ok(ExitStatus::Failure);
            }
        }
        eprintln!(
            "{} `{}` v{} as {repository}@{} ({})",
            if outcome.status == "unchanged" {
                "Already published"
            } else {
                "Published"
            },
            image.name,
            image.version,
            report.digest,
            tags.join(", ")
        );
        outcomes.push(outcome);
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let _ = writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "images": outcomes }))?
        );
    } else {
        for outcome in &outcomes {
            let _ = writeln!(
                stdout,
                "{}\t{}\t{}@{}\t{}",
                outcome.name,
                outcome.status,
                outcome.repository,
                outcome.digest,
                outcome.tags.join(",")
            );
        }
    }
    let published = outcomes.iter().filter(|o| o.status == "published").count();
    eprintln!(
        "{published} image(s) published, {} already published, {} not published; record in `{PUBLISHED_FILE}`",
        outcomes.iter().filter(|o| o.status == "unchanged").count(),
        outcomes
            .iter()
            .filter(|o| o.status != "published" && o.status != "unchanged")
            .count()
    );
    Ok(status)
}

enum GateOutcome {
    Passed(String),
    Failed(String),
    Broke(String),
}

/// The gates of `imagesmith scan` on the built image; the verdict is stored beside it, so
/// the push carries it.
fn gate(
    root: &std::path::Path,
    image: &LockedImage,
    report: &ImageReport,
    reports: &[String],
    options: &BuildOptions,
    scanners: Option<imagesmith_model::Scanners>,
) -> GateOutcome {
    let mut given = Vec::new();
    for text in reports {
        let Some((name, path)) = text.split_once('=') else {
            return GateOutcome::Broke(format!(
                "invalid `--report {text}`: expected `SCANNER=FILE`"
            ));
        };
        let Some(scanner) = imagesmith_scan::Scanner::from_name(name) else {
            return GateOutcome::Broke(format!(
                "unknown scanner `{name}` in `--report {text}` (trivy, grype or snyk)"
            ));
        };
        given.push((scanner, root.join(path)));
    }
    let input = imagesmith_scan::ScanInput {
        layout: report.cached_layout.clone(),
        reference: None,
        image: image.name.clone(),
        user: image.user.clone(),
        scanners,
        reports: given,
        secrets: image
            .components
            .iter()
            .flat_map(|component| &component.component.parameters)
            .filter(|parameter| parameter.secret)
            .filter_map(|parameter| {
                options
                    .secrets
                    .get(&parameter.name, parameter.env.as_deref())
            })
            .map(|value| String::from_utf8_lossy(&value).trim().to_owned())
            .collect(),
        today: imagesmith_validate::today(),
    };
    let verdict = match imagesmith_scan::scan(&input) {
        Ok(verdict) => verdict,
        Err(error) => return GateOutcome::Broke(error.to_string()),
    };
    if let Err(error) = imagesmith_scan::store_verdict(&report.cached_layout, &verdict) {
        return GateOutcome::Broke(error.to_string());
    }
    for waiver in &verdict.expired_waivers {
        eprintln!(
            "warning: waiver `{}` expired on {}: it no longer waives",
            waiver.id, waiver.expires
        );
    }
    for check in &verdict.checks {
        for problem in check.problems.iter().take(20) {
            eprintln!("  {} [{}]: {problem}", image.name, check.name);
        }
    }
    match verdict.exit_code() {
        0 => GateOutcome::Passed(String::from("passed")),
        1 => GateOutcome::Failed(verdict.summary()),
        _ => GateOutcome::Broke(verdict.summary()),
    }
}

/// The worse of two exit statuses.
fn worst(a: ExitStatus, b: ExitStatus) -> ExitStatus {
    let rank = |s: ExitStatus| match s {
        ExitStatus::Success => 0,
        ExitStatus::Invalid => 1,
        ExitStatus::Failure => 2,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// The build id of the second tag: `--build-id`, else the CI run.
fn build_id(given: Option<&str>) -> Result<Option<String>, String> {
    let id = match given {
        Some(id) => Some(id.to_owned()),
        None => match (
            std::env::var("GITHUB_RUN_ID")
                .ok()
                .filter(|v| !v.is_empty()),
            std::env::var("GITHUB_RUN_ATTEMPT")
                .ok()
                .filter(|v| !v.is_empty()),
        ) {
            (Some(run), Some(attempt)) => Some(format!("{run}-{attempt}")),
            (Some(run), None) => Some(run),
            _ => None,
        },
    };
    if let Some(id) = &id {
        let valid = !id.is_empty()
            && id.len() <= 100
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
        if !valid {
            return Err(format!(
                "Invalid build id `{id}`: a tag part is letters, digits, `.`, `-` and `_` (at most 100)"
            ));
        }
    }
    Ok(id)
}

/// Pushes the built image (with its SBOMs and verdict) under each tag; `Ok(true)` when every
/// tag already named it.
fn push_tags(
    client: &RegistryClient,
    report: &ImageReport,
    repository: &str,
    tags: &[String],
    options: &PushOptions,
) -> Result<bool, RegistryError> {
    let layout =
        imagesmith_oci::ImageLayout::open(&report.cached_layout).map_err(RegistryError::from)?;
    let image = layout.image(None).map_err(RegistryError::from)?;
    let referrers = layout.referrers_of(&image).map_err(RegistryError::from)?;
    let mut unchanged = true;
    for tag in tags {
        let destination = Reference::parse(&format!("{repository}:{tag}"))?;
        let pushed = client.push(
            layout.blobs(),
            &image,
            &referrers,
            &destination,
            options,
            &|message| eprintln!("  {message}"),
        )?;
        unchanged &= pushed.unchanged;
    }
    Ok(unchanged)
}

fn publication(
    image: &LockedImage,
    report: &ImageReport,
    repository: &str,
    tags: &[String],
    verdict: String,
    signed_by: Option<String>,
    build_id: &Option<String>,
) -> Publication {
    Publication {
        version: image.version.clone(),
        inputs: image.digest.clone(),
        digest: report.digest.clone(),
        repository: repository.to_owned(),
        tags: tags.to_vec(),
        parent_digest: match image.role {
            Role::Customized => Some(report.base.digest.clone()),
            Role::Golden => None,
        },
        verdict,
        signed_by,
        omitted: report.omitted.iter().map(|o| o.component.clone()).collect(),
        published: now_rfc3339(),
        build_id: build_id.clone(),
    }
}

fn now_rfc3339() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    imagesmith_oci::rfc3339(seconds)
}

/// Creates the ECR repository of `repository` (`HOST/NAME`) when it is missing: IMMUTABLE
/// tags, scan on push, encryption. Nothing for other registries.
#[cfg(feature = "aws")]
pub fn ensure_ecr_repository(repository: &str) -> Result<(), String> {
    use imagesmith_aws::ecr::{parse_registry, EcrAuth, RepositorySettings, RepositoryState};
    let (host, name) = repository.split_once('/').unwrap_or((repository, ""));
    let Some(registry) = parse_registry(host) else {
        return Ok(());
    };
    let aws = imagesmith_aws::Aws::new().map_err(|e| e.to_string())?;
    match EcrAuth::new(&aws).ensure_repository(&registry, name, &RepositorySettings::default()) {
        Ok(RepositoryState::Created) => {
            eprintln!("Created ECR repository `{name}` (IMMUTABLE tags, scan on push, encrypted)");
            Ok(())
        }
        Ok(RepositoryState::Existed) => Ok(()),
        Ok(RepositoryState::ExistedMutable) => {
            eprintln!("warning: ECR repository `{name}` has MUTABLE tags: anyone with push rights can move them (imagesmith never does)\nhint: aws ecr put-image-tag-mutability --repository-name {name} --image-tag-mutability IMMUTABLE");
            Ok(())
        }
        Err(error) => Err(error.to_string()),
    }
}
