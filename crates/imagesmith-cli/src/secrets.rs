//! `--secret NAME=PATH` of `imagesmith build`: every file read and checked before any build
//! work starts, and every name checked against the secrets the images declare.

use imagesmith_build::Secrets;
use imagesmith_diagnostics::did_you_mean;
use imagesmith_plan::LockedProject;
use imagesmith_yaml::{read_regular, ReadError};
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

/// The largest secret file accepted: API credentials, tokens and customer IDs are a few
/// hundred bytes; 64 KiB leaves room for a certificate chain, and keeps `--secret x=big.iso`
/// (read into memory, mounted into every step) from costing anything.
pub const SECRET_MAX_BYTES: u64 = 64 * 1024;

/// A `--secret` that was refused, with how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretError {
    /// What is wrong, naming the secret and its file.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SecretError {}

/// One `--secret NAME=PATH`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretArg<'a> {
    /// The secret's name.
    pub name: &'a str,
    /// The file holding it.
    pub path: &'a Path,
}

/// Parses `--secret` arguments, without reading anything.
pub fn parse(args: &[String]) -> Result<Vec<SecretArg<'_>>, SecretError> {
    args.iter()
        .map(|arg| {
            let Some((name, path)) = arg.split_once('=') else {
                return Err(SecretError {
                    message: format!("Invalid `--secret {arg}`: expected `NAME=PATH`"),
                    hint: Some(
                        "for example `--secret falcon_client_secret=./client-secret.txt`".into(),
                    ),
                });
            };
            if name.is_empty() || name.contains('/') || name.starts_with('.') {
                return Err(SecretError {
                    message: format!("Invalid secret name `{name}` in `--secret {arg}`"),
                    hint: Some("use the parameter's name, such as `falcon_cid`".into()),
                });
            }
            Ok(SecretArg {
                name,
                path: Path::new(path),
            })
        })
        .collect()
}

/// Reads every secret's file: regular files of at most [`SECRET_MAX_BYTES`] only, so a FIFO
/// cannot hang the build and `/dev/zero` cannot fill memory.
pub fn read(args: &[SecretArg<'_>]) -> Result<Secrets, SecretError> {
    let mut secrets = Secrets::new();
    for arg in args {
        let name = arg.name;
        let value = read_regular(arg.path, SECRET_MAX_BYTES).map_err(|error| match &error {
            ReadError::Io { source, .. } => SecretError {
                message: format!(
                    "Cannot read secret `{name}` from `{}`: {source}",
                    arg.path.display()
                ),
                hint: None,
            },
            ReadError::NotRegular { kind, .. } => SecretError {
                message: format!(
                    "Secret `{name}`: `{}` is {kind}, not a regular file",
                    arg.path.display()
                ),
                hint: Some(format!(
                    "write the secret to a file and pass that, such as `--secret {name}=./{name}.txt`"
                )),
            },
            ReadError::TooLarge { size, limit, .. } => SecretError {
                message: format!(
                    "Secret `{name}`: `{}` is {size} bytes, larger than the limit of {limit} bytes for a secret",
                    arg.path.display()
                ),
                hint: Some(
                    "a secret is a credential, a token or an ID; check that the file is the right one"
                        .into(),
                ),
            },
        })?;
        secrets.insert(name, value);
    }
    Ok(secrets)
}

/// The secrets the components of `plan`'s images declare.
pub fn declared(plan: &LockedProject) -> BTreeSet<&str> {
    plan.images
        .iter()
        .flat_map(|image| &image.components)
        .flat_map(|component| &component.component.parameters)
        .filter(|parameter| parameter.secret)
        .map(|parameter| parameter.name.as_str())
        .collect()
}

/// A warning (message, hint) for each secret given that no image being built declares: a
/// misspelt name would otherwise leave the real secret missing without a word.
pub fn unknown(args: &[SecretArg<'_>], declared: &BTreeSet<&str>) -> Vec<(String, String)> {
    let mut seen = BTreeSet::new();
    args.iter()
        .filter(|arg| !declared.contains(arg.name) && seen.insert(arg.name))
        .map(|arg| {
            let message = format!(
                "No component of the images being built declares the secret `{}`; it is not used",
                arg.name
            );
            let known = declared
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let hint = match did_you_mean(arg.name, declared.iter().copied()) {
                Some(best) => format!("did you mean `{best}`? The images declare: {known}"),
                None if declared.is_empty() => {
                    "no component of the images being built takes a secret".to_string()
                }
                None => format!("the images declare: {known}"),
            };
            (message, hint)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parse_refuses_a_missing_path_and_bad_names() {
        assert!(parse(&args(&["token"])).is_err());
        assert!(parse(&args(&["=x"])).is_err());
        assert!(parse(&args(&["a/b=x"])).is_err());
        assert!(parse(&args(&[".a=x"])).is_err());
        let given = args(&["a=b=c"]);
        let parsed = parse(&given).unwrap();
        assert_eq!(parsed[0].name, "a");
        assert_eq!(parsed[0].path, Path::new("b=c"));
    }

    #[test]
    fn unknown_names_are_warned_with_the_known_ones() {
        let declared: BTreeSet<&str> = ["falcon_cid", "falcon_client_secret"].into();
        let given = args(&[
            "falcon_cid=a",
            "falcon_client_secrt=b",
            "wholly_other=c",
            "wholly_other=d",
        ]);
        let warnings = unknown(&parse(&given).unwrap(), &declared);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].0.contains("`falcon_client_secrt`"));
        assert!(
            warnings[0]
                .1
                .starts_with("did you mean `falcon_client_secret`?"),
            "{}",
            warnings[0].1
        );
        assert!(warnings[1]
            .1
            .contains("`falcon_cid`, `falcon_client_secret`"));
        let none = unknown(&parse(&given).unwrap(), &BTreeSet::new());
        assert_eq!(
            none[0].1,
            "no component of the images being built takes a secret"
        );
    }
}
