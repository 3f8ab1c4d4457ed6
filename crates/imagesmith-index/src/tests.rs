use super::*;

fn sample() -> ComponentIndex {
    let text = r#"{
  "format": 1,
  "component": "terraform",
  "source": {"kind": "hashicorp", "product": "terraform"},
  "updated": "2026-12-02",
  "releases": [
    {"version": "1.6.5", "date": "2023-11-29"},
    {"version": "1.6.6", "date": "2023-12-13"},
    {"version": "1.7.0", "date": "2024-01-17", "artifacts": {"linux/x86_64": {"url": "https://releases.hashicorp.com/terraform/1.7.0/terraform_1.7.0_linux_amd64.zip", "sha256": "0000000000000000000000000000000000000000000000000000000000000000"}}},
    {"version": "1.7.1", "revoked": "withdrawn"},
    {"version": "1.10.0"}
  ]
}
"#;
    ComponentIndex::parse("t.json", text).unwrap()
}

const LINUX: Target<'static> = Target {
    os: "debian12",
    family: "linux",
    arch: "x86_64",
};

#[test]
fn resolves_exact_and_prefix() {
    let index = sample();
    assert_eq!(
        index.resolve("1.6.6", LINUX).unwrap().release.version,
        "1.6.6"
    );
    assert_eq!(
        index.resolve("1.6", LINUX).unwrap().release.version,
        "1.6.6"
    );
    // A prefix never lands on a revoked release; the exact version still finds it.
    assert_eq!(
        index.resolve("1.7", LINUX).unwrap().release.version,
        "1.7.0"
    );
    assert_eq!(
        index.resolve("1.7.1", LINUX).unwrap().release.version,
        "1.7.1"
    );
    assert_eq!(index.resolve("1", LINUX).unwrap().release.version, "1.10.0");
    assert!(index.resolve("1.6.99", LINUX).is_none());
    assert!(index.resolve("1.1", LINUX).is_none());
    let m = index.resolve("1.7.0", LINUX).unwrap();
    assert!(m.artifact.unwrap().url.ends_with("linux_amd64.zip"));
    // Not for arm64: the release records artifacts, none for it.
    let arm = Target {
        arch: "arm64",
        ..LINUX
    };
    assert!(index.resolve("1.7.0", arm).is_none());
}

#[test]
fn nearest_brackets_the_request() {
    let index = sample();
    assert_eq!(
        index.nearest("1.6.99", LINUX, 3),
        ["1.6.5", "1.6.6", "1.7.0"]
    );
    assert_eq!(index.nearest("0.1", LINUX, 2), ["1.6.5", "1.6.6"]);
    assert_eq!(index.newest(LINUX, None).unwrap().version, "1.10.0");
    assert_eq!(index.newest(LINUX, Some("1.6")).unwrap().version, "1.6.6");
}

#[test]
fn text_round_trips_one_release_per_line() {
    let index = sample();
    let text = index.to_text();
    assert_eq!(ComponentIndex::parse("t.json", &text).unwrap(), index);
    let lines = text.lines().filter(|l| l.contains("\"version\"")).count();
    assert_eq!(lines, 5);
    assert!(text.ends_with("]\n}\n"), "{text}");
}

#[test]
fn rejects_unsorted_bad_dates_and_unknown_fields() {
    let bad = |releases: &str| {
        let text = String::from(
            r#"{"format": 1, "component": "x", "source": {"kind": "vendor", "description": "d"}, "updated": "2026-12-02", "releases": ["#,
        ) + releases
            + "]}";
        ComponentIndex::parse("x.json", &text)
            .unwrap_err()
            .to_string()
    };
    assert!(bad(r#"{"version": "2.0"}, {"version": "1.0"}"#).contains("not sorted"));
    assert!(bad(r#"{"version": "1.0", "date": "2024-1-1"}"#).contains("YYYY-MM-DD"));
    assert!(bad(r#"{"version": "1.0", "color": "red"}"#).contains("unknown field"));
    assert!(bad(r#"{"version": "v1.0"}"#).contains("as customers write"));
}

#[test]
fn prefixes_stop_at_part_boundaries() {
    assert!(prefix_matches("3.12", "3.12.8"));
    assert!(prefix_matches("3.12", "3.12"));
    assert!(!prefix_matches("3.1", "3.12.0"));
    assert!(prefix_matches("4.3", "4.3-2+deb12u1"));
}

#[test]
fn every_builtin_file_parses_and_is_canonical() {
    for (path, parsed) in builtin_files() {
        let index = parsed.unwrap_or_else(|e| panic!("{e}"));
        let name = path.rsplit('/').next().unwrap();
        assert_eq!(name, format!("{}.json", index.component), "{path}");
        let text = imagesmith_catalog::embedded_files(INDEX_DIR)
            .into_iter()
            .find(|f| path.ends_with(f.path))
            .unwrap()
            .text;
        let canonical = index.to_text();
        if canonical != text {
            let first = canonical
                .lines()
                .zip(text.lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("canonical `{a}`, file `{b}`"))
                .unwrap_or_else(|| "lengths differ".into());
            panic!("{path} is not in canonical form: {first}");
        }
    }
}

#[test]
fn project_files_replace_builtin_entries() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(dir.path().join(INDEX_DIR)).unwrap();
    let mut index = sample();
    index.component = "opa".into();
    fs_err::write(dir.path().join("index/opa.json"), index.to_text()).unwrap();
    let loaded = Index::for_project(dir.path()).unwrap();
    let (opa, origin) = loaded.entry("opa").unwrap();
    assert!(matches!(origin, Origin::Project(_)));
    assert_eq!(opa.releases.len(), 5);
    fs_err::write(dir.path().join("index/wrong.json"), index.to_text()).unwrap();
    let err = Index::for_project(dir.path()).unwrap_err().to_string();
    assert!(err.contains("name it `opa.json`"), "{err}");
}

/// Issue 13: a withdrawn release is real but not obtainable: an exact pin finds it, a prefix
/// prefers an obtainable release, and it is never the newest or a nearest suggestion.
#[test]
fn withdrawn_releases_are_a_status() {
    let text = r#"{
  "format": 1,
  "component": "trivy",
  "source": {
    "kind": "github_releases",
    "repository": "aquasecurity/trivy"
  },
  "updated": "2026-12-02",
  "releases": [
    {"version": "0.26.0"},
    {"version": "0.53.0", "withdrawn": {"reason": "deleted", "since": "2026-03-01"}},
    {"version": "0.53.1", "withdrawn": {"reason": "deleted", "since": "2026-03-01"}},
    {"version": "0.69.1", "withdrawn": {"reason": "deleted"}},
    {"version": "0.69.2"},
    {"version": "0.69.4", "revoked": "malicious"},
    {"version": "0.70.0"}
  ]
}
"#;
    let index = ComponentIndex::parse("trivy.json", text).unwrap();
    assert_eq!(index.to_text(), text, "the layout round-trips");
    let exact = index.resolve("0.53.0", LINUX).unwrap().release;
    assert_eq!(
        exact.withdrawn.as_ref().unwrap().since.as_deref(),
        Some("2026-03-01")
    );
    assert!(!exact.obtainable());
    // Only withdrawn releases match `0.53`: it resolves to the newest of them.
    assert_eq!(
        index.resolve("0.53", LINUX).unwrap().release.version,
        "0.53.1"
    );
    // `0.69` has an obtainable release: that one, never the withdrawn or the revoked.
    assert_eq!(
        index.resolve("0.69", LINUX).unwrap().release.version,
        "0.69.2"
    );
    assert_eq!(index.newest(LINUX, None).unwrap().version, "0.70.0");
    assert_eq!(index.nearest("0.53.0", LINUX, 2), vec!["0.26.0", "0.69.2"]);
    let nearest = |v: &str| {
        index
            .nearest_obtainable(v, LINUX, |_| true)
            .map(|r| r.version.as_str())
    };
    assert_eq!(nearest("0.53.0"), Some("0.69.2"), "newer preferred");
    assert_eq!(
        index
            .nearest_obtainable("0.53.0", LINUX, |r| r.version != "0.69.2")
            .map(|r| r.version.as_str()),
        Some("0.70.0"),
        "what the catalog revokes is skipped"
    );
    assert_eq!(
        index
            .nearest_obtainable("0.69.1", LINUX, |r| r.version == "0.26.0")
            .map(|r| r.version.as_str()),
        Some("0.26.0"),
        "an older one when nothing newer is obtainable"
    );
    for bad in [
        r#"{"reason": "", "since": "2026-03-01"}"#,
        r#"{"reason": "deleted", "since": "March 2026"}"#,
        r#"{"reason": "deleted", "when": "2026-03-01"}"#,
    ] {
        let text = text.replace(r#"{"reason": "deleted", "since": "2026-03-01"}"#, bad);
        assert!(ComponentIndex::parse("trivy.json", &text).is_err(), "{bad}");
    }
}

/// The built-in Trivy index marks exactly 0.27.0 to 0.69.1 withdrawn.
#[test]
fn builtin_trivy_withdrawn_range() {
    let index = Index::builtin().get("trivy").unwrap();
    let withdrawn: Vec<&str> = index
        .releases
        .iter()
        .filter(|r| r.withdrawn.is_some())
        .map(|r| r.version.as_str())
        .collect();
    assert_eq!(withdrawn.first(), Some(&"0.27.0"));
    assert_eq!(withdrawn.last(), Some(&"0.69.1"));
    assert!(index.releases.iter().all(|r| {
        let inside = compare(&r.version, "0.27.0").is_ge() && compare(&r.version, "0.69.1").is_le();
        inside == r.withdrawn.is_some()
    }));
    assert!(index
        .cited
        .iter()
        .any(|c| c.contains("GHSA-69fq-xp46-6x23")));
}
