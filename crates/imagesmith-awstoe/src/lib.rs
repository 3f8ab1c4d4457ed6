//! AWSTOE component documents: static checks of phases, actions, inputs, chaining and parameters
#![deny(missing_docs)]
