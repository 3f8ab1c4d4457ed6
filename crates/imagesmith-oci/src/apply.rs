//! Extracting a stack of layers into a directory, honouring OCI whiteouts

use std::collections::HashSet;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use oci_spec::image::Descriptor;

use crate::error::{IoContext, OciError, Result};
use crate::store::BlobStore;

/// Wraps a possibly compressed stream (gzip or zstd, told by its magic bytes) in a decoder
pub(crate) fn decoder<'a, R: Read + 'a>(input: R, what: &str) -> Result<Box<dyn Read + 'a>> {
    let mut input = BufReader::new(input);
    let head = input.fill_buf().at("read", what)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(input)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(
            zstd::Decoder::with_buffer(input).at("start decompressing", what)?,
        ))
    } else {
        Ok(Box::new(input))
    }
}

/// How layers are extracted
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Set owners from the tar (needs root, or a user namespace mapping them)
    pub preserve_ownership: bool,
    /// Restore extended attributes from PAX records
    pub xattrs: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            preserve_ownership: nix::unistd::geteuid().is_root(),
            xattrs: false,
        }
    }
}

/// Extracts `layers` (base first) from `store` into `dest`, applying whiteouts; the blobs'
/// digests are verified as they are read
pub fn apply_layers(
    store: &BlobStore,
    layers: &[Descriptor],
    dest: &Path,
    options: ApplyOptions,
) -> Result<()> {
    fs_err::create_dir_all(dest)?;
    for layer in layers {
        let blob = store.open_verified(layer.digest())?;
        apply_layer(blob, layer.digest().as_ref(), dest, options)?;
    }
    Ok(())
}

/// Extracts one layer tar (plain, gzip or zstd) into `dest`; `name` identifies it in errors
pub fn apply_layer(input: impl Read, name: &str, dest: &Path, options: ApplyOptions) -> Result<()> {
    let mut archive = tar::Archive::new(decoder(input, name)?);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_preserve_ownerships(options.preserve_ownership);
    archive.set_unpack_xattrs(options.xattrs);
    archive.set_overwrite(true);
    // Paths this layer has written: whiteouts only remove what lower layers put there
    let mut written: HashSet<PathBuf> = HashSet::new();
    let unsafe_entry = |entry: &Path, reason| OciError::UnsafeEntry {
        layer: name.to_owned(),
        entry: entry.display().to_string(),
        reason,
    };
    let entries = archive.entries().at("read layer", name)?;
    for entry in entries {
        let mut entry = entry.at("read layer", name)?;
        let raw = entry.path().at("read layer", name)?.into_owned();
        let relative = normalize(&raw).ok_or_else(|| unsafe_entry(&raw, "it leaves the root"))?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        ensure_no_symlink_parents(dest, &relative)
            .map_err(|()| unsafe_entry(&raw, "a parent directory is a symlink"))?;
        let file_name = relative
            .file_name()
            .map(|n| n.as_bytes())
            .unwrap_or_default();
        let parent = relative.parent().unwrap_or(Path::new("")).to_path_buf();
        if file_name == b".wh..wh..opq" {
            let dir = dest.join(&parent);
            if dir.is_dir() {
                for child in fs_err::read_dir(&dir)? {
                    let child = child?;
                    if !written.contains(&parent.join(child.file_name())) {
                        remove_any(&child.path())?;
                    }
                }
            }
            continue;
        }
        if let Some(hidden) = file_name.strip_prefix(b".wh.") {
            let target = parent.join(std::ffi::OsStr::from_bytes(hidden));
            if !written.contains(&target) {
                remove_any(&dest.join(&target))?;
            }
            continue;
        }
        let path = dest.join(&relative);
        let kind = entry.header().entry_type();
        // A new entry replaces what was there, except a directory merges into a directory
        if let Ok(existing) = fs_err::symlink_metadata(&path) {
            if !(kind.is_dir() && existing.is_dir()) {
                remove_any(&path)?;
            }
        }
        if options.preserve_ownership {
            check_mapped(entry.header(), &path)?;
        }
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            make_node(&mut entry, &path, kind, options)?;
        } else {
            entry.unpack_in(dest).at("extract layer entry to", &path)?;
        }
        written.insert(relative);
    }
    Ok(())
}

fn make_node(
    entry: &mut tar::Entry<'_, impl Read>,
    path: &Path,
    kind: tar::EntryType,
    options: ApplyOptions,
) -> Result<()> {
    use nix::sys::stat::{mknod, Mode, SFlag};
    let header = entry.header();
    let mode = header.mode().at("read the mode of", path)?;
    let flag = if kind.is_character_special() {
        SFlag::S_IFCHR
    } else if kind.is_block_special() {
        SFlag::S_IFBLK
    } else {
        SFlag::S_IFIFO
    };
    let major = header.device_major().ok().flatten().unwrap_or(0);
    let minor = header.device_minor().ok().flatten().unwrap_or(0);
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    match mknod(
        path,
        flag,
        Mode::from_bits_truncate(mode),
        libc::makedev(major, minor),
    ) {
        Ok(()) => {}
        // No user namespace may create devices (as containers/storage, leave them out: the
        // sandbox's `/dev` is its own tmpfs with the host's harmless devices bound in)
        Err(nix::errno::Errno::EPERM) if flag != SFlag::S_IFIFO && namespace_maps().is_some() => {
            return Ok(())
        }
        Err(errno) => return Err(io::Error::from(errno)).at("create device node", path),
    }
    if options.preserve_ownership {
        let uid = header.uid().at("read the owner of", path)?;
        let gid = header.gid().at("read the owner of", path)?;
        nix::unistd::chown(
            path,
            Some(nix::unistd::Uid::from_raw(uid as u32)),
            Some(nix::unistd::Gid::from_raw(gid as u32)),
        )
        .map_err(io::Error::from)
        .at("set the owner of", path)?;
    }
    Ok(())
}

/// The ids mapped in a user namespace, as (first, count) ranges
type Ranges = Vec<(u32, u32)>;

/// The uids and gids mapped in this process's user namespace; `None` in the initial
/// namespace, where every id exists
fn namespace_maps() -> Option<&'static (Ranges, Ranges)> {
    static MAPS: std::sync::OnceLock<Option<(Ranges, Ranges)>> = std::sync::OnceLock::new();
    fn read(file: &str) -> Option<Ranges> {
        let text = std::fs::read_to_string(file).ok()?;
        let ranges: Ranges = text
            .lines()
            .filter_map(|line| {
                let mut numbers = line.split_whitespace().map(|n| n.parse::<u32>().ok());
                let (inside, _, count) = (numbers.next()??, numbers.next()??, numbers.next()??);
                Some((inside, count))
            })
            .collect();
        // The initial namespace maps every id to itself
        (ranges != [(0, u32::MAX)]).then_some(ranges)
    }
    MAPS.get_or_init(|| Some((read("/proc/self/uid_map")?, read("/proc/self/gid_map")?)))
        .as_ref()
}

/// Refuses an entry whose owner this user namespace does not map (chown would fail with a
/// bare `Invalid argument`), saying how to map more ids
fn check_mapped(header: &tar::Header, path: &Path) -> Result<()> {
    let Some((uids, gids)) = namespace_maps() else {
        return Ok(());
    };
    let uid = header.uid().at("read the owner of", path)?;
    let gid = header.gid().at("read the owner of", path)?;
    let mapped = |ranges: &[(u32, u32)], id: u64| {
        ranges.iter().any(|(first, count)| {
            id >= u64::from(*first) && id - u64::from(*first) < u64::from(*count)
        })
    };
    if mapped(uids, uid) && mapped(gids, gid) {
        return Ok(());
    }
    let describe = |ranges: &[(u32, u32)]| {
        ranges
            .iter()
            .map(|(first, count)| match count {
                1 => first.to_string(),
                _ => format!("{first}-{}", u64::from(*first) + u64::from(*count) - 1),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(OciError::IoAt {
        action: "set the owner of",
        path: path.to_path_buf(),
        source: io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the layer gives it to uid {uid}, gid {gid}, but this user namespace maps only uids {} and gids {}\n  hint: give the user (more) subordinate ids: `sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER` (a range in `/etc/subuid` and `/etc/subgid` no other user has), or build as root",
                describe(uids),
                describe(gids)
            ),
        ),
    })
}

/// The entry path without `./` and `/` prefixes; `None` when it climbs out with `..`
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Refuses paths whose parents inside `dest` are symlinks, which could lead a write or a
/// whiteout out of the tree
fn ensure_no_symlink_parents(dest: &Path, relative: &Path) -> Result<(), ()> {
    let mut current = dest.to_path_buf();
    if let Some(parent) = relative.parent() {
        for component in parent.components() {
            current.push(component);
            match std::fs::symlink_metadata(&current) {
                Ok(metadata) if metadata.file_type().is_symlink() => return Err(()),
                Ok(_) => {}
                Err(_) => return Ok(()),
            }
        }
    }
    Ok(())
}

fn remove_any(path: &Path) -> Result<()> {
    match fs_err::symlink_metadata(path) {
        Ok(metadata) if metadata.is_dir() => fs_err::remove_dir_all(path)?,
        Ok(_) => fs_err::remove_file(path)?,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error.into()),
    }
    Ok(())
}
