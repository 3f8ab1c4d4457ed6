//! Locking and planning: resolves versions into a lock and orders images into a BuildPlan
#![deny(missing_docs)]
