//! ECR logins against moto.

use imagesmith_aws::ecr::EcrAuth;
use imagesmith_oci::registry::CredentialSource;

use crate::moto::{runtime, Moto, ACCOUNT};

#[test]
fn an_ecr_host_gets_an_aws_login() {
    let Some(moto) = Moto::start() else { return };
    let aws = moto.aws();
    let client = aws_sdk_ecr::Client::new(aws.config());
    runtime()
        .block_on(
            client
                .create_repository()
                .repository_name("golden/base")
                .send(),
        )
        .expect("create the repository");

    let auth = EcrAuth::new(&aws);
    for host in [
        format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"),
        format!("{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com:443"),
        // FIPS is not asked of an endpoint override (the SDK refuses the pair)
        format!("{ACCOUNT}.dkr.ecr-fips.us-east-2.amazonaws.com"),
    ] {
        let login = auth
            .credentials(&host)
            .unwrap_or_else(|error| panic!("{host}: {error}"))
            .unwrap_or_else(|| panic!("{host} is an ECR registry"));
        assert_eq!(login.username(), "AWS", "{host}");
        assert!(!login.password().is_empty(), "{host}");
        // moto's token is `AWS:<account>-auth-token`
        assert!(login.password().contains(ACCOUNT), "{host}");
    }
    assert_eq!(auth.credentials("ghcr.io").unwrap(), None);
    assert_eq!(auth.credentials("registry.example.com:5000").unwrap(), None);
}

#[test]
fn a_failed_login_names_the_registry() {
    let Some(moto) = Moto::start() else { return };
    let endpoint = moto.endpoint.clone();
    drop(moto);
    // Nothing listens there any more
    let aws = imagesmith_aws::Aws::with(move |loader| {
        loader
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
    })
    .unwrap();
    let host = format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com");
    let error = EcrAuth::new(&aws).credentials(&host).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("Could not get an ECR login for `{host}`: ")),
        "{error}"
    );
}

#[test]
fn a_missing_repository_is_created_immutable_and_scanned_on_push() {
    use imagesmith_aws::ecr::{parse_registry, RepositorySettings, RepositoryState};
    let Some(moto) = Moto::start() else { return };
    let aws = moto.aws();
    let auth = EcrAuth::new(&aws);
    let host = format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com");
    let registry = parse_registry(&host).unwrap();
    let settings = RepositorySettings::default();
    assert_eq!(
        auth.ensure_repository(&registry, "platform/golden-container-debian12", &settings)
            .unwrap(),
        RepositoryState::Created
    );
    // A second publish finds it
    assert_eq!(
        auth.ensure_repository(&registry, "platform/golden-container-debian12", &settings)
            .unwrap(),
        RepositoryState::Existed
    );
    let client = aws_sdk_ecr::Client::new(aws.config());
    let described = runtime()
        .block_on(
            client
                .describe_repositories()
                .repository_names("platform/golden-container-debian12")
                .send(),
        )
        .unwrap();
    let repository = &described.repositories()[0];
    assert_eq!(
        repository.image_tag_mutability(),
        Some(&aws_sdk_ecr::types::ImageTagMutability::Immutable)
    );
    assert!(repository
        .image_scanning_configuration()
        .is_some_and(|scanning| scanning.scan_on_push()));
    assert!(repository.encryption_configuration().is_some());

    // One made by hand with MUTABLE tags is reported as such, not changed
    runtime()
        .block_on(
            client
                .create_repository()
                .repository_name("team/mutable")
                .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Mutable)
                .send(),
        )
        .unwrap();
    assert_eq!(
        auth.ensure_repository(&registry, "team/mutable", &settings)
            .unwrap(),
        RepositoryState::ExistedMutable
    );
}
