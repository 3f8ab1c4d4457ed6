//! License names as distributions write them, translated to SPDX expressions.
//!
//! Debian copyright files use DEP-5 short names (`GPL-2+`, `Expat`, `BSD-3-clause`) and
//! rpm headers use either SPDX (Fedora since 2023) or Fedora's older names (`GPLv2+`,
//! `ASL 2.0`). A name that does not translate makes the whole expression untranslatable:
//! an SBOM must say NOASSERTION rather than claim a partial or invalid license.

use spdx::{LicenseItem, ParseMode};

/// `text` when it is a valid SPDX license expression using only identifiers from the SPDX
/// license list (no `LicenseRef-`, no deprecated identifiers, no `+` suffix).
pub fn spdx_expression(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let expression = spdx::Expression::parse_mode(text, ParseMode::STRICT).ok()?;
    for requirement in expression.requirements() {
        match &requirement.req.license {
            LicenseItem::Spdx {
                or_later: false, ..
            } => {}
            _ => return None,
        }
        if let Some(addition) = &requirement.req.addition {
            addition.id()?;
        }
    }
    Some(text.to_string())
}

/// Which distribution's names a license text uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// DEP-5 short names from `/usr/share/doc/<package>/copyright`.
    Debian,
    /// rpm `LICENSE` tags: SPDX, or Fedora's legacy short names.
    Rpm,
}

/// Translates the licenses of a Debian copyright file's `Files` paragraphs into one SPDX
/// expression (all of them apply, so they are joined with `AND`).
pub(crate) fn from_debian(names: &[String]) -> Option<String> {
    let mut parts = Vec::new();
    for name in names {
        parts.push(translate(name, Dialect::Debian)?);
    }
    join_and(parts)
}

/// Translates an rpm `LICENSE` tag into an SPDX expression.
pub(crate) fn from_rpm(text: &str) -> Option<String> {
    translate(text, Dialect::Rpm)
}

fn join_and(mut parts: Vec<String>) -> Option<String> {
    parts.sort();
    parts.dedup();
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => {
            let joined = parts
                .iter()
                .map(|part| parenthesize(part))
                .collect::<Vec<_>>()
                .join(" AND ");
            spdx_expression(&joined)
        }
    }
}

fn parenthesize(expression: &str) -> String {
    if expression.contains(" OR ") || expression.contains(" AND ") {
        format!("({expression})")
    } else {
        expression.to_string()
    }
}

/// Translates one license expression in a distribution's syntax.
pub(crate) fn translate(text: &str, dialect: Dialect) -> Option<String> {
    if let Some(valid) = spdx_expression(text) {
        return Some(valid);
    }
    // DEP-5: a comma binds loosest (`A or B, and C` is `(A or B) and C`).
    let mut segments = text.split(',');
    let first = translate_segment(segments.next()?, dialect)?;
    let mut rest = Vec::new();
    for segment in segments {
        let segment = segment.trim_start();
        let (operator, tail) = segment.split_once(char::is_whitespace)?;
        rest.push((operator_word(operator)?, translate_segment(tail, dialect)?));
    }
    if rest.is_empty() {
        return spdx_expression(&first);
    }
    let mut out = parenthesize(&first);
    for (operator, segment) in rest {
        out = format!("{out} {operator} {}", parenthesize(&segment));
    }
    spdx_expression(&out)
}

fn operator_word(word: &str) -> Option<&'static str> {
    if word.eq_ignore_ascii_case("and") {
        Some("AND")
    } else if word.eq_ignore_ascii_case("or") {
        Some("OR")
    } else {
        None
    }
}

/// Translates `and`/`or`/parentheses and the terms between them.
fn translate_segment(text: &str, dialect: Dialect) -> Option<String> {
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    let mut out: Vec<String> = Vec::new();
    let mut term: Vec<&str> = Vec::new();
    let flush = |term: &mut Vec<&str>, out: &mut Vec<String>| -> Option<()> {
        if !term.is_empty() {
            out.push(parenthesize(&translate_term(&term.join(" "), dialect)?));
            term.clear();
        }
        Some(())
    };
    for word in spaced.split_whitespace() {
        if let Some(operator) = operator_word(word) {
            flush(&mut term, &mut out)?;
            out.push(operator.to_string());
        } else if word == "(" || word == ")" {
            flush(&mut term, &mut out)?;
            out.push(word.to_string());
        } else {
            term.push(word);
        }
    }
    flush(&mut term, &mut out)?;
    if out.is_empty() {
        return None;
    }
    Some(out.join(" ").replace("( ", "(").replace(" )", ")"))
}

/// One license, optionally `with` an exception.
fn translate_term(term: &str, dialect: Dialect) -> Option<String> {
    let lower = term.to_ascii_lowercase();
    if let Some(index) = lower.find(" with ") {
        let license = license_name(term[..index].trim(), dialect)?;
        if license.contains(' ') {
            return None;
        }
        let exception = exception_name(term[index + 6..].trim(), &license)?;
        return Some(format!("{license} WITH {exception}"));
    }
    license_name(term, dialect)
}

fn exception_name(name: &str, license: &str) -> Option<&'static str> {
    let exact = |candidate: &str| {
        spdx::identifiers::EXCEPTIONS
            .iter()
            .find(|exception| {
                exception.name.eq_ignore_ascii_case(candidate) && !exception_deprecated(exception)
            })
            .map(|exception| exception.name)
    };
    if let Some(found) = exact(name) {
        return Some(found);
    }
    // DEP-5 writes `GPL-2+ with Autoconf-exception-3.0 exception` or `with Bison exception`.
    let stripped = name
        .strip_suffix(" exception")
        .or_else(|| name.strip_suffix(" Exception"))?
        .trim();
    if let Some(found) = exact(stripped) {
        return Some(found);
    }
    let gpl3 = license.starts_with("GPL-3.0");
    let id = match stripped.to_ascii_lowercase().as_str() {
        "autoconf" if gpl3 => "Autoconf-exception-3.0",
        "autoconf" => "Autoconf-exception-2.0",
        "gcc" | "gcc-exception" if gpl3 => "GCC-exception-3.1",
        "gcc" | "gcc-exception" => "GCC-exception-2.0",
        "bison" => "Bison-exception-2.2",
        "classpath" => "Classpath-exception-2.0",
        "font" => "Font-exception-2.0",
        "llvm" => "LLVM-exception",
        "texinfo" => "Texinfo-exception",
        "linux-syscall-note" => "Linux-syscall-note",
        _ => return None,
    };
    exact(id)
}

fn exception_deprecated(exception: &spdx::Exception) -> bool {
    spdx::exception_id(exception.name).is_none_or(|id| id.is_deprecated())
}

/// An SPDX identifier for a single license name, or a small expression for Debian's
/// compound names (`Perl`).
fn license_name(name: &str, dialect: Dialect) -> Option<String> {
    let name = name.trim();
    if let Some(id) = gnu(name, dialect) {
        return Some(id);
    }
    let lower = name.to_ascii_lowercase();
    let table = match dialect {
        Dialect::Debian => DEBIAN_NAMES,
        Dialect::Rpm => FEDORA_NAMES,
    };
    if let Some((_, spdx)) = table.iter().find(|(alias, _)| *alias == lower) {
        return Some((*spdx).to_string());
    }
    case_insensitive_id(name).map(str::to_string)
}

/// A current (not deprecated) SPDX license identifier matching `name` in any case.
fn case_insensitive_id(name: &str) -> Option<&'static str> {
    spdx::identifiers::LICENSES
        .iter()
        .find(|license| license.name.eq_ignore_ascii_case(name))
        .and_then(|license| spdx::license_id(license.name))
        .filter(|id| !id.is_deprecated())
        .map(|id| id.name)
}

/// GNU licenses: `GPL-2+`, `LGPL-2.1`, `GFDL-NIV-1.3+` (Debian), `GPLv2+`, `LGPLv3` (Fedora).
fn gnu(name: &str, dialect: Dialect) -> Option<String> {
    let (name, or_later) = match name.strip_suffix('+') {
        Some(base) => (base, true),
        None => (name, false),
    };
    let upper = name.to_ascii_uppercase();
    let (family, version) = match dialect {
        Dialect::Debian => {
            let (family, version) = upper.rsplit_once('-')?;
            (family.to_string(), version.to_string())
        }
        Dialect::Rpm => {
            let (family, version) = upper.split_once('V')?;
            (family.to_string(), version.to_string())
        }
    };
    let family = match family.as_str() {
        "GPL" | "LGPL" | "AGPL" | "GFDL" => family,
        "GFDL-NIV" => "GFDL".to_string(),
        _ => return None,
    };
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let version = if version.contains('.') {
        version
    } else {
        format!("{version}.0")
    };
    let invariants = if upper.starts_with("GFDL-NIV") {
        "-no-invariants"
    } else {
        ""
    };
    let suffix = if or_later { "-or-later" } else { "-only" };
    let id = format!("{family}-{version}{invariants}{suffix}");
    spdx::license_id(&id)
        .filter(|id| !id.is_deprecated())
        .map(|id| id.name.to_string())
}

/// DEP-5 short names that are not SPDX identifiers in another case.
const DEBIAN_NAMES: &[(&str, &str)] = &[
    ("expat", "MIT"),
    ("apache-2", "Apache-2.0"),
    ("apache-1.1", "Apache-1.1"),
    ("artistic", "Artistic-1.0-Perl"),
    ("artistic-1", "Artistic-1.0-Perl"),
    ("artistic-2", "Artistic-2.0"),
    ("perl", "Artistic-1.0-Perl OR GPL-1.0-or-later"),
    ("bsd-2-clause", "BSD-2-Clause"),
    ("bsd-3-clause", "BSD-3-Clause"),
    ("bsd-4-clause", "BSD-4-Clause"),
    ("cc0", "CC0-1.0"),
    ("bsd-2", "BSD-2-Clause"),
    ("bsd-3", "BSD-3-Clause"),
    ("mpl-1.1", "MPL-1.1"),
    ("mpl-2", "MPL-2.0"),
    ("psf-2", "PSF-2.0"),
    ("python", "PSF-2.0"),
    ("zope-2.1", "ZPL-2.1"),
    ("sil-ofl-1.1", "OFL-1.1"),
    ("ofl", "OFL-1.1"),
    ("boost-1.0", "BSL-1.0"),
    ("zlib/libpng", "Zlib"),
];

/// Fedora's legacy short names (before its move to SPDX) that are not SPDX identifiers.
const FEDORA_NAMES: &[(&str, &str)] = &[
    ("asl 2.0", "Apache-2.0"),
    ("asl 1.1", "Apache-1.1"),
    ("asl 1.0", "Apache-1.0"),
    ("mplv2.0", "MPL-2.0"),
    ("mplv1.1", "MPL-1.1"),
    ("mplv1.0", "MPL-1.0"),
    ("boost", "BSL-1.0"),
    ("artistic 2.0", "Artistic-2.0"),
    ("cc0", "CC0-1.0"),
    ("epl", "EPL-1.0"),
    ("eplv2", "EPL-2.0"),
    ("isc", "ISC"),
    ("mit", "MIT"),
    ("zlib", "Zlib"),
    ("openssl", "OpenSSL"),
    ("vim", "Vim"),
    ("ofl", "OFL-1.1"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_spdx_is_kept_and_invalid_refused() {
        assert_eq!(
            spdx_expression("MIT OR Apache-2.0").as_deref(),
            Some("MIT OR Apache-2.0")
        );
        assert_eq!(
            spdx_expression("GPL-2.0-or-later WITH Classpath-exception-2.0").as_deref(),
            Some("GPL-2.0-or-later WITH Classpath-exception-2.0")
        );
        for invalid in [
            "",
            "GPL-2+",
            "GPL-2.0",
            "mit",
            "LicenseRef-x",
            "MIT AND",
            "Apache-2.0+",
            "public-domain",
        ] {
            assert_eq!(spdx_expression(invalid), None, "{invalid}");
        }
    }

    #[test]
    fn debian_names() {
        let debian = |text: &str| translate(text, Dialect::Debian);
        assert_eq!(debian("GPL-2+").as_deref(), Some("GPL-2.0-or-later"));
        assert_eq!(debian("GPL-3").as_deref(), Some("GPL-3.0-only"));
        assert_eq!(debian("LGPL-2.1+").as_deref(), Some("LGPL-2.1-or-later"));
        assert_eq!(debian("Expat").as_deref(), Some("MIT"));
        assert_eq!(debian("BSD-3-clause").as_deref(), Some("BSD-3-Clause"));
        assert_eq!(
            debian("GFDL-NIV-1.3+").as_deref(),
            Some("GFDL-1.3-no-invariants-or-later")
        );
        assert_eq!(
            debian("GPL-2+ or Artistic").as_deref(),
            Some("GPL-2.0-or-later OR Artistic-1.0-Perl")
        );
        assert_eq!(
            debian("GPL-2+ or BSD-3-clause, and MIT").as_deref(),
            Some("(GPL-2.0-or-later OR BSD-3-Clause) AND MIT")
        );
        assert_eq!(
            debian("Perl and MIT").as_deref(),
            Some("(Artistic-1.0-Perl OR GPL-1.0-or-later) AND MIT")
        );
        assert_eq!(
            debian("GPL-3+ with GCC-exception-3.1 exception").as_deref(),
            Some("GPL-3.0-or-later WITH GCC-exception-3.1")
        );
        assert_eq!(
            debian("GPL-2+ with Autoconf exception").as_deref(),
            Some("GPL-2.0-or-later WITH Autoconf-exception-2.0")
        );
        assert_eq!(
            debian("GPL-3+ with Autoconf exception").as_deref(),
            Some("GPL-3.0-or-later WITH Autoconf-exception-3.0")
        );
        assert_eq!(
            debian("GPL-2 with Linux-syscall-note exception").as_deref(),
            Some("GPL-2.0-only WITH Linux-syscall-note")
        );
        for untranslatable in [
            "public-domain",
            "GPL",
            "GPL-2+ with OpenSSL exception",
            "GPL-2+ or",
            "other",
        ] {
            assert_eq!(debian(untranslatable), None, "{untranslatable}");
        }
    }

    #[test]
    fn debian_files_paragraphs_join_with_and() {
        let names = ["GPL-2+", "Expat", "GPL-2+"].map(String::from);
        assert_eq!(
            from_debian(&names).as_deref(),
            Some("GPL-2.0-or-later AND MIT")
        );
        let names = ["GPL-2+", "public-domain"].map(String::from);
        assert_eq!(from_debian(&names), None);
        assert_eq!(from_debian(&[]), None);
    }

    #[test]
    fn rpm_names() {
        assert_eq!(
            from_rpm("GPL-2.0-or-later AND MIT").as_deref(),
            Some("GPL-2.0-or-later AND MIT")
        );
        assert_eq!(from_rpm("GPLv2+").as_deref(), Some("GPL-2.0-or-later"));
        assert_eq!(
            from_rpm("(GPLv2+ or LGPLv3+) and ASL 2.0").as_deref(),
            Some("(GPL-2.0-or-later OR LGPL-3.0-or-later) AND Apache-2.0")
        );
        assert_eq!(from_rpm("BSD"), None);
        assert_eq!(from_rpm("Public Domain"), None);
    }
}
