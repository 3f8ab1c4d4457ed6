//! Decoding documents from a spanned YAML tree.
//!
//! Unlike a serde derive, decoding goes on after a problem: every unknown key, missing field
//! and mistyped value in a document is reported in one pass, each at its own line and column
//! with a hint. A field that fails to decode is dropped, so later checks still see the rest.

use crate::types::*;
use imagesmith_diagnostics::{did_you_mean, Code, Diagnostic, Diagnostics, Span};
use imagesmith_yaml::{Node, NodeKind, Style};
use indexmap::IndexMap;
use serde_json::Value;
use std::sync::Arc;

/// Collects the problems found while decoding one file.
pub struct Decoder<'a> {
    path: Arc<str>,
    diagnostics: &'a mut Diagnostics,
}

/// The keys of a mapping being decoded as a struct.
pub struct Fields<'n> {
    span: Span,
    entries: &'n [(Node, Node)],
}

impl<'n> Fields<'n> {
    /// The value of `name`, if present (the first one, when duplicated).
    pub fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .map(|(_, v)| v)
    }

    /// The value of `name`, or a `missing-field` error with `hint`.
    pub fn require(
        &self,
        decoder: &mut Decoder<'_>,
        name: &str,
        what: &str,
        hint: &str,
    ) -> Option<&'n Node> {
        let value = self.get(name);
        if value.is_none() {
            decoder.push(
                Diagnostic::error(
                    &decoder.path,
                    Some(Span::point(self.span.start)),
                    Code::MissingField,
                    format!("{what} has no `{name}`"),
                )
                .with_hint(hint),
            );
        }
        value
    }
}

/// Whether `text` is an acceptable version: letters, digits and `._+~-`, at most 64
/// characters, starting with a letter or a digit. Nothing a shell would interpret.
pub fn is_safe_version(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'~' | b'-'))
}

/// Whether `text` is an acceptable component or OS name.
pub fn is_safe_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}

impl<'a> Decoder<'a> {
    /// A decoder reporting problems in `path` into `diagnostics`.
    pub fn new(path: &Arc<str>, diagnostics: &'a mut Diagnostics) -> Self {
        Decoder {
            path: Arc::clone(path),
            diagnostics,
        }
    }

    /// The file being decoded.
    pub fn path(&self) -> &Arc<str> {
        &self.path
    }

    /// Reports a diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Reports an error at `span`.
    pub fn error(&mut self, span: Span, code: Code, message: String, hint: Option<String>) {
        let d = Diagnostic::error(&self.path, Some(span), code, message).with_hint_opt(hint);
        self.diagnostics.push(d);
    }

    fn wrong_type(&mut self, node: &Node, what: &str, expected: &str, hint: Option<String>) {
        self.error(
            node.span,
            Code::WrongType,
            format!("{what} must be {expected}, found {}", node.type_name()),
            hint,
        );
    }

    /// Reads a mapping as a struct with the `known` keys, reporting any other key.
    pub fn fields<'n>(&mut self, node: &'n Node, what: &str, known: &[&str]) -> Option<Fields<'n>> {
        let Some(entries) = node.as_mapping() else {
            self.wrong_type(node, what, "a mapping", None);
            return None;
        };
        for (key, _) in entries {
            let Some(name) = key.as_str() else { continue };
            if !known.contains(&name) {
                let hint = match did_you_mean(name, known.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("expected one of: {}", list(known)),
                };
                self.error(
                    key.span,
                    Code::UnknownKey,
                    format!("Unknown key `{name}` in {what}"),
                    Some(hint),
                );
            }
        }
        Some(Fields {
            span: node.span,
            entries,
        })
    }

    /// Reads a non-empty scalar as text.
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar(s) if s.is_null() => {
                self.error(
                    node.span,
                    Code::EmptyValue,
                    format!("{what} is empty"),
                    Some("give it a value".into()),
                );
                None
            }
            NodeKind::Scalar(s) => Some(s.value.clone()),
            _ => {
                self.wrong_type(node, what, "text", None);
                None
            }
        }
    }

    /// Reads an optional text field.
    pub fn opt_string(&mut self, node: Option<&Node>, what: &str) -> Option<String> {
        node.and_then(|n| self.string(n, what))
    }

    /// Reads a boolean (`true` or `false`).
    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.as_scalar().and_then(|s| s.as_bool()) {
            Some(b) => Some(b),
            None => {
                self.wrong_type(
                    node,
                    what,
                    "`true` or `false`",
                    Some("write `true` or `false`, unquoted".into()),
                );
                None
            }
        }
    }

    /// Reads an integer.
    pub fn integer(&mut self, node: &Node, what: &str) -> Option<i64> {
        let parsed = node
            .as_scalar()
            .filter(|s| s.style == Style::Plain)
            .and_then(|s| s.value.parse::<i64>().ok());
        if parsed.is_none() {
            self.wrong_type(node, what, "a whole number", None);
        }
        parsed
    }

    /// Reads a version: the text as written, checked against the allow-list.
    pub fn version(&mut self, node: &Node, what: &str) -> Option<VersionText> {
        let text = match &node.kind {
            NodeKind::Scalar(s) if !s.is_null() => s.value.as_str(),
            NodeKind::Scalar(_) => {
                self.error(
                    node.span,
                    Code::EmptyValue,
                    format!("{what} is empty"),
                    Some("give a version such as `1.2.3`".into()),
                );
                return None;
            }
            _ => {
                self.wrong_type(
                    node,
                    what,
                    "a version",
                    Some("write a version such as `1.2.3`".into()),
                );
                return None;
            }
        };
        if !is_safe_version(text) {
            self.error(
                node.span,
                Code::InvalidVersion,
                format!("{what} `{}` is not a valid version", truncate(text, 40)),
                Some(
                    "a version is 1 to 64 letters, digits and `._+~-`, starting with a letter or digit"
                        .into(),
                ),
            );
            return None;
        }
        Some(VersionText(text.to_string()))
    }

    /// Reads an optional version; an empty value means "follow the default".
    pub fn opt_version(&mut self, node: &Node, what: &str) -> Option<Option<VersionText>> {
        if node.is_null() {
            return Some(None);
        }
        self.version(node, what).map(Some)
    }

    /// Reads one of a fixed set of words.
    pub fn choice<T: Copy>(&mut self, node: &Node, what: &str, options: &[(&str, T)]) -> Option<T> {
        let text = node
            .as_scalar()
            .filter(|s| !s.is_null())
            .map(|s| s.value.as_str());
        if let Some(text) = text {
            if let Some((_, value)) = options.iter().find(|(name, _)| *name == text) {
                return Some(*value);
            }
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let hint = text
            .and_then(|t| did_you_mean(t, names.iter().copied()))
            .map(|best| format!("did you mean `{best}`?"))
            .unwrap_or_else(|| format!("expected one of: {}", list(&names)));
        match text {
            Some(text) => self.error(
                node.span,
                Code::InvalidValue,
                format!(
                    "{what} `{}` is not one of {}",
                    truncate(text, 40),
                    list(&names)
                ),
                Some(hint),
            ),
            None => self.wrong_type(node, what, &format!("one of {}", list(&names)), Some(hint)),
        }
        None
    }

    /// Reads a list, decoding each item with `item`; bad items are dropped.
    pub fn list<T>(
        &mut self,
        node: &Node,
        what: &str,
        mut item: impl FnMut(&mut Self, &Node) -> Option<T>,
    ) -> Option<Vec<T>> {
        if node.is_null() {
            return Some(Vec::new());
        }
        let Some(items) = node.as_sequence() else {
            self.wrong_type(node, what, "a list", None);
            return None;
        };
        Some(items.iter().filter_map(|n| item(self, n)).collect())
    }

    /// Reads a list of text.
    pub fn string_list(&mut self, node: Option<&Node>, what: &str) -> Vec<String> {
        node.and_then(|n| self.list(n, what, |d, n| d.string(n, what)))
            .unwrap_or_default()
    }

    /// Reads a mapping with free keys, decoding each value with `value`; bad entries are dropped.
    pub fn map<T>(
        &mut self,
        node: &Node,
        what: &str,
        mut value: impl FnMut(&mut Self, &str, &Node) -> Option<T>,
    ) -> Option<IndexMap<String, T>> {
        if node.is_null() {
            return Some(IndexMap::new());
        }
        let Some(entries) = node.as_mapping() else {
            self.wrong_type(node, what, "a mapping", None);
            return None;
        };
        let mut out = IndexMap::with_capacity(entries.len());
        for (key, v) in entries {
            let Some(name) = key.as_str() else { continue };
            if let Some(decoded) = value(self, name, v) {
                out.entry(name.to_string()).or_insert(decoded);
            }
        }
        Some(out)
    }

    /// Reads a mapping of text to text.
    pub fn string_map(&mut self, node: Option<&Node>, what: &str) -> IndexMap<String, String> {
        node.and_then(|n| self.map(n, what, |d, k, v| d.string(v, &format!("{what} `{k}`"))))
            .unwrap_or_default()
    }

    fn kind(&mut self, fields: &Fields<'_>, expected: DocumentKind) -> Option<DocumentKind> {
        let node = fields.get("kind")?;
        let names: Vec<(&str, DocumentKind)> =
            DocumentKind::ALL.iter().map(|k| (k.as_str(), *k)).collect();
        let kind = self.choice(node, "`kind`", &names)?;
        if kind != expected {
            self.error(
                node.span,
                Code::InvalidValue,
                format!(
                    "`kind` is `{}` but the document is read as a {}",
                    kind.as_str(),
                    expected.as_str()
                ),
                None,
            );
        }
        Some(kind)
    }
}

fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}

/// A plain-scalar-aware conversion of a YAML node to JSON, for free-form AWSTOE inputs:
/// plain `true`/`false`, null and integers keep their type; everything else stays text.
pub fn to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Scalar(s) => {
            if s.is_null() {
                Value::Null
            } else if let Some(b) = s.as_bool() {
                Value::Bool(b)
            } else if s.style == Style::Plain {
                let leading_zero =
                    s.value.len() > 1 && s.value.trim_start_matches('-').starts_with('0');
                let canonical = !(s.value.starts_with('+') || leading_zero);
                match s.value.parse::<i64>() {
                    Ok(i) if canonical => Value::from(i),
                    _ => Value::String(s.value.clone()),
                }
            } else {
                Value::String(s.value.clone())
            }
        }
        NodeKind::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Mapping(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), to_json(v)))
                .collect(),
        ),
    }
}

const IMAGE_TYPES: [(&str, ImageType); 2] =
    [("container", ImageType::Container), ("ami", ImageType::Ami)];

fn components(d: &mut Decoder<'_>, node: Option<&Node>) -> IndexMap<String, Option<VersionText>> {
    let Some(node) = node else {
        return IndexMap::new();
    };
    d.map(node, "`components`", |d, name, value| {
        d.opt_version(value, &format!("Version of `{name}`"))
    })
    .unwrap_or_default()
}

fn parameters(
    d: &mut Decoder<'_>,
    node: Option<&Node>,
) -> IndexMap<String, IndexMap<String, String>> {
    let Some(node) = node else {
        return IndexMap::new();
    };
    d.map(node, "`parameters`", |d, component, value| {
        Some(d.string_map(Some(value), &format!("parameters of `{component}`")))
    })
    .unwrap_or_default()
}

/// The fields specs and recipes share: what goes into an image besides its base.
struct ImageFields {
    name: Option<String>,
    description: Option<String>,
    version: Option<VersionText>,
    components: IndexMap<String, Option<VersionText>>,
    parameters: IndexMap<String, IndexMap<String, String>>,
    labels: IndexMap<String, String>,
    environment: IndexMap<String, String>,
    user: Option<String>,
}

fn image_fields(d: &mut Decoder<'_>, f: &Fields<'_>) -> ImageFields {
    ImageFields {
        name: d.opt_string(f.get("name"), "`name`"),
        description: d.opt_string(f.get("description"), "`description`"),
        version: f.get("version").and_then(|n| d.version(n, "`version`")),
        components: components(d, f.get("components")),
        parameters: parameters(d, f.get("parameters")),
        labels: d.string_map(f.get("labels"), "`labels`"),
        environment: d.string_map(f.get("environment"), "`environment`"),
        user: d.opt_string(f.get("user"), "`user`"),
    }
}

/// The keys of a spec.
pub const SPEC_FIELDS: &[&str] = &[
    "kind",
    "name",
    "description",
    "image_type",
    "base_image",
    "version",
    "components",
    "parameters",
    "labels",
    "environment",
    "user",
];

/// Decodes a customer spec.
pub fn spec(d: &mut Decoder<'_>, node: &Node) -> Option<Spec> {
    let f = d.fields(node, "spec", SPEC_FIELDS)?;
    let kind = d.kind(&f, DocumentKind::Spec);
    let image_type = f
        .require(
            d,
            "image_type",
            "Spec",
            "add `image_type: container` or `image_type: ami`",
        )
        .and_then(|n| d.choice(n, "`image_type`", &IMAGE_TYPES));
    let base_image = f
        .require(
            d,
            "base_image",
            "Spec",
            "add `base_image: golden-container-<os>`, e.g. `golden-container-amazonlinux2023`",
        )
        .and_then(|n| d.string(n, "`base_image`"));
    let common = image_fields(d, &f);
    let spec = Spec {
        kind,
        name: common.name,
        description: common.description,
        version: common.version,
        components: common.components,
        parameters: common.parameters,
        labels: common.labels,
        environment: common.environment,
        user: common.user,
        image_type: image_type?,
        base_image: base_image?,
    };
    Some(spec)
}

/// The keys of a recipe.
pub const RECIPE_FIELDS: &[&str] = &[
    "kind",
    "name",
    "description",
    "image_type",
    "os",
    "base_image",
    "version",
    "components",
    "parameters",
    "labels",
    "environment",
    "user",
];

/// Decodes a golden recipe.
pub fn recipe(d: &mut Decoder<'_>, node: &Node) -> Option<Recipe> {
    let f = d.fields(node, "recipe", RECIPE_FIELDS)?;
    let kind = d.kind(&f, DocumentKind::Recipe);
    let base_image = f
        .require(
            d,
            "base_image",
            "Recipe",
            "add `base_image:` with an OS image such as `amazonlinux:2023`",
        )
        .and_then(|n| d.string(n, "`base_image`"));
    let image_type = f
        .get("image_type")
        .and_then(|n| d.choice(n, "`image_type`", &IMAGE_TYPES));
    let os = d.opt_string(f.get("os"), "`os`");
    let common = image_fields(d, &f);
    Some(Recipe {
        kind,
        name: common.name,
        description: common.description,
        image_type,
        os,
        version: common.version,
        components: common.components,
        parameters: common.parameters,
        labels: common.labels,
        environment: common.environment,
        user: common.user,
        base_image: base_image?,
    })
}

/// The keys of a project file.
pub const PROJECT_FIELDS: &[&str] = &[
    "kind",
    "name",
    "registry",
    "os",
    "defaults",
    "scanners",
    "schedule",
    "paths",
    "mirrors",
    "policy",
    "network",
    "imagesmith",
    "infrastructure",
    "ci",
];

/// Decodes a project file.
pub fn project(d: &mut Decoder<'_>, node: &Node) -> Option<Project> {
    let f = d.fields(node, "project", PROJECT_FIELDS)?;
    let kind = d.kind(&f, DocumentKind::Project);
    let name = f
        .require(d, "name", "Project", "add `name: <project name>`")
        .and_then(|n| d.string(n, "`name`"));
    let registry = f.get("registry").and_then(|n| registry(d, n));
    let os = d.string_list(f.get("os"), "`os`");
    let defaults = f
        .get("defaults")
        .and_then(|n| {
            d.map(n, "`defaults`", |d, component, value| {
                let what = format!("Default version of `{component}`");
                if value.as_mapping().is_some() {
                    d.map(value, &what, |d, os, v| {
                        d.version(v, &format!("{what} on `{os}`"))
                    })
                    .map(DefaultVersion::PerOs)
                } else {
                    d.version(value, &what).map(DefaultVersion::Version)
                }
            })
        })
        .unwrap_or_default();
    let scanners = f.get("scanners").and_then(|n| scanners(d, n));
    let schedule = f.get("schedule").and_then(|n| schedule(d, n));
    let paths = f.get("paths").and_then(|n| {
        let p = d.fields(n, "`paths`", &["recipes", "specs", "components"])?;
        Some(Paths {
            recipes: d.string_list(p.get("recipes"), "`paths.recipes`"),
            specs: d.string_list(p.get("specs"), "`paths.specs`"),
            components: d.string_list(p.get("components"), "`paths.components`"),
        })
    });
    let mirrors = d.string_map(f.get("mirrors"), "`mirrors`");
    let policy = f.get("policy").and_then(|n| {
        let p = d.fields(n, "`policy`", &["deprecated", "end_of_life", "withdrawn"])?;
        let levels = [
            ("warning", PolicyLevel::Warning),
            ("error", PolicyLevel::Error),
        ];
        Some(Policy {
            deprecated: p
                .get("deprecated")
                .and_then(|n| d.choice(n, "`policy.deprecated`", &levels)),
            end_of_life: p
                .get("end_of_life")
                .and_then(|n| d.choice(n, "`policy.end_of_life`", &levels)),
            withdrawn: p
                .get("withdrawn")
                .and_then(|n| d.choice(n, "`policy.withdrawn`", &levels)),
        })
    });
    let network = f.get("network").and_then(|n| {
        let fields = d.fields(n, "`network`", &["egress"])?;
        Some(ProjectNetwork {
            egress: fields
                .get("egress")
                .map(|n| d.string_list(Some(n), "`network.egress`")),
        })
    });
    let imagesmith = f.get("imagesmith").and_then(|n| tool_source(d, n));
    let infrastructure = f.get("infrastructure").and_then(|n| {
        d.choice(
            n,
            "`infrastructure`",
            &[
                ("cloudformation", Infrastructure::Cloudformation),
                ("terraform", Infrastructure::Terraform),
            ],
        )
    });
    let ci = f.get("ci").and_then(|n| {
        let fields = d.fields(n, "`ci`", &["runner"])?;
        Some(Ci {
            runner: fields.get("runner").and_then(|n| {
                d.choice(
                    n,
                    "`ci.runner`",
                    &[("github", Runner::Github), ("codebuild", Runner::Codebuild)],
                )
            }),
        })
    });
    Some(Project {
        kind,
        name: name?,
        registry,
        os,
        defaults,
        scanners,
        schedule,
        paths,
        mirrors,
        policy,
        network,
        imagesmith,
        infrastructure,
        ci,
    })
}

/// `imagesmith: {git, rev}`: a repository and a whole commit id
fn tool_source(d: &mut Decoder<'_>, node: &Node) -> Option<ToolSource> {
    let what = "`imagesmith`";
    let f = d.fields(node, what, &["git", "rev"])?;
    let git = f
        .require(
            d,
            "git",
            what,
            "add `git: https://github.com/<owner>/imagesmith` (the repository CI builds it from)",
        )
        .and_then(|n| d.string(n, "`imagesmith.git`"));
    let rev = f
        .require(
            d,
            "rev",
            what,
            "add `rev:` with the commit to build (40 hex digits)",
        )
        .and_then(|n| {
            let text = d.string(n, "`imagesmith.rev`")?;
            if text.len() != 40 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                d.error(
                    n.span,
                    Code::InvalidValue,
                    format!("`imagesmith.rev` is `{text}`, not a commit id"),
                    Some(
                        "give the whole commit id (`git rev-parse <tag>^{commit}`): a tag or branch can move".into(),
                    ),
                );
                return None;
            }
            Some(text.to_ascii_lowercase())
        });
    Some(ToolSource {
        git: git?,
        rev: rev?,
    })
}

fn registry(d: &mut Decoder<'_>, node: &Node) -> Option<Registry> {
    let f = d.fields(
        node,
        "`registry`",
        &[
            "type",
            "account_id",
            "region",
            "url",
            "repository_prefix",
            "lifecycle",
            "pull_accounts",
            "pull_organization",
        ],
    )?;
    let kind = f
        .require(d, "type", "`registry`", "add `type: ecr` or `type: oci`")
        .and_then(|n| {
            d.choice(
                n,
                "`registry.type`",
                &[("ecr", RegistryKind::Ecr), ("oci", RegistryKind::Oci)],
            )
        })?;
    Some(Registry {
        kind,
        account_id: d.opt_string(f.get("account_id"), "`registry.account_id`"),
        region: d.opt_string(f.get("region"), "`registry.region`"),
        url: d.opt_string(f.get("url"), "`registry.url`"),
        repository_prefix: d.opt_string(f.get("repository_prefix"), "`registry.repository_prefix`"),
        lifecycle: f.get("lifecycle").and_then(|n| registry_lifecycle(d, n)),
        pull_accounts: d.string_list(f.get("pull_accounts"), "`registry.pull_accounts`"),
        pull_organization: d.opt_string(f.get("pull_organization"), "`registry.pull_organization`"),
    })
}

/// `registry.lifecycle: {keep_tagged, expire_untagged_days}`, each a whole number from 1.
fn registry_lifecycle(d: &mut Decoder<'_>, node: &Node) -> Option<RegistryLifecycle> {
    let f = d.fields(
        node,
        "`registry.lifecycle`",
        &["keep_tagged", "expire_untagged_days"],
    )?;
    let count = |d: &mut Decoder<'_>, key: &str| -> Option<u32> {
        let node = f.get(key)?;
        let what = format!("`registry.lifecycle.{key}`");
        let value = d.integer(node, &what)?;
        match u32::try_from(value) {
            Ok(value) if value >= 1 => Some(value),
            _ => {
                d.error(
                    node.span,
                    Code::InvalidValue,
                    format!("{what} is `{value}`, not a whole number from 1"),
                    Some("give a count such as `50` (images) or `7` (days)".into()),
                );
                None
            }
        }
    };
    Some(RegistryLifecycle {
        keep_tagged: count(d, "keep_tagged"),
        expire_untagged_days: count(d, "expire_untagged_days"),
    })
}

fn scanners(d: &mut Decoder<'_>, node: &Node) -> Option<Scanners> {
    let f = d.fields(node, "`scanners`", &["trivy", "grype", "snyk", "waivers"])?;
    let gate = |d: &mut Decoder<'_>, name: &str| -> Option<ScannerGate> {
        let node = f.get(name)?;
        let what = format!("`scanners.{name}`");
        let g = d.fields(node, &what, &["enabled", "fail_on", "ignore_unfixed"])?;
        let severities: Vec<(&str, Severity)> =
            Severity::ALL.iter().map(|s| (s.as_str(), *s)).collect();
        let fail_on = match g.get("fail_on") {
            None => Severity::High,
            Some(n) => {
                // Scanners print severities in capitals; accept both.
                let lowered = n.as_str().map(str::to_ascii_lowercase);
                match lowered
                    .as_deref()
                    .and_then(|l| severities.iter().find(|(s, _)| *s == l))
                {
                    Some((_, s)) => *s,
                    None => d.choice(n, &format!("{what}.fail_on"), &severities)?,
                }
            }
        };
        Some(ScannerGate {
            enabled: g
                .get("enabled")
                .and_then(|n| d.bool(n, "`enabled`"))
                .unwrap_or(true),
            fail_on,
            ignore_unfixed: g
                .get("ignore_unfixed")
                .and_then(|n| d.bool(n, "`ignore_unfixed`"))
                .unwrap_or(true),
        })
    };
    let waivers = f
        .get("waivers")
        .and_then(|n| d.list(n, "`scanners.waivers`", waiver))
        .unwrap_or_default();
    Some(Scanners {
        trivy: gate(d, "trivy"),
        grype: gate(d, "grype"),
        snyk: gate(d, "snyk"),
        waivers,
    })
}

fn waiver(d: &mut Decoder<'_>, node: &Node) -> Option<Waiver> {
    let what = "waiver";
    let f = d.fields(node, what, &["id", "reason", "expires", "package", "image"])?;
    let id = f
        .require(
            d,
            "id",
            what,
            "add `id: CVE-2024-1234` (the scanner's vulnerability id)",
        )
        .and_then(|n| d.string(n, "`id`"));
    let reason = f
        .require(
            d,
            "reason",
            what,
            "add `reason:` saying why the finding is accepted",
        )
        .and_then(|n| {
            let text = d.string(n, "`reason`")?;
            if text.trim().is_empty() {
                d.error(
                    n.span,
                    Code::EmptyValue,
                    "`reason` is empty".into(),
                    Some("say why the finding is accepted".into()),
                );
                return None;
            }
            Some(text)
        });
    let expires = f
        .require(
            d,
            "expires",
            what,
            "add `expires: 2026-12-31` (the last day it holds)",
        )
        .and_then(|n| {
            let text = d.string(n, "`expires`")?;
            if !is_date(&text) {
                d.error(
                    n.span,
                    Code::InvalidDate,
                    format!("Date `{}` is not YYYY-MM-DD", truncate(&text, 20)),
                    Some("write dates as `2026-10-31`".into()),
                );
                return None;
            }
            Some(text)
        });
    let package = d.opt_string(f.get("package"), "`package`");
    let image = d.opt_string(f.get("image"), "`image`");
    Some(Waiver {
        id: id?,
        reason: reason?,
        expires: expires?,
        package,
        image,
    })
}

fn schedule(d: &mut Decoder<'_>, node: &Node) -> Option<Schedule> {
    let f = d.fields(node, "`schedule`", &["cron", "timezone", "start_condition"])?;
    let cron = f
        .require(
            d,
            "cron",
            "`schedule`",
            "add `cron: \"0 9 1 * ? *\"` (9:00 UTC on the 1st of each month)",
        )
        .and_then(|n| d.string(n, "`schedule.cron`"))?;
    Some(Schedule {
        cron,
        timezone: d.opt_string(f.get("timezone"), "`schedule.timezone`"),
        start_condition: f.get("start_condition").and_then(|n| {
            d.choice(
                n,
                "`schedule.start_condition`",
                &[
                    ("dependency_updates", StartCondition::DependencyUpdates),
                    ("always", StartCondition::Always),
                ],
            )
        }),
    })
}

/// The keys of a component definition.
pub const COMPONENT_FIELDS: &[&str] = &[
    "kind",
    "name",
    "description",
    "category",
    "homepage",
    "golden_only",
    "conflicts",
    "provides",
    "versions",
    "parameters",
    "platforms",
];

const CATEGORIES: [(&str, Category); 8] = [
    ("security", Category::Security),
    ("observability", Category::Observability),
    ("time", Category::Time),
    ("runtime", Category::Runtime),
    ("tooling", Category::Tooling),
    ("scanner", Category::Scanner),
    ("logging", Category::Logging),
    ("containers", Category::Containers),
];

const SYNTAXES: [(&str, VersionSyntax); 5] = [
    ("semver", VersionSyntax::Semver),
    ("major_minor", VersionSyntax::MajorMinor),
    ("major", VersionSyntax::Major),
    ("dotted", VersionSyntax::Dotted),
    ("package", VersionSyntax::Package),
];

/// Decodes a component definition.
pub fn component(d: &mut Decoder<'_>, node: &Node) -> Option<Component> {
    let f = d.fields(node, "component", COMPONENT_FIELDS)?;
    let kind = d.kind(&f, DocumentKind::Component);
    let name = f
        .require(d, "name", "Component", "add `name: <lowercase_name>`")
        .and_then(|n| {
            let name = d.string(n, "`name`")?;
            if !is_safe_name(&name) {
                d.error(
                    n.span,
                    Code::InvalidName,
                    format!("Component name `{}` is not valid", truncate(&name, 40)),
                    Some("use lowercase letters, digits and `_`, starting with a letter".into()),
                );
                return None;
            }
            Some(name)
        });
    let description = f
        .require(
            d,
            "description",
            "Component",
            "add a one-line `description:`",
        )
        .and_then(|n| d.string(n, "`description`"));
    let category = f
        .require(d, "category", "Component", "add `category:` (security, observability, time, runtime, tooling, scanner, logging, containers)")
        .and_then(|n| d.choice(n, "`category`", &CATEGORIES));
    let versions = f
        .require(
            d,
            "versions",
            "Component",
            "add `versions:` with `syntax` and `supported`",
        )
        .and_then(|n| versions(d, n));
    let parameters = f
        .get("parameters")
        .and_then(|n| d.list(n, "`parameters`", parameter))
        .unwrap_or_default();
    let platforms = f
        .require(
            d,
            "platforms",
            "Component",
            "add `platforms:` with one entry per OS id",
        )
        .and_then(|n| d.map(n, "`platforms`", |d, os, v| platform(d, os, v)));
    Some(Component {
        kind,
        homepage: d.opt_string(f.get("homepage"), "`homepage`"),
        golden_only: f
            .get("golden_only")
            .and_then(|n| d.bool(n, "`golden_only`"))
            .unwrap_or(false),
        conflicts: d.string_list(f.get("conflicts"), "`conflicts`"),
        provides: d.string_list(f.get("provides"), "`provides`"),
        name: name?,
        description: description?,
        category: category?,
        versions: versions?,
        parameters,
        platforms: platforms?,
    })
}

fn versions(d: &mut Decoder<'_>, node: &Node) -> Option<Versions> {
    let f = d.fields(
        node,
        "`versions`",
        &[
            "syntax",
            "default",
            "supported",
            "deprecated",
            "end_of_life",
            "revoked",
        ],
    )?;
    let syntax = f
        .require(
            d,
            "syntax",
            "`versions`",
            "add `syntax:` (semver, major_minor, major, dotted, package)",
        )
        .and_then(|n| d.choice(n, "`versions.syntax`", &SYNTAXES));
    let supported = f
        .require(
            d,
            "supported",
            "`versions`",
            "list the supported versions under `supported:`",
        )
        .and_then(|n| d.list(n, "`versions.supported`", |d, n| d.version_pattern(n)));
    let notes = |d: &mut Decoder<'_>, key: &str| -> Vec<VersionNote> {
        f.get(key)
            .and_then(|n| d.list(n, &format!("`versions.{key}`"), version_note))
            .unwrap_or_default()
    };
    Some(Versions {
        default: f
            .get("default")
            .and_then(|n| d.version(n, "`versions.default`")),
        deprecated: notes(d, "deprecated"),
        end_of_life: notes(d, "end_of_life"),
        revoked: notes(d, "revoked"),
        syntax: syntax?,
        supported: supported?,
    })
}

impl Decoder<'_> {
    /// Reads a version or a prefix pattern ending in `*` (`1.8.*`).
    pub fn version_pattern(&mut self, node: &Node) -> Option<VersionText> {
        if let Some(text) = node.as_str() {
            if let Some(prefix) = text.strip_suffix('*') {
                if prefix.is_empty() || is_safe_version(prefix.trim_end_matches('.')) {
                    return Some(VersionText(text.to_string()));
                }
            }
        }
        self.version(node, "Version pattern")
    }
}

fn version_note(d: &mut Decoder<'_>, node: &Node) -> Option<VersionNote> {
    let f = d.fields(node, "version note", &["version", "date", "reason"])?;
    let version = f
        .require(d, "version", "Version note", "add `version:`")
        .and_then(|n| d.version_pattern(n))?;
    let date = f.get("date").and_then(|n| {
        let text = d.string(n, "`date`")?;
        if !is_date(&text) {
            d.error(
                n.span,
                Code::InvalidDate,
                format!("Date `{}` is not YYYY-MM-DD", truncate(&text, 20)),
                Some("write dates as `2026-10-31`".into()),
            );
            return None;
        }
        Some(text)
    });
    Some(VersionNote {
        version,
        date,
        reason: d.opt_string(f.get("reason"), "`reason`"),
    })
}

/// Whether `text` is a `YYYY-MM-DD` date.
pub fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&text[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&text[8..10].parse::<u32>().unwrap_or(0))
}

fn parameter(d: &mut Decoder<'_>, node: &Node) -> Option<Parameter> {
    let f = d.fields(
        node,
        "parameter",
        &[
            "name",
            "description",
            "secret",
            "required",
            "default",
            "env",
            "aws_secret",
        ],
    )?;
    let name = f
        .require(d, "name", "Parameter", "add `name:`")
        .and_then(|n| d.string(n, "`name`"));
    let description = f
        .require(d, "description", "Parameter", "add `description:`")
        .and_then(|n| d.string(n, "`description`"));
    Some(Parameter {
        secret: f
            .get("secret")
            .and_then(|n| d.bool(n, "`secret`"))
            .unwrap_or(false),
        required: f
            .get("required")
            .and_then(|n| d.bool(n, "`required`"))
            .unwrap_or(false),
        default: d.opt_string(f.get("default"), "`default`"),
        env: d.opt_string(f.get("env"), "`env`"),
        aws_secret: d.opt_string(f.get("aws_secret"), "`aws_secret`"),
        name: name?,
        description: description?,
    })
}

fn platform(d: &mut Decoder<'_>, os: &str, node: &Node) -> Option<Platform> {
    let what = format!("platform `{os}`");
    let f = d.fields(
        node,
        &what,
        &[
            "versions",
            "default",
            "artifact",
            "notes",
            "document",
            "otherwise",
        ],
    )?;
    let otherwise = f
        .get("otherwise")
        .and_then(|n| platform(d, &format!("{os}` `otherwise"), n))
        .map(Box::new);
    let artifact = f
        .require(
            d,
            "artifact",
            &what,
            "add `artifact:` with `type: package`, `download` or `vendor_api`",
        )
        .and_then(|n| artifact(d, n));
    let document = f
        .require(
            d,
            "document",
            &what,
            "add the AWSTOE `document:` that installs it",
        )
        .and_then(|n| document(d, n));
    Some(Platform {
        versions: f
            .get("versions")
            .and_then(|n| d.list(n, "`versions`", |d, n| d.version_pattern(n))),
        default: f.get("default").and_then(|n| d.version(n, "`default`")),
        notes: d.string_list(f.get("notes"), "`notes`"),
        artifact: artifact?,
        document: document?,
        otherwise,
    })
}

fn artifact(d: &mut Decoder<'_>, node: &Node) -> Option<Artifact> {
    let kind_node = node.get("type");
    let Some(kind_node) = kind_node else {
        d.fields(node, "`artifact`", &["type"])?;
        d.error(
            node.span,
            Code::MissingField,
            "`artifact` has no `type`".into(),
            Some("add `type: package`, `type: download` or `type: vendor_api`".into()),
        );
        return None;
    };
    #[derive(Clone, Copy)]
    enum K {
        Package,
        Download,
        VendorApi,
    }
    let kind = d.choice(
        kind_node,
        "`artifact.type`",
        &[
            ("package", K::Package),
            ("download", K::Download),
            ("vendor_api", K::VendorApi),
        ],
    )?;
    match kind {
        K::Package => {
            let f = d.fields(
                node,
                "package artifact",
                &["type", "names", "version", "repository"],
            )?;
            let names = f
                .require(d, "names", "Package artifact", "add `names: [<package>]`")
                .and_then(|n| d.list(n, "`names`", |d, n| d.string(n, "Package name")))?;
            let repository = f.get("repository").and_then(|n| {
                let r = d.fields(n, "`repository`", &["url", "key_url", "key_fingerprint"])?;
                let url = r
                    .require(d, "url", "`repository`", "add `url:`")
                    .and_then(|n| d.string(n, "`url`"))?;
                Some(PackageRepository {
                    url,
                    key_url: d.opt_string(r.get("key_url"), "`key_url`"),
                    key_fingerprint: d.opt_string(r.get("key_fingerprint"), "`key_fingerprint`"),
                })
            });
            Some(Artifact::Package {
                names,
                version: d.opt_string(f.get("version"), "`version`"),
                repository,
            })
        }
        K::Download => {
            let f = d.fields(
                node,
                "download artifact",
                &["type", "url", "checksum", "arch"],
            )?;
            let url = f
                .require(
                    d,
                    "url",
                    "Download artifact",
                    "add `url:` with `{{ version }}`",
                )
                .and_then(|n| d.string(n, "`url`"));
            let checksum = f
                .require(d, "checksum", "Download artifact", "add `checksum:` with the vendor's checksum file; downloads are never installed unverified")
                .and_then(|n| checksum(d, n));
            Some(Artifact::Download {
                arch: d.string_map(f.get("arch"), "`arch`"),
                url: url?,
                checksum: checksum?,
            })
        }
        K::VendorApi => {
            let f = d.fields(
                node,
                "vendor API artifact",
                &["type", "description", "requires"],
            )?;
            let description = f
                .require(
                    d,
                    "description",
                    "Vendor API artifact",
                    "add `description:`",
                )
                .and_then(|n| d.string(n, "`description`"))?;
            Some(Artifact::VendorApi {
                description,
                requires: d.string_list(f.get("requires"), "`requires`"),
            })
        }
    }
}

fn checksum(d: &mut Decoder<'_>, node: &Node) -> Option<Checksum> {
    let f = d.fields(
        node,
        "`checksum`",
        &[
            "algorithm",
            "url",
            "values",
            "signature_url",
            "key_fingerprint",
        ],
    )?;
    let algorithm = f
        .require(d, "algorithm", "`checksum`", "add `algorithm: sha256`")
        .and_then(|n| {
            d.choice(
                n,
                "`checksum.algorithm`",
                &[
                    ("sha256", ChecksumAlgorithm::Sha256),
                    ("sha512", ChecksumAlgorithm::Sha512),
                ],
            )
        })?;
    Some(Checksum {
        algorithm,
        url: d.opt_string(f.get("url"), "`checksum.url`"),
        values: d.string_map(f.get("values"), "`checksum.values`"),
        signature_url: d.opt_string(f.get("signature_url"), "`checksum.signature_url`"),
        key_fingerprint: d.opt_string(f.get("key_fingerprint"), "`checksum.key_fingerprint`"),
    })
}

/// The keys of an AWSTOE document.
pub const DOCUMENT_FIELDS: &[&str] = &[
    "name",
    "description",
    "schemaVersion",
    "parameters",
    "constants",
    "phases",
];

/// The keys of an AWSTOE step.
pub const STEP_FIELDS: &[&str] = &[
    "name",
    "action",
    "timeoutSeconds",
    "onFailure",
    "maxAttempts",
    "loop",
    "if",
    "inputs",
];

/// Decodes an AWSTOE component document.
pub fn document(d: &mut Decoder<'_>, node: &Node) -> Option<AwstoeDocument> {
    let f = d.fields(node, "AWSTOE document", DOCUMENT_FIELDS)?;
    let name = f
        .require(d, "name", "AWSTOE document", "add `name:`")
        .and_then(|n| d.string(n, "`name`"));
    let schema_version = f
        .require(
            d,
            "schemaVersion",
            "AWSTOE document",
            "add `schemaVersion: 1.0`",
        )
        .and_then(|n| {
            let v = d.string(n, "`schemaVersion`")?;
            if v != "1.0" {
                d.error(
                    n.span,
                    Code::InvalidValue,
                    format!("`schemaVersion` `{}` is not supported", truncate(&v, 20)),
                    Some("AWSTOE documents use `schemaVersion: 1.0`".into()),
                );
                return None;
            }
            Some(v)
        });
    let parameters = f
        .get("parameters")
        .and_then(|n| {
            d.list(n, "`parameters`", |d, item| {
                d.map(item, "AWSTOE parameter", |d, name, v| {
                    let p = d.fields(
                        v,
                        &format!("parameter `{name}`"),
                        &["type", "default", "description"],
                    )?;
                    let kind = p
                        .require(d, "type", "AWSTOE parameter", "add `type: string`")
                        .and_then(|n| d.string(n, "`type`"))?;
                    Some(AwstoeParameter {
                        kind,
                        default: d.opt_string(p.get("default"), "`default`"),
                        description: d.opt_string(p.get("description"), "`description`"),
                    })
                })
            })
        })
        .unwrap_or_default();
    let constants = f
        .get("constants")
        .and_then(|n| {
            d.list(n, "`constants`", |d, item| {
                d.map(item, "AWSTOE constant", |d, name, v| {
                    let c = d.fields(v, &format!("constant `{name}`"), &["type", "value"])?;
                    let kind = c
                        .require(d, "type", "AWSTOE constant", "add `type: string`")
                        .and_then(|n| d.string(n, "`type`"))?;
                    let value = c
                        .require(d, "value", "AWSTOE constant", "add `value:`")
                        .and_then(|n| d.string(n, "`value`"))?;
                    Some(AwstoeConstant { kind, value })
                })
            })
        })
        .unwrap_or_default();
    let phases = f
        .require(
            d,
            "phases",
            "AWSTOE document",
            "add `phases:` with `build`, `validate` and `test`",
        )
        .and_then(|n| d.list(n, "`phases`", phase));
    Some(AwstoeDocument {
        description: d.opt_string(f.get("description"), "`description`"),
        name: name?,
        schema_version: schema_version?,
        parameters,
        constants,
        phases: phases?,
    })
}

fn phase(d: &mut Decoder<'_>, node: &Node) -> Option<Phase> {
    let f = d.fields(node, "phase", &["name", "steps"])?;
    let name = f
        .require(d, "name", "Phase", "add `name: build` (or validate, test)")
        .and_then(|n| d.string(n, "Phase `name`"));
    let steps = f
        .require(d, "steps", "Phase", "add `steps:`")
        .and_then(|n| d.list(n, "`steps`", step));
    Some(Phase {
        name: name?,
        steps: steps?,
    })
}

fn step(d: &mut Decoder<'_>, node: &Node) -> Option<Step> {
    let f = d.fields(node, "step", STEP_FIELDS)?;
    let name = f
        .require(d, "name", "Step", "add `name:`")
        .and_then(|n| d.string(n, "Step `name`"));
    let action = f
        .require(d, "action", "Step", "add `action:` (e.g. `ExecuteBash`)")
        .and_then(|n| d.string(n, "Step `action`"));
    Some(Step {
        timeout_seconds: f
            .get("timeoutSeconds")
            .and_then(|n| d.integer(n, "`timeoutSeconds`")),
        on_failure: d.opt_string(f.get("onFailure"), "`onFailure`"),
        max_attempts: f
            .get("maxAttempts")
            .and_then(|n| d.integer(n, "`maxAttempts`")),
        loop_: f.get("loop").map(to_json),
        condition: f.get("if").map(to_json),
        inputs: f.get("inputs").map(to_json),
        name: name?,
        action: action?,
    })
}

/// The keys of an OS definition.
pub const OS_FIELDS: &[&str] = &[
    "kind",
    "id",
    "name",
    "family",
    "status",
    "package_manager",
    "container_images",
    "ami_ssm_parameters",
    "imagebuilder_parents",
    "imagebuilder_platform",
    "end_of_life",
    "notes",
];

/// Decodes an OS definition of the catalog.
pub fn os(d: &mut Decoder<'_>, node: &Node) -> Option<Os> {
    let f = d.fields(node, "OS", OS_FIELDS)?;
    let kind = d.kind(&f, DocumentKind::Os);
    let req = |d: &mut Decoder<'_>, key: &str| -> Option<String> {
        f.require(d, key, "OS", &format!("add `{key}:`"))
            .and_then(|n| d.string(n, &format!("`{key}`")))
    };
    let id = req(d, "id");
    let name = req(d, "name");
    let platform = req(d, "imagebuilder_platform");
    let family = f
        .require(d, "family", "OS", "add `family: linux`")
        .and_then(|n| {
            d.choice(
                n,
                "`family`",
                &[("linux", OsFamily::Linux), ("windows", OsFamily::Windows)],
            )
        });
    let status = f
        .require(d, "status", "OS", "add `status: supported`")
        .and_then(|n| {
            d.choice(
                n,
                "`status`",
                &[
                    ("supported", OsStatus::Supported),
                    ("planned", OsStatus::Planned),
                ],
            )
        });
    let package_manager = f
        .require(d, "package_manager", "OS", "add `package_manager: apt`")
        .and_then(|n| {
            d.choice(
                n,
                "`package_manager`",
                &[
                    ("apt", PackageManager::Apt),
                    ("dnf", PackageManager::Dnf),
                    ("windows", PackageManager::Windows),
                ],
            )
        });
    Some(Os {
        kind,
        container_images: d.string_list(f.get("container_images"), "`container_images`"),
        ami_ssm_parameters: d.string_map(f.get("ami_ssm_parameters"), "`ami_ssm_parameters`"),
        imagebuilder_parents: d.string_map(f.get("imagebuilder_parents"), "`imagebuilder_parents`"),
        end_of_life: d.opt_string(f.get("end_of_life"), "`end_of_life`"),
        notes: d.string_list(f.get("notes"), "`notes`"),
        id: id?,
        name: name?,
        family: family?,
        status: status?,
        package_manager: package_manager?,
        imagebuilder_platform: platform?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use imagesmith_yaml::{load_str, Limits};

    fn decode_spec(text: &str) -> (Option<Spec>, Diagnostics) {
        let loaded = load_str("s.yaml", text, Limits::DEFAULT);
        let mut diagnostics = loaded.diagnostics;
        let path: Arc<str> = "s.yaml".into();
        let mut d = Decoder::new(&path, &mut diagnostics);
        let spec = spec(&mut d, loaded.root.as_ref().unwrap());
        (spec, diagnostics)
    }

    #[test]
    fn python_310_is_text() {
        let (spec, d) = decode_spec(
            "image_type: container\nbase_image: golden-container-amazonlinux2023\ncomponents:\n  python: 3.10\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            spec.unwrap().components["python"]
                .as_ref()
                .unwrap()
                .as_str(),
            "3.10"
        );
    }

    #[test]
    fn every_problem_at_once() {
        let (_, d) =
            decode_spec("image_typ: container\ncomponents:\n  python: \"3.10; rm -rf /\"\n");
        let codes: Vec<_> = d.iter().map(|d| (d.code, d.line())).collect();
        assert!(codes.contains(&(Code::UnknownKey, 1)), "{codes:?}");
        assert!(codes.contains(&(Code::MissingField, 1)), "{codes:?}");
        assert!(codes.contains(&(Code::InvalidVersion, 3)), "{codes:?}");
        let unknown = d.iter().find(|d| d.code == Code::UnknownKey).unwrap();
        assert_eq!(unknown.hint.as_deref(), Some("did you mean `image_type`?"));
    }

    fn decode_project(text: &str) -> (Option<Project>, Diagnostics) {
        let loaded = load_str("imagesmith.yaml", text, Limits::DEFAULT);
        let mut diagnostics = loaded.diagnostics;
        let path: Arc<str> = "imagesmith.yaml".into();
        let mut d = Decoder::new(&path, &mut diagnostics);
        let project = project(&mut d, loaded.root.as_ref().unwrap());
        (project, diagnostics)
    }

    /// Issue 8: the egress allow-list of build steps
    #[test]
    fn the_network_egress_list_is_decoded_and_checked_for_shape() {
        let (project, d) = decode_project(
            "name: demo\nnetwork:\n  egress: [deb.debian.org, \"*.amazonaws.com\"]\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            project.unwrap().network.unwrap().egress.unwrap(),
            ["deb.debian.org", "*.amazonaws.com"]
        );
        let (project, d) = decode_project("name: demo\n");
        assert!(d.is_empty());
        assert_eq!(project.unwrap().network, None);
        let (_, d) = decode_project("name: demo\nnetwork:\n  egres: [x]\n  egress: x\n");
        let codes: Vec<_> = d.iter().map(|d| (d.code, d.line())).collect();
        assert!(codes.contains(&(Code::UnknownKey, 3)), "{codes:?}");
        assert_eq!(codes.len(), 2, "{codes:?}");
    }

    /// Issue 12: CI installs imagesmith from a repository and a whole commit id
    #[test]
    fn imagesmith_source_is_a_repository_and_a_whole_commit() {
        let rev = "0123456789ABCDEF0123456789abcdef01234567";
        let (project, d) = decode_project(&format!(
            "name: demo\nimagesmith:\n  git: https://github.com/example/imagesmith\n  rev: {rev}\n"
        ));
        assert!(d.is_empty(), "{d:?}");
        let source = project.unwrap().imagesmith.unwrap();
        assert_eq!(source.rev, rev.to_ascii_lowercase());
        let (_, d) = decode_project(
            "name: demo\nimagesmith:\n  git: https://github.com/example/imagesmith\n  rev: v1.0.0\n",
        );
        let codes: Vec<_> = d.iter().map(|d| (d.code, d.line(), d.column())).collect();
        assert_eq!(codes, vec![(Code::InvalidValue, 4, 8)], "{d:?}");
        let (_, d) = decode_project("name: demo\nimagesmith:\n  git: https://example.com/x\n");
        assert!(d.iter().any(|d| d.message.contains("rev")), "{d:?}");
    }

    /// Issue 11: gate defaults (`fail_on: high`, `ignore_unfixed: true`) and waivers checked
    /// at their line and column
    /// Issue 12: the stack the workflows use, their runner and the ECR policies.
    #[test]
    fn infrastructure_ci_and_registry_policies_are_decoded() {
        let (project, d) = decode_project(
            "name: demo\ninfrastructure: terraform\nci: {runner: codebuild}\nregistry:\n  type: ecr\n  lifecycle: {keep_tagged: 50, expire_untagged_days: 7}\n  pull_accounts: [\"111122223333\"]\n  pull_organization: o-abc1234567\n",
        );
        assert!(!d.has_errors(), "{d:?}");
        let project = project.unwrap();
        assert_eq!(project.infrastructure, Some(Infrastructure::Terraform));
        assert_eq!(project.ci.unwrap().runner, Some(Runner::Codebuild));
        let registry = project.registry.unwrap();
        let lifecycle = registry.lifecycle.unwrap();
        assert_eq!(lifecycle.keep_tagged, Some(50));
        assert_eq!(lifecycle.expire_untagged_days, Some(7));
        assert_eq!(registry.pull_accounts, vec!["111122223333".to_string()]);
        assert_eq!(registry.pull_organization.as_deref(), Some("o-abc1234567"));
        let (_, d) = decode_project(
            "name: demo\ninfrastructure: terraform2\nci: {runner: gitlab}\nregistry:\n  type: ecr\n  lifecycle: {keep_tagged: -1, expire: 3}\n",
        );
        let messages: Vec<String> = d.iter().map(|d| d.message.clone()).collect();
        assert_eq!(messages.len(), 4, "{messages:?}");
        let infrastructure = d
            .iter()
            .find(|d| d.message.contains("`infrastructure` `terraform2`"))
            .expect("an error about `infrastructure`");
        assert_eq!(
            infrastructure.hint.as_deref(),
            Some("did you mean `terraform`?")
        );
        assert!(messages.iter().any(|m| m.contains("`ci.runner` `gitlab`")));
        assert!(messages.iter().any(|m| m.contains("Unknown key `expire`")));
        assert!(messages
            .iter()
            .any(|m| m.contains("`registry.lifecycle.keep_tagged` is `-1`")));
    }

    #[test]
    fn scanner_gates_default_and_waivers_are_checked() {
        let (project, d) = decode_project(
            "name: demo\nscanners:\n  trivy: {}\n  waivers:\n    - id: CVE-2024-5535\n      reason: fixed upstream next week\n      expires: 2026-12-31\n      package: libssl3\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let scanners = project.unwrap().scanners.unwrap();
        let trivy = scanners.trivy.unwrap();
        assert_eq!(
            (trivy.fail_on, trivy.ignore_unfixed),
            (Severity::High, true)
        );
        assert_eq!(scanners.waivers[0].package.as_deref(), Some("libssl3"));
        let (_, d) = decode_project(
            "name: demo\nscanners:\n  waivers:\n    - id: CVE-1\n      reason: \"  \"\n      expires: 2026-13-01\n",
        );
        let codes: Vec<_> = d.iter().map(|d| (d.code, d.line(), d.column())).collect();
        assert!(codes.contains(&(Code::EmptyValue, 5, 15)), "{codes:?}");
        assert!(codes.contains(&(Code::InvalidDate, 6, 16)), "{codes:?}");
    }

    #[test]
    fn host_patterns_match_hosts_and_ports() {
        let pattern = |text: &str| HostPattern::parse(text).unwrap();
        let exact = pattern("Deb.Debian.org");
        assert!(exact.matches("deb.debian.org", 80));
        assert!(exact.matches("DEB.debian.org.", 443));
        assert!(!exact.matches("security.debian.org", 80));
        let wildcard = pattern("*.amazonaws.com");
        assert!(wildcard.matches("s3.amazonaws.com", 443));
        assert!(wildcard.matches("a.b.amazonaws.com", 443));
        assert!(!wildcard.matches("amazonaws.com", 443));
        assert!(!wildcard.matches("evilamazonaws.com", 443));
        let ported = pattern("mirror.example:8443");
        assert!(ported.matches("mirror.example", 8443));
        assert!(!ported.matches("mirror.example", 443));
        assert_eq!(pattern("[fd00::1]:8080").host, "fd00::1");
        assert_eq!(pattern("fd00::1").port, None);
        assert_eq!(pattern("10.0.0.7").host, "10.0.0.7");
        for bad in [
            "",
            "*",
            "*.",
            "a..b",
            "-a.example",
            "http://deb.debian.org",
            "deb.debian.org/debian",
            "host:0",
            "host:http",
            "a b",
            "*.10.0.0.1x y",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dates_are_checked() {
        assert!(is_date("2026-10-31"));
        assert!(!is_date("2026-13-01"));
        assert!(!is_date("2026-1-01"));
    }
}
