//! ECDSA P-256 keys from PEM: PKCS#8, SEC1, and cosign's encrypted envelope.

use base64::Engine as _;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::SignError;

/// A private signing key (P-256).
#[derive(Clone)]
pub struct SigningKey {
    key: p256::ecdsa::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.verifying_key().identity())
    }
}

/// A public key (P-256) that checks signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    key: p256::ecdsa::VerifyingKey,
}

/// cosign's encrypted key envelope (sigstore's `encrypted` package).
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[allow(non_snake_case)]
struct ScryptParams {
    N: u64,
    r: u32,
    p: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// The label and base64 body of the first PEM block of `text` that is not an
/// `EC PARAMETERS` block (which `openssl ecparam -genkey` writes before the key).
fn pem_block(text: &str) -> Option<(String, String)> {
    let mut text = text;
    loop {
        let (label, body) = one_pem_block(text)?;
        if label != "EC PARAMETERS" {
            return Some((label, body));
        }
        let end = format!("-----END {label}-----");
        text = &text[text.find(&end)? + end.len()..];
    }
}

fn one_pem_block(text: &str) -> Option<(String, String)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].to_owned();
    let body_start = label_end + 5;
    let end_marker = format!("-----END {label}-----");
    let body_end = rest.find(&end_marker)?;
    let body: String = rest[body_start..body_end]
        .lines()
        .filter(|line| !line.contains(':'))
        .collect::<Vec<_>>()
        .concat()
        .split_whitespace()
        .collect();
    Some((label, body))
}

fn b64(text: &str) -> Result<Vec<u8>, SignError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| SignError::Key("the key's PEM body is not base64".into()))
}

fn not_p256(what: &str) -> SignError {
    SignError::Key(format!(
        "{what}; only ECDSA P-256 (prime256v1) keys are accepted, as cosign generates (`cosign generate-key-pair`, or `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`)"
    ))
}

fn scrypt_key(password: &[u8], salt: &[u8], params: &ScryptParams) -> Result<[u8; 32], SignError> {
    let bad = || SignError::Key("the encrypted key has invalid scrypt parameters".into());
    if !params.N.is_power_of_two() || params.N < 2 {
        return Err(bad());
    }
    let log_n = params.N.trailing_zeros() as u8;
    let scrypt_params = scrypt::Params::new(log_n, params.r, params.p, 32).map_err(|_| bad())?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, salt, &scrypt_params, &mut key).map_err(|_| bad())?;
    Ok(key)
}

impl SigningKey {
    /// Reads a private key; `password` opens cosign's encrypted keys (an empty password is
    /// what `cosign generate-key-pair` with an empty `COSIGN_PASSWORD` uses).
    pub fn from_pem(bytes: &[u8], password: Option<&[u8]>) -> Result<SigningKey, SignError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| SignError::Key("the key file is not PEM text".into()))?;
        let (label, body) = pem_block(text).ok_or_else(|| {
            SignError::Key("the key file holds no PEM block (`-----BEGIN ...-----`)".into())
        })?;
        match label.as_str() {
            "PRIVATE KEY" => {
                let der = b64(&body)?;
                Self::from_pkcs8(&der)
            }
            "EC PRIVATE KEY" => {
                let secret = p256::SecretKey::from_sec1_der(&b64(&body)?)
                    .map_err(|_| not_p256("this `EC PRIVATE KEY` is not on the P-256 curve"))?;
                Ok(SigningKey {
                    key: p256::ecdsa::SigningKey::from(secret),
                })
            }
            "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" => {
                let envelope: Envelope = serde_json::from_slice(&b64(&body)?).map_err(|e| {
                    SignError::Key(format!("the encrypted cosign key is not readable: {e}"))
                })?;
                if envelope.kdf.name != "scrypt" || envelope.cipher.name != "nacl/secretbox" {
                    return Err(SignError::Key(format!(
                        "the encrypted key uses {} with {}; only scrypt with nacl/secretbox (cosign's) is read",
                        envelope.kdf.name, envelope.cipher.name
                    )));
                }
                let password = password.unwrap_or_default();
                let key = scrypt_key(password, &b64(&envelope.kdf.salt)?, &envelope.kdf.params)?;
                let nonce = b64(&envelope.cipher.nonce)?;
                if nonce.len() != 24 {
                    return Err(SignError::Key("the encrypted key's nonce is not 24 bytes".into()));
                }
                let cipher = XSalsa20Poly1305::new((&key).into());
                let plain = cipher
                    .decrypt(Nonce::from_slice(&nonce), b64(&envelope.ciphertext)?.as_slice())
                    .map_err(|_| SignError::Password)?;
                Self::from_pkcs8(&plain)
            }
            "ENCRYPTED PRIVATE KEY" => Err(SignError::Key(
                "the key is a password-protected PKCS#8 key; decrypt it first (`openssl pkey -in KEY -out PLAIN`) or use a cosign key".into(),
            )),
            "RSA PRIVATE KEY" => Err(not_p256("the key is an RSA key")),
            "OPENSSH PRIVATE KEY" => Err(not_p256("the key is an OpenSSH key")),
            "PUBLIC KEY" => Err(SignError::Key(
                "the file holds a public key; signing needs the private key".into(),
            )),
            other => Err(SignError::Key(format!("the key file holds a `{other}`, not a private key"))),
        }
    }

    fn from_pkcs8(der: &[u8]) -> Result<SigningKey, SignError> {
        match p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            Ok(key) => Ok(SigningKey { key }),
            Err(_) => Err(not_p256(&format!(
                "the PKCS#8 key is {}",
                describe_pkcs8(der)
            ))),
        }
    }

    /// Its public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            key: *self.key.verifying_key(),
        }
    }

    /// ECDSA over SHA-256 of `message`, ASN.1 DER (RFC 6979 nonces).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: p256::ecdsa::Signature = self.key.sign(message);
        signature.to_der().as_bytes().to_vec()
    }

    /// The PKCS#8 DER of the key (for [`encrypt_cosign_key`]).
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, SignError> {
        self.key
            .to_pkcs8_der()
            .map(|doc| doc.as_bytes().to_vec())
            .map_err(|e| SignError::Key(e.to_string()))
    }
}

/// What algorithm a PKCS#8 key that is not P-256 is, for the error.
fn describe_pkcs8(der: &[u8]) -> &'static str {
    // The OIDs' DER bytes: rsaEncryption, id-ecPublicKey with secp384r1/secp521r1/secp256k1,
    // Ed25519
    let has = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
    if has(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]) {
        "an RSA key"
    } else if has(&[0x2b, 0x81, 0x04, 0x00, 0x22]) {
        "an EC key on P-384"
    } else if has(&[0x2b, 0x81, 0x04, 0x00, 0x23]) {
        "an EC key on P-521"
    } else if has(&[0x2b, 0x81, 0x04, 0x00, 0x0a]) {
        "an EC key on secp256k1"
    } else if has(&[0x2b, 0x65, 0x70]) {
        "an Ed25519 key"
    } else {
        "not a P-256 key"
    }
}

impl VerifyingKey {
    /// Reads a `PUBLIC KEY` (SPKI) PEM, as `cosign generate-key-pair` writes `cosign.pub`.
    pub fn from_pem(bytes: &[u8]) -> Result<VerifyingKey, SignError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| SignError::Key("the key file is not PEM text".into()))?;
        let (label, body) = pem_block(text).ok_or_else(|| {
            SignError::Key("the key file holds no PEM block (`-----BEGIN PUBLIC KEY-----`)".into())
        })?;
        if label != "PUBLIC KEY" {
            return Err(SignError::Key(format!(
                "the key file holds a `{label}`; verifying needs the public key (`PUBLIC KEY`)"
            )));
        }
        let der = b64(&body)?;
        p256::ecdsa::VerifyingKey::from_public_key_der(&der)
            .map(|key| VerifyingKey { key })
            .map_err(|_| not_p256(&format!("the public key is {}", describe_pkcs8(&der))))
    }

    /// Whether `signature` (ASN.1 DER) is this key's over SHA-256 of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match p256::ecdsa::Signature::from_der(signature) {
            Ok(signature) => self.key.verify(message, &signature).is_ok(),
            Err(_) => false,
        }
    }

    /// The key as `PUBLIC KEY` PEM.
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap_or_default()
    }

    /// `sha256:<hex>` of the key's SPKI DER: how records name the key that signed.
    pub fn identity(&self) -> String {
        let der = self
            .key
            .to_public_key_der()
            .map(|doc| doc.as_bytes().to_vec())
            .unwrap_or_default();
        format!("sha256:{}", hex::encode(Sha256::digest(der)))
    }
}

/// `key` in cosign's encrypted format (`ENCRYPTED SIGSTORE PRIVATE KEY`) under `password`,
/// with cosign's scrypt cost (N = 65536, r = 8, p = 1) and the given salt and nonce
/// (random in real use; fixed in tests).
pub fn encrypt_cosign_key(
    key: &SigningKey,
    password: &[u8],
    salt: &[u8; 32],
    nonce: &[u8; 24],
) -> Result<String, SignError> {
    let params = ScryptParams {
        N: 65536,
        r: 8,
        p: 1,
    };
    let derived = scrypt_key(password, salt, &params)?;
    let cipher = XSalsa20Poly1305::new((&derived).into());
    let sealed = cipher
        .encrypt(Nonce::from_slice(nonce), key.to_pkcs8_der()?.as_slice())
        .map_err(|_| SignError::Key("sealing the key failed".into()))?;
    let engine = base64::engine::general_purpose::STANDARD;
    let envelope = Envelope {
        kdf: Kdf {
            name: "scrypt".into(),
            params,
            salt: engine.encode(salt),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: engine.encode(nonce),
        },
        ciphertext: engine.encode(sealed),
    };
    let body = engine.encode(serde_json::to_vec(&envelope).unwrap_or_default());
    let mut pem = String::from("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n");
    for chunk in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n");
    Ok(pem)
}
