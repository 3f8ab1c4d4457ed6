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
            "apt/{}",
            request.path.trim_start_matches("/debian/")
        ))
    })
}

fn source() -> Source {
    Source::Apt {
        url: "https://deb.debian.org/debian".into(),
        suite: "bookworm".into(),
        component: "main".into(),
        package: "curl".into(),
        os: Some("debian12".into()),
    }
}

#[test]
fn packages_gz_of_both_architectures() {
    let server = server();
    let ctx = context(&[("https://deb.debian.org/debian/", server.url("debian"))]);
    let releases = fetch(&source(), &http(), &ctx).unwrap();
    let versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(versions, ["7.88.1-10+deb12u4", "7.88.1-10+deb12u5"]);
    let newest = &releases[1];
    let amd64 = &newest.artifacts["debian12/x86_64"];
    assert_eq!(
        amd64.url,
        "https://deb.debian.org/debian/pool/main/c/curl/curl_7.88.1-10+deb12u5_amd64.deb"
    );
    assert_eq!(
        amd64.sha256.as_deref(),
        Some(sha256_hex("pool/main/c/curl/curl_7.88.1-10+deb12u5_amd64.deb").as_str())
    );
    assert!(newest.artifacts.contains_key("debian12/arm64"));
    // The older build is only in the amd64 index.
    assert_eq!(releases[0].artifacts.len(), 1);
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.contains(&"/debian/dists/bookworm/main/binary-arm64/Packages.gz".to_string()));
}

#[test]
fn without_the_credential_a_clear_401() {
    let server = server();
    let ctx = anonymous(&[("https://deb.debian.org/debian/", server.url("debian"))]);
    assert_unauthorized(fetch(&source(), &http(), &ctx).unwrap_err());
}
