//! SBOMs (SPDX 2.3 and CycloneDX JSON) from an image's package databases and catalog components
#![deny(missing_docs)]
