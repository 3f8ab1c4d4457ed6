//! S3Download through the SDK against moto: one object, a prefix, missing objects, the
//! bucket owner, and the standard environment (endpoint override, credential chain).

use std::path::Path;
use std::process::Command;

use imagesmith_aws::{Aws, S3Client};
use imagesmith_awstoe::exec::{s3_download, S3DownloadRequest, S3Error, S3Fetch};

use crate::moto::{Moto, ACCOUNT};

fn request(root: &Path, source: &str, destination: &str) -> S3DownloadRequest {
    S3DownloadRequest {
        source: source.into(),
        destination: root.join(destination.trim_start_matches('/')),
        expected_bucket_owner: None,
        overwrite: true,
    }
}

#[test]
fn one_object_is_downloaded() {
    let Some(moto) = Moto::start() else { return };
    // Bigger than one chunk of the response body
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    moto.bucket("tools", &[("agent/1.2/agent.deb", &body)]);
    let s3 = S3Client::new(&moto.aws());
    let root = tempfile::tempdir().unwrap();
    let written = s3_download(
        &s3,
        root.path(),
        &request(
            root.path(),
            "s3://tools/agent/1.2/agent.deb",
            "/tmp/agent.deb",
        ),
    )
    .unwrap();
    assert_eq!(written, ["/tmp/agent.deb"]);
    assert_eq!(
        std::fs::read(root.path().join("tmp/agent.deb")).unwrap(),
        body
    );
}

#[test]
fn a_prefix_is_downloaded() {
    let Some(moto) = Moto::start() else { return };
    moto.bucket(
        "configs",
        &[
            ("app/a.conf", b"a"),
            ("app/nested/b.conf", b"b"),
            ("app-other/c.conf", b"c"),
            ("other/d.conf", b"d"),
        ],
    );
    let s3 = S3Client::new(&moto.aws());
    assert_eq!(
        s3.list("configs", "app/", None).unwrap(),
        ["app/a.conf", "app/nested/b.conf"]
    );
    let root = tempfile::tempdir().unwrap();
    let written = s3_download(
        &s3,
        root.path(),
        &request(root.path(), "s3://configs/app/*", "/etc/app/"),
    )
    .unwrap();
    assert_eq!(written, ["/etc/app/a.conf", "/etc/app/nested/b.conf"]);
    assert_eq!(
        std::fs::read(root.path().join("etc/app/a.conf")).unwrap(),
        b"a"
    );
    assert_eq!(
        std::fs::read(root.path().join("etc/app/nested/b.conf")).unwrap(),
        b"b"
    );
    assert!(!root.path().join("etc/app/c.conf").exists());
    // The whole bucket
    let written = s3_download(
        &s3,
        root.path(),
        &request(root.path(), "s3://configs/*", "/all"),
    )
    .unwrap();
    assert_eq!(written.len(), 4);
}

#[test]
fn missing_objects_and_buckets_name_the_s3_url() {
    let Some(moto) = Moto::start() else { return };
    moto.bucket("present", &[("k", b"v")]);
    let s3 = S3Client::new(&moto.aws());
    let root = tempfile::tempdir().unwrap();
    for (source, url) in [
        ("s3://present/missing.txt", "s3://present/missing.txt"),
        ("s3://absent-bucket/k", "s3://absent-bucket/k"),
        ("s3://present/none/*", "s3://present/none/"),
        ("s3://absent-bucket/p/*", "s3://absent-bucket/p/"),
    ] {
        let error =
            s3_download(&s3, root.path(), &request(root.path(), source, "/x/")).unwrap_err();
        assert!(
            matches!(&error, S3Error::NotFound { url: u } if u == url),
            "{source}: {error:?}"
        );
        assert_eq!(error.to_string(), format!("`{url}` does not exist"));
    }
    // Nothing is left behind, not even the temporary file
    let x = root.path().join("x");
    assert!(!x.exists() || std::fs::read_dir(&x).unwrap().next().is_none());
}

#[test]
fn the_expected_bucket_owner_is_sent() {
    // moto 5 accepts `x-amz-expected-bucket-owner` but does not check it, so a wrong owner
    // cannot be shown failing here; S3 answers 403 AccessDenied, which the client reports
    // as `S3Error::Denied` (see `classify`). The request with the header must still succeed.
    let Some(moto) = Moto::start() else { return };
    moto.bucket("owned", &[("k", b"v")]);
    let s3 = S3Client::new(&moto.aws());
    let root = tempfile::tempdir().unwrap();
    let mut owned = request(root.path(), "s3://owned/k", "/k");
    owned.expected_bucket_owner = Some(ACCOUNT.into());
    s3_download(&s3, root.path(), &owned).unwrap();
    assert_eq!(s3.list("owned", "", Some(ACCOUNT)).unwrap(), ["k"]);
}

/// Runs one test of this binary in a child process with exactly `env`, so the standard
/// configuration can be read from a real environment without changing this process's
fn run_child(test: &str, env: &[(&str, String)]) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--include-ignored", "--nocapture"])
        .env_clear()
        .env("IMAGESMITH_AWS_CHILD", "1")
        .env("HOME", "/nonexistent")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{test}:\n{text}");
    assert!(text.contains("1 passed"), "{test} did not run:\n{text}");
}

fn in_child() -> bool {
    std::env::var_os("IMAGESMITH_AWS_CHILD").is_some()
}

#[test]
fn the_standard_environment_is_used() {
    let Some(moto) = Moto::start() else { return };
    moto.bucket("from-env", &[("k", b"through AWS_ENDPOINT_URL")]);
    let mut env = moto.env();
    run_child("s3::child_reads_the_environment", &env);
    // The S3-only override wins over the general one
    env[0] = ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into());
    env.push(("AWS_ENDPOINT_URL_S3", moto.endpoint.clone()));
    run_child("s3::child_reads_the_environment", &env);
    // No credentials anywhere: the check says so before any build step would run
    env.retain(|(k, _)| {
        !k.starts_with("AWS_ACCESS")
            && !k.starts_with("AWS_SECRET")
            && !k.starts_with("AWS_SESSION")
    });
    run_child("s3::child_has_no_credentials", &env);
}

#[test]
#[ignore = "run by `the_standard_environment_is_used` in a child process"]
fn child_reads_the_environment() {
    if !in_child() {
        return;
    }
    let s3 = S3Client::new(&Aws::new().unwrap());
    assert_eq!(s3.check(), Ok(()));
    let mut body = Vec::new();
    s3.get("from-env", "k", None, &mut body).unwrap();
    assert_eq!(body, b"through AWS_ENDPOINT_URL");
}

#[test]
#[ignore = "run by `the_standard_environment_is_used` in a child process"]
fn child_has_no_credentials() {
    if !in_child() {
        return;
    }
    let s3 = S3Client::new(&Aws::new().unwrap());
    let why = s3.check().unwrap_err();
    eprintln!("check: {why}");
    assert!(why.to_lowercase().contains("credential"), "{why}");
    let error = s3.get("from-env", "k", None, &mut Vec::new()).unwrap_err();
    eprintln!("get: {error}");
    assert!(
        matches!(&error, S3Error::Request { url, .. } if url == "s3://from-env/k"),
        "{error:?}"
    );
}
