//! This machine's own dpkg database (the CI machine is Debian 12).

use std::path::Path;

use imagesmith_sbom::{cyclonedx, inventory, spdx, PackageManager, SbomInput};

#[test]
fn host_dpkg_database() {
    if !Path::new("/var/lib/dpkg/status").is_file() {
        assert!(
            !crate::required(),
            "CI=true: /var/lib/dpkg/status is missing"
        );
        eprintln!("skipped: this machine has no /var/lib/dpkg/status");
        return;
    }
    let inventory = inventory(Path::new("/")).unwrap();
    let dpkg = inventory
        .packages
        .iter()
        .filter(|package| package.manager == PackageManager::Dpkg)
        .count();
    assert!(dpkg >= 100, "only {dpkg} packages");
    assert!(inventory.warnings.is_empty(), "{:#?}", inventory.warnings);
    // Most Debian copyright files are machine-readable; a few name licenses only.
    let stated = inventory
        .packages
        .iter()
        .filter(|package| !package.licenses.is_empty())
        .count();
    assert!(
        stated * 2 > dpkg,
        "only {stated} of {dpkg} packages state licenses"
    );
    let licensed = inventory
        .packages
        .iter()
        .filter(|package| package.license.is_some())
        .count();
    eprintln!(
        "{dpkg} dpkg packages, {licensed} with an SPDX license, os {:?}",
        inventory.os
    );

    // Hundreds of real packages, their names, versions, maintainers and licenses, through
    // the reference validators.
    let input = SbomInput {
        image_name: "host".into(),
        image_digest: format!("sha256:{}", "0".repeat(64)),
        created: 1_700_000_000,
        os: inventory.os,
        packages: inventory.packages,
        components: crate::components(),
    };
    crate::validate::assert_valid_spdx(&spdx(&input));
    crate::validate::assert_valid_cyclonedx(&cyclonedx(&input));
}
