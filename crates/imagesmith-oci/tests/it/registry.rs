//! Registry pulls (issue #3): against a real `docker-registry` fed by `skopeo` (anonymous and
//! htpasswd Basic auth, tag and digest, Docker and OCI media types, an image index, a
//! corrupted blob), and against a fake registry for the Bearer token flow and a lying one

mod distribution;
mod fake;
mod push;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use imagesmith_oci::oci_spec::image::{Arch, Descriptor, ImageIndexBuilder, MediaType, Os};
use imagesmith_oci::registry::{
    AuthFile, CredentialError, Credentials, EnvCredentials, Pulled, Reference, RegistryClient,
    RegistryError, RegistryOptions,
};
use imagesmith_oci::{
    canonical_json, write_layout, BlobStore, HistoryEntry, Image, ImageBuilder, LayerOptions,
    REF_NAME_ANNOTATION,
};

use crate::{layer_of, sample_tree, EPOCH};
use distribution::{oci, Registry};
use fake::FakeRegistry;

/// An image for `architecture` whose content says `marker`
fn image(store: &BlobStore, work: &Path, architecture: Arch, marker: &str) -> Image {
    let root = work.join(format!("root-{marker}"));
    sample_tree(&root);
    std::fs::write(root.join("etc/marker"), marker).unwrap();
    let layer = layer_of(store, &root, &LayerOptions::new(EPOCH));
    let mut builder = ImageBuilder::new(architecture, Os::Linux, EPOCH);
    builder.add_layer(
        &layer,
        HistoryEntry {
            created_by: format!("marker {marker}"),
            comment: None,
        },
    );
    builder.set_cmd(vec![String::from("/bin/sh")]);
    builder.build(store).unwrap()
}

/// A layout at `dir` whose `index.json` names (as `tag`) one image index of `images`
fn index_layout(dir: &Path, store: &BlobStore, images: &[&Image], tag: &str) -> Descriptor {
    let named: Vec<(String, &Image)> = images
        .iter()
        .enumerate()
        .map(|(number, image)| (format!("image-{number}"), *image))
        .collect();
    let named: Vec<(&str, &Image)> = named
        .iter()
        .map(|(name, image)| (name.as_str(), *image))
        .collect();
    write_layout(dir, store, &named).unwrap();
    let blobs = BlobStore::open(dir.join("blobs")).unwrap();
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(
            images
                .iter()
                .map(|image| image.descriptor.clone())
                .collect::<Vec<_>>(),
        )
        .build()
        .unwrap();
    let (digest, size) = blobs
        .write_bytes(&canonical_json(&index, "index").unwrap())
        .unwrap();
    let descriptor = Descriptor::new(MediaType::ImageIndex, size, digest);
    let mut named = descriptor.clone();
    named.set_annotations(Some(HashMap::from([(
        REF_NAME_ANNOTATION.to_owned(),
        tag.to_owned(),
    )])));
    let top = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![named])
        .build()
        .unwrap();
    std::fs::write(
        dir.join("index.json"),
        canonical_json(&top, "index").unwrap(),
    )
    .unwrap();
    descriptor
}

fn pull(
    options: RegistryOptions,
    reference: &str,
    store: &BlobStore,
) -> Result<(Pulled, Vec<String>), RegistryError> {
    let client = RegistryClient::new(options);
    let reference = Reference::parse(reference)?;
    let log = RefCell::new(Vec::new());
    let pulled = client.pull(&reference, store, &|message| {
        log.borrow_mut().push(message.to_owned())
    })?;
    Ok((pulled, log.into_inner()))
}

/// No temporary file is left in the store, and every blob of `image` is there and sound
fn assert_store_holds(store: &BlobStore, image: &Image) {
    for digest in image.blobs() {
        store.verify(&digest).unwrap();
    }
    assert_no_temporary_files(store);
}

fn assert_no_temporary_files(store: &BlobStore) {
    let leftovers: Vec<_> = std::fs::read_dir(store.root().join("sha256"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn anonymous_pull_by_tag_and_by_digest() {
    if !distribution::tools_present() {
        return;
    }
    let registry = Registry::start(false);
    let work = tempfile::tempdir().unwrap();
    let local = BlobStore::open(work.path().join("local")).unwrap();
    let pushed = image(&local, work.path(), Arch::Amd64, "anonymous");
    let layout = work.path().join("layout");
    write_layout(&layout, &local, &[("latest", &pushed)]).unwrap();
    registry.push(&oci(&layout, "latest"), "team/app:1", &[]);

    let store = BlobStore::open(work.path().join("pulled")).unwrap();
    let by_tag = format!("docker://{}/team/app:1", registry.host);
    let (pulled, log) = pull(RegistryOptions::new(), &by_tag, &store).unwrap();
    assert_eq!(pulled.image.digest(), pushed.digest());
    assert_eq!(pulled.image.manifest, pushed.manifest);
    assert_eq!(pulled.image.config, pushed.config);
    assert_eq!(pulled.index, None);
    assert_store_holds(&store, &pulled.image);
    assert!(
        log.iter()
            .any(|line| line.starts_with("fetching layer 1/1")),
        "{log:?}"
    );

    // By digest: the layers are already there and are not fetched again
    let by_digest = format!("{}/team/app@{}", registry.host, pushed.digest());
    let (again, log) = pull(RegistryOptions::new(), &by_digest, &store).unwrap();
    assert_eq!(again.image, pulled.image);
    assert!(
        log.iter().any(|line| line.ends_with("already stored")),
        "{log:?}"
    );

    let missing = pull(
        RegistryOptions::new(),
        &format!("{}/team/app:2", registry.host),
        &store,
    )
    .unwrap_err();
    assert!(
        matches!(missing, RegistryError::NotFound { .. }),
        "{missing}"
    );
    assert!(
        missing.to_string().contains("MANIFEST_UNKNOWN"),
        "{missing}"
    );
}

#[test]
fn docker_schema2_media_types_keep_the_registry_digest() {
    if !distribution::tools_present() {
        return;
    }
    let registry = Registry::start(false);
    let work = tempfile::tempdir().unwrap();
    let local = BlobStore::open(work.path().join("local")).unwrap();
    let pushed = image(&local, work.path(), Arch::Amd64, "docker");
    let layout = work.path().join("layout");
    write_layout(&layout, &local, &[("latest", &pushed)]).unwrap();
    registry.push(
        &oci(&layout, "latest"),
        "team/docker:1",
        &["--format", "v2s2"],
    );
    let raw = registry.raw_manifest("team/docker:1");

    let store = BlobStore::open(work.path().join("pulled")).unwrap();
    let reference = format!("{}/team/docker:1", registry.host);
    let (pulled, _) = pull(RegistryOptions::new(), &reference, &store).unwrap();
    assert_eq!(
        pulled.image.descriptor.media_type().to_string(),
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(pulled.image.digest(), &imagesmith_oci::digest_of(&raw));
    assert_ne!(pulled.image.digest(), pushed.digest());
    // Same layers and content, only the wrapping differs
    assert_eq!(pulled.image.diff_ids(), pushed.diff_ids());
    assert_eq!(
        pulled.image.layers()[0].digest(),
        pushed.layers()[0].digest()
    );
    assert_store_holds(&store, &pulled.image);
    assert_eq!(store.read(pulled.image.digest()).unwrap(), raw);
}

#[test]
fn an_image_index_gives_the_image_for_the_platform_asked() {
    if !distribution::tools_present() {
        return;
    }
    let registry = Registry::start(false);
    let work = tempfile::tempdir().unwrap();
    let local = BlobStore::open(work.path().join("local")).unwrap();
    let amd64 = image(&local, work.path(), Arch::Amd64, "amd64");
    let arm64 = image(&local, work.path(), Arch::ARM64, "arm64");
    let layout = work.path().join("layout");
    let index = index_layout(&layout, &local, &[&amd64, &arm64], "multi");
    registry.push(&oci(&layout, "multi"), "team/multi:1", &["--all"]);
    let reference = format!("{}/team/multi:1", registry.host);

    for (architecture, expected) in [(Arch::Amd64, &amd64), (Arch::ARM64, &arm64)] {
        let store = BlobStore::open(work.path().join(format!("pulled-{architecture}"))).unwrap();
        let mut options = RegistryOptions::new();
        options.architecture = architecture.clone();
        let (pulled, _) = pull(options, &reference, &store).unwrap();
        assert_eq!(pulled.image.digest(), expected.digest(), "{architecture}");
        let pulled_index = pulled.index.unwrap();
        assert_eq!(pulled_index.digest(), index.digest());
        assert_store_holds(&store, &pulled.image);
        store.verify(index.digest()).unwrap();
        // Only the chosen image's layer was fetched
        let other = if architecture == Arch::Amd64 {
            &arm64
        } else {
            &amd64
        };
        assert!(!store.contains(other.layers()[0].digest()));
    }

    // By the index's digest, and for a platform it does not have
    let store = BlobStore::open(work.path().join("pulled")).unwrap();
    let mut options = RegistryOptions::new();
    options.architecture = Arch::Amd64;
    let by_digest = format!("{}/team/multi@{}", registry.host, index.digest());
    let (pulled, _) = pull(options, &by_digest, &store).unwrap();
    assert_eq!(pulled.image.digest(), amd64.digest());
    let mut options = RegistryOptions::new();
    options.architecture = Arch::s390x;
    let error = pull(options, &reference, &store).unwrap_err();
    assert!(
        matches!(error, RegistryError::NoMatchingPlatform { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("`linux/amd64`, `linux/arm64`"),
        "{message}"
    );
}

#[test]
fn basic_auth_credentials_from_each_source() {
    if !distribution::tools_present() {
        return;
    }
    let registry = Registry::start(true);
    let work = tempfile::tempdir().unwrap();
    let local = BlobStore::open(work.path().join("local")).unwrap();
    let pushed = image(&local, work.path(), Arch::Amd64, "basic");
    let layout = work.path().join("layout");
    write_layout(&layout, &local, &[("latest", &pushed)]).unwrap();
    registry.push(&oci(&layout, "latest"), "private/app:1", &[]);
    let reference = format!("{}/private/app:1", registry.host);
    let store = BlobStore::open(work.path().join("pulled")).unwrap();
    let env = |user: &str, password: &str| {
        EnvCredentials::new(Some(user), Some(password), Some(&registry.host))
    };

    // None: a 401 that says there were no credentials, and where they were looked for
    let auth_file = work.path().join("auth.json");
    let mut options = RegistryOptions::new();
    options
        .credentials
        .push(Box::new(EnvCredentials::new(None, None, None)));
    options
        .credentials
        .push(Box::new(AuthFile::new(&auth_file)));
    let error = pull(options, &reference, &store).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, RegistryError::Unauthorized { status: 401, .. }),
        "{message}"
    );
    assert!(message.contains("no credentials were found"), "{message}");
    assert!(
        message
            .contains("`IMAGESMITH_REGISTRY_USERNAME`/`IMAGESMITH_REGISTRY_PASSWORD` (nothing for"),
        "{message}"
    );
    assert!(
        message.contains(&format!("auth file `{}`", auth_file.display())),
        "{message}"
    );

    // A wrong password: refused, naming the source whose credentials were sent
    let options =
        RegistryOptions::new().with_source_first(env(distribution::USER, "wrong-password"));
    let error = pull(options, &reference, &store).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, RegistryError::Unauthorized { .. }),
        "{message}"
    );
    assert!(
        message.contains("the credentials sent were refused"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "`IMAGESMITH_REGISTRY_USERNAME`/`IMAGESMITH_REGISTRY_PASSWORD` (has credentials for `{}`)",
            registry.host
        )),
        "{message}"
    );
    assert!(!message.contains("wrong-password"), "{message}");
    assert!(!store.contains(pushed.digest()));

    // The right one, from the environment
    let options =
        RegistryOptions::new().with_source_first(env(distribution::USER, distribution::PASSWORD));
    let (pulled, _) = pull(options, &reference, &store).unwrap();
    assert_eq!(pulled.image.digest(), pushed.digest());

    // From an auth file as `skopeo login` writes it
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        distribution::USER,
        distribution::PASSWORD
    ));
    std::fs::write(
        &auth_file,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{encoded}"}}}}}}"#,
            registry.host
        ),
    )
    .unwrap();
    let mut options = RegistryOptions::new();
    options
        .credentials
        .push(Box::new(AuthFile::new(&auth_file)));
    let store = BlobStore::open(work.path().join("pulled-2")).unwrap();
    let (pulled, _) = pull(options, &reference, &store).unwrap();
    assert_eq!(pulled.image.digest(), pushed.digest());

    // The caller's own source comes first, and is asked for this registry's host
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&asked);
    let caller = move |host: &str| -> Result<Option<Credentials>, CredentialError> {
        record.lock().unwrap().push(host.to_owned());
        Ok(Some(Credentials::new(
            distribution::USER,
            distribution::PASSWORD,
        )))
    };
    let client = RegistryClient::new(RegistryOptions::new().with_source_first(caller));
    let store = BlobStore::open(work.path().join("pulled-3")).unwrap();
    let pulled = client
        .pull(&Reference::parse(&reference).unwrap(), &store, &|_| {})
        .unwrap();
    assert_eq!(pulled.image.digest(), pushed.digest());
    assert_eq!(
        asked.lock().unwrap().as_slice(),
        std::slice::from_ref(&registry.host)
    );
}

#[test]
fn a_corrupted_blob_is_rejected_and_never_stored() {
    if !distribution::tools_present() {
        return;
    }
    let registry = Registry::start(false);
    let work = tempfile::tempdir().unwrap();
    let local = BlobStore::open(work.path().join("local")).unwrap();
    let pushed = image(&local, work.path(), Arch::Amd64, "corrupt");
    let layout = work.path().join("layout");
    write_layout(&layout, &local, &[("latest", &pushed)]).unwrap();
    registry.push(&oci(&layout, "latest"), "team/corrupt:1", &[]);
    // Same size, different bytes: only the digest can tell
    let layer = pushed.layers()[0].digest();
    let data = registry.blob_data(layer.as_ref());
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();

    let store = BlobStore::open(work.path().join("pulled")).unwrap();
    let reference = format!("{}/team/corrupt:1", registry.host);
    let error = pull(RegistryOptions::new(), &reference, &store).unwrap_err();
    assert!(
        matches!(error, RegistryError::DigestMismatch { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(layer.as_ref()), "{error}");
    assert!(!store.contains(layer));
    assert!(
        !store.contains(pushed.digest()),
        "the manifest is stored last"
    );
    assert_no_temporary_files(&store);
}

#[test]
fn unreachable_registry_is_named() {
    // A port nobody listens on (bound, then released)
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let temp = tempfile::tempdir().unwrap();
    let store = BlobStore::open(temp.path()).unwrap();
    let error = pull(
        RegistryOptions::new(),
        &format!("127.0.0.1:{port}/app:1"),
        &store,
    )
    .unwrap_err();
    assert!(
        matches!(error, RegistryError::Unreachable { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(&format!("127.0.0.1:{port}")));
}

/// The fake registry serving one small image as `fake/app:1`
fn fake_with_image(token_field: &str, work: &Path) -> (FakeRegistry, Image) {
    let fake = FakeRegistry::start(token_field);
    let local = BlobStore::open(work.join("local")).unwrap();
    let served = image(&local, work, Arch::Amd64, "bearer");
    fake.add_image(&local, &served, "1");
    (fake, served)
}

#[test]
fn bearer_token_flow_with_token_and_access_token() {
    for field in ["token", "access_token"] {
        let work = tempfile::tempdir().unwrap();
        let (fake, served) = fake_with_image(field, work.path());
        let store = BlobStore::open(work.path().join("pulled")).unwrap();
        let options = RegistryOptions::new().with_source_first(EnvCredentials::new(
            Some(fake::USER),
            Some(fake::PASSWORD),
            None,
        ));
        let reference = format!("{}/{}:1", fake.host, fake::REPOSITORY);
        let (pulled, _) = pull(options, &reference, &store).unwrap();
        assert_eq!(pulled.image.digest(), served.digest(), "{field}");
        assert_store_holds(&store, &pulled.image);

        let seen = fake.seen();
        let tokens: Vec<_> = seen
            .iter()
            .filter(|request| request.path == "/token")
            .collect();
        assert_eq!(tokens.len(), 1, "one token for the whole pull: {seen:?}");
        assert!(
            tokens[0].query.contains("service=fake-registry"),
            "{:?}",
            tokens[0]
        );
        assert!(
            tokens[0]
                .query
                .contains("scope=repository%3Afake%2Fapp%3Apull"),
            "{:?}",
            tokens[0]
        );
        assert!(tokens[0]
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Basic "));
        // The password goes to the token service only; the registry sees the token
        for request in seen
            .iter()
            .filter(|request| request.path.starts_with("/v2/"))
        {
            if let Some(authorization) = &request.authorization {
                assert_eq!(
                    authorization,
                    &format!("Bearer {}", fake::TOKEN),
                    "{request:?}"
                );
            }
        }
    }
}

#[test]
fn bearer_with_wrong_or_no_credentials_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let (fake, _) = fake_with_image("token", work.path());
    let store = BlobStore::open(work.path().join("pulled")).unwrap();
    let reference = format!("{}/{}:1", fake.host, fake::REPOSITORY);

    let options = RegistryOptions::new().with_source_first(EnvCredentials::new(
        Some(fake::USER),
        Some("not-the-password"),
        None,
    ));
    let error = pull(options, &reference, &store).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, RegistryError::Unauthorized { status: 401, .. }),
        "{message}"
    );
    assert!(message.contains("were refused"), "{message}");
    assert!(!message.contains("not-the-password"), "{message}");

    let error = pull(RegistryOptions::new(), &reference, &store).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("no credentials were found"), "{message}");
    assert!(message.contains("none is configured"), "{message}");
}

#[test]
fn a_registry_serving_other_bytes_than_asked_is_caught() {
    let work = tempfile::tempdir().unwrap();
    let (fake, served) = fake_with_image("token", work.path());
    let credentials = || {
        RegistryOptions::new().with_source_first(EnvCredentials::new(
            Some(fake::USER),
            Some(fake::PASSWORD),
            None,
        ))
    };
    let manifest_path = |reference: &str| format!("/v2/{}/manifests/{reference}", fake::REPOSITORY);
    let media_type = served.descriptor.media_type().to_string();
    let mut other = fake.body(&manifest_path("1"));
    other.extend_from_slice(b"\n");

    // By digest: the bytes must hash to the digest asked
    fake.set(
        &manifest_path(served.digest().as_ref()),
        &media_type,
        other.clone(),
        Vec::new(),
    );
    let store = BlobStore::open(work.path().join("pulled")).unwrap();
    let by_digest = format!("{}/{}@{}", fake.host, fake::REPOSITORY, served.digest());
    let error = pull(credentials(), &by_digest, &store).unwrap_err();
    assert!(
        matches!(error, RegistryError::DigestMismatch { .. }),
        "{error}"
    );

    // By tag: the bytes must hash to the digest the registry announces
    fake.set(
        &manifest_path("1"),
        &media_type,
        other,
        vec![("Docker-Content-Digest".into(), served.digest().to_string())],
    );
    let by_tag = format!("{}/{}:1", fake.host, fake::REPOSITORY);
    let error = pull(credentials(), &by_tag, &store).unwrap_err();
    assert!(
        matches!(error, RegistryError::DigestMismatch { .. }),
        "{error}"
    );

    // A layer longer than its descriptor says is cut off and refused
    let (fake, served) = fake_with_image("token", &work.path().join("second"));
    let layer_path = format!(
        "/v2/{}/blobs/{}",
        fake::REPOSITORY,
        served.layers()[0].digest()
    );
    let mut longer = fake.body(&layer_path);
    longer.extend_from_slice(&[0; 4096]);
    fake.set(&layer_path, "application/octet-stream", longer, Vec::new());
    let options = RegistryOptions::new().with_source_first(EnvCredentials::new(
        Some(fake::USER),
        Some(fake::PASSWORD),
        None,
    ));
    let error = pull(
        options,
        &format!("{}/{}:1", fake.host, fake::REPOSITORY),
        &store,
    )
    .unwrap_err();
    assert!(
        matches!(error, RegistryError::SizeMismatch { more: true, .. }),
        "{error}"
    );
    assert!(!store.contains(served.layers()[0].digest()));
    assert_no_temporary_files(&store);
}
