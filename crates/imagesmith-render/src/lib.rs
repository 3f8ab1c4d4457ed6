//! Renderers: CloudFormation, Terraform, Dockerfiles, AWSTOE documents and GitHub Actions workflows
#![deny(missing_docs)]
