//! Findings of issue 13 for this group of components (see `mod.rs`).
