use crate::server::{fixture, require, Response, Server};
use crate::{anonymous, assert_unauthorized, http};
use imagesmith_index::Source;
use imagesmith_sources::{fetch, Context, Credentials};

const TOKEN: &str = "Bearer npm_fixture_token";

fn server() -> Server {
    Server::start(|request| {
        if let Some(denied) = require(request, TOKEN) {
            return denied;
        }
        match request.path.as_str() {
            "/npm/aws-cdk" => fixture("npm/packument.json"),
            _ => Response::status(404),
        }
    })
}

fn source() -> Source {
    Source::Npm {
        package: "aws-cdk".into(),
        url: None,
    }
}

#[test]
fn packument_with_a_bearer_token() {
    let server = server();
    let mut ctx = Context::new(
        "2025-01-31",
        Credentials::none().with_var("IMAGESMITH_AUTH_127_0_0_1", "Bearer npm_fixture_token"),
    );
    ctx.mirrors
        .insert("https://registry.npmjs.org/".into(), server.url("npm"));
    let releases = fetch(&source(), &http(), &ctx).unwrap();
    let versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(versions, ["2.118.0", "2.119.0", "2.120.0"]);
    assert_eq!(releases[2].date.as_deref(), Some("2024-01-17"));
    // A deprecation notice is not a withdrawal.
    assert_eq!(releases[1].revoked, None);
    // npm publishes no sha256: no artifacts.
    assert!(releases.iter().all(|r| r.artifacts.is_empty()));
    let request = &server.requests()[0];
    assert_eq!(request.header("authorization"), Some(TOKEN));
    // The full document, not the abbreviated one (which has no `time`).
    assert_eq!(request.header("accept"), Some("application/json"));
}

#[test]
fn without_the_credential_a_clear_401() {
    let server = server();
    let ctx = anonymous(&[("https://registry.npmjs.org/", server.url("npm"))]);
    assert_unauthorized(fetch(&source(), &http(), &ctx).unwrap_err());
}
