//! One module per command.

pub mod build;
pub mod catalog;
pub mod init;
pub mod render;
pub mod schema;
pub mod validate;
