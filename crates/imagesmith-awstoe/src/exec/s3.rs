//! S3Download on any host: the [`S3Fetch`] trait an S3 client implements (imagesmith-aws
//! does, with the AWS SDK), and [`s3_download`], which turns an `S3Download` request into
//! objects written inside the image root.
//!
//! AWSTOE's rules: the source is `s3://bucket/key` (one object, written to the destination
//! file) or `s3://bucket/prefix/*` (every object under the prefix, written under the
//! destination folder with the key's path below the prefix); `overwrite` (default true)
//! protects existing files. Two choices where AWSTOE says nothing: a single object whose
//! destination ends with `/` or is an existing folder is written into it under the key's last
//! name, and a prefix with no object under it is an error rather than a silent no-op.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::host::S3DownloadRequest;
use super::root::{ImageRoot, PathError};

/// A failure of an S3 download, naming the `s3://` URL (or the file) it concerns.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// The source is not an `s3://bucket/key` or `s3://bucket/prefix/*` URL.
    #[error("`{url}` is not an S3 source: {reason}")]
    InvalidUrl {
        /// The source as written.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No such bucket or object, or nothing under the prefix.
    #[error("`{url}` does not exist")]
    NotFound {
        /// The object, bucket or prefix.
        url: String,
    },
    /// The service refused: missing permission, or the bucket is not owned by
    /// `expectedBucketOwner`.
    #[error("Access to `{url}` was denied: {message}")]
    Denied {
        /// The object or prefix.
        url: String,
        /// The service's words.
        message: String,
    },
    /// No credentials, no network, or any other failure of the request.
    #[error("Could not fetch `{url}`: {message}")]
    Request {
        /// The object or prefix.
        url: String,
        /// Why, with its causes.
        message: String,
    },
    /// A key below a prefix whose path would leave the destination folder (`..`, `.`).
    #[error("Key `{key}` of `{url}` is not a safe path below the destination folder")]
    UnsafeKey {
        /// The prefix URL.
        url: String,
        /// The key.
        key: String,
    },
    /// The destination exists and `overwrite` is false.
    #[error("`{path}` already exists and `overwrite` is false")]
    AlreadyExists {
        /// The path inside the image.
        path: String,
    },
    /// A destination that cannot be resolved inside the image.
    #[error(transparent)]
    Path(#[from] PathError),
    /// Writing the destination failed.
    #[error("Could not {operation} `{path}` for `{url}`: {source}")]
    Io {
        /// What was being done (`write`).
        operation: &'static str,
        /// The path inside the image.
        path: String,
        /// The object.
        url: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Reads objects from S3. Implemented by imagesmith-aws with the AWS SDK, so that neither this
/// crate nor the builder depends on it.
pub trait S3Fetch: Send + Sync {
    /// Writes the bytes of object `key` of `bucket` to `out`; `expected_owner` is the account
    /// that must own the bucket (S3's `ExpectedBucketOwner`).
    fn get(
        &self,
        bucket: &str,
        key: &str,
        expected_owner: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<(), S3Error>;

    /// Every key of `bucket` that starts with `prefix`, in S3's (lexicographic) order.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        expected_owner: Option<&str>,
    ) -> Result<Vec<String>, S3Error>;

    /// Whether requests can be made at all (credentials resolve); asked before a build that
    /// needs S3, so a missing credential is reported before any step runs.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

impl std::fmt::Debug for dyn S3Fetch + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Fetch")
    }
}

/// What an `S3Download` source names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Source {
    /// One object.
    Object {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// Every object under a key prefix (`s3://bucket/prefix/*`).
    Prefix {
        /// The bucket.
        bucket: String,
        /// The prefix, ending with `/` (empty for the whole bucket).
        prefix: String,
    },
}

impl S3Source {
    /// Reads `s3://bucket/key` or `s3://bucket/prefix/*`.
    pub fn parse(url: &str) -> Result<Self, S3Error> {
        let invalid = |reason| S3Error::InvalidUrl {
            url: url.to_string(),
            reason,
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| invalid("it does not start with `s3://`"))?;
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| invalid("it names no key after the bucket"))?;
        if bucket.is_empty() {
            return Err(invalid("it names no bucket"));
        }
        let bucket = bucket.to_string();
        if key == "*" {
            return Ok(S3Source::Prefix {
                bucket,
                prefix: String::new(),
            });
        }
        if let Some(prefix) = key.strip_suffix("/*") {
            if prefix.contains('*') {
                return Err(invalid("only a final `/*` is a wildcard"));
            }
            return Ok(S3Source::Prefix {
                bucket,
                prefix: format!("{prefix}/"),
            });
        }
        if key.contains('*') {
            return Err(invalid(
                "a wildcard must be a final `/*` (every object under the prefix)",
            ));
        }
        if key.is_empty() || key.ends_with('/') {
            return Err(invalid(
                "it names a folder; end it with `/*` to download everything under it",
            ));
        }
        Ok(S3Source::Object {
            bucket,
            key: key.to_string(),
        })
    }
}

fn url_of(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Runs one `S3Download` item: fetches the object(s) of `request.source` through `fetch` and
/// writes them under `root` (the image root on the host). Every path is resolved inside the
/// root as the executor's file actions do (symbolic links as if the root were `/`), and each
/// file is written to a temporary name in its folder, then renamed, so a failed download
/// leaves no half-written file. Returns the files written, as paths inside the image.
pub fn s3_download(
    fetch: &dyn S3Fetch,
    root: &Path,
    request: &S3DownloadRequest,
) -> Result<Vec<String>, S3Error> {
    let image = ImageRoot::new(root, "/");
    let destination = image.image_path(&request.destination);
    let owner = request.expected_bucket_owner.as_deref();
    let mut written = Vec::new();
    match S3Source::parse(&request.source)? {
        S3Source::Object { bucket, key } => {
            let mut target = destination;
            let folder = request.destination.as_os_str().as_bytes().ends_with(b"/");
            if folder || image.resolve(&target, true).is_ok_and(|p| p.is_dir()) {
                let name = key.rsplit('/').next().unwrap_or(&key);
                target = format!("{}/{name}", target.trim_end_matches('/'));
            }
            write_object(
                fetch,
                &image,
                &bucket,
                &key,
                owner,
                &target,
                request.overwrite,
            )?;
            written.push(target);
        }
        S3Source::Prefix { bucket, prefix } => {
            let url = url_of(&bucket, &prefix);
            let keys = fetch.list(&bucket, &prefix, owner)?;
            if keys.is_empty() {
                return Err(S3Error::NotFound { url });
            }
            for key in keys {
                let Some(relative) = key.strip_prefix(prefix.as_str()) else {
                    continue;
                };
                let parts: Vec<&str> = relative.split('/').filter(|p| !p.is_empty()).collect();
                if parts.iter().any(|p| *p == "." || *p == "..") {
                    return Err(S3Error::UnsafeKey { url, key });
                }
                if parts.is_empty() {
                    continue;
                }
                let target = format!("{}/{}", destination.trim_end_matches('/'), parts.join("/"));
                if key.ends_with('/') {
                    // A "folder" object (zero bytes, key ending with `/`): the folder only
                    let folder = image.resolve(&target, true)?;
                    std::fs::create_dir_all(&folder).map_err(|source| S3Error::Io {
                        operation: "create the folder",
                        path: target.clone(),
                        url: url_of(&bucket, &key),
                        source,
                    })?;
                    continue;
                }
                write_object(
                    fetch,
                    &image,
                    &bucket,
                    &key,
                    owner,
                    &target,
                    request.overwrite,
                )?;
                written.push(target);
            }
        }
    }
    Ok(written)
}

/// Fetches one object to `target` (a path inside the image) through a temporary file.
fn write_object(
    fetch: &dyn S3Fetch,
    image: &ImageRoot,
    bucket: &str,
    key: &str,
    owner: Option<&str>,
    target: &str,
    overwrite: bool,
) -> Result<(), S3Error> {
    let url = url_of(bucket, key);
    let io = |operation, path: &str| {
        let url = url.clone();
        let path = path.to_string();
        move |source| S3Error::Io {
            operation,
            path,
            url,
            source,
        }
    };
    let absolute = image.absolute(target)?;
    let (parent, name) = absolute.rsplit_once('/').unwrap_or(("", &absolute));
    let parent = if parent.is_empty() { "/" } else { parent };
    let host_parent = image.resolve(parent, true)?;
    std::fs::create_dir_all(&host_parent).map_err(io("create the folder", parent))?;
    let host_path = image.resolve(&absolute, true)?;
    if let Ok(metadata) = std::fs::metadata(&host_path) {
        if !overwrite {
            return Err(S3Error::AlreadyExists { path: absolute });
        }
        if metadata.is_dir() {
            return Err(io("replace the folder", &absolute)(std::io::Error::from(
                std::io::ErrorKind::IsADirectory,
            )));
        }
    }
    let partial = host_parent.join(format!(".{name}.imagesmith-partial"));
    let result = (|| {
        let file = std::fs::File::create(&partial).map_err(io("write", &absolute))?;
        let mut out = std::io::BufWriter::new(file);
        fetch
            .get(bucket, key, owner, &mut out)
            .map_err(|error| match error {
                // The fetcher knows the object, not where it is written
                S3Error::Io {
                    operation,
                    url,
                    source,
                    ..
                } => S3Error::Io {
                    operation,
                    path: absolute.clone(),
                    url,
                    source,
                },
                other => other,
            })?;
        out.into_inner()
            .map_err(|error| io("write", &absolute)(error.into_error()))?
            .sync_all()
            .map_err(io("write", &absolute))?;
        std::fs::rename(&partial, &host_path).map_err(io("move the download to", &absolute))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    /// Objects in memory; records the owners it was asked for
    #[derive(Default)]
    struct Memory {
        objects: BTreeMap<(String, String), Vec<u8>>,
        owner: Option<String>,
    }

    impl Memory {
        fn with(objects: &[(&str, &str, &str)]) -> Self {
            Memory {
                objects: objects
                    .iter()
                    .map(|(b, k, v)| ((b.to_string(), k.to_string()), v.as_bytes().to_vec()))
                    .collect(),
                owner: None,
            }
        }

        fn owned(&self, bucket: &str, key: &str, owner: Option<&str>) -> Result<(), S3Error> {
            match (&self.owner, owner) {
                (Some(actual), Some(expected)) if actual != expected => Err(S3Error::Denied {
                    url: url_of(bucket, key),
                    message: "Access Denied".into(),
                }),
                _ => Ok(()),
            }
        }
    }

    impl S3Fetch for Memory {
        fn get(
            &self,
            bucket: &str,
            key: &str,
            owner: Option<&str>,
            out: &mut dyn Write,
        ) -> Result<(), S3Error> {
            self.owned(bucket, key, owner)?;
            let body = self
                .objects
                .get(&(bucket.to_string(), key.to_string()))
                .ok_or_else(|| S3Error::NotFound {
                    url: url_of(bucket, key),
                })?;
            out.write_all(body).map_err(|source| S3Error::Io {
                operation: "write",
                path: String::new(),
                url: url_of(bucket, key),
                source,
            })
        }

        fn list(
            &self,
            bucket: &str,
            prefix: &str,
            owner: Option<&str>,
        ) -> Result<Vec<String>, S3Error> {
            self.owned(bucket, prefix, owner)?;
            Ok(self
                .objects
                .keys()
                .filter(|(b, k)| b == bucket && k.starts_with(prefix))
                .map(|(_, k)| k.clone())
                .collect())
        }
    }

    fn request(root: &Path, source: &str, destination: &str) -> S3DownloadRequest {
        S3DownloadRequest {
            source: source.into(),
            destination: root.join(destination.trim_start_matches('/')),
            expected_bucket_owner: None,
            overwrite: true,
        }
    }

    fn read(root: &Path, path: &str) -> String {
        std::fs::read_to_string(root.join(path.trim_start_matches('/'))).unwrap()
    }

    #[test]
    fn sources_are_parsed() {
        let object = |b: &str, k: &str| S3Source::Object {
            bucket: b.into(),
            key: k.into(),
        };
        let prefix = |b: &str, p: &str| S3Source::Prefix {
            bucket: b.into(),
            prefix: p.into(),
        };
        assert_eq!(S3Source::parse("s3://b/k").unwrap(), object("b", "k"));
        assert_eq!(
            S3Source::parse("s3://b/a/b.zip").unwrap(),
            object("b", "a/b.zip")
        );
        assert_eq!(S3Source::parse("s3://b/p/*").unwrap(), prefix("b", "p/"));
        assert_eq!(
            S3Source::parse("s3://b/p/q/*").unwrap(),
            prefix("b", "p/q/")
        );
        assert_eq!(S3Source::parse("s3://b/*").unwrap(), prefix("b", ""));
        for bad in [
            "https://b/k",
            "s3://b",
            "s3:///k",
            "s3://b/",
            "s3://b/folder/",
            "s3://b/p*",
            "s3://b/*/x",
            "s3://b/a*/*",
        ] {
            let error = S3Source::parse(bad).unwrap_err();
            assert!(
                error.to_string().starts_with(&format!("`{bad}` is not")),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn one_object_is_written_to_the_destination_file() {
        let dir = tempfile::tempdir().unwrap();
        let fetch = Memory::with(&[("b", "path/to/package.zip", "zip bytes")]);
        let written = s3_download(
            &fetch,
            dir.path(),
            &request(dir.path(), "s3://b/path/to/package.zip", "/opt/pkg/p.zip"),
        )
        .unwrap();
        assert_eq!(written, ["/opt/pkg/p.zip"]);
        assert_eq!(read(dir.path(), "/opt/pkg/p.zip"), "zip bytes");
        // Into an existing folder: under the key's last name
        let written = s3_download(
            &fetch,
            dir.path(),
            &request(dir.path(), "s3://b/path/to/package.zip", "/opt/pkg"),
        )
        .unwrap();
        assert_eq!(written, ["/opt/pkg/package.zip"]);
        // Into a folder named with a final `/` (the executor keeps it), created if needed
        let written = s3_download(
            &fetch,
            dir.path(),
            &request(dir.path(), "s3://b/path/to/package.zip", "/new/dir/"),
        )
        .unwrap();
        assert_eq!(written, ["/new/dir/package.zip"]);
        assert_eq!(read(dir.path(), "/new/dir/package.zip"), "zip bytes");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("opt/pkg"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_prefix_is_written_below_the_destination_folder() {
        let dir = tempfile::tempdir().unwrap();
        let fetch = Memory::with(&[
            ("b", "p/a.txt", "a"),
            ("b", "p/sub/", ""),
            ("b", "p/sub/b.txt", "b"),
            ("b", "p/empty/", ""),
            ("b", "other/c.txt", "c"),
        ]);
        let written = s3_download(
            &fetch,
            dir.path(),
            &request(dir.path(), "s3://b/p/*", "/dest/"),
        )
        .unwrap();
        assert_eq!(written, ["/dest/a.txt", "/dest/sub/b.txt"]);
        assert_eq!(read(dir.path(), "/dest/a.txt"), "a");
        assert_eq!(read(dir.path(), "/dest/sub/b.txt"), "b");
        assert!(dir.path().join("dest/empty").is_dir());
        assert!(!dir.path().join("dest/c.txt").exists());
        let error = s3_download(
            &fetch,
            dir.path(),
            &request(dir.path(), "s3://b/none/*", "/d"),
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "`s3://b/none/` does not exist");
    }

    #[test]
    fn keys_and_links_never_lead_outside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        // A link in the image pointing at a host folder is followed as if the root were `/`
        std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
        let fetch = Memory::with(&[("b", "k", "data"), ("b", "p/../../etc/passwd", "x")]);
        s3_download(
            &fetch,
            dir.path(),
            &request(dir.path(), "s3://b/k", "/escape/k"),
        )
        .unwrap();
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        let inside: PathBuf = dir
            .path()
            .join(outside.path().strip_prefix("/").unwrap())
            .join("k");
        assert_eq!(std::fs::read_to_string(inside).unwrap(), "data");
        let error =
            s3_download(&fetch, dir.path(), &request(dir.path(), "s3://b/p/*", "/d")).unwrap_err();
        assert!(
            matches!(&error, S3Error::UnsafeKey { key, .. } if key == "p/../../etc/passwd"),
            "{error}"
        );
    }

    #[test]
    fn missing_objects_owners_and_overwrite_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut fetch = Memory::with(&[("b", "k", "new")]);
        let error = s3_download(
            &fetch,
            dir.path(),
            &request(dir.path(), "s3://b/nope", "/f"),
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "`s3://b/nope` does not exist");
        assert!(!dir.path().join("f").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        std::fs::write(dir.path().join("f"), "old").unwrap();
        let mut keep = request(dir.path(), "s3://b/k", "/f");
        keep.overwrite = false;
        let error = s3_download(&fetch, dir.path(), &keep).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`/f` already exists and `overwrite` is false"
        );
        assert_eq!(read(dir.path(), "/f"), "old");
        s3_download(&fetch, dir.path(), &request(dir.path(), "s3://b/k", "/f")).unwrap();
        assert_eq!(read(dir.path(), "/f"), "new");

        fetch.owner = Some("111111111111".into());
        let mut owned = request(dir.path(), "s3://b/k", "/g");
        owned.expected_bucket_owner = Some("222222222222".into());
        let error = s3_download(&fetch, dir.path(), &owned).unwrap_err();
        assert!(matches!(error, S3Error::Denied { .. }), "{error}");
    }
}
