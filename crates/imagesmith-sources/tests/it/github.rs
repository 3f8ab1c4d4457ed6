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
            "/github/repos/cli/cli/releases?per_page=100" => fixture("github/releases-page1.json")
                .header(
                    "Link",
                    r#"<https://api.github.com/repositories/212613049/releases?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/212613049/releases?per_page=100&page=2>; rel="last""#,
                ),
            "/github/repositories/212613049/releases?per_page=100&page=2" => {
                fixture("github/releases-page2.json")
            }
            path => match path.strip_prefix("/download/cli/cli/releases/download/") {
                Some(rest) => fixture(&format!(
                    "github/{}",
                    rest.rsplit('/').next().unwrap_or_default()
                )),
                None => Response::status(404),
            },
        }
    })
}

fn source() -> Source {
    Source::GithubReleases {
        repository: "cli/cli".into(),
        checksum_asset: Some("gh_{{ version }}_checksums.txt".into()),
        url: None,
    }
}

#[test]
fn releases_pages_checksums_through_a_mirror() {
    let server = server();
    let mut ctx = context(&[
        ("https://api.github.com/", server.url("github")),
        ("https://github.com/", server.url("download")),
    ]);
    ctx.newest_with_checksums = 2;
    let releases = fetch(&source(), &http(), &ctx).unwrap();
    let versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
    // The draft and the release candidate are skipped; page 2 was followed.
    assert_eq!(versions, ["2.41.0", "2.42.0", "2.42.1"]);
    let newest = &releases[2];
    assert_eq!(newest.date.as_deref(), Some("2024-01-15"));
    let keys: Vec<&str> = newest.artifacts.keys().map(String::as_str).collect();
    assert_eq!(keys, ["linux/arm64", "linux/x86_64", "windows/x86_64"]);
    let linux = &newest.artifacts["linux/x86_64"];
    // The index records the vendor's URL, not the mirror's.
    assert_eq!(
        linux.url,
        "https://github.com/cli/cli/releases/download/v2.42.1/gh_2.42.1_linux_amd64.tar.gz"
    );
    // The fixture's checksum file lists sha256(file name).
    assert_eq!(
        linux.sha256.as_deref(),
        Some(sha256_hex("gh_2.42.1_linux_amd64.tar.gz").as_str())
    );
    // Only the two newest get their checksum file.
    assert!(releases[0].artifacts.values().all(|a| a.sha256.is_none()));
    assert_eq!(server.requests_to("/download/").len(), 2);
    // Every request carried the credential.
    assert!(server
        .requests()
        .iter()
        .all(|r| r.header("authorization") == Some(BASIC)));
    assert!(server.requests().iter().all(|r| r
        .header("user-agent")
        .is_some_and(|u| u.starts_with("imagesmith/"))));
}

#[test]
fn without_the_credential_a_clear_401() {
    let server = server();
    let ctx = anonymous(&[("https://api.github.com/", server.url("github"))]);
    assert_unauthorized(fetch(&source(), &http(), &ctx).unwrap_err());
}

pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}
