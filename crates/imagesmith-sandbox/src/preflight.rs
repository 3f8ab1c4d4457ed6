//! Finding out whether, and how, this host can run a sandbox
//!
//! Everything is read through [`HostInfo`], so every outcome (root, root in a user
//! namespace, rootless with subordinate ids, the single-id fallback, and "neither is
//! possible") is unit-tested with a fake host.

use std::path::Path;

use crate::config::Mode;
use crate::error::{SandboxError, SingleIdReason, Unsupported};
use crate::idmap::{subordinate_ranges, IdMap};

/// The environment variable marking a process re-executed in a user namespace by
/// [`crate::reexec_in_user_namespace`] (so it never re-executes itself twice)
pub const REEXEC_MARKER: &str = "IMAGESMITH_USER_NAMESPACE";

/// What the preflight reads from the host; [`LinuxHost`] reads the real one
pub trait HostInfo {
    /// The content of a file, `None` when it cannot be read
    fn read(&self, path: &str) -> Option<String>;
    /// The effective uid
    fn euid(&self) -> u32;
    /// The effective gid
    fn egid(&self) -> u32;
    /// The kernel release (`uname -r`)
    fn kernel_release(&self) -> String;
    /// The name of the user with this uid
    fn user_name(&self, uid: u32) -> Option<String>;
    /// Whether an executable of this name is on the `PATH`
    fn has_program(&self, name: &str) -> bool;
    /// An environment variable
    fn env(&self, name: &str) -> Option<String>;
}

/// The real host
#[derive(Debug, Clone, Copy, Default)]
pub struct LinuxHost;

impl HostInfo for LinuxHost {
    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    fn euid(&self) -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    fn egid(&self) -> u32 {
        nix::unistd::getegid().as_raw()
    }

    fn kernel_release(&self) -> String {
        nix::sys::utsname::uname()
            .map(|uname| uname.release().to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn user_name(&self, uid: u32) -> Option<String> {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|user| user.name)
    }

    fn has_program(&self, name: &str) -> bool {
        program_path(name).is_some()
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Where `name` is on the `PATH` (or in `/usr/bin`, `/bin` when there is no `PATH`)
pub(crate) fn program_path(name: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|metadata| {
                metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
            })
        })
}

/// Rootful when running as root, root in a user namespace when this process runs in one,
/// rootless when the kernel allows user namespaces, otherwise an error listing everything
/// that is missing
pub fn detect_mode() -> Result<Mode, SandboxError> {
    detect_mode_on(&LinuxHost)
}

/// [`detect_mode`] on `host`
pub fn detect_mode_on(host: &dyn HostInfo) -> Result<Mode, SandboxError> {
    let mut problems = Vec::new();
    if !host.read("/proc/filesystems").is_some_and(|filesystems| {
        filesystems
            .lines()
            .any(|line| line.split_whitespace().last() == Some("overlay"))
    }) {
        problems.push(Unsupported::NoOverlay);
    }
    let mode = if host.euid() == 0 {
        let uid_map = host
            .read("/proc/self/uid_map")
            .and_then(|text| IdMap::parse(&text));
        match uid_map {
            Some(map) if !map.is_identity() => {
                if !kernel_at_least(&host.kernel_release(), 5, 11) {
                    problems.push(Unsupported::KernelTooOldForRootlessOverlay {
                        release: host.kernel_release(),
                    });
                }
                Mode::UserNamespace {
                    single_id: map.len() <= 1,
                    setgroups: host
                        .read("/proc/self/setgroups")
                        .is_none_or(|value| value.trim() != "deny"),
                }
            }
            _ => Mode::Rootful,
        }
    } else {
        problems.extend(user_namespace_problems(host));
        Mode::Rootless {
            uid: host.euid(),
            gid: host.egid(),
        }
    };
    if problems.is_empty() {
        Ok(mode)
    } else {
        Err(SandboxError::Unsupported { problems })
    }
}

/// Why an unprivileged user cannot create a user namespace with an overlay here
fn user_namespace_problems(host: &dyn HostInfo) -> Vec<Unsupported> {
    let mut problems = Vec::new();
    let is = |path: &str, expected: &str| {
        host.read(path)
            .is_some_and(|value| value.trim() == expected)
    };
    if is("/proc/sys/kernel/unprivileged_userns_clone", "0") {
        problems.push(Unsupported::UnprivilegedUserNamespacesDisabled);
    }
    if is("/proc/sys/user/max_user_namespaces", "0") {
        problems.push(Unsupported::NoUserNamespacesAllowed);
    }
    if is(
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        "1",
    ) {
        problems.push(Unsupported::AppArmorRestrictsUserNamespaces);
    }
    let release = host.kernel_release();
    if !kernel_at_least(&release, 5, 11) {
        problems.push(Unsupported::KernelTooOldForRootlessOverlay { release });
    }
    problems
}

/// The user namespace [`crate::reexec_in_user_namespace`] creates: root is the user, and
/// ids from 1 on are its subordinate ids, or only root when it has none
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNamespacePlan {
    /// The uid map
    pub uid_map: IdMap,
    /// The gid map
    pub gid_map: IdMap,
    /// Why only root is mapped, when it is
    pub single_id: Option<SingleIdReason>,
}

/// Whether this process must re-execute itself in a user namespace to build, and with
/// which maps: `None` as root (in the initial namespace or in a user namespace); an error
/// when the kernel does not allow it, listing every reason
pub fn plan_user_namespace(host: &dyn HostInfo) -> Result<Option<UserNamespacePlan>, SandboxError> {
    let (uid, gid) = (host.euid(), host.egid());
    if uid == 0 {
        return Ok(None);
    }
    if host.env(REEXEC_MARKER).is_some() {
        return Err(SandboxError::UserNamespace {
            reason: format!(
                "this process was re-executed in a user namespace but runs as uid {uid} there"
            ),
        });
    }
    let mut problems = user_namespace_problems(host);
    if !host.read("/proc/filesystems").is_some_and(|filesystems| {
        filesystems
            .lines()
            .any(|line| line.split_whitespace().last() == Some("overlay"))
    }) {
        problems.push(Unsupported::NoOverlay);
    }
    if !problems.is_empty() {
        return Err(SandboxError::Unsupported { problems });
    }
    let name = host.user_name(uid);
    let subuids = subordinate_ranges(
        &host.read("/etc/subuid").unwrap_or_default(),
        name.as_deref(),
        uid,
    );
    let subgids = subordinate_ranges(
        &host.read("/etc/subgid").unwrap_or_default(),
        name.as_deref(),
        uid,
    );
    let user = name.unwrap_or_else(|| uid.to_string());
    let single_id = if subuids.is_empty() || subgids.is_empty() {
        Some(SingleIdReason::NoSubordinateIds { user })
    } else if !host.has_program("newuidmap") || !host.has_program("newgidmap") {
        Some(SingleIdReason::NoNewIdMap)
    } else {
        None
    };
    Ok(Some(match single_id {
        Some(reason) => UserNamespacePlan {
            uid_map: IdMap::single(uid),
            gid_map: IdMap::single(gid),
            single_id: Some(reason),
        },
        None => UserNamespacePlan {
            uid_map: IdMap::with_subordinate(uid, &subuids),
            gid_map: IdMap::with_subordinate(gid, &subgids),
            single_id: None,
        },
    }))
}

/// Whether this process runs in a user namespace other than the initial one
pub fn in_user_namespace() -> bool {
    static IN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IN.get_or_init(|| {
        std::fs::read_to_string(Path::new("/proc/self/uid_map"))
            .ok()
            .and_then(|text| IdMap::parse(&text))
            .is_some_and(|map| !map.is_identity())
    })
}

/// Whether a kernel release string such as `6.1.0-18-amd64` is at least `major.minor`
pub fn kernel_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    found >= (major, minor)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A host described by its files
    struct FakeHost {
        files: HashMap<&'static str, String>,
        euid: u32,
        release: &'static str,
        programs: Vec<&'static str>,
        env: Vec<&'static str>,
    }

    impl FakeHost {
        /// Debian 12 on 6.1, as user `alice` (1000) with a subordinate range
        fn debian() -> Self {
            let mut files = HashMap::new();
            files.insert(
                "/proc/filesystems",
                "nodev\tproc\nnodev\toverlay\n".to_owned(),
            );
            files.insert(
                "/proc/sys/kernel/unprivileged_userns_clone",
                "1\n".to_owned(),
            );
            files.insert("/proc/sys/user/max_user_namespaces", "63213\n".to_owned());
            files.insert("/proc/self/uid_map", "0 0 4294967295\n".to_owned());
            files.insert("/etc/subuid", "alice:100000:65536\n".to_owned());
            files.insert("/etc/subgid", "alice:100000:65536\n".to_owned());
            Self {
                files,
                euid: 1000,
                release: "6.1.0-18-amd64",
                programs: vec!["newuidmap", "newgidmap"],
                env: Vec::new(),
            }
        }

        fn set(mut self, path: &'static str, content: &str) -> Self {
            self.files.insert(path, content.to_owned());
            self
        }
    }

    impl HostInfo for FakeHost {
        fn read(&self, path: &str) -> Option<String> {
            self.files.get(path).cloned()
        }
        fn euid(&self) -> u32 {
            self.euid
        }
        fn egid(&self) -> u32 {
            self.euid
        }
        fn kernel_release(&self) -> String {
            self.release.to_owned()
        }
        fn user_name(&self, uid: u32) -> Option<String> {
            (uid == 1000).then(|| "alice".to_owned())
        }
        fn has_program(&self, name: &str) -> bool {
            self.programs.contains(&name)
        }
        fn env(&self, name: &str) -> Option<String> {
            self.env.contains(&name).then(String::new)
        }
    }

    fn problems(result: Result<impl std::fmt::Debug, SandboxError>) -> Vec<Unsupported> {
        match result {
            Err(SandboxError::Unsupported { problems }) => problems,
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn kernel_versions() {
        assert!(kernel_at_least("6.1.0-18-amd64", 5, 11));
        assert!(kernel_at_least("5.11.0", 5, 11));
        assert!(!kernel_at_least("5.10.0-28-cloud-amd64", 5, 11));
        assert!(!kernel_at_least("", 5, 11));
    }

    #[test]
    fn root_is_rootful_and_root_in_a_user_namespace_is_not() {
        let mut host = FakeHost::debian();
        host.euid = 0;
        assert_eq!(detect_mode_on(&host).unwrap(), Mode::Rootful);
        assert_eq!(plan_user_namespace(&host).unwrap(), None);

        let host = host
            .set("/proc/self/uid_map", "0 1000 1\n1 100000 65536\n")
            .set("/proc/self/setgroups", "allow\n");
        assert_eq!(
            detect_mode_on(&host).unwrap(),
            Mode::UserNamespace {
                single_id: false,
                setgroups: true
            }
        );
        let host = host
            .set("/proc/self/uid_map", "0 1000 1\n")
            .set("/proc/self/setgroups", "deny\n");
        assert_eq!(
            detect_mode_on(&host).unwrap(),
            Mode::UserNamespace {
                single_id: true,
                setgroups: false
            }
        );
    }

    #[test]
    fn rootless_maps_the_subordinate_range() {
        let host = FakeHost::debian();
        assert_eq!(
            detect_mode_on(&host).unwrap(),
            Mode::Rootless {
                uid: 1000,
                gid: 1000
            }
        );
        let plan = plan_user_namespace(&host).unwrap().unwrap();
        assert_eq!(plan.single_id, None);
        assert_eq!(plan.uid_map.render(), "0 1000 1\n1 100000 65536\n");
        assert_eq!(plan.gid_map.render(), "0 1000 1\n1 100000 65536\n");
    }

    #[test]
    fn without_subordinate_ids_or_newuidmap_only_root_is_mapped() {
        let host = FakeHost::debian().set("/etc/subuid", "");
        let plan = plan_user_namespace(&host).unwrap().unwrap();
        assert_eq!(plan.uid_map, IdMap::single(1000));
        assert_eq!(plan.gid_map, IdMap::single(1000));
        let reason = plan.single_id.unwrap();
        assert_eq!(
            reason,
            SingleIdReason::NoSubordinateIds {
                user: "alice".into()
            }
        );
        let message = reason.to_string();
        assert!(message.contains("/etc/subuid"), "{message}");
        assert!(message.contains("usermod --add-subuids"), "{message}");

        let mut host = FakeHost::debian();
        host.programs = vec!["newgidmap"];
        let plan = plan_user_namespace(&host).unwrap().unwrap();
        assert_eq!(plan.single_id, Some(SingleIdReason::NoNewIdMap));
        assert!(plan.single_id.unwrap().to_string().contains("uidmap"));
    }

    #[test]
    fn neither_rootful_nor_rootless_is_a_clear_error() {
        let host = FakeHost::debian().set("/proc/sys/kernel/unprivileged_userns_clone", "0\n");
        assert_eq!(
            problems(plan_user_namespace(&host)),
            [Unsupported::UnprivilegedUserNamespacesDisabled]
        );
        assert_eq!(
            problems(detect_mode_on(&host)),
            [Unsupported::UnprivilegedUserNamespacesDisabled]
        );

        let mut host = FakeHost::debian()
            .set("/proc/sys/user/max_user_namespaces", "0\n")
            .set("/proc/filesystems", "nodev\tproc\n");
        host.release = "5.10.0-28-amd64";
        let found = problems(plan_user_namespace(&host));
        assert_eq!(
            found,
            [
                Unsupported::NoUserNamespacesAllowed,
                Unsupported::KernelTooOldForRootlessOverlay {
                    release: "5.10.0-28-amd64".into()
                },
                Unsupported::NoOverlay,
            ]
        );
        let message = SandboxError::Unsupported { problems: found }.to_string();
        assert!(message.starts_with("Cannot run build steps"), "{message}");
        for expected in [
            "user.max_user_namespaces",
            "needs 5.11 or later",
            "modprobe overlay",
            "build as root",
        ] {
            assert!(message.contains(expected), "{expected}: {message}");
        }

        let host = FakeHost::debian().set(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            "1\n",
        );
        assert_eq!(
            problems(plan_user_namespace(&host)),
            [Unsupported::AppArmorRestrictsUserNamespaces]
        );
    }

    #[test]
    fn a_re_executed_process_that_is_not_root_stops() {
        let mut host = FakeHost::debian();
        host.env = vec![REEXEC_MARKER];
        assert!(matches!(
            plan_user_namespace(&host),
            Err(SandboxError::UserNamespace { .. })
        ));
    }

    #[test]
    fn unsupported_message_has_hints() {
        let error = SandboxError::Unsupported {
            problems: vec![Unsupported::NoUserNamespacesAllowed, Unsupported::NoOverlay],
        };
        let message = error.to_string();
        assert!(message.contains("max_user_namespaces"), "{message}");
        assert!(
            message.contains("hint: run `modprobe overlay`"),
            "{message}"
        );
    }
}
