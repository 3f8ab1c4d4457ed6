//! An AWSTOE document with S3Download steps run by the builder (its own host, executor,
//! preflight and layer writing) with the SDK client against moto. No root: the sandbox is a
//! fake that runs nothing, and the "overlay" is a folder whose writes are moved into the
//! upper directory when it is unmounted, as a real overlay would have kept them.

use std::path::Path;
use std::sync::Arc;

use imagesmith_aws::S3Client;
use imagesmith_build::progress::Silent;
use imagesmith_build::{BuildError, BuildOptions, Builder, Mounter, Probe};
use imagesmith_oci::{apply_layers, ApplyOptions, ImageLayout};
use imagesmith_plan::{LockedComponent, LockedImage, LockedProject, Parent, Role};
use imagesmith_sandbox::{Mode, OverlayRoot, RunOutput, Sandbox, SandboxConfig, SandboxError};

use crate::moto::Moto;

/// Runs nothing; the document below has no command
struct NoSandbox;

impl Sandbox for NoSandbox {
    fn run(
        &self,
        config: &SandboxConfig,
        _: Option<imagesmith_sandbox::OutputSink>,
    ) -> Result<RunOutput, SandboxError> {
        panic!("no command should run: {:?}", config.command)
    }
}

/// The merged folder starts empty and its contents move to the upper folder on unmount
struct FolderMounter;

fn move_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            move_tree(&entry.path(), &target);
            std::fs::remove_dir(entry.path()).unwrap();
        } else {
            std::fs::rename(entry.path(), target).unwrap();
        }
    }
}

impl Mounter for FolderMounter {
    fn enter_private_namespace(&self) -> Result<(), BuildError> {
        Ok(())
    }

    fn mount(&self, root: &OverlayRoot) -> Result<(), BuildError> {
        std::fs::create_dir_all(&root.merged_dir).unwrap();
        std::fs::create_dir_all(&root.upper_dir).unwrap();
        Ok(())
    }

    fn unmount(&self, merged: &Path) -> Result<(), BuildError> {
        if merged.exists() {
            move_tree(merged, &merged.parent().unwrap().join("u"));
        }
        Ok(())
    }
}

struct Reachable;

impl Probe for Reachable {
    fn reachable(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
}

/// The catalog's chrony on Debian 12 with `document` instead of its own
fn component(document: serde_json::Value) -> LockedComponent {
    let context = imagesmith_validate::Context::builtin();
    let definition = context.catalog.component("chrony").unwrap().clone();
    let mut platform = definition.platforms.get("debian12").unwrap().clone();
    platform.document = serde_json::from_value(document).expect("a document");
    LockedComponent::for_test(
        "fetcher",
        "1.0",
        definition,
        platform,
        indexmap::IndexMap::new(),
        Vec::new(),
    )
}

fn plan(component: LockedComponent) -> LockedProject {
    let context = imagesmith_validate::Context::builtin();
    LockedProject::for_test(vec![LockedImage::for_test(
        "golden",
        Role::Golden,
        context.catalog.os.get("debian12").unwrap().clone(),
        Parent::Base {
            reference: "debian:12".into(),
        },
        vec![component],
        indexmap::IndexMap::new(),
    )])
}

fn options(temp: &Path) -> BuildOptions {
    let rootfs = temp.join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    let mut options = BuildOptions::new();
    options.cache_dir = temp.join("cache");
    options.output = Some(temp.join("out"));
    options.mode = Some(Mode::Rootful);
    options.run_tests = false;
    options.jobs = 1;
    options
        .base_overrides
        .insert("debian:12".into(), format!("dir:{}", rootfs.display()));
    options
}

fn build(plan: &LockedProject, options: &BuildOptions) -> Result<(), BuildError> {
    let builder = Builder {
        sandbox: &NoSandbox,
        mounter: &FolderMounter,
        probe: &Reachable,
        progress: &Silent,
    };
    builder.build(plan, options).map(|_| ())
}

fn document() -> serde_json::Value {
    serde_json::json!({
        "name": "fetch-from-s3",
        "schemaVersion": "1.0",
        "phases": [{
            "name": "build",
            "steps": [{
                "name": "Fetch",
                "action": "S3Download",
                "inputs": [
                    {"source": "s3://artifacts/agent/agent.deb", "destination": "/opt/agent/agent.deb"},
                    {"source": "s3://artifacts/conf/*", "destination": "/etc/agent/"}
                ]
            }]
        }]
    })
}

#[test]
fn s3download_steps_land_in_the_image_layer() {
    let Some(moto) = Moto::start() else { return };
    moto.bucket(
        "artifacts",
        &[
            ("agent/agent.deb", b"deb bytes"),
            ("conf/agent.json", b"{}"),
            ("conf/extra/more.json", b"[]"),
        ],
    );
    let temp = tempfile::tempdir().unwrap();
    let mut options = options(temp.path());
    options.s3 = Some(Arc::new(S3Client::new(&moto.aws())));
    let plan = plan(component(document()));
    build(&plan, &options).unwrap();

    let layout = ImageLayout::open(temp.path().join("out/golden")).unwrap();
    let image = layout.image(Some("latest")).unwrap();
    let tree = temp.path().join("tree");
    let apply = ApplyOptions {
        preserve_ownership: false,
        xattrs: false,
    };
    apply_layers(layout.blobs(), image.layers(), &tree, apply).unwrap();
    let read = |path: &str| std::fs::read(tree.join(path)).unwrap();
    assert_eq!(read("opt/agent/agent.deb"), b"deb bytes");
    assert_eq!(read("etc/agent/agent.json"), b"{}");
    assert_eq!(read("etc/agent/extra/more.json"), b"[]");
    assert_eq!(read("etc/passwd"), b"root:x:0:0:root:/root:/bin/sh\n");
}

#[test]
fn a_failed_s3download_fails_the_step_naming_the_object() {
    let Some(moto) = Moto::start() else { return };
    moto.bucket("artifacts", &[("agent/agent.deb", b"deb bytes")]);
    let temp = tempfile::tempdir().unwrap();
    let mut options = options(temp.path());
    options.s3 = Some(Arc::new(S3Client::new(&moto.aws())));
    let error = build(&plan(component(document())), &options).unwrap_err();
    let BuildError::StepFailed(failure) = &error else {
        panic!("not a step failure: {error}");
    };
    assert_eq!(failure.step, "Fetch");
    let message = error.to_string();
    assert!(
        message.contains("`s3://artifacts/conf/` does not exist"),
        "{message}"
    );
}

#[test]
fn without_an_s3_client_the_component_is_unavailable() {
    // No moto needed: the preflight stops the build before anything runs
    let temp = tempfile::tempdir().unwrap();
    let error = build(&plan(component(document())), &options(temp.path())).unwrap_err();
    assert!(error.is_expected());
    let message = error.to_string();
    assert!(message.contains("component `fetcher`"), "{message}");
    assert!(
        message.contains("built without the `aws` feature"),
        "{message}"
    );
}
