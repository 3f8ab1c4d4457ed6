//! The rendered Dockerfiles build (issue 12): a golden Debian 12 image and a customized one on
//! it, built by imagesmith and, from `imagesmith render`'s Dockerfiles, by buildah 1.28 on the
//! same bootstrapped base; the two builds of each image have the same OS packages (imagesmith's
//! CycloneDX SBOM against `trivy-cdxgen` on buildah's root filesystem) and component labels.
//!
//! Called by `e2e::e2e_debian12_golden_and_customized` after its first build, with that
//! build's cache, so the base is not bootstrapped again. The e2e's own images need vendor
//! credentials (falcon_sensor, cloudwatch_agent), so this check has its own project: Debian
//! packaged components in the golden image; python, aws_cli, a `download` component served by
//! a local mirror (a `FROM scratch` + `ADD` stage the RUN bind-mounts) and a secret in the
//! customized one.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::e2e_support::{
    build, cli, digest, in_ci, run, sbom_packages, secret_probe, seed_base, summary, trivy_cdxgen,
    trivy_packages, NO_TRIVY, SECRET,
};

const GOLDEN: &str = "golden-buildah-debian12";
const CUSTOM: &str = "buildah-tools";
/// The file the local mirror serves, and so the `download` component installs
const HELLO: &str = "hello from the imagesmith e2e mirror\n";

/// What is missing to run the check, if anything (root is checked by the e2e)
fn prerequisites() -> Result<PathBuf, String> {
    for tool in ["buildah", "skopeo", "umoci"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Err(format!(
                "`{tool}` is not installed (bash .ci/install-tools)"
            ));
        }
    }
    trivy_cdxgen().ok_or_else(|| NO_TRIVY.to_owned())
}

/// A mirror on 127.0.0.1 serving `files` (path → body) to GET and HEAD until the test ends
fn mirror(files: BTreeMap<String, Vec<u8>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // The headers, up to the blank line
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut words = request.split_whitespace();
            let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let response = match files.get(path) {
                Some(body) => {
                    let mut response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    if method != "HEAD" {
                        response.extend_from_slice(body);
                    }
                    response
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&response);
        }
    });
    port
}

fn write_project(dir: &Path, registry: &str, port: u16) {
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(HELLO.as_bytes()));
    for folder in ["specs", "recipes", "components"] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
    }
    std::fs::write(
        dir.join("imagesmith.yaml"),
        format!(
            "kind: project\nname: e2e-buildah\nos: [debian12]\nregistry:\n  type: oci\n  url: {registry}/e2e-buildah\nmirrors:\n  https://downloads.imagesmith.invalid/: http://127.0.0.1:{port}/\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("recipes/{GOLDEN}.yaml")),
        format!(
            "kind: recipe\nname: {GOLDEN}\ndescription: Debian 12 container golden image of Debian-packaged components\nimage_type: container\nos: debian12\nbase_image: debian:12\nversion: 1.0.0\ncomponents:\n  chrony:\n  node_exporter:\n  process_exporter:\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("specs/{CUSTOM}.yaml")),
        format!(
            "kind: spec\nname: {CUSTOM}\nimage_type: container\nbase_image: {GOLDEN}\nversion: 1.0.0\ncomponents:\n  python:\n  aws_cli:\n  hello_file: 1.0.0\n  secret_probe: 1.0.0\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("components/hello_file.yaml"),
        format!(
            r#"kind: component
name: hello_file
description: A file from the vendor's download site, here the test's local mirror
category: tooling
versions:
  syntax: semver
  default: 1.0.0
  supported: [1.0.0]
platforms:
  debian12:
    artifact:
      type: download
      url: https://downloads.imagesmith.invalid/hello/hello-{{{{ version }}}}.txt
      checksum:
        algorithm: sha256
        url: https://downloads.imagesmith.invalid/hello/hello-{{{{ version }}}}.txt.sha256
    document:
      name: hello-file
      schemaVersion: "1.0"
      parameters:
        - version: {{type: string, default: 1.0.0, description: version}}
      phases:
        - name: build
          steps:
            - name: Download
              action: WebDownload
              inputs:
                - source: https://downloads.imagesmith.invalid/hello/hello-{{{{ version }}}}.txt
                  destination: /usr/local/share/hello/hello.txt
                  checksum: {hash}
                  algorithm: SHA256
        - name: validate
          steps:
            - name: Present
              action: ExecuteBash
              inputs:
                commands:
                  - test -s /usr/local/share/hello/hello.txt
"#
        ),
    )
    .unwrap();
    // A project component that reads a secret, as the e2e's
    std::fs::write(
        dir.join("components/secret_probe.yaml"),
        secret_probe(
            "printf '%s' \"$(cat /run/secrets/probe_token)\" | sha256sum | cut -d' ' -f1 > /etc/probe-token.sha256\n",
        ),
    )
    .unwrap();
    imagesmith_cli::project::lock_project(dir).expect("the buildah project locks");
}

/// buildah on a throw-away store below `dir` (vfs: no overlay mounts to leave behind)
struct Buildah {
    root: PathBuf,
    runroot: PathBuf,
}

impl Buildah {
    fn new(dir: &Path) -> Self {
        Self {
            root: dir.join("root"),
            runroot: dir.join("runroot"),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new("buildah");
        command
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(["--storage-driver", "vfs"]);
        command
    }

    /// Runs `buildah <args>`, failing the test with its output when it fails; its stdout
    fn run(&self, args: &[&str]) -> String {
        let output = self.command().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "buildah {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The image's labels
    fn labels(&self, image: &str) -> BTreeMap<String, String> {
        let text = self.run(&["inspect", "--type", "image", image]);
        let inspect: serde_json::Value = serde_json::from_str(&text).unwrap();
        serde_json::from_value(inspect["OCIv1"]["config"]["Labels"].clone()).unwrap_or_default()
    }

    /// The store's containers and images, then the store
    fn remove(&self) {
        let dir = self.root.parent().unwrap();
        if !dir.exists() {
            return;
        }
        let _ = self.command().args(["rm", "--all"]).output();
        let _ = self.command().args(["rmi", "--all", "--force"]).output();
        std::fs::remove_dir_all(dir).unwrap();
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The `io.imagesmith.component.*` labels
fn component_labels(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(key, _)| key.starts_with("io.imagesmith.component."))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// The labels of the image in an OCI layout, by `skopeo inspect`
fn layout_labels(layout: &Path) -> BTreeMap<String, String> {
    let output = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:latest", layout.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inspect: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    serde_json::from_value(inspect["Labels"].clone()).unwrap_or_default()
}

/// Builds the rendered Dockerfiles of a small project with buildah on the base imagesmith
/// bootstrapped into `base_cache`, and compares each image with imagesmith's build of it
pub(crate) fn rendered_dockerfiles_build_with_buildah(
    work: &Path,
    registry: &str,
    base_cache: &Path,
) {
    let trivy = match prerequisites() {
        Ok(trivy) => trivy,
        Err(reason) => {
            if in_ci() {
                panic!("buildah check prerequisites missing in CI: {reason}");
            }
            eprintln!("skipped the buildah check: {reason}");
            return;
        }
    };
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(HELLO.as_bytes()));
    let port = mirror(BTreeMap::from([
        (
            String::from("/hello/hello-1.0.0.txt"),
            HELLO.as_bytes().to_vec(),
        ),
        (
            String::from("/hello/hello-1.0.0.txt.sha256"),
            format!("{hash}  hello-1.0.0.txt\n").into_bytes(),
        ),
    ]));
    let work = work.join("buildah");
    let project = work.join("project");
    write_project(&project, registry, port);

    // imagesmith: cold for every component, on the e2e's bootstrapped base
    let cache = work.join("cache");
    let out = work.join("out");
    seed_base(base_cache, &cache);
    let imagesmith = build(
        &project,
        &cache,
        &["--json", "--output", &out.display().to_string()],
    );
    let built = summary(&imagesmith);
    digest(&built, GOLDEN);
    digest(&built, CUSTOM);

    // The Dockerfiles, by `imagesmith render`
    let rendered = work.join("rendered");
    let render = run(cli(
        &project,
        &[
            String::from("render"),
            String::from("--target"),
            String::from("dockerfile"),
            String::from("--out"),
            rendered.display().to_string(),
        ],
    ));
    assert_eq!(
        render.code, 0,
        "render failed:\n{}{}",
        render.stdout, render.stderr
    );
    let golden_context = rendered.join(format!("docker/{GOLDEN}"));
    let custom_context = rendered.join(format!("docker/{CUSTOM}"));
    let custom_dockerfile = std::fs::read_to_string(custom_context.join("Dockerfile")).unwrap();
    assert!(
        custom_dockerfile.contains(&format!(
            "FROM scratch AS fetch-hello-file-0\nADD http://127.0.0.1:{port}/hello/hello-1.0.0.txt"
        )),
        "{custom_dockerfile}"
    );
    assert!(
        custom_dockerfile.contains("--mount=type=secret,id=probe_token,"),
        "{custom_dockerfile}"
    );

    // buildah's `debian:12` is imagesmith's bootstrapped bookworm (Docker Hub is not asked)
    let buildah = Buildah::new(&work.join("buildah-store"));
    let bases: Vec<PathBuf> = std::fs::read_dir(cache.join("bases"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(bases.len(), 1, "one bootstrapped base: {bases:?}");
    let copy = Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:latest", bases[0].display()))
        .arg(format!(
            "containers-storage:[vfs@{}+{}]docker.io/library/debian:12",
            buildah.root.display(),
            buildah.runroot.display()
        ))
        .output()
        .unwrap();
    assert!(
        copy.status.success(),
        "skopeo copy of the base into buildah's store: {}",
        String::from_utf8_lossy(&copy.stderr)
    );

    // The `# Build:` line's command, with the golden image buildah just built as the parent
    let build_with_buildah = |context: &Path, tag: &str, extra: &[String]| {
        let mut command = buildah.command();
        command
            .args([
                "build",
                "--isolation",
                "chroot",
                "--layers",
                "--pull-never",
                "--secret",
                "id=probe_token,env=PROBE_TOKEN",
                "--tag",
                tag,
            ])
            .args(extra)
            .arg("-f")
            .arg(context.join("Dockerfile"))
            .arg(context)
            .env("PROBE_TOKEN", SECRET);
        let done = run(command);
        assert_eq!(
            done.code,
            0,
            "buildah build of {}:\n{}\n{}",
            context.display(),
            done.stdout,
            done.stderr
        );
        done.seconds
    };
    let golden_tag = format!("localhost/{GOLDEN}:buildah");
    let custom_tag = format!("localhost/{CUSTOM}:buildah");
    let golden_seconds = build_with_buildah(&golden_context, &golden_tag, &[]);
    let custom_seconds = build_with_buildah(
        &custom_context,
        &custom_tag,
        &[
            String::from("--build-arg"),
            format!("GOLDEN_IMAGE={golden_tag}"),
        ],
    );

    // Each image: the same OS packages and component labels as imagesmith's build
    let mut failures = Vec::new();
    for (name, tag) in [(GOLDEN, &golden_tag), (CUSTOM, &custom_tag)] {
        let container = buildah.run(&["from", "--pull-never", tag]);
        let rootfs = PathBuf::from(buildah.run(&["mount", &container]));
        let theirs: std::collections::BTreeSet<(String, String)> = trivy_packages(&trivy, &rootfs)
            .into_iter()
            .map(|(name, version, _)| (name, version))
            .collect();
        if name == CUSTOM {
            assert_eq!(
                std::fs::read_to_string(rootfs.join("usr/local/share/hello/hello.txt"))
                    .unwrap_or_default(),
                HELLO,
                "the download reached the buildah image"
            );
            assert_eq!(
                std::fs::read_to_string(rootfs.join("etc/probe-token.sha256"))
                    .unwrap_or_default()
                    .trim(),
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(SECRET.as_bytes())),
                "the secret reached the buildah build's step"
            );
        }
        buildah.run(&["umount", &container]);
        buildah.run(&["rm", &container]);
        let layout = imagesmith_oci::ImageLayout::open(out.join(name)).unwrap();
        let ours: std::collections::BTreeSet<(String, String)> = sbom_packages(&layout)
            .into_iter()
            .map(|(name, version, _)| (name, version))
            .collect();
        assert!(
            theirs.len() > 50,
            "{name}: Trivy found only {}",
            theirs.len()
        );
        eprintln!(
            "buildah check: {name}: {} OS packages in imagesmith's SBOM, {} by trivy-cdxgen in buildah's image",
            ours.len(),
            theirs.len()
        );
        let only_ours: Vec<_> = ours.difference(&theirs).collect();
        let only_theirs: Vec<_> = theirs.difference(&ours).collect();
        if !only_ours.is_empty() || !only_theirs.is_empty() {
            failures.push(format!(
                "{name}: OS packages differ:\n  only in imagesmith's build: {only_ours:?}\n  only in buildah's build: {only_theirs:?}"
            ));
        }
        let (ours, theirs) = (
            component_labels(&layout_labels(&out.join(name))),
            component_labels(&buildah.labels(tag)),
        );
        assert!(!ours.is_empty(), "{name}: no component labels");
        if ours != theirs {
            failures.push(format!(
                "{name}: component labels differ:\n  imagesmith: {ours:?}\n  buildah: {theirs:?}"
            ));
        }
    }
    eprintln!(
        "buildah check timing: imagesmith build of both images (cold components, cached base): {:.1}s; buildah build: {GOLDEN} {golden_seconds:.1}s + {CUSTOM} {custom_seconds:.1}s = {:.1}s",
        imagesmith.seconds,
        golden_seconds + custom_seconds
    );
    buildah.remove();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
