//! The builder with a fake sandbox that counts and records runs

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use imagesmith_build::progress::Silent;
use imagesmith_build::{BuildError, BuildOptions, Builder, NoMounter, Probe, Secrets};
use imagesmith_oci::ImageLayout;
use imagesmith_plan::{LockedComponent, LockedImage, LockedProject, Parent, Role};
use imagesmith_sandbox::{Mode, Network, RunOutput, Sandbox, SandboxConfig, SandboxError};

/// Records every run; fails commands whose script mentions `fail_marker`; writes a file
/// into the upper directory so layers have content
#[derive(Default)]
struct FakeSandbox {
    runs: Mutex<Vec<SandboxConfig>>,
    fail_marker: Option<String>,
    print: Option<String>,
}

impl FakeSandbox {
    fn count(&self) -> usize {
        self.runs.lock().unwrap().len()
    }
}

impl Sandbox for FakeSandbox {
    fn run(
        &self,
        config: &SandboxConfig,
        _output: Option<imagesmith_sandbox::OutputSink>,
    ) -> Result<RunOutput, SandboxError> {
        let mut runs = self.runs.lock().unwrap();
        runs.push(config.clone());
        // The listener a real sandbox makes in the step's namespace, handed to the proxy and
        // taken back when the step ends
        if let Network::Proxy { server, .. } = &config.network {
            let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
            drop(server.serve(listener));
        }
        // The script the executor wrote, read through the merged directory
        let script = config
            .command
            .last()
            .map(|path| config.root.merged_dir.join(path.trim_start_matches('/')))
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default();
        // What the step "installs" depends on the script, as a real step's output would
        let marker = config.root.upper_dir.join("var/lib/fake");
        std::fs::create_dir_all(&marker).unwrap();
        std::fs::write(marker.join(format!("run-{}", runs.len())), &script).unwrap();
        let failed = self
            .fail_marker
            .as_ref()
            .is_some_and(|marker| script.contains(marker.as_str()));
        Ok(RunOutput {
            exit_code: if failed { 3 } else { 0 },
            timed_out: false,
            stdout: self.print.clone().unwrap_or_default().into_bytes(),
            stderr: Vec::new(),
            duration: std::time::Duration::from_millis(1),
        })
    }
}

struct FakeProbe;

impl Probe for FakeProbe {
    fn reachable(&self, url: &str) -> Result<(), String> {
        Err(format!("fake: `{url}` is offline"))
    }
}

fn component(name: &str, os: &str) -> LockedComponent {
    let context = imagesmith_validate::Context::builtin();
    let definition = context
        .catalog
        .component(name)
        .unwrap_or_else(|| panic!("no component {name}"))
        .clone();
    let platform = definition.platforms.get(os).unwrap().clone();
    let version = platform
        .default
        .clone()
        .or_else(|| definition.versions.default.clone())
        .unwrap_or_else(|| "1.0".into());
    let mut parameters = indexmap::IndexMap::new();
    parameters.insert("version".to_owned(), version.to_string());
    if let imagesmith_model::Artifact::Download { .. } = &platform.artifact {
        parameters.insert("arch".to_owned(), "amd64".to_owned());
    }
    let secrets: Vec<String> = definition
        .parameters
        .iter()
        .filter(|parameter| parameter.secret)
        .map(|parameter| parameter.name.clone())
        .collect();
    LockedComponent::for_test(
        name,
        version.as_str(),
        definition,
        platform,
        parameters,
        secrets,
    )
}

fn image(name: &str, role: Role, parent: Parent, components: Vec<LockedComponent>) -> LockedImage {
    let context = imagesmith_validate::Context::builtin();
    LockedImage::for_test(
        name,
        role,
        context.catalog.os.get("debian12").unwrap().clone(),
        parent,
        components,
        [("LANG".to_owned(), "C.UTF-8".to_owned())]
            .into_iter()
            .collect(),
    )
}

fn plan(golden: Vec<LockedComponent>, custom: Vec<LockedComponent>) -> LockedProject {
    let mut images = vec![image(
        "golden",
        Role::Golden,
        Parent::Base {
            reference: "debian:12".into(),
        },
        golden,
    )];
    if !custom.is_empty() {
        images.push(image(
            "custom",
            Role::Customized,
            Parent::Golden {
                name: "golden".into(),
            },
            custom,
        ));
    }
    LockedProject::for_test(images)
}

struct Setup {
    _temp: tempfile::TempDir,
    options: BuildOptions,
}

fn setup() -> Setup {
    let temp = tempfile::tempdir().unwrap();
    let rootfs = temp.path().join("rootfs");
    for dir in ["etc", "usr/bin", "tmp"] {
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
    let mut options = BuildOptions::new();
    options.cache_dir = temp.path().join("cache");
    options.output = Some(temp.path().join("out"));
    options.mode = Some(Mode::Rootful);
    options.source_date_epoch = 1_700_000_000;
    options
        .base_overrides
        .insert("debian:12".into(), format!("dir:{}", rootfs.display()));
    Setup {
        _temp: temp,
        options,
    }
}

fn build(
    sandbox: &(dyn Sandbox + Sync),
    plan: &LockedProject,
    options: &BuildOptions,
) -> Result<imagesmith_build::BuildSummary, BuildError> {
    let builder = Builder {
        sandbox,
        mounter: &NoMounter,
        probe: &FakeProbe,
        progress: &Silent,
    };
    builder.build(plan, options)
}

fn labels(layout: &Path) -> std::collections::HashMap<String, String> {
    let image = ImageLayout::open(layout)
        .unwrap()
        .image(Some("latest"))
        .unwrap();
    image
        .config
        .config()
        .clone()
        .unwrap()
        .labels()
        .clone()
        .unwrap()
}

#[test]
fn unchanged_images_rebuild_without_running_a_step() {
    let setup = setup();
    let plan = plan(
        vec![
            component("chrony", "debian12"),
            component("node_exporter", "debian12"),
        ],
        vec![component("python", "debian12")],
    );
    let sandbox = FakeSandbox::default();
    let first = build(&sandbox, &plan, &setup.options).unwrap();
    let cold_runs = sandbox.count();
    assert!(
        cold_runs >= 6,
        "build, validate and test steps ran: {cold_runs}"
    );
    assert_eq!(first.sandbox_runs, cold_runs);

    let again = FakeSandbox::default();
    let second = build(&again, &plan, &setup.options).unwrap();
    assert_eq!(again.count(), 0, "a no-op rebuild runs no step");
    assert_eq!(second.sandbox_runs, 0);
    for (a, b) in first.images.iter().zip(&second.images) {
        assert_eq!(a.digest, b.digest);
        assert!(b.components.iter().all(|c| c.cached));
        assert_eq!(b.test, "cached");
    }
}

/// Issue #3 and issue 8: the build's proxy is the only network of the build and validate
/// steps (a namespace of their own with the proxy's listener), never of the test phase; it
/// changes no layer's cache key or digest; with the cache off it still runs (forwarding
/// only), and `--no-network` leaves every step without it
#[test]
fn the_http_cache_proxy_reaches_networked_steps_only_and_changes_no_layer() {
    let mut setup = setup();
    let plan = plan(vec![component("chrony", "debian12")], vec![]);
    let env_of = |config: &SandboxConfig, wanted: &str| {
        config
            .env
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.clone())
    };
    let check = |runs: &[SandboxConfig], cache: bool| {
        assert!(runs.iter().any(|config| config.network.is_proxy()));
        assert!(runs.iter().any(|config| !config.network.is_proxy()));
        for config in runs {
            match &config.network {
                Network::Proxy { port, .. } => {
                    let url = format!("http://127.0.0.1:{port}");
                    for name in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"] {
                        assert_eq!(
                            env_of(config, name).as_deref(),
                            Some(url.as_str()),
                            "{name}"
                        );
                    }
                    assert!(env_of(config, "no_proxy").unwrap().contains("127.0.0.1"));
                    // apt reads the download cache's settings first (no translations), under /run
                    assert_eq!(
                        env_of(config, "APT_CONFIG").as_deref(),
                        cache.then_some("/run/imagesmith/apt.conf")
                    );
                }
                Network::None => {
                    assert_eq!(
                        env_of(config, "http_proxy"),
                        None,
                        "a step without the network got the proxy"
                    );
                    assert_eq!(env_of(config, "https_proxy"), None);
                }
            }
        }
    };
    let sandbox = FakeSandbox::default();
    let first = build(&sandbox, &plan, &setup.options).unwrap();
    check(&sandbox.runs.lock().unwrap()[..], true);
    assert!(first.http_cache.is_some());

    // Without the cache, in the same cache directory: the same layer keys, so nothing runs
    setup.options.http_cache = false;
    let again = FakeSandbox::default();
    let second = build(&again, &plan, &setup.options).unwrap();
    assert_eq!(again.count(), 0, "the proxy is part of a layer's key");
    assert_eq!(second.images[0].digest, first.images[0].digest);
    assert!(second.http_cache.is_none());

    // Without the cache, in a fresh cache: the proxy still runs, only forwarding, and the
    // image is the same
    let root = setup.options.cache_dir.clone();
    setup.options.cache_dir = root.with_file_name("fresh-cache");
    let cold = FakeSandbox::default();
    let third = build(&cold, &plan, &setup.options).unwrap();
    check(&cold.runs.lock().unwrap()[..], false);
    assert_eq!(third.images[0].digest, first.images[0].digest);

    // `--no-network`: no step has a way out
    setup.options.cache_dir = root.with_file_name("offline-cache");
    setup.options.network = false;
    let offline = FakeSandbox::default();
    build(&offline, &plan, &setup.options).unwrap();
    let runs = offline.runs.lock().unwrap().clone();
    assert!(!runs.is_empty());
    assert!(runs
        .iter()
        .all(|config| config.network == Network::None && env_of(config, "http_proxy").is_none()));
}

/// Issue 8: the project's egress allow-list reaches the proxy; an entry that is not a host
/// stops the build before any step runs
#[test]
fn a_bad_egress_entry_stops_the_build() {
    let mut setup = setup();
    let plan = plan(vec![component("chrony", "debian12")], vec![]);
    setup.options.egress = Some(vec!["https://deb.debian.org/debian".into()]);
    let sandbox = FakeSandbox::default();
    let error = build(&sandbox, &plan, &setup.options).unwrap_err();
    assert!(error.to_string().contains("network.egress"), "{error}");
    assert_eq!(sandbox.count(), 0);
    setup.options.egress = Some(vec!["deb.debian.org".into(), "*.amazonaws.com".into()]);
    build(&sandbox, &plan, &setup.options).unwrap();
    assert!(sandbox.count() > 0);
}

#[test]
fn a_changed_parameter_rebuilds_that_layer_and_the_ones_above() {
    let setup = setup();
    let golden = vec![
        component("chrony", "debian12"),
        component("node_exporter", "debian12"),
    ];
    let sandbox = FakeSandbox::default();
    let first = build(&sandbox, &plan(golden.clone(), vec![]), &setup.options).unwrap();

    let mut changed = golden.clone();
    changed[0]
        .parameters
        .insert("time_server".into(), "10.0.0.1".into());
    changed[0].digest = imagesmith_plan::digest_of(&("chrony", &changed[0].parameters));
    let again = FakeSandbox::default();
    let second = build(&again, &plan(changed, vec![]), &setup.options).unwrap();
    let report = &second.images[0];
    assert!(!report.components[0].cached);
    // The layer below changed, so the layer above is rebuilt too
    assert!(!report.components[1].cached);
    assert_ne!(first.images[0].digest, report.digest);
    // The time server reached the step
    let runs = again.runs.lock().unwrap();
    assert!(!runs.is_empty());
}

#[test]
fn golden_images_are_built_before_the_images_on_them() {
    let setup = setup();
    let plan = plan(
        vec![component("chrony", "debian12")],
        vec![component("python", "debian12")],
    );
    let sandbox = FakeSandbox::default();
    let summary = build(&sandbox, &plan, &setup.options).unwrap();
    let golden = &summary.images[0];
    let custom = &summary.images[1];
    assert_eq!(custom.base.name, "golden:latest");
    assert_eq!(custom.base.digest, golden.digest);
    // The customized image's steps see the golden layers below them
    let runs = sandbox.runs.lock().unwrap();
    let custom_run = runs
        .iter()
        .find(|run| run.root.lower_dirs.len() == 3)
        .expect("a run over base + chrony + python's own upper");
    assert!(custom_run
        .root
        .lower_dirs
        .last()
        .unwrap()
        .starts_with(setup.options.cache_dir.join("b")));
    drop(runs);
    let labels = labels(&setup.options.output.as_ref().unwrap().join("custom"));
    assert_eq!(labels["io.imagesmith.component.chrony"], "4.3");
    assert!(labels.contains_key("io.imagesmith.component.python"));
    assert_eq!(
        labels["org.opencontainers.image.base.name"], "golden:v1.0.0",
        "the lock's reference of the golden parent, as the Dockerfile's"
    );
}

#[test]
fn unavailable_components_fail_the_build_listing_each_one() {
    let setup = setup();
    let plan = plan(
        vec![
            component("chrony", "debian12"),
            component("falcon_sensor", "debian12"),
            component("cloudwatch_agent", "debian12"),
        ],
        vec![],
    );
    let sandbox = FakeSandbox::default();
    let error = build(&sandbox, &plan, &setup.options).unwrap_err();
    assert!(error.is_expected());
    let message = error.to_string();
    assert!(message.contains("`falcon_sensor`"), "{message}");
    assert!(message.contains("FALCON_CLIENT_ID"), "{message}");
    assert!(message.contains("`cloudwatch_agent`"), "{message}");
    assert!(message.contains("fake:"), "{message}");
    assert!(message.contains("hint:"), "{message}");
    assert_eq!(
        sandbox.count(),
        0,
        "nothing runs before the preflight passes"
    );
}

#[test]
fn skip_unavailable_says_so_in_the_label_and_the_report() {
    let mut setup = setup();
    setup.options.skip_unavailable = true;
    let plan = plan(
        vec![
            component("chrony", "debian12"),
            component("cloudwatch_agent", "debian12"),
        ],
        vec![component("python", "debian12")],
    );
    let sandbox = FakeSandbox::default();
    let summary = build(&sandbox, &plan, &setup.options).unwrap();
    let out = setup.options.output.clone().unwrap();
    assert_eq!(
        labels(&out.join("golden"))["io.imagesmith.omitted"],
        "cloudwatch_agent"
    );
    // Still missing from the image built on it
    assert_eq!(
        labels(&out.join("custom"))["io.imagesmith.omitted"],
        "cloudwatch_agent"
    );
    assert_eq!(summary.images[0].omitted[0].component, "cloudwatch_agent");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("golden.report.json")).unwrap()).unwrap();
    assert_eq!(report["omitted"][0]["component"], "cloudwatch_agent");
    // The SBOMs are artifacts referring to the image, and list the omitted component
    let layout = ImageLayout::open(out.join("golden")).unwrap();
    let mut names = layout.ref_names();
    names.sort();
    assert_eq!(names, ["latest", "sbom-cyclonedx", "sbom-spdx"]);
    let image = layout.image(Some("latest")).unwrap();
    for tag in ["sbom-spdx", "sbom-cyclonedx"] {
        // Read the artifact manifest by hand: its config is empty, not an image config
        let descriptor = layout
            .index()
            .manifests()
            .iter()
            .find(|descriptor| {
                descriptor.annotations().as_ref().unwrap()[imagesmith_oci::REF_NAME_ANNOTATION]
                    == tag
            })
            .unwrap()
            .clone();
        let manifest: serde_json::Value =
            serde_json::from_slice(&layout.blobs().read(descriptor.digest()).unwrap()).unwrap();
        assert_eq!(manifest["subject"]["digest"], image.digest().to_string());
        assert!(manifest["artifactType"].as_str().unwrap().contains("json"));
        let layer: imagesmith_oci::oci_spec::image::Digest = manifest["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let document = layout.blobs().read(&layer).unwrap();
        let text = String::from_utf8(document).unwrap();
        assert!(text.contains("cloudwatch_agent"), "{tag}: {text}");
    }
}

#[test]
fn a_failed_step_names_image_component_phase_and_step_and_redacts_secrets() {
    let mut setup = setup();
    let mut secrets = Secrets::new();
    secrets.insert("falcon_client_id", b"id-XYZ".to_vec());
    secrets.insert("falcon_client_secret", b"hunter2-very-secret".to_vec());
    secrets.insert("falcon_cid", b"CID-0123456789-B0".to_vec());
    setup.options.secrets = secrets;
    let plan = plan(vec![component("falcon_sensor", "debian12")], vec![]);
    let sandbox = FakeSandbox {
        fail_marker: Some(String::from("falcon")),
        print: Some(String::from("token=hunter2-very-secret\n")),
        ..FakeSandbox::default()
    };
    let error = build(&sandbox, &plan, &setup.options).unwrap_err();
    assert!(error.is_expected(), "{error}");
    let BuildError::StepFailed(failure) = &error else {
        panic!("not a step failure: {error}");
    };
    let imagesmith_build::StepFailure {
        image,
        component,
        phase,
        step,
        log,
        ..
    } = failure.as_ref();
    assert_eq!(image, "golden");
    assert_eq!(component, "falcon_sensor");
    assert_eq!(phase, "build");
    assert!(!step.is_empty());
    assert!(error.to_string().contains(&log.display().to_string()));
    // The secrets reached the sandbox as files, and no log holds them
    let runs = sandbox.runs.lock().unwrap();
    assert!(runs[0]
        .secrets
        .iter()
        .any(|secret| secret.name == "falcon_client_secret"));
    for entry in std::fs::read_dir(log.parent().unwrap()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains("hunter2-very-secret"));
    }
    let json = std::fs::read_to_string(log).unwrap();
    assert!(json.contains("token=****"), "{json}");
}

#[test]
fn an_unprivileged_process_outside_a_user_namespace_is_told_to_enter_one() {
    let mut setup = setup();
    setup.options.mode = Some(Mode::Rootless {
        uid: 1000,
        gid: 1000,
    });
    let plan = plan(vec![component("chrony", "debian12")], vec![]);
    let sandbox = FakeSandbox::default();
    let error = build(&sandbox, &plan, &setup.options).unwrap_err();
    assert!(
        error.to_string().contains("reexec_in_user_namespace"),
        "{error}"
    );
    assert_eq!(sandbox.count(), 0);
}

#[test]
fn in_a_single_id_user_namespace_a_failed_step_says_how_to_map_more_ids() {
    let mut setup = setup();
    setup.options.mode = Some(Mode::UserNamespace {
        single_id: true,
        setgroups: false,
    });
    let plan = plan(vec![component("chrony", "debian12")], vec![]);
    let sandbox = FakeSandbox {
        fail_marker: Some(String::from("chrony")),
        ..FakeSandbox::default()
    };
    let error = build(&sandbox, &plan, &setup.options).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, BuildError::StepFailed(_)), "{message}");
    assert!(message.contains("maps only root"), "{message}");
    assert!(message.contains("/etc/subuid"), "{message}");
    assert!(message.contains("usermod --add-subuids"), "{message}");
    // The sandbox runs as root of that namespace
    let runs = sandbox.runs.lock().unwrap();
    assert!(runs
        .iter()
        .all(|run| run.mode == setup.options.mode.unwrap()));

    // With subordinate ids, no such hint
    let mut setup = self::setup();
    setup.options.mode = Some(Mode::UserNamespace {
        single_id: false,
        setgroups: true,
    });
    let sandbox = FakeSandbox {
        fail_marker: Some(String::from("chrony")),
        ..FakeSandbox::default()
    };
    let error = build(&sandbox, &plan, &setup.options).unwrap_err();
    assert!(!error.to_string().contains("usermod"), "{error}");
}

/// `skopeo inspect` of `transport:path`, when skopeo is here (CI installs it): the config
/// digest of the image it reads.
fn skopeo_config_digest(transport: &str, path: &Path, suffix: &str) -> Option<String> {
    let output = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            &format!("{transport}:{}{suffix}", path.display()),
        ])
        .output();
    match output {
        Ok(output) => {
            assert!(
                output.status.success(),
                "skopeo reads {transport}:{}: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            let manifest: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            Some(manifest["config"]["digest"].as_str().unwrap().to_owned())
        }
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("skopeo is missing in CI (bash .ci/install-tools)")
        }
        Err(_) => {
            eprintln!("skipping the skopeo check: skopeo is not installed");
            None
        }
    }
}

#[test]
fn archives_hold_the_same_image_as_the_layout() {
    use imagesmith_build::OutputFormat;
    let mut setup = setup();
    let plan = plan(vec![component("chrony", "debian12")], vec![]);
    let layout = build(&FakeSandbox::default(), &plan, &setup.options).unwrap();
    let out = setup.options.output.clone().unwrap();
    let config = ImageLayout::open(out.join("golden"))
        .unwrap()
        .image(Some("latest"))
        .unwrap()
        .manifest
        .config()
        .digest()
        .to_string();

    // The oci-archive also holds the SBOM artifacts, so skopeo is told which image to read.
    for (format, transport, file, suffix) in [
        (
            OutputFormat::OciArchive,
            "oci-archive",
            "golden.oci.tar",
            ":latest",
        ),
        (
            OutputFormat::DockerArchive,
            "docker-archive",
            "golden.docker.tar",
            "",
        ),
    ] {
        setup.options.output_format = format;
        let again = FakeSandbox::default();
        let summary = build(&again, &plan, &setup.options).unwrap();
        assert_eq!(again.count(), 0, "the image comes from the cache");
        assert_eq!(summary.images[0].digest, layout.images[0].digest);
        let path = out.join(file);
        assert_eq!(summary.images[0].output.as_deref(), Some(path.as_path()));
        assert!(path.is_file(), "{} written", path.display());
        assert!(
            !std::fs::read_dir(&out)
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().contains(".tmp")),
            "no temporary file is left beside the archive"
        );
        if let Some(digest) = skopeo_config_digest(transport, &path, suffix) {
            assert_eq!(digest, config, "{transport} holds the same image config");
        }
    }
}

/// Holds each component's first test-phase command (the test phase is the one without the
/// network) until the test phases of `expected` components have started, or `patience`
/// has passed: run one after another, the first would wait alone and give up
struct GatheringSandbox {
    expected: usize,
    patience: Duration,
    /// The upper directories of the test phases that have started, one per component
    started: Mutex<BTreeSet<PathBuf>>,
    arrived: Condvar,
    /// For each test phase, whether all the others had started while it waited
    met: Mutex<Vec<bool>>,
    /// Test commands whose script mentions it fail
    fail_marker: Option<&'static str>,
}

impl GatheringSandbox {
    fn new(expected: usize, fail_marker: Option<&'static str>) -> Self {
        Self {
            expected,
            patience: Duration::from_secs(10),
            started: Mutex::new(BTreeSet::new()),
            arrived: Condvar::new(),
            met: Mutex::new(Vec::new()),
            fail_marker,
        }
    }
}

impl Sandbox for GatheringSandbox {
    fn run(
        &self,
        config: &SandboxConfig,
        _output: Option<imagesmith_sandbox::OutputSink>,
    ) -> Result<RunOutput, SandboxError> {
        let mut exit_code = 0;
        if !config.network.is_proxy() {
            let mut started = self.started.lock().unwrap();
            if started.insert(config.root.upper_dir.clone()) {
                self.arrived.notify_all();
                let (started, wait) = self
                    .arrived
                    .wait_timeout_while(started, self.patience, |started| {
                        started.len() < self.expected
                    })
                    .unwrap();
                drop(started);
                self.met.lock().unwrap().push(!wait.timed_out());
            }
            let script = config
                .command
                .last()
                .map(|path| config.root.merged_dir.join(path.trim_start_matches('/')))
                .and_then(|path| std::fs::read_to_string(path).ok())
                .unwrap_or_default();
            if self
                .fail_marker
                .is_some_and(|marker| script.contains(marker))
            {
                exit_code = 3;
            }
        }
        Ok(RunOutput {
            exit_code,
            timed_out: false,
            stdout: b"tested\n".to_vec(),
            stderr: Vec::new(),
            duration: Duration::from_millis(1),
        })
    }
}

/// The test phases of an image's components run at once, each in its own scratch overlay;
/// a failed one is reported with its component while the others still finish and log, and
/// the image is not remembered as tested until every test passes
#[test]
fn the_test_phases_of_an_image_s_components_run_at_once() {
    let mut setup = setup();
    setup.options.jobs = 3;
    let names = ["chrony", "node_exporter", "process_exporter"];
    let plan = plan(
        names
            .iter()
            .map(|name| component(name, "debian12"))
            .collect(),
        vec![],
    );

    // process_exporter's test alone scrapes port 9256
    let sandbox = GatheringSandbox::new(names.len(), Some("9256"));
    let error = build(&sandbox, &plan, &setup.options).unwrap_err();
    assert_eq!(
        *sandbox.met.lock().unwrap(),
        vec![true; names.len()],
        "each test phase saw the others start"
    );
    assert_eq!(sandbox.started.lock().unwrap().len(), names.len());
    let BuildError::StepFailed(failure) = &error else {
        panic!("not a step failure: {error}");
    };
    assert_eq!(failure.image, "golden");
    assert_eq!(failure.component, "process_exporter");
    assert_eq!(failure.phase, "test");
    assert!(error.to_string().contains("process_exporter"), "{error}");
    let logs = setup.options.cache_dir.join("logs/golden");
    for name in names {
        let json = std::fs::read_to_string(logs.join(format!("{name}.test.json")))
            .unwrap_or_else(|error| panic!("no test log for {name}: {error}"));
        assert!(json.contains("tested"), "{name}: {json}");
        assert!(logs.join(format!("{name}.test.log")).is_file(), "{name}");
    }

    // Passing: all at once again (the failed test was not remembered), then remembered
    let sandbox = GatheringSandbox::new(names.len(), None);
    let passed = build(&sandbox, &plan, &setup.options).unwrap();
    assert_eq!(*sandbox.met.lock().unwrap(), vec![true; names.len()]);
    assert_eq!(passed.images[0].test, "passed");
    assert!(passed.images[0].components.iter().all(|c| c.cached));
    let sandbox = GatheringSandbox::new(names.len(), None);
    let again = build(&sandbox, &plan, &setup.options).unwrap();
    assert_eq!(again.images[0].test, "cached");
    assert!(sandbox.started.lock().unwrap().is_empty());
}

/// The `LABEL` lines of a Dockerfile or an Image Builder Dockerfile template, by key
fn label_lines(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut labels = std::collections::BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        let rest = if let Some(rest) = line.strip_prefix("LABEL ") {
            inside = rest.ends_with('\\');
            rest
        } else if inside {
            inside = line.ends_with('\\');
            line
        } else {
            continue;
        };
        let rest = rest.trim_end_matches('\\').trim();
        if let Some((key, value)) = rest.split_once('=') {
            let value = value
                .trim()
                .trim_matches('"')
                .replace("\\\"", "\"")
                .replace("\\$", "$");
            labels.insert(key.trim().to_owned(), value);
        }
    }
    labels
}

/// Issue 9: one image's labels and components are the same in the local build, the rendered
/// Dockerfile and the Image Builder container recipe (CloudFormation and Terraform), because
/// all of them take the lock's: only the creation time and the base's digest are the build's
#[test]
fn the_build_the_dockerfile_and_the_image_builder_recipe_carry_the_same_labels() {
    let setup = setup();
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    std::fs::create_dir_all(dir.join("recipes")).unwrap();
    std::fs::write(
        dir.join("imagesmith.yaml"),
        "kind: project\nname: same\nos: [debian12]\nregistry:\n  type: ecr\n  account_id: \"123456789012\"\n  region: eu-west-1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("recipes/golden-container-debian12.yaml"),
        "kind: recipe\nname: golden-container-debian12\ndescription: Time keeping\nimage_type: container\nos: debian12\nbase_image: debian:12\nversion: 2.3.0\ncomponents:\n  chrony: \"4.3\"\nlabels:\n  team: sre\n",
    )
    .unwrap();
    let validated = imagesmith_validate::validate_project(dir, "2026-11-21")
        .unwrap()
        .unwrap_or_else(|invalid| panic!("{:?}", invalid.diagnostics));
    let locked = imagesmith_plan::lock(&validated, None).unwrap();
    let image = locked.image("golden-container-debian12").unwrap();

    let sandbox = FakeSandbox::default();
    build(&sandbox, &locked, &setup.options).unwrap();
    let layout = setup.options.output.as_ref().unwrap().join(&image.name);
    let mut built: std::collections::BTreeMap<String, String> =
        labels(&layout).into_iter().collect();
    for only_the_build_knows in [
        "org.opencontainers.image.created",
        "org.opencontainers.image.base.digest",
    ] {
        assert!(
            built.remove(only_the_build_knows).is_some(),
            "{only_the_build_knows}"
        );
    }

    let rendered = imagesmith_render::render(
        &locked,
        &imagesmith_render::RenderOptions::new(&[imagesmith_render::Target::All]),
    )
    .unwrap();
    let dockerfile = label_lines(
        &rendered
            .file("docker/golden-container-debian12/Dockerfile")
            .unwrap()
            .contents,
    );
    let template = rendered
        .files
        .iter()
        .find(|f| {
            f.path
                .starts_with("cloudformation/golden-container-debian12/")
                && f.path.ends_with(".yaml")
                && f.contents.contains("AWS::ImageBuilder::ContainerRecipe")
        })
        .expect("a CloudFormation container recipe");
    let cloudformation = label_lines(&template.contents);
    let terraform_file = rendered
        .files
        .iter()
        .find(|f| {
            f.path.starts_with("terraform/")
                && f.contents.contains("aws_imagebuilder_container_recipe")
                && f.contents.contains("golden-container-debian12")
        })
        .expect("a Terraform container recipe");
    let terraform = label_lines(&terraform_file.contents);

    assert_eq!(built.get("team").map(String::as_str), Some("sre"));
    assert_eq!(
        built
            .get("org.opencontainers.image.version")
            .map(String::as_str),
        Some("2.3.0")
    );
    assert_eq!(built, dockerfile, "the Dockerfile's labels are the build's");
    assert_eq!(
        built, cloudformation,
        "the CloudFormation recipe's labels are the build's"
    );
    assert_eq!(
        built, terraform,
        "the Terraform recipe's labels are the build's"
    );
    let components = |labels: &std::collections::BTreeMap<String, String>| -> Vec<String> {
        labels
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(imagesmith_plan::COMPONENT_LABEL_PREFIX)
                    .map(|name| format!("{name}={v}"))
            })
            .collect()
    };
    assert_eq!(components(&built), ["chrony=4.3"]);
    // The recipe installs exactly those components' AWSTOE documents, after the golden
    // recipe's OS update (Image Builder only: a local build's base is bootstrapped from the
    // mirror's current packages, so it has nothing to upgrade)
    let documents: Vec<&str> = rendered
        .files
        .iter()
        .filter(|f| f.path.starts_with("awstoe/debian12/"))
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        documents,
        [
            "awstoe/debian12/chrony-4.3.yaml",
            "awstoe/debian12/os-update.yaml"
        ]
    );
    assert!(template.contents.contains("chrony-4-3") || template.contents.contains("chrony"));
}

/// Issue 9: `imagesmith diff` of two built images lists, from their SBOMs, the components and
/// packages added, removed and changed
#[test]
fn diff_of_two_built_images_lists_their_package_changes() {
    let mut setup = setup();
    let out = setup.options.output.clone().unwrap();
    setup.options.output = Some(out.join("a"));
    let first = plan(vec![component("chrony", "debian12")], vec![]);
    build(&FakeSandbox::default(), &first, &setup.options).unwrap();
    setup.options.output = Some(out.join("b"));
    let second = plan(
        vec![
            component("chrony", "debian12"),
            component("python", "debian12"),
        ],
        vec![],
    );
    build(&FakeSandbox::default(), &second, &setup.options).unwrap();
    let packages = imagesmith_cli::layout_packages(&out.join("a/golden")).unwrap();
    assert_eq!(packages.get("chrony").map(String::as_str), Some("4.3"));
    let changelog =
        imagesmith_cli::diff_layouts(&out.join("a/golden"), &out.join("b/golden")).unwrap();
    assert_eq!(changelog.images.len(), 1);
    let image = &changelog.images[0];
    assert!(
        image.added.iter().any(|(name, _)| name == "python"),
        "{image:?}"
    );
    assert!(
        image.removed.is_empty() && image.changed.is_empty(),
        "{image:?}"
    );
    assert!(changelog.markdown().contains("- added `python`"));
    // The same image against itself: nothing changed
    let same = imagesmith_cli::diff_layouts(&out.join("a/golden"), &out.join("a/golden")).unwrap();
    assert!(same.images.is_empty());
}
