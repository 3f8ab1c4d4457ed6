//! Pinning one download's checksum at lock time: from the vendor's checksum file, or, where the
//! vendor publishes none, by downloading the artifact once through the mirror and hashing it.

use crate::http::Http;
use crate::{Context, SourceError};
use sha2::{Digest, Sha256};

/// How a checksum was pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinnedBy {
    /// Read from the vendor's checksum file at this URL.
    ChecksumFile(String),
    /// The artifact was downloaded (this many bytes) and hashed.
    Download(u64),
}

/// Pins the checksum of `url` (`sha256:<hex>` or `sha512:<hex>`): from `checksum_url` when the
/// vendor publishes one (a `<hex>  <file>` list such as `SHASUMS256.txt`, or a single hash
/// such as `<file>.sha256`), else by downloading `url` and hashing it with SHA-256.
pub fn pin(
    http: &Http,
    ctx: &Context<'_>,
    url: &str,
    checksum_url: Option<&str>,
) -> Result<(String, PinnedBy), SourceError> {
    if let Some(list) = checksum_url {
        let answer = http.get(ctx, list, None)?;
        let text = answer.text()?;
        let file = file_name(url);
        return match checksum_in(text, file) {
            Some(checksum) => Ok((checksum, PinnedBy::ChecksumFile(list.to_string()))),
            None => Err(SourceError::Parse {
                url: answer.url.clone(),
                message: format!("it lists no sha256 or sha512 for `{file}`"),
            }),
        };
    }
    let answer = http.get(ctx, url, None)?;
    let hex = hex::encode(Sha256::digest(&answer.body));
    Ok((
        format!("sha256:{hex}"),
        PinnedBy::Download(answer.body.len() as u64),
    ))
}

/// The checksum of `file` in a checksum file's text: the line naming it (`<hex>  <file>`,
/// `<hex> *<file>`, BSD `SHA256 (<file>) = <hex>`, OpenSSL `SHA512(<file>)= <hex>`), or the hash
/// of a file holding only a hash (a per-file `.sha256`). A list naming only other files gives
/// nothing.
pub fn checksum_in(text: &str, file: &str) -> Option<String> {
    let mut bare = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = ["SHA256", "SHA512"]
            .iter()
            .find_map(|tag| line.strip_prefix(tag))
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('('))
        {
            if let Some((name, hex)) = rest.rsplit_once(')') {
                let hex = hex.trim_start().strip_prefix('=').unwrap_or(hex).trim();
                if let Some(checksum) = tagged(hex) {
                    if name.trim() == file || name.rsplit('/').next() == Some(file) {
                        return Some(checksum);
                    }
                }
            }
            continue;
        }
        let mut parts = line.split_whitespace();
        let Some(checksum) = parts.next().and_then(tagged) else {
            continue;
        };
        match parts.next().map(|n| n.trim_start_matches('*')) {
            Some(name) if name == file || name.rsplit('/').next() == Some(file) => {
                return Some(checksum)
            }
            Some(_) => {}
            None => bare.push(checksum),
        }
    }
    (bare.len() == 1).then(|| bare.remove(0))
}

fn tagged(hex: &str) -> Option<String> {
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match hex.len() {
        64 => Some(format!("sha256:{}", hex.to_ascii_lowercase())),
        128 => Some(format!("sha512:{}", hex.to_ascii_lowercase())),
        _ => None,
    }
}

fn file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn finds_the_named_file_in_every_layout() {
        let list =
            format!("{A}  node-v20.11.1-linux-arm64.tar.gz\n{B}  node-v20.11.1-linux-x64.tar.gz\n");
        assert_eq!(
            checksum_in(&list, "node-v20.11.1-linux-x64.tar.gz"),
            Some(format!("sha256:{B}"))
        );
        assert_eq!(
            checksum_in(
                &format!("{A} *opa_linux_amd64_static\n"),
                "opa_linux_amd64_static"
            ),
            Some(format!("sha256:{A}"))
        );
        // A per-file checksum holding only the hash.
        assert_eq!(
            checksum_in(&format!("{A}\n"), "x.tgz"),
            Some(format!("sha256:{A}"))
        );
        assert_eq!(
            checksum_in(&format!("SHA256 (x.tgz) = {B}\n"), "x.tgz"),
            Some(format!("sha256:{B}"))
        );
        let long = "c".repeat(128);
        assert_eq!(
            checksum_in(&format!("SHA512 (s.tgz) = {long}"), "s.tgz"),
            Some(format!("sha512:{long}"))
        );
        // Two other files and not ours: nothing is guessed.
        assert_eq!(checksum_in(&list, "node-v20.11.1-darwin-x64.tar.gz"), None);
    }
}
