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
        fixture(request.path.trim_start_matches("/node/"))
    })
}

#[test]
fn index_and_shasums_newest_per_major() {
    let server = server();
    let mut ctx = context(&[("https://nodejs.org/dist/", server.url("node/nodejs"))]);
    ctx.newest_per_major = 1;
    let releases = fetch(&Source::NodejsDist { url: None }, &http(), &ctx).unwrap();
    let versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(versions, ["18.19.1", "20.11.0", "20.11.1", "21.6.2"]);
    let iron = &releases[2];
    assert_eq!(iron.date.as_deref(), Some("2024-02-14"));
    let linux = &iron.artifacts["linux/x86_64"];
    assert_eq!(
        linux.url,
        "https://nodejs.org/dist/v20.11.1/node-v20.11.1-linux-x64.tar.gz"
    );
    assert_eq!(
        linux.sha256.as_deref(),
        Some(sha256_hex("node-v20.11.1-linux-x64.tar.gz").as_str())
    );
    assert_eq!(
        iron.artifacts["windows/x86_64"].url,
        "https://nodejs.org/dist/v20.11.1/node-v20.11.1-win-x64.zip"
    );
    // 20.11.0 is not the newest of its line: artifacts without sha256, no request.
    assert!(releases[1].artifacts.values().all(|a| a.sha256.is_none()));
    assert_eq!(server.requests_to("/node/nodejs/v").len(), 3);
}

#[test]
fn without_the_credential_a_clear_401() {
    let server = server();
    let ctx = anonymous(&[("https://nodejs.org/dist/", server.url("node/nodejs"))]);
    assert_unauthorized(fetch(&Source::NodejsDist { url: None }, &http(), &ctx).unwrap_err());
}
