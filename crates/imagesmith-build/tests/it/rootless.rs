//! A real rootless build (issue #3): `imagesmith build` run by an unprivileged user
//! re-executes itself in a user namespace with the user's subordinate ids, and its layers
//! record the owners the image sees
//!
//! Needs root, to switch to a throwaway user: `imagesmith-rootless-test`, with a range in
//! `/etc/subuid` and `/etc/subgid`. The test creates both when they are missing, but only
//! where that is harmless: in CI (`CI=true`, a fresh machine) or when
//! `IMAGESMITH_TEST_CREATE_USERS=1` says this machine is disposable; otherwise it skips with
//! the reason. A missing tool fails the test in CI and skips it elsewhere. The base is a
//! static busybox root filesystem (`--base debian:12=dir:…`), so nothing is downloaded.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const USER: &str = "imagesmith-rootless-test";
/// How many subordinate ids the test user gets (ids 1 to 65536 in the namespace)
const RANGE: u64 = 65536;

pub(super) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Skips (returns `None`) with a printed reason, or fails in CI
fn unavailable(reason: String) -> Option<Account> {
    if in_ci() {
        panic!("rootless test prerequisites missing in CI: {reason}");
    }
    eprintln!("skipped: {reason}");
    None
}

/// The test user, and the first host id of its subordinate range
pub(super) struct Account {
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) subuid: u64,
}

fn id_of(flag: &str) -> Option<u32> {
    let output = Command::new("id").arg(flag).arg(USER).output().ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

/// The start of the user's range in `file`, if it has one
fn range_start(file: &str) -> Option<u64> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.strip_prefix(&format!("{USER}:")))
        .find_map(|rest| {
            let (start, count) = rest.split_once(':')?;
            (count.trim().parse::<u64>().ok()? >= RANGE).then(|| start.parse().ok())?
        })
}

/// A start after every range in both files, so the new range overlaps none
fn free_range_start() -> u64 {
    ["/etc/subuid", "/etc/subgid"]
        .iter()
        .flat_map(|file| {
            std::fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .filter_map(|line| {
                    let mut fields = line.split(':').skip(1);
                    let start: u64 = fields.next()?.parse().ok()?;
                    let count: u64 = fields.next()?.trim().parse().ok()?;
                    Some(start + count)
                })
                .collect::<Vec<_>>()
        })
        .fold(200_000, u64::max)
}

/// The test user with its subordinate ranges, created when allowed (idempotent)
pub(super) fn account() -> Option<Account> {
    if !nix::unistd::geteuid().is_root() {
        return unavailable(String::from(
            "not root (the test switches to a throwaway user)",
        ));
    }
    for tool in ["setpriv", "newuidmap", "newgidmap", "useradd"] {
        if !["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
            .iter()
            .any(|dir| Path::new(dir).join(tool).exists())
        {
            return unavailable(format!(
                "`{tool}` is not installed (bash .ci/install-tools)"
            ));
        }
    }
    let ready = id_of("-u").is_some()
        && range_start("/etc/subuid").is_some()
        && range_start("/etc/subgid").is_some();
    if !ready {
        let allowed = in_ci()
            || std::env::var("IMAGESMITH_TEST_CREATE_USERS").is_ok_and(|value| value == "1");
        if !allowed {
            return unavailable(format!(
                "user `{USER}` with subordinate ids is missing; set IMAGESMITH_TEST_CREATE_USERS=1 to let the test create it on this (disposable) machine"
            ));
        }
        if id_of("-u").is_none() {
            let status = Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    USER,
                ])
                .status()
                .unwrap();
            assert!(status.success(), "useradd {USER} failed");
        }
        let start = free_range_start();
        for file in ["/etc/subuid", "/etc/subgid"] {
            if range_start(file).is_none() {
                let mut text = std::fs::read_to_string(file).unwrap_or_default();
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&format!("{USER}:{start}:{RANGE}\n"));
                std::fs::write(file, text).unwrap();
            }
        }
    }
    Some(Account {
        uid: id_of("-u")?,
        gid: id_of("-g")?,
        subuid: range_start("/etc/subuid")?,
    })
}

/// A busybox root filesystem with a `builder` user (100) and group (101), and `bash` as
/// busybox's shell (the executor runs `bash SCRIPT`)
pub(super) fn rootfs(dir: &Path) -> Result<(), String> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .ok_or("no busybox (apt-get install busybox-static)")?;
    let file = Command::new("file").arg("-L").arg(busybox).output();
    if file.is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains("dynamically")) {
        return Err(format!(
            "{busybox} is dynamically linked (apt-get install busybox-static)"
        ));
    }
    for sub in ["bin", "etc", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::copy(busybox, dir.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "ls", "cat", "echo", "mkdir", "chown", "rm", "test", "stat", "grep", "wget",
    ] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    std::fs::write(dir.join("bin/bash"), "#!/bin/sh\nexec /bin/sh \"$@\"\n").unwrap();
    set_mode(&dir.join("bin/bash"), 0o755);
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nbuilder:x:100:101:builder:/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nbuilder:x:101:\n").unwrap();
    Ok(())
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn write_project(dir: &Path) {
    for sub in ["components", "recipes"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("imagesmith.yaml"),
        "kind: project\nname: rootless\nos: [debian12]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("recipes/tiny.yaml"),
        "kind: recipe\nname: tiny\ndescription: A busybox image built rootless\nimage_type: container\nos: debian12\nbase_image: debian:12\nversion: 1.0.0\ncomponents:\n  owned_files: 1.0.0\n",
    )
    .unwrap();
    // A step gives a file to uid 100, file actions create and give files to `builder`,
    // a step deletes a file of the base (a whiteout)
    std::fs::write(
        dir.join("components/owned_files.yaml"),
        r#"kind: component
name: owned_files
description: Files owned by a non-root user, file actions and a deletion
category: security
versions:
  syntax: semver
  default: 1.0.0
  supported: [1.0.0]
platforms:
  debian12:
    artifact:
      type: package
      names: [busybox]
    document:
      name: owned-files
      schemaVersion: "1.0"
      phases:
        - name: build
          steps:
            - name: Chown
              action: ExecuteBash
              inputs:
                commands:
                  - set -e
                  - mkdir -p /srv/data
                  - echo hi > /srv/data/by-step
                  - chown 100:101 /srv/data/by-step
                  - rm /bin/ls
            - name: Create
              action: CreateFile
              inputs:
                - path: /srv/data/by-action
                  content: hello
                  owner: builder
                  group: builder
            - name: Own
              action: SetFileOwner
              inputs:
                - path: /srv/data
                  owner: builder
                  group: builder
        - name: validate
          steps:
            - name: SeenInside
              action: ExecuteBash
              inputs:
                commands:
                  - set -e
                  - test "$(stat -c %u:%g /srv/data/by-step)" = 100:101
                  - test "$(stat -c %u:%g /srv/data/by-action)" = 100:101
"#,
    )
    .unwrap();
    imagesmith_cli::project::lock_project(dir).expect("the project locks");
}

/// `imagesmith build` as the test user, through a copy of this test binary's command-line
/// child (`e2e::cli_child`)
pub(super) fn build_as_user(account: &Account, work: &Path, path: &str, args: &[&str]) -> Run {
    build_as_user_with(account, work, path, args, false)
}

/// [`build_as_user`], with the network (the build's proxy) when `network`
pub(super) fn build_as_user_with(
    account: &Account,
    work: &Path,
    path: &str,
    args: &[&str],
    network: bool,
) -> Run {
    let mut all: Vec<String> = vec![
        "build".into(),
        "--cache-dir".into(),
        work.join("cache").display().to_string(),
        "--json".into(),
        "--base".into(),
        format!("debian:12=dir:{}", work.join("rootfs").display()),
    ];
    if !network {
        all.push("--no-network".into());
    }
    all.extend(args.iter().map(|arg| (*arg).to_owned()));
    let started = Instant::now();
    // Found on this process's PATH: the child's may lack it on purpose
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .unwrap_or("setpriv");
    let output = Command::new(setpriv)
        .arg(format!("--reuid={}", account.uid))
        .arg(format!("--regid={}", account.gid))
        .arg("--init-groups")
        .arg("--")
        .arg(work.join("it"))
        .args([
            "--exact",
            "e2e::cli_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env("PATH", path)
        .env("HOME", work)
        .env("NO_COLOR", "1")
        .env("IMAGESMITH_E2E_CHILD", serde_json::to_string(&all).unwrap())
        .current_dir(work.join("project"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

pub(super) struct Run {
    pub(super) code: i32,
    pub(super) stdout: String,
    pub(super) stderr: String,
    pub(super) seconds: f64,
}

/// (path, uid, gid, size) of every entry of a gzip layer, read from the tar headers
fn layer_entries(blob: &Path) -> Vec<(String, u64, u64, u64)> {
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(blob).unwrap())
        .read_to_end(&mut tar)
        .unwrap();
    let octal = |field: &[u8]| {
        let text = String::from_utf8_lossy(field);
        u64::from_str_radix(text.trim_matches(|c: char| c == '\0' || c == ' '), 8).unwrap_or(0)
    };
    let mut entries = Vec::new();
    let mut offset = 0;
    while offset + 512 <= tar.len() && tar[offset] != 0 {
        let header = &tar[offset..offset + 512];
        let name = String::from_utf8_lossy(&header[..100])
            .trim_end_matches('\0')
            .to_owned();
        let size = octal(&header[124..136]);
        entries.push((
            name,
            octal(&header[108..116]),
            octal(&header[116..124]),
            size,
        ));
        offset += 512 + size.div_ceil(512) as usize * 512;
    }
    entries
}

/// The layer blobs of the image in an OCI layout, base first
fn layers(layout: &Path) -> Vec<PathBuf> {
    let read = |path: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let blob = |digest: &serde_json::Value| {
        let digest = digest.as_str().unwrap();
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index = read(layout.join("index.json"));
    let manifest = read(blob(&index["manifests"][0]["digest"]));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| blob(&layer["digest"]))
        .collect()
}

/// Names, modes, owners and contents under `dir`: what must not change
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, u32, u32, Vec<u8>)> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        let content = if metadata.is_file() {
            std::fs::read(&path).unwrap()
        } else if metadata.is_symlink() {
            std::fs::read_link(&path)
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else {
            Vec::new()
        };
        if metadata.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
        found.insert(
            path,
            (metadata.mode(), metadata.uid(), metadata.gid(), content),
        );
    }
    found
}

pub(super) fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains(&dir))
        .map(str::to_owned)
        .collect()
}

#[test]
fn rootless_build_maps_owners_and_whiteouts() {
    let Some(account) = account() else { return };
    let work = tempfile::Builder::new()
        .prefix("imagesmith-rootless-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let work = work.path();
    if let Err(reason) = rootfs(&work.join("rootfs")) {
        unavailable(reason);
        return;
    }
    write_project(&work.join("project"));
    // The checkout may be where the user cannot reach (`/root`): a copy of this binary runs
    std::fs::copy(std::env::current_exe().unwrap(), work.join("it")).unwrap();
    let chown = Command::new("chown")
        .arg("-R")
        .arg(format!("{}:{}", account.uid, account.gid))
        .arg(work)
        .status()
        .unwrap();
    assert!(chown.success());
    set_mode(work, 0o755);
    // A base file of the image's user 100:101: on the host, an id of the user's range
    let subgid = range_start("/etc/subgid").unwrap();
    let base_owned = work.join("rootfs/etc/builder-owned");
    std::fs::write(&base_owned, "base\n").unwrap();
    std::os::unix::fs::chown(
        &base_owned,
        Some((account.subuid + 99) as u32),
        Some((subgid + 100) as u32),
    )
    .unwrap();
    let base_before = snapshot(&work.join("rootfs"));
    let host_paths = ["/srv/data", "/srv/data/by-step", "/bin/.wh.ls"];
    let host_before: Vec<bool> = host_paths.iter().map(|p| Path::new(p).exists()).collect();
    let path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

    // 1. With the subordinate range
    let out = work.join("out");
    let run = build_as_user(
        &account,
        work,
        path,
        &["--output", &out.display().to_string()],
    );
    eprintln!("rootless build: {:.1}s", run.seconds);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let entries = layer_entries(layers(&out.join("tiny")).last().unwrap());
    let owner = |name: &str| {
        entries
            .iter()
            .find(|entry| entry.0 == name)
            .map(|entry| (entry.1, entry.2))
            .unwrap_or_else(|| panic!("no `{name}` in the layer: {entries:?}"))
    };
    // Owners as the image sees them, not the host's subordinate ids
    assert_eq!(owner("srv/data/by-step"), (100, 101));
    assert_eq!(owner("srv/data/by-action"), (100, 101));
    assert_eq!(owner("srv/data"), (100, 101));
    assert_eq!(owner("srv"), (0, 0));
    // The deletion is an OCI whiteout, not a character device
    assert_eq!(owner("bin/.wh.ls"), (0, 0));
    assert!(!entries.iter().any(|entry| entry.0 == "bin/ls"));
    // The base was imported and extracted inside the namespace too: its layer records the
    // image's owner, its extracted copy has the host's
    let base_layer = layers(&out.join("tiny"))[0].clone();
    let base_entries = layer_entries(&base_layer);
    assert!(
        base_entries
            .iter()
            .any(|entry| entry.0 == "etc/builder-owned" && (entry.1, entry.2) == (100, 101)),
        "{base_entries:?}"
    );
    let extracted = std::fs::read_dir(work.join("cache/b"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("etc/builder-owned"))
        .find(|path| path.exists())
        .expect("the extracted base");
    let extracted = std::fs::metadata(extracted).unwrap();
    assert_eq!(
        (u64::from(extracted.uid()), u64::from(extracted.gid())),
        (account.subuid + 99, subgid + 100)
    );
    // On the host, the same files belong to the user's subordinate range
    let kept = std::fs::read_dir(work.join("cache/u"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|dir| dir.join("srv/data/by-step").exists())
        .expect("the kept upper directory");
    let by_step = std::fs::metadata(kept.join("srv/data/by-step")).unwrap();
    assert_eq!(
        (u64::from(by_step.uid()), u64::from(by_step.gid())),
        (
            account.subuid + 99,
            range_start("/etc/subgid").unwrap() + 100
        )
    );
    assert_eq!(
        std::fs::metadata(kept.join("srv")).unwrap().uid(),
        account.uid
    );

    // Nothing outside the build's own directories changed, and no mount is left
    assert_eq!(snapshot(&work.join("rootfs")), base_before);
    let host_after: Vec<bool> = host_paths.iter().map(|p| Path::new(p).exists()).collect();
    assert_eq!(host_after, host_before);
    assert!(Path::new("/bin/ls").exists() || Path::new("/usr/bin/ls").exists());
    assert_eq!(mounts_under(work), Vec::<String>::new());

    // 2. Again: every layer from the cache the user wrote
    let run = build_as_user(&account, work, path, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("(1 layers from cache, 0 built)"),
        "{}",
        run.stderr
    );

    // 3. Without newuidmap only root is mapped: a base with another user's file cannot be
    // extracted, and says how to get subordinate ids
    std::fs::remove_dir_all(work.join("cache")).unwrap();
    let run = build_as_user(&account, work, "/nonexistent", &[]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    for expected in [
        "only root is mapped",
        "this user namespace maps only uids 0 and gids 0",
        "usermod --add-subuids",
    ] {
        assert!(run.stderr.contains(expected), "{expected}: {}", run.stderr);
    }

    // 4. With a base of root's files only, the build fails at the first step giving a file
    // to another user, with the same hint
    std::fs::remove_file(&base_owned).unwrap();
    std::fs::remove_dir_all(work.join("cache")).unwrap();
    let run = build_as_user(&account, work, "/nonexistent", &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    for expected in [
        "step `Chown` of phase `build` failed",
        "Invalid argument",
        "/etc/subuid",
        "usermod --add-subuids",
    ] {
        assert!(run.stderr.contains(expected), "{expected}: {}", run.stderr);
    }
}

/// Issue 8: in a rootless build too, a step with the network has a namespace of its own
/// (only `lo`) whose one way out is the build's proxy, served from the host on the socket
/// the sandbox made inside it (no slirp4netns); the project's egress allow-list reaches the
/// proxy, which refuses and logs every other host. Nothing leaves this machine.
#[test]
fn rootless_steps_with_the_network_reach_only_the_proxy() {
    let Some(account) = account() else { return };
    let work = tempfile::Builder::new()
        .prefix("imagesmith-rootless-net-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let work = work.path();
    if let Err(reason) = rootfs(&work.join("rootfs")) {
        unavailable(reason);
        return;
    }
    let project = work.join("project");
    for sub in ["components", "recipes"] {
        std::fs::create_dir_all(project.join(sub)).unwrap();
    }
    std::fs::write(
        project.join("imagesmith.yaml"),
        "kind: project\nname: rootless-net\nos: [debian12]\nnetwork:\n  egress: [deb.debian.org]\n",
    )
    .unwrap();
    std::fs::write(
        project.join("recipes/probe.yaml"),
        "kind: recipe\nname: probe\ndescription: Probes the network of a rootless step\nimage_type: container\nos: debian12\nbase_image: debian:12\nversion: 1.0.0\ncomponents:\n  net_probe: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(
        project.join("components/net_probe.yaml"),
        r#"kind: component
name: net_probe
description: Looks at the network a build step has
category: security
versions:
  syntax: semver
  default: 1.0.0
  supported: [1.0.0]
platforms:
  debian12:
    artifact:
      type: package
      names: [busybox]
    document:
      name: net-probe
      schemaVersion: "1.0"
      phases:
        - name: build
          steps:
            - name: Probe
              action: ExecuteBash
              inputs:
                commands:
                  - set -e
                  - test "$http_proxy" = http://127.0.0.1:3128
                  - test "$https_proxy" = http://127.0.0.1:3128
                  - grep -q ' lo:' /proc/net/dev
                  - test "$(grep -c ':' /proc/net/dev)" = 1
                  - wget -Y off -O /dev/null http://127.0.0.1:3128/ 2>&1 | grep -q ' 400 '
                  - wget -O /dev/null http://evil.example/x 2>&1 | grep -q ' 403 '
                  - echo probed > /probed
"#,
    )
    .unwrap();
    imagesmith_cli::project::lock_project(&project).expect("the project locks");
    std::fs::copy(std::env::current_exe().unwrap(), work.join("it")).unwrap();
    let chown = Command::new("chown")
        .arg("-R")
        .arg(format!("{}:{}", account.uid, account.gid))
        .arg(work)
        .status()
        .unwrap();
    assert!(chown.success());
    set_mode(work, 0o755);
    let path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    let run = build_as_user_with(&account, work, path, &[], true);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let log = std::fs::read_to_string(work.join("cache/logs/http-proxy.log")).unwrap();
    assert!(log.contains("BAD GET 400 0 /"), "{log}");
    assert!(
        log.contains(
            "REFUSED GET 403 0 http://evil.example/x (`evil.example` is not in the project's egress allow-list)"
        ),
        "{log}"
    );
    assert_eq!(mounts_under(work), Vec::<String>::new());
}
