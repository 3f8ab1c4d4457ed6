//! Reading package databases from a root filesystem.

use imagesmith_sbom::{inventory, PackageManager, SbomError};

#[test]
fn dpkg_status_installed_packages_only() {
    let root = tempfile::tempdir().unwrap();
    crate::debian_rootfs(root.path());
    let inventory = inventory(root.path()).unwrap();

    let os = inventory.os.as_ref().unwrap();
    assert_eq!(os.distro(), "debian-12");

    let names: Vec<(&str, Option<&str>)> = inventory
        .packages
        .iter()
        .map(|package| (package.name.as_str(), package.arch.as_deref()))
        .collect();
    // Removed (config-files, not-installed) and malformed stanzas are left out; a held
    // package is installed; both architectures of a Multi-Arch package are kept.
    assert_eq!(
        names,
        [
            ("bash", Some("amd64")),
            ("chrony", Some("amd64")),
            ("libc6", Some("amd64")),
            ("libc6", Some("i386")),
            ("libstdc++6", Some("amd64")),
        ]
    );
    assert!(inventory
        .packages
        .iter()
        .all(|p| p.manager == PackageManager::Dpkg));

    let bash = &inventory.packages[0];
    assert_eq!(bash.version, "5.2.15-2+b2");
    assert_eq!(
        bash.supplier.as_deref(),
        Some("Matthias Klose <doko@debian.org>")
    );
    assert_eq!(
        bash.homepage.as_deref(),
        Some("http://tiswww.case.edu/php/chet/bash/bashtop.html")
    );
    assert_eq!(bash.licenses, ["GPL-3+", "BSD-4-clause"]);
    assert_eq!(
        bash.license.as_deref(),
        Some("BSD-4-Clause AND GPL-3.0-or-later")
    );
    assert_eq!(
        bash.purl(inventory.os.as_ref()),
        "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"
    );

    // The doc directory is an absolute link resolved inside the root; public-domain does
    // not translate, so there is no SPDX expression, only the stated names.
    let libc = &inventory.packages[2];
    assert_eq!(libc.source.as_deref(), Some("glibc"));
    assert_eq!(libc.licenses, ["LGPL-2.1+", "public-domain"]);
    assert_eq!(libc.license, None);

    // A free-form copyright file gives no licenses.
    assert!(inventory.packages[1].licenses.is_empty());

    let libstdcxx = &inventory.packages[4];
    assert_eq!(libstdcxx.source.as_deref(), Some("gcc-12"));
    assert_eq!(libstdcxx.source_version, None, "same as the binary version");

    let warnings: Vec<String> = inventory.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    assert!(
        warnings[0].contains("line 58") && warnings[0].contains("not a `Field: value` line"),
        "{warnings:#?}"
    );
    assert!(
        warnings[1].contains("`noversion`: no `Version`"),
        "{warnings:#?}"
    );
    assert!(
        warnings[2].contains("second stanza for `bash`"),
        "{warnings:#?}"
    );
    assert!(warnings.iter().all(|w| w.contains("var/lib/dpkg/status")));
}

#[test]
fn distroless_status_d() {
    let root = tempfile::tempdir().unwrap();
    let directory = root.path().join("var/lib/dpkg/status.d");
    std::fs::create_dir_all(&directory).unwrap();
    std::fs::write(
        directory.join("base"),
        "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
    )
    .unwrap();
    std::fs::write(
        directory.join("base.md5sums"),
        "d41d8cd98f00b204e9800998ecf8427e  etc/x\n",
    )
    .unwrap();
    let inventory = inventory(root.path()).unwrap();
    assert_eq!(inventory.packages.len(), 1);
    assert_eq!(inventory.packages[0].name, "base-files");
    assert_eq!(inventory.os, None);
    assert!(inventory.warnings.is_empty(), "{:?}", inventory.warnings);
}

#[test]
fn empty_and_missing_roots() {
    let root = tempfile::tempdir().unwrap();
    let inventory = inventory(root.path()).unwrap();
    assert!(inventory.packages.is_empty());

    let error = imagesmith_sbom::inventory(&root.path().join("missing")).unwrap_err();
    assert!(matches!(error, SbomError::NotADirectory { .. }));
    assert!(error.to_string().contains("missing"), "{error}");
}

#[test]
fn unreadable_status_names_the_file() {
    let root = tempfile::tempdir().unwrap();
    // A directory where the status file should be cannot be read.
    std::fs::create_dir_all(root.path().join("var/lib/dpkg/status")).unwrap();
    let error = inventory(root.path()).unwrap_err();
    assert!(error.to_string().contains("var/lib/dpkg/status"), "{error}");
}

#[test]
fn binary_garbage_is_not_a_panic() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("var/lib/dpkg/status");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, garbage).unwrap();
    let inventory = inventory(root.path()).unwrap();
    assert!(inventory.packages.is_empty());
}
