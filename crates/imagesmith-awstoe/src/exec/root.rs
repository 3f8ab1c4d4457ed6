//! Paths inside the image root: resolution that never leaves the root, wildcards, users and
//! groups from the image's own `/etc/passwd` and `/etc/group`, hashing, text encodings.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The most symbolic links followed while resolving one path (as Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// A path that cannot be resolved inside the image.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// `..` climbs above `/`.
    #[error("`{path}` leads outside the image root")]
    EscapesRoot {
        /// The path as written.
        path: String,
    },
    /// Too many symbolic links.
    #[error("`{path}` goes through more than {MAX_LINKS} symbolic links")]
    TooManyLinks {
        /// The path as written.
        path: String,
    },
    /// An empty path or one with a NUL byte.
    #[error("`{path}` is not a valid path")]
    Invalid {
        /// The path as written.
        path: String,
    },
    /// A link could not be read.
    #[error("Could not read the link `{path}`: {source}")]
    Io {
        /// The link, inside the image.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The image root, and the working directory relative paths start from.
#[derive(Debug, Clone)]
pub struct ImageRoot {
    root: PathBuf,
    cwd: String,
}

impl ImageRoot {
    /// A root at `root` on the host; relative paths start at `cwd` inside the image.
    pub fn new(root: impl Into<PathBuf>, cwd: impl Into<String>) -> Self {
        ImageRoot {
            root: root.into(),
            cwd: cwd.into(),
        }
    }

    /// The absolute in-image form of `path` (relative paths start at the working directory),
    /// with `.` and `..` removed; an error when `..` climbs above `/`.
    pub fn absolute(&self, path: &str) -> Result<String, PathError> {
        if path.is_empty() || path.contains('\0') {
            return Err(PathError::Invalid { path: path.into() });
        }
        let full = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{}/{}", self.cwd.trim_end_matches('/'), path)
        };
        let mut parts: Vec<&str> = Vec::new();
        for part in full.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(PathError::EscapesRoot { path: path.into() });
                    }
                }
                other => parts.push(other),
            }
        }
        Ok(format!("/{}", parts.join("/")))
    }

    /// The host path of `path` inside the image. Symbolic links are resolved as they would be
    /// with the image as `/` (an absolute target starts again at the root, `..` stops at the
    /// root); the last component is followed only when `follow_last` is set.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Result<PathBuf, PathError> {
        let absolute = self.absolute(path)?;
        let mut pending: VecDeque<OsString> = absolute
            .split('/')
            .filter(|p| !p.is_empty())
            .map(OsString::from)
            .collect();
        let mut stack: Vec<OsString> = Vec::new();
        let mut links = 0;
        while let Some(part) = pending.pop_front() {
            if part == ".." {
                stack.pop();
                continue;
            }
            if part == "." {
                continue;
            }
            stack.push(part);
            if pending.is_empty() && !follow_last {
                break;
            }
            let host: PathBuf = self.root.join(stack.iter().collect::<PathBuf>());
            let is_link =
                std::fs::symlink_metadata(&host).is_ok_and(|m| m.file_type().is_symlink());
            if !is_link {
                continue;
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(PathError::TooManyLinks { path: path.into() });
            }
            let target = std::fs::read_link(&host).map_err(|source| PathError::Io {
                path: path.into(),
                source,
            })?;
            stack.pop();
            if target.is_absolute() {
                stack.clear();
            }
            let mut parts: Vec<OsString> = Vec::new();
            for component in target.components() {
                match component {
                    Component::Normal(name) => parts.push(name.to_os_string()),
                    Component::ParentDir => parts.push("..".into()),
                    Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                }
            }
            for part in parts.into_iter().rev() {
                pending.push_front(part);
            }
        }
        Ok(self.root.join(stack.iter().collect::<PathBuf>()))
    }

    /// The in-image path of a host path under the root.
    pub fn image_path(&self, host: &Path) -> String {
        match host.strip_prefix(&self.root) {
            Ok(rest) => format!("/{}", rest.to_string_lossy()),
            Err(_) => host.to_string_lossy().into_owned(),
        }
    }

    /// Expands a `*` in the last component of `path` to the matching entries (sorted); a path
    /// without `*` is returned as is. Returns in-image paths.
    pub fn expand(&self, path: &str) -> Result<Vec<String>, PathError> {
        let absolute = self.absolute(path)?;
        let (parent, name) = absolute.rsplit_once('/').unwrap_or(("", &absolute));
        if !name.contains('*') {
            return Ok(vec![absolute]);
        }
        let parent = if parent.is_empty() { "/" } else { parent };
        let dir = self.resolve(parent, true)?;
        let mut found: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| wildcard_match(name, n))
                .map(|n| format!("{}/{}", parent.trim_end_matches('/'), n))
                .collect(),
            Err(_) => Vec::new(),
        };
        found.sort();
        Ok(found)
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Users and groups of the image (never the host's).
#[derive(Debug, Default, Clone)]
pub struct Accounts {
    /// name → (uid, primary gid)
    users: Vec<(String, u32, u32)>,
    /// name → gid
    groups: Vec<(String, u32)>,
}

impl Accounts {
    /// Reads `/etc/passwd` and `/etc/group` of the image; missing files give no names.
    pub fn load(root: &ImageRoot) -> Self {
        let read = |path: &str| {
            root.resolve(path, true)
                .ok()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default()
        };
        let users = read("/etc/passwd")
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                Some((
                    fields.first()?.to_string(),
                    fields.get(2)?.parse().ok()?,
                    fields.get(3)?.parse().ok()?,
                ))
            })
            .collect();
        let groups = read("/etc/group")
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                Some((fields.first()?.to_string(), fields.get(2)?.parse().ok()?))
            })
            .collect();
        Accounts { users, groups }
    }

    /// The uid and primary gid of a user name or numeric id.
    pub fn user(&self, name: &str) -> Option<(u32, Option<u32>)> {
        if let Some((_, uid, gid)) = self.users.iter().find(|(n, _, _)| n == name) {
            return Some((*uid, Some(*gid)));
        }
        let uid: u32 = name.parse().ok()?;
        let gid = self
            .users
            .iter()
            .find(|(_, u, _)| *u == uid)
            .map(|(_, _, g)| *g);
        Some((uid, gid))
    }

    /// The gid of a group name or numeric id.
    pub fn group(&self, name: &str) -> Option<u32> {
        if let Some((_, gid)) = self.groups.iter().find(|(n, _)| n == name) {
            return Some(*gid);
        }
        name.parse().ok()
    }
}

/// The lowercase hex digest of a file (`MD5`, `SHA1`, `SHA256`, `SHA512`, any case).
pub fn file_digest(path: &Path, algorithm: &str) -> std::io::Result<Option<String>> {
    fn run<D: sha2::Digest>(mut file: std::fs::File) -> std::io::Result<String> {
        let mut hasher = D::new();
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        Ok(hex::encode(hasher.finalize()))
    }
    let file = std::fs::File::open(path)?;
    let digest = match algorithm.to_ascii_uppercase().as_str() {
        "MD5" => run::<md5::Md5>(file)?,
        "SHA1" => run::<sha1::Sha1>(file)?,
        "SHA256" => run::<sha2::Sha256>(file)?,
        "SHA512" => run::<sha2::Sha512>(file)?,
        _ => return Ok(None),
    };
    Ok(Some(digest))
}

/// A text encoding of the file actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (the default).
    Utf8,
    /// UTF-16, little-endian (AWSTOE's default for `utf16`).
    Utf16Le,
    /// UTF-16, big-endian.
    Utf16Be,
    /// UTF-32, little-endian.
    Utf32Le,
    /// UTF-32, big-endian.
    Utf32Be,
}

impl Encoding {
    /// Reads an `encoding` input (case-insensitive, `utf-16-BE` and `utf16be` alike).
    pub fn parse(name: &str) -> Option<Encoding> {
        let key: String = name
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        Some(match key.as_str() {
            "utf8" => Encoding::Utf8,
            "utf16" | "utf16le" => Encoding::Utf16Le,
            "utf16be" => Encoding::Utf16Be,
            "utf32" | "utf32le" => Encoding::Utf32Le,
            "utf32be" => Encoding::Utf32Be,
            _ => return None,
        })
    }

    /// Encodes text.
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            Encoding::Utf16Le => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            Encoding::Utf16Be => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
            Encoding::Utf32Le => text
                .chars()
                .flat_map(|c| (c as u32).to_le_bytes())
                .collect(),
            Encoding::Utf32Be => text
                .chars()
                .flat_map(|c| (c as u32).to_be_bytes())
                .collect(),
        }
    }

    /// Decodes bytes; `None` when they are not valid in this encoding.
    pub fn decode(self, bytes: &[u8]) -> Option<String> {
        match self {
            Encoding::Utf8 => String::from_utf8(bytes.to_vec()).ok(),
            Encoding::Utf16Le | Encoding::Utf16Be => {
                if !bytes.len().is_multiple_of(2) {
                    return None;
                }
                let units: Vec<u16> = bytes
                    .chunks_exact(2)
                    .map(|c| {
                        if self == Encoding::Utf16Le {
                            u16::from_le_bytes([c[0], c[1]])
                        } else {
                            u16::from_be_bytes([c[0], c[1]])
                        }
                    })
                    .collect();
                String::from_utf16(&units).ok()
            }
            Encoding::Utf32Le | Encoding::Utf32Be => {
                if !bytes.len().is_multiple_of(4) {
                    return None;
                }
                bytes
                    .chunks_exact(4)
                    .map(|c| {
                        let n = if self == Encoding::Utf32Le {
                            u32::from_le_bytes([c[0], c[1], c[2], c[3]])
                        } else {
                            u32::from_be_bytes([c[0], c[1], c[2], c[3]])
                        };
                        char::from_u32(n)
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_escape_is_rejected() {
        let root = ImageRoot::new("/nonexistent-root", "/");
        assert!(matches!(
            root.resolve("/../etc/passwd", true),
            Err(PathError::EscapesRoot { .. })
        ));
        assert!(matches!(
            root.resolve("a/../../x", true),
            Err(PathError::EscapesRoot { .. })
        ));
        assert_eq!(
            root.resolve("/a/b/../c", true).unwrap(),
            PathBuf::from("/nonexistent-root/a/c")
        );
    }

    #[test]
    fn symlinks_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = ImageRoot::new(dir.path(), "/");
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", dir.path().join("rel")).unwrap();
        assert_eq!(
            root.resolve("/abs/passwd", true).unwrap(),
            dir.path().join("etc/passwd")
        );
        assert_eq!(
            root.resolve("/rel/passwd", true).unwrap(),
            dir.path().join("etc/passwd")
        );
        assert_eq!(root.resolve("/abs", false).unwrap(), dir.path().join("abs"));
        std::os::unix::fs::symlink("loop", dir.path().join("loop")).unwrap();
        assert!(matches!(
            root.resolve("/loop", true),
            Err(PathError::TooManyLinks { .. })
        ));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*log", "app.log"));
        assert!(wildcard_match("Sample*", "Sample.txt"));
        assert!(wildcard_match("a*b*c", "aXbYc"));
        assert!(!wildcard_match("a*b*c", "aXcYb"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("x", "y"));
    }

    #[test]
    fn encodings_round_trip() {
        for name in ["utf8", "UTF-16", "utf-16-BE", "utf32", "UTF32-BE"] {
            let encoding = Encoding::parse(name).unwrap();
            assert_eq!(encoding.decode(&encoding.encode("hé✓")).unwrap(), "hé✓");
        }
        assert_eq!(Encoding::Utf16Le.encode("A"), [0x41, 0]);
        assert!(Encoding::parse("latin1").is_none());
    }
}
