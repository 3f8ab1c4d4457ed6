use crate::server::{fixture, require, Response, Server};
use crate::{anonymous, assert_unauthorized, context, http, BASIC};
use imagesmith_index::Source;
use imagesmith_sources::fetch;

const TOKEN: &str = "Bearer registry-token-1";

fn server() -> Server {
    Server::start(|request| {
        let path = request.path.as_str();
        if path.starts_with("/ecr/token/") {
            if let Some(denied) = require(request, BASIC) {
                return denied;
            }
            assert_eq!(
                path,
                "/ecr/token/?service=public.ecr.aws&scope=repository:amazonlinux/amazonlinux:pull"
            );
            return Response::ok(r#"{"token":"registry-token-1"}"#);
        }
        if request.header("authorization") != Some(TOKEN) {
            return Response::status(401).header(
                "WWW-Authenticate",
                r#"Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="repository:amazonlinux/amazonlinux:pull""#,
            );
        }
        match path {
            "/ecr/v2/amazonlinux/amazonlinux/tags/list" => fixture("registry/tags-page1.json")
                .header(
                    "Link",
                    r#"</v2/amazonlinux/amazonlinux/tags/list?last=2023-arm64v8&n=5>; rel="next""#,
                ),
            "/ecr/v2/amazonlinux/amazonlinux/tags/list?last=2023-arm64v8&n=5" => {
                fixture("registry/tags-page2.json")
            }
            _ => Response::status(404),
        }
    })
}

fn source() -> Source {
    Source::Registry {
        registry: "https://public.ecr.aws".into(),
        repository: "amazonlinux/amazonlinux".into(),
    }
}

#[test]
fn tags_behind_a_bearer_challenge() {
    let server = server();
    let ctx = context(&[("https://public.ecr.aws/", server.url("ecr"))]);
    let releases = fetch(&source(), &http(), &ctx).unwrap();
    let versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
    // `latest`, `minimal` and `2023-arm64v8` are not versions; page 2 was followed.
    assert_eq!(
        versions,
        ["2", "2.0.20240131.0", "2023", "2023.3.20240131.0"]
    );
    let requests = server.requests();
    // Challenge, token (with the credential), retry, page 2.
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert_eq!(requests[1].header("authorization"), Some(BASIC));
    assert_eq!(requests[3].header("authorization"), Some(TOKEN));
}

#[test]
fn without_the_credential_the_token_is_refused_clearly() {
    let server = server();
    let ctx = anonymous(&[("https://public.ecr.aws/", server.url("ecr"))]);
    assert_unauthorized(fetch(&source(), &http(), &ctx).unwrap_err());
}
