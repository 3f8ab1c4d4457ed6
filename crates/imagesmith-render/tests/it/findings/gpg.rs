//! GnuPG for the signature findings' throwaway keys: every test key lives in its own home and
//! has no passphrase.

use std::path::Path;
use std::process::Command;

/// Runs gpg in `home` (batch, no passphrase); panics with its output when it fails.
pub fn gpg(home: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args([
            "--batch",
            "--yes",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(args)
        .output()
        .expect("run gpg");
    assert!(
        output.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
