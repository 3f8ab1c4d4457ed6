use crate::github::sha256_hex;
use crate::server::{fixture, require, Response, Server};
use crate::{anonymous, assert_unauthorized, context, http, BASIC};
use imagesmith_index::Source;
use imagesmith_sources::fetch;

fn server() -> Server {
    Server::start(|request| {
        if let Some(denied) = require(request, BASIC) {
            return denied;
        }
        match request.path.as_str() {
            "/github/repos/corretto/corretto-21/releases?per_page=100" => {
                fixture("corretto/releases.json")
            }
            _ => Response::status(404),
        }
    })
}

fn source() -> Source {
    Source::Corretto {
        major: "21".into(),
        url: None,
    }
}

#[test]
fn github_releases_of_the_major_line() {
    let server = server();
    let ctx = context(&[("https://api.github.com/", server.url("github"))]);
    let releases = fetch(&source(), &http(), &ctx).unwrap();
    let versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
    // `jdk-21.0.5+11` is an OpenJDK tag, not a Corretto release.
    assert_eq!(versions, ["21.0.5.11.1", "21.0.6.7.1"]);
    assert_eq!(releases[1].date.as_deref(), Some("2025-01-21"));
    let linux = &releases[1].artifacts["linux/x86_64"];
    assert_eq!(
        linux.url,
        "https://corretto.aws/downloads/resources/21.0.6.7.1/amazon-corretto-21.0.6.7.1-linux-x64.tar.gz"
    );
    assert_eq!(
        linux.sha256.as_deref(),
        Some(sha256_hex("21.0.6.7.1x64").as_str())
    );
    assert!(releases[1].artifacts.contains_key("linux/arm64"));
}

#[test]
fn without_the_credential_a_clear_401() {
    let server = server();
    let ctx = anonymous(&[("https://api.github.com/", server.url("github"))]);
    assert_unauthorized(fetch(&source(), &http(), &ctx).unwrap_err());
}
