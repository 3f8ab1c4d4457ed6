use crate::github::sha256_hex;
use crate::server::{fixture, Response, Server};
use crate::{context, http};
use imagesmith_index::{ArtifactRef, ComponentIndex, Release, Source, FORMAT};
use imagesmith_sources::{update, SourceError};
use std::collections::BTreeMap;

fn server() -> Server {
    Server::start(|request| match request.path.as_str() {
        "/hashicorp/terraform/index.json" => fixture("hashicorp/index.json"),
        "/hashicorp/terraform/1.6.6/terraform_1.6.6_SHA256SUMS" => {
            fixture("hashicorp/terraform_1.6.6_SHA256SUMS")
        }
        _ => Response::status(404),
    })
}

fn linux(version: &str, sha256: Option<String>) -> BTreeMap<String, ArtifactRef> {
    BTreeMap::from([(
        "linux/x86_64".to_string(),
        ArtifactRef {
            url: format!(
                "https://releases.hashicorp.com/terraform/{version}/terraform_{version}_linux_amd64.zip"
            ),
            sha256,
        },
    )])
}

fn index(releases: Vec<Release>) -> ComponentIndex {
    ComponentIndex {
        format: FORMAT,
        component: "terraform".into(),
        source: Source::Hashicorp {
            product: "terraform".into(),
            url: None,
        },
        cited: vec!["HashiCorp releases, https://releases.hashicorp.com/terraform/".into()],
        updated: "2024-01-01".into(),
        partial: false,
        releases,
    }
}

fn release(version: &str, sha256: Option<String>) -> Release {
    Release {
        version: version.into(),
        date: Some("2023-01-01".into()),
        artifacts: linux(version, sha256),
        build: None,
        revoked: None,
        withdrawn: None,
    }
}

#[test]
fn keeps_vanished_releases_and_known_checksums() {
    let server = server();
    let mut ctx = context(&[("https://releases.hashicorp.com/", server.url("hashicorp"))]);
    ctx.newest_with_checksums = 1;
    let known = "e".repeat(64);
    let before = index(vec![
        // No longer listed by the vendor.
        release("1.4.0", Some("a".repeat(64))),
        // Listed, but only the newest gets checksums: the known one stays.
        release("1.5.7", Some(known.clone())),
    ]);
    let after = update(&before, &http(), &ctx).unwrap();
    assert_eq!(after.updated, "2025-01-31");
    assert_eq!(after.cited, before.cited);
    let versions: Vec<&str> = after.releases.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(versions, ["1.4.0", "1.5.7", "1.6.6"]);
    assert_eq!(after.releases[0], before.releases[0]);
    let kept = &after.releases[1];
    assert_eq!(
        kept.artifacts["linux/x86_64"].sha256.as_deref(),
        Some(known.as_str())
    );
    // The source gives no date; the index's stays.
    assert_eq!(kept.date.as_deref(), Some("2023-01-01"));
    // Windows and arm64 came from the source.
    assert_eq!(kept.artifacts.len(), 3);
    // The result is a valid index file.
    ComponentIndex::parse("terraform.json", &after.to_text()).unwrap();
}

#[test]
fn a_changed_checksum_is_an_alarm_naming_both() {
    let server = server();
    let mut ctx = context(&[("https://releases.hashicorp.com/", server.url("hashicorp"))]);
    ctx.newest_with_checksums = 1;
    let forged = "f".repeat(64);
    let before = index(vec![release("1.6.6", Some(forged.clone()))]);
    let error = update(&before, &http(), &ctx).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, SourceError::ChecksumChanged(_)), "{text}");
    assert!(text.contains(&forged), "{text}");
    assert!(
        text.contains(&sha256_hex("terraform_1.6.6_linux_amd64.zip")),
        "{text}"
    );
    assert!(text.contains("terraform_1.6.6_linux_amd64.zip"), "{text}");
}

#[test]
fn a_missing_checksum_file_is_skipped() {
    let server = server();
    // 1.5.7's SHA256SUMS is not served: its artifacts get no sha256, the update goes on.
    let ctx = context(&[("https://releases.hashicorp.com/", server.url("hashicorp"))]);
    let after = update(&index(Vec::new()), &http(), &ctx).unwrap();
    assert_eq!(after.releases.len(), 2);
    assert!(after.releases[0]
        .artifacts
        .values()
        .all(|a| a.sha256.is_none()));
    assert!(after.releases[1]
        .artifacts
        .values()
        .all(|a| a.sha256.is_some()));
}

#[test]
fn a_vendor_source_keeps_the_index_untouched() {
    let mut before = index(vec![release("9.1.2", None)]);
    before.source = Source::Vendor {
        description: "Downloads behind a login".into(),
    };
    let notes = std::cell::RefCell::new(Vec::new());
    let record = |line: &str| notes.borrow_mut().push(line.to_string());
    let mut ctx = context(&[]);
    ctx.progress = &record;
    let after = update(&before, &http(), &ctx).unwrap();
    assert_eq!(after.releases, before.releases);
    assert_eq!(after.updated, "2025-01-31");
    assert!(
        notes
            .borrow()
            .iter()
            .any(|n| n.contains("nothing to fetch")),
        "{:?}",
        notes.borrow()
    );
}

/// Issue 13: a source that still lists a withdrawn release (git tags outlive deleted GitHub
/// releases) does not clear its status.
#[test]
fn keeps_the_withdrawn_status_of_a_release_still_listed() {
    let server = server();
    let mut ctx = context(&[("https://releases.hashicorp.com/", server.url("hashicorp"))]);
    ctx.newest_with_checksums = 1;
    let withdrawn = imagesmith_index::Withdrawn {
        reason: "downloads deleted".into(),
        since: Some("2026-03-01".into()),
    };
    let before = index(vec![Release {
        withdrawn: Some(withdrawn.clone()),
        ..release("1.5.7", None)
    }]);
    let after = update(&before, &http(), &ctx).unwrap();
    let kept = after
        .releases
        .iter()
        .find(|r| r.version == "1.5.7")
        .unwrap();
    assert_eq!(kept.withdrawn.as_ref(), Some(&withdrawn));
    assert!(after
        .releases
        .iter()
        .filter(|r| r.version != "1.5.7")
        .all(|r| r.withdrawn.is_none()));
}
