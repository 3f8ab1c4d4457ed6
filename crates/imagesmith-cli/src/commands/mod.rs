//! One module per command.

pub mod catalog;
pub mod init;
pub mod schema;
pub mod validate;
