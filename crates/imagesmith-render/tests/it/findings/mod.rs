//! Regression tests for the findings of issue 13, one file per group of components, each test
//! named after the finding it guards. They run the rendered documents (or the steps at issue)
//! through [`crate::replay`] against recorded vendor behaviour where a finding is about what a
//! script does, and read the rendered document where it is about what it says.

mod cloudwatch;
mod falcon;
mod gpg;
mod runtimes;
mod scanners;
mod splunk;
mod terraform;
