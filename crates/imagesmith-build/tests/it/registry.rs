//! Bases pulled from a registry (issue #3): a real `docker-registry` fed by `skopeo`, the
//! builder with a sandbox that runs nothing (the image has no component)

#[path = "../../../imagesmith-oci/tests/it/registry/distribution.rs"]
pub mod distribution;

use std::path::Path;

use imagesmith_build::progress::Silent;
use imagesmith_build::{BuildError, BuildOptions, BuildSummary, Builder, NoMounter, Probe};
use imagesmith_oci::oci_spec::image::{Arch, Os};
use imagesmith_oci::registry::RegistryError;
use imagesmith_oci::{write_layer, write_layout, BlobStore, HistoryEntry, Image, ImageBuilder};
use imagesmith_plan::{LockedImage, LockedProject, Parent, Role};
use imagesmith_sandbox::{Mode, RunOutput, Sandbox, SandboxConfig, SandboxError};

use distribution::{oci, Registry};

const EPOCH: u64 = 1_700_000_000;

struct NoSandbox;

impl Sandbox for NoSandbox {
    fn run(
        &self,
        _config: &SandboxConfig,
        _output: Option<imagesmith_sandbox::OutputSink>,
    ) -> Result<RunOutput, SandboxError> {
        panic!("an image without components runs nothing in the sandbox")
    }
}

struct Offline;

impl Probe for Offline {
    fn reachable(&self, url: &str) -> Result<(), String> {
        Err(format!("offline: `{url}`"))
    }
}

/// A one-image plan on `base`, without components
fn plan(base: &str) -> LockedProject {
    let context = imagesmith_validate::Context::builtin();
    LockedProject::for_test(vec![LockedImage::for_test(
        "pulled",
        Role::Golden,
        context.catalog.os.get("debian12").unwrap().clone(),
        Parent::Base {
            reference: base.into(),
        },
        Vec::new(),
        indexmap::IndexMap::new(),
    )])
}

fn options(work: &Path) -> BuildOptions {
    let mut options = BuildOptions::new();
    options.cache_dir = work.join("cache");
    options.output = Some(work.join("out"));
    options.mode = Some(Mode::Rootful);
    options.source_date_epoch = EPOCH;
    options.run_tests = false;
    options
}

fn build(plan: &LockedProject, options: &BuildOptions) -> Result<BuildSummary, BuildError> {
    Builder {
        sandbox: &NoSandbox,
        mounter: &NoMounter,
        probe: &Offline,
        progress: &Silent,
    }
    .build(plan, options)
}

/// A small base image (a root filesystem with the files a build expects)
fn base_image(store: &BlobStore, work: &Path) -> Image {
    let root = work.join("rootfs");
    for dir in ["etc", "usr/bin", "tmp"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(root.join("etc/os-release"), "ID=pulled\n").unwrap();
    let layer = write_layer(store, &root, &imagesmith_oci::LayerOptions::new(EPOCH)).unwrap();
    let mut builder = ImageBuilder::new(Arch::Amd64, Os::Linux, EPOCH);
    builder.add_layer(
        &layer,
        HistoryEntry {
            created_by: String::from("rootfs"),
            comment: None,
        },
    );
    builder.set_env("PATH", "/usr/bin:/bin");
    builder.build(store).unwrap()
}

/// Pushes [`base_image`] to `registry` as `base/os:1`: the image and its reference
fn push_base(registry: &Registry, work: &Path) -> (Image, String) {
    let local = BlobStore::open(work.join("local")).unwrap();
    let pushed = base_image(&local, work);
    let layout = work.join("layout");
    write_layout(&layout, &local, &[("latest", &pushed)]).unwrap();
    registry.push(&oci(&layout, "latest"), "base/os:1", &[]);
    (pushed, format!("{}/base/os:1", registry.host))
}

#[test]
fn a_registry_base_resolves_to_the_pushed_digest() {
    if !distribution::tools_present() {
        return;
    }
    let registry = Registry::start(false);
    let work = tempfile::tempdir().unwrap();
    let (pushed, reference) = push_base(&registry, work.path());

    // Named in the recipe
    let options = options(work.path());
    let summary = build(&plan(&reference), &options).unwrap();
    assert_eq!(summary.images[0].base.name, reference);
    assert_eq!(summary.images[0].base.digest, pushed.digest().to_string());
    let built = imagesmith_oci::ImageLayout::open(work.path().join("out/pulled"))
        .unwrap()
        .image(Some("latest"))
        .unwrap();
    assert_eq!(built.layers()[0], pushed.layers()[0]);

    // Again: the tag is resolved, nothing is pulled or extracted again (one base in the cache)
    let summary = build(&plan(&reference), &options).unwrap();
    assert_eq!(summary.images[0].base.digest, pushed.digest().to_string());
    // Through `--base debian:12=docker://...`, which pulls instead of bootstrapping
    let mut overridden = options.clone();
    overridden
        .base_overrides
        .insert("debian:12".into(), format!("docker://{reference}"));
    let summary = build(&plan("debian:12"), &overridden).unwrap();
    assert_eq!(summary.images[0].base.digest, pushed.digest().to_string());
    let bases = std::fs::read_dir(work.path().join("cache/bases"))
        .unwrap()
        .count();
    assert_eq!(bases, 1, "one digest, one cached base");

    // A tag that is not there: a typed error naming the reference, a recipe problem
    let missing = format!("{}/base/os:2", registry.host);
    let error = build(&plan(&missing), &options).unwrap_err();
    assert!(
        matches!(
            &error,
            BuildError::Pull { reference, error }
                if reference == &missing && matches!(**error, RegistryError::NotFound { .. })
        ),
        "{error}"
    );
    assert!(error.is_expected());
    assert!(error.to_string().contains("hint: "), "{error}");
}

/// The build's own credential source (ECR's login with the `aws` feature) is asked first,
/// with the registry's host, and its login is what the pull uses.
#[test]
fn the_builds_credential_source_logs_in_to_the_registry() {
    use imagesmith_build::RegistryCredentials;
    use imagesmith_oci::registry::{CredentialError, Credentials};
    use std::sync::{Arc, Mutex};
    if !distribution::tools_present() {
        return;
    }
    let registry = Registry::start(true);
    let work = tempfile::tempdir().unwrap();
    let (pushed, reference) = push_base(&registry, work.path());

    // Without it: the registry refuses (no credential in this environment for it)
    let mut options = options(work.path());
    options.cache_dir = work.path().join("cache-refused");
    let error = build(&plan(&reference), &options).unwrap_err();
    assert!(matches!(error, BuildError::Pull { .. }), "{error}");

    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = asked.clone();
    let source = move |host: &str| -> Result<Option<Credentials>, CredentialError> {
        seen.lock().unwrap().push(host.to_owned());
        Ok(Some(Credentials::new(
            distribution::USER,
            distribution::PASSWORD,
        )))
    };
    options.cache_dir = work.path().join("cache");
    options.registry_credentials = Some(RegistryCredentials(Arc::new(source)));
    let summary = build(&plan(&reference), &options).unwrap();
    assert_eq!(summary.images[0].base.digest, pushed.digest().to_string());
    assert!(
        asked
            .lock()
            .unwrap()
            .iter()
            .all(|host| host == &registry.host),
        "asked for {:?}",
        asked.lock().unwrap()
    );
    assert!(!asked.lock().unwrap().is_empty());
}
