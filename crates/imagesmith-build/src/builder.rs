//! The build: preflight, bases, images in dependency order (in parallel where independent),
//! one cached layer per component, the test phase, SBOMs and the outputs

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use imagesmith_awstoe::exec::{ExecOptions, Executor, Redactor, StepStatus};
use imagesmith_oci::oci_spec::image::{Descriptor, MediaType};
use imagesmith_oci::registry::{CredentialSource, RegistryClient, RegistryOptions};
use imagesmith_oci::{
    rfc3339, write_docker_archive, write_layer, write_layout, write_oci_archive, HistoryEntry,
    Image, ImageBuilder, Layer, LayerOptions,
};
use imagesmith_plan::{LockedComponent, LockedImage, LockedProject, Parent, Role};
use imagesmith_sandbox::{Mode, Network, OverlayRoot, Sandbox};
use serde::Serialize;

use crate::base::{self, BaseOptions, BaseSource, ResolvedBase, DEFAULT_DEBIAN_MIRROR};
use crate::cache::{
    chain_id, key_of, parse_digest, read_json, remove_tree, write_json_atomic, Cache, LayerRecord,
};
use crate::error::{BuildError, StepFailure, Unavailable};
use crate::host::SandboxHost;
use crate::httpcache::{step_env, HttpProxy, ProxyOptions, Stats, STEP_PROXY_PORT};
use crate::mount::Mounter;
use crate::normalize::normalize;
use crate::preflight::{preflight, Probe, Secrets};
use crate::progress::Progress;
use crate::sbom;

/// The apt configuration build and validate steps with the network read first
/// (`APT_CONFIG`), with the download cache: it lives under `/run`, which no layer keeps
const APT_CONFIG_IN_IMAGE: &str = "/run/imagesmith/apt.conf";
/// What it says: no description translations (`Translation-*` indexes) are fetched
const APT_BUILD_CONFIG: &str = "// Written by imagesmith for build steps only; not in the image\nAcquire::Languages \"none\";\n";

/// The label listing components left out with `--skip-unavailable`
pub const OMITTED_LABEL: &str = "io.imagesmith.omitted";
pub use imagesmith_plan::COMPONENT_LABEL_PREFIX;

/// Shown when a rootless build runs in a user namespace that maps only root
const SINGLE_ID_WARNING: &str = "warning: only root is mapped in this rootless build's user namespace (the user has no subordinate ids in `/etc/subuid` and `/etc/subgid`, or `newuidmap` is missing); steps that give files to other users will fail";

/// Added to a step failure in such a namespace
const SINGLE_ID_HINT: &str = "\n  note: this rootless build maps only root into its user namespace, so giving a file to another user (chown, a package adding a system user) fails with `Invalid argument`\n  hint: give your user subordinate ids: `sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER` (a range in `/etc/subuid` and `/etc/subgid` no other user has), or build as root";

/// How to build
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The cache directory (see [`crate::default_cache_dir`])
    pub cache_dir: PathBuf,
    /// Where to write each image (`DIR/NAME` as a layout, `DIR/NAME.oci.tar` or
    /// `DIR/NAME.docker.tar` as an archive, by [`BuildOptions::output_format`])
    pub output: Option<PathBuf>,
    /// What `output` holds for each image
    pub output_format: OutputFormat,
    /// Build without the components that cannot be obtained here, saying so everywhere
    pub skip_unavailable: bool,
    /// Secret values
    pub secrets: Secrets,
    /// The Debian mirror for bootstrapped bases (`IMAGESMITH_DEBIAN_MIRROR`)
    pub debian_mirror: String,
    /// Whether build and validate steps may use the network (apt needs it), which for them
    /// is the build's proxy on their own loopback (`--no-network` turns it off); the test
    /// phase never has the network, only loopback
    pub network: bool,
    /// The hosts steps may reach through the proxy (the project's `network.egress`), besides
    /// the hosts of the plan's mirrors and of [`BuildOptions::debian_mirror`]; any public
    /// host when `None`
    pub egress: Option<Vec<String>>,
    /// The time of every file, history entry and `created` field (`SOURCE_DATE_EPOCH`, 0 by
    /// default)
    pub source_date_epoch: u64,
    /// How many images build at once
    pub jobs: usize,
    /// Base references replaced by a source (`debian:12` → `oci:/srv/debian:12`)
    pub base_overrides: BTreeMap<String, String>,
    /// Rootful or rootless; detected when `None`
    pub mode: Option<Mode>,
    /// Whether to run the test phase of the finished images
    pub run_tests: bool,
    /// Whether the build's proxy ([`crate::httpcache`]), steps' only way out, keeps apt's
    /// by-hash indexes and pool packages in `<cache>/http` across builds; without
    /// (`--no-http-cache`) it only forwards
    pub http_cache: bool,
    /// The S3 client for S3Download steps (imagesmith-aws's, with the `aws` feature); without
    /// one, components that download from S3 are unavailable
    pub s3: Option<Arc<dyn imagesmith_awstoe::exec::S3Fetch>>,
    /// Registry credentials asked before the environment's (`IMAGESMITH_REGISTRY_*`, the
    /// auth files) when a base is pulled: imagesmith-aws's ECR login with the `aws` feature
    pub registry_credentials: Option<RegistryCredentials>,
}

impl BuildOptions {
    /// Defaults: the cache from the environment, network for build steps, the epoch from
    /// `SOURCE_DATE_EPOCH` (else 0), one job per core, tests on
    pub fn new() -> Self {
        let epoch = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        Self {
            cache_dir: crate::cache::default_cache_dir(),
            output: None,
            output_format: OutputFormat::Layout,
            skip_unavailable: false,
            secrets: Secrets::new(),
            debian_mirror: std::env::var("IMAGESMITH_DEBIAN_MIRROR")
                .ok()
                .filter(|value| !value.is_empty())
                .unwrap_or_else(|| DEFAULT_DEBIAN_MIRROR.to_owned()),
            network: true,
            egress: None,
            source_date_epoch: epoch,
            jobs: std::thread::available_parallelism().map_or(2, usize::from),
            base_overrides: BTreeMap::new(),
            mode: None,
            run_tests: true,
            http_cache: true,
            s3: None,
            registry_credentials: None,
        }
    }
}

/// What `--output` writes for each image
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// An OCI image layout directory, `DIR/NAME` (with the SBOM artifacts)
    #[default]
    Layout,
    /// An oci-archive tarball, `DIR/NAME.oci.tar` (a tar of the layout, SBOMs included)
    OciArchive,
    /// A docker-archive tarball, `DIR/NAME.docker.tar`, as `docker save` writes it and
    /// `docker load` / `podman load` read it, tagged `NAME:latest` (the image only: the
    /// format has no place for the SBOM artifacts)
    DockerArchive,
}

impl OutputFormat {
    /// Where the output of image `name` goes under `dir`
    pub fn path(self, dir: &Path, name: &str) -> PathBuf {
        match self {
            OutputFormat::Layout => dir.join(name),
            OutputFormat::OciArchive => dir.join(format!("{name}.oci.tar")),
            OutputFormat::DockerArchive => dir.join(format!("{name}.docker.tar")),
        }
    }
}

/// A credential source shared by the builds of one run
#[derive(Clone)]
pub struct RegistryCredentials(pub Arc<dyn CredentialSource>);

impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistryCredentials(..)")
    }
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// What the build did, per image
#[derive(Debug, Clone, Serialize)]
pub struct BuildSummary {
    /// The images built, in plan order
    pub images: Vec<ImageReport>,
    /// How many commands ran in the sandbox
    pub sandbox_runs: usize,
    /// Wall time, in seconds
    pub seconds: f64,
    /// What the caching HTTP proxy did, when it ran
    pub http_cache: Option<Stats>,
}

/// The build report of one image (also written as `NAME.report.json` beside its layout)
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// The image name
    pub name: String,
    /// Golden or customized
    pub role: Role,
    /// The manifest digest
    pub digest: String,
    /// The base: reference and manifest digest
    pub base: BaseReport,
    /// The components built into it, in order
    pub components: Vec<ComponentReport>,
    /// Components left out because they cannot be obtained here
    pub omitted: Vec<Unavailable>,
    /// `passed`, `cached` (passed before for this digest), or `skipped`
    pub test: String,
    /// The SBOM artifacts: `sbom-spdx <manifest digest>`, `sbom-cyclonedx <digest>`
    pub sbom: Vec<String>,
    /// The OCI image layout or archive written, when `--output` was given
    pub output: Option<PathBuf>,
    /// The copy kept in the cache
    pub cached_layout: PathBuf,
    /// Where the step logs are
    pub logs: PathBuf,
    /// The epoch of every timestamp
    pub source_date_epoch: u64,
}

/// The image an image is built on
#[derive(Debug, Clone, Serialize)]
pub struct BaseReport {
    /// The reference (`debian:12`, or the golden image's name)
    pub name: String,
    /// Its manifest digest
    pub digest: String,
}

/// One component's layer
#[derive(Debug, Clone, Serialize)]
pub struct ComponentReport {
    /// The component
    pub name: String,
    /// Its version
    pub version: String,
    /// The layer digest
    pub layer: String,
    /// Whether the layer came from the cache
    pub cached: bool,
    /// How long its build and validate phases took (0 when cached)
    pub seconds: f64,
}

/// What an image leaves for the images built on it
#[derive(Debug, Clone)]
struct Built {
    image: Image,
    /// Overlay lower directories, top-most first
    lowers: Vec<PathBuf>,
    chain: String,
    base: BaseReport,
    report: ImageReport,
}

/// The builder and the services it uses; most of it is testable with fakes
pub struct Builder<'a> {
    /// Runs commands
    pub sandbox: &'a (dyn Sandbox + Sync),
    /// Mounts the builder's view of images
    pub mounter: &'a dyn Mounter,
    /// Checks downloads before the build
    pub probe: &'a dyn Probe,
    /// Shows progress
    pub progress: &'a dyn Progress,
}

struct Context<'a> {
    plan: &'a LockedProject,
    options: &'a BuildOptions,
    cache: Cache,
    mode: Mode,
    runs: Arc<AtomicUsize>,
    omitted: HashMap<String, Vec<Unavailable>>,
    /// The proxy of steps with the network: their only way out
    http: Option<HttpProxy>,
}

impl Builder<'_> {
    /// Builds the images of `plan` (golden images first; images that do not depend on each
    /// other in parallel)
    pub fn build(
        &self,
        plan: &LockedProject,
        options: &BuildOptions,
    ) -> Result<BuildSummary, BuildError> {
        // A full disk anywhere is reported as such, naming the cache
        self.build_unclassified(plan, options)
            .map_err(|error| error.classify_no_space(&options.cache_dir))
    }

    fn build_unclassified(
        &self,
        plan: &LockedProject,
        options: &BuildOptions,
    ) -> Result<BuildSummary, BuildError> {
        let started = Instant::now();
        let mode = match options.mode {
            Some(mode) => mode,
            None => imagesmith_sandbox::detect_mode().map_err(BuildError::SandboxUnsupported)?,
        };
        match mode {
            // Base extraction, file actions and layers need the image's users: the whole
            // build runs in one user namespace (see imagesmith_sandbox::reexec_in_user_namespace)
            Mode::Rootless { .. } => {
                return Err(BuildError::Invalid {
                    message: String::from("Building as an unprivileged user needs the whole build to run in a user namespace\nhint: `imagesmith build` enters one itself; a program using this library calls `imagesmith_sandbox::reexec_in_user_namespace()` first"),
                });
            }
            Mode::UserNamespace {
                single_id: true, ..
            } => {
                if let Some(image) = plan.images.first() {
                    self.progress.update(&image.name, SINGLE_ID_WARNING);
                }
            }
            Mode::Rootful | Mode::UserNamespace { .. } => {}
        }
        let images: Vec<&LockedImage> = plan.images.iter().collect();
        let unavailable = preflight(
            plan,
            &images,
            &options.secrets,
            self.probe,
            options.s3.as_deref(),
        );
        if !unavailable.is_empty() && !options.skip_unavailable {
            return Err(BuildError::Unavailable {
                components: unavailable,
            });
        }
        let mut omitted: HashMap<String, Vec<Unavailable>> = HashMap::new();
        for item in unavailable {
            self.progress.update(
                &item.image,
                &format!(
                    "omitting component `{}` (--skip-unavailable): {}",
                    item.component,
                    item.reasons.join("; ")
                ),
            );
            omitted.entry(item.image.clone()).or_default().push(item);
        }
        let cache = Cache::open_reporting(&options.cache_dir, &|message| {
            if let Some(image) = images.first() {
                self.progress.update(&image.name, message);
            }
        })?;
        let mut http = None;
        if options.network {
            // The only way out for steps with the network: without it they have none
            let proxy_options = ProxyOptions {
                store: options.http_cache,
                egress: egress_patterns(options, plan)?,
                trusted: trusted_origins(options, plan),
                ..ProxyOptions::default()
            };
            http = Some(HttpProxy::for_cache(&cache, proxy_options).map_err(|error| {
                BuildError::Invalid {
                    message: format!("Cannot start the build's proxy, the only network of build steps: {error}\nhint: fix the proxy settings of the environment (`http_proxy`, `https_proxy`), or build with `--no-network`"),
                }
            })?);
        }
        let context = Context {
            plan,
            options,
            cache,
            mode,
            runs: Arc::new(AtomicUsize::new(0)),
            omitted,
            http,
        };

        // Bases, one at a time (a bootstrap already uses the network and the disk fully)
        let mut registry_options = RegistryOptions::from_env();
        if let Some(RegistryCredentials(source)) = &options.registry_credentials {
            registry_options = registry_options.with_source_first(source.clone());
        }
        let registry = RegistryClient::new(registry_options);
        let mut bases: HashMap<String, ResolvedBase> = HashMap::new();
        for image in &images {
            if let Parent::Base { reference } = &image.parent {
                if bases.contains_key(reference) {
                    continue;
                }
                let source_text = options
                    .base_overrides
                    .get(reference)
                    .cloned()
                    .unwrap_or_else(|| reference.clone());
                let source = BaseSource::parse(&source_text)?;
                let base_options = BaseOptions {
                    debian_mirror: options.debian_mirror.clone(),
                    source_date_epoch: options.source_date_epoch,
                };
                let name = image.name.clone();
                let resolved = base::resolve_with(
                    &context.cache,
                    reference,
                    &source,
                    &base_options,
                    &registry,
                    &|message| self.progress.update(&name, message),
                )?;
                bases.insert(reference.clone(), resolved);
            }
        }

        let mut built: HashMap<String, Result<Built, String>> = HashMap::new();
        let mut errors = Vec::new();
        for role in [Role::Golden, Role::Customized] {
            let wave: Vec<&LockedImage> = images
                .iter()
                .copied()
                .filter(|image| image.role == role)
                .collect();
            let results = self.run_wave(&context, &wave, |image| {
                let parent = match &image.parent {
                    Parent::Base { reference } => {
                        let base = bases.get(reference).ok_or_else(|| BuildError::Base {
                            reference: reference.clone(),
                            message: String::from("it was not resolved"),
                        })?;
                        Built {
                            image: base.image.clone(),
                            lowers: vec![base.rootfs.clone()],
                            chain: chain_of(&base.image),
                            base: BaseReport {
                                name: base.reference.clone(),
                                digest: base.image.digest().to_string(),
                            },
                            report: placeholder_report(),
                        }
                    }
                    Parent::Golden { name } => match built.get(name) {
                        Some(Ok(parent)) => {
                            let mut parent = parent.clone();
                            parent.base = BaseReport {
                                name: format!("{name}:latest"),
                                digest: parent.image.digest().to_string(),
                            };
                            parent
                        }
                        _ => {
                            return Err(BuildError::ParentFailed {
                                image: image.name.clone(),
                                parent: name.clone(),
                            })
                        }
                    },
                };
                self.build_image(&context, image, parent)
            });
            for (name, result) in results {
                match result {
                    Ok(done) => {
                        self.progress.finish(
                            &name,
                            true,
                            &format!(
                                "{} ({} layers from cache, {} built)",
                                done.report.digest,
                                done.report.components.iter().filter(|c| c.cached).count(),
                                done.report.components.iter().filter(|c| !c.cached).count()
                            ),
                        );
                        built.insert(name, Ok(done));
                    }
                    Err(error) => {
                        self.progress.finish(&name, false, &error.to_string());
                        built.insert(name, Err(error.to_string()));
                        errors.push(error);
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(if errors.len() == 1 {
                errors.remove(0)
            } else {
                BuildError::Many { errors }
            });
        }
        let reports = images
            .iter()
            .filter_map(|image| match built.remove(&image.name) {
                Some(Ok(done)) => Some(done.report),
                _ => None,
            })
            .collect();
        Ok(BuildSummary {
            images: reports,
            sandbox_runs: context.runs.load(Ordering::SeqCst),
            seconds: started.elapsed().as_secs_f64(),
            http_cache: context
                .http
                .as_ref()
                .filter(|_| options.http_cache)
                .map(HttpProxy::stats),
        })
    }

    /// Runs `work` for each image on up to `jobs` threads, each with its own mount namespace
    fn run_wave<T: Send>(
        &self,
        context: &Context<'_>,
        images: &[&LockedImage],
        work: impl Fn(&LockedImage) -> Result<T, BuildError> + Sync,
    ) -> Vec<(String, Result<T, BuildError>)> {
        let queue: Mutex<VecDeque<&LockedImage>> = Mutex::new(images.iter().copied().collect());
        let results: Mutex<Vec<(String, Result<T, BuildError>)>> = Mutex::new(Vec::new());
        let threads = context.options.jobs.clamp(1, images.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let entered = self.mounter.enter_private_namespace();
                    loop {
                        let next = queue.lock().ok().and_then(|mut queue| queue.pop_front());
                        let Some(image) = next else { break };
                        let result = match &entered {
                            Ok(()) => work(image),
                            Err(error) => Err(BuildError::Invalid {
                                message: error.to_string(),
                            }),
                        };
                        if let Ok(mut results) = results.lock() {
                            results.push((image.name.clone(), result));
                        }
                    }
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_default();
        // Plan order, whatever order threads finished in
        results.sort_by_key(|(name, _)| images.iter().position(|image| &image.name == name));
        results
    }

    fn build_image(
        &self,
        context: &Context<'_>,
        planned: &LockedImage,
        parent: Built,
    ) -> Result<Built, BuildError> {
        let options = context.options;
        let cache = &context.cache;
        let epoch = options.source_date_epoch;
        let name = planned.name.as_str();
        let omitted = context.omitted.get(name).cloned().unwrap_or_default();
        let omitted_names: BTreeSet<&str> =
            omitted.iter().map(|item| item.component.as_str()).collect();
        let components: Vec<&LockedComponent> = planned
            .components
            .iter()
            .filter(|component| !omitted_names.contains(component.name.as_str()))
            .collect();

        let mut lowers = parent.lowers.clone();
        let mut chain = parent.chain.clone();
        let mut image_builder = ImageBuilder::from_base(&parent.image, epoch);
        let mut reports = Vec::new();
        for component in &components {
            let key = key_of(&(
                // v2: trees normalised with /etc/shadow's day 0 written empty
                "layer-v2",
                &chain,
                &component.name,
                component.version.to_string(),
                &component.digest,
                &component.parameters,
                &component.secrets,
                options.network,
                epoch,
                &context.plan.mirrors,
            ));
            let label = format!("{} {}", component.name, component.version);
            let started = Instant::now();
            let (record, cached) = match cache.layer(&key)? {
                Some(record) => {
                    self.progress.update(name, &format!("{label}: cached"));
                    (record, true)
                }
                None => (
                    self.build_layer(context, planned, component, &lowers, &key)?,
                    false,
                ),
            };
            let digest = parse_digest(&record.digest, Path::new(&record.key))?;
            let diff_id = parse_digest(&record.diff_id, Path::new(&record.key))?;
            let layer = Layer {
                descriptor: Descriptor::new(
                    MediaType::from(record.media_type.as_str()),
                    record.size,
                    digest,
                ),
                diff_id,
                uncompressed_size: 0,
            };
            image_builder.add_layer(
                &layer,
                HistoryEntry {
                    created_by: format!(
                        "imagesmith component {} {} (build, validate)",
                        component.name, component.version
                    ),
                    comment: Some(format!("component digest {}", component.digest)),
                },
            );
            lowers.insert(0, cache.upper_dir(&key));
            chain = chain_id(Some(&chain), &record.diff_id);
            reports.push(ComponentReport {
                name: component.name.clone(),
                version: component.version.to_string(),
                layer: record.digest.clone(),
                cached,
                seconds: if cached {
                    0.0
                } else {
                    started.elapsed().as_secs_f64()
                },
            });
        }
        for item in &omitted {
            image_builder.add_empty_layer(HistoryEntry {
                created_by: format!("imagesmith omitted component {}", item.component),
                comment: Some(String::from(
                    "not obtainable on the build machine (--skip-unavailable); see the build report",
                )),
            });
        }
        configure(
            &mut image_builder,
            planned,
            &parent,
            &components,
            &omitted,
            epoch,
        );
        let image = image_builder
            .build(cache.blobs())
            .map_err(BuildError::oci(name))?;
        let digest = image.digest().to_string();

        let test = if !options.run_tests {
            String::from("skipped")
        } else if cache.tested(&digest) {
            self.progress
                .update(name, "test phase: passed before for this digest");
            String::from("cached")
        } else {
            self.test_components(context, name, &components, &lowers)?;
            cache.mark_tested(&digest)?;
            String::from("passed")
        };

        let artifacts = self.sboms(context, planned, &image, &lowers, &omitted)?;
        let mut tagged: Vec<(&str, &Image)> = vec![("latest", &image)];
        for (tag, artifact) in &artifacts {
            tagged.push((tag.as_str(), artifact));
        }
        let cached_layout = cache.dir("images").join(name);
        write_layout(&cached_layout, cache.blobs(), &tagged).map_err(BuildError::oci(name))?;
        let output = match &options.output {
            Some(dir) => {
                let dest = options.output_format.path(dir, name);
                match options.output_format {
                    OutputFormat::Layout => write_layout(&dest, cache.blobs(), &tagged),
                    OutputFormat::OciArchive => {
                        write_oci_archive(&dest, cache.blobs(), &tagged, epoch)
                    }
                    OutputFormat::DockerArchive => write_docker_archive(
                        &dest,
                        cache.blobs(),
                        &image,
                        &[format!("{name}:latest")],
                        epoch,
                    ),
                }
                .map_err(BuildError::oci(name))?;
                Some(dest)
            }
            None => None,
        };
        let report = ImageReport {
            name: name.to_owned(),
            role: planned.role,
            digest,
            base: parent.base.clone(),
            components: reports,
            omitted,
            test,
            sbom: artifacts
                .iter()
                .map(|(tag, artifact)| format!("{tag} {}", artifact.digest()))
                .collect(),
            output: output.clone(),
            cached_layout: cached_layout.clone(),
            logs: cache.dir("logs").join(name),
            source_date_epoch: epoch,
        };
        write_json_atomic(
            &cache.dir("images").join(format!("{name}.report.json")),
            &report,
        )?;
        if let Some(dest) = &output {
            write_json_atomic(&dest.with_file_name(format!("{name}.report.json")), &report)?;
        }
        Ok(Built {
            image,
            lowers,
            chain,
            base: parent.base,
            report,
        })
    }

    /// Runs the test phase of each component, each in its own sandbox and scratch directory,
    /// all at once (tests mostly wait: services start, sleep, answer on loopback in
    /// their own network namespace); every test runs to the end so each one's log is written,
    /// and failures are reported in component order
    fn test_components(
        &self,
        context: &Context<'_>,
        image: &str,
        components: &[&LockedComponent],
        lowers: &[PathBuf],
    ) -> Result<(), BuildError> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<(usize, Result<(), BuildError>)>> = Mutex::new(Vec::new());
        // Tests mostly wait (a service starts, answers once on loopback), so they all start
        // at once rather than `jobs` at a time
        let threads = components.len().clamp(1, 16);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    // Its own mount namespace, as a build thread has: a test's overlay is
                    // mounted and unmounted around each command, never seen by the others
                    let entered = self.mounter.enter_private_namespace();
                    loop {
                        let index = next.fetch_add(1, Ordering::SeqCst);
                        let Some(component) = components.get(index) else {
                            break;
                        };
                        let result = match &entered {
                            Ok(()) => self
                                .run_phases(context, image, component, lowers, &["test"], false)
                                .and_then(|scratch| remove_tree(scratch.path())),
                            Err(error) => Err(BuildError::Invalid {
                                message: error.to_string(),
                            }),
                        };
                        if let Ok(mut results) = results.lock() {
                            results.push((index, result));
                        }
                    }
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_default();
        // Component order, whatever order the tests finished in
        results.sort_by_key(|(index, _)| *index);
        let mut errors: Vec<BuildError> = results
            .into_iter()
            .filter_map(|(_, result)| result.err())
            .collect();
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(BuildError::Many { errors }),
        }
    }

    fn build_layer(
        &self,
        context: &Context<'_>,
        planned: &LockedImage,
        component: &LockedComponent,
        lowers: &[PathBuf],
        key: &str,
    ) -> Result<LayerRecord, BuildError> {
        let cache = &context.cache;
        let scratch = self.run_phases(
            context,
            &planned.name,
            component,
            lowers,
            &["build", "validate"],
            context.options.network,
        )?;
        let upper = scratch.path().join("u");
        normalize(&upper, context.options.source_date_epoch)?;
        let mut layer_options = LayerOptions::new(context.options.source_date_epoch);
        layer_options.overlay = true;
        layer_options.xattrs = true;
        let layer = write_layer(cache.blobs(), &upper, &layer_options)
            .map_err(BuildError::oci(&planned.name))?;
        let kept = cache.upper_dir(key);
        remove_tree(&kept)?;
        fs_err::rename(&upper, &kept)?;
        let record = LayerRecord {
            key: key.to_owned(),
            digest: layer.descriptor.digest().to_string(),
            size: layer.descriptor.size(),
            media_type: layer.descriptor.media_type().to_string(),
            diff_id: layer.diff_id.to_string(),
            component: format!("{} {}", component.name, component.version),
        };
        // Last: the record makes the layer visible to later builds
        cache.put_layer(&record)?;
        remove_tree(scratch.path())?;
        Ok(record)
    }

    /// Runs `phases` of the component's document in a fresh overlay on `lowers`; returns the
    /// scratch directory holding the upper directory
    fn run_phases(
        &self,
        context: &Context<'_>,
        image: &str,
        component: &LockedComponent,
        lowers: &[PathBuf],
        phases: &[&str],
        network: bool,
    ) -> Result<tempfile::TempDir, BuildError> {
        let cache = &context.cache;
        let scratch = cache.scratch()?;
        let document = &component.platform.document;
        let present: Vec<&str> = phases
            .iter()
            .copied()
            .filter(|phase| document.phases.iter().any(|p| p.name == *phase))
            .collect();
        if present.is_empty() {
            return Ok(scratch);
        }
        let phase_label = present.join("+");
        let root = OverlayRoot {
            lower_dirs: lowers.to_vec(),
            upper_dir: scratch.path().join("u"),
            work_dir: scratch.path().join("w"),
            merged_dir: scratch.path().join("m"),
        };
        let secrets = context.options.secrets.for_component(component);
        // Not in any layer's cache key: the proxy changes where bytes come from, not which
        let http = context.http.as_ref().filter(|_| network);
        let sandbox_network = match http {
            Some(proxy) => Network::Proxy {
                port: STEP_PROXY_PORT,
                server: proxy.sandbox_server(),
            },
            None => Network::None,
        };
        // The download cache's apt settings come with the cache, not with the network
        let apt_config = http.is_some() && context.options.http_cache;
        let redaction = context.options.secrets.redaction_values(&secrets);
        let log_dir = cache.dir("logs").join(image);
        fs_err::create_dir_all(&log_dir)?;
        let text_log = log_dir.join(format!("{}.{phase_label}.log", component.name));
        let json_log = log_dir.join(format!("{}.{phase_label}.json", component.name));
        let _ = fs_err::remove_file(&text_log);
        let progress = self.progress;
        let label = format!("{} {}", component.name, component.version);
        let on_step =
            |step: &str| progress.update(image, &format!("{label}: {phase_label}: {step}"));
        progress.update(image, &format!("{label}: {phase_label}"));
        let mut host = SandboxHost {
            sandbox: self.sandbox,
            mounter: self.mounter,
            root,
            mode: context.mode,
            network: sandbox_network,
            secrets,
            redactor: Redactor::new(&redaction),
            log: text_log,
            runs: Arc::clone(&context.runs),
            on_step: &on_step,
            s3: context.options.s3.as_deref(),
            plan: context.plan,
            mounted: false,
            fatal: None,
        };
        if apt_config {
            // apt's description translations are not downloaded while steps run: the lists
            // never reach a layer (normalisation removes them), so the image is the same, and
            // each `apt-get update` saves a third of its time. Under /run, which is not kept.
            let conf = host
                .root
                .upper_dir
                .join(APT_CONFIG_IN_IMAGE.trim_start_matches('/'));
            if let Some(dir) = conf.parent() {
                fs_err::create_dir_all(dir)?;
            }
            fs_err::write(&conf, APT_BUILD_CONFIG)?;
        }
        host.mount()?;
        let mut env = ExecOptions::default().env;
        env.push((
            "SOURCE_DATE_EPOCH".into(),
            context.options.source_date_epoch.to_string(),
        ));
        env.push(("DEBIAN_FRONTEND".into(), "noninteractive".into()));
        if http.is_some() {
            env.extend(step_env(STEP_PROXY_PORT));
        }
        if apt_config {
            env.push(("APT_CONFIG".into(), APT_CONFIG_IN_IMAGE.into()));
        }
        let http_before = http.filter(|_| apt_config).map(HttpProxy::stats);
        let exec_options = ExecOptions {
            parameters: component
                .parameters
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
            secrets: redaction,
            env,
            ..ExecOptions::default()
        };
        let result = {
            let mut executor = Executor::new(&mut host, exec_options);
            executor.run_document(document, &present)
        };
        if let (Some(proxy), Some(before)) = (http, http_before) {
            let stats = proxy.stats().since(&before);
            progress.update(image, &format!("{label}: {phase_label}: {stats}"));
        }
        host.unmount()?;
        if apt_config {
            // Gone again, with `/run` itself when nothing else wrote there: the layer is the
            // one a build without the download cache makes
            let run = host.root.upper_dir.join("run");
            let _ = fs_err::remove_dir_all(run.join("imagesmith"));
            let _ = std::fs::remove_dir(&run);
        }
        if let Some(fatal) = host.fatal.take() {
            return Err(match fatal {
                BuildError::Sandbox { source, .. } => BuildError::Sandbox {
                    image: image.to_owned(),
                    component: component.name.clone(),
                    phase: phase_label.clone(),
                    source,
                },
                other => other,
            });
        }
        let log = result.map_err(|error| BuildError::Invalid {
            message: format!("Image `{image}`, component `{}`: {error}", component.name),
        })?;
        fs_err::write(&json_log, log.to_json())?;
        if !log.status.is_success() {
            let phase = log
                .phases
                .iter()
                .find(|phase| !phase.status.is_success())
                .or(log.phases.last());
            let step = phase.and_then(|phase| {
                phase
                    .steps
                    .iter()
                    .find(|step| step.status == StepStatus::Failed)
            });
            let mut message = step
                .map(|step| step.failure_message.clone())
                .unwrap_or_else(|| log.failure_message.clone());
            if let Some(step) = step {
                let tail: Vec<&str> = step.stderr.lines().rev().take(5).collect();
                if !tail.is_empty() {
                    message.push_str("\n  stderr: ");
                    message.push_str(
                        &tail
                            .into_iter()
                            .rev()
                            .collect::<Vec<_>>()
                            .join("\n          "),
                    );
                }
            }
            if context.mode.single_id() {
                message.push_str(SINGLE_ID_HINT);
            }
            return Err(BuildError::StepFailed(Box::new(StepFailure {
                image: image.to_owned(),
                component: component.name.clone(),
                phase: phase.map(|phase| phase.name.clone()).unwrap_or_default(),
                step: step.map(|step| step.name.clone()).unwrap_or_default(),
                message,
                log: json_log,
            })));
        }
        Ok(scratch)
    }

    /// The SBOM artifacts of an image, from the cache or made from its merged root filesystem
    fn sboms(
        &self,
        context: &Context<'_>,
        planned: &LockedImage,
        image: &Image,
        lowers: &[PathBuf],
        omitted: &[Unavailable],
    ) -> Result<Vec<(String, Image)>, BuildError> {
        let cache = &context.cache;
        let name = planned.name.as_str();
        let record_path = cache
            .dir("s")
            .join(format!("{}.json", image.digest().digest()));
        let created = rfc3339(context.options.source_date_epoch);
        let documents = match read_json::<BTreeMap<String, String>>(&record_path)? {
            Some(record) => record,
            None => {
                let scratch = cache.scratch()?;
                let root = OverlayRoot {
                    lower_dirs: lowers.to_vec(),
                    upper_dir: scratch.path().join("u"),
                    work_dir: scratch.path().join("w"),
                    merged_dir: scratch.path().join("m"),
                };
                self.mounter.mount(&root)?;
                let generated = sbom::generate(
                    &root.merged_dir,
                    planned,
                    image.digest().as_ref(),
                    context.options.source_date_epoch,
                    omitted,
                    &context.plan.mirrors,
                );
                self.mounter.unmount(&root.merged_dir)?;
                remove_tree(scratch.path())?;
                let documents = generated.map_err(|message| BuildError::Sbom {
                    image: name.to_owned(),
                    message,
                })?;
                let mut record = BTreeMap::new();
                for (kind, bytes) in [("spdx", documents.spdx), ("cyclonedx", documents.cyclonedx)]
                {
                    let (digest, _) = cache
                        .blobs()
                        .write_bytes(&bytes)
                        .map_err(BuildError::oci(name))?;
                    record.insert(kind.to_owned(), digest.to_string());
                }
                write_json_atomic(&record_path, &record)?;
                record
            }
        };
        let mut artifacts = Vec::new();
        for (kind, digest) in documents {
            let media_type = if kind == "spdx" {
                sbom::SPDX_MEDIA_TYPE
            } else {
                sbom::CYCLONEDX_MEDIA_TYPE
            };
            let digest = parse_digest(&digest, &record_path)?;
            let bytes = cache.blobs().read(&digest).map_err(BuildError::oci(name))?;
            let artifact = sbom::artifact(cache.blobs(), image, media_type, &bytes, &created)
                .map_err(BuildError::oci(name))?;
            artifacts.push((format!("sbom-{kind}"), artifact));
        }
        Ok(artifacts)
    }
}

fn placeholder_report() -> ImageReport {
    ImageReport {
        name: String::new(),
        role: Role::Golden,
        digest: String::new(),
        base: BaseReport {
            name: String::new(),
            digest: String::new(),
        },
        components: Vec::new(),
        omitted: Vec::new(),
        test: String::new(),
        sbom: Vec::new(),
        output: None,
        cached_layout: PathBuf::new(),
        logs: PathBuf::new(),
        source_date_epoch: 0,
    }
}

/// The chain id of an image's layers
fn chain_of(image: &Image) -> String {
    let mut chain: Option<String> = None;
    for diff_id in image.diff_ids() {
        chain = Some(chain_id(chain.as_deref(), diff_id));
    }
    chain.unwrap_or_default()
}

/// The proxy's allow-list: the project's `network.egress` with the hosts of its mirrors and
/// of the Debian mirror (the images' apt sources name it), or `None` (any public host)
fn egress_patterns(
    options: &BuildOptions,
    plan: &LockedProject,
) -> Result<Option<Vec<imagesmith_model::HostPattern>>, BuildError> {
    let Some(entries) = &options.egress else {
        return Ok(None);
    };
    let mut patterns = Vec::new();
    for entry in entries {
        let pattern = imagesmith_model::HostPattern::parse(entry).map_err(|problem| {
            BuildError::Invalid {
                message: format!("Egress entry {problem}\nhint: fix `network.egress` in the project file (`imagesmith validate` shows where)"),
            }
        })?;
        patterns.push(pattern);
    }
    let mirrors = plan.mirrors.values().map(String::as_str);
    for url in mirrors.chain([options.debian_mirror.as_str()]) {
        if let Some((host, port)) = url_host(url) {
            // A mirror on another port is reached there over HTTPS too
            for port in [None, port] {
                patterns.push(imagesmith_model::HostPattern {
                    wildcard: false,
                    host: host.clone(),
                    port,
                });
            }
        }
    }
    Ok(Some(patterns))
}

/// The origins (`host:port`) the operator named, which the proxy reaches even on the build
/// host itself: the Debian mirror, the project's mirrors and `network.egress` entries that
/// name a host and a port
fn trusted_origins(options: &BuildOptions, plan: &LockedProject) -> Vec<String> {
    let netloc = |host: &str, port: u16| {
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    };
    let mut trusted = Vec::new();
    let mirrors = plan.mirrors.values().map(String::as_str);
    for url in mirrors.chain([options.debian_mirror.as_str()]) {
        if let Some((host, port)) = url_host(url) {
            let default = if url.to_ascii_lowercase().starts_with("https://") {
                443
            } else {
                80
            };
            trusted.push(netloc(&host, port.unwrap_or(default)));
        }
    }
    for entry in options.egress.iter().flatten() {
        if let Ok(imagesmith_model::HostPattern {
            wildcard: false,
            host,
            port: Some(port),
        }) = imagesmith_model::HostPattern::parse(entry)
        {
            trusted.push(netloc(&host, port));
        }
    }
    trusted
}

/// The host (lowercase) and the port, when it names one, of an `http(s)://` URL
fn url_host(url: &str) -> Option<(String, Option<u16>)> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?.rsplit('@').next()?;
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = port.and_then(|port| port.parse::<u16>().ok());
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
}

/// Labels, environment and user of the image config
fn configure(
    builder: &mut ImageBuilder,
    planned: &LockedImage,
    parent: &Built,
    components: &[&LockedComponent],
    omitted: &[Unavailable],
    epoch: u64,
) {
    // Every label the lock computed (the Dockerfile and the Image Builder recipe write the
    // same), less the versions of components this build omitted; then what only the build
    // knows: when, and the digest of the base it started from.
    let installed: BTreeSet<&str> = components.iter().map(|c| c.name.as_str()).collect();
    for (label, value) in &planned.labels {
        let omitted_component = label
            .strip_prefix(COMPONENT_LABEL_PREFIX)
            .is_some_and(|name| !installed.contains(name));
        if !omitted_component {
            builder.set_label(label.clone(), value.clone());
        }
    }
    builder.set_label("org.opencontainers.image.created", rfc3339(epoch));
    builder.set_label(
        "org.opencontainers.image.base.digest",
        parent.base.digest.clone(),
    );
    // Components omitted from the parent are still missing from this image
    let inherited = parent
        .image
        .config
        .config()
        .as_ref()
        .and_then(|config| config.labels().as_ref())
        .and_then(|labels| labels.get(OMITTED_LABEL).cloned())
        .unwrap_or_default();
    let mut names: BTreeSet<String> = inherited
        .split(',')
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    names.extend(omitted.iter().map(|item| item.component.clone()));
    if !names.is_empty() {
        builder.set_label(
            OMITTED_LABEL,
            names.into_iter().collect::<Vec<_>>().join(","),
        );
    }
    for (variable, value) in &planned.environment {
        builder.set_env(variable, value);
    }
    if let Some(user) = &planned.user {
        builder.set_user(user.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_urls_give_their_host_and_port() {
        assert_eq!(
            url_host("http://deb.debian.org/debian"),
            Some(("deb.debian.org".into(), None))
        );
        assert_eq!(
            url_host("https://user:pw@Artifactory.Corp:8443/debian?x"),
            Some(("artifactory.corp".into(), Some(8443)))
        );
        assert_eq!(
            url_host("http://[fd00::1]:8080/"),
            Some(("fd00::1".into(), Some(8080)))
        );
        assert_eq!(url_host("not a url"), None);
    }

    #[test]
    fn the_operators_origins_are_trusted_on_the_host() {
        let mut options = BuildOptions::new();
        options.debian_mirror = String::from("http://localhost:3142/debian");
        options.egress = Some(vec![
            "deb.debian.org".into(),
            "*.corp:8443".into(),
            "127.0.0.1:8081".into(),
        ]);
        let mut plan = LockedProject::for_test(Vec::new());
        plan.mirrors = [(
            String::from("https://github.com/"),
            String::from("https://Artifactory.corp/github/"),
        )]
        .into_iter()
        .collect();
        assert_eq!(
            trusted_origins(&options, &plan),
            ["artifactory.corp:443", "localhost:3142", "127.0.0.1:8081"]
        );
    }
}
