//! Integration tests of imagesmith-awstoe, one module per area.

mod exec;
mod host;
mod ownership;
