//! Integration tests of imagesmith-aws against a local moto server (`moto[server]`, installed
//! by `.ci/install-tools`), one module per area. Without moto they skip with the reason
//! printed, except under `CI`, where they fail.

mod build;
mod ecr;
mod moto;
mod s3;
