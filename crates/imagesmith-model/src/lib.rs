//! The plain data types of imagesmith: customer specs, golden recipes, the project file,
//! component definitions and the AWSTOE documents inside them, and operating systems.
//!
//! These types are data only. [`decode`] reads them from a spanned YAML tree, reporting every
//! problem it finds at its line and column; semantic checks live in `imagesmith-validate`.
//! The JSON Schemas users' editors consume are generated from these types (`schemars`).
#![deny(missing_docs)]

pub mod decode;
mod types;

pub use types::*;
