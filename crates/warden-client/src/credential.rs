//! How the API proves itself to the identity platform, with no secret in the code: a
//! certificate (RFC 7523 `private_key_jwt`: an assertion signed with its key, PS256, named by
//! `x5t#S256`), or, as the last resort, a client secret read from the environment or a file.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PSS_SHA256, RsaKeyPair};
use base64::Engine as _;
use serde_json::json;

/// The assertion type of a signed client assertion (RFC 7523 §2.2).
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a client assertion is valid: Microsoft asks for "5-10 minutes at most".
const ASSERTION_LIFETIME_SECS: u64 = 300;

/// Why a credential could not be read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CredentialError {
    /// The environment variable is unset or empty.
    MissingVariable {
        /// Its name.
        name: String,
    },
    /// The file cannot be read, or is empty.
    UnreadableFile {
        /// Its path.
        path: String,
    },
    /// The certificate or its key is not PEM of the expected kind (an X.509 certificate; an RSA
    /// private key in PKCS#8), or the key cannot sign.
    InvalidCertificate {
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialError::MissingVariable { name } => {
                write!(f, "the environment variable {name} is unset or empty")
            }
            CredentialError::UnreadableFile { path } => {
                write!(f, "the file {path} cannot be read, or is empty")
            }
            CredentialError::InvalidCertificate { reason } => {
                write!(f, "invalid certificate credential: {reason}")
            }
        }
    }
}

impl std::error::Error for CredentialError {}

/// A confidential client's proof. Its `Debug` shows which kind, never the secret or the key.
#[derive(Clone)]
pub struct ClientCredential {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Secret(String),
    Certificate(std::sync::Arc<Certificate>),
}

struct Certificate {
    /// base64url SHA-256 of the certificate's DER.
    thumbprint: String,
    key: RsaKeyPair,
}

impl fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Secret(_) => f.write_str("ClientCredential::Secret(..)"),
            Kind::Certificate(certificate) => {
                write!(
                    f,
                    "ClientCredential::Certificate(x5t#S256={})",
                    certificate.thumbprint
                )
            }
        }
    }
}

impl ClientCredential {
    /// A certificate and its RSA private key (PKCS#8), both PEM: assertions are signed PS256
    /// and name the certificate by `x5t#S256`, as Microsoft's documentation asks. Register the
    /// certificate (its public part) on the app registration.
    ///
    /// # Errors
    ///
    /// [`CredentialError::InvalidCertificate`] when either is not what it should be.
    pub fn certificate_from_pem(
        certificate_pem: &str,
        key_pem: &str,
    ) -> Result<ClientCredential, CredentialError> {
        let invalid = |reason| CredentialError::InvalidCertificate { reason };
        let certificate =
            pem::parse(certificate_pem).map_err(|_| invalid("the certificate is not PEM"))?;
        if certificate.tag() != "CERTIFICATE" {
            return Err(invalid("the certificate PEM is not a CERTIFICATE"));
        }
        let key = pem::parse(key_pem).map_err(|_| invalid("the key is not PEM"))?;
        if key.tag() != "PRIVATE KEY" {
            return Err(invalid("the key PEM is not a PKCS#8 PRIVATE KEY"));
        }
        let key = RsaKeyPair::from_pkcs8(key.contents())
            .map_err(|_| invalid("the key is not an RSA key of 2048 bits or more"))?;
        let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(digest::digest(&digest::SHA256, certificate.contents()));
        Ok(ClientCredential {
            kind: Kind::Certificate(std::sync::Arc::new(Certificate { thumbprint, key })),
        })
    }

    /// A client secret from the environment variable `name`. Prefer a certificate or a
    /// federated credential: a secret is copied into configuration and leaks with it.
    ///
    /// # Errors
    ///
    /// [`CredentialError::MissingVariable`] when it is unset or empty.
    pub fn secret_from_env(name: &str) -> Result<ClientCredential, CredentialError> {
        match std::env::var(name) {
            Ok(secret) if !secret.trim().is_empty() => Ok(ClientCredential {
                kind: Kind::Secret(secret.trim().to_owned()),
            }),
            _ => Err(CredentialError::MissingVariable {
                name: name.to_owned(),
            }),
        }
    }

    /// A client secret from a file (a mounted Kubernetes secret, for example): its content,
    /// trimmed.
    ///
    /// # Errors
    ///
    /// [`CredentialError::UnreadableFile`] when it cannot be read or is empty.
    pub fn secret_from_file(
        path: impl AsRef<std::path::Path>,
    ) -> Result<ClientCredential, CredentialError> {
        let path = path.as_ref();
        match std::fs::read_to_string(path) {
            Ok(secret) if !secret.trim().is_empty() => Ok(ClientCredential {
                kind: Kind::Secret(secret.trim().to_owned()),
            }),
            _ => Err(CredentialError::UnreadableFile {
                path: path.display().to_string(),
            }),
        }
    }

    /// The form parameters that authenticate `client_id` at `token_endpoint`.
    pub(crate) fn form(
        &self,
        client_id: &str,
        token_endpoint: &str,
    ) -> Result<Vec<(&'static str, String)>, CredentialError> {
        match &self.kind {
            Kind::Secret(secret) => Ok(vec![("client_secret", secret.clone())]),
            Kind::Certificate(certificate) => Ok(vec![
                ("client_assertion_type", ASSERTION_TYPE.to_owned()),
                (
                    "client_assertion",
                    certificate.assertion(client_id, token_endpoint)?,
                ),
            ]),
        }
    }
}

impl Certificate {
    /// A fresh assertion: `iss` = `sub` = the client, `aud` the token endpoint, a new `jti`,
    /// valid from now for five minutes.
    fn assertion(&self, client_id: &str, token_endpoint: &str) -> Result<String, CredentialError> {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // A random GUID (version 4), as Microsoft's documentation shows `jti`.
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| CredentialError::InvalidCertificate {
            reason: "no randomness for a jti",
        })?;
        jti[6] = (jti[6] & 0x0f) | 0x40;
        jti[8] = (jti[8] & 0x3f) | 0x80;
        let hex: String = jti.iter().map(|b| format!("{b:02x}")).collect();
        let jti = format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        );
        let header = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": self.thumbprint});
        let claims = json!({
            "aud": token_endpoint,
            "iss": client_id,
            "sub": client_id,
            "jti": jti,
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PSS_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| CredentialError::InvalidCertificate {
                reason: "the key cannot sign",
            })?;
        Ok(format!("{input}.{}", b64(&signature)))
    }
}
