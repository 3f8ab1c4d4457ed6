//! Amazon ECR logins: a registry host (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`) to the user
//! name `AWS` and a password from ECR's `GetAuthorizationToken`, called in the registry's
//! region with the standard credential chain and cached until shortly before it expires
//! (twelve hours after it was issued).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use imagesmith_oci::registry::{CredentialError, CredentialSource, Credentials};

use crate::Aws;

/// How long before its expiry a token is fetched again.
const RENEW_BEFORE: Duration = Duration::from_secs(15 * 60);

/// How long a token is kept when ECR does not say when it expires.
const UNDATED_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// An ECR registry, read from its host name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EcrRegistry {
    /// The 12-digit account that owns the registry.
    pub account: String,
    /// The region (`eu-west-1`, `cn-north-1`).
    pub region: String,
    /// A FIPS endpoint (`dkr.ecr-fips.`): the token is asked of ECR's FIPS endpoint too.
    pub fips: bool,
}

/// Reads an ECR registry host: `ACCOUNT.dkr.ecr.REGION.amazonaws.com`, with `.com.cn` in
/// China, `dkr.ecr-fips.` for FIPS endpoints, and the dual-stack
/// `ACCOUNT.dkr-ecr[-fips].REGION.on.aws`; a `:port` is ignored. `None` for any other host.
pub fn parse_registry(host: &str) -> Option<EcrRegistry> {
    let host = host.to_ascii_lowercase();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host.as_str(),
    };
    let rest = [".amazonaws.com.cn", ".amazonaws.com", ".on.aws"]
        .iter()
        .find_map(|suffix| host.strip_suffix(suffix).map(|rest| (rest, *suffix)));
    let (rest, suffix) = rest?;
    let mut parts = rest.split('.');
    let account = parts.next()?;
    let (service, region) = if suffix == ".on.aws" {
        (parts.next()?, parts.next()?)
    } else {
        match (parts.next()?, parts.next()?) {
            ("dkr", service) => (service, parts.next()?),
            _ => return None,
        }
    };
    if parts.next().is_some() {
        return None;
    }
    let fips = match (suffix, service) {
        (".on.aws", "dkr-ecr") | (".amazonaws.com" | ".amazonaws.com.cn", "ecr") => false,
        (".on.aws", "dkr-ecr-fips") | (".amazonaws.com", "ecr-fips") => true,
        _ => return None,
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (account_ok && region_ok).then(|| EcrRegistry {
        account: account.to_owned(),
        region: region.to_owned(),
        fips,
    })
}

/// Why no ECR login could be had.
#[derive(Debug, thiserror::Error)]
pub enum EcrError {
    /// `GetAuthorizationToken` failed (no credentials, no permission, no network).
    #[error("Could not get an ECR login for `{registry}`: {message}")]
    Request {
        /// The registry host.
        registry: String,
        /// Why, with its causes.
        message: String,
    },
    /// ECR answered with a token that is not base64 of `AWS:PASSWORD`.
    #[error("ECR returned an unreadable login for `{registry}`: {reason}")]
    Token {
        /// The registry host.
        registry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Gets and caches ECR logins; as a registry [`CredentialSource`] it answers for ECR hosts
/// only (`Ok(None)` for any other, without reading the AWS configuration).
#[derive(Debug)]
pub struct EcrAuth {
    aws: Aws,
    /// By region and FIPS: a token opens every registry of the region the caller may use
    tokens: Mutex<HashMap<(String, bool), (Credentials, SystemTime)>>,
}

impl EcrAuth {
    /// Logins through `aws`'s configuration and runtime.
    pub fn new(aws: &Aws) -> Self {
        EcrAuth {
            aws: aws.clone(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The login for `registry` (`host` names it in errors), from the cache while it is fresh.
    pub fn login(&self, registry: &EcrRegistry, host: &str) -> Result<Credentials, EcrError> {
        let key = (registry.region.clone(), registry.fips);
        let now = SystemTime::now();
        if let Some((credentials, expires)) = self.lock().get(&key) {
            if fresh(*expires, now) {
                return Ok(credentials.clone());
            }
        }
        let (credentials, expires) = self.fetch(registry, host)?;
        self.lock().insert(
            key,
            (
                credentials.clone(),
                expires.unwrap_or(now + UNDATED_LIFETIME),
            ),
        );
        Ok(credentials)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, bool), (Credentials, SystemTime)>> {
        // A panic while holding it leaves only a cache behind
        self.tokens
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn fetch(
        &self,
        registry: &EcrRegistry,
        host: &str,
    ) -> Result<(Credentials, Option<SystemTime>), EcrError> {
        let client = self.client(registry);
        let output = self
            .aws
            .block_on(client.get_authorization_token().send())
            .map_err(|error| EcrError::Request {
                registry: host.to_owned(),
                message: crate::causes(&error),
            })?;
        let unreadable = |reason| EcrError::Token {
            registry: host.to_owned(),
            reason,
        };
        let data = output
            .authorization_data()
            .first()
            .ok_or_else(|| unreadable("no authorization data"))?;
        let token = data
            .authorization_token()
            .ok_or_else(|| unreadable("no token"))?;
        let credentials = decode_token(token).map_err(unreadable)?;
        let expires = data
            .expires_at()
            .and_then(|at| SystemTime::try_from(*at).ok());
        Ok((credentials, expires))
    }
}

/// What [`ensure_repository`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryState {
    /// The repository was created, with IMMUTABLE tags, scan on push and encryption.
    Created,
    /// It was already there with IMMUTABLE tags.
    Existed,
    /// It was already there with MUTABLE tags: tags can be moved by anyone with push
    /// rights; imagesmith still refuses to move them, but says so.
    ExistedMutable,
}

/// How a repository is created when it is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySettings {
    /// Scan every pushed image (ECR basic scanning).
    pub scan_on_push: bool,
    /// A KMS key (ARN or alias) for `KMS` encryption; `None` is ECR's own `AES256`.
    pub kms_key: Option<String>,
}

impl Default for RepositorySettings {
    fn default() -> Self {
        RepositorySettings {
            scan_on_push: true,
            kms_key: None,
        }
    }
}

impl EcrAuth {
    /// Creates repository `name` in `registry` when it is missing: IMMUTABLE tags, scan on
    /// push and encryption at rest, as the seeds ask; an existing one is left as it is and
    /// its tag mutability reported.
    pub fn ensure_repository(
        &self,
        registry: &EcrRegistry,
        name: &str,
        settings: &RepositorySettings,
    ) -> Result<RepositoryState, EcrError> {
        use aws_sdk_ecr::types::{
            EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability,
        };
        let host = format!(
            "{}.dkr.ecr{}.{}.amazonaws.com",
            registry.account,
            if registry.fips { "-fips" } else { "" },
            registry.region
        );
        let client = self.client(registry);
        let failed = |error: &(dyn std::error::Error + 'static)| EcrError::Request {
            registry: host.clone(),
            message: crate::causes(error),
        };
        let described = self.aws.block_on(
            client
                .describe_repositories()
                .registry_id(&registry.account)
                .repository_names(name)
                .send(),
        );
        match described {
            Ok(output) => {
                let mutable = output.repositories().first().is_some_and(|repository| {
                    repository.image_tag_mutability() == Some(&ImageTagMutability::Mutable)
                });
                return Ok(if mutable {
                    RepositoryState::ExistedMutable
                } else {
                    RepositoryState::Existed
                });
            }
            Err(error) => {
                let missing = error
                    .as_service_error()
                    .is_some_and(|service| service.is_repository_not_found_exception());
                if !missing {
                    return Err(failed(&error));
                }
            }
        }
        let encryption = match &settings.kms_key {
            Some(key) => EncryptionConfiguration::builder()
                .encryption_type(EncryptionType::Kms)
                .kms_key(key)
                .build(),
            None => EncryptionConfiguration::builder()
                .encryption_type(EncryptionType::Aes256)
                .build(),
        }
        .map_err(|error| failed(&error))?;
        let created = self.aws.block_on(
            client
                .create_repository()
                .registry_id(&registry.account)
                .repository_name(name)
                .image_tag_mutability(ImageTagMutability::Immutable)
                .image_scanning_configuration(
                    ImageScanningConfiguration::builder()
                        .scan_on_push(settings.scan_on_push)
                        .build(),
                )
                .encryption_configuration(encryption)
                .send(),
        );
        match created {
            Ok(_) => Ok(RepositoryState::Created),
            // Created meanwhile by another publisher
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|service| service.is_repository_already_exists_exception()) =>
            {
                Ok(RepositoryState::Existed)
            }
            Err(error) => Err(failed(&error)),
        }
    }

    fn client(&self, registry: &EcrRegistry) -> aws_sdk_ecr::Client {
        let shared = self.aws.config();
        // FIPS endpoints cannot be combined with an endpoint override
        let overridden = shared.endpoint_url().is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_ECR").is_some_and(|v| !v.is_empty());
        let config = aws_sdk_ecr::config::Builder::from(shared)
            .region(aws_sdk_ecr::config::Region::new(registry.region.clone()))
            .use_fips(registry.fips && !overridden)
            .build();
        aws_sdk_ecr::Client::from_conf(config)
    }
}

impl CredentialSource for EcrAuth {
    fn credentials(&self, registry_host: &str) -> Result<Option<Credentials>, CredentialError> {
        let Some(registry) = parse_registry(registry_host) else {
            return Ok(None);
        };
        self.login(&registry, registry_host)
            .map(Some)
            .map_err(|error| CredentialError::new(error.to_string()))
    }

    fn describe(&self) -> String {
        String::from("ECR (`GetAuthorizationToken` with the standard AWS credentials)")
    }
}

/// Whether a token expiring at `expires` can still be handed out at `now`.
fn fresh(expires: SystemTime, now: SystemTime) -> bool {
    now + RENEW_BEFORE < expires
}

/// `base64("USER:PASSWORD")` to a login.
pub fn decode_token(token: &str) -> Result<Credentials, &'static str> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| "the token is not base64")?;
    let text = String::from_utf8(bytes).map_err(|_| "the token is not text")?;
    let (username, password) = text
        .split_once(':')
        .ok_or("the token is not `USER:PASSWORD`")?;
    if username.is_empty() || password.is_empty() {
        return Err("the token has an empty user name or password");
    }
    Ok(Credentials::new(username, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(account: &str, region: &str, fips: bool) -> Option<EcrRegistry> {
        Some(EcrRegistry {
            account: account.into(),
            region: region.into(),
            fips,
        })
    }

    #[test]
    fn ecr_hosts_are_recognised() {
        let id = "123456789012";
        for (host, expected) in [
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                registry(id, "eu-west-1", false),
            ),
            (
                "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
                registry(id, "us-gov-west-1", false),
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                registry(id, "cn-north-1", false),
            ),
            (
                "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
                registry(id, "us-east-1", true),
            ),
            (
                "123456789012.dkr-ecr.eu-central-1.on.aws",
                registry(id, "eu-central-1", false),
            ),
            (
                "123456789012.dkr-ecr-fips.us-east-2.on.aws",
                registry(id, "us-east-2", true),
            ),
            (
                "123456789012.DKR.ECR.EU-WEST-1.AMAZONAWS.COM:443",
                registry(id, "eu-west-1", false),
            ),
        ] {
            assert_eq!(parse_registry(host), expected, "{host}");
        }
    }

    #[test]
    fn other_hosts_are_not_ecr() {
        for host in [
            "docker.io",
            "registry-1.docker.io",
            "ghcr.io",
            "public.ecr.aws",
            "localhost:5000",
            "127.0.0.1:5000",
            "amazonaws.com",
            "123456789012.dkr.ecr.amazonaws.com",
            "12345678901.dkr.ecr.eu-west-1.amazonaws.com",
            "1234567890123.dkr.ecr.eu-west-1.amazonaws.com",
            "abcdefghijkl.dkr.ecr.eu-west-1.amazonaws.com",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example",
            "123456789012.dkr.ecr.eu-west-1.example.com",
            "123456789012.api.ecr.eu-west-1.amazonaws.com",
            "x.123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "123456789012.dkr.ecr-fips.cn-north-1.amazonaws.com.cn",
            "123456789012.dkr.ecr.eu_west_1.amazonaws.com",
            "123456789012.dkr.ecr..amazonaws.com",
        ] {
            assert_eq!(parse_registry(host), None, "{host}");
        }
    }

    #[test]
    fn tokens_are_decoded() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:pass:with:colons");
        let login = decode_token(&token).unwrap();
        assert_eq!(login.username(), "AWS");
        assert_eq!(login.password(), "pass:with:colons");
        assert!(!format!("{login:?}").contains("with:colons"));
        assert!(decode_token("%%%").is_err());
        let no_colon = base64::engine::general_purpose::STANDARD.encode("AWS");
        assert!(decode_token(&no_colon).is_err());
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert!(fresh(now + Duration::from_secs(12 * 3600), now));
        assert!(!fresh(now + Duration::from_secs(60), now));
        assert!(!fresh(now - Duration::from_secs(60), now));
    }

    #[test]
    fn non_ecr_hosts_need_no_aws() {
        // No configuration is loaded (and so no credential is looked for) for other hosts
        let aws = Aws::new().unwrap();
        let auth = EcrAuth::new(&aws);
        assert_eq!(auth.credentials("ghcr.io").unwrap(), None);
        assert_eq!(auth.credentials("localhost:5000").unwrap(), None);
        assert!(aws.inner.config.get().is_none());
    }
}
