//! Registry pull and push: not implemented yet
//!
//! The plan is to use the `oci-client` crate (anonymous, basic and bearer auth; ECR tokens
//! from the AWS credential chain), pulling blobs straight into a [`crate::BlobStore`] and
//! pushing from one, so a pulled base is an [`crate::Image`] like any other.
