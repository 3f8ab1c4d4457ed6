//! Making a tree reproducible before a layer is taken from it
//!
//! Package managers leave logs, caches and backups whose content depends on the time or on
//! the machine. They are removed from the tree itself (not only left out of the layer), so an
//! upper directory kept in the cache and used as a lower directory later is exactly its
//! layer. Whiteouts are never touched: removing one would bring a deleted file back.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::BuildError;

/// Paths removed from every layer (absolute globs, `*` within one path component)
pub const REMOVED: &[&str] = &[
    "/var/lib/apt/lists/*",
    "/var/cache/apt/*.bin",
    "/var/cache/apt/archives/*.deb",
    "/var/cache/apt/archives/partial/*",
    "/var/cache/apt/archives/lock",
    "/var/cache/debconf/*-old",
    "/var/cache/ldconfig/aux-cache",
    "/var/cache/man/*",
    "/var/cache/dnf/*",
    "/var/cache/yum/*",
    "/var/lib/dpkg/*-old",
    "/var/lib/dbus/machine-id",
    "/var/lib/systemd/random-seed",
    "/var/log/apt/*",
    "/var/log/dpkg.log",
    "/var/log/alternatives.log",
    "/var/log/bootstrap.log",
    "/var/log/dnf*",
    "/var/log/journal/*",
    "/tmp/*",
    "/var/tmp/*",
    "/run/*",
    "/root/.cache",
    "/root/.wget-hsts",
    "/root/.bash_history",
    "/root/.python_history",
];

/// Removes [`REMOVED`], empties `/etc/machine-id` and sets the password-change day in
/// `/etc/shadow` to the build epoch
pub fn normalize(root: &Path, source_date_epoch: u64) -> Result<(), BuildError> {
    let patterns: Vec<glob::Pattern> = REMOVED
        .iter()
        .filter_map(|pattern| glob::Pattern::new(pattern).ok())
        .collect();
    remove_matching(root, Path::new(""), &patterns)?;
    let machine_id = root.join("etc/machine-id");
    if regular(&machine_id) {
        // Empty means "not set": systemd makes one at first boot
        fs_err::write(&machine_id, b"")?;
    }
    let day = source_date_epoch / 86_400;
    for name in ["etc/shadow", "etc/shadow-"] {
        let path = root.join(name);
        if regular(&path) {
            let text = fs_err::read_to_string(&path)?;
            let fixed = shadow_with_day(&text, day);
            if fixed != text {
                let permissions = fs_err::metadata(&path)?.permissions();
                fs_err::write(&path, fixed)?;
                fs_err::set_permissions(&path, permissions)?;
            }
        }
    }
    Ok(())
}

fn regular(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.is_file())
}

fn is_whiteout(metadata: &std::fs::Metadata) -> bool {
    metadata.file_type().is_char_device() && metadata.rdev() == 0
}

fn remove_matching(
    root: &Path,
    relative: &Path,
    patterns: &[glob::Pattern],
) -> Result<(), BuildError> {
    let dir = root.join(relative);
    let entries = match fs_err::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    for entry in entries {
        let entry = entry?;
        let child: PathBuf = relative.join(entry.file_name());
        let absolute = format!("/{}", child.to_string_lossy());
        let metadata = fs_err::symlink_metadata(entry.path())?;
        if is_whiteout(&metadata) {
            continue;
        }
        if patterns
            .iter()
            .any(|pattern| pattern.matches_with(&absolute, options))
        {
            remove_keeping_whiteouts(&entry.path())?;
            continue;
        }
        // Only descend where a pattern could still match below
        let prefix = format!("{absolute}/");
        if metadata.is_dir()
            && patterns
                .iter()
                .any(|pattern| pattern.as_str().starts_with(&prefix))
        {
            remove_matching(root, &child, patterns)?;
        }
    }
    Ok(())
}

/// Removes a file or a tree, except whiteouts inside it (and the directories holding them)
fn remove_keeping_whiteouts(path: &Path) -> Result<bool, BuildError> {
    let metadata = fs_err::symlink_metadata(path)?;
    if is_whiteout(&metadata) {
        return Ok(false);
    }
    if !metadata.is_dir() {
        fs_err::remove_file(path)?;
        return Ok(true);
    }
    let mut empty = true;
    for entry in fs_err::read_dir(path)? {
        empty &= remove_keeping_whiteouts(&entry?.path())?;
    }
    if empty && !imagesmith_oci_opaque(path) {
        fs_err::remove_dir(path)?;
        return Ok(true);
    }
    Ok(false)
}

/// An opaque directory hides the lower layers' content: removing it would reveal it
fn imagesmith_oci_opaque(path: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|name| matches!(xattr::get(path, name), Ok(Some(value)) if value == b"y"))
}

/// `/etc/shadow` with every non-empty "last change" field set to `day`
///
/// Day 0 (the default epoch) would mean "must change the password now": PAM then refuses
/// root's `chfn` in maintainer scripts (`adduser --gecos`). As shadow's own tools do under
/// `SOURCE_DATE_EPOCH=0`, the field is emptied instead, which turns password aging off.
fn shadow_with_day(text: &str, day: u64) -> String {
    let mut out = String::with_capacity(text.len());
    let day_text = if day == 0 {
        String::new()
    } else {
        day.to_string()
    };
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let mut fields: Vec<&str> = body.split(':').collect();
        if fields.len() >= 3
            && !fields[2].is_empty()
            && fields[2].chars().all(|c| c.is_ascii_digit())
        {
            fields[2] = &day_text;
            out.push_str(&fields.join(":"));
        } else {
            out.push_str(body);
        }
        out.push_str(newline);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_days_are_fixed() {
        let text = "root:*:19999:0:99999:7:::\nnobody:*::0:99999:7:::\n_chrony:!:20100::::::";
        assert_eq!(
            shadow_with_day(text, 19_000),
            "root:*:19000:0:99999:7:::\nnobody:*::0:99999:7:::\n_chrony:!:19000::::::"
        );
        // Not 0, which would force a password change (and fail `chfn` as root)
        assert_eq!(
            shadow_with_day(text, 0),
            "root:*::0:99999:7:::\nnobody:*::0:99999:7:::\n_chrony:!:::::::"
        );
    }

    #[test]
    fn logs_and_caches_are_removed_whiteouts_kept() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path();
        for file in [
            "var/log/dpkg.log",
            "var/log/apt/history.log",
            "var/lib/apt/lists/x_Packages",
            "var/cache/ldconfig/aux-cache",
            "var/lib/dpkg/status-old",
            "var/lib/dpkg/status",
            "tmp/a/b",
            "etc/machine-id",
            "usr/bin/tool",
        ] {
            let path = root.join(file);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(&path, "x").unwrap();
        }
        normalize(root, 0).unwrap();
        for gone in [
            "var/log/dpkg.log",
            "var/log/apt/history.log",
            "var/lib/apt/lists/x_Packages",
            "var/cache/ldconfig/aux-cache",
            "var/lib/dpkg/status-old",
            "tmp/a",
        ] {
            assert!(!root.join(gone).exists(), "{gone}");
        }
        for kept in [
            "var/lib/dpkg/status",
            "usr/bin/tool",
            "var/lib/apt/lists",
            "tmp",
        ] {
            assert!(root.join(kept).exists(), "{kept}");
        }
        assert_eq!(fs_err::read(root.join("etc/machine-id")).unwrap(), b"");
    }
}
