//! The build's own mount and pid namespaces (issue #8): the steps, recorded without root,
//! and a real run as root (skipped with the reason otherwise, failed under `CI=true`)

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use imagesmith_sandbox::{
    execute, rootful_steps, spawn_in_namespaces, wait_forwarding_signals, Call, ForkRole,
    RecordingSyscalls, SandboxError,
};
use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;

/// What follows `unshare(NEWNS | NEWPID)` and the parent-death signal, in both paths
pub fn pid_namespace_calls() -> Vec<Call> {
    vec![
        Call::Mount {
            source: None,
            target: PathBuf::from("/"),
            fstype: None,
            flags: MsFlags::MS_SLAVE | MsFlags::MS_REC,
            data: None,
        },
        Call::Fork(ForkRole::ForwardExitAndSignals),
        Call::Fork(ForkRole::ReapAndForwardSignals),
        Call::Mount {
            source: Some(PathBuf::from("proc")),
            target: PathBuf::from("/proc"),
            fstype: Some(String::from("proc")),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            data: None,
        },
    ]
}

#[test]
fn a_rootful_build_gets_a_slave_mount_namespace_a_reaper_and_its_own_proc() {
    let recorder = RecordingSyscalls::new();
    execute(&rootful_steps(), &recorder).unwrap();
    let mut expected = vec![
        Call::Unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID),
        Call::DieWithParent,
    ];
    expected.extend(pid_namespace_calls());
    assert_eq!(recorder.calls(), expected);
}

#[test]
fn the_root_is_made_a_slave_before_anything_is_mounted_and_proc_after_the_forks() {
    let calls = {
        let recorder = RecordingSyscalls::new();
        execute(&rootful_steps(), &recorder).unwrap();
        recorder.calls()
    };
    let position = |wanted: &dyn Fn(&Call) -> bool| calls.iter().position(wanted).unwrap();
    let unshare = position(&|call| matches!(call, Call::Unshare(_)));
    let slave = position(
        &|call| matches!(call, Call::Mount { flags, .. } if flags.contains(MsFlags::MS_SLAVE)),
    );
    let reaper = position(&|call| *call == Call::Fork(ForkRole::ReapAndForwardSignals));
    let forwarder = position(&|call| *call == Call::Fork(ForkRole::ForwardExitAndSignals));
    let proc = position(
        &|call| matches!(call, Call::Mount { fstype: Some(fstype), .. } if fstype == "proc"),
    );
    // Nothing of ours propagates out: the root is a slave before any mount
    assert!(unshare < slave && slave < proc);
    // The forwarder stays outside; the reaper is pid 1; /proc is mounted by the build's
    // own process, in the new pid namespace
    assert!(forwarder < reaper && reaper < proc);
    // Every process dies with its parent: explicitly before the forks, by each fork after
    let die = position(&|call| *call == Call::DieWithParent);
    assert!(die < forwarder);
}

#[test]
fn a_failing_step_is_named_and_stops_the_setup() {
    let steps = rootful_steps();
    let proc = steps.len() - 1;
    let recorder = RecordingSyscalls::failing_at(proc, Errno::EPERM);
    assert_eq!(execute(&steps, &recorder), Err((proc, Errno::EPERM)));
    let description = steps[proc].describe();
    assert!(description.contains("`proc`"), "{description}");
    assert!(description.contains("`/proc`"), "{description}");
    let error = SandboxError::Setup {
        step: description,
        errno: Errno::EPERM,
    };
    assert!(error.to_string().contains("/proc"), "{error}");
}

/// Root, or why not (a failure under `CI=true`)
fn root_or_skip() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!("the build namespace test needs root in CI");
    }
    eprintln!("skipped: not root");
    false
}

/// Host pids of processes whose environment has `marker`
fn processes_with(marker: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                environ
                    .split(|byte| *byte == 0)
                    .any(|variable| variable == marker.as_bytes())
            })
        })
        .collect()
}

/// Waits (generously: the kernel kills a pid namespace's processes asynchronously) until
/// no process carries `marker`; returns those left
fn left_with(marker: &str) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = processes_with(marker);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir = dir.display().to_string();
    text.lines()
        .filter(|line| line.contains(&dir))
        .map(str::to_owned)
        .collect()
}

#[test]
fn as_root_the_build_is_pid_2_under_a_reaper_and_its_mounts_and_orphans_go_with_it() {
    if !root_or_skip() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let mount_point = temp.path().join("m");
    std::fs::create_dir(&mount_point).unwrap();
    let marker = format!("IMAGESMITH_NS_TEST={}", std::process::id());
    let script = format!(
        "echo pid=$$; grep NSpid /proc/self/status; mount -t tmpfs inner {dir} && touch {dir}/inside; \
         env {marker} sleep 1000 & exit 7",
        dir = mount_point.display()
    );
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let child = spawn_in_namespaces(&mut command, rootful_steps()).unwrap();
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    // Exit codes pass through: exit 7 of the build is 7 of the forwarder
    assert_eq!(output.status.code(), Some(7), "{text}");
    // The build is pid 2 of its namespace (1 is the reaper), and /proc is its namespace's
    assert!(text.contains("pid=2\n"), "{text}");
    // (the host's would show the host pid too)
    let nspid = text.lines().nth(1).unwrap_or_default();
    assert_eq!(nspid.split_whitespace().count(), 2, "{text}");
    // The orphaned `sleep 1000` died with the namespace, at once
    assert_eq!(left_with(&marker), Vec::<i32>::new());
    assert!(started.elapsed() < Duration::from_secs(60));
    // The tmpfs never reached this (the host's) mount namespace, and is gone
    assert!(mounts_under(&mount_point).is_empty());
    assert!(!mount_point.join("inside").exists());
}

#[test]
fn as_root_sigterm_to_the_outer_process_reaches_the_build_and_its_code_passes_through() {
    if !root_or_skip() {
        return;
    }
    let marker = format!("IMAGESMITH_NS_SIGNAL_TEST={}", std::process::id());
    // `exec`: the build itself (pid 2) is the one waiting for the signal
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", &format!("echo ready; exec env {marker} sleep 1000")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = spawn_in_namespaces(&mut command, rootful_steps()).unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut ready = [0u8; 6];
    std::io::Read::read_exact(&mut stdout, &mut ready).unwrap();
    // Wait until `sleep` runs, then signal the forwarder, which passes it to the reaper,
    // which passes it to the build
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_with(&marker).is_empty() {
        assert!(Instant::now() < deadline, "the build did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let forwarder = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(forwarder, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    // The build died of SIGTERM: the forwarder says `128 + 15`, as a shell would
    assert_eq!(status.code(), Some(143), "{status:?} {:?}", status.signal());
    assert_eq!(left_with(&marker), Vec::<i32>::new());
}

#[test]
fn as_root_the_outer_process_waits_and_forwards_with_the_same_code() {
    if !root_or_skip() {
        return;
    }
    let mut command = Command::new("/bin/sh");
    command.args(["-c", "exit 42"]).stdin(Stdio::null());
    let child = spawn_in_namespaces(&mut command, rootful_steps()).unwrap();
    assert_eq!(wait_forwarding_signals(child).unwrap(), 42);
}
