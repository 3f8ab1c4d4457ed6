//! Sandboxed execution of build steps in Linux namespaces over an overlay root
#![deny(missing_docs)]
