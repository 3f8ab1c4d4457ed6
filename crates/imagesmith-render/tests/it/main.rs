//! Integration tests of `imagesmith-render`: snapshots of the seed project's rendered tree,
//! determinism, every rendered file checked by the tool that owns its format, the
//! Dockerfile's parity with the AWSTOE executor, every workflow action pinned by commit and
//! the workflows' shell steps run against a fake `aws`, and every rendered PowerShell script
//! parses, and every rendered bash script passes shellcheck.

mod checkers;
mod findings;
mod golden;
mod parity;
mod pins;
mod powershell;
mod replay;
mod shellcheck;
mod snapshots;
mod stacks;
mod support;
mod terraform;
mod vendor_urls;
mod workflows;
