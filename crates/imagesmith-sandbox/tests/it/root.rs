//! Real sandboxes: need root (or rootless support), overlayfs and a static busybox; skipped
//! with a reason otherwise

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use imagesmith_sandbox::{
    detect_mode, LinuxSandbox, Mode, Network, OverlayRoot, ProxyServer, Sandbox, SandboxConfig,
    Secret,
};

/// A rootfs with busybox as /bin/sh and friends, or why it cannot be made
fn busybox_rootfs(dir: &Path) -> Result<(), String> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .ok_or("no busybox (apt-get install busybox-static)")?;
    let output = std::process::Command::new("file")
        .arg("-L")
        .arg(busybox)
        .output();
    if let Ok(output) = output {
        let text = String::from_utf8_lossy(&output.stdout);
        if text.contains("dynamically linked") {
            return Err(format!(
                "{busybox} is dynamically linked (install busybox-static)"
            ));
        }
    }
    std::fs::create_dir_all(dir.join("bin")).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir.join("etc")).map_err(|e| e.to_string())?;
    std::fs::copy(busybox, dir.join("bin/busybox")).map_err(|e| e.to_string())?;
    for applet in [
        "sh", "echo", "cat", "sleep", "ls", "hostname", "id", "grep", "touch", "chown", "su", "rm",
        "wget", "readlink",
    ] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

struct Fixture {
    _temp: tempfile::TempDir,
    lower: PathBuf,
    build: PathBuf,
    mode: Mode,
}

fn fixture() -> Option<Fixture> {
    let mode = match detect_mode() {
        Ok(mode) => mode,
        Err(error) => {
            eprintln!("skipped: {error}");
            return None;
        }
    };
    let temp = tempfile::tempdir().ok()?;
    let lower = temp.path().join("lower");
    if let Err(reason) = busybox_rootfs(&lower) {
        eprintln!("skipped: {reason}");
        return None;
    }
    let build = temp.path().join("build");
    Some(Fixture {
        _temp: temp,
        lower,
        build,
        mode,
    })
}

fn config(fixture: &Fixture, step: &str, script: &str) -> SandboxConfig {
    let base = fixture.build.join(step);
    let root = OverlayRoot {
        lower_dirs: vec![fixture.lower.clone()],
        upper_dir: base.join("upper"),
        work_dir: base.join("work"),
        merged_dir: base.join("merged"),
    };
    SandboxConfig::new(
        root,
        vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()],
        fixture.mode,
    )
}

fn upper_entries(config: &SandboxConfig) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&config.root.upper_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn writes_land_in_the_upper_dir_only() {
    let Some(fixture) = fixture() else { return };
    let mut config = config(
        &fixture,
        "one",
        "echo hello > /x; hostname; echo err >&2; cat /proc/1/comm; ls /dev",
    );
    config.log_file = Some(fixture.build.join("one.log"));
    let output = LinuxSandbox::new().run(&config, None).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.success(), "{output:?}");
    assert!(stdout.starts_with("imagesmith\n"), "{stdout}");
    // pid 1 is our init (a fork of the test binary)
    assert!(stdout.contains("null"), "{stdout}");
    assert_eq!(output.stderr, b"err\n");
    assert_eq!(
        std::fs::read_to_string(config.root.upper_dir.join("x")).unwrap(),
        "hello\n"
    );
    assert!(!fixture.lower.join("x").exists());
    assert!(!Path::new("/x").exists());
    // The /proc and /dev mount points made for the run are gone from the upper dir
    assert_eq!(upper_entries(&config), ["x"]);
    let log = std::fs::read_to_string(fixture.build.join("one.log")).unwrap();
    assert!(log.contains("err") && log.contains("imagesmith"), "{log}");

    let failing = config_with_exit(&fixture);
    let output = LinuxSandbox::new().run(&failing, None).unwrap();
    assert_eq!(output.exit_code, 3);
}

fn config_with_exit(fixture: &Fixture) -> SandboxConfig {
    config(fixture, "exit", "exit 3")
}

#[test]
fn timeout_kills_the_command() {
    let Some(fixture) = fixture() else { return };
    let mut config = config(&fixture, "slow", "sleep 30 & sleep 30");
    config.timeout = Some(Duration::from_millis(500));
    let output = LinuxSandbox::new().run(&config, None).unwrap();
    assert!(output.timed_out);
    assert!(!output.success());
    assert!(
        output.duration < Duration::from_secs(10),
        "{:?}",
        output.duration
    );
}

#[test]
fn secrets_are_readable_inside_and_absent_after() {
    let Some(fixture) = fixture() else { return };
    let mut config = config(
        &fixture,
        "secret",
        "cat /run/secrets/token; echo changed > /run/secrets/token 2>/dev/null && echo writable",
    );
    config.secrets = vec![Secret {
        name: "token".to_owned(),
        contents: b"s3cret-value\n".to_vec(),
    }];
    let output = LinuxSandbox::new().run(&config, None).unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "s3cret-value\n");
    assert!(!config.root.upper_dir.join("run/secrets/token").exists());
    assert!(
        upper_entries(&config).is_empty(),
        "{:?}",
        upper_entries(&config)
    );
}

#[test]
fn deletions_become_whiteouts_and_network_is_loopback_only() {
    let Some(fixture) = fixture() else { return };
    let config = config(&fixture, "rm", "rm /bin/ls && cat /proc/net/dev");
    let output = LinuxSandbox::new().run(&config, None).unwrap();
    assert!(output.success(), "{output:?}");
    let interfaces = String::from_utf8_lossy(&output.stdout);
    let names: Vec<&str> = interfaces
        .lines()
        .skip(2)
        .filter_map(|line| line.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(names, ["lo"], "{interfaces}");
    let whiteout = std::fs::symlink_metadata(config.root.upper_dir.join("bin/ls")).unwrap();
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0);
    assert!(fixture.lower.join("bin/ls").exists());
}

/// A tiny HTTP server on the listener the sandbox hands over: answers every request with
/// `hello from the host`, counting the connections, until the run ends
fn hello_server(served: Arc<AtomicUsize>) -> ProxyServer {
    ProxyServer::new(move |listener: TcpListener| {
        let served = Arc::clone(&served);
        let stop = Arc::new(AtomicBool::new(false));
        listener.set_nonblocking(true).unwrap();
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok((mut stream, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    served.fetch_add(1, Ordering::SeqCst);
                    stream.set_nonblocking(false).unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
                        line.clear();
                    }
                    let _ = stream.write_all(
                        b"HTTP/1.0 200 OK\r\ncontent-length: 20\r\n\r\nhello from the host\n",
                    );
                }
            })
        };
        struct Guard(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
                if let Some(thread) = self.1.take() {
                    let _ = thread.join();
                }
            }
        }
        Box::new(Guard(stop, Some(thread)))
    })
}

/// Issue 8: a step with the network reaches the build's proxy on its own loopback (served
/// from the host on the socket it made), and nothing else: not a listener on the host's
/// 127.0.0.1, no interface but `lo`, no leaked descriptor
#[test]
fn the_proxy_network_reaches_the_served_socket_and_nothing_of_the_host() {
    let Some(fixture) = fixture() else { return };
    let host_listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    host_listener.set_nonblocking(true).unwrap();
    let host_port = host_listener.local_addr().unwrap().port();
    let served = Arc::new(AtomicUsize::new(0));
    let mut config = config(
        &fixture,
        "proxy",
        &format!(
            "wget -q -O - http://127.0.0.1:3128/ && echo reached; \
             wget -q -T 5 -O - http://127.0.0.1:{host_port}/ || echo host-unreachable; \
             cat /proc/net/dev; \
             for fd in /proc/$$/fd/*; do echo \"fd $(readlink $fd)\"; done"
        ),
    );
    config.network = Network::Proxy {
        port: 3128,
        server: hello_server(Arc::clone(&served)),
    };
    let output = LinuxSandbox::new().run(&config, None).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.success(), "{output:?}");
    assert!(
        stdout.contains("hello from the host\nreached\n"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(served.load(Ordering::SeqCst), 1);
    assert!(stdout.contains("host-unreachable"), "{stdout}");
    assert!(
        host_listener.accept().is_err(),
        "the step reached the host's loopback"
    );
    let interfaces: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.split_once(':').map(|(name, _)| name.trim()))
        .filter(|name| !name.is_empty() && !name.contains(' ') && !name.starts_with("fd"))
        .collect();
    assert_eq!(interfaces, ["lo"], "{stdout}");
    let fds: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("fd "))
        .collect();
    assert!(!fds.is_empty(), "{stdout}");
    assert!(
        !fds.iter().any(|line| line.contains("socket:")),
        "a socket leaked into the step: {fds:?}"
    );
    // Nothing of the network setup is left in the layer
    assert!(
        upper_entries(&config).is_empty(),
        "{:?}",
        upper_entries(&config)
    );
}

/// The listener arrives before the command can use it: a step that connects at once, many
/// times over, never finds the port closed
#[test]
fn the_proxy_socket_listens_before_the_command_starts() {
    let Some(fixture) = fixture() else { return };
    let served = Arc::new(AtomicUsize::new(0));
    let mut config = config(
        &fixture,
        "early",
        "for i in 1 2 3 4 5; do wget -q -O - http://127.0.0.1:8080/ || exit 7; done",
    );
    config.network = Network::Proxy {
        port: 8080,
        server: hello_server(Arc::clone(&served)),
    };
    for _ in 0..3 {
        let output = LinuxSandbox::new().run(&config, None).unwrap();
        assert!(output.success(), "{output:?}");
    }
    assert_eq!(served.load(Ordering::SeqCst), 15);
}

#[test]
fn steps_keep_dockers_capabilities_under_no_new_privs_and_seccomp() {
    let Some(fixture) = fixture() else { return };
    let config = config(
        &fixture,
        "caps",
        "grep -E '^(CapBnd|CapEff|CapPrm|CapInh|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; \
         touch /owned && chown 100:101 /owned && echo 'builder:x:100:101::/:/bin/sh' > /etc/passwd \
         && su -s /bin/sh -c 'id -u' builder",
    );
    let output = LinuxSandbox::new().run(&config, None).unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}:")))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_owned()
    };
    // Docker's default set without CAP_NET_RAW, and nothing else anywhere
    for name in ["CapBnd", "CapEff", "CapPrm"] {
        assert_eq!(field(name), "00000000a80405fb", "{name}: {text}");
    }
    assert_eq!(field("CapInh"), "0000000000000000");
    assert_eq!(field("CapAmb"), "0000000000000000");
    assert_eq!(field("NoNewPrivs"), "1");
    assert_eq!(field("Seccomp"), "2");
    if fixture.mode.single_id() {
        // Only root exists in a single-id user namespace
        assert_eq!(output.exit_code, 1);
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("Invalid argument"),
            "{output:?}"
        );
        return;
    }
    // What package managers need is still there: chown, and switching to another user
    assert!(output.success(), "{output:?}");
    assert!(text.trim_end().ends_with("\n100"), "{text}");
    use std::os::unix::fs::MetadataExt;
    let owned = std::fs::metadata(config.root.upper_dir.join("owned")).unwrap();
    assert_eq!((owned.uid(), owned.gid()), (100, 101));
}
