//! Hardened YAML loading into a spanned node tree (limits on size, depth, aliases; duplicate keys kept)
#![deny(missing_docs)]
