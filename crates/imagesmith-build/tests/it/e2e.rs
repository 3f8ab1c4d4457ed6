//! End to end, as root: the built-in golden-container-debian12 from a bootstrapped bookworm
//! through the Debian mirror, a customized image on it, reproducibility, no-op rebuilds, a
//! killed build, and secrets absent from every blob
//!
//! Run alone with `cargo nextest run -p imagesmith-build -E 'test(e2e)'`. Skips with a
//! printed reason when not root or a tool is missing; fails instead when `CI=true`.
//! Builds go through the `imagesmith build` command line in a child process (this test
//! binary re-executed with `IMAGESMITH_E2E_CHILD`), so exit codes and killing are real.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::e2e_support::{
    build, child, command_child, digest, in_ci, publish, sbom_packages, secret_probe, seed_base,
    summary, trivy_cdxgen, trivy_packages, NO_TRIVY, SECRET,
};
use crate::registry::distribution;

const GOLDEN: &str = "golden-container-debian12";
const CUSTOM: &str = "py-tools";

/// Runs the command line in this process when re-executed as a child
#[test]
fn cli_child() {
    let Ok(args) = std::env::var("IMAGESMITH_E2E_CHILD") else {
        return;
    };
    let args: Vec<String> = serde_json::from_str(&args).unwrap();
    let cli = <imagesmith_cli::Cli as clap::Parser>::try_parse_from(
        std::iter::once(String::from("imagesmith")).chain(args),
    )
    .unwrap();
    let code = match imagesmith_cli::run(cli) {
        imagesmith_cli::ExitStatus::Success => 0,
        imagesmith_cli::ExitStatus::Invalid => 1,
        imagesmith_cli::ExitStatus::Failure => 2,
    };
    std::process::exit(code);
}

fn prerequisites() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(String::from("not root"));
    }
    for tool in ["skopeo", "umoci"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Err(format!(
                "`{tool}` is not installed (bash .ci/install-tools)"
            ));
        }
    }
    if Command::new("mmdebstrap")
        .arg("--version")
        .output()
        .is_err()
        && Command::new("debootstrap")
            .arg("--version")
            .output()
            .is_err()
    {
        return Err(String::from(
            "neither mmdebstrap nor debootstrap is installed",
        ));
    }
    Ok(())
}

fn write_project(dir: &Path, registry: &str) {
    std::fs::create_dir_all(dir.join("specs")).unwrap();
    std::fs::create_dir_all(dir.join("components")).unwrap();
    std::fs::write(
        dir.join("imagesmith.yaml"),
        format!("kind: project\nname: e2e\nos: [debian12]\nregistry:\n  type: oci\n  url: {registry}/e2e\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("specs/{CUSTOM}.yaml")),
        format!(
            "kind: spec\nname: {CUSTOM}\nimage_type: container\nbase_image: {GOLDEN}\nversion: 1.0.0\ncomponents:\n  python:\n  aws_cli:\n  secret_probe: 1.0.0\n"
        ),
    )
    .unwrap();
    // A project component that reads a secret: it must reach the step and no blob
    std::fs::write(
        dir.join("components/secret_probe.yaml"),
        secret_probe(
            "token=$(cat /run/secrets/probe_token)\n\
             echo \"the token is $token\"\n\
             printf '%s' \"$token\" | sha256sum | cut -d' ' -f1 > /etc/probe-token.sha256\n\
             echo \"$token\" > /tmp/left-in-tmp\n",
        ),
    )
    .unwrap();
    let has_recipe = imagesmith_catalog::builtin().0.recipes.contains_key(GOLDEN);
    if !has_recipe {
        // The built-in catalog does not carry the recipe yet: the same recipe in the project
        eprintln!("note: the built-in catalog has no `{GOLDEN}` recipe yet; using a project copy");
        std::fs::create_dir_all(dir.join("recipes")).unwrap();
        std::fs::write(
            dir.join(format!("recipes/{GOLDEN}.yaml")),
            format!(
                "kind: recipe\nname: {GOLDEN}\ndescription: Debian 12 container golden image\nimage_type: container\nos: debian12\nbase_image: debian:12\nversion: 1.0.0\ncomponents:\n  chrony:\n  node_exporter:\n  process_exporter:\n  cloudwatch_agent:\n  falcon_sensor: 7.18.17106\n"
            ),
        )
        .unwrap();
    }
    imagesmith_cli::project::lock_project(dir).expect("the project locks");
}

fn every_blob_is_free_of(layouts: &Path, secret: &str) -> usize {
    let mut checked = 0;
    let mut stack = vec![layouts.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let mut plain = Vec::new();
            if bytes.starts_with(&[0x1f, 0x8b]) {
                flate2::read::MultiGzDecoder::new(&bytes[..])
                    .read_to_end(&mut plain)
                    .unwrap();
            } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                plain = zstd::decode_all(&bytes[..]).unwrap();
            } else {
                plain = bytes;
            }
            assert!(
                !plain
                    .windows(secret.len())
                    .any(|window| window == secret.as_bytes()),
                "the secret is in `{}`",
                path.display()
            );
            checked += 1;
        }
    }
    checked
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir = dir.display().to_string();
    text.lines()
        .filter(|line| line.contains(&dir))
        .map(str::to_owned)
        .collect()
}

#[test]
fn e2e_debian12_golden_and_customized() {
    if let Err(reason) = prerequisites() {
        if in_ci() {
            panic!("e2e prerequisites missing in CI: {reason}");
        }
        eprintln!("skipped: {reason}");
        return;
    }
    let work = tempfile::Builder::new()
        .prefix("imagesmith-e2e-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let work = work.path();
    let project = work.join("project");
    // The registry `publish` delivers to (its address is in the lock: start it first)
    let registry = distribution::Registry::start(false);
    write_project(&project, &registry.host);
    let (cache_a, cache_b, cache_c) = (work.join("ca"), work.join("cb"), work.join("cc"));
    let (out_a, out_b, out_c) = (work.join("oa"), work.join("ob"), work.join("oc"));
    let out = |dir: &PathBuf| dir.display().to_string();
    let mut timings = Vec::new();

    // 1. Cold, from a fresh bootstrap
    let run = build(
        &project,
        &cache_a,
        &["--skip-unavailable", "--json", "--output", &out(&out_a)],
    );
    timings.push(("cold build with bootstrap", run.seconds));
    let first = summary(&run);
    let golden_digest = digest(&first, GOLDEN);
    let custom_digest = digest(&first, CUSTOM);
    assert!(
        run.stderr.contains("omitting component `falcon_sensor`"),
        "{}",
        run.stderr
    );
    // Every component runs `apt-get update`: after the first, the indexes (fetched by hash)
    // come from the build's http cache
    assert!(
        first["http_cache"]["hits"].as_u64().unwrap() > 0,
        "{}",
        first["http_cache"]
    );

    // 2. Other tools read the layouts
    let inspect = Command::new("skopeo")
        .args(["inspect", &format!("oci:{}/{GOLDEN}:latest", out(&out_a))])
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let inspect: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspect["Digest"], golden_digest.as_str());
    let labels = &inspect["Labels"];
    assert_eq!(labels["io.imagesmith.component.chrony"], "4.3");
    assert_eq!(labels["io.imagesmith.component.node_exporter"], "1.5.0");
    assert_eq!(labels["io.imagesmith.component.process_exporter"], "0.7.10");
    let omitted = labels["io.imagesmith.omitted"].as_str().unwrap();
    assert!(omitted.contains("falcon_sensor") && omitted.contains("cloudwatch_agent"));
    assert_eq!(labels["org.opencontainers.image.base.name"], "debian:12");
    for (image, files) in [
        (
            GOLDEN,
            &[
                "usr/sbin/chronyd",
                "usr/bin/prometheus-node-exporter",
                "usr/bin/prometheus-process-exporter",
                "var/lib/dpkg/status",
            ][..],
        ),
        (
            CUSTOM,
            &["usr/bin/python3", "usr/bin/aws", "etc/probe-token.sha256"][..],
        ),
    ] {
        let bundle = work.join(format!("unpacked-{image}"));
        let unpack = Command::new("umoci")
            .args([
                "unpack",
                "--image",
                &format!("{}/{image}:latest", out(&out_a)),
            ])
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(
            unpack.status.success(),
            "{}",
            String::from_utf8_lossy(&unpack.stderr)
        );
        for file in files {
            assert!(bundle.join("rootfs").join(file).exists(), "{image}: {file}");
        }
        assert!(!bundle.join("rootfs/tmp/left-in-tmp").exists());
    }

    // SBOMs (SPDX and CycloneDX) sit beside the image as artifacts naming its packages
    let layout = imagesmith_oci::ImageLayout::open(out_a.join(GOLDEN)).unwrap();
    let names = layout.ref_names();
    assert!(names.iter().any(|name| name == "sbom-spdx"), "{names:?}");
    assert!(
        names.iter().any(|name| name == "sbom-cyclonedx"),
        "{names:?}"
    );

    // 2b. The OS packages of imagesmith's SBOM are what Trivy finds on the same rootfs
    sbom_matches_trivy(&layout, &work.join(format!("unpacked-{GOLDEN}/rootfs")));

    // 2c. The rendered Dockerfiles build with buildah on this base and give the same images
    // (issue 12)
    crate::buildah::rendered_dockerfiles_build_with_buildah(work, &registry.host, &cache_a);

    // 2d. Published: golden first, then the customized image on its published digest,
    // signed; a second run publishes nothing new
    publish_and_verify(
        &project,
        &cache_a,
        &registry,
        work,
        &golden_digest,
        &custom_digest,
    );

    // 3. Nothing changed: no step runs
    let run = build(
        &project,
        &cache_a,
        &["--skip-unavailable", "--json", "--output", &out(&out_a)],
    );
    timings.push(("no-op rebuild", run.seconds));
    let noop = summary(&run);
    assert_eq!(noop["sandbox_runs"], 0, "{noop}");
    assert_eq!(digest(&noop, GOLDEN), golden_digest);
    assert_eq!(digest(&noop, CUSTOM), custom_digest);

    // 4. A second cold build (same base, fresh cache) gives the same digests, also without
    // the http cache: the proxy changes where bytes come from, not the image
    seed_base(&cache_a, &cache_b);
    let run = build(
        &project,
        &cache_b,
        &[
            "--skip-unavailable",
            "--json",
            "--no-http-cache",
            "--output",
            &out(&out_b),
        ],
    );
    timings.push(("cold build on a cached base, no http cache", run.seconds));
    let second = summary(&run);
    assert!(second["http_cache"].is_null(), "{}", second["http_cache"]);
    assert_eq!(
        digest(&second, GOLDEN),
        golden_digest,
        "golden image is not reproducible"
    );
    assert_eq!(
        digest(&second, CUSTOM),
        custom_digest,
        "customized image is not reproducible"
    );

    // 5. Killed in the middle, then built again, with the http cache of the first build
    seed_base(&cache_a, &cache_c);
    let status = Command::new("cp")
        .arg("-a")
        .arg(cache_a.join("http"))
        .arg(&cache_c)
        .status()
        .unwrap();
    assert!(status.success());
    let mut killed = child(
        &project,
        &cache_c,
        &["--skip-unavailable", "--output", &out(&out_c)],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while std::fs::read_dir(cache_c.join("l")).map_or(0, |dir| dir.count()) < 2 {
        assert!(Instant::now() < deadline, "the build made no layer");
        assert!(
            killed.try_wait().unwrap().is_none(),
            "the build ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    killed.kill().unwrap();
    killed.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        mounts_under(&cache_c).is_empty(),
        "mounts left: {:?}",
        mounts_under(&cache_c)
    );
    let run = build(
        &project,
        &cache_c,
        &["--skip-unavailable", "--json", "--output", &out(&out_c)],
    );
    timings.push(("build after a killed build", run.seconds));
    let resumed = summary(&run);
    assert_eq!(digest(&resumed, GOLDEN), golden_digest);
    assert_eq!(digest(&resumed, CUSTOM), custom_digest);
    // No package was downloaded again: each came from the http cache
    let requests = std::fs::read_to_string(cache_c.join("logs/http-proxy.log")).unwrap();
    for line in requests.lines().filter(|line| line.ends_with(".deb")) {
        assert!(line.starts_with("HIT "), "{line}");
    }
    // The killed build's scratch was cleared, and the finished build left none
    assert!(std::fs::read_dir(cache_c.join("w"))
        .unwrap()
        .next()
        .is_none());

    // 6. The secret reached the step (its hash is in the image) but no blob or log
    let checked = every_blob_is_free_of(&out_a, SECRET);
    assert!(checked > 5);
    every_blob_is_free_of(&cache_a.join("blobs"), SECRET);
    every_blob_is_free_of(&cache_a.join("logs"), SECRET);
    let hash = std::fs::read_to_string(
        work.join(format!("unpacked-{CUSTOM}/rootfs/etc/probe-token.sha256")),
    )
    .unwrap();
    assert_eq!(
        hash.trim(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(SECRET.as_bytes()))
    );

    for (what, seconds) in &timings {
        eprintln!("e2e timing: {what}: {seconds:.1}s");
    }
}

/// The OS packages (name, version, architecture) of the image's CycloneDX SBOM against those
/// `trivy-cdxgen rootfs` finds on the unpacked rootfs (see [`crate::e2e_support::sbom_packages`]
/// for what is not compared)
fn sbom_matches_trivy(layout: &imagesmith_oci::ImageLayout, rootfs: &Path) {
    let Some(trivy) = trivy_cdxgen() else {
        if in_ci() {
            panic!("{NO_TRIVY}");
        }
        eprintln!("skipped the SBOM cross-check: {NO_TRIVY}");
        return;
    };
    let (ours, theirs) = (sbom_packages(layout), trivy_packages(&trivy, rootfs));
    assert!(
        theirs.len() > 50,
        "Trivy found only {} packages",
        theirs.len()
    );
    let only_ours: Vec<_> = ours.difference(&theirs).collect();
    let only_theirs: Vec<_> = theirs.difference(&ours).collect();
    eprintln!(
        "SBOM cross-check: {} OS packages in imagesmith's SBOM, {} found by trivy-cdxgen",
        ours.len(),
        theirs.len()
    );
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "OS packages differ:\n  only in imagesmith's SBOM: {only_ours:?}\n  only in Trivy's: {only_theirs:?}"
    );
}

fn publish_and_verify(
    project: &Path,
    cache: &Path,
    registry: &distribution::Registry,
    work: &Path,
    golden_digest: &str,
    custom_digest: &str,
) {
    let key = work.join("cosign.key");
    let public = work.join("cosign.pub");
    let status = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public)
        .status()
        .unwrap();
    assert!(status.success());
    let key_arg = key.display().to_string();
    let args = [
        "--skip-unavailable",
        "--json",
        "--build-id",
        "e2e-1",
        "--sign-key",
        key_arg.as_str(),
    ];
    let run = publish(project, cache, &args);
    assert_eq!(
        run.code, 0,
        "publish failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    // The customized image's repository gets the golden layers by a cross-repository mount
    assert!(
        run.stderr.contains("mounted from"),
        "no golden blob was mounted:\n{}",
        run.stderr
    );
    let published = summary(&run);
    let status_of = |value: &serde_json::Value, name: &str| {
        value["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|image| image["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {value}"))
            .clone()
    };
    let locked = imagesmith_plan::LockFile::read(&project.join("imagesmith.lock"))
        .unwrap()
        .unwrap();
    for (name, digest) in [(GOLDEN, golden_digest), (CUSTOM, custom_digest)] {
        let image = status_of(&published, name);
        assert_eq!(image["status"], "published", "{image}");
        assert_eq!(image["digest"], digest, "{image}");
        let version = &locked.images[name].version;
        // Both tags name the built digest
        for tag in [format!("v{version}"), format!("v{version}-e2e-1")] {
            let inspect = Command::new("skopeo")
                .args(["inspect", "--tls-verify=false"])
                .arg(format!("docker://{}/e2e/{name}:{tag}", registry.host))
                .output()
                .unwrap();
            assert!(
                inspect.status.success(),
                "{}",
                String::from_utf8_lossy(&inspect.stderr)
            );
            let inspect: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
            assert_eq!(inspect["Digest"], digest, "{name}:{tag}");
        }
        // Signed: `imagesmith verify` accepts it with the public key
        let verify = command_child("verify", project, cache, &[])
            .env(
                "IMAGESMITH_E2E_CHILD",
                serde_json::to_string(&[
                    "verify".to_owned(),
                    format!("{}/e2e/{name}:v{version}", registry.host),
                    "--key".to_owned(),
                    public.display().to_string(),
                ])
                .unwrap(),
            )
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "verify {name}: {}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
    }
    // Recorded where `plan` reads it
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.join("imagesmith.published.json")).unwrap())
            .unwrap();
    assert_eq!(record["images"][CUSTOM][0]["parent_digest"], golden_digest);

    // Again: nothing new is published
    let again = publish(project, cache, &args);
    assert_eq!(
        again.code, 0,
        "second publish failed:\n{}\n{}",
        again.stdout, again.stderr
    );
    let again = summary(&again);
    for name in [GOLDEN, CUSTOM] {
        assert_eq!(status_of(&again, name)["status"], "unchanged", "{again}");
    }
    let record_again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.join("imagesmith.published.json")).unwrap())
            .unwrap();
    assert_eq!(record, record_again);
}
