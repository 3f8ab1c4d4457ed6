//! SBOMs (SPDX 2.3 and CycloneDX JSON) from an image's package databases and catalog components
//!
//! Two steps, both without network access:
//!
//! 1. [`inventory`] reads what an image root filesystem says is installed: the dpkg status
//!    database, the rpm SQLite database and `/etc/os-release`.
//! 2. [`spdx`] and [`cyclonedx`] turn an [`SbomInput`] (the inventory, the image's name and
//!    digest, the build time and the catalog [`ComponentRecord`]s) into JSON documents.
//!
//! Output is deterministic: the same input gives the same bytes. Identifiers (the SPDX
//! document namespace, the CycloneDX serial number) are derived from the image digest and
//! the timestamp is the one given, never the current time.
//!
//! ```
//! use imagesmith_sbom::{ArtifactRef, ComponentRecord, OsRelease, Package, PackageManager, SbomInput};
//!
//! let input = SbomInput {
//!     image_name: "golden-container-debian12".into(),
//!     image_digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
//!     created: 1_700_000_000,
//!     os: Some(OsRelease { id: "debian".into(), version_id: Some("12".into()), ..Default::default() }),
//!     packages: vec![Package::new(PackageManager::Dpkg, "chrony", "4.3-2+deb12u1")],
//!     components: vec![ComponentRecord {
//!         name: "chrony".into(),
//!         version: "4.3".into(),
//!         artifact: ArtifactRef::Package { names: vec!["chrony".into()] },
//!         omitted: None,
//!     }],
//! };
//! let document = imagesmith_sbom::spdx(&input);
//! assert_eq!(document["spdxVersion"], "SPDX-2.3");
//! let bom = imagesmith_sbom::cyclonedx(&input);
//! assert_eq!(bom["bomFormat"], "CycloneDX");
//! ```
#![deny(missing_docs)]

mod cyclonedx;
mod dpkg;
mod identity;
mod license;
mod os_release;
mod purl;
mod rootfs;
mod rpm;
mod spdx;
mod view;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::cyclonedx::{cyclonedx, CYCLONEDX_SPEC_VERSION};
pub use crate::license::spdx_expression;
pub use crate::os_release::parse_os_release;
pub use crate::rpm::{parse_header, HeaderError, RpmHeader};
pub use crate::spdx::spdx;

/// The tool name and version written into every SBOM (`imagesmith-0.1.0`).
pub const TOOL: &str = concat!("imagesmith-", env!("CARGO_PKG_VERSION"));

/// Everything an SBOM is made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbomInput {
    /// The image's name (`golden-container-debian12`, `registry.example/team/app`).
    pub image_name: String,
    /// The image manifest digest (`sha256:…`); identifiers in the SBOM derive from it.
    pub image_digest: String,
    /// The creation time in seconds since the Unix epoch (`SOURCE_DATE_EPOCH`).
    pub created: u64,
    /// The image's distribution, from `/etc/os-release`.
    pub os: Option<OsRelease>,
    /// The OS packages installed in the image.
    pub packages: Vec<Package>,
    /// The catalog components the image was built from, installed or not.
    pub components: Vec<ComponentRecord>,
}

/// The fields of `/etc/os-release` an SBOM needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    /// `ID` (`debian`, `amzn`, `ubuntu`).
    pub id: String,
    /// `VERSION_ID` (`12`, `2023`).
    pub version_id: Option<String>,
    /// `VERSION_CODENAME` (`bookworm`).
    pub version_codename: Option<String>,
    /// `PRETTY_NAME` (`Debian GNU/Linux 12 (bookworm)`).
    pub pretty_name: Option<String>,
}

impl OsRelease {
    /// The purl `distro` qualifier: `debian-12`, `amzn-2023`, or the bare ID without a version.
    pub fn distro(&self) -> String {
        match &self.version_id {
            Some(version) => format!("{}-{}", self.id, version),
            None => self.id.clone(),
        }
    }
}

/// The package database a package was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageManager {
    /// dpkg (`var/lib/dpkg/status`), purl type `deb`.
    Dpkg,
    /// rpm (`var/lib/rpm/rpmdb.sqlite`), purl type `rpm`.
    Rpm,
}

impl PackageManager {
    /// The purl type (`deb`, `rpm`).
    pub fn purl_type(self) -> &'static str {
        match self {
            PackageManager::Dpkg => "deb",
            PackageManager::Rpm => "rpm",
        }
    }
}

/// One installed OS package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Package {
    /// The database it came from.
    pub manager: PackageManager,
    /// The package name.
    pub name: String,
    /// The version as it goes into a purl: dpkg's full version (`1:2.36-9+deb12u4`, epoch
    /// included), or rpm's `VERSION-RELEASE` (the epoch is kept apart in [`Package::epoch`]).
    pub version: String,
    /// The rpm epoch, when the header has one.
    pub epoch: Option<u64>,
    /// The architecture (`amd64`, `all`, `x86_64`, `noarch`).
    pub arch: Option<String>,
    /// The source package name (dpkg `Source`, rpm `SOURCERPM`), when it differs.
    pub source: Option<String>,
    /// The source package version, when dpkg records one that differs.
    pub source_version: Option<String>,
    /// The upstream home page.
    pub homepage: Option<String>,
    /// Who supplies it (dpkg `Maintainer`, rpm `VENDOR` or `PACKAGER`).
    pub supplier: Option<String>,
    /// License names as the package states them (Debian copyright short names, rpm
    /// `LICENSE`), which may not be SPDX identifiers.
    pub licenses: Vec<String>,
    /// The declared license as a valid SPDX expression, when the stated names translate.
    pub license: Option<String>,
}

impl Package {
    /// A package with only a manager, name and version.
    pub fn new(
        manager: PackageManager,
        name: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        Package {
            manager,
            name: name.into(),
            version: version.into(),
            epoch: None,
            arch: None,
            source: None,
            source_version: None,
            homepage: None,
            supplier: None,
            licenses: Vec::new(),
            license: None,
        }
    }

    /// The version as the package manager prints it (`1:3.0.8-1.amzn2023` for an rpm with an
    /// epoch).
    pub fn display_version(&self) -> String {
        match self.epoch {
            Some(epoch) if self.manager == PackageManager::Rpm => {
                format!("{epoch}:{}", self.version)
            }
            _ => self.version.clone(),
        }
    }

    /// The package URL (`pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12`).
    pub fn purl(&self, os: Option<&OsRelease>) -> String {
        purl::package(self, os)
    }
}

/// A catalog component the image was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentRecord {
    /// The catalog name (`node_exporter`).
    pub name: String,
    /// The resolved version.
    pub version: String,
    /// Where its bits came from.
    pub artifact: ArtifactRef,
    /// Why it was not installed, when it was not (`needs the host kernel`).
    pub omitted: Option<String>,
}

/// Where a component's bits came from, resolved for one version and architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ArtifactRef {
    /// OS packages, found in the image's package database by name.
    Package {
        /// The package names, the first one carrying the version.
        names: Vec<String>,
    },
    /// A vendor release download.
    Download {
        /// The URL it was downloaded from.
        url: String,
        /// The URL of the vendor's checksum file, when there is one.
        checksum_url: Option<String>,
        /// The SHA-256 of the downloaded file (lowercase hex), when known.
        sha256: Option<String>,
    },
    /// Fetched through an authenticated vendor API.
    VendorApi {
        /// The API and what it returns.
        description: String,
    },
}

/// What [`inventory`] found in a root filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The distribution, when `etc/os-release` (or `usr/lib/os-release`) exists.
    pub os: Option<OsRelease>,
    /// Installed packages, sorted (by manager, name, version, then the other fields).
    pub packages: Vec<Package>,
    /// Entries that were skipped and why; the inventory is still usable.
    pub warnings: Vec<Warning>,
}

/// Something [`inventory`] skipped, with the file and line it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file the warning is about.
    pub path: PathBuf,
    /// The 1-based line, when it applies to one.
    pub line: Option<usize>,
    /// What was skipped and why.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "`{}` line {}: {}",
                self.path.display(),
                line,
                self.message
            ),
            None => write!(f, "`{}`: {}", self.path.display(), self.message),
        }
    }
}

/// Why an inventory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// The root filesystem is not a directory.
    #[error("Root filesystem `{path}` is not a directory")]
    NotADirectory {
        /// The root filesystem given.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("Failed to read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Symbolic links inside the root filesystem loop or nest too deeply.
    #[error("Too many symbolic links resolving `{path}` inside the root filesystem")]
    SymlinkLoop {
        /// The path, relative to the root filesystem.
        path: PathBuf,
    },
    /// The rpm SQLite database could not be read.
    #[error("Failed to read the rpm database `{path}`")]
    RpmDatabase {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
}

/// Reads the OS package databases and `os-release` of an image root filesystem.
///
/// Symbolic links are resolved inside `rootfs`, never on the host. A missing database is
/// not an error (the image has no packages of that kind); an unreadable one is. Stanzas
/// or headers that cannot be parsed are skipped and reported in [`Inventory::warnings`].
pub fn inventory(rootfs: &Path) -> Result<Inventory, SbomError> {
    if !rootfs.is_dir() {
        return Err(SbomError::NotADirectory {
            path: rootfs.to_path_buf(),
        });
    }
    let mut warnings = Vec::new();
    let os = os_release::read(rootfs)?;
    let mut packages = dpkg::read(rootfs, &mut warnings)?;
    packages.extend(rpm::read(rootfs, &mut warnings)?);
    packages.sort();
    Ok(Inventory {
        os,
        packages,
        warnings,
    })
}
