//! The one list of diagnostic codes.
//!
//! Every problem imagesmith reports carries one of these codes. The kebab-case strings are
//! part of the interface (JSON output, SARIF rule ids, GitHub annotation titles, CI filters),
//! so a variant's string never changes once released. `docs/diagnostics.md` is generated
//! from this list ([`Code::reference`]) and a test keeps it up to date.

use crate::Severity;
use std::fmt;

/// Declares [`Code`] and its tables from one list, so a code's string, meaning, usual
/// severity and fix cannot drift apart.
macro_rules! codes {
    ($(
        area $area:literal {
            $(
                #[doc = $summary:literal]
                $variant:ident = $code:literal, $severity:ident, $fix:literal;
            )+
        }
    )+) => {
        /// A stable, kebab-case identifier of a kind of problem (`unknown-component`).
        ///
        /// Codes are part of the interface: CI filters and SARIF rules refer to them, and
        /// `docs/diagnostics.md` documents each one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(
                #[doc = $summary]
                $variant,
            )+)+
        }

        impl Code {
            /// Every code, grouped by area, in the order of `docs/diagnostics.md`.
            pub const ALL: &'static [Code] = &[$($(Code::$variant,)+)+];

            /// The kebab-case string written in every output format.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($(Code::$variant => $code,)+)+
                }
            }

            /// What the code means, in one sentence.
            pub const fn summary(self) -> &'static str {
                match self {
                    $($(Code::$variant => $summary.trim_ascii(),)+)+
                }
            }

            /// The severity the code is usually reported with (policies may raise or
            /// lower some, such as `end-of-life`).
            pub const fn usual_severity(self) -> Severity {
                match self {
                    $($(Code::$variant => Severity::$severity,)+)+
                }
            }

            /// The typical fix, in one sentence.
            pub const fn fix(self) -> &'static str {
                match self {
                    $($(Code::$variant => $fix,)+)+
                }
            }

            /// The part of imagesmith that reports the code.
            pub const fn area(self) -> &'static str {
                match self {
                    $($(Code::$variant => $area,)+)+
                }
            }
        }
    };
}

codes! {
    area "Reading files" {
        /// The file is larger than the size limit, so it was not read.
        FileTooLarge = "file-too-large", Error,
            "Keep specs small: split generated content out of the file.";
        /// The path is a directory, device, FIFO or symbolic link, not a regular file.
        NotARegularFile = "not-a-regular-file", Error,
            "Point imagesmith at the YAML file itself, not at a link or special file.";
        /// The file could not be read (missing, no permission, I/O failure).
        IoError = "io-error", Error,
            "Check that the file exists and is readable.";
        /// The file is not valid UTF-8.
        InvalidUtf8 = "invalid-utf8", Error,
            "Save the file as UTF-8.";
    }
    area "YAML" {
        /// The file is not well-formed YAML (bad indentation, a tab, an unclosed quote, an unknown anchor).
        YamlSyntax = "yaml-syntax", Error,
            "Fix the YAML at the position shown; indent with spaces, not tabs.";
        /// The file holds more than one YAML document (`---`).
        YamlMultipleDocuments = "yaml-multiple-documents", Error,
            "Put each document in its own file.";
        /// Aliases expand the document past the node limit (an alias bomb).
        YamlTooManyNodes = "yaml-too-many-nodes", Error,
            "Remove the repeated aliases (`*name`).";
        /// The document nests deeper than the depth limit.
        YamlTooDeep = "yaml-too-deep", Error,
            "Flatten the document.";
        /// The document uses a YAML tag (`!!python/object`, `!Ref`) imagesmith does not read.
        YamlUnsupportedTag = "yaml-unsupported-tag", Error,
            "Remove the tag; quote the value to make it text.";
        /// A mapping key is a sequence or a mapping, not a scalar.
        YamlComplexKey = "yaml-complex-key", Error,
            "Use plain names as keys.";
        /// A mapping has the same key twice; YAML would keep only one of them.
        DuplicateKey = "duplicate-key", Error,
            "Remove one of the two entries.";
    }
    area "Document structure" {
        /// The file is not a spec, recipe, component, project or OS document, or is not a mapping.
        UnknownDocument = "unknown-document", Error,
            "Add `kind: spec` (or recipe, component, project); a spec needs `image_type` and `base_image`.";
        /// A required key is missing.
        MissingField = "missing-field", Error,
            "Add the key named in the message.";
        /// A value has the wrong YAML type (a list where a mapping is expected, ...).
        WrongType = "wrong-type", Error,
            "Write the value with the type named in the message.";
        /// A key that this kind of document does not have (often a typo).
        UnknownKey = "unknown-key", Error,
            "Fix the spelling (the hint suggests the closest key) or remove the key.";
        /// A value that must not be empty is empty.
        EmptyValue = "empty-value", Error,
            "Give it a value.";
        /// A value is not one of the accepted values, or not in the accepted form.
        InvalidValue = "invalid-value", Error,
            "Use one of the values listed in the message.";
        /// A version is not written as a version (`1.2.3`), or not in the component's version syntax.
        InvalidVersion = "invalid-version", Error,
            "Write the version as the component's catalog entry does, such as `1.2.3`.";
        /// A component, image or project name is not a valid name.
        InvalidName = "invalid-name", Error,
            "Use lowercase letters, digits and the separators named in the hint.";
        /// A date is not written as `YYYY-MM-DD`.
        InvalidDate = "invalid-date", Error,
            "Write dates as `2026-10-31`.";
    }
    area "Images and components" {
        /// A spec orders no component (`components:` is missing or empty).
        NoComponents = "no-components", Error,
            "List at least one component under `components:`; `imagesmith catalog` lists them.";
        /// A spec's `base_image` is not a golden image of the catalog.
        UnknownBaseImage = "unknown-base-image", Error,
            "Build on a golden image `golden-<type>-<os>`; `imagesmith catalog` lists them.";
        /// A name that is no image of the project (a waiver's `image`).
        UnknownImage = "unknown-image", Error,
            "Name a recipe or spec of the project; `imagesmith plan` lists them.";
        /// A recipe's `base_image` is not a valid image reference.
        InvalidBaseImage = "invalid-base-image", Error,
            "Write an image reference such as `amazonlinux:2023`.";
        /// `image_type` disagrees with the golden base image or with the recipe's name.
        ImageTypeMismatch = "image-type-mismatch", Error,
            "Make the name, `image_type` and `base_image` agree.";
        /// A recipe's name names another OS than its `os`.
        OsMismatch = "os-mismatch", Error,
            "Make the recipe's name and its `os` agree.";
        /// An OS id that is not in the catalog, or an OS that cannot be told from the base image.
        UnknownOs = "unknown-os", Error,
            "Use an OS id from the catalog (the hint lists them), or add `os:`.";
        /// The OS is planned in the catalog: the document validates, but cannot be built yet.
        OsPlanned = "os-planned", Warning,
            "Nothing to fix now; build on a supported OS to build today.";
        /// A component that is not in the catalog (nor in the project's own components).
        UnknownComponent = "unknown-component", Error,
            "Fix the name (the hint suggests the closest); `imagesmith catalog` lists the components.";
        /// A component that only golden images install (security and observability agents).
        GoldenOnly = "golden-only", Error,
            "Remove it: every golden image already has it.";
        /// A component the golden base image already installs.
        AlreadyInBase = "already-in-base", Warning,
            "Remove it; the golden image pins its version.";
        /// A component is not available on the image's OS.
        UnsupportedOs = "unsupported-os", Error,
            "Choose a base image whose OS the component supports (the hint lists them).";
        /// Two components that cannot be installed together.
        Conflict = "conflict", Error,
            "Keep one of the two components.";
        /// No version is given for a component and neither the project nor the catalog has a default.
        NoVersion = "no-version", Error,
            "Write a version, or add the component to the project's `defaults`.";
        /// A version that is revoked and must never be installed.
        RevokedVersion = "revoked-version", Error,
            "Move to a version the catalog supports.";
        /// A real release whose vendor downloads were pulled (withdrawn): it installs only from a mirror that kept it; an error under `policy: {withdrawn: error}`.
        WithdrawnRelease = "withdrawn-release", Warning,
            "Move to the nearest obtainable release named in the hint, or add a `mirrors:` entry in `imagesmith.yaml` for a mirror that kept the file.";
        /// A version the catalog does not support on this OS, or a default outside the supported list.
        UnsupportedVersion = "unsupported-version", Error,
            "Use one of the supported versions listed in the hint.";
        /// A version the vendor never released (not in the version index for this OS and architecture).
        UnknownRelease = "unknown-release", Error,
            "Use one of the nearest real releases in the hint, or refresh the index with `imagesmith index update` if the release is newer than the index.";
        /// A parameter value a build script cannot take (a control character, a malformed checksum or build hash).
        InvalidParameterValue = "invalid-parameter-value", Error,
            "Write the value on one line; a `sha256` is 64 hex digits, a `build` 12.";
        /// An artifact whose checksum cannot be pinned at lock time.
        Unpinnable = "unpinnable", Error,
            "Give the vendor's checksum (index, checksum file or the catalog's `checksum.values`), or a mirror that serves the artifact.";
        /// A version past its end of life (an error or a warning by the project's policy).
        EndOfLife = "end-of-life", Warning,
            "Upgrade to a supported version (the hint names the newest).";
        /// A deprecated version (an error or a warning by the project's policy).
        DeprecatedVersion = "deprecated-version", Warning,
            "Plan the upgrade the hint describes.";
        /// Parameters for a component that has no such parameter.
        UnknownParameter = "unknown-parameter", Error,
            "Fix the name (the hint suggests the closest) or remove the parameter.";
        /// A secret is written as a literal value (in a spec, or as a parameter's default).
        SecretLiteral = "secret-literal", Error,
            "Remove the value; local builds read secrets from the environment, pipelines from AWS Secrets Manager.";
        /// A pipeline schedule's cron expression does not have the 6 fields Image Builder needs.
        InvalidCron = "invalid-cron", Error,
            "Write six fields: minutes, hours, day of month, month, day of week, year.";
    }
    area "AWSTOE documents" {
        /// `schemaVersion` is not `1.0`.
        SchemaVersion = "schema-version", Error,
            "Use `schemaVersion: 1.0`.";
        /// An item of `parameters` or `constants` does not define exactly one name.
        InvalidVariableEntry = "invalid-variable-entry", Error,
            "Give each item one name: `- Name: {type: string}`.";
        /// A parameter or constant name breaks AWSTOE's naming rule.
        InvalidVariableName = "invalid-variable-name", Error,
            "Use 3 to 128 letters, digits, `-` or `_`.";
        /// A parameter or constant whose type is not `string`.
        InvalidVariableType = "invalid-variable-type", Error,
            "Use `type: string`, the only type AWSTOE supports.";
        /// A parameter is named like one of the component's secrets.
        SecretAsParameter = "secret-as-parameter", Error,
            "Remove the parameter; steps read the secret from `/run/secrets/<name>`.";
        /// A constant is named like one of the component's secrets.
        SecretAsConstant = "secret-as-constant", Error,
            "Remove the constant; steps read the secret from `/run/secrets/<name>`.";
        /// A name is defined more than once across `parameters` and `constants`.
        DuplicateVariable = "duplicate-variable", Error,
            "Keep one definition.";
        /// A parameter that no step uses.
        UnusedParameter = "unused-parameter", Warning,
            "Use it in a step, or remove it.";
        /// A constant that no step uses.
        UnusedConstant = "unused-constant", Warning,
            "Use it in a step, or remove it.";
        /// The document has no phases.
        NoPhases = "no-phases", Error,
            "Add a `build`, `validate` or `test` phase.";
        /// A phase Image Builder does not run.
        UnknownPhase = "unknown-phase", Error,
            "Use `build`, `validate` or `test`.";
        /// Phases are out of Image Builder's order (AWSTOE runs them in document order).
        PhaseOrder = "phase-order", Warning,
            "Order the phases `build`, `validate`, `test`.";
        /// A phase is defined more than once.
        DuplicatePhase = "duplicate-phase", Error,
            "Merge the two phases.";
        /// A phase has no steps.
        EmptyPhase = "empty-phase", Error,
            "Add a step, or remove the phase.";
        /// Two steps of one phase have the same name.
        DuplicateStepName = "duplicate-step-name", Error,
            "Rename one of the steps.";
        /// Two loops of one phase have the same name.
        DuplicateLoopName = "duplicate-loop-name", Error,
            "Rename one of the loops.";
        /// A `{{ ... }}` expression where AWSTOE does not substitute one (a step or loop name).
        ExpressionNotAllowed = "expression-not-allowed", Error,
            "Write the name literally.";
        /// A step name that chaining (`{{ phase.step.outputs }}`) cannot refer to.
        InvalidStepName = "invalid-step-name", Error,
            "Use letters, digits, `-` and `_`.";
        /// `action` is not an AWSTOE action module.
        UnknownAction = "unknown-action", Error,
            "Use an action module of AWSTOE (the hint suggests the closest).";
        /// A `forEach` list is empty, so the step never runs.
        EmptyLoop = "empty-loop", Warning,
            "Add items, or remove the step.";
        /// A Windows-only action in a Linux document.
        WindowsOnlyAction = "windows-only-action", Error,
            "Use the Linux equivalent (`ExecuteBash` for `ExecutePowerShell`).";
        /// A Linux-only action in a Windows document.
        LinuxOnlyAction = "linux-only-action", Error,
            "Use the Windows equivalent (`ExecutePowerShell` for `ExecuteBash`).";
        /// `timeoutSeconds` is neither positive nor -1.
        InvalidTimeout = "invalid-timeout", Error,
            "Use a positive number of seconds, or -1 for no limit.";
        /// `timeoutSeconds` on an action that ignores it (`Reboot`).
        TimeoutIgnored = "timeout-ignored", Warning,
            "Remove `timeoutSeconds`.";
        /// `ExecuteDocument` with a timeout or retries, which AWSTOE does not allow.
        ExecuteDocumentRestriction = "execute-document-restriction", Error,
            "Use `timeoutSeconds: -1` and no `maxAttempts` on `ExecuteDocument`.";
        /// `onFailure` is not `Abort`, `Continue` or `Ignore`.
        InvalidOnFailure = "invalid-on-failure", Error,
            "Use `Abort`, `Continue` or `Ignore`.";
        /// `maxAttempts` is less than 1.
        InvalidMaxAttempts = "invalid-max-attempts", Error,
            "Use 1 or more.";
        /// A step's `inputs` has the wrong shape for its action (a list where a mapping is expected, ...).
        InputsShape = "inputs-shape", Error,
            "Write `inputs` as the action takes them (the message says which shape).";
        /// A step has no `inputs` but its action needs some.
        MissingInputs = "missing-inputs", Error,
            "Add the inputs the hint names.";
        /// An input the action does not have.
        UnknownInput = "unknown-input", Error,
            "Fix the name (the hint suggests the closest) or remove the input.";
        /// An input option that AWSTOE does not support on Windows.
        OptionNotOnWindows = "option-not-on-windows", Error,
            "Remove the option from the Windows document.";
        /// A required input is missing.
        MissingInput = "missing-input", Error,
            "Add the input the hint names.";
        /// An input value that the action does not accept (an unknown choice, a bad URL or mode).
        InvalidInputValue = "invalid-input-value", Error,
            "Use one of the values the hint lists.";
        /// An input of the wrong type (a string where a list is expected, ...).
        InputType = "input-type", Error,
            "Write the input with the type named in the message.";
        /// `commands` is an empty list, so the step does nothing.
        EmptyCommands = "empty-commands", Warning,
            "Add commands, or remove the step.";
        /// Inputs that exclude each other (`commands` and `file`).
        ConflictingInputs = "conflicting-inputs", Error,
            "Keep one of the two inputs.";
        /// A download has `checksum` without `algorithm`, or the other way round.
        ChecksumIncomplete = "checksum-incomplete", Warning,
            "Give both `checksum:` and `algorithm: SHA256`.";
        /// A download over plain HTTP without a checksum.
        InsecureDownload = "insecure-download", Warning,
            "Use HTTPS, or add `checksum:` and `algorithm:`.";
        /// A `{{` that is never closed.
        UnclosedExpression = "unclosed-expression", Error,
            "Close the expression with `}}`.";
        /// An empty `{{ }}`.
        EmptyExpression = "empty-expression", Error,
            "Name a parameter, constant, loop variable or step output inside the braces.";
        /// A `{{ ... }}` whose content is not a name or chaining reference.
        MalformedExpression = "malformed-expression", Error,
            "Write `{{ Name }}`, `{{ loop.value }}` or `{{ phase.step.outputs.stdout }}`.";
        /// A `{{ ... }}` that names one of the component's secrets, which are never substituted.
        SecretReference = "secret-reference", Error,
            "Read the secret from the file `/run/secrets/<name>`.";
        /// A `{{ name }}` that is not a parameter or constant of the document.
        UnknownVariable = "unknown-variable", Error,
            "Declare it under `parameters` or `constants`, or fix the spelling.";
        /// A loop variable used outside the inputs of a step with a loop.
        LoopReferenceOutsideLoop = "loop-reference-outside-loop", Error,
            "Add a `loop:` to the step, or remove the reference.";
        /// A `{{ name.index }}` whose name is not the step's loop.
        UnknownLoopName = "unknown-loop-name", Error,
            "Use the name given in the step's `loop: {name: ...}`.";
        /// A `{{ ... }}` that AWSTOE leaves as written.
        UnresolvedExpression = "unresolved-expression", Warning,
            "Escape it, or name something AWSTOE substitutes.";
        /// Chaining from a phase the document does not have.
        ChainingUnknownPhase = "chaining-unknown-phase", Error,
            "Name a phase of this document.";
        /// Chaining from a step the phase does not have.
        ChainingUnknownStep = "chaining-unknown-step", Error,
            "Name a step of that phase.";
        /// Chaining from a step that has not run yet.
        ChainingForwardReference = "chaining-forward-reference", Error,
            "Chain only from earlier steps.";
        /// Chaining from the build instance's phases into `test`, which runs on a new instance.
        ChainingAcrossStages = "chaining-across-stages", Error,
            "Chain within `build` and `validate`, or within `test`.";
        /// Chaining from an output the step's action does not produce.
        UnknownChainedOutput = "unknown-chained-output", Error,
            "Use an output of that action (`stdout` for the execute actions).";
        /// Chaining from an input that does not resolve.
        UnknownChainedInput = "unknown-chained-input", Error,
            "Refer to an input the step has.";
        /// A `loop` that is not a valid AWSTOE loop.
        InvalidLoop = "invalid-loop", Error,
            "Give `forEach` (a list or a delimited string) or `for` with `start`, `end` and `updateBy`.";
        /// A loop name that is not a valid name.
        InvalidLoopName = "invalid-loop-name", Error,
            "Use letters, digits and `_`.";
        /// A `forEach` delimiter that AWSTOE does not accept.
        InvalidLoopDelimiter = "invalid-loop-delimiter", Error,
            "Use one of `.` `,` `;` `:` `-` `_`, a space, a newline or a tab.";
        /// A `for` loop that never reaches its end.
        LoopInfinite = "loop-infinite", Error,
            "Make `updateBy` move from `start` towards `end`.";
        /// A `for` loop with `updateBy: 0`.
        LoopUpdateByZero = "loop-update-by-zero", Error,
            "Use a non-zero `updateBy`.";
        /// A loop with more iterations than the limit.
        LoopTooLong = "loop-too-long", Error,
            "Shorten the loop, or split the step.";
        /// An `if` condition that is not a valid AWSTOE condition.
        InvalidCondition = "invalid-condition", Error,
            "Write a mapping with one operator, such as `stringEquals:` with `value:`.";
        /// An operator AWSTOE does not have.
        UnknownOperator = "unknown-operator", Error,
            "Use an AWSTOE operator (the hint suggests the closest).";
        /// A comparison without the value to compare with.
        ConditionMissingValue = "condition-missing-value", Error,
            "Add `value:` beside the operator.";
        /// Logical operators nested deeper than the limit.
        ConditionTooDeep = "condition-too-deep", Error,
            "Flatten the condition.";
        /// A `patternMatches` that is not a valid regular expression.
        InvalidPattern = "invalid-pattern", Error,
            "Fix the regular expression.";
        /// A condition's step action is not `Abort`, `Execute` or `Skip`.
        InvalidStepAction = "invalid-step-action", Error,
            "Use `Abort`, `Execute` or `Skip`.";
    }
    area "Scripts in documents" {
        /// A here-document terminator that is indented (or missing), so bash reads on to the end of the script.
        ScriptHeredocIndent = "script-heredoc-indent", Error,
            "Start the terminator at column 1 of the script, or open with `<<-` and indent it with tabs.";
        /// A `head` or `grep -q` reading a pipe under `set -o pipefail`: the writer can die of SIGPIPE (141) and fail the pipeline.
        ScriptPipefailHead = "script-pipefail-head", Warning,
            "Read the whole input (`sed -n 1p`, `grep ... >/dev/null`), or drop `pipefail` for that pipeline.";
        /// `dnf install` of a local file on an OS whose `-minimal` image has microdnf, which cannot install one.
        ScriptDnfLocalRpmMinimal = "script-dnf-local-rpm-minimal", Warning,
            "Install the file with `rpm -i` after its dependencies, or install the package by name from a repository.";
        /// `dnf install gnupg2` or `curl` on Amazon Linux 2023, which conflict with the preinstalled `-minimal` packages.
        ScriptAl2023ConflictingPackage = "script-al2023-conflicting-package", Warning,
            "Install `gnupg2-minimal` or `curl-minimal` (already present), or add `--allowerasing` to swap them.";
        /// `$name:` in PowerShell, which reads `name:` as a scope or drive and rejects the script.
        PowershellScopedVariable = "powershell-scoped-variable", Error,
            "Write `${name}:` or `$($name):`.";
    }
}

impl PartialOrd for Code {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Codes sort by their string, as they did when they were strings, so sorted output is
/// unchanged by the order of the list.
impl Ord for Code {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Code {
    /// The reference of every code as markdown: the text of `docs/diagnostics.md`.
    pub fn reference() -> String {
        let mut out = String::from(
            "# Diagnostic codes\n\
             \n\
             <!-- Generated from `crates/imagesmith-diagnostics/src/code.rs`; do not edit.\n     \
             Regenerate: UPDATE_DOCS=1 cargo nextest run -p imagesmith-diagnostics -->\n\
             \n\
             Every problem `imagesmith validate` reports has one of these codes. The code is\n\
             stable: it is the `code` of `--format json`, the rule id of `--format sarif` and\n\
             the title of `--format github`, so CI can filter on it. The severity is the one\n\
             the code is usually reported with; a project's policy decides it for\n\
             `end-of-life` and `deprecated-version`.\n",
        );
        let mut area = "";
        for code in Code::ALL {
            if code.area() != area {
                area = code.area();
                out.push_str(&format!(
                    "\n## {area}\n\n| code | severity | meaning | typical fix |\n| --- | --- | --- | --- |\n"
                ));
            }
            out.push_str(&format!(
                "| <a id=\"{code}\"></a>`{code}` | {} | {} | {} |\n",
                code.usual_severity().as_str(),
                table_cell(code.summary()),
                table_cell(code.fix()),
            ));
        }
        out
    }
}

/// A markdown table cell: `|` would end the cell.
fn table_cell(text: &str) -> String {
    text.replace('|', "\\|")
}
