//! The AWSTOE action modules: names, platforms, input shapes and outputs.
//!
//! Transcribed from the AWSTOE documentation ("Action modules supported by AWSTOE component
//! manager"): every key, its type, whether it is required and the values it accepts.

/// Where an action module runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platforms {
    /// Linux and Windows (and macOS).
    All,
    /// Windows only.
    WindowsOnly,
    /// Not on Windows.
    NotWindows,
}

/// The type an input value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputType {
    /// A string; a plain integer is accepted and read as its text.
    String,
    /// `true` or `false`.
    Bool,
    /// An integer.
    Integer,
    /// A list of strings.
    StringList,
    /// A mapping of strings to strings.
    StringMap,
    /// One of the given values (case-insensitive).
    OneOf(&'static [&'static str]),
    /// A string, a number or a list (SetRegistry `value`).
    Any,
    /// A list of `{name, value}` mappings (ExecuteDocument `parameters`).
    NameValueList,
}

impl InputType {
    /// How the type is described in messages.
    pub fn describe(self) -> &'static str {
        match self {
            InputType::String => "a string",
            InputType::Bool => "`true` or `false`",
            InputType::Integer => "an integer",
            InputType::StringList => "a list of strings",
            InputType::StringMap => "a mapping of strings",
            InputType::OneOf(_) => "one of the listed values",
            InputType::Any => "a string, a number or a list",
            InputType::NameValueList => "a list of `name`/`value` mappings",
        }
    }
}

/// One input key of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputField {
    /// The key, as written in documents.
    pub name: &'static str,
    /// The type of its value.
    pub kind: InputType,
    /// Whether it must be given.
    pub required: bool,
    /// Whether AWSTOE rejects it on Windows.
    pub not_on_windows: bool,
}

const fn req(name: &'static str, kind: InputType) -> InputField {
    InputField {
        name,
        kind,
        required: true,
        not_on_windows: false,
    }
}

const fn opt(name: &'static str, kind: InputType) -> InputField {
    InputField {
        name,
        kind,
        required: false,
        not_on_windows: false,
    }
}

const fn unix(name: &'static str, kind: InputType) -> InputField {
    InputField {
        name,
        kind,
        required: false,
        not_on_windows: true,
    }
}

/// The shape of an action's `inputs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputShape {
    /// A mapping with these keys.
    Map {
        /// The keys.
        fields: &'static [InputField],
        /// Whether `inputs` may be left out entirely.
        optional: bool,
    },
    /// A non-empty list of mappings, each with these keys.
    List(&'static [InputField]),
    /// A comparison or logical operator expression (Assert).
    Condition,
}

/// An AWSTOE action module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionSpec {
    /// The name used in `action:`.
    pub name: &'static str,
    /// Where it runs.
    pub platforms: Platforms,
    /// What `inputs` looks like.
    pub inputs: InputShape,
    /// The output variables it returns, for `{{ phase.step.outputs.<name> }}`.
    pub outputs: &'static [&'static str],
}

/// The encodings file actions accept (case-insensitive).
pub const ENCODINGS: &[&str] = &[
    "utf8",
    "utf-8",
    "utf16",
    "utf-16",
    "utf16-le",
    "utf-16-le",
    "utf16-be",
    "utf-16-be",
    "utf32",
    "utf-32",
    "utf32-le",
    "utf-32-le",
    "utf32-be",
    "utf-32-be",
];

/// The WebDownload checksum algorithms (case-insensitive).
pub const CHECKSUM_ALGORITHMS: &[&str] = &["MD5", "SHA1", "SHA256", "SHA512"];

const ENCODING: InputType = InputType::OneOf(ENCODINGS);

const EXECUTE_BASH: &[InputField] = &[req("commands", InputType::StringList)];
const EXECUTE_BINARY: &[InputField] = &[
    req("path", InputType::String),
    opt("arguments", InputType::StringList),
];
const EXECUTE_DOCUMENT: &[InputField] = &[
    req("document", InputType::String),
    opt("document-s3-bucket-owner", InputType::String),
    opt("phases", InputType::String),
    opt("parameters", InputType::NameValueList),
];
const EXECUTE_POWERSHELL: &[InputField] = &[
    opt("commands", InputType::StringList),
    opt("file", InputType::String),
];
const S3_DOWNLOAD: &[InputField] = &[
    req("source", InputType::String),
    req("destination", InputType::String),
    opt("expectedBucketOwner", InputType::String),
    opt("overwrite", InputType::Bool),
];
const S3_UPLOAD: &[InputField] = &[
    req("source", InputType::String),
    req("destination", InputType::String),
    opt("recurse", InputType::Bool),
    opt("expectedBucketOwner", InputType::String),
];
const WEB_DOWNLOAD: &[InputField] = &[
    req("source", InputType::String),
    req("destination", InputType::String),
    opt("overwrite", InputType::Bool),
    opt("checksum", InputType::String),
    opt("algorithm", InputType::OneOf(CHECKSUM_ALGORITHMS)),
    opt("ignoreCertificateErrors", InputType::Bool),
];
const APPEND_FILE: &[InputField] = &[
    req("path", InputType::String),
    opt("content", InputType::String),
    opt("encoding", ENCODING),
];
const COPY_MOVE: &[InputField] = &[
    req("source", InputType::String),
    req("destination", InputType::String),
    opt("overwrite", InputType::Bool),
];
const CREATE_FILE: &[InputField] = &[
    req("path", InputType::String),
    opt("content", InputType::String),
    opt("encoding", ENCODING),
    unix("owner", InputType::String),
    unix("group", InputType::String),
    unix("permissions", InputType::String),
    opt("overwrite", InputType::Bool),
];
const CREATE_FOLDER: &[InputField] = &[
    req("path", InputType::String),
    unix("owner", InputType::String),
    unix("group", InputType::String),
    unix("permissions", InputType::String),
    opt("overwrite", InputType::Bool),
];
const CREATE_SYMLINK: &[InputField] = &[
    req("path", InputType::String),
    req("target", InputType::String),
    opt("force", InputType::Bool),
];
const DELETE_FILE: &[InputField] = &[req("path", InputType::String)];
const DELETE_FOLDER: &[InputField] = &[
    req("path", InputType::String),
    opt("force", InputType::Bool),
];
const LIST_FILES: &[InputField] = &[
    req("path", InputType::String),
    opt("fileNamePattern", InputType::String),
    opt("recursive", InputType::Bool),
];
const READ_FILE: &[InputField] = &[
    req("path", InputType::String),
    opt("encoding", ENCODING),
    opt("printFileContent", InputType::Bool),
];
const SET_FILE_ENCODING: &[InputField] =
    &[req("path", InputType::String), opt("encoding", ENCODING)];
const SET_FILE_OWNER: &[InputField] = &[
    req("path", InputType::String),
    req("owner", InputType::String),
    opt("group", InputType::String),
];
const SET_FOLDER_OWNER: &[InputField] = &[
    req("path", InputType::String),
    req("owner", InputType::String),
    opt("group", InputType::String),
    opt("recursive", InputType::Bool),
];
const SET_FILE_PERMISSIONS: &[InputField] = &[
    req("path", InputType::String),
    req("permissions", InputType::String),
];
const SET_FOLDER_PERMISSIONS: &[InputField] = &[
    req("path", InputType::String),
    req("permissions", InputType::String),
    opt("recursive", InputType::Bool),
];
const MSI: &[InputField] = &[
    req("path", InputType::String),
    opt("reboot", InputType::OneOf(&["Allow", "Force", "Skip"])),
    opt("logOptions", InputType::String),
    opt("logFile", InputType::String),
    opt("properties", InputType::StringMap),
    opt("ignoreAuthenticodeSignatureErrors", InputType::Bool),
    opt("allowUnsignedInstaller", InputType::Bool),
];
const REBOOT: &[InputField] = &[opt("delaySeconds", InputType::Integer)];
const SET_REGISTRY: &[InputField] = &[
    req("path", InputType::String),
    req("name", InputType::String),
    req("value", InputType::Any),
    req(
        "type",
        InputType::OneOf(&["BINARY", "DWORD", "QWORD", "SZ", "EXPAND_SZ", "MULTI_SZ"]),
    ),
];
const UPDATE_OS: &[InputField] = &[
    opt("include", InputType::StringList),
    opt("exclude", InputType::StringList),
];

const fn map(fields: &'static [InputField]) -> InputShape {
    InputShape::Map {
        fields,
        optional: false,
    }
}

const fn optional_map(fields: &'static [InputField]) -> InputShape {
    InputShape::Map {
        fields,
        optional: true,
    }
}

const fn action(
    name: &'static str,
    platforms: Platforms,
    inputs: InputShape,
    outputs: &'static [&'static str],
) -> ActionSpec {
    ActionSpec {
        name,
        platforms,
        inputs,
        outputs,
    }
}

use InputShape::List;
use Platforms::{All, NotWindows, WindowsOnly};

/// Every AWSTOE action module.
pub const ACTIONS: &[ActionSpec] = &[
    // General execution
    action("Assert", All, InputShape::Condition, &[]),
    action("ExecuteBash", NotWindows, map(EXECUTE_BASH), &["stdout"]),
    action("ExecuteBinary", All, map(EXECUTE_BINARY), &["stdout"]),
    action("ExecuteDocument", All, map(EXECUTE_DOCUMENT), &[]),
    action(
        "ExecutePowerShell",
        WindowsOnly,
        map(EXECUTE_POWERSHELL),
        &["stdout"],
    ),
    // Download and upload
    action("S3Download", All, List(S3_DOWNLOAD), &[]),
    action("S3Upload", All, List(S3_UPLOAD), &[]),
    action("WebDownload", All, List(WEB_DOWNLOAD), &["destination"]),
    // File system operations
    action("AppendFile", All, List(APPEND_FILE), &[]),
    action("CopyFile", All, List(COPY_MOVE), &[]),
    action("CopyFolder", All, List(COPY_MOVE), &[]),
    action("CreateFile", All, List(CREATE_FILE), &[]),
    action("CreateFolder", All, List(CREATE_FOLDER), &[]),
    action("CreateSymlink", NotWindows, List(CREATE_SYMLINK), &[]),
    action("DeleteFile", All, List(DELETE_FILE), &[]),
    action("DeleteFolder", All, List(DELETE_FOLDER), &[]),
    action("ListFiles", All, List(LIST_FILES), &["files"]),
    action("MoveFile", All, List(COPY_MOVE), &[]),
    action("MoveFolder", All, List(COPY_MOVE), &[]),
    action("ReadFile", All, List(READ_FILE), &["content"]),
    action("SetFileEncoding", All, List(SET_FILE_ENCODING), &[]),
    action("SetFileOwner", NotWindows, List(SET_FILE_OWNER), &[]),
    action("SetFolderOwner", NotWindows, List(SET_FOLDER_OWNER), &[]),
    action(
        "SetFilePermissions",
        NotWindows,
        List(SET_FILE_PERMISSIONS),
        &[],
    ),
    action(
        "SetFolderPermissions",
        NotWindows,
        List(SET_FOLDER_PERMISSIONS),
        &[],
    ),
    // Software installation
    action(
        "InstallMSI",
        WindowsOnly,
        map(MSI),
        &["logFile", "msiExitCode", "stdout"],
    ),
    action(
        "UninstallMSI",
        WindowsOnly,
        map(MSI),
        &["logFile", "msiExitCode", "stdout"],
    ),
    // System actions
    action("Reboot", All, optional_map(REBOOT), &[]),
    action("SetRegistry", WindowsOnly, List(SET_REGISTRY), &[]),
    action("UpdateOS", All, optional_map(UPDATE_OS), &[]),
];

/// The action module named `name` (case-sensitive, as AWSTOE reads it).
pub fn lookup(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|a| a.name == name)
}

/// The names of every action module.
pub fn names() -> impl Iterator<Item = &'static str> {
    ACTIONS.iter().map(|a| a.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        let mut seen = std::collections::BTreeSet::new();
        for spec in ACTIONS {
            assert!(seen.insert(spec.name), "duplicate {}", spec.name);
            assert_eq!(lookup(spec.name), Some(spec));
        }
        assert!(lookup("executebash").is_none());
    }

    #[test]
    fn windows_only_actions() {
        let windows: Vec<_> = ACTIONS
            .iter()
            .filter(|a| a.platforms == Platforms::WindowsOnly)
            .map(|a| a.name)
            .collect();
        assert_eq!(
            windows,
            [
                "ExecutePowerShell",
                "InstallMSI",
                "UninstallMSI",
                "SetRegistry"
            ]
        );
    }
}
