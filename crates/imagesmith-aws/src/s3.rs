//! `S3Download` through the AWS SDK: [`S3Client`] implements the executor's
//! [`S3Fetch`].

use std::io::Write;
use std::sync::OnceLock;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use imagesmith_awstoe::exec::{S3Error, S3Fetch};

use crate::Aws;

/// An S3 client over the standard AWS configuration (see the [crate] docs), with a blocking
/// API; created without any I/O.
#[derive(Debug, Clone)]
pub struct S3Client {
    aws: Aws,
    client: OnceLock<aws_sdk_s3::Client>,
}

impl S3Client {
    /// A client using `aws`'s configuration and runtime.
    pub fn new(aws: &Aws) -> Self {
        S3Client {
            aws: aws.clone(),
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> &aws_sdk_s3::Client {
        self.client.get_or_init(|| {
            let shared = self.aws.config();
            // S3-compatible servers behind an endpoint override (moto, MinIO, LocalStack) do
            // not serve virtual-hosted buckets; S3 itself serves both
            let overridden = shared.endpoint_url().is_some()
                || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.is_empty());
            let config = aws_sdk_s3::config::Builder::from(shared)
                .force_path_style(overridden)
                .build();
            aws_sdk_s3::Client::from_conf(config)
        })
    }
}

fn url_of(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Sorts the SDK's errors into the executor's: not found, denied, or anything else with the
/// whole chain of causes.
fn classify<E, R>(url: String, error: SdkError<E, R>) -> S3Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus + 'static,
{
    let status = error.raw_response().map(HttpStatus::status);
    let code = error.code().map(str::to_owned);
    let message = error.message().map(str::to_owned);
    match (code.as_deref(), status) {
        (Some("NoSuchKey" | "NoSuchBucket" | "NotFound"), _) | (_, Some(404)) => {
            S3Error::NotFound { url }
        }
        (Some("AccessDenied" | "Forbidden" | "AllAccessDisabled"), _) | (_, Some(403)) => {
            S3Error::Denied {
                url,
                message: message.or(code).unwrap_or_else(|| "HTTP 403".to_owned()),
            }
        }
        _ => {
            let mut message = crate::causes(&error);
            if let Some(region) = error.raw_response().and_then(HttpStatus::bucket_region) {
                message.push_str(&format!(
                    "\nhint: the bucket is in `{region}`; set `AWS_REGION={region}`"
                ));
            }
            S3Error::Request { url, message }
        }
    }
}

/// What [`classify`] reads from a raw response.
trait HttpStatus {
    fn status(&self) -> u16;
    fn bucket_region(&self) -> Option<String>;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }

    fn bucket_region(&self) -> Option<String> {
        self.headers().get("x-amz-bucket-region").map(str::to_owned)
    }
}

impl S3Fetch for S3Client {
    fn get(
        &self,
        bucket: &str,
        key: &str,
        expected_owner: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<(), S3Error> {
        let url = url_of(bucket, key);
        self.aws.block_on(async {
            let response = self
                .client()
                .get_object()
                .bucket(bucket)
                .key(key)
                .set_expected_bucket_owner(expected_owner.map(str::to_owned))
                .send()
                .await
                .map_err(|error| classify(url.clone(), error))?;
            let mut body = response.body;
            loop {
                let chunk = body.try_next().await.map_err(|error| S3Error::Request {
                    url: url.clone(),
                    message: crate::causes(&error),
                })?;
                let Some(chunk) = chunk else { break };
                out.write_all(&chunk).map_err(|source| S3Error::Io {
                    operation: "write",
                    path: String::new(),
                    url: url.clone(),
                    source,
                })?;
            }
            Ok(())
        })
    }

    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        expected_owner: Option<&str>,
    ) -> Result<Vec<String>, S3Error> {
        let url = url_of(bucket, prefix);
        self.aws.block_on(async {
            let mut pages = self
                .client()
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_expected_bucket_owner(expected_owner.map(str::to_owned))
                .into_paginator()
                .send();
            let mut keys = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|error| classify(url.clone(), error))?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|object| object.key().map(str::to_owned)),
                );
            }
            Ok(keys)
        })
    }

    fn check(&self) -> Result<(), String> {
        self.aws.check_credentials().map_err(|error| match error {
            crate::AwsError::Credentials { message } => message,
            other => other.to_string(),
        })
    }
}
