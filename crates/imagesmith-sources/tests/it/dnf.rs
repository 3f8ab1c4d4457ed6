use crate::github::sha256_hex;
use crate::server::{fixture, require, Server};
use crate::{anonymous, assert_unauthorized, context, http, BASIC};
use imagesmith_index::Source;
use imagesmith_sources::fetch;

fn server() -> Server {
    Server::start(|request| {
        if let Some(denied) = require(request, BASIC) {
            return denied;
        }
        fixture(&format!(
            "dnf/{}",
            request.path.trim_start_matches("/al2023/")
        ))
    })
}

const ROOT: &str = "https://cdn.amazonlinux.com/al2023/core/mirrors/latest/x86_64/";

fn source() -> Source {
    Source::Dnf {
        url: ROOT.trim_end_matches('/').into(),
        package: "curl-minimal".into(),
        os: Some("amazonlinux2023".into()),
    }
}

#[test]
fn repomd_and_primary_xml_gz() {
    let server = server();
    let ctx = context(&[(ROOT, server.url("al2023"))]);
    let releases = fetch(&source(), &http(), &ctx).unwrap();
    let versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(versions, ["8.3.0-1.amzn2023.0.2", "8.5.0-1.amzn2023.0.2"]);
    let newest = &releases[1];
    let location = "Packages/curl-minimal-8.5.0-1.amzn2023.0.2.x86_64.rpm";
    let x86 = &newest.artifacts["amazonlinux2023/x86_64"];
    assert_eq!(x86.url, format!("{ROOT}{location}"));
    assert_eq!(x86.sha256.as_deref(), Some(sha256_hex(location).as_str()));
    assert!(newest.artifacts.contains_key("amazonlinux2023/arm64"));
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn without_the_credential_a_clear_401() {
    let server = server();
    let ctx = anonymous(&[(ROOT, server.url("al2023"))]);
    assert_unauthorized(fetch(&source(), &http(), &ctx).unwrap_err());
}
