//! The plain data types of imagesmith: specs, golden recipes, projects, components and AWSTOE documents
#![deny(missing_docs)]
