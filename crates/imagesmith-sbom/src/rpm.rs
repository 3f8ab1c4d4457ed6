//! The rpm SQLite database (`rpmdb.sqlite`) and the rpm header format stored in it.
//!
//! A header blob is `il` (index entry count) and `dl` (data length) as big-endian u32,
//! then `il` 16-byte entries (tag, type, offset, count; big-endian), then `dl` bytes of
//! data the entries point into. Blobs on disk may carry the 8-byte header magic first.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::{license, rootfs, Package, PackageManager, SbomError, Warning};

const MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// rpm's own limits (`hdrblobVerifyInfo`): at most 0xffff entries and 256 MiB of data.
const MAX_ENTRIES: usize = 0xffff;
const MAX_DATA: usize = 256 << 20;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_VENDOR: u32 = 1011;
const TAG_LICENSE: u32 = 1014;
const TAG_PACKAGER: u32 = 1015;
const TAG_URL: u32 = 1020;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// The tags of an rpm header that an SBOM uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpmHeader {
    /// `NAME`.
    pub name: Option<String>,
    /// `VERSION`.
    pub version: Option<String>,
    /// `RELEASE`.
    pub release: Option<String>,
    /// `EPOCH`.
    pub epoch: Option<u32>,
    /// `ARCH`.
    pub arch: Option<String>,
    /// `LICENSE`.
    pub license: Option<String>,
    /// `VENDOR`.
    pub vendor: Option<String>,
    /// `PACKAGER`.
    pub packager: Option<String>,
    /// `URL`.
    pub url: Option<String>,
    /// `SOURCERPM`.
    pub source_rpm: Option<String>,
}

/// Why a header blob could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The blob ends before the sizes it declares.
    #[error("Header is truncated: needs {needed} bytes, has {actual}")]
    Truncated {
        /// Bytes the header declares.
        needed: usize,
        /// Bytes there are.
        actual: usize,
    },
    /// The declared sizes exceed rpm's limits.
    #[error("Header declares {entries} entries and {data} data bytes, beyond rpm's limits")]
    TooLarge {
        /// Declared index entries.
        entries: usize,
        /// Declared data bytes.
        data: usize,
    },
    /// An entry points outside the data.
    #[error("Tag {tag} points outside the header data")]
    BadOffset {
        /// The tag.
        tag: u32,
    },
}

/// Parses an rpm header blob (as stored in `rpmdb.sqlite`, with or without the header
/// magic) for the tags in [`RpmHeader`]. Other tags are ignored.
pub fn parse_header(blob: &[u8]) -> Result<RpmHeader, HeaderError> {
    let blob = match blob.strip_prefix(&MAGIC) {
        // The magic is followed by 4 reserved bytes.
        Some(rest) => rest.get(4..).ok_or(HeaderError::Truncated {
            needed: 8,
            actual: blob.len(),
        })?,
        None => blob,
    };
    let entries = be32(blob, 0).ok_or(HeaderError::Truncated {
        needed: 8,
        actual: blob.len(),
    })? as usize;
    let data_length = be32(blob, 4).ok_or(HeaderError::Truncated {
        needed: 8,
        actual: blob.len(),
    })? as usize;
    if entries > MAX_ENTRIES || data_length > MAX_DATA {
        return Err(HeaderError::TooLarge {
            entries,
            data: data_length,
        });
    }
    let data_start = 8 + entries * 16;
    let needed = data_start + data_length;
    if blob.len() < needed {
        return Err(HeaderError::Truncated {
            needed,
            actual: blob.len(),
        });
    }
    let data = &blob[data_start..needed];
    let mut header = RpmHeader::default();
    for index in 0..entries {
        let at = 8 + index * 16;
        let (Some(tag), Some(kind), Some(offset), Some(count)) = (
            be32(blob, at),
            be32(blob, at + 4),
            be32(blob, at + 8),
            be32(blob, at + 12),
        ) else {
            continue;
        };
        let slot = match tag {
            TAG_NAME => &mut header.name,
            TAG_VERSION => &mut header.version,
            TAG_RELEASE => &mut header.release,
            TAG_VENDOR => &mut header.vendor,
            TAG_LICENSE => &mut header.license,
            TAG_PACKAGER => &mut header.packager,
            TAG_URL => &mut header.url,
            TAG_ARCH => &mut header.arch,
            TAG_SOURCERPM => &mut header.source_rpm,
            TAG_EPOCH => {
                if kind == TYPE_INT32 && count >= 1 {
                    header.epoch =
                        Some(be32(data, offset as usize).ok_or(HeaderError::BadOffset { tag })?);
                }
                continue;
            }
            _ => continue,
        };
        if matches!(kind, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) && count >= 1 {
            *slot = Some(c_string(data, offset as usize).ok_or(HeaderError::BadOffset { tag })?);
        }
    }
    Ok(header)
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let chunk = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(chunk.try_into().ok()?))
}

/// The NUL-terminated string at `offset` (the first one, for arrays).
fn c_string(data: &[u8], offset: usize) -> Option<String> {
    let rest = data.get(offset..)?;
    let end = rest.iter().position(|&byte| byte == 0)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// Where rpm keeps its SQLite database (Fedora 36+ moved it under `/usr`).
const DATABASES: [&str; 2] = [
    "var/lib/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
];
/// Older database formats this crate does not read.
const UNREAD: [&str; 2] = ["var/lib/rpm/Packages", "var/lib/rpm/Packages.db"];

/// Reads the installed packages from the rpm database, when there is one.
pub(crate) fn read(root: &Path, warnings: &mut Vec<Warning>) -> Result<Vec<Package>, SbomError> {
    let mut database = None;
    for candidate in DATABASES {
        if let Some(path) = rootfs::resolve(root, Path::new(candidate))? {
            if path.is_file() {
                database = Some(path);
                break;
            }
        }
    }
    let Some(path) = database else {
        for candidate in UNREAD {
            if let Some(path) = rootfs::resolve(root, Path::new(candidate))? {
                warnings.push(Warning {
                    path,
                    line: None,
                    message: "rpm Berkeley DB and NDB databases are not read; rpm packages are \
                              missing from the inventory"
                        .into(),
                });
            }
        }
        return Ok(Vec::new());
    };
    let headers = read_blobs(&path).map_err(|source| SbomError::RpmDatabase {
        path: path.clone(),
        source,
    })?;
    let mut packages = Vec::new();
    for (row, blob) in headers {
        let header = match parse_header(&blob) {
            Ok(header) => header,
            Err(error) => {
                warnings.push(Warning {
                    path: path.clone(),
                    line: None,
                    message: format!("skipped header {row}: {error}"),
                });
                continue;
            }
        };
        match package(header) {
            Ok(Some(package)) => packages.push(package),
            Ok(None) => {}
            Err(message) => warnings.push(Warning {
                path: path.clone(),
                line: None,
                message: format!("skipped header {row}: {message}"),
            }),
        }
    }
    Ok(packages)
}

fn read_blobs(path: &Path) -> Result<Vec<(i64, Vec<u8>)>, rusqlite::Error> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut statement = connection.prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// The package a header describes; `None` for rpm's `gpg-pubkey` pseudo-packages.
fn package(header: RpmHeader) -> Result<Option<Package>, String> {
    let name = header
        .name
        .filter(|name| !name.is_empty())
        .ok_or("no NAME")?;
    if name == "gpg-pubkey" {
        return Ok(None);
    }
    let version = header
        .version
        .filter(|version| !version.is_empty())
        .ok_or_else(|| format!("`{name}` has no VERSION"))?;
    let version = match header.release.filter(|release| !release.is_empty()) {
        Some(release) => format!("{version}-{release}"),
        None => version,
    };
    let mut package = Package::new(PackageManager::Rpm, name, version);
    package.epoch = header.epoch.map(u64::from);
    package.arch = header.arch.filter(|arch| !arch.is_empty());
    package.source = header
        .source_rpm
        .as_deref()
        .and_then(source_name)
        .filter(|source| *source != package.name);
    package.homepage = header.url.filter(|url| !url.is_empty());
    package.supplier = header
        .vendor
        .filter(|vendor| !vendor.is_empty())
        .or(header.packager.filter(|packager| !packager.is_empty()));
    if let Some(text) = header.license.filter(|text| !text.is_empty()) {
        package.license = license::from_rpm(&text);
        package.licenses = vec![text];
    }
    Ok(Some(package))
}

/// `bash` from `bash-5.2.15-1.amzn2023.0.2.src.rpm`.
fn source_name(source_rpm: &str) -> Option<String> {
    let stem = source_rpm
        .strip_suffix(".src.rpm")
        .or_else(|| source_rpm.strip_suffix(".nosrc.rpm"))?;
    let (rest, _release) = stem.rsplit_once('-')?;
    let (name, _version) = rest.rsplit_once('-')?;
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tag value for [`header`].
    pub(crate) enum Value<'a> {
        String(&'a str),
        Int32(u32),
        StringArray(&'a [&'a str]),
    }

    /// Builds a header blob the way rpm lays it out.
    pub(crate) fn header(tags: &[(u32, Value<'_>)], magic: bool) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, value) in tags {
            let (kind, count) = match value {
                Value::String(_) => (TYPE_STRING, 1u32),
                Value::Int32(_) => {
                    while data.len() % 4 != 0 {
                        data.push(0);
                    }
                    (TYPE_INT32, 1)
                }
                Value::StringArray(items) => (TYPE_STRING_ARRAY, items.len() as u32),
            };
            index.extend(tag.to_be_bytes());
            index.extend(kind.to_be_bytes());
            index.extend((data.len() as u32).to_be_bytes());
            index.extend(count.to_be_bytes());
            match value {
                Value::String(text) => {
                    data.extend(text.as_bytes());
                    data.push(0);
                }
                Value::Int32(number) => data.extend(number.to_be_bytes()),
                Value::StringArray(items) => {
                    for item in *items {
                        data.extend(item.as_bytes());
                        data.push(0);
                    }
                }
            }
        }
        let mut blob = Vec::new();
        if magic {
            blob.extend(MAGIC);
            blob.extend([0; 4]);
        }
        blob.extend(((index.len() / 16) as u32).to_be_bytes());
        blob.extend((data.len() as u32).to_be_bytes());
        blob.extend(index);
        blob.extend(data);
        blob
    }

    pub(crate) fn openssl() -> Vec<u8> {
        header(
            &[
                // Region tag first, as rpm writes it; ignored.
                (63, Value::Int32(0)),
                (TAG_NAME, Value::String("openssl-libs")),
                (TAG_VERSION, Value::String("3.0.8")),
                (TAG_RELEASE, Value::String("1.amzn2023.0.3")),
                (TAG_EPOCH, Value::Int32(1)),
                (TAG_ARCH, Value::String("x86_64")),
                (TAG_LICENSE, Value::String("ASL 2.0")),
                (TAG_VENDOR, Value::String("Amazon Linux")),
                (TAG_URL, Value::String("http://www.openssl.org/")),
                (
                    TAG_SOURCERPM,
                    Value::String("openssl-3.0.8-1.amzn2023.0.3.src.rpm"),
                ),
                (1005, Value::StringArray(&["ignored", "too"])),
            ],
            false,
        )
    }

    #[test]
    fn parses_a_constructed_header() {
        let header = parse_header(&openssl()).unwrap();
        assert_eq!(header.name.as_deref(), Some("openssl-libs"));
        assert_eq!(header.version.as_deref(), Some("3.0.8"));
        assert_eq!(header.release.as_deref(), Some("1.amzn2023.0.3"));
        assert_eq!(header.epoch, Some(1));
        assert_eq!(header.arch.as_deref(), Some("x86_64"));
        assert_eq!(header.license.as_deref(), Some("ASL 2.0"));

        let package = package(header).unwrap().unwrap();
        assert_eq!(package.version, "3.0.8-1.amzn2023.0.3");
        assert_eq!(package.display_version(), "1:3.0.8-1.amzn2023.0.3");
        assert_eq!(package.source.as_deref(), Some("openssl"));
        assert_eq!(package.license.as_deref(), Some("Apache-2.0"));
        assert_eq!(package.supplier.as_deref(), Some("Amazon Linux"));
    }

    #[test]
    fn magic_prefix_and_string_arrays() {
        let blob = header(
            &[(TAG_NAME, Value::StringArray(&["first", "second"]))],
            true,
        );
        assert_eq!(parse_header(&blob).unwrap().name.as_deref(), Some("first"));
    }

    #[test]
    fn corrupt_headers_are_errors_not_panics() {
        let good = openssl();
        for length in 0..good.len() {
            let _ = parse_header(&good[..length]);
        }
        assert!(matches!(
            parse_header(&good[..good.len() - 1]),
            Err(HeaderError::Truncated { .. })
        ));
        assert!(matches!(
            parse_header(&[0xff; 8]),
            Err(HeaderError::TooLarge { .. })
        ));
        // An offset past the data.
        let mut bad = header(&[(TAG_NAME, Value::String("x"))], false);
        bad[8 + 8..8 + 12].copy_from_slice(&100u32.to_be_bytes());
        assert_eq!(
            parse_header(&bad),
            Err(HeaderError::BadOffset { tag: TAG_NAME })
        );
        // A string without its terminating NUL.
        let mut unterminated = header(&[(TAG_NAME, Value::String("x"))], false);
        unterminated.pop();
        unterminated[4..8].copy_from_slice(&1u32.to_be_bytes());
        assert!(parse_header(&unterminated).is_err());
        // Entries near u32::MAX offsets do not overflow.
        let mut huge = header(&[(TAG_EPOCH, Value::Int32(1))], false);
        huge[8 + 8..8 + 12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_header(&huge).is_err());
    }

    #[test]
    fn inventory_of_an_rpmdb_sqlite() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("var/lib/rpm")).unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/os-release"),
            "NAME=\"Amazon Linux\"\nVERSION_ID=\"2023\"\nID=\"amzn\"\n",
        )
        .unwrap();
        let path = root.path().join("var/lib/rpm/rpmdb.sqlite");
        let connection = Connection::open(&path).unwrap();
        // The schema rpm's sqlite backend creates.
        connection
            .execute_batch(
                "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);",
            )
            .unwrap();
        let pubkey = header(
            &[
                (TAG_NAME, Value::String("gpg-pubkey")),
                (TAG_VERSION, Value::String("d832c631")),
            ],
            false,
        );
        for blob in [openssl(), pubkey, vec![0, 0, 0, 9]] {
            connection
                .execute("INSERT INTO Packages (blob) VALUES (?1)", [blob])
                .unwrap();
        }
        drop(connection);

        let inventory = crate::inventory(root.path()).unwrap();
        assert_eq!(inventory.packages.len(), 1);
        let openssl = &inventory.packages[0];
        assert_eq!(openssl.manager, PackageManager::Rpm);
        assert_eq!(
            openssl.purl(inventory.os.as_ref()),
            "pkg:rpm/amzn/openssl-libs@3.0.8-1.amzn2023.0.3?arch=x86_64&distro=amzn-2023&epoch=1"
        );
        assert_eq!(inventory.warnings.len(), 1, "{:?}", inventory.warnings);
        let warning = inventory.warnings[0].to_string();
        assert!(
            warning.contains("rpmdb.sqlite") && warning.contains("header 3"),
            "{warning}"
        );
    }

    #[test]
    fn not_a_database_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("var/lib/rpm")).unwrap();
        std::fs::write(
            root.path().join("var/lib/rpm/rpmdb.sqlite"),
            "not sqlite at all, just text",
        )
        .unwrap();
        let error = crate::inventory(root.path()).unwrap_err();
        assert!(matches!(error, SbomError::RpmDatabase { .. }));
        assert!(
            error.to_string().contains("var/lib/rpm/rpmdb.sqlite"),
            "{error}"
        );
    }

    #[test]
    fn berkeley_db_is_reported_not_read() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("var/lib/rpm")).unwrap();
        std::fs::write(root.path().join("var/lib/rpm/Packages"), [0u8; 64]).unwrap();
        let inventory = crate::inventory(root.path()).unwrap();
        assert!(inventory.packages.is_empty());
        assert_eq!(inventory.warnings.len(), 1);
        assert!(inventory.warnings[0].message.contains("Berkeley DB"));
    }

    #[test]
    fn source_names() {
        assert_eq!(
            source_name("bash-5.2.15-1.amzn2023.0.2.src.rpm").as_deref(),
            Some("bash")
        );
        assert_eq!(
            source_name("python-setuptools-59.6.0-2.amzn2023.src.rpm").as_deref(),
            Some("python-setuptools")
        );
        assert_eq!(source_name("garbage"), None);
    }

    #[test]
    fn gpg_pubkey_is_not_a_package() {
        let blob = header(
            &[
                (TAG_NAME, Value::String("gpg-pubkey")),
                (TAG_VERSION, Value::String("d832c631")),
            ],
            false,
        );
        assert_eq!(package(parse_header(&blob).unwrap()), Ok(None));
    }
}
