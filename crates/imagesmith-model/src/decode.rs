//! Decoding documents from spanned YAML.
