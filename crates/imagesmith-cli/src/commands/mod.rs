//! One module per command.

pub mod build;
pub mod bump;
pub mod catalog;
pub mod diff;
pub mod index;
pub mod init;
pub mod lock;
pub mod outdated;
pub mod publish;
pub mod push;
pub mod render;
pub mod scan;
pub mod schema;
pub mod validate;
pub mod verify;
