//! The built-in catalog: component definitions, operating systems and golden recipes embedded in the binary
#![deny(missing_docs)]
