//! The escape test (issue 8): a hostile build step tries every way out of the sandbox it
//! was shown to have, or that a container runtime closes, and every one must fail, rootful
//! and rootless, with the host showing no trace
//!
//! The step is a shell script over a static busybox, with a probe for what busybox cannot
//! do (ptrace, bpf, keyctl, `TIOCSTI`, packet sockets, raw namespace calls): a copy of this
//! test binary with the C libraries it loads, run as `probe` with `IMAGESMITH_ESCAPE_PROBE`
//! naming the attack. Each attack prints `blocked NAME: what happened` or `ESCAPED NAME: …`
//! (`BROKEN` when the attack itself could not run, which fails the test too).
//!
//! Rootful runs need root; the rootless run switches to the throwaway user of the build's
//! rootless test (`imagesmith-rootless-test`, created only in CI or with
//! `IMAGESMITH_TEST_CREATE_USERS=1`), whose copy of this binary re-executes itself in a
//! user namespace with its subordinate ids and runs the same attacks there. Missing
//! prerequisites skip the tests, or fail them under `CI=true`.
//!
//! Every attack runs twice: without network, and with the build's network
//! ([`Network::Proxy`]: a namespace of its own whose only way out is a listener on its
//! loopback served from the host), where the host's loopback, its interfaces and packet
//! sockets must be out of reach just the same.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use imagesmith_sandbox::{
    detect_mode, reexec_in_user_namespace, LinuxSandbox, Mode, Network, OverlayRoot, ProxyServer,
    Reexec, Sandbox, SandboxConfig,
};

const USER: &str = "imagesmith-rootless-test";
const RANGE: u64 = 65536;
const CHILD: &str = "IMAGESMITH_ESCAPE_CHILD";
const PROBE: &str = "IMAGESMITH_ESCAPE_PROBE";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Skips with a printed reason, or fails in CI
fn unavailable<T>(reason: &str) -> Option<T> {
    assert!(
        !in_ci(),
        "escape test prerequisites missing in CI: {reason}"
    );
    eprintln!("skipped: {reason}");
    None
}

/// Every attack of the hostile step but the host-network ones
const ATTACKS: &[&str] = &[
    "dev_list",
    "core_pattern",
    "core_pattern_dump",
    "sysctl_drop_caches",
    "sysctl_command",
    "sysrq_trigger",
    "proc_remount",
    "kcore",
    "keys",
    "timer_list",
    "sys_write",
    "sys_firmware",
    "dev_mem",
    "block_device_loop",
    "block_device_root_disk",
    "kmsg_node_write",
    "kmsg_node_read",
    "kmsg_dev",
    "dmesg",
    "unshare_user",
    "unshare_user_mount",
    "unshare_mount",
    "nsenter",
    "mount_tmpfs",
    "mount_proc",
    "umount_mask",
    "insmod",
    "proc_1_root",
    "proc_roots",
    "upper_dir_path",
    "probe_ptrace",
    "probe_bpf",
    "probe_keyctl",
    "probe_tty",
    "probe_tiocsti",
    "probe_packet_socket",
    "probe_raw_socket",
    "probe_user_namespace",
    "probe_setns",
    "probe_mount_api",
    "probe_modules",
    "probe_userfaultfd",
    "probe_personality",
];

/// The host-network attacks
const NETWORK_ATTACKS: &[&str] = &["host_loopback", "host_interfaces", "sys_class_net"];

/// The hostile step. Each `attack` snippet exits 0 only if the attack worked.
const SCRIPT: &str = r#"
report() { printf '%s %s: %s\n' "$1" "$2" "$(printf '%s' "$3" | tr '\n' ' ' | head -c 400)"; }
attack() {
    out=$(sh -c "$2" 2>&1)
    if [ $? -eq 0 ]; then report ESCAPED "$1" "$out"; else report blocked "$1" "$out"; fi
}
probe() {
    out=$(env IMAGESMITH_ESCAPE_PROBE="$1" /probe --exact escape::probe --nocapture --test-threads=1 2>&1)
    case "$out" in
        *PROBE-ESCAPED*) report ESCAPED "probe_$1" "$(printf '%s' "$out" | grep PROBE-)" ;;
        *PROBE-BLOCKED*) report blocked "probe_$1" "$(printf '%s' "$out" | grep PROBE-)" ;;
        *) report BROKEN "probe_$1" "$out" ;;
    esac
}
upper=$(sed -n 's/.*upperdir=\([^,]*\).*/\1/p' /proc/self/mountinfo | head -n 1)
printf '#!/bin/sh\ntouch /tmp/%s-core\n' "$MARKER" > /evil && chmod 755 /evil
head -c 64 /dev/zero > /evil.ko

attack dev_list 'test "$(ls /dev | tr "\n" " ")" != "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero "'
attack core_pattern "echo '|$upper/evil' > /proc/sys/kernel/core_pattern"
attack core_pattern_dump "echo '|/bin/sh -c \"touch /tmp/$MARKER-core\"' > /proc/sys/kernel/core_pattern; ulimit -c unlimited; sh -c 'kill -SEGV \$\$'; grep -q '$MARKER' /proc/sys/kernel/core_pattern"
attack sysctl_drop_caches 'echo 3 > /proc/sys/vm/drop_caches'
attack sysctl_command 'sysctl -w vm.drop_caches=3'
attack sysrq_trigger 'echo h > /proc/sysrq-trigger'
attack proc_remount 'mount -o remount,rw /proc/sys'
attack kcore 'test "$(head -c 16 /proc/kcore | wc -c)" -gt 0'
attack keys 'grep -q . /proc/keys'
attack timer_list 'grep -q . /proc/timer_list'
attack sys_write 'touch /sys/imagesmith-escape'
attack sys_firmware 'ls /sys/firmware | grep -q .'
attack dev_mem 'test "$(head -c 16 /dev/mem | wc -c)" -gt 0'
attack block_device_loop 'mknod /tmp/loop0 b 7 0'
attack block_device_root_disk "mknod /tmp/root-disk b $ROOT_MAJOR $ROOT_MINOR && test \"\$(head -c 512 /tmp/root-disk | wc -c)\" -gt 0"
attack kmsg_node_write "mknod /tmp/kmsg c 1 11; test -c /tmp/kmsg && echo '$MARKER kmsg node' > /tmp/kmsg"
attack kmsg_node_read 'test -c /tmp/kmsg && test "$(head -c 64 /tmp/kmsg | wc -c)" -gt 0'
attack kmsg_dev "echo '$MARKER dev kmsg' > /dev/kmsg; test -c /dev/kmsg"
attack dmesg 'dmesg | grep -q .'
attack unshare_user 'unshare -U -r true'
attack unshare_user_mount "unshare -U -r -m sh -c 'mount -t tmpfs none /mnt'"
attack unshare_mount 'unshare -m true'
attack nsenter 'nsenter -t 1 -m -u true'
attack mount_tmpfs 'mount -t tmpfs none /mnt'
attack mount_proc 'mount -t proc proc /mnt'
attack umount_mask 'umount /proc/kcore'
attack insmod 'insmod /evil.ko'
attack proc_1_root 'test -e "/proc/1/root$HOST_ONLY"'
attack proc_roots 'for p in /proc/[0-9]*/root; do echo x > "$p/tmp/$MARKER-root"; test -e "$p$HOST_ONLY" && exit 0; done; exit 1'
attack upper_dir_path "test -n '$upper' && echo x > '$upper/../$MARKER-upper'"
for name in ptrace bpf keyctl tty tiocsti packet_socket raw_socket user_namespace setns mount_api modules userfaultfd personality; do
    probe $name
done
# The host's listener never answers: a connection stays open until the timeout (143);
# refused is 1
attack host_loopback "echo '$MARKER' | timeout 5 nc -w 2 127.0.0.1 $PORT; [ \$? -ne 1 ]"
attack host_interfaces "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | grep -qv '^lo\$'"
attack sys_class_net "ls /sys/class/net 2>/dev/null | grep -qv '^lo\$'"
"#;

/// What each attack's report must also say, when blocked: evidence that the wall, not an
/// accident, stopped it (any of the texts)
fn evidence(name: &str, mode: Mode) -> &'static [&'static str] {
    let rootful = mode == Mode::Rootful;
    match name {
        "core_pattern" | "sysctl_drop_caches" => &["Read-only file system"],
        // Not every kernel has it (CONFIG_MAGIC_SYSRQ)
        "sysrq_trigger" if Path::new("/proc/sysrq-trigger").exists() => &["Read-only file system"],
        "sys_write" => &["Read-only file system"],
        "block_device_loop" | "block_device_root_disk" => &["Operation not permitted"],
        // As root the node is made, and cannot be opened (`nodev`); in a user namespace
        // it cannot be made
        "kmsg_node_write" if rootful => &["Permission denied"],
        "kmsg_node_write" => &["Operation not permitted"],
        "unshare_user" | "unshare_user_mount" | "unshare_mount" | "mount_tmpfs" | "mount_proc"
        | "umount_mask" | "proc_remount" | "insmod" | "nsenter" => {
            // busybox `mount` says EPERM as "permission denied (are you root?)"
            &[
                "Operation not permitted",
                "Permission denied",
                "permission denied",
            ]
        }
        "probe_ptrace"
        | "probe_bpf"
        | "probe_keyctl"
        | "probe_setns"
        | "probe_mount_api"
        | "probe_modules"
        | "probe_userfaultfd"
        | "probe_personality"
        | "probe_packet_socket"
        | "probe_raw_socket" => &["EPERM"],
        "probe_user_namespace" => &["unshare EPERM"],
        "probe_tty" => &["ENXIO"],
        "probe_tiocsti" => &["TIOCSTI EPERM"],
        _ => &[""],
    }
}

/// A rootfs: static busybox with its applets, `/mnt`, `/tmp`, and the probe (this binary
/// and the libraries it has loaded, at their own paths)
fn rootfs(dir: &Path) -> Result<(), String> {
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
    let io = |error: std::io::Error| error.to_string();
    for sub in ["bin", "etc", "tmp", "mnt"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io)?;
    }
    std::fs::copy(busybox, dir.join("bin/busybox")).map_err(io)?;
    let list = Command::new(busybox).arg("--list").output().map_err(io)?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).map_err(io)?;
        }
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").map_err(io)?;
    let exe = std::env::current_exe().map_err(io)?;
    std::fs::copy(&exe, dir.join("probe")).map_err(io)?;
    for library in loaded_libraries()
        .into_iter()
        .chain(["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"].map(PathBuf::from))
    {
        if !library.exists() {
            continue;
        }
        let target = dir.join(library.strip_prefix("/").map_err(|e| e.to_string())?);
        std::fs::create_dir_all(target.parent().unwrap_or(dir)).map_err(io)?;
        std::fs::copy(&library, &target).map_err(io)?;
    }
    Ok(())
}

/// The shared libraries this process has mapped
fn loaded_libraries() -> Vec<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut found: Vec<PathBuf> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter(|path| path.starts_with('/') && path.contains(".so"))
        .map(PathBuf::from)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The host's view, before and after: what no step may change
#[derive(Debug, PartialEq, Eq)]
struct HostState {
    sysctls: BTreeMap<&'static str, String>,
}

impl HostState {
    fn read() -> Self {
        let sysctls = [
            "/proc/sys/kernel/core_pattern",
            "/proc/sys/kernel/modprobe",
            "/proc/sys/kernel/core_uses_pid",
        ]
        .into_iter()
        .filter_map(|path| Some((path, std::fs::read_to_string(path).ok()?)))
        .collect();
        Self { sysctls }
    }
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

/// Names containing `marker` in `dir` (not recursive)
fn traces_in(dir: &Path, marker: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.to_string_lossy().contains(marker))
                .collect()
        })
        .unwrap_or_default()
}

/// The kernel log records containing `marker` (needs root)
fn kernel_log_with(marker: &str) -> Vec<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(mut kmsg) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut record = vec![0u8; 16384];
    loop {
        match kmsg.read(&mut record) {
            Ok(0) => break,
            Ok(read) => {
                let text = String::from_utf8_lossy(&record[..read]);
                if text.contains(marker) {
                    found.push(text.into_owned());
                }
            }
            // A record overwritten while reading
            Err(error) if error.raw_os_error() == Some(libc::EPIPE) => {}
            Err(_) => break,
        }
    }
    found
}

/// The attack reports of one run: name to (outcome, detail)
type Reports = BTreeMap<String, (String, String)>;

fn parse_reports(stdout: &str) -> Reports {
    stdout
        .lines()
        .filter_map(|line| {
            let (outcome, rest) = line.split_once(' ')?;
            if !["blocked", "ESCAPED", "BROKEN"].contains(&outcome) {
                return None;
            }
            let (name, detail) = rest.split_once(": ").unwrap_or((rest, ""));
            Some((name.to_owned(), (outcome.to_owned(), detail.to_owned())))
        })
        .collect()
}

/// Runs the hostile step in `work` (the rootfs in `work/rootfs`), returning its stdout
fn hostile_step(work: &Path, mode: Mode, network: bool, marker: &str) -> String {
    let step = format!("step-{}", if network { "net" } else { "nonet" });
    let base = work.join(step);
    let root = OverlayRoot {
        lower_dirs: vec![work.join("rootfs")],
        upper_dir: base.join("upper"),
        work_dir: base.join("work"),
        merged_dir: base.join("merged"),
    };
    let mut config = SandboxConfig::new(
        root,
        vec!["/bin/sh".to_owned(), "-c".to_owned(), SCRIPT.to_owned()],
        mode,
    );
    if network {
        // The proxy's place: a listener the host holds (connections wait in its backlog)
        config.network = Network::Proxy {
            port: 3128,
            server: ProxyServer::new(|listener| Box::new(listener)),
        };
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let root_device = std::fs::metadata("/").unwrap().dev();
    let libraries: Vec<String> = loaded_libraries()
        .iter()
        .filter_map(|path| Some(path.parent()?.display().to_string()))
        .collect();
    config.env.extend(
        [
            ("MARKER", marker.to_owned()),
            (
                "ROOT_MAJOR",
                libc::major(root_device as libc::dev_t).to_string(),
            ),
            (
                "ROOT_MINOR",
                libc::minor(root_device as libc::dev_t).to_string(),
            ),
            ("HOST_ONLY", work.join("host-only").display().to_string()),
            ("PORT", port.to_string()),
            ("LD_LIBRARY_PATH", libraries.join(":")),
        ]
        .map(|(name, value)| (name.to_owned(), value)),
    );
    let output = LinuxSandbox::new().run(&config, None).unwrap();
    let mut stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    // The host's side of the loopback attack: nobody connected
    let connected = listener.accept().is_ok();
    stdout.push_str(&format!(
        "{} host_listener: {}\n",
        if connected { "ESCAPED" } else { "blocked" },
        if connected {
            "the host's 127.0.0.1 listener was reached"
        } else {
            "no connection"
        }
    ));
    eprintln!(
        "hostile step ({mode:?}, network {network}) exited {}:\n{stdout}{}",
        output.exit_code,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Asserts that every attack of `expected` was blocked, with its evidence
fn assert_all_blocked(reports: &Reports, expected: &[&str], mode: Mode, label: &str) {
    let mut failures = Vec::new();
    for name in expected.iter().chain(["host_listener"].iter()) {
        match reports.get(*name) {
            None => failures.push(format!("{name}: no report")),
            Some((outcome, detail)) if outcome != "blocked" => {
                failures.push(format!("{outcome} {name}: {detail}"))
            }
            Some((_, detail)) => {
                let wanted = evidence(name, mode);
                if !wanted.iter().any(|text| detail.contains(text)) {
                    failures.push(format!(
                        "{name}: blocked, but without any of {wanted:?}: {detail}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{label}: {} attacks not stopped as they should be:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The checks on the host after the runs that used `marker`
fn assert_no_trace(before: &HostState, marker: &str, work: &Path) {
    assert_eq!(&HostState::read(), before, "a host sysctl changed");
    let mut traces = Vec::new();
    for dir in ["/tmp", "/var/tmp", "/", "/root"] {
        traces.extend(traces_in(Path::new(dir), marker));
    }
    traces.extend(traces_in(work, marker));
    assert_eq!(traces, Vec::<PathBuf>::new(), "files left on the host");
    assert_eq!(
        kernel_log_with(marker),
        Vec::<String>::new(),
        "the step wrote to the host's kernel log"
    );
}

fn new_marker() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    format!("imagesmith-escape-{}-{nanos}", std::process::id())
}

/// A work directory with the rootfs and a file only the host has
fn prepare(prefix: &str) -> Option<tempfile::TempDir> {
    let work = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/var/tmp")
        .unwrap();
    if let Err(reason) = rootfs(&work.path().join("rootfs")) {
        return unavailable(&reason);
    }
    std::fs::write(work.path().join("host-only"), "host\n").unwrap();
    Some(work)
}

#[test]
fn escape_rootful_every_attack_fails_and_the_host_shows_no_trace() {
    if !nix::unistd::geteuid().is_root() {
        unavailable::<()>("not root");
        return;
    }
    let mode = match detect_mode() {
        Ok(Mode::Rootful) => Mode::Rootful,
        Ok(other) => {
            unavailable::<()>(&format!("not in the initial user namespace ({other:?})"));
            return;
        }
        Err(error) => {
            unavailable::<()>(&error.to_string());
            return;
        }
    };
    let Some(work) = prepare("imagesmith-escape-") else {
        return;
    };
    let marker = new_marker();
    let before = HostState::read();
    let _restore = RestoreCorePattern::new();

    let all: Vec<&str> = ATTACKS.iter().chain(NETWORK_ATTACKS).copied().collect();
    let without = parse_reports(&hostile_step(work.path(), mode, false, &marker));
    assert_all_blocked(&without, &all, mode, "rootful, no network");
    let with = parse_reports(&hostile_step(work.path(), mode, true, &marker));
    assert_all_blocked(&with, &all, mode, "rootful, network");
    assert_no_trace(&before, &marker, work.path());
}

/// The test user with subordinate ids (as the build's rootless test makes it), or why not
fn account() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return unavailable("not root (the test switches to a throwaway user)");
    }
    for tool in ["setpriv", "newuidmap", "newgidmap", "useradd"] {
        if !["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
            .iter()
            .any(|dir| Path::new(dir).join(tool).exists())
        {
            return unavailable(&format!(
                "`{tool}` is not installed (bash .ci/install-tools)"
            ));
        }
    }
    let id = |flag: &str| -> Option<u32> {
        let output = Command::new("id").arg(flag).arg(USER).output().ok()?;
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    let has_range = |file: &str| {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.strip_prefix(&format!("{USER}:")))
            .any(|rest| {
                rest.split(':')
                    .nth(1)
                    .and_then(|count| count.trim().parse::<u64>().ok())
                    .is_some_and(|count| count >= RANGE)
            })
    };
    if id("-u").is_none() || !has_range("/etc/subuid") || !has_range("/etc/subgid") {
        let allowed = in_ci()
            || std::env::var("IMAGESMITH_TEST_CREATE_USERS").is_ok_and(|value| value == "1");
        if !allowed {
            return unavailable(&format!(
                "user `{USER}` with subordinate ids is missing; set IMAGESMITH_TEST_CREATE_USERS=1 to let the test create it on this (disposable) machine"
            ));
        }
        if id("-u").is_none() {
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
        let start = ["/etc/subuid", "/etc/subgid"]
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
            .fold(200_000, u64::max);
        for file in ["/etc/subuid", "/etc/subgid"] {
            if !has_range(file) {
                let mut text = std::fs::read_to_string(file).unwrap_or_default();
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&format!("{USER}:{start}:{RANGE}\n"));
                std::fs::write(file, text).unwrap();
            }
        }
    }
    Some((id("-u")?, id("-g")?))
}

#[test]
fn escape_rootless_every_attack_fails_and_the_host_shows_no_trace() {
    let Some((uid, gid)) = account() else { return };
    let Some(work) = prepare("imagesmith-escape-rootless-") else {
        return;
    };
    // The checkout may be where the user cannot reach (`/root`): a copy of this binary runs
    std::fs::copy(std::env::current_exe().unwrap(), work.path().join("it")).unwrap();
    let chown = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(work.path())
        .status()
        .unwrap();
    assert!(chown.success());
    std::fs::set_permissions(
        work.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let marker = new_marker();
    let before = HostState::read();
    let _restore = RestoreCorePattern::new();
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .unwrap_or("setpriv");
    let output = Command::new(setpriv)
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--init-groups")
        .arg("--")
        .arg(work.path().join("it"))
        .args([
            "--exact",
            "escape::rootless_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", work.path())
        .env(CHILD, work.path())
        .env("IMAGESMITH_ESCAPE_MARKER", &marker)
        .current_dir(work.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("rootless hostile steps:\n{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let section = |label: &str| -> Reports {
        let start = format!("== {label}\n");
        let text = stdout
            .split_once(&start)
            .map(|(_, rest)| rest.split("\n== ").next().unwrap_or(rest))
            .unwrap_or_else(|| panic!("no `{label}` section in\n{stdout}\n{stderr}"));
        parse_reports(text)
    };
    let mode = Mode::UserNamespace {
        single_id: false,
        setgroups: true,
    };
    let all: Vec<&str> = ATTACKS.iter().chain(NETWORK_ATTACKS).copied().collect();
    assert_all_blocked(&section("no network"), &all, mode, "rootless, no network");
    assert_all_blocked(&section("network"), &all, mode, "rootless, network");
    assert_no_trace(&before, &marker, work.path());
    // Make the directory removable by root's tempdir cleanup even with mode-000 dirs
    let _ = Command::new("chmod")
        .arg("-R")
        .arg("u+rwX")
        .arg(work.path())
        .status();
}

/// The rootless run's child: as the test user, re-executes itself in a user namespace and
/// runs the attacks there (does nothing unless started by the test above)
#[test]
fn rootless_child() {
    let Some(work) = std::env::var_os(CHILD).map(PathBuf::from) else {
        return;
    };
    match reexec_in_user_namespace().unwrap() {
        Reexec::Exited(code) => std::process::exit(code),
        Reexec::NotNeeded => {}
    }
    let marker = std::env::var("IMAGESMITH_ESCAPE_MARKER").unwrap();
    let mode = detect_mode().unwrap();
    assert!(
        matches!(
            mode,
            Mode::UserNamespace {
                single_id: false,
                ..
            }
        ),
        "{mode:?}"
    );
    println!("== no network");
    print!("{}", hostile_step(&work, mode, false, &marker));
    println!("== network");
    print!("{}", hostile_step(&work, mode, true, &marker));
    println!("== end");
}

/// The probe: one attack by system call, run inside the sandbox (does nothing unless
/// `IMAGESMITH_ESCAPE_PROBE` names one); prints `PROBE-BLOCKED` with the errors, or
/// `PROBE-ESCAPED`
#[test]
fn probe() {
    let Ok(attack) = std::env::var(PROBE) else {
        return;
    };
    let results = probe_attack(&attack);
    let escaped = results.iter().any(|(_, result)| result.is_ok());
    let text: Vec<String> = results
        .iter()
        .map(|(what, result)| match result {
            Ok(value) => format!("{what} succeeded ({value})"),
            Err(errno) => format!("{what} {errno:?}"),
        })
        .collect();
    println!(
        "{} {attack}: {}",
        if escaped {
            "PROBE-ESCAPED"
        } else {
            "PROBE-BLOCKED"
        },
        text.join(", ")
    );
    std::process::exit(0);
}

type Attempt = (&'static str, Result<i64, nix::errno::Errno>);

fn check(what: &'static str, result: libc::c_long) -> Attempt {
    if result < 0 {
        (what, Err(nix::errno::Errno::last()))
    } else {
        (what, Ok(result))
    }
}

fn probe_attack(attack: &str) -> Vec<Attempt> {
    use nix::errno::Errno;
    // SAFETY: each call is made with valid pointers or none; a clone that succeeds exits
    // at once in the child
    unsafe {
        match attack {
            "ptrace" => vec![
                check(
                    "PTRACE_TRACEME",
                    libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0),
                ),
                check(
                    "PTRACE_ATTACH 1",
                    libc::ptrace(libc::PTRACE_ATTACH, 1, 0, 0),
                ),
            ],
            "bpf" => {
                // BPF_MAP_CREATE of a one-entry array
                let mut attr = [0u32; 32];
                attr[0] = 2;
                attr[1] = 4;
                attr[2] = 4;
                attr[3] = 1;
                vec![check(
                    "bpf",
                    libc::syscall(libc::SYS_bpf, 0, attr.as_ptr(), 128),
                )]
            }
            "keyctl" => vec![
                check(
                    "keyctl JOIN_SESSION_KEYRING",
                    libc::syscall(libc::SYS_keyctl, 1, std::ptr::null::<u8>()),
                ),
                check(
                    "add_key",
                    libc::syscall(
                        libc::SYS_add_key,
                        c"user".as_ptr(),
                        c"imagesmith".as_ptr(),
                        c"x".as_ptr(),
                        1,
                        -2,
                    ),
                ),
            ],
            "tty" => {
                let fd = libc::open(c"/dev/tty".as_ptr(), libc::O_RDWR);
                let attempt = check("open /dev/tty", fd.into());
                if fd >= 0 {
                    let byte = b'x';
                    let injected = libc::ioctl(fd, libc::TIOCSTI, &byte);
                    return vec![attempt, check("TIOCSTI /dev/tty", injected.into())];
                }
                vec![attempt]
            }
            "tiocsti" => {
                // On a terminal of the step's own: the filter refuses the request itself
                let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
                if master < 0 {
                    return vec![check("posix_openpt", -1)];
                }
                libc::unlockpt(master);
                let byte = b'x';
                vec![
                    check("TIOCSTI", libc::ioctl(master, libc::TIOCSTI, &byte).into()),
                    check("TIOCLINUX", libc::ioctl(master, 0x541c, &byte).into()),
                ]
            }
            "packet_socket" => vec![check(
                "socket AF_PACKET",
                libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0x0300).into(),
            )],
            "raw_socket" => vec![check(
                "socket AF_INET SOCK_RAW",
                libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP).into(),
            )],
            "user_namespace" => {
                let unshared = check("unshare", libc::unshare(libc::CLONE_NEWUSER).into());
                let cloned = libc::syscall(
                    libc::SYS_clone,
                    libc::CLONE_NEWUSER | libc::SIGCHLD,
                    0,
                    0,
                    0,
                    0,
                );
                if cloned == 0 {
                    libc::_exit(0);
                }
                let cloned = check("clone", cloned);
                // Refused with ENOSYS whatever its arguments (glibc falls back to clone)
                let clone3 = check(
                    "clone3",
                    libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0),
                );
                vec![unshared, cloned, clone3]
            }
            "setns" => {
                let fd = libc::open(c"/proc/1/ns/mnt".as_ptr(), libc::O_RDONLY);
                vec![check("setns", libc::setns(fd, 0).into())]
            }
            "mount_api" => vec![
                check(
                    "mount",
                    libc::mount(
                        c"none".as_ptr(),
                        c"/mnt".as_ptr(),
                        c"tmpfs".as_ptr(),
                        0,
                        std::ptr::null(),
                    )
                    .into(),
                ),
                check(
                    "fsopen",
                    libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 0),
                ),
                check(
                    "open_tree",
                    libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c"/".as_ptr(), 1),
                ),
            ],
            "modules" => {
                let fd = libc::open(c"/evil.ko".as_ptr(), libc::O_RDONLY);
                vec![
                    check(
                        "finit_module",
                        libc::syscall(libc::SYS_finit_module, fd, c"".as_ptr(), 0),
                    ),
                    check(
                        "init_module",
                        libc::syscall(libc::SYS_init_module, [0u8; 64].as_ptr(), 64, c"".as_ptr()),
                    ),
                ]
            }
            "userfaultfd" => vec![check(
                "userfaultfd",
                libc::syscall(libc::SYS_userfaultfd, 0),
            )],
            "personality" => vec![check(
                "personality ADDR_NO_RANDOMIZE",
                libc::personality(0x0004_0000).into(),
            )],
            _ => vec![("unknown attack", Err(Errno::EINVAL))],
        }
    }
}
