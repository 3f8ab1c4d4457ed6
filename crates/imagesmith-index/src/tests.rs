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
