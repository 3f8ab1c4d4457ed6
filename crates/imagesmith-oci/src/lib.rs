//! OCI images: deterministic layer tars, image config and manifest, image layout and archives
#![deny(missing_docs)]
