//! Integration tests of `imagesmith-sbom`, one module per area.

mod host;
mod inventory;
mod output;
mod validate;

use std::os::unix::fs::symlink;
use std::path::Path;

use imagesmith_sbom::{ArtifactRef, ComponentRecord, SbomInput};

/// Whether a missing external tool must fail the test (CI) rather than skip it.
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// A dpkg status file with installed, held, removed and malformed stanzas.
pub const STATUS: &str = "\
Package: bash
Essential: yes
Status: install ok installed
Priority: required
Section: shells
Installed-Size: 7164
Maintainer: Matthias Klose <doko@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 5.2.15-2+b2
Replaces: bash-completion (<< 20060301-0)
Depends: base-files (>= 2.1.12), debianutils (>= 5.6-0.1)
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.
 .
 Bash is ultimately intended to be a conformant implementation.
Homepage: http://tiswww.case.edu/php/chet/bash/bashtop.html

Package: libc6
Status: install ok installed
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Homepage: https://www.gnu.org/software/libc/libc.html

Package: libc6
Status: install ok installed
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: i386
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4

Package: libstdc++6
Status: hold ok installed
Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14

Package: chrony
Status: install ok installed
Maintainer: Vincent Blut <vincent.debian@free.fr>
Architecture: amd64
Version: 4.3-2+deb12u1

Package: oldtool
Status: deinstall ok config-files
Architecture: amd64
Version: 1:1.0-1

Package: gone
Status: purge ok not-installed
Architecture: amd64

This line is not a field
Package: broken
Status: install ok installed
Version: 1.0

Package: noversion
Status: install ok installed
Architecture: all

Package: bash
Status: install ok installed
Architecture: amd64
Version: 9.9
";

/// Writes a Debian 12 root filesystem into `root`.
pub fn debian_rootfs(root: &Path) {
    let write = |relative: &str, text: &str| {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "usr/lib/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
         VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
    );
    std::fs::create_dir_all(root.join("etc")).unwrap();
    symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
    write("var/lib/dpkg/status", STATUS);
    write(
        "usr/share/doc/bash/copyright",
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
         Files: *\nCopyright: (C) 1987-2022 Free Software Foundation, Inc.\nLicense: GPL-3+\n\n\
         Files: lib/sh/snprintf.c\nCopyright: 1999 Patrick Powell\nLicense: BSD-4-clause\n\n\
         License: GPL-3+\n The text.\n",
    );
    // Multi-Arch packages share a doc directory through an absolute link, as in Debian.
    write(
        "usr/share/doc/libc-common/copyright",
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
         Files: *\nLicense: LGPL-2.1+\n\nFiles: debian/*\nLicense: public-domain\n",
    );
    symlink(
        "/usr/share/doc/libc-common",
        root.join("usr/share/doc/libc6"),
    )
    .unwrap();
    write(
        "usr/share/doc/chrony/copyright",
        "This package was debianized by someone.\nIt is GPL-2, see /usr/share/common-licenses.\n",
    );
}

/// The catalog components of the fixture image: one from OS packages, one download, one
/// from a vendor API, one omitted.
pub fn components() -> Vec<ComponentRecord> {
    vec![
        ComponentRecord {
            name: "node_exporter".into(),
            version: "1.8.2".into(),
            artifact: ArtifactRef::Download {
                url: "https://github.com/prometheus/node_exporter/releases/download/v1.8.2/\
                      node_exporter-1.8.2.linux-amd64.tar.gz"
                    .into(),
                checksum_url: Some(
                    "https://github.com/prometheus/node_exporter/releases/download/v1.8.2/sha256sums.txt"
                        .into(),
                ),
                sha256: Some("6809dd0b3ec45fd6e992c19071d6b5253aed3ead7bf0686885a51d85c6643c66".into()),
            },
            omitted: None,
        },
        ComponentRecord {
            name: "chrony".into(),
            version: "4.3".into(),
            artifact: ArtifactRef::Package {
                names: vec!["chrony".into(), "libc6".into(), "not-in-the-image".into()],
            },
            omitted: None,
        },
        ComponentRecord {
            name: "snyk".into(),
            version: "1.1293.0".into(),
            artifact: ArtifactRef::VendorApi {
                description: "Snyk CLI release API".into(),
            },
            omitted: None,
        },
        ComponentRecord {
            name: "falcon_sensor".into(),
            version: "7.18".into(),
            artifact: ArtifactRef::VendorApi {
                description: "CrowdStrike sensor download API".into(),
            },
            omitted: Some("needs the host kernel; not installable in a container".into()),
        },
    ]
}

/// The fixture image's SBOM input.
pub fn input(root: &Path) -> SbomInput {
    let inventory = imagesmith_sbom::inventory(root).unwrap();
    SbomInput {
        image_name: "golden-container-debian12".into(),
        image_digest: "sha256:5e1c1a7e0b3f4d2a9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d"
            .into(),
        created: 1_700_000_000,
        os: inventory.os,
        packages: inventory.packages,
        components: components(),
    }
}
