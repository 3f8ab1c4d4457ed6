//! `imagesmith schema [KIND]`.

use crate::ExitStatus;
use imagesmith_model::{Component, DocumentKind, Os, Project, Recipe, Spec};
use schemars::{schema_for, Schema};

/// Arguments of `schema`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The document kind (default: spec).
    #[arg(value_enum, default_value = "spec")]
    pub kind: super::validate::KindArg,
}

/// The JSON Schema (draft 2020-12) of a document kind, generated from the Rust types.
pub fn schema(kind: DocumentKind) -> Schema {
    let mut schema = match kind {
        DocumentKind::Spec => schema_for!(Spec),
        DocumentKind::Recipe => schema_for!(Recipe),
        DocumentKind::Component => schema_for!(Component),
        DocumentKind::Project => schema_for!(Project),
        DocumentKind::Os => schema_for!(Os),
    };
    schema.insert(
        "$id".into(),
        format!("https://imagesmith.invalid/schemas/{}.json", kind.as_str()).into(),
    );
    schema
}

/// The schema as the pretty JSON text that is committed under `schemas/`.
pub fn schema_text(kind: DocumentKind) -> String {
    let mut text = serde_json::to_string_pretty(&schema(kind)).unwrap_or_default();
    text.push('\n');
    text
}

/// Runs `schema`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    print!("{}", schema_text(args.kind.into()));
    Ok(ExitStatus::Success)
}
