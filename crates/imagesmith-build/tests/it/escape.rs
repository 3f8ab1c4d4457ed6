//! The escape test at the level of a project (issue 8): `imagesmith build` of an image with
//! a hostile component whose build step tries the ways out of the sandbox a supply-chain
//! attack would (core_pattern and other sysctls, block and kmsg device nodes, user
//! namespaces, mount, modules, `/proc/*/root`, the kernel log, the host's interfaces and
//! loopback, and through the build's proxy the host's loopback and the metadata service),
//! rootful and rootless, with the network on as for any build. The step fails the build if
//! any attack works; the host must show no trace, and the proxy's log its two refusals.
//!
//! Every attack, with the system calls busybox cannot make (ptrace, bpf, keyctl,
//! `TIOCSTI`, packet sockets), is also tried one by one, with its error checked, by the
//! sandbox's own escape test (`imagesmith-sandbox`, `tests/it/escape.rs`).
//!
//! Needs root (the rootless half switches to the rootless test's throwaway user); skips
//! with the reason otherwise, and fails instead under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::rootless::{account, build_as_user_with, in_ci, mounts_under, rootfs, Run};

/// The hostile step's commands: each attack that works adds its name to `/escaped`
fn attacks(
    marker: &str,
    host_only: &Path,
    root_major: u32,
    root_minor: u32,
    host_port: u16,
) -> Vec<String> {
    let host_only = host_only.display();
    let attempts = [
        (
            "core_pattern",
            format!("echo '|/bin/sh -c \"touch /tmp/{marker}-core\"' > /proc/sys/kernel/core_pattern"),
        ),
        ("sysctl", String::from("sysctl -w vm.drop_caches=3")),
        ("sysrq", String::from("echo h > /proc/sysrq-trigger")),
        (
            "block_device",
            format!("mknod /tmp/disk b {root_major} {root_minor} && head -c 512 /tmp/disk | grep -q ."),
        ),
        (
            "kmsg_node",
            format!("mknod /tmp/kmsg c 1 11 && echo '{marker} kmsg' > /tmp/kmsg"),
        ),
        ("dmesg", String::from("dmesg | grep -q .")),
        ("unshare_user", String::from("unshare -U -r true")),
        (
            "unshare_user_mount",
            String::from("unshare -U -r -m mount -t tmpfs none /mnt"),
        ),
        ("mount", String::from("mount -t tmpfs none /mnt")),
        ("insmod", String::from("insmod /evil.ko")),
        ("proc_1_root", format!("test -e /proc/1/root{host_only}")),
        (
            "proc_roots",
            format!("for p in /proc/[0-9]*/root; do echo x > $p/tmp/{marker}-root; test -e $p{host_only} && exit 0; done; exit 1"),
        ),
        ("kcore", String::from("head -c 16 /proc/kcore | grep -q .")),
        ("keys", String::from("grep -q . /proc/keys")),
        ("sys_write", String::from("touch /sys/imagesmith-escape")),
        ("dev_mem", String::from("head -c 16 /dev/mem | grep -q .")),
        // The host's network: the step has a namespace of its own whose only way out is
        // the build's proxy, which refuses loopback and link-local origins
        (
            "host_interfaces",
            String::from("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | grep -qv '^lo$'"),
        ),
        (
            "host_loopback",
            format!("echo {marker} | nc -w 2 127.0.0.1 {host_port}"),
        ),
        (
            "proxy_to_host_loopback",
            format!("env no_proxy=example.invalid timeout 10 wget -O - http://127.0.0.1:{host_port}/"),
        ),
        (
            "proxy_to_metadata",
            String::from(
                "env no_proxy=example.invalid timeout 10 wget -O - http://169.254.169.254/latest/meta-data/",
            ),
        ),
    ];
    let mut commands = vec![
        String::from("rm -f /escaped"),
        String::from("head -c 64 /dev/zero > /evil.ko"),
    ];
    for (name, attempt) in attempts {
        commands.push(format!(
            "if ( {attempt} ) > /tmp/attempt 2>&1; then echo {name} >> /escaped; echo ESCAPED {name}: $(head -c 300 /tmp/attempt); else echo blocked {name}: $(head -c 300 /tmp/attempt); fi"
        ));
    }
    commands.push(String::from(
        "if [ -e /escaped ]; then cat /escaped; exit 1; fi",
    ));
    commands
}

fn write_project(dir: &Path, commands: &[String]) {
    for sub in ["components", "recipes"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("imagesmith.yaml"),
        "kind: project\nname: escape\nos: [debian12]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("recipes/hostile.yaml"),
        "kind: recipe\nname: hostile\ndescription: An image with a hostile component\nimage_type: container\nos: debian12\nbase_image: debian:12\nversion: 1.0.0\ncomponents:\n  hostile: 1.0.0\n",
    )
    .unwrap();
    let lines: String = commands
        .iter()
        .map(|command| {
            // A JSON string is a YAML double-quoted scalar
            format!(
                "                  - {}\n",
                serde_json::to_string(command).unwrap()
            )
        })
        .collect();
    std::fs::write(
        dir.join("components/hostile.yaml"),
        format!(
            r#"kind: component
name: hostile
description: A supply-chain attack in a build step
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
      name: hostile
      schemaVersion: "1.0"
      phases:
        - name: build
          steps:
            - name: Escape
              action: ExecuteBash
              inputs:
                commands:
{lines}"#
        ),
    )
    .unwrap();
    imagesmith_cli::project::lock_project(dir).expect("the project locks");
}

/// The busybox applets the attacks use, on top of the rootless test's rootfs
fn add_applets(rootfs: &Path) {
    for applet in [
        "mknod", "unshare", "mount", "insmod", "dmesg", "head", "grep", "sysctl", "touch", "tail",
        "cut", "tr", "nc", "wget", "env", "timeout",
    ] {
        let link = rootfs.join("bin").join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", link).unwrap();
        }
    }
    std::fs::create_dir_all(rootfs.join("mnt")).unwrap();
}

fn rootful_build(work: &Path) -> Run {
    let args = [
        "build",
        "--cache-dir",
        &work.join("cache").display().to_string(),
        "--json",
        "--base",
        &format!("debian:12=dir:{}", work.join("rootfs").display()),
    ]
    .map(str::to_owned);
    let started = std::time::Instant::now();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "e2e::cli_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "IMAGESMITH_E2E_CHILD",
            serde_json::to_string(&args).unwrap(),
        )
        .env("NO_COLOR", "1")
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

/// A listener on the host's 127.0.0.1 that the step must not reach (never accepted: a
/// connection would wait in its backlog, and `accept` then finds it)
fn host_listener() -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    listener
}

fn host_sysctls() -> Vec<(String, Option<String>)> {
    [
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/modprobe",
        "/proc/sys/kernel/core_uses_pid",
    ]
    .iter()
    .map(|path| (path.to_string(), std::fs::read_to_string(path).ok()))
    .collect()
}

/// Files named with `marker` where the step could have left them on the host
fn traces(marker: &str, work: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in [
        Path::new("/tmp"),
        Path::new("/var/tmp"),
        Path::new("/"),
        work,
    ] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            found.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|path| path.to_string_lossy().contains(marker)),
            );
        }
    }
    found
}

/// Whether the host's kernel log has a record with `marker`
fn kernel_log_has(marker: &str) -> bool {
    let output = Command::new("dmesg").output();
    output.is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains(marker))
}

fn prepare(work: &Path, marker: &str, host_port: u16) -> Result<(), String> {
    rootfs(&work.join("rootfs"))?;
    add_applets(&work.join("rootfs"));
    std::fs::write(work.join("host-only"), "host\n").unwrap();
    let root = nix::sys::stat::stat("/").unwrap().st_dev;
    let commands = attacks(
        marker,
        &work.join("host-only"),
        nix::sys::stat::major(root) as u32,
        nix::sys::stat::minor(root) as u32,
        host_port,
    );
    write_project(&work.join("project"), &commands);
    Ok(())
}

fn check_run(run: &Run, label: &str, work: &Path) {
    eprintln!("{label} hostile build: {:.1}s", run.seconds);
    // The step's report (`blocked NAME` or `ESCAPED NAME` for each attack) is in its log
    let log = std::fs::read_to_string(work.join("cache/logs/hostile/hostile.build.json"))
        .unwrap_or_default();
    assert_eq!(
        run.code, 0,
        "{label}: an attack of the hostile step worked (or the build broke):\n{}\n{}\n{log}",
        run.stdout, run.stderr
    );
    // The log has the commands too: only what they printed counts
    let printed =
        |text: &str| log.matches(text).count() > log.matches(&format!("echo {text}")).count();
    for name in ATTACK_NAMES {
        assert!(
            printed(&format!("blocked {name}:")),
            "{label}: {name} not blocked:\n{log}"
        );
    }
    assert!(!printed("ESCAPED"), "{label}:\n{log}");
}

/// The attacks of [`attacks`], by name
const ATTACK_NAMES: &[&str] = &[
    "core_pattern",
    "sysctl",
    "sysrq",
    "block_device",
    "kmsg_node",
    "dmesg",
    "unshare_user",
    "unshare_user_mount",
    "mount",
    "insmod",
    "proc_1_root",
    "proc_roots",
    "kcore",
    "keys",
    "sys_write",
    "dev_mem",
    "host_interfaces",
    "host_loopback",
    "proxy_to_host_loopback",
    "proxy_to_metadata",
];

fn check_host(
    before: &[(String, Option<String>)],
    marker: &str,
    work: &Path,
    listener: &std::net::TcpListener,
) {
    assert_eq!(host_sysctls(), before, "a host sysctl changed");
    // Nobody reached the host's loopback listener, directly or through the proxy, which
    // refused both origins and said so in its log
    assert!(
        listener.accept().is_err(),
        "the host's 127.0.0.1 listener was reached"
    );
    let port = listener.local_addr().unwrap().port();
    let proxy_log =
        std::fs::read_to_string(work.join("cache/logs/http-proxy.log")).unwrap_or_default();
    for origin in [
        format!("http://127.0.0.1:{port}/"),
        String::from("http://169.254.169.254/"),
    ] {
        assert!(
            proxy_log
                .lines()
                .any(|line| line.starts_with("REFUSED GET 403") && line.contains(&origin)),
            "the proxy did not refuse {origin}:\n{proxy_log}\n{}",
            std::fs::read_to_string(work.join("cache/logs/hostile/hostile.build.json"))
                .unwrap_or_default()
        );
    }
    assert_eq!(traces(marker, work), Vec::<PathBuf>::new());
    assert!(!kernel_log_has(marker), "the step wrote to the kernel log");
    assert_eq!(mounts_under(work), Vec::<String>::new());
}

/// Puts the host's core_pattern back if a broken wall let the step change it, so that a
/// failing run does not leave the machine running the step's program on every crash
struct RestoreCorePattern(Option<String>);

impl RestoreCorePattern {
    fn new() -> Self {
        Self(std::fs::read_to_string(CORE_PATTERN).ok())
    }
}

impl Drop for RestoreCorePattern {
    fn drop(&mut self) {
        if let Some(original) = &self.0 {
            if std::fs::read_to_string(CORE_PATTERN).ok().as_ref() != Some(original) {
                let _ = std::fs::write(CORE_PATTERN, original);
            }
        }
    }
}

const CORE_PATTERN: &str = "/proc/sys/kernel/core_pattern";

fn skip(reason: &str) {
    assert!(
        !in_ci(),
        "escape test prerequisites missing in CI: {reason}"
    );
    eprintln!("skipped: {reason}");
}

#[test]
fn escape_a_hostile_component_cannot_leave_a_rootful_build() {
    if !nix::unistd::geteuid().is_root() {
        return skip("not root");
    }
    if imagesmith_sandbox::in_user_namespace() {
        return skip("not in the initial user namespace");
    }
    let work = tempfile::Builder::new()
        .prefix("imagesmith-escape-build-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let marker = format!("imagesmith-escape-build-{}", std::process::id());
    let listener = host_listener();
    let port = listener.local_addr().unwrap().port();
    if let Err(reason) = prepare(work.path(), &marker, port) {
        return skip(&reason);
    }
    let before = host_sysctls();
    let _restore = RestoreCorePattern::new();
    let run = rootful_build(work.path());
    check_run(&run, "rootful", work.path());
    check_host(&before, &marker, work.path(), &listener);
}

#[test]
fn escape_a_hostile_component_cannot_leave_a_rootless_build() {
    let Some(account) = account() else { return };
    let work = tempfile::Builder::new()
        .prefix("imagesmith-escape-rootless-build-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let marker = format!("imagesmith-escape-rootless-build-{}", std::process::id());
    let listener = host_listener();
    let port = listener.local_addr().unwrap().port();
    if let Err(reason) = prepare(work.path(), &marker, port) {
        return skip(&reason);
    }
    std::fs::copy(std::env::current_exe().unwrap(), work.path().join("it")).unwrap();
    let chown = Command::new("chown")
        .arg("-R")
        .arg(format!("{}:{}", account.uid, account.gid))
        .arg(work.path())
        .status()
        .unwrap();
    assert!(chown.success());
    std::fs::set_permissions(
        work.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let before = host_sysctls();
    let _restore = RestoreCorePattern::new();
    let run = build_as_user_with(
        &account,
        work.path(),
        "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        &[],
        true,
    );
    check_run(&run, "rootless", work.path());
    check_host(&before, &marker, work.path(), &listener);
}
