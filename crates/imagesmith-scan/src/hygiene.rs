//! Image hygiene: what an image's layers hold, read straight from the layout's blobs
//!
//! The layers are streamed once, base first, into a merged view of the final filesystem
//! (path → kind, mode, size), applying OCI whiteouts (`.wh.NAME` and `.wh..wh..opq`) as a
//! runtime would, so a file a later layer deletes is gone. Secret patterns are searched in
//! every file of every layer, deleted or not: a secret removed by a later layer is still in
//! the pushed blobs. Written here rather than with `apply_layers` because nothing is
//! extracted to disk (no root, no temporary tree) and the checks need modes as stored.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};

use imagesmith_oci::oci_spec::image::ImageConfiguration;
use imagesmith_oci::{BlobStore, Image};
use regex::bytes::Regex;

/// What an entry of the merged filesystem is
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file (or a hard link to one)
    File,
    /// A directory
    Directory,
    /// A symbolic link
    Symlink,
    /// A device, FIFO or other special file
    Other,
}

/// One path of the merged filesystem
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What it is
    pub kind: Kind,
    /// Permission bits (with setuid, setgid and sticky)
    pub mode: u32,
    /// Size in bytes
    pub size: u64,
}

/// A secret found in a layer or the config: where, and which pattern (never the value)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHit {
    /// `layer sha256:…` or `config`
    pub place: String,
    /// The path in the layer (empty for the config)
    pub path: String,
    /// What matched (`an AWS access key id`, `build secret #1`)
    pub what: String,
}

/// The merged filesystem of an image and the secrets in its blobs
#[derive(Debug, Clone, Default)]
pub struct ImageFiles {
    /// Every path of the final filesystem, without a leading `/`
    pub entries: BTreeMap<String, Entry>,
    /// The final `/var/lib/dpkg/status`, when there is one
    pub dpkg_status: Option<Vec<u8>>,
    /// Secrets found
    pub secrets: Vec<SecretHit>,
}

const DPKG_STATUS: &str = "var/lib/dpkg/status";

/// The high-signal secret patterns: AWS access key ids, PEM private keys with a body, GitHub
/// personal access tokens
fn patterns() -> Vec<(Regex, &'static str)> {
    let compile = |pattern: &str| Regex::new(pattern).expect("the secret patterns compile");
    vec![
        (
            compile(r"(?:^|[^A-Za-z0-9/+=])AKIA[0-9A-Z]{16}(?:[^A-Za-z0-9/+=]|$)"),
            "an AWS access key id",
        ),
        // The header alone is in ssh and OpenSSL binaries; a key has a body after it.
        (
            compile(
                r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\r?\n(?:Proc-Type:|[A-Za-z0-9+/=]{40})",
            ),
            "a PEM private key",
        ),
        (compile(r"gh[pousr]_[A-Za-z0-9]{36}"), "a GitHub token"),
    ]
}

/// Secret values shorter than this are not searched: they would match everywhere
pub const MIN_SECRET_LENGTH: usize = 6;

struct Searcher {
    patterns: Vec<(Regex, &'static str)>,
    values: Vec<Vec<u8>>,
}

impl Searcher {
    fn new(secrets: &[String]) -> Self {
        Searcher {
            patterns: patterns(),
            values: secrets
                .iter()
                .filter(|s| s.len() >= MIN_SECRET_LENGTH)
                .map(|s| s.as_bytes().to_vec())
                .collect(),
        }
    }

    fn search(&self, bytes: &[u8]) -> Vec<String> {
        let mut found = Vec::new();
        for (index, value) in self.values.iter().enumerate() {
            if bytes.windows(value.len()).any(|w| w == value.as_slice()) {
                found.push(format!("build secret #{}", index + 1));
            }
        }
        // The patterns are for text (configs, scripts, histories): a compiled binary carries
        // test vectors and tables that match them by chance (GnuTLS ships a test key,
        // libunistring's tables spell `AKIA…`), and a credential leaked by a build lands in
        // text. Build secrets are searched everywhere, above.
        if bytes.starts_with(b"\x7fELF") {
            return found;
        }
        for (regex, what) in &self.patterns {
            // AWS's documentation key (`AKIAIOSFODNN7EXAMPLE`) ships in botocore and the CLI.
            let real = regex.find_iter(bytes).any(|m| {
                let text = m.as_bytes();
                let text = match text.last() {
                    Some(byte) if !byte.is_ascii_alphanumeric() => &text[..text.len() - 1],
                    _ => text,
                };
                !text.ends_with(b"EXAMPLE")
            });
            if real {
                found.push((*what).to_owned());
            }
        }
        found
    }
}

fn normalize(path: &str) -> String {
    let trimmed = path.trim_start_matches("./").trim_start_matches('/');
    let mut parts = Vec::new();
    for part in trimmed.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

fn remove_below(entries: &mut BTreeMap<String, Entry>, dir: &str) {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let doomed: Vec<String> = entries
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for key in doomed {
        entries.remove(&key);
    }
}

fn decoder<'a>(input: impl Read + 'a, what: &str) -> std::io::Result<Box<dyn Read + 'a>> {
    let mut input = BufReader::new(input);
    let head = input.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(input)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(zstd::Decoder::with_buffer(input).map_err(
            |e| std::io::Error::new(e.kind(), format!("zstd in {what}: {e}")),
        )?))
    } else {
        Ok(Box::new(input))
    }
}

/// Reads every layer of `image` from `store` (verified against its digest) into the merged
/// view, searching for `secrets` (values known from the build) and the high-signal patterns;
/// the error names the layer
pub fn read_image(
    store: &BlobStore,
    image: &Image,
    secrets: &[String],
) -> Result<ImageFiles, String> {
    let searcher = Searcher::new(secrets);
    let mut files = ImageFiles::default();
    let config =
        imagesmith_oci::canonical_json(&image.config, "image config").map_err(|e| e.to_string())?;
    for what in searcher.search(&config) {
        files.secrets.push(SecretHit {
            place: "config".into(),
            path: String::new(),
            what,
        });
    }
    for layer in image.layers() {
        let digest = layer.digest().to_string();
        let fail = |e: std::io::Error| format!("Cannot read layer `{digest}`: {e}");
        let blob = store
            .open_verified(layer.digest())
            .map_err(|e| format!("Cannot open layer `{digest}`: {e}"))?;
        let mut archive = tar::Archive::new(decoder(blob, &digest).map_err(fail)?);
        let mut added: BTreeMap<String, Entry> = BTreeMap::new();
        let mut whiteouts: Vec<String> = Vec::new();
        let mut opaque: Vec<String> = Vec::new();
        let mut status: Option<Option<Vec<u8>>> = None;
        for entry in archive.entries().map_err(fail)? {
            let mut entry = entry.map_err(fail)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let path = normalize(&raw);
            if path.is_empty() {
                continue;
            }
            let (parent, name) = match path.rsplit_once('/') {
                Some((parent, name)) => (parent.to_owned(), name.to_owned()),
                None => (String::new(), path.clone()),
            };
            if name == ".wh..wh..opq" {
                opaque.push(parent);
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                whiteouts.push(if parent.is_empty() {
                    hidden.to_owned()
                } else {
                    format!("{parent}/{hidden}")
                });
                continue;
            }
            let header = entry.header();
            let kind = header.entry_type();
            let kind = if kind.is_file() || kind.is_hard_link() || kind.is_contiguous() {
                Kind::File
            } else if kind.is_dir() {
                Kind::Directory
            } else if kind.is_symlink() {
                Kind::Symlink
            } else {
                Kind::Other
            };
            let mode = header.mode().map_err(fail)? & 0o7777;
            let size = header.size().unwrap_or(0);
            if kind == Kind::File && entry.header().entry_type().is_file() {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(fail)?;
                for what in searcher.search(&bytes) {
                    files.secrets.push(SecretHit {
                        place: format!("layer {digest}"),
                        path: format!("/{path}"),
                        what,
                    });
                }
                if path == DPKG_STATUS {
                    status = Some(Some(bytes));
                }
            } else if path == DPKG_STATUS {
                status = Some(None);
            }
            added.insert(path, Entry { kind, mode, size });
        }
        // Whiteouts hide what lower layers put there, never this layer's own entries.
        for dir in &opaque {
            remove_below(&mut files.entries, dir);
        }
        for path in &whiteouts {
            files.entries.remove(path);
            remove_below(&mut files.entries, path);
        }
        let status_removed = !files.entries.contains_key(DPKG_STATUS);
        if status_removed {
            files.dpkg_status = None;
        }
        for (path, entry) in added {
            if entry.kind != Kind::Directory {
                // A file replacing a directory hides its content
                remove_below(&mut files.entries, &path);
            }
            files.entries.insert(path, entry);
        }
        if let Some(status) = status {
            files.dpkg_status = status;
        }
    }
    Ok(files)
}

/// Package-manager caches and lists left in the image: each place with its file count and
/// total size
pub fn package_caches(files: &ImageFiles) -> Vec<String> {
    let mut found: BTreeMap<&'static str, (usize, u64)> = BTreeMap::new();
    for (path, entry) in &files.entries {
        if entry.kind != Kind::File {
            continue;
        }
        let place = if let Some(rest) = path.strip_prefix("var/lib/apt/lists/") {
            (rest != "lock").then_some("/var/lib/apt/lists")
        } else if let Some(rest) = path.strip_prefix("var/cache/apt/") {
            if rest.ends_with(".deb") {
                Some("/var/cache/apt/archives")
            } else if !rest.contains('/') && rest.ends_with(".bin") {
                Some("/var/cache/apt/*.bin")
            } else {
                None
            }
        } else if path.starts_with("var/cache/dnf/") {
            Some("/var/cache/dnf")
        } else if path.starts_with("root/.cache/pip/") {
            Some("/root/.cache/pip")
        } else if path.starts_with("root/.npm/_cacache/") {
            Some("/root/.npm/_cacache")
        } else {
            None
        };
        if let Some(place) = place {
            let slot = found.entry(place).or_default();
            slot.0 += 1;
            slot.1 += entry.size;
        }
    }
    found
        .into_iter()
        .map(|(place, (count, size))| {
            format!("`{place}` holds {count} file(s), {size} bytes: remove it in the step that fills it")
        })
        .collect()
}

/// The directories where world-writable entries are expected
pub const SCRATCH_DIRS: [&str; 3] = ["tmp", "var/tmp", "dev/shm"];

/// World-writable files and directories outside `/tmp`, `/var/tmp` and `/dev/shm` (symlinks
/// and special files are not counted; a sticky directory is fine only in those)
pub fn world_writable(files: &ImageFiles) -> Vec<String> {
    files
        .entries
        .iter()
        .filter(|(_, e)| matches!(e.kind, Kind::File | Kind::Directory) && e.mode & 0o002 != 0)
        .filter(|(path, _)| {
            !SCRATCH_DIRS
                .iter()
                .any(|dir| path.as_str() == *dir || path.starts_with(&format!("{dir}/")))
        })
        .map(|(path, e)| format!("`/{path}` is world-writable (mode {:04o})", e.mode))
        .collect()
}

/// The user the image runs as, checked against the one the recipe or spec asks for
pub fn user_problems(config: &ImageConfiguration, wanted: &str) -> Vec<String> {
    let actual = config
        .config()
        .as_ref()
        .and_then(|c| c.user().clone())
        .unwrap_or_default();
    let is_root = |user: &str| {
        let name = user.split(':').next().unwrap_or("");
        name.is_empty() || name == "root" || name == "0"
    };
    let mut problems = Vec::new();
    if is_root(wanted) {
        problems.push(format!(
            "The recipe asks for user `{wanted}`, which is root: name a non-root user"
        ));
    }
    if actual != wanted {
        let shown = if actual.is_empty() {
            "root (no `User`)".to_owned()
        } else {
            format!("`{actual}`")
        };
        problems.push(format!(
            "The image runs as {shown}, not `{wanted}` as the recipe asks"
        ));
    } else if is_root(&actual) && !is_root(wanted) {
        problems.push(format!("The image runs as root (`{actual}`)"));
    }
    problems
}

/// The installed packages of a dpkg status file, as (name, version)
pub fn dpkg_packages(status: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(status);
    let mut packages = Vec::new();
    for paragraph in text.split("\n\n") {
        let mut name = None;
        let mut version = None;
        let mut installed = false;
        for line in paragraph.lines() {
            if let Some(v) = line.strip_prefix("Package:") {
                name = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("Version:") {
                version = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("Status:") {
                installed = v.trim().ends_with(" installed");
            }
        }
        if let (Some(name), Some(version), true) = (name, version, installed) {
            packages.push((name, version));
        }
    }
    packages.sort();
    packages.dedup();
    packages
}

#[cfg(test)]
mod binary_tests {
    use super::Searcher;

    #[test]
    fn patterns_skip_compiled_binaries_and_need_a_whole_key_id() {
        let searcher = Searcher::new(&["build-secret-value".to_owned()]);
        // A shared library whose tables spell a key id, and GnuTLS's test key
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.extend_from_slice(b"xxAKIAABCDEFGHIJKLMNOPxx-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAtestvectortestvectortestvectortestvector");
        assert!(searcher.search(&elf).is_empty());
        // A build secret is found even there
        elf.extend_from_slice(b"build-secret-value");
        assert_eq!(searcher.search(&elf), vec!["build secret #1".to_owned()]);
        // In text: a key id on its own is found, one inside a longer word is not
        assert_eq!(
            searcher.search(b"aws_access_key_id = AKIAABCDEFGHIJKLMNOP\n"),
            vec!["an AWS access key id".to_owned()]
        );
        assert!(searcher.search(b"XAKIAABCDEFGHIJKLMNOPQ").is_empty());
        assert!(searcher.search(b"key = AKIAIOSFODNN7EXAMPLE\n").is_empty());
    }
}
