//! Finding out whether, and how, this host can run a sandbox

use crate::config::Mode;
use crate::error::{SandboxError, Unsupported};

/// Rootful when running as root, rootless through a user namespace when the kernel allows
/// it, otherwise an error listing everything that is missing
pub fn detect_mode() -> Result<Mode, SandboxError> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let mut problems = Vec::new();
    if !read("/proc/filesystems").is_some_and(|filesystems| {
        filesystems
            .lines()
            .any(|line| line.split_whitespace().last() == Some("overlay"))
    }) {
        problems.push(Unsupported::NoOverlay);
    }
    if nix::unistd::geteuid().is_root() {
        return if problems.is_empty() {
            Ok(Mode::Rootful)
        } else {
            Err(SandboxError::Unsupported { problems })
        };
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").is_some_and(|value| value.trim() == "0") {
        problems.push(Unsupported::UnprivilegedUserNamespacesDisabled);
    }
    if read("/proc/sys/user/max_user_namespaces").is_some_and(|value| value.trim() == "0") {
        problems.push(Unsupported::NoUserNamespacesAllowed);
    }
    let release = nix::sys::utsname::uname()
        .map(|uname| uname.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    if !kernel_at_least(&release, 5, 11) {
        problems.push(Unsupported::KernelTooOldForRootlessOverlay { release });
    }
    if problems.is_empty() {
        Ok(Mode::Rootless {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        })
    } else {
        Err(SandboxError::Unsupported { problems })
    }
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
    use super::*;

    #[test]
    fn kernel_versions() {
        assert!(kernel_at_least("6.1.0-18-amd64", 5, 11));
        assert!(kernel_at_least("5.11.0", 5, 11));
        assert!(!kernel_at_least("5.10.0-28-cloud-amd64", 5, 11));
        assert!(!kernel_at_least("", 5, 11));
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
