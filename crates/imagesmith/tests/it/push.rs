//! `imagesmith push` and `imagesmith verify` (issue 11) against Debian's Distribution
//! registry with htpasswd Basic auth: `skopeo inspect` sees the pushed digest, the SBOM
//! referrer is reachable through the fallback tag, a moved tag is refused with the old
//! digest kept, a re-push is a no-op, and the cosign-format signature verifies with the key
//! (`openssl dgst -verify` agrees), not with another, and not on an unsigned image.

#[path = "../../../imagesmith-oci/tests/it/registry/distribution.rs"]
mod distribution;

use crate::{one_layer_layout, stdout};
use distribution::{Registry, PASSWORD, USER};
use imagesmith_oci::BlobStore;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A one-layer layout at `dir/NAME` holding `text`, with a CycloneDX SBOM referring to it
fn layout(dir: &Path, name: &str, text: &str) -> PathBuf {
    let (dest, image) = one_layer_layout(dir, name, text);
    let layout_store = BlobStore::open(dest.join("blobs")).unwrap();
    let sbom = imagesmith_oci::artifact(
        &layout_store,
        &image,
        "application/vnd.cyclonedx+json",
        br#"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#,
        "1970-01-01T00:00:00Z",
    )
    .unwrap();
    imagesmith_oci::put_referrer(&dest, "sbom-cyclonedx", &sbom).unwrap();
    dest
}

fn run(args: &[&str], cwd: &Path, auth: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imagesmith"));
    command
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("IMAGESMITH_REGISTRY_USERNAME", USER)
        .env("IMAGESMITH_REGISTRY_PASSWORD", PASSWORD)
        .env("REGISTRY_AUTH_FILE", auth)
        .env("IMAGESMITH_CACHE_DIR", cwd.join("cache"));
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn skopeo_digest(registry: &Registry, reference: &str) -> String {
    let output = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("--creds={USER}:{PASSWORD}"))
        .arg(format!("docker://{}/{reference}", registry.host))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    value["Digest"].as_str().unwrap().to_owned()
}

fn openssl(args: &[&str], cwd: &Path) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        stderr(&output)
    );
}

/// `NAME.key`, a P-256 private key as openssl writes it, and `NAME.pub`, its public key
fn key_pair(dir: &Path, name: &str) {
    let key = format!("{name}.key");
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ],
        dir,
    );
    let public = format!("{name}.pub");
    openssl(&["pkey", "-pubout", "-in", &key, "-out", &public], dir);
}

#[test]
fn push_sign_verify_and_tags_that_never_move() {
    if !distribution::tools_present() {
        return;
    }
    let registry = Registry::start(true);
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let auth = work.join("no-auth.json");
    layout(work, "first", "one\n");
    layout(work, "second", "two\n");
    key_pair(work, "cosign");
    key_pair(work, "other");

    let destination = format!("{}/team/app:v1.0.0", registry.host);
    let output = run(
        &[
            "push",
            "first",
            &destination,
            "--sign-key",
            "cosign.key",
            "--json",
        ],
        work,
        &auth,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let pushed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let digest = pushed["digest"].as_str().unwrap().to_owned();
    assert_eq!(pushed["unchanged"], false);
    assert_eq!(pushed["referrers"], 1);
    assert_eq!(skopeo_digest(&registry, "team/app:v1.0.0"), digest);

    // The SBOM is reachable: Distribution 2.8 has no referrers API, so the fallback tag
    let hex = digest.trim_start_matches("sha256:");
    let index: serde_json::Value =
        serde_json::from_slice(&registry.raw_manifest(&format!("team/app:sha256-{hex}"))).unwrap();
    assert_eq!(
        index["manifests"][0]["artifactType"], "application/vnd.cyclonedx+json",
        "{index}"
    );

    // The signature follows cosign's format and openssl verifies it
    let signature: serde_json::Value =
        serde_json::from_slice(&registry.raw_manifest(&format!("team/app:sha256-{hex}.sig")))
            .unwrap();
    let layer = &signature["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let payload = std::fs::read(registry.blob_data(layer["digest"].as_str().unwrap())).unwrap();
    let payload_json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        payload_json["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(
        payload_json["critical"]["identity"]["docker-reference"],
        format!("{}/team/app", registry.host)
    );
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(
            layer["annotations"]["dev.cosignproject.cosign/signature"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    std::fs::write(work.join("payload.json"), &payload).unwrap();
    std::fs::write(work.join("signature.der"), der).unwrap();
    openssl(
        &[
            "dgst",
            "-sha256",
            "-verify",
            "cosign.pub",
            "-signature",
            "signature.der",
            "payload.json",
        ],
        work,
    );

    // `imagesmith verify`: the key accepts, another key and an unsigned image are refused
    let output = run(
        &["verify", &destination, "--key", "cosign.pub"],
        work,
        &auth,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains(&digest), "{}", stdout(&output));
    let output = run(&["verify", &destination, "--key", "other.pub"], work, &auth);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("verifies with this key"),
        "{}",
        stderr(&output)
    );
    let unsigned = format!("{}/team/app:unsigned", registry.host);
    let output = run(&["push", "second", &unsigned], work, &auth);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = run(&["verify", &unsigned, "--key", "cosign.pub"], work, &auth);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("is not signed"),
        "{}",
        stderr(&output)
    );

    // Re-pushing the same image is a no-op; other content under the tag is refused
    let output = run(&["push", "first", &destination, "--json"], work, &auth);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let again: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(again["unchanged"], true);
    assert_eq!(again["blobs_uploaded"], 0);
    let output = run(&["push", "second", &destination], work, &auth);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains(&digest), "{message}");
    assert_eq!(skopeo_digest(&registry, "team/app:v1.0.0"), digest);
}
