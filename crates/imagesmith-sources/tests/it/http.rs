use crate::server::{Response, Server};
use crate::{context, BASIC};
use imagesmith_index::Source;
use imagesmith_sources::{fetch, Http, HttpOptions, SourceError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CHANGELOG: &str = "=========\nCHANGELOG\n=========\n\n2.15.17\n=======\n\n* x\n";

fn options() -> HttpOptions {
    HttpOptions {
        backoff: Duration::from_millis(10),
        ..HttpOptions::default()
    }
}

fn changelog_source(server: &Server) -> Source {
    Source::AwsCli {
        url: Some(format!("{}CHANGELOG.rst", server.url("raw"))),
    }
}

#[test]
fn retries_a_503_then_reads_the_200() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let server = Server::start(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            Response::status(503)
        } else {
            Response::ok(CHANGELOG)
        }
    });
    let ctx = context(&[]);
    let releases = fetch(&changelog_source(&server), &Http::new(options()), &ctx).unwrap();
    assert_eq!(releases.len(), 1);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[test]
fn gives_up_after_three_attempts() {
    let server = Server::start(|_| Response::status(502));
    let error = fetch(
        &changelog_source(&server),
        &Http::new(options()),
        &context(&[]),
    )
    .unwrap_err();
    assert!(
        matches!(error, SourceError::Status { status: 502, .. }),
        "{error}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_refused_connection_names_the_url() {
    // A port nothing listens on: bind, note, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let source = Source::AwsCli {
        url: Some(format!(
            "http://user:hunter2@127.0.0.1:{port}/CHANGELOG.rst"
        )),
    };
    let error = fetch(&source, &Http::new(options()), &context(&[])).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, SourceError::Transport { .. }), "{text}");
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}/CHANGELOG.rst")),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn cache_revalidates_with_etag_and_serves_the_304_from_disk() {
    let cache = tempfile::tempdir().unwrap();
    let server = Server::start(|request| {
        if request.header("if-none-match") == Some("\"v1\"") {
            return Response::status(304).header("ETag", "\"v1\"");
        }
        Response::ok(CHANGELOG)
            .header("ETag", "\"v1\"")
            .header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
    });
    let http = Http::new(HttpOptions {
        cache_dir: Some(cache.path().join("http")),
        ..options()
    });
    let ctx = context(&[]);
    let first = fetch(&changelog_source(&server), &http, &ctx).unwrap();
    let second = fetch(&changelog_source(&server), &http, &ctx).unwrap();
    assert_eq!(first, second);
    let requests = server.requests();
    assert_eq!(requests[0].header("if-none-match"), None);
    assert_eq!(requests[1].header("if-none-match"), Some("\"v1\""));
    assert_eq!(
        requests[1].header("if-modified-since"),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );
    // The credential went with both, and no file of the cache holds it.
    assert!(requests
        .iter()
        .all(|r| r.header("authorization") == Some(BASIC)));
    for entry in std::fs::read_dir(cache.path().join("http")).unwrap() {
        let text = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&text).contains("s3cret"));
    }
}

#[test]
fn a_body_over_the_limit_is_refused() {
    let server = Server::start(|_| Response::ok(vec![b'='; 4096]));
    let http = Http::new(HttpOptions {
        max_body: 1024,
        ..options()
    });
    let error = fetch(&changelog_source(&server), &http, &context(&[])).unwrap_err();
    assert!(
        matches!(error, SourceError::TooLarge { limit: 1024, .. }),
        "{error}"
    );
}

#[test]
fn github_token_is_only_for_api_github_com() {
    // Through a mirror the host asked is 127.0.0.1: GITHUB_TOKEN is not sent there.
    let server = Server::start(|_| Response::ok("[]"));
    let mut ctx = context(&[("https://api.github.com/", server.url("github"))]);
    ctx.credentials = imagesmith_sources::Credentials::none().with_var("GITHUB_TOKEN", "ghp_x");
    let source = Source::GithubReleases {
        repository: "cli/cli".into(),
        checksum_asset: None,
        url: None,
    };
    assert!(fetch(&source, &Http::new(options()), &ctx)
        .unwrap()
        .is_empty());
    assert_eq!(server.requests()[0].header("authorization"), None);
}
