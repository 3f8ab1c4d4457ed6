//! Diagnostics: located problems with a code, message and hint, and their renderers (human, JSON, SARIF, GitHub)
#![deny(missing_docs)]
