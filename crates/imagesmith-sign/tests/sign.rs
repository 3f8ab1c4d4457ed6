//! Signatures in cosign's format: round trips, the refusals `imagesmith verify` makes, keys
//! as openssl and cosign write them, and the signature checked by `openssl dgst -verify`.

use std::path::Path;
use std::process::Command;

use imagesmith_sign::{
    attach, encrypt_cosign_key, payload, signature_tag, verify, MemoryStore, SignError,
    SignatureStore, SigningKey, VerifyingKey, SIGNATURE_ANNOTATION,
};

const DIGEST: &str = "sha256:4a5c2d1e8f0b3a6c9d2e5f8a1b4c7d0e3f6a9b2c5d8e1f4a7b0c3d6e9f2a5b8c";
const REPOSITORY: &str = "registry.example.com/platform/golden-container-debian12";

/// Whether openssl runs; skipped with the reason otherwise (failing under `CI=true`)
fn openssl() -> bool {
    let runs = Command::new("openssl").arg("version").output().is_ok();
    if !runs {
        let reason = "`openssl` is not installed (apt-get install openssl)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{reason}");
        }
        eprintln!("skipped: {reason}");
    }
    runs
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A PKCS#8 key and its public key, made by openssl
fn keypair(dir: &Path, name: &str) -> (SigningKey, VerifyingKey) {
    let key = format!("{name}.key");
    let public = format!("{name}.pub");
    run(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ],
    );
    run(dir, &["pkey", "-pubout", "-in", &key, "-out", &public]);
    (
        SigningKey::from_pem(&std::fs::read(dir.join(&key)).unwrap(), None).unwrap(),
        VerifyingKey::from_pem(&std::fs::read(dir.join(&public)).unwrap()).unwrap(),
    )
}

fn manifest(store: &MemoryStore) -> serde_json::Value {
    let bytes = store.manifest(&signature_tag(DIGEST)).unwrap().unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn the_payload_is_cosigns_simple_signing_document() {
    assert_eq!(
        String::from_utf8(payload(REPOSITORY, DIGEST)).unwrap(),
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{REPOSITORY}"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
    );
    assert_eq!(
        signature_tag(DIGEST),
        "sha256-4a5c2d1e8f0b3a6c9d2e5f8a1b4c7d0e3f6a9b2c5d8e1f4a7b0c3d6e9f2a5b8c.sig"
    );
}

#[test]
fn signed_images_verify_and_openssl_agrees() {
    if !openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keypair(dir.path(), "cosign");
    let store = MemoryStore::default();

    // Unsigned
    assert!(matches!(
        verify(&store, &public, REPOSITORY, DIGEST),
        Err(SignError::Unsigned { .. })
    ));
    let attached = attach(&store, &key, REPOSITORY, DIGEST).unwrap();
    assert!(attached.added);
    assert_eq!(attached.signatures, 1);
    let verified = verify(&store, &public, REPOSITORY, DIGEST).unwrap();
    assert_eq!(
        verified.payload.critical.image.docker_manifest_digest,
        DIGEST
    );
    assert_eq!(
        verified.payload.critical.identity.docker_reference,
        REPOSITORY
    );

    // The manifest has cosign's shape; its payload and annotation verify under openssl
    let manifest = manifest(&store);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layer = &manifest["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let payload = store.blob(layer["digest"].as_str().unwrap()).unwrap();
    let signature = base64_decode(layer["annotations"][SIGNATURE_ANNOTATION].as_str().unwrap());
    std::fs::write(dir.path().join("payload.json"), &payload).unwrap();
    std::fs::write(dir.path().join("signature.der"), &signature).unwrap();
    let out = run(
        dir.path(),
        &[
            "dgst",
            "-sha256",
            "-verify",
            "cosign.pub",
            "-signature",
            "signature.der",
            "payload.json",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Verified OK");

    // Signed again with the same key: nothing changes
    let again = attach(&store, &key, REPOSITORY, DIGEST).unwrap();
    assert!(!again.added);
    assert_eq!(self::manifest(&store), manifest);

    // Another key: refused until it signs too, which adds a layer and keeps the first
    let (other, other_public) = keypair(dir.path(), "other");
    assert!(matches!(
        verify(&store, &other_public, REPOSITORY, DIGEST),
        Err(SignError::OtherKey { count: 1, .. })
    ));
    let added = attach(&store, &other, REPOSITORY, DIGEST).unwrap();
    assert_eq!(added.signatures, 2);
    assert_eq!(
        verify(&store, &other_public, REPOSITORY, DIGEST)
            .unwrap()
            .layer,
        1
    );
    assert_eq!(
        verify(&store, &public, REPOSITORY, DIGEST).unwrap().layer,
        0
    );
}

#[test]
fn a_signature_copied_from_another_image_or_tampered_with_is_refused() {
    let key = SigningKey::from_pem(TEST_SEC1_KEY.as_bytes(), None).unwrap();
    let public = key.verifying_key();
    let store = MemoryStore::default();
    let other = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    attach(&store, &key, REPOSITORY, other).unwrap();
    // The other image's signature manifest put under this digest's tag
    let copied = store.manifest(&signature_tag(other)).unwrap().unwrap();
    store
        .put_manifest(
            &signature_tag(DIGEST),
            &copied,
            "application/vnd.oci.image.manifest.v1+json",
        )
        .unwrap();
    let error = verify(&store, &public, REPOSITORY, DIGEST).unwrap_err();
    assert!(matches!(error, SignError::DigestMismatch { .. }), "{error}");
    assert!(error.to_string().contains(other), "{error}");

    // A payload changed after signing no longer verifies
    let store = MemoryStore::default();
    attach(&store, &key, REPOSITORY, DIGEST).unwrap();
    let manifest = manifest(&store);
    let digest = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let mut payload = store.blob(&digest).unwrap();
    payload[10] ^= 1;
    store.blobs.lock().unwrap().insert(digest, payload);
    assert!(matches!(
        verify(&store, &public, REPOSITORY, DIGEST),
        Err(SignError::OtherKey { .. })
    ));
}

#[test]
fn keys_as_openssl_and_cosign_write_them() {
    // SEC1 (`openssl ecparam -genkey`)
    let sec1 = SigningKey::from_pem(TEST_SEC1_KEY.as_bytes(), None).unwrap();
    // cosign's encrypted envelope round-trips, and a wrong password is told apart
    let encrypted = encrypt_cosign_key(&sec1, b"hunter2", &[7; 32], &[9; 24]).unwrap();
    assert!(encrypted.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
    let opened = SigningKey::from_pem(encrypted.as_bytes(), Some(b"hunter2")).unwrap();
    assert_eq!(opened.verifying_key(), sec1.verifying_key());
    assert!(matches!(
        SigningKey::from_pem(encrypted.as_bytes(), Some(b"wrong")),
        Err(SignError::Password)
    ));
    // The older label reads the same
    let older = encrypted.replace("SIGSTORE", "COSIGN");
    assert!(SigningKey::from_pem(older.as_bytes(), Some(b"hunter2")).is_ok());

    // Refusals name what the file is
    let public_pem = sec1.verifying_key().to_pem();
    let error = SigningKey::from_pem(public_pem.as_bytes(), None).unwrap_err();
    assert!(error.to_string().contains("public key"), "{error}");
    let error = SigningKey::from_pem(b"not a key", None).unwrap_err();
    assert!(error.to_string().contains("no PEM block"), "{error}");
    let error = VerifyingKey::from_pem(TEST_SEC1_KEY.as_bytes()).unwrap_err();
    assert!(error.to_string().contains("EC PRIVATE KEY"), "{error}");
    assert!(sec1.verifying_key().identity().starts_with("sha256:"));
}

#[test]
fn other_algorithms_are_refused_by_name() {
    if !openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "k",
            ][..],
            "RSA",
        ),
        (
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-out",
                "k",
            ][..],
            "P-384",
        ),
        (
            &["genpkey", "-algorithm", "ED25519", "-out", "k"][..],
            "Ed25519",
        ),
    ] {
        run(dir.path(), args);
        let bytes = std::fs::read(dir.path().join("k")).unwrap();
        let error = SigningKey::from_pem(&bytes, None).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(expected) && message.contains("P-256"),
            "{message}"
        );
    }
    // `openssl ecparam -genkey` writes SEC1 with the parameters block first
    run(
        dir.path(),
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-out",
            "sec1.pem",
        ],
    );
    let bytes = std::fs::read(dir.path().join("sec1.pem")).unwrap();
    SigningKey::from_pem(&bytes, None).unwrap();
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// A throwaway P-256 key (SEC1), made with `openssl ecparam -name prime256v1 -genkey -noout`
const TEST_SEC1_KEY: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEINiC3S8n6Od5KY4W69vo/+LwQi1qetGi7fAneMFsG9LMoAoGCCqGSM49
AwEHoUQDQgAEULWryMNxxMBK6o5IdNbP/CXDACdlZMi4uz2ncOPMsux8azArXJmh
09aSlw32/5SVUH09TTmjni13H3RGOgW1jw==
-----END EC PRIVATE KEY-----
";
