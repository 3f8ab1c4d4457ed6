//! The sequence of privileged calls for a config, recorded without root

use std::path::{Path, PathBuf};

use imagesmith_sandbox::{
    execute, kernel_paths, kernel_walls, mount_points, plan, Call, ForkRole, IdMap, Mode,
    MountPoint, Network, OverlayRoot, ProxyServer, RecordingSyscalls, SandboxConfig, SandboxError,
    Secret, SingleIdReason, Step, SubordinateRange, UserNamespacePlan, MASKED_PATHS,
    READ_ONLY_PATHS,
};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;

fn config(mode: Mode) -> SandboxConfig {
    let root = OverlayRoot {
        lower_dirs: vec![PathBuf::from("/b/layer2"), PathBuf::from("/b/layer1")],
        upper_dir: PathBuf::from("/b/upper"),
        work_dir: PathBuf::from("/b/work"),
        merged_dir: PathBuf::from("/b/merged"),
    };
    SandboxConfig::new(root, vec!["/bin/sh".to_owned()], mode)
}

fn present(paths: &[(&str, bool)]) -> Vec<MountPoint> {
    paths
        .iter()
        .map(|(path, directory)| MountPoint {
            path: PathBuf::from(path),
            directory: *directory,
            missing: false,
        })
        .collect()
}

fn record(config: &SandboxConfig, points: &[MountPoint]) -> Vec<Call> {
    let steps = plan(config, points).unwrap();
    let recorder = RecordingSyscalls::new();
    execute(&steps, &recorder).unwrap();
    recorder.calls()
}

/// The calls after the reaper fork: what the command process does before `exec`
fn hardening(calls: &[Call]) -> Vec<Call> {
    let reap = calls
        .iter()
        .position(|call| *call == Call::Fork(ForkRole::Reap))
        .expect("a reaper fork");
    calls[reap + 1..].to_vec()
}

fn seccomp_length() -> usize {
    imagesmith_sandbox::seccomp_program().map_or(0, |program| program.instructions.len())
}

fn mounts(calls: &[Call]) -> Vec<(String, Option<String>)> {
    calls
        .iter()
        .filter_map(|call| match call {
            Call::Mount { target, fstype, .. } => {
                Some((target.display().to_string(), fstype.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn rootful_without_network() {
    let config = config(Mode::Rootful);
    let calls = record(&config, &present(&[("/proc", true), ("/dev", true)]));
    assert_eq!(
        calls[0],
        Call::Unshare(
            CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWUTS
                | CloneFlags::CLONE_NEWIPC
                | CloneFlags::CLONE_NEWPID
                | CloneFlags::CLONE_NEWNET
        )
    );
    assert_eq!(
        calls[1],
        Call::Mount {
            source: None,
            target: PathBuf::from("/"),
            fstype: None,
            flags: MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            data: None,
        }
    );
    assert_eq!(calls[2], Call::Fork(ForkRole::ForwardExit));
    assert_eq!(calls[3], Call::Sethostname("imagesmith".to_owned()));
    assert_eq!(calls[4], Call::LoopbackUp);
    assert_eq!(
        calls[5],
        Call::Mount {
            source: Some(PathBuf::from("overlay")),
            target: PathBuf::from("/b/merged"),
            fstype: Some("overlay".to_owned()),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some(
                "lowerdir=/b/layer2:/b/layer1,upperdir=/b/upper,workdir=/b/work,redirect_dir=off,metacopy=off,index=off"
                    .to_owned()
            ),
        }
    );
    let mounts = mounts(&calls);
    let targets: Vec<&str> = mounts.iter().map(|(target, _)| target.as_str()).collect();
    // The read-only and masked paths of /proc and /sys this kernel has come right after
    let walls: Vec<String> = kernel_paths(READ_ONLY_PATHS)
        .iter()
        .flat_map(|(path, _)| [path, path])
        .chain(kernel_paths(MASKED_PATHS).iter().map(|(path, _)| path))
        .map(|path| format!("/b/merged{}", path.display()))
        .collect();
    assert_eq!(targets[4..4 + walls.len()], walls);
    assert_eq!(
        [&targets[..4], &targets[4 + walls.len()..]].concat(),
        [
            "/",
            "/b/merged",
            "/b/merged/proc",
            "/b/merged/sys",
            "/b/merged/dev",
            "/b/merged/dev/null",
            "/b/merged/dev/zero",
            "/b/merged/dev/full",
            "/b/merged/dev/random",
            "/b/merged/dev/urandom",
            "/b/merged/dev/tty",
            "/b/merged/dev/shm",
            "/b/merged/dev/pts",
            ".",
        ]
    );
    // pivot_root then the reaper fork, then the command's own cwd and ids, then hardening
    let reap = calls
        .iter()
        .position(|call| *call == Call::Fork(ForkRole::Reap))
        .unwrap();
    let before = &calls[reap - 5..reap];
    assert_eq!(before[0], Call::Chdir(PathBuf::from("/b/merged")));
    assert_eq!(
        before[1],
        Call::PivotRoot(PathBuf::from("."), PathBuf::from("."))
    );
    assert!(matches!(&before[3], Call::Umount(path, _) if path == Path::new(".")));
    assert_eq!(before[4], Call::Chdir(PathBuf::from("/")));
    assert_eq!(
        hardening(&calls),
        [
            Call::Chdir(PathBuf::from("/")),
            Call::DropBoundingCapabilities(0xa804_05fb),
            Call::SetIds(0, 0, true),
            Call::LimitCapabilities(0xa804_05fb),
            Call::NoNewPrivileges,
            Call::Seccomp(seccomp_length()),
        ]
    );
    // Nothing is created in the image when every mount point exists
    assert!(!calls
        .iter()
        .any(|call| matches!(call, Call::Mkdir(path, _) if !path.starts_with("/b/merged/dev"))));
}

fn proxy_network(port: u16) -> Network {
    Network::Proxy {
        port,
        server: ProxyServer::new(|listener| Box::new(listener)),
    }
}

/// Issue 8: a step with the network gets a namespace of its own too, whose only way out is
/// the proxy's listener, made in it after loopback is up; it no longer gets the host's
/// `/etc/resolv.conf` (the proxy resolves names)
#[test]
fn the_network_is_a_namespace_of_its_own_with_the_proxys_listener() {
    for mode in [
        Mode::Rootful,
        Mode::UserNamespace {
            single_id: false,
            setgroups: true,
        },
        Mode::Rootless {
            uid: 1000,
            gid: 1000,
        },
    ] {
        let mut config = config(mode);
        config.network = proxy_network(3128);
        assert!(!mount_points(&config)
            .iter()
            .any(|(path, _)| path == Path::new("/etc/resolv.conf")));
        let calls = record(&config, &present(&[("/proc", true), ("/dev", true)]));
        let unshare = calls
            .iter()
            .position(|call| matches!(call, Call::Unshare(flags) if flags.contains(CloneFlags::CLONE_NEWNET)))
            .expect("a network namespace");
        let loopback = calls
            .iter()
            .position(|call| *call == Call::LoopbackUp)
            .unwrap();
        let listen = calls
            .iter()
            .position(|call| *call == Call::ListenProxy(3128))
            .expect("the proxy's listener");
        let reap = calls
            .iter()
            .position(|call| *call == Call::Fork(ForkRole::Reap))
            .unwrap();
        assert!(
            unshare < loopback && loopback < listen && listen < reap,
            "{calls:?}"
        );
        assert_eq!(
            calls
                .iter()
                .filter(|call| matches!(call, Call::ListenProxy(_)))
                .count(),
            1
        );
        assert!(!calls.iter().any(|call| matches!(call, Call::Mount { source: Some(source), .. } if source == Path::new("/etc/resolv.conf"))));
    }
    // Without the network: the same namespace, no listener
    let calls = record(
        &config(Mode::Rootful),
        &present(&[("/proc", true), ("/dev", true)]),
    );
    assert!(!calls
        .iter()
        .any(|call| matches!(call, Call::ListenProxy(_))));
    // Port 0 would listen on a port nobody was told
    let mut config = config(Mode::Rootful);
    config.network = proxy_network(0);
    assert!(matches!(
        plan(&config, &present(&[("/proc", true), ("/dev", true)])),
        Err(SandboxError::InvalidConfig { .. })
    ));
}

#[test]
fn secrets_and_missing_mount_points() {
    let mut config = config(Mode::Rootful);
    config.network = proxy_network(3128);
    config.dev_pts = false;
    config.secrets = vec![Secret {
        name: "token".to_owned(),
        contents: b"s3cret".to_vec(),
    }];
    let mut points = present(&[("/proc", true), ("/dev", true)]);
    points.push(MountPoint {
        path: PathBuf::from("/run/secrets"),
        directory: true,
        missing: true,
    });
    let calls = record(&config, &points);
    assert!(matches!(&calls[0], Call::Unshare(flags) if flags.contains(CloneFlags::CLONE_NEWNET)));
    assert!(calls.contains(&Call::LoopbackUp));
    assert!(calls.contains(&Call::Mkdir(PathBuf::from("/b/merged/run"), 0o755)));
    assert!(calls.contains(&Call::Mkdir(PathBuf::from("/b/merged/run/secrets"), 0o755)));
    let secret_at = calls
        .iter()
        .position(|call| {
            *call
                == Call::WriteFile(
                    PathBuf::from("/b/merged/run/secrets/token"),
                    0o444,
                    b"s3cret".to_vec(),
                )
        })
        .unwrap();
    // The secret is written on the tmpfs, which is then made read-only
    assert!(
        matches!(&calls[secret_at - 1], Call::Mount { fstype: Some(fstype), target, .. }
        if fstype == "tmpfs" && target == Path::new("/b/merged/run/secrets"))
    );
    assert!(matches!(&calls[secret_at + 1], Call::Mount { flags, .. }
        if flags.contains(MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY)));
    assert!(!mounts(&calls)
        .iter()
        .any(|(target, _)| target.ends_with("/dev/pts")));
}

#[test]
fn rootless_maps_ids_first_and_uses_userxattr() {
    let config = config(Mode::Rootless {
        uid: 1000,
        gid: 1000,
    });
    let calls = record(&config, &present(&[("/proc", true), ("/dev", true)]));
    assert_eq!(calls[0], Call::Unshare(CloneFlags::CLONE_NEWUSER));
    assert_eq!(
        calls[1..5],
        [
            Call::WriteFile(
                PathBuf::from("/proc/self/setgroups"),
                0o644,
                b"deny".to_vec()
            ),
            Call::WriteFile(
                PathBuf::from("/proc/self/uid_map"),
                0o644,
                b"0 1000 1\n".to_vec()
            ),
            Call::WriteFile(
                PathBuf::from("/proc/self/gid_map"),
                0o644,
                b"0 1000 1\n".to_vec()
            ),
            // Entering the user namespace cleared the parent-death signal
            Call::DieWithParent,
        ]
    );
    assert!(calls
        .iter()
        .any(|call| matches!(call, Call::Mount { data: Some(data), .. }
        if data.ends_with(",userxattr,metacopy=off,index=off") && !data.contains("redirect_dir"))));
    let tail = hardening(&calls);
    assert_eq!(tail[2], Call::SetIds(0, 0, false));
    assert_eq!(tail.last(), Some(&Call::Seccomp(seccomp_length())));

    let mut other_user = config.clone();
    other_user.uid = 1000;
    let error = plan(&other_user, &[]).unwrap_err();
    assert!(matches!(error, SandboxError::InvalidConfig { .. }));
    assert!(error.to_string().contains("--add-subuids"), "{error}");
}

#[test]
fn in_a_user_namespace_nothing_is_unshared_twice() {
    let full = Mode::UserNamespace {
        single_id: false,
        setgroups: true,
    };
    let mut config = config(full);
    config.uid = 100;
    config.gid = 101;
    let calls = record(&config, &present(&[("/proc", true), ("/dev", true)]));
    assert!(!calls.iter().any(
        |call| matches!(call, Call::Unshare(flags) if flags.contains(CloneFlags::CLONE_NEWUSER))
    ));
    assert!(calls.iter().any(
        |call| matches!(call, Call::Mount { data: Some(data), .. } if data.contains(",userxattr,"))
    ));
    // Other users exist in a namespace with subordinate ids; capabilities are dropped from
    // the bounding set before the switch (which clears the permitted ones anyway)
    assert_eq!(
        hardening(&calls)[1..4],
        [
            Call::DropBoundingCapabilities(0xa804_05fb),
            Call::SetIds(100, 101, true),
            Call::LimitCapabilities(0xa804_05fb),
        ]
    );

    let single = Mode::UserNamespace {
        single_id: true,
        setgroups: false,
    };
    let mut config = config.clone();
    config.mode = single;
    let error = plan(&config, &[]).unwrap_err();
    assert!(error.to_string().contains("only root is mapped"), "{error}");
    config.uid = 0;
    config.gid = 0;
    let calls = record(&config, &present(&[("/proc", true), ("/dev", true)]));
    assert_eq!(hardening(&calls)[2], Call::SetIds(0, 0, false));
}

#[test]
fn the_reexecuted_child_waits_for_its_maps_or_writes_a_single_one() {
    let full = UserNamespacePlan {
        uid_map: IdMap::with_subordinate(
            1000,
            &[SubordinateRange {
                start: 100000,
                count: 65536,
            }],
        ),
        gid_map: IdMap::single(1000),
        single_id: None,
    };
    let recorder = RecordingSyscalls::new();
    execute(&full.child_steps((7, 8)), &recorder).unwrap();
    assert_eq!(
        recorder.calls(),
        [
            Call::Unshare(CloneFlags::CLONE_NEWUSER),
            Call::AwaitIdMaps,
            Call::SetIds(0, 0, true),
            Call::Unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID),
            Call::DieWithParent,
        ]
        .into_iter()
        .chain(crate::namespaces::pid_namespace_calls())
        .collect::<Vec<_>>()
    );

    let single = UserNamespacePlan {
        uid_map: IdMap::single(1000),
        gid_map: IdMap::single(1001),
        single_id: Some(SingleIdReason::NoSubordinateIds {
            user: "alice".into(),
        }),
    };
    let recorder = RecordingSyscalls::new();
    execute(&single.child_steps((7, 8)), &recorder).unwrap();
    assert_eq!(
        recorder.calls(),
        [
            Call::Unshare(CloneFlags::CLONE_NEWUSER),
            Call::WriteFile(
                PathBuf::from("/proc/self/setgroups"),
                0o644,
                b"deny".to_vec()
            ),
            Call::WriteFile(
                PathBuf::from("/proc/self/uid_map"),
                0o644,
                b"0 1000 1\n".to_vec()
            ),
            Call::WriteFile(
                PathBuf::from("/proc/self/gid_map"),
                0o644,
                b"0 1001 1\n".to_vec()
            ),
            Call::SetIds(0, 0, false),
            Call::Unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID),
            Call::DieWithParent,
        ]
        .into_iter()
        .chain(crate::namespaces::pid_namespace_calls())
        .collect::<Vec<_>>()
    );
}

#[test]
fn a_failing_hardening_step_stops_the_setup() {
    let config = config(Mode::Rootful);
    let steps = plan(&config, &present(&[("/proc", true), ("/dev", true)])).unwrap();
    let all = {
        let recorder = RecordingSyscalls::new();
        execute(&steps, &recorder).unwrap();
        recorder.calls()
    };
    let at = all
        .iter()
        .position(|call| *call == Call::NoNewPrivileges)
        .unwrap();
    let recorder = RecordingSyscalls::failing_at(at, nix::errno::Errno::EPERM);
    let (index, errno) = execute(&steps, &recorder).unwrap_err();
    assert_eq!(errno, nix::errno::Errno::EPERM);
    assert_eq!(steps[index].describe(), "setting no_new_privs");
    // Nothing after it ran: no filter without no_new_privs
    assert!(!recorder
        .calls()
        .iter()
        .any(|call| matches!(call, Call::Seccomp(_))));
}

#[test]
fn failing_call_is_reported_by_step() {
    let config = config(Mode::Rootful);
    let steps = plan(&config, &present(&[("/proc", true), ("/dev", true)])).unwrap();
    let recorder = RecordingSyscalls::failing_at(5, nix::errno::Errno::EINVAL);
    let (index, errno) = execute(&steps, &recorder).unwrap_err();
    assert_eq!(errno, nix::errno::Errno::EINVAL);
    assert!(
        steps[index].describe().contains("`overlay` on `/b/merged`"),
        "{}",
        steps[index].describe()
    );
}

#[test]
fn bad_configs_are_refused() {
    let mut no_lower = config(Mode::Rootful);
    no_lower.root.lower_dirs.clear();
    assert!(matches!(
        plan(&no_lower, &[]),
        Err(SandboxError::InvalidConfig { .. })
    ));
    let mut comma = config(Mode::Rootful);
    comma.root.upper_dir = PathBuf::from("/b/up,per");
    assert!(matches!(
        plan(&comma, &[]),
        Err(SandboxError::InvalidConfig { .. })
    ));
    let mut secret = config(Mode::Rootful);
    secret.secrets = vec![Secret {
        name: "../escape".to_owned(),
        contents: Vec::new(),
    }];
    assert!(matches!(
        plan(&secret, &[]),
        Err(SandboxError::InvalidConfig { .. })
    ));
}

/// The mount calls of `calls` with their flags and types
fn mount_flags(calls: &[Call]) -> Vec<(String, Option<String>, MsFlags)> {
    calls
        .iter()
        .filter_map(|call| match call {
            Call::Mount {
                target,
                fstype,
                flags,
                ..
            } => Some((target.display().to_string(), fstype.clone(), *flags)),
            _ => None,
        })
        .collect()
}

#[test]
fn proc_paths_are_read_only_or_masked_as_runc_does() {
    let steps = kernel_walls(
        Path::new("/m"),
        &[(PathBuf::from("/proc/sys"), true)],
        &[
            (PathBuf::from("/proc/kcore"), false),
            (PathBuf::from("/proc/acpi"), true),
        ],
    )
    .unwrap();
    let recorder = RecordingSyscalls::new();
    execute(&steps, &recorder).unwrap();
    let walled = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    assert_eq!(
        recorder.calls(),
        [
            // Bound onto itself, then the bind made read-only with the flags /proc has
            Call::Mount {
                source: Some(PathBuf::from("/m/proc/sys")),
                target: PathBuf::from("/m/proc/sys"),
                fstype: None,
                flags: MsFlags::MS_BIND | MsFlags::MS_REC,
                data: None,
            },
            Call::Mount {
                source: None,
                target: PathBuf::from("/m/proc/sys"),
                fstype: None,
                flags: MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | walled,
                data: None,
            },
            // A file under /dev/null, a directory under an empty read-only tmpfs
            Call::Mount {
                source: Some(PathBuf::from("/dev/null")),
                target: PathBuf::from("/m/proc/kcore"),
                fstype: None,
                flags: MsFlags::MS_BIND,
                data: None,
            },
            Call::Mount {
                source: Some(PathBuf::from("tmpfs")),
                target: PathBuf::from("/m/proc/acpi"),
                fstype: Some("tmpfs".to_owned()),
                flags: MsFlags::MS_RDONLY | walled,
                data: None,
            },
        ]
    );
    // Every runc path is covered, and what this kernel has is found
    for path in [
        "/proc/sys",
        "/proc/sysrq-trigger",
        "/proc/irq",
        "/proc/bus",
        "/proc/fs",
    ] {
        assert!(READ_ONLY_PATHS.contains(&path), "{path}");
    }
    for path in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/sys/firmware",
    ] {
        assert!(MASKED_PATHS.contains(&path), "{path}");
    }
    if Path::new("/proc/sys").is_dir() {
        assert!(kernel_paths(READ_ONLY_PATHS).contains(&(PathBuf::from("/proc/sys"), true)));
    }
    // Not every kernel has it (CONFIG_PROC_KCORE)
    if Path::new("/proc/kcore").exists() {
        assert!(kernel_paths(MASKED_PATHS).contains(&(PathBuf::from("/proc/kcore"), false)));
    }
    assert_eq!(kernel_paths(&["/proc/no-such-file"]), []);
}

#[test]
fn sys_is_a_read_only_sysfs_in_every_mode() {
    let full = Mode::UserNamespace {
        single_id: false,
        setgroups: true,
    };
    let rootless = Mode::Rootless { uid: 1, gid: 1 };
    // Every step has a network namespace of its own, so a user namespace can mount sysfs too
    for mode in [Mode::Rootful, full, rootless] {
        let calls = record(&config(mode), &present(&[("/proc", true), ("/dev", true)]));
        let sys = mount_flags(&calls)
            .into_iter()
            .find(|(target, _, _)| target == "/b/merged/sys")
            .unwrap();
        assert_eq!(sys.1.as_deref(), Some("sysfs"), "{mode:?}");
        assert!(sys.2.contains(
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
        ));
    }
}

#[test]
fn every_filesystem_a_step_can_write_is_nodev() {
    let mut config = config(Mode::Rootful);
    config.secrets = vec![Secret {
        name: "token".to_owned(),
        contents: b"s3cret".to_vec(),
    }];
    let calls = record(
        &config,
        &present(&[("/proc", true), ("/dev", true), ("/run/secrets", true)]),
    );
    let mounted = mount_flags(&calls);
    for (target, fstype, flags) in &mounted {
        match fstype.as_deref() {
            // ptys are devpts' own nodes; it makes no others
            Some("devpts") | None => {}
            Some(_) => assert!(
                flags.contains(MsFlags::MS_NODEV | MsFlags::MS_NOSUID),
                "{target}: {flags:?}"
            ),
        }
    }
    // Binds are the OCI default devices and /dev/null over masked files only
    let binds: Vec<PathBuf> = calls
        .iter()
        .filter_map(|call| match call {
            Call::Mount {
                source: Some(source),
                fstype: None,
                flags,
                ..
            } if !flags.contains(MsFlags::MS_REC) => Some(source.clone()),
            _ => None,
        })
        .collect();
    for source in &binds {
        assert!(
            [
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty"
            ]
            .contains(&source.to_str().unwrap()),
            "{source:?}"
        );
    }
    let steps = plan(&config, &present(&[("/proc", true), ("/dev", true)])).unwrap();
    assert!(steps.iter().any(|step| matches!(
        step,
        Step::Mount {
            fstype: Some("sysfs"),
            ..
        }
    )));
}
