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
            "/raw/aws/aws-cli/v2/CHANGELOG.rst" => fixture("aws_cli/CHANGELOG.rst"),
            _ => Response::status(404),
        }
    })
}

#[test]
fn changelog_headings() {
    let server = server();
    let ctx = context(&[("https://raw.githubusercontent.com/", server.url("raw"))]);
    let releases = fetch(&Source::AwsCli { url: None }, &http(), &ctx).unwrap();
    let versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(versions, ["2.15.15", "2.15.16", "2.15.17"]);
    let linux = &releases[2].artifacts["linux/x86_64"];
    assert_eq!(
        linux.url,
        "https://awscli.amazonaws.com/awscli-exe-linux-x86_64-2.15.17.zip"
    );
    // AWS publishes a signature, no checksum.
    assert_eq!(linux.sha256, None);
    assert_eq!(
        releases[2].artifacts["linux/arm64"].url,
        "https://awscli.amazonaws.com/awscli-exe-linux-aarch64-2.15.17.zip"
    );
}

#[test]
fn without_the_credential_a_clear_401() {
    let server = server();
    let ctx = anonymous(&[("https://raw.githubusercontent.com/", server.url("raw"))]);
    assert_unauthorized(fetch(&Source::AwsCli { url: None }, &http(), &ctx).unwrap_err());
}
