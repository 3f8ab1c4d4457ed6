//! The local builder: runs component phases in the sandbox and produces OCI images with caching
#![deny(missing_docs)]
