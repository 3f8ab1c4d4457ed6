//! The file system actions, every path resolved inside the image root.

use super::error::ActionError;
use super::input::{boolean, optional, required};
use super::root::{file_digest, wildcard_match, Accounts, Encoding, ImageRoot};
use super::Outputs;
use serde_json::{Map, Value};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

type Result<T> = std::result::Result<T, ActionError>;

fn io<'a>(
    operation: &'static str,
    path: &'a str,
) -> impl FnOnce(std::io::Error) -> ActionError + 'a {
    move |source| ActionError::Io {
        operation,
        path: path.to_string(),
        source,
    }
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

fn encoding(item: &Map<String, Value>) -> Result<Encoding> {
    match optional(item, "encoding")? {
        None => Ok(Encoding::Utf8),
        Some(name) => Encoding::parse(&name).ok_or_else(|| ActionError::InvalidInputs {
            message: format!("`{name}` is not a supported encoding"),
        }),
    }
}

/// Reads `permissions` (octal text, or an integer written without quotes).
pub(crate) fn mode(text: &str) -> Result<u32> {
    crate::check::exec_mode(text).ok_or_else(|| ActionError::InvalidInputs {
        message: format!("`{text}` is not an octal permission mode"),
    })
}

fn create_parent(root: &ImageRoot, image_path: &str) -> Result<()> {
    let absolute = root.absolute(image_path)?;
    if let Some((parent, _)) = absolute.rsplit_once('/') {
        if !parent.is_empty() {
            let host = root.resolve(parent, true)?;
            fs::create_dir_all(&host).map_err(io("create the folder", parent))?;
        }
    }
    Ok(())
}

struct Owner {
    uid: Option<u32>,
    gid: Option<u32>,
}

fn owner(root: &ImageRoot, item: &Map<String, Value>, owner_required: bool) -> Result<Owner> {
    let user = if owner_required {
        Some(required(item, "owner")?)
    } else {
        optional(item, "owner")?
    };
    let group = optional(item, "group")?;
    if user.is_none() && group.is_none() {
        return Ok(Owner {
            uid: None,
            gid: None,
        });
    }
    let accounts = Accounts::load(root);
    let mut resolved = Owner {
        uid: None,
        gid: None,
    };
    if let Some(user) = &user {
        let (uid, primary) = accounts
            .user(user)
            .ok_or_else(|| ActionError::UnknownAccount {
                kind: "User",
                name: user.clone(),
                file: "/etc/passwd",
            })?;
        resolved.uid = Some(uid);
        // Without a group, the file goes to the user's own group (AWSTOE's default).
        resolved.gid = primary;
    }
    if let Some(group) = &group {
        resolved.gid = Some(
            accounts
                .group(group)
                .ok_or_else(|| ActionError::UnknownAccount {
                    kind: "Group",
                    name: group.clone(),
                    file: "/etc/group",
                })?,
        );
    }
    Ok(resolved)
}

fn apply_owner(host: &Path, image_path: &str, owner: &Owner, follow: bool) -> Result<()> {
    if owner.uid.is_none() && owner.gid.is_none() {
        return Ok(());
    }
    let result = if follow {
        std::os::unix::fs::chown(host, owner.uid, owner.gid)
    } else {
        std::os::unix::fs::lchown(host, owner.uid, owner.gid)
    };
    result.map_err(io("change the owner of", image_path))
}

fn apply_mode(host: &Path, image_path: &str, mode: Option<u32>) -> Result<()> {
    if let Some(mode) = mode {
        fs::set_permissions(host, fs::Permissions::from_mode(mode))
            .map_err(io("change the permissions of", image_path))?;
    }
    Ok(())
}

/// Runs one item of a file action.
pub(crate) fn run(
    action: &str,
    root: &ImageRoot,
    item: &Map<String, Value>,
    notes: &mut Vec<String>,
) -> Result<Outputs> {
    let mut outputs = Outputs::new();
    match action {
        "CreateFile" => create_file(root, item)?,
        "AppendFile" => append_file(root, item)?,
        "CreateFolder" => create_folder(root, item)?,
        "CopyFile" | "MoveFile" | "CopyFolder" | "MoveFolder" => copy_or_move(action, root, item)?,
        "DeleteFile" => delete_file(root, item, notes)?,
        "DeleteFolder" => delete_folder(root, item, notes)?,
        "CreateSymlink" => create_symlink(root, item)?,
        "ReadFile" => {
            let path = required(item, "path")?;
            let host = root.resolve(&path, true)?;
            let bytes = fs::read(&host).map_err(io("read", &path))?;
            let content =
                encoding(item)?
                    .decode(&bytes)
                    .ok_or_else(|| ActionError::InvalidInputs {
                        message: format!("`{path}` is not valid text in the given encoding"),
                    })?;
            if boolean(item, "printFileContent", false)? {
                notes.push(format!("Content of `{path}`:\n{content}"));
            }
            outputs.insert("content".into(), content);
        }
        "ListFiles" => {
            outputs.insert("files".into(), list_files(root, item)?);
        }
        "SetFileEncoding" => {
            let path = required(item, "path")?;
            let host = root.resolve(&path, true)?;
            let bytes = fs::read(&host).map_err(io("read", &path))?;
            let text = String::from_utf8(bytes).map_err(|_| ActionError::InvalidInputs {
                message: format!("`{path}` is not UTF-8 text"),
            })?;
            fs::write(&host, encoding(item)?.encode(&text)).map_err(io("write", &path))?;
        }
        "SetFileOwner" | "SetFolderOwner" => {
            let path = required(item, "path")?;
            let host = root.resolve(&path, true)?;
            if !exists(&host) {
                return Err(ActionError::NotFound { path });
            }
            let owner = owner(root, item, true)?;
            let recursive = action == "SetFolderOwner" && boolean(item, "recursive", true)?;
            walk(&host, recursive, &mut |entry, is_link| {
                apply_owner(entry, &root.image_path(entry), &owner, !is_link)
            })?;
        }
        "SetFilePermissions" | "SetFolderPermissions" => {
            let path = required(item, "path")?;
            let host = root.resolve(&path, true)?;
            if !exists(&host) {
                return Err(ActionError::NotFound { path });
            }
            let mode = mode(&required(item, "permissions")?)?;
            let recursive = action == "SetFolderPermissions" && boolean(item, "recursive", true)?;
            walk(&host, recursive, &mut |entry, is_link| {
                if is_link {
                    // Permissions of a link are meaningless on Linux; its target is elsewhere.
                    return Ok(());
                }
                apply_mode(entry, &root.image_path(entry), Some(mode))
            })?;
        }
        other => {
            return Err(ActionError::Unsupported {
                action: other.to_string(),
                reason: "not a file action".into(),
            })
        }
    }
    Ok(outputs)
}

/// Calls `visit` on `top` and, when `recursive`, on everything below it without following
/// links; `visit` gets each path and whether it is a symbolic link.
fn walk(
    top: &Path,
    recursive: bool,
    visit: &mut dyn FnMut(&Path, bool) -> Result<()>,
) -> Result<()> {
    let meta = fs::symlink_metadata(top).map_err(io("read", &top.to_string_lossy()))?;
    visit(top, meta.file_type().is_symlink())?;
    if recursive && meta.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(top)
            .map_err(io("list", &top.to_string_lossy()))?
            .filter_map(std::result::Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for entry in entries {
            walk(&entry, true, visit)?;
        }
    }
    Ok(())
}

fn create_file(root: &ImageRoot, item: &Map<String, Value>) -> Result<()> {
    let path = required(item, "path")?;
    let content = optional(item, "content")?.unwrap_or_default();
    let overwrite = boolean(item, "overwrite", true)?;
    let mode = optional(item, "permissions")?
        .map(|m| mode(&m))
        .transpose()?;
    let owner = owner(root, item, false)?;
    create_parent(root, &path)?;
    let host = root.resolve(&path, true)?;
    if exists(&host) {
        if !overwrite {
            return Err(ActionError::AlreadyExists {
                path,
                option: "overwrite",
            });
        }
        if host.is_dir() {
            return Err(ActionError::InvalidInputs {
                message: format!("`{path}` is a folder"),
            });
        }
    }
    fs::write(&host, encoding(item)?.encode(&content)).map_err(io("write", &path))?;
    apply_mode(&host, &path, mode)?;
    apply_owner(&host, &path, &owner, true)
}

fn append_file(root: &ImageRoot, item: &Map<String, Value>) -> Result<()> {
    let path = required(item, "path")?;
    let content = optional(item, "content")?.unwrap_or_default();
    let host = root.resolve(&path, true)?;
    if !host.is_file() {
        return Err(ActionError::NotFound { path });
    }
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&host)
        .map_err(io("open", &path))?;
    file.write_all(&encoding(item)?.encode(&content))
        .map_err(io("append to", &path))
}

fn create_folder(root: &ImageRoot, item: &Map<String, Value>) -> Result<()> {
    let path = required(item, "path")?;
    let overwrite = boolean(item, "overwrite", true)?;
    let mode = optional(item, "permissions")?
        .map(|m| mode(&m))
        .transpose()?;
    let owner = owner(root, item, false)?;
    let host = root.resolve(&path, true)?;
    if exists(&host) {
        if !overwrite {
            return Err(ActionError::AlreadyExists {
                path,
                option: "overwrite",
            });
        }
        if !host.is_dir() {
            return Err(ActionError::InvalidInputs {
                message: format!("`{path}` exists and is not a folder"),
            });
        }
    }
    fs::create_dir_all(&host).map_err(io("create the folder", &path))?;
    apply_mode(&host, &path, mode)?;
    apply_owner(&host, &path, &owner, true)
}

fn copy_or_move(action: &str, root: &ImageRoot, item: &Map<String, Value>) -> Result<()> {
    let source = required(item, "source")?;
    let destination = required(item, "destination")?;
    let overwrite = boolean(item, "overwrite", true)?;
    let folders = action.ends_with("Folder");
    let moving = action.starts_with("Move");
    let sources = root.expand(&source)?;
    if sources.is_empty() {
        return Err(ActionError::NotFound { path: source });
    }
    let into_folder = destination.ends_with('/') || sources.len() > 1 || source.contains('*');
    for from in sources {
        let from_host = root.resolve(&from, false)?;
        let meta = fs::symlink_metadata(&from_host)
            .map_err(|_| ActionError::NotFound { path: from.clone() })?;
        if folders != meta.is_dir() {
            if source.contains('*') {
                // A wildcard copies only entries of the action's kind.
                continue;
            }
            return Err(ActionError::InvalidInputs {
                message: format!(
                    "`{from}` is {} and `{action}` works on {}",
                    if meta.is_dir() {
                        "a folder"
                    } else {
                        "not a folder"
                    },
                    if folders { "folders" } else { "files" }
                ),
            });
        }
        let name = from.rsplit('/').next().unwrap_or_default();
        let to = if into_folder {
            format!("{}/{}", destination.trim_end_matches('/'), name)
        } else {
            destination.clone()
        };
        create_parent(root, &to)?;
        let to_host = root.resolve(&to, false)?;
        if exists(&to_host) {
            if !overwrite {
                return Err(ActionError::AlreadyExists {
                    path: to,
                    option: "overwrite",
                });
            }
            if moving && folders {
                fs::remove_dir_all(&to_host).map_err(io("replace", &to))?;
            }
        }
        if moving {
            fs::rename(&from_host, &to_host).map_err(io("move", &from))?;
        } else if folders {
            copy_tree(&from_host, &to_host, root)?;
        } else {
            copy_entry(&from_host, &to_host, root)?;
        }
    }
    Ok(())
}

fn copy_entry(from: &Path, to: &Path, root: &ImageRoot) -> Result<()> {
    let meta = fs::symlink_metadata(from).map_err(io("read", &root.image_path(from)))?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(from).map_err(io("read", &root.image_path(from)))?;
        if exists(to) {
            fs::remove_file(to).map_err(io("replace", &root.image_path(to)))?;
        }
        std::os::unix::fs::symlink(target, to)
            .map_err(io("create the link", &root.image_path(to)))?;
    } else {
        if fs::symlink_metadata(to).is_ok_and(|m| m.file_type().is_symlink()) {
            // Never write through a link that could point outside the root.
            fs::remove_file(to).map_err(io("replace", &root.image_path(to)))?;
        }
        fs::copy(from, to).map_err(io("copy", &root.image_path(from)))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path, root: &ImageRoot) -> Result<()> {
    let meta = fs::symlink_metadata(from).map_err(io("read", &root.image_path(from)))?;
    if !meta.is_dir() {
        return copy_entry(from, to, root);
    }
    if !to.is_dir() || fs::symlink_metadata(to).is_ok_and(|m| m.file_type().is_symlink()) {
        if exists(to) {
            fs::remove_file(to).map_err(io("replace", &root.image_path(to)))?;
        }
        fs::create_dir(to).map_err(io("create the folder", &root.image_path(to)))?;
    }
    fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io("change the permissions of", &root.image_path(to)))?;
    let mut entries: Vec<_> = fs::read_dir(from)
        .map_err(io("list", &root.image_path(from)))?
        .filter_map(std::result::Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        copy_tree(&entry.path(), &to.join(entry.file_name()), root)?;
    }
    Ok(())
}

fn delete_file(root: &ImageRoot, item: &Map<String, Value>, notes: &mut Vec<String>) -> Result<()> {
    let path = required(item, "path")?;
    let matches = root.expand(&path)?;
    for found in matches {
        let host = root.resolve(&found, false)?;
        match fs::symlink_metadata(&host) {
            Err(_) => notes.push(format!("`{found}` did not exist")),
            Ok(meta) if meta.is_dir() => {
                if !path.contains('*') {
                    return Err(ActionError::InvalidInputs {
                        message: format!("`{found}` is a folder; use `DeleteFolder`"),
                    });
                }
            }
            Ok(_) => fs::remove_file(&host).map_err(io("delete", &found))?,
        }
    }
    Ok(())
}

fn delete_folder(
    root: &ImageRoot,
    item: &Map<String, Value>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let path = required(item, "path")?;
    let force = boolean(item, "force", false)?;
    let host = root.resolve(&path, false)?;
    match fs::symlink_metadata(&host) {
        Err(_) => {
            notes.push(format!("`{path}` did not exist"));
            Ok(())
        }
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::remove_file(&host).map_err(io("delete", &path))
        }
        Ok(meta) if !meta.is_dir() => Err(ActionError::InvalidInputs {
            message: format!("`{path}` is not a folder; use `DeleteFile`"),
        }),
        Ok(_) if force => fs::remove_dir_all(&host).map_err(io("delete", &path)),
        Ok(_) => fs::remove_dir(&host).map_err(io(
            "delete (use `force: true` for a folder that is not empty)",
            &path,
        )),
    }
}

fn create_symlink(root: &ImageRoot, item: &Map<String, Value>) -> Result<()> {
    let path = required(item, "path")?;
    let target = required(item, "target")?;
    let force = boolean(item, "force", false)?;
    let absolute = root.absolute(&path)?;
    // A relative target is relative to the link's folder.
    let target_check = if target.starts_with('/') {
        target.clone()
    } else {
        let parent = absolute.rsplit_once('/').map_or("", |(p, _)| p);
        format!("{parent}/{target}")
    };
    let target_host = root.resolve(&target_check, true)?;
    if !exists(&target_host) {
        return Err(ActionError::NotFound { path: target });
    }
    create_parent(root, &absolute)?;
    let host = root.resolve(&absolute, false)?;
    if let Ok(meta) = fs::symlink_metadata(&host) {
        if !meta.file_type().is_symlink() {
            return Err(ActionError::InvalidInputs {
                message: format!("`{absolute}` exists and is not a symbolic link"),
            });
        }
        if !force {
            return Err(ActionError::AlreadyExists {
                path: absolute,
                option: "force",
            });
        }
        fs::remove_file(&host).map_err(io("replace", &absolute))?;
    }
    std::os::unix::fs::symlink(&target, &host).map_err(io("create the link", &absolute))
}

fn list_files(root: &ImageRoot, item: &Map<String, Value>) -> Result<String> {
    let path = required(item, "path")?;
    let pattern = optional(item, "fileNamePattern")?;
    let recursive = boolean(item, "recursive", false)?;
    let host = root.resolve(&path, true)?;
    if !host.is_dir() {
        return Err(ActionError::NotFound { path });
    }
    let mut files = Vec::new();
    let mut pending = vec![host];
    while let Some(dir) = pending.pop() {
        let entries = fs::read_dir(&dir).map_err(io("list", &root.image_path(&dir)))?;
        for entry in entries.filter_map(std::result::Result::ok) {
            let entry_path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&entry_path) else {
                continue;
            };
            if meta.is_dir() {
                if recursive {
                    pending.push(entry_path);
                }
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if pattern.as_deref().is_none_or(|p| wildcard_match(p, &name)) {
                files.push(root.image_path(&entry_path));
            }
        }
    }
    files.sort();
    Ok(files.join(","))
}

/// Whether a file at `host` already has `checksum` (used by WebDownload to skip downloads).
pub(crate) fn digest_matches(host: &Path, algorithm: &str, checksum: &str) -> bool {
    file_digest(host, algorithm)
        .ok()
        .flatten()
        .is_some_and(|d| d.eq_ignore_ascii_case(checksum.trim()))
}
