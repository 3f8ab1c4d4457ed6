//! Validation: turns parsed documents into Validated ones, reporting every problem at once
#![deny(missing_docs)]
