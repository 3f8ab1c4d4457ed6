//! Base images: bootstrapped Debian, an OCI image layout, or a root filesystem directory or
//! tarball; each resolved to an image in the cache (by digest) and an extracted root
//! filesystem used as the lowest overlay layer
//!
//! Registry pulls are not implemented yet (see `imagesmith_oci::registry`): a recipe whose
//! base is `debian:12` or `debian:bookworm` is bootstrapped from the Debian mirror instead,
//! and any other base must be given as `oci:DIR[:TAG]`, `dir:PATH` or `tarball:PATH`
//! (with `--base REFERENCE=SOURCE` when the recipe names a registry image).

use std::path::{Path, PathBuf};
use std::process::Command;

use imagesmith_oci::oci_spec::image::{Arch, Os};
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
}

impl BaseSource {
    /// Reads a base reference: `debian:12`/`debian:bookworm` (any registry prefix),
    /// `oci:DIR[:TAG]`, `dir:PATH`, `tarball:PATH`
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
        Err(BuildError::Base {
            reference: reference.to_owned(),
            message: String::from(
                "pulling from a registry is not implemented yet\nhint: pass `--base REFERENCE=oci:DIR[:TAG]` (an OCI image layout, e.g. from `skopeo copy`), `--base REFERENCE=dir:ROOTFS` or `--base REFERENCE=tarball:ROOTFS.tar`",
            ),
        })
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

/// Gets the base `reference` from `source` into the cache (or finds it there)
pub fn resolve(
    cache: &Cache,
    reference: &str,
    source: &BaseSource,
    options: &BaseOptions,
    log: &dyn Fn(&str),
) -> Result<ResolvedBase, BuildError> {
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
            key_of(&("layout-v1", image.digest().to_string()))
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
        BaseSource::Layout { dir, tag } => {
            let layout = ImageLayout::open(dir).map_err(BuildError::oci(reference))?;
            layout
                .image(tag.as_deref())
                .map_err(BuildError::oci(reference))?
        }
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
    command
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("LC_ALL", "C.UTF-8")
        .stdin(std::process::Stdio::null());
    let output = command
        .output()
        .map_err(|error| format!("cannot run the bootstrap tool: {error}"))?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
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
        assert!(matches!(
            BaseSource::parse("amazonlinux:2023"),
            Err(BuildError::Base { .. })
        ));
    }
}
