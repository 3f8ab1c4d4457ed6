//! Base images: pulled from a registry, bootstrapped Debian, an OCI image layout, or a root
//! filesystem directory or tarball; each resolved to an image in the cache (by digest) and
//! an extracted root filesystem used as the lowest overlay layer
//!
//! A recipe's base reference is pulled from its registry (see [`imagesmith_oci::registry`]
//! for references, credentials and plain-HTTP registries), except `debian:12` and
//! `debian:bookworm` (under any registry), which are bootstrapped from the Debian mirror.
//! `--base REFERENCE=SOURCE` replaces a reference with `docker://HOST/REPOSITORY[:TAG]`
//! (pulled even when it names Debian), `oci:DIR[:TAG]`, `dir:PATH` or `tarball:PATH`.
//!
//! A pulled base is keyed by its manifest digest, like a layout's: a tag is resolved again
//! on each build, and an image already pulled (same digest) is neither fetched nor
//! extracted again.

use std::path::{Path, PathBuf};
use std::process::Command;

use imagesmith_oci::oci_spec::image::{Arch, Os};
use imagesmith_oci::registry::{Reference, RegistryClient};
use imagesmith_oci::{
    apply_layers, import_rootfs_dir, import_rootfs_tarball, write_layout, ApplyOptions, Image,
    ImageBuilder, ImageLayout, LayerOptions,
};
use serde::Serialize;

use crate::cache::{key_of, remove_tree, short, Cache};
use crate::error::BuildError;
use crate::normalize::normalize;

/// The Debian mirror used when none is given
pub const DEFAULT_DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";

/// The `PATH` of bootstrapped bases
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where a base image comes from
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum BaseSource {
    /// Bootstrap Debian `suite` (minbase) from the mirror
    Bootstrap {
        /// `bookworm`
        suite: String,
    },
    /// An OCI image layout directory
    Layout {
        /// The directory
        dir: PathBuf,
        /// The ref name, or the only image
        tag: Option<String>,
    },
    /// A root filesystem directory
    RootfsDir {
        /// The directory
        dir: PathBuf,
    },
    /// A root filesystem tarball (plain, gzip or zstd)
    RootfsTarball {
        /// The file
        file: PathBuf,
    },
    /// An image in a registry
    Registry {
        /// The reference
        reference: Reference,
    },
}

impl BaseSource {
    /// Reads a base reference: `oci:DIR[:TAG]`, `dir:PATH`, `tarball:PATH`,
    /// `docker://HOST/REPOSITORY[:TAG|@DIGEST]`, `debian:12`/`debian:bookworm` (any registry
    /// prefix, bootstrapped), or any other image reference (pulled)
    pub fn parse(reference: &str) -> Result<Self, BuildError> {
        if let Some(rest) = reference.strip_prefix("oci:") {
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => {
                    (dir, Some(tag.to_owned()))
                }
                _ => (rest, None),
            };
            return Ok(BaseSource::Layout {
                dir: PathBuf::from(dir),
                tag,
            });
        }
        if let Some(dir) = reference.strip_prefix("dir:") {
            return Ok(BaseSource::RootfsDir {
                dir: PathBuf::from(dir),
            });
        }
        if let Some(file) = reference.strip_prefix("tarball:") {
            return Ok(BaseSource::RootfsTarball {
                file: PathBuf::from(file),
            });
        }
        // Explicitly from a registry, even a name that would be bootstrapped. (No
        // `registry:` prefix: `registry:5000/app` is a host named `registry`.)
        if reference.starts_with("docker://") {
            return Self::registry(reference);
        }
        let name = reference
            .rsplit('/')
            .next()
            .unwrap_or(reference)
            .split('@')
            .next()
            .unwrap_or(reference);
        if matches!(
            name,
            "debian:12" | "debian:bookworm" | "debian:12-slim" | "debian:bookworm-slim"
        ) {
            return Ok(BaseSource::Bootstrap {
                suite: String::from("bookworm"),
            });
        }
        Self::registry(reference)
    }

    fn registry(reference: &str) -> Result<Self, BuildError> {
        let parsed = Reference::parse(reference).map_err(BuildError::pull(reference))?;
        Ok(BaseSource::Registry { reference: parsed })
    }
}

/// A base image ready to build on
#[derive(Debug, Clone)]
pub struct ResolvedBase {
    /// The reference as written in the recipe
    pub reference: String,
    /// The image, whose blobs are in the cache
    pub image: Image,
    /// Its extracted root filesystem (the lowest overlay layer)
    pub rootfs: PathBuf,
    /// The OCI image layout of the base in the cache (usable with `skopeo`, `buildah`)
    pub layout: PathBuf,
}

/// How bases are made
#[derive(Debug, Clone)]
pub struct BaseOptions {
    /// The Debian mirror for bootstraps
    pub debian_mirror: String,
    /// The build epoch
    pub source_date_epoch: u64,
}

/// Gets the base `reference` from `source` into the cache (or finds it there); registries
/// are reached with the credentials and settings of the environment
/// ([`RegistryClient::from_env`])
pub fn resolve(
    cache: &Cache,
    reference: &str,
    source: &BaseSource,
    options: &BaseOptions,
    log: &dyn Fn(&str),
) -> Result<ResolvedBase, BuildError> {
    resolve_with(
        cache,
        reference,
        source,
        options,
        &RegistryClient::from_env(),
        log,
    )
}

/// [`resolve`] with a registry client of the caller's (its own credential source, say)
pub fn resolve_with(
    cache: &Cache,
    reference: &str,
    source: &BaseSource,
    options: &BaseOptions,
    registry: &RegistryClient,
    log: &dyn Fn(&str),
) -> Result<ResolvedBase, BuildError> {
    // Images from a layout or a registry are known (and stored) before the key is
    let mut known = None;
    let key = match source {
        BaseSource::Bootstrap { suite } => key_of(&(
            "bootstrap-v2",
            suite,
            "minbase",
            &options.debian_mirror,
            "amd64",
            options.source_date_epoch,
            crate::normalize::REMOVED,
        )),
        BaseSource::Layout { dir, tag } => {
            let layout = ImageLayout::open(dir).map_err(BuildError::oci(reference))?;
            let image = layout
                .image(tag.as_deref())
                .map_err(BuildError::oci(reference))?;
            image
                .copy_blobs(layout.blobs(), cache.blobs())
                .map_err(BuildError::oci(reference))?;
            let key = key_of(&("layout-v1", image.digest().to_string()));
            known = Some(image);
            key
        }
        BaseSource::Registry {
            reference: image_reference,
        } => {
            // The tag is resolved on every build; blobs already stored are not fetched
            let pulled = registry
                .pull(image_reference, cache.blobs(), log)
                .map_err(BuildError::pull(reference))?;
            // The same key as a layout's: one image, one extracted tree, wherever it came from
            let key = key_of(&("layout-v1", pulled.image.digest().to_string()));
            known = Some(pulled.image);
            key
        }
        BaseSource::RootfsDir { dir } => key_of(&(
            "dir-v1",
            std::path::absolute(dir)?,
            options.source_date_epoch,
        )),
        BaseSource::RootfsTarball { file } => key_of(&(
            "tarball-v1",
            std::path::absolute(file)?,
            options.source_date_epoch,
        )),
    };
    let id = short(&key);
    let layout_dir = cache.dir("bases").join(&id);
    let rootfs = cache.dir("b").join(&id);
    // Imported directories and tarballs may change under the same path: always re-read
    let reusable = !matches!(
        source,
        BaseSource::RootfsDir { .. } | BaseSource::RootfsTarball { .. }
    );
    if reusable && layout_dir.join("index.json").is_file() && rootfs.is_dir() {
        let layout = ImageLayout::open(&layout_dir).map_err(BuildError::oci(reference))?;
        let image = layout
            .image(Some("latest"))
            .map_err(BuildError::oci(reference))?;
        return Ok(ResolvedBase {
            reference: reference.to_owned(),
            image,
            rootfs,
            layout: layout_dir,
        });
    }
    remove_tree(&rootfs)?;
    let scratch = cache.scratch()?;
    let tree = scratch.path().join("rootfs");
    let image = match source {
        BaseSource::Bootstrap { suite } => {
            log(&format!(
                "bootstrapping Debian `{suite}` from `{}`",
                options.debian_mirror
            ));
            bootstrap(
                suite,
                &options.debian_mirror,
                options.source_date_epoch,
                &tree,
            )
            .map_err(|message| BuildError::Base {
                reference: reference.to_owned(),
                message,
            })?;
            normalize(&tree, options.source_date_epoch)?;
            let image = import(cache, reference, &tree, options)?;
            // What `debian:12` from a registry has: a PATH and bash as the command
            let mut builder = ImageBuilder::from_base(&image, options.source_date_epoch);
            builder
                .set_env("PATH", DEFAULT_PATH)
                .set_cmd(vec![String::from("bash")]);
            builder
                .build(cache.blobs())
                .map_err(BuildError::oci(reference))?
        }
        BaseSource::RootfsDir { dir } => {
            log(&format!("importing root filesystem `{}`", dir.display()));
            import(cache, reference, dir, options)?
        }
        BaseSource::RootfsTarball { file } => {
            log(&format!(
                "importing root filesystem tarball `{}`",
                file.display()
            ));
            import_rootfs_tarball(
                cache.blobs(),
                file,
                imagesmith_oci::Compression::Gzip,
                Arch::Amd64,
                Os::Linux,
                options.source_date_epoch,
            )
            .map_err(BuildError::oci(reference))?
        }
        BaseSource::Layout { .. } | BaseSource::Registry { .. } => match known {
            Some(image) => image,
            None => {
                return Err(BuildError::Base {
                    reference: reference.to_owned(),
                    message: String::from("its image was not read"),
                })
            }
        },
    };
    if !tree.is_dir() {
        apply_layers(
            cache.blobs(),
            image.layers(),
            &tree,
            ApplyOptions {
                preserve_ownership: true,
                xattrs: true,
            },
        )
        .map_err(BuildError::oci(reference))?;
    }
    fs_err::rename(&tree, &rootfs)?;
    // The layout is the record: written last
    write_layout(&layout_dir, cache.blobs(), &[("latest", &image)])
        .map_err(BuildError::oci(reference))?;
    Ok(ResolvedBase {
        reference: reference.to_owned(),
        image,
        rootfs,
        layout: layout_dir,
    })
}

fn layer_options(options: &BaseOptions) -> LayerOptions {
    let mut layer = LayerOptions::new(options.source_date_epoch);
    layer.xattrs = true;
    layer
}

fn import(
    cache: &Cache,
    reference: &str,
    tree: &Path,
    options: &BaseOptions,
) -> Result<Image, BuildError> {
    import_rootfs_dir(
        cache.blobs(),
        tree,
        &layer_options(options),
        Arch::Amd64,
        Os::Linux,
    )
    .map_err(BuildError::oci(reference))
}

/// Bootstraps a minimal Debian into `target` (which must not exist): mmdebstrap when
/// installed (reproducible with `SOURCE_DATE_EPOCH`), else debootstrap
pub fn bootstrap(suite: &str, mirror: &str, epoch: u64, target: &Path) -> Result<(), String> {
    let mirror = mirror.trim_end_matches('/');
    let mut sources = vec![
        format!("deb {mirror} {suite} main"),
        format!("deb {mirror} {suite}-updates main"),
    ];
    if let Some(prefix) = mirror.strip_suffix("/debian") {
        sources.push(format!(
            "deb {prefix}/debian-security {suite}-security main"
        ));
    }
    let mut command = if which("mmdebstrap") {
        let mut command = Command::new("mmdebstrap");
        command
            .args([
                "--quiet",
                "--mode=root",
                "--variant=minbase",
                "--format=directory",
            ])
            .arg(suite)
            .arg(target)
            .args(&sources);
        command
    } else if which("debootstrap") {
        let mut command = Command::new("debootstrap");
        command
            .args(["--variant=minbase", suite])
            .arg(target)
            .arg(mirror);
        command
    } else {
        return Err(String::from(
            "neither `mmdebstrap` nor `debootstrap` is installed\nhint: `apt-get install mmdebstrap`",
        ));
    };
    // The tool's own temporary files (mmdebstrap's GnuPG home, apt's lists) go in a
    // directory beside the target that is removed with this call, not in the host's /tmp
    let scratch = tempfile::Builder::new()
        .prefix(".bootstrap-tmp-")
        .tempdir_in(target.parent().unwrap_or(Path::new(".")))
        .map_err(|error| format!("cannot make a temporary directory beside the target: {error}"))?;
    command
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("LC_ALL", "C.UTF-8")
        .env("TMPDIR", scratch.path())
        .stdin(std::process::Stdio::null());
    let output = command
        .output()
        .map_err(|error| format!("cannot run the bootstrap tool: {error}"))?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        if crate::error::says_no_space(&text) {
            // A full disk is not the mirror's fault: the build reports it as such
            // (BuildError::NoSpace), with the hint to free space or move the cache
            return Err(format!(
                "the bootstrap into `{}` failed ({}) for lack of space:\n{}",
                target.display(),
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        return Err(format!(
            "the bootstrap failed ({}):\n{}\nhint: check that the mirror is reachable, or set another with `--mirror URL` or `IMAGESMITH_DEBIAN_MIRROR`",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(())
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        for reference in [
            "debian:12",
            "debian:bookworm",
            "docker.io/library/debian:12",
            "public.ecr.aws/docker/library/debian:bookworm",
        ] {
            assert_eq!(
                BaseSource::parse(reference).unwrap(),
                BaseSource::Bootstrap {
                    suite: "bookworm".into()
                },
                "{reference}"
            );
        }
        assert_eq!(
            BaseSource::parse("oci:/tmp/base:latest").unwrap(),
            BaseSource::Layout {
                dir: "/tmp/base".into(),
                tag: Some("latest".into())
            }
        );
        assert_eq!(
            BaseSource::parse("oci:/tmp/base").unwrap(),
            BaseSource::Layout {
                dir: "/tmp/base".into(),
                tag: None
            }
        );
        assert_eq!(
            BaseSource::parse("amazonlinux:2023").unwrap(),
            BaseSource::Registry {
                reference: Reference::parse("docker.io/library/amazonlinux:2023").unwrap()
            }
        );
        // `docker://` pulls even a name that would be bootstrapped
        assert_eq!(
            BaseSource::parse("docker://127.0.0.1:5000/debian:12").unwrap(),
            BaseSource::Registry {
                reference: Reference::parse("127.0.0.1:5000/debian:12").unwrap()
            }
        );
        let error = BaseSource::parse("Not A Reference").unwrap_err();
        assert!(matches!(error, BuildError::Pull { .. }), "{error}");
        assert!(error.is_expected());
        assert!(error.to_string().contains("Invalid image reference"));
    }
}
