//! `imagesmith build [NAME...]`: builds the project's images (or the built-in catalog's)
//! locally, without a daemon, into OCI image layouts.

use crate::{current_dir, project, secrets, ExitStatus};
use imagesmith_build::{
    progress, BuildOptions, BuildSummary, Builder, HttpProbe, LinuxMounter, OutputFormat, Secrets,
};
use imagesmith_plan::LockedProject;
use imagesmith_sandbox::LinuxSandbox;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Arguments of `build`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Images to build, with the golden images they need (default: all of the project).
    pub names: Vec<String>,
    /// Write each image under DIR: an OCI image layout at `DIR/NAME` (tag `latest`, with its
    /// SBOMs), or an archive, by `--output-format`.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// What `--output` writes: `oci` (a layout directory), `oci-archive` (`NAME.oci.tar`) or
    /// `docker-archive` (`NAME.docker.tar`, for `docker load`/`podman load`).
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value = "oci",
        requires = "output"
    )]
    pub output_format: OutputKind,
    /// How the images are built.
    #[command(flatten)]
    pub flags: BuildFlags,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// How images are built: the flags `build` and `publish` share.
#[derive(Debug, Clone, clap::Args)]
pub struct BuildFlags {
    /// Build without the components that cannot be obtained on this machine (missing
    /// secrets, unreachable downloads); they are listed in the `io.imagesmith.omitted` label,
    /// the summary and the build report.
    #[arg(long)]
    pub skip_unavailable: bool,
    /// A secret for the steps, `NAME=PATH` (mounted at `/run/secrets/NAME` while a step
    /// runs, never stored in the image or the logs). Repeatable.
    #[arg(long, value_name = "NAME=PATH")]
    pub secret: Vec<String>,
    /// The Debian mirror used to bootstrap `debian:12` bases.
    #[arg(long, value_name = "URL", env = "IMAGESMITH_DEBIAN_MIRROR")]
    pub mirror: Option<String>,
    /// Use this source for a base reference, `REFERENCE=SOURCE`: `oci:DIR[:TAG]` (an OCI
    /// image layout), `dir:PATH` or `tarball:PATH` (a root filesystem), or
    /// `docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]` (pulled from that registry, even for
    /// `debian:12`). Repeatable. Other bases are pulled from their registry (credentials
    /// from `IMAGESMITH_REGISTRY_USERNAME`/`IMAGESMITH_REGISTRY_PASSWORD` or the auth files of
    /// `skopeo login` and `docker login`), except `debian:12`, which is bootstrapped.
    #[arg(long, value_name = "REFERENCE=SOURCE")]
    pub base: Vec<String>,
    /// Give build and validate steps no network (only loopback), not even the build's proxy,
    /// otherwise their only way out. The test phase never has it.
    #[arg(long)]
    pub no_network: bool,
    /// Do not run the test phase of the finished images.
    #[arg(long)]
    pub no_test: bool,
    /// Keep nothing in the build proxy's download cache (apt's by-hash indexes and `.deb`
    /// packages in the cache directory's `http/`): the proxy, the steps' only way out, then
    /// only forwards.
    #[arg(long)]
    pub no_http_cache: bool,
    /// The cache directory (default `$XDG_CACHE_HOME/imagesmith` or `~/.cache/imagesmith`).
    #[arg(long, value_name = "DIR", env = "IMAGESMITH_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// How many images build at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}

/// The `--output-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputKind {
    /// An OCI image layout directory.
    Oci,
    /// An oci-archive tarball.
    OciArchive,
    /// A docker-archive tarball.
    DockerArchive,
}

/// Runs `build`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    if let Some(status) = enter_build_namespaces() {
        return Ok(status);
    }
    let cwd = current_dir()?;
    let locked = match project::load_locked(&cwd, &args.names, "build")? {
        Ok(locked) => locked.locked,
        Err(status) => return Ok(status),
    };
    let mut options = match options_of(&args.flags, &locked) {
        Ok(options) => options,
        Err(status) => return Ok(status),
    };
    options.output = args.output.clone();
    options.output_format = match args.output_format {
        OutputKind::Oci => OutputFormat::Layout,
        OutputKind::OciArchive => OutputFormat::OciArchive,
        OutputKind::DockerArchive => OutputFormat::DockerArchive,
    };
    let summary = match build_all(&locked, &options) {
        Ok(summary) => summary,
        Err(status) => return Ok(status),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(ExitStatus::Success);
    }
    for image in &summary.images {
        println!(
            "{}\t{}\t{}",
            image.name,
            image.digest,
            image
                .output
                .as_ref()
                .unwrap_or(&image.cached_layout)
                .display()
        );
    }
    Ok(ExitStatus::Success)
}

/// Runs the rest of the command again in mount and pid namespaces of its own, so that no
/// helper and no mount outlives it however it ends; not root, as root of a user namespace
/// too (as buildah does). `Some(status)` in the parent, once the child has finished.
pub fn enter_build_namespaces() -> Option<ExitStatus> {
    match imagesmith_sandbox::reexec_in_build_namespaces() {
        Ok(imagesmith_sandbox::Reexec::NotNeeded) => None,
        Ok(imagesmith_sandbox::Reexec::Exited(code)) => Some(match code {
            0 => ExitStatus::Success,
            1 => ExitStatus::Invalid,
            2 => ExitStatus::Failure,
            // Killed (`128 + N`): passed on as it is
            other => std::process::exit(other),
        }),
        Err(error) => {
            eprintln!("error: {error}");
            Some(ExitStatus::Failure)
        }
    }
}

/// The build options of `flags` for `locked`: secrets are checked before any build work
/// starts (a FIFO or `/dev/zero` is refused at once, not when the first step that needs it
/// runs).
pub fn options_of(flags: &BuildFlags, locked: &LockedProject) -> Result<BuildOptions, ExitStatus> {
    let secrets = match check_secrets(&flags.secret, locked) {
        Ok(secrets) => secrets,
        Err(error) => {
            eprintln!("error: {error}");
            return Err(ExitStatus::Invalid);
        }
    };
    let mut options = BuildOptions::new();
    options.skip_unavailable = flags.skip_unavailable;
    options.network = !flags.no_network;
    // Which hosts steps may reach through the build's proxy
    options.egress = locked
        .settings
        .as_ref()
        .and_then(|project| project.network.as_ref())
        .and_then(|network| network.egress.clone());
    options.run_tests = !flags.no_test;
    options.http_cache = !flags.no_http_cache;
    if let Some(mirror) = &flags.mirror {
        options.debian_mirror = mirror.clone();
    }
    if let Some(dir) = &flags.cache_dir {
        options.cache_dir = dir.clone();
    }
    if let Some(jobs) = flags.jobs {
        options.jobs = jobs.max(1);
    }
    let mut overrides = BTreeMap::new();
    for base in &flags.base {
        let Some((reference, source)) = base.split_once('=') else {
            eprintln!("error: Invalid `--base {base}`: expected `REFERENCE=SOURCE`\nhint: for example `--base debian:12=oci:./debian-layout:latest`");
            return Err(ExitStatus::Invalid);
        };
        overrides.insert(reference.to_owned(), source.to_owned());
    }
    options.base_overrides = overrides;
    options.secrets = secrets;
    // S3Download and ECR logins through the AWS SDK: credentials, region and endpoint
    // (`AWS_ENDPOINT_URL`) from the standard configuration, read only when first needed
    #[cfg(feature = "aws")]
    {
        let aws = match imagesmith_aws::Aws::new() {
            Ok(aws) => aws,
            Err(error) => {
                eprintln!("error: {error}");
                return Err(ExitStatus::Failure);
            }
        };
        options.s3 = Some(std::sync::Arc::new(imagesmith_aws::S3Client::new(&aws)));
        // ECR registries' logins for pulled bases, from the same configuration
        options.registry_credentials = Some(imagesmith_build::RegistryCredentials(
            std::sync::Arc::new(imagesmith_aws::ecr::EcrAuth::new(&aws)),
        ));
    }

    Ok(options)
}

/// Builds `locked` with `options`, printing what was built (and left out) on stderr; a
/// failure is printed with its causes and turned into its exit status.
pub fn build_all(
    locked: &LockedProject,
    options: &BuildOptions,
) -> Result<BuildSummary, ExitStatus> {
    let sandbox = LinuxSandbox::new();
    let probe = HttpProbe::default();
    let display = progress::auto();
    let builder = Builder {
        sandbox: &sandbox,
        mounter: &LinuxMounter,
        probe: &probe,
        progress: display.as_ref(),
    };
    match builder.build(locked, options) {
        Ok(summary) => {
            for image in &summary.images {
                let built = image.components.iter().filter(|c| !c.cached).count();
                eprintln!(
                    "Built `{}`: {} components ({built} built, {} from cache), test phase {}",
                    image.name,
                    image.components.len(),
                    image.components.len() - built,
                    image.test
                );
                if !image.omitted.is_empty() {
                    eprintln!(
                        "warning: `{}` was built WITHOUT {} (--skip-unavailable; see the `io.imagesmith.omitted` label and the build report):",
                        image.name,
                        image
                            .omitted
                            .iter()
                            .map(|item| format!("`{}`", item.component))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    for item in &image.omitted {
                        eprintln!("  - {}: {}", item.component, item.reasons.join("; "));
                    }
                }
            }
            eprintln!(
                "Finished in {:.1}s; {} commands ran in the sandbox",
                summary.seconds, summary.sandbox_runs
            );
            Ok(summary)
        }
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            Err(if error.is_expected() {
                ExitStatus::Invalid
            } else {
                ExitStatus::Failure
            })
        }
    }
}

/// Parses and reads `--secret` arguments, warning about names no image being built declares.
fn check_secrets(args: &[String], plan: &LockedProject) -> Result<Secrets, secrets::SecretError> {
    let parsed = secrets::parse(args)?;
    for (message, hint) in secrets::unknown(&parsed, &secrets::declared(plan)) {
        eprintln!("warning: {message}\nhint: {hint}");
    }
    secrets::read(&parsed)
}
