use crate::github::sha256_hex;
use crate::server::{fixture, require, Response, Server};
use crate::{anonymous, assert_unauthorized, context, http};
use imagesmith_index::Source;
use imagesmith_sources::{fetch, Credentials};

/// `Basic base64("hc:netrc-pass")`.
const NETRC_BASIC: &str = "Basic aGM6bmV0cmMtcGFzcw==";

fn server() -> Server {
    Server::start(|request| {
        if let Some(denied) = require(request, NETRC_BASIC) {
            return denied;
        }
        match request.path.as_str() {
            "/hashicorp/terraform/index.json" => fixture("hashicorp/index.json"),
            "/hashicorp/terraform/1.6.6/terraform_1.6.6_SHA256SUMS" => {
                fixture("hashicorp/terraform_1.6.6_SHA256SUMS")
            }
            _ => Response::status(404),
        }
    })
}

fn source() -> Source {
    Source::Hashicorp {
        product: "terraform".into(),
        url: None,
    }
}

#[test]
fn index_json_with_a_netrc_credential() {
    let server = server();
    let mut ctx = context(&[("https://releases.hashicorp.com/", server.url("hashicorp"))]);
    ctx.credentials = Credentials::none()
        .with_netrc("machine example.org login x password y\nmachine 127.0.0.1\n  login hc\n  password netrc-pass\n");
    ctx.newest_with_checksums = 1;
    let releases = fetch(&source(), &http(), &ctx).unwrap();
    let versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
    // `1.7.0-beta1` and `1.7.0-rc1` are pre-releases.
    assert_eq!(versions, ["1.5.7", "1.6.6"]);
    let newest = &releases[1];
    assert_eq!(newest.date, None);
    // linux/386 is no catalog architecture.
    assert_eq!(newest.artifacts.len(), 3);
    let linux = &newest.artifacts["linux/x86_64"];
    assert_eq!(
        linux.url,
        "https://releases.hashicorp.com/terraform/1.6.6/terraform_1.6.6_linux_amd64.zip"
    );
    assert_eq!(
        linux.sha256.as_deref(),
        Some(sha256_hex("terraform_1.6.6_linux_amd64.zip").as_str())
    );
    // Older than the newest N: no checksum request, no sha256.
    assert!(releases[0].artifacts.values().all(|a| a.sha256.is_none()));
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn without_the_credential_a_clear_401() {
    let server = server();
    let ctx = anonymous(&[("https://releases.hashicorp.com/", server.url("hashicorp"))]);
    assert_unauthorized(fetch(&source(), &http(), &ctx).unwrap_err());
}
