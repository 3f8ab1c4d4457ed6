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
            "/pypi/pypi/awscrt-example/json" => fixture("pypi/project.json"),
            _ => Response::status(404),
        }
    })
}

fn source() -> Source {
    Source::Pypi {
        package: "awscrt-example".into(),
        url: None,
    }
}

#[test]
fn json_api_yanked_is_revoked() {
    let server = server();
    let ctx = context(&[("https://pypi.org/", server.url("pypi"))]);
    let releases = fetch(&source(), &http(), &ctx).unwrap();
    let versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
    // `1.2.0rc1` is a pre-release; `0.9.0` has no files.
    assert_eq!(versions, ["1.0.0", "1.1.0", "1.2.0"]);
    // The first upload of the release.
    assert_eq!(releases[0].date.as_deref(), Some("2023-05-01"));
    assert_eq!(
        releases[1].revoked.as_deref(),
        Some("Broken dependency metadata")
    );
    assert_eq!(releases[2].revoked, None);
    let wheel = &releases[2].artifacts["linux/x86_64"];
    assert!(wheel
        .url
        .starts_with("https://files.pythonhosted.org/packages/"));
    assert_eq!(
        wheel.sha256.as_deref(),
        Some(sha256_hex("awscrt_example-1.2.0-py3-none-any.whl").as_str())
    );
    assert_eq!(server.requests()[0].header("authorization"), Some(BASIC));
}

#[test]
fn without_the_credential_a_clear_401() {
    let server = server();
    let ctx = anonymous(&[("https://pypi.org/", server.url("pypi"))]);
    assert_unauthorized(fetch(&source(), &http(), &ctx).unwrap_err());
}
