//! How the API proves itself to the identity platform, with no secret in the code: a managed
//! identity's token used as a federated credential (feature `azure`), a federated token file, a
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

/// The scope of the token a managed identity gets to use as its app's federated credential:
/// Entra's token exchange, whose audience depends on the cloud of the token endpoint.
#[cfg(feature = "azure")]
fn exchange_scope(token_endpoint: &str) -> &'static str {
    let host = token_endpoint
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or_default();
    match host {
        "login.microsoftonline.us" => "api://AzureADTokenExchangeUSGov/.default",
        "login.chinacloudapi.cn" | "login.partner.microsoftonline.cn" => {
            "api://AzureADTokenExchangeChina/.default"
        }
        _ => "api://AzureADTokenExchange/.default",
    }
}

/// How long the identity endpoint has to give its token: the Azure SDK retries IMDS for up to
/// 72 seconds, longer than a caller waits.
#[cfg(feature = "azure")]
const IDENTITY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The Azure SDK's error, classed: transient (the endpoint is down, throttling, updating) or
/// not, its text bounded and stripped of control characters (it may hold the endpoint's body).
#[cfg(feature = "azure")]
fn token_credential_error(error: &azure_core::Error) -> CredentialError {
    use azure_core::error::ErrorKind;
    let mut transient = false;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = current {
        if let Some(error) = cause.downcast_ref::<azure_core::Error>() {
            transient |= match error.kind() {
                ErrorKind::Connection | ErrorKind::Io => true,
                ErrorKind::HttpResponse { status, .. } => {
                    let status = u16::from(*status);
                    status >= 500 || matches!(status, 404 | 410 | 429)
                }
                _ => false,
            };
        }
        current = cause.source();
    }
    let reason: String = error
        .to_string()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    if transient {
        CredentialError::IdentityUnavailable { reason }
    } else {
        CredentialError::TokenCredential { reason }
    }
}

/// The variable naming the user-assigned managed identity to use as the app's credential: its
/// client id.
pub const MANAGED_IDENTITY_VARIABLE: &str = "WARDEN_MANAGED_IDENTITY";

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
    /// The managed identity (or another `azure_core` `TokenCredential`) refused to give a
    /// token for the exchange: the identity named is not assigned to this host, or the host is
    /// one the Azure SDK does not support (Service Fabric, Azure Arc, Cloud Shell).
    TokenCredential {
        /// What the Azure SDK said (at most 300 characters, control characters removed).
        reason: String,
    },
    /// The identity endpoint did not answer in time, could not be reached, or answered 5xx,
    /// 429, 404 or 410 (IMDS updating): try again later. Answered as
    /// [`AcquireError::Unavailable`](crate::AcquireError::Unavailable).
    IdentityUnavailable {
        /// What the Azure SDK said (at most 300 characters, control characters removed).
        reason: String,
    },
    /// The environment asks for something this build cannot do (managed identity without the
    /// `azure` feature).
    Unsupported {
        /// What, and the feature that does it.
        what: &'static str,
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
            CredentialError::TokenCredential { reason } => {
                write!(
                    f,
                    "the token credential refused a token for the exchange: {reason}"
                )
            }
            CredentialError::IdentityUnavailable { reason } => {
                write!(f, "the identity endpoint is unavailable: {reason}")
            }
            CredentialError::Unsupported { what } => f.write_str(what),
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
    Certificate {
        certificate: std::sync::Arc<Certificate>,
        /// Whether assertions carry `x5c` (subject name and issuer trust).
        send_chain: bool,
    },
    /// Workload identity federation: a token another issuer wrote to this file (Kubernetes,
    /// GitHub Actions), read again for every request since it rotates.
    FederatedTokenFile(std::path::PathBuf),
    /// A managed identity (or any `azure_core` credential) whose token for Entra's token
    /// exchange is the client assertion: a federated credential on the app registration names
    /// the identity as its subject.
    #[cfg(feature = "azure")]
    TokenCredential(std::sync::Arc<dyn azure_core::credentials::TokenCredential>),
}

/// Where [`ClientCredential::from_environment`] found the credential it chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialSource {
    /// `WARDEN_MANAGED_IDENTITY`: a user-assigned managed identity used as the app's federated
    /// credential (feature `azure`).
    ManagedIdentity,
    /// `AZURE_FEDERATED_TOKEN_FILE`: workload identity federation.
    FederatedTokenFile,
    /// `AZURE_CLIENT_CERTIFICATE_PATH`: a PEM file holding the certificate and its key, or a
    /// PKCS#12 file (feature `pkcs12`) opened with `AZURE_CLIENT_CERTIFICATE_PASSWORD`.
    Certificate,
    /// `AZURE_CLIENT_SECRET`: the last resort.
    Secret,
}

struct Certificate {
    /// base64url SHA-256 of the certificate's DER.
    thumbprint: String,
    key: RsaKeyPair,
    /// The certificate and the chain after it, standard base64 DER, for `x5c` when sent.
    chain: Vec<String>,
}

impl fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Secret(_) => f.write_str("ClientCredential::Secret(..)"),
            Kind::Certificate { certificate, .. } => {
                write!(
                    f,
                    "ClientCredential::Certificate(x5t#S256={})",
                    certificate.thumbprint
                )
            }
            Kind::FederatedTokenFile(path) => {
                write!(
                    f,
                    "ClientCredential::FederatedTokenFile({})",
                    path.display()
                )
            }
            #[cfg(feature = "azure")]
            Kind::TokenCredential(credential) => {
                write!(f, "ClientCredential::TokenCredential({credential:?})")
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
        // Each may be one PEM file holding both (as Azure's `AZURE_CLIENT_CERTIFICATE_PATH`).
        let blocks = |text: &str, tag: &str| -> Vec<Vec<u8>> {
            pem::parse_many(text)
                .unwrap_or_default()
                .into_iter()
                .filter(|block| block.tag() == tag)
                .map(pem::Pem::into_contents)
                .collect()
        };
        let chain = blocks(certificate_pem, "CERTIFICATE");
        if chain.is_empty() {
            return Err(invalid("no CERTIFICATE in the certificate PEM"));
        }
        let key = blocks(key_pem, "PRIVATE KEY")
            .into_iter()
            .next()
            .ok_or(invalid("no PKCS#8 PRIVATE KEY in the key PEM"))?;
        Certificate::credential(chain, &key)
    }

    /// A certificate, the chain after it, and its RSA private key from a PKCS#12 file (`.pfx`,
    /// `.p12`, as Azure Key Vault and Windows export them), decrypted with `password`. As
    /// [`certificate_from_pem`](Self::certificate_from_pem) otherwise.
    ///
    /// # Errors
    ///
    /// [`CredentialError::InvalidCertificate`] when the file cannot be decrypted (a wrong
    /// password, or an MD5-based or unencrypted store), holds no private key, or its key is not
    /// RSA.
    #[cfg(feature = "pkcs12")]
    pub fn certificate_from_pkcs12(
        pkcs12: &[u8],
        password: &str,
    ) -> Result<ClientCredential, CredentialError> {
        let invalid = |reason| CredentialError::InvalidCertificate { reason };
        let store = p12_keystore::KeyStore::from_pkcs12(
            pkcs12,
            password,
            p12_keystore::Pkcs12ImportPolicy::Strict,
        )
        .map_err(|_| invalid("the PKCS#12 file cannot be read with this password"))?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or(invalid("the PKCS#12 file holds no private key"))?;
        let certificates: Vec<Vec<u8>> =
            chain.certs().iter().map(|c| c.as_der().to_vec()).collect();
        if certificates.is_empty() {
            return Err(invalid("the PKCS#12 file holds no certificate for its key"));
        }
        Certificate::credential(certificates, chain.key().as_der())
    }

    /// Assertions also carry `x5c`, the certificate and its chain, for an app registration that
    /// trusts certificates by subject name and issuer (SN/I: a certificate renewed by its CA then
    /// needs no new registration). MSAL's `WithSendX5C`.
    ///
    /// # Errors
    ///
    /// [`CredentialError::InvalidCertificate`] when the credential is not a certificate.
    pub fn send_certificate_chain(self) -> Result<ClientCredential, CredentialError> {
        match self.kind {
            Kind::Certificate { certificate, .. } => Ok(ClientCredential {
                kind: Kind::Certificate {
                    certificate,
                    send_chain: true,
                },
            }),
            _ => Err(CredentialError::InvalidCertificate {
                reason: "only a certificate credential has a chain to send",
            }),
        }
    }

    /// Workload identity federation: the token another issuer writes to `path` (a Kubernetes
    /// service account token, GitHub Actions' OIDC token) is the client assertion, read again for
    /// every request. Register a federated identity credential naming that issuer, the token's
    /// subject, and the audience `api://AzureADTokenExchange`. No secret exists at all.
    pub fn federated_token_file(path: impl Into<std::path::PathBuf>) -> ClientCredential {
        ClientCredential {
            kind: Kind::FederatedTokenFile(path.into()),
        }
    }

    /// A user-assigned managed identity used as the app's federated credential, as Microsoft
    /// recommends for an API hosted in Azure: the identity's token for
    /// `api://AzureADTokenExchange` is the client assertion, so no secret or certificate exists
    /// anywhere. Entra accepts only user-assigned identities here: `client_id` is the identity's
    /// client id. On the app registration, add a federated identity credential whose issuer is
    /// the tenant's (`https://login.microsoftonline.com/{tenant}/v2.0`), whose subject is the
    /// identity's object (principal) id and whose audience is `api://AzureADTokenExchange`;
    /// docs/downstream.md shows it.
    ///
    /// Runs on App Service, Functions and Container Apps (`IDENTITY_ENDPOINT` and
    /// `IDENTITY_HEADER`) and on virtual machines, scale sets and AKS (IMDS), through the Azure
    /// SDK's `ManagedIdentityCredential`, which caches the identity's token.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), warden_client::CredentialError> {
    /// use warden_client::{ClientCredential, TokenClient};
    ///
    /// let credential = ClientCredential::managed_identity("5e29463d-71da-4fe0-8e69-999b57db23b0")?;
    /// let client = TokenClient::builder("contoso.onmicrosoft.com", "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", credential)
    ///     .build();
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`CredentialError::TokenCredential`] when the environment is one the Azure SDK does not
    /// support (Service Fabric, Azure Arc, Cloud Shell).
    #[cfg(feature = "azure")]
    pub fn managed_identity(client_id: &str) -> Result<ClientCredential, CredentialError> {
        use azure_identity::{
            ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
        };
        let options = ManagedIdentityCredentialOptions {
            user_assigned_id: Some(UserAssignedId::ClientId(client_id.trim().to_owned())),
            ..Default::default()
        };
        let credential = ManagedIdentityCredential::new(Some(options))
            .map_err(|error| token_credential_error(&error))?;
        Ok(ClientCredential::token_credential(credential))
    }

    /// Any `azure_core` credential used as the app's federated credential: its token for
    /// `api://AzureADTokenExchange` (asked for every token request; the credential caches it)
    /// is the client assertion. [`managed_identity`](Self::managed_identity) is this with the
    /// Azure SDK's `ManagedIdentityCredential`.
    #[cfg(feature = "azure")]
    pub fn token_credential(
        credential: std::sync::Arc<dyn azure_core::credentials::TokenCredential>,
    ) -> ClientCredential {
        ClientCredential {
            kind: Kind::TokenCredential(credential),
        }
    }

    /// The credential the environment offers, in the order Microsoft recommends, and where it
    /// came from (also logged at INFO): a user-assigned managed identity
    /// (`WARDEN_MANAGED_IDENTITY`, its client id; feature `azure`), a federated token file
    /// (`AZURE_FEDERATED_TOKEN_FILE`), a certificate (`AZURE_CLIENT_CERTIFICATE_PATH`: one PEM
    /// file holding the certificate and its key, or PKCS#12 with
    /// `AZURE_CLIENT_CERTIFICATE_PASSWORD`, feature `pkcs12`; `x5c` sent when
    /// `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN` is `true`), and only then a secret
    /// (`AZURE_CLIENT_SECRET`).
    ///
    /// # Errors
    ///
    /// [`CredentialError::MissingVariable`] naming the sources when none is set;
    /// [`CredentialError::Unsupported`] when `WARDEN_MANAGED_IDENTITY` is set in a build
    /// without the `azure` feature, or a PKCS#12 certificate without `pkcs12`; the chosen
    /// source's own error when it cannot be used.
    pub fn from_environment() -> Result<(ClientCredential, CredentialSource), CredentialError> {
        ClientCredential::from_variables(|name| std::env::var(name).ok())
    }

    /// [`from_environment`](Self::from_environment), reading variables through `lookup` (the
    /// Azure SDK reads the managed identity's endpoint from the process environment itself).
    ///
    /// ```
    /// use warden_client::{ClientCredential, CredentialSource};
    ///
    /// let (_, source) = ClientCredential::from_variables(|name| {
    ///     (name == "AZURE_FEDERATED_TOKEN_FILE")
    ///         .then(|| "/var/run/secrets/azure/tokens/azure-identity-token".to_owned())
    /// })
    /// .unwrap();
    /// assert_eq!(source, CredentialSource::FederatedTokenFile);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_environment`](Self::from_environment).
    pub fn from_variables(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(ClientCredential, CredentialSource), CredentialError> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        // Only when named: the platform's variables do not say which identity the app trusts.
        let chosen = if let Some(id) = set(MANAGED_IDENTITY_VARIABLE) {
            (
                ClientCredential::managed_identity_named(&id)?,
                CredentialSource::ManagedIdentity,
            )
        } else if let Some(path) = set("AZURE_FEDERATED_TOKEN_FILE") {
            (
                ClientCredential::federated_token_file(path.trim()),
                CredentialSource::FederatedTokenFile,
            )
        } else if let Some(path) = set("AZURE_CLIENT_CERTIFICATE_PATH") {
            let bytes =
                std::fs::read(path.trim()).map_err(|_| CredentialError::UnreadableFile {
                    path: path.trim().to_owned(),
                })?;
            // PEM (the certificate and its key), else PKCS#12 with its password.
            let credential = match std::str::from_utf8(&bytes) {
                Ok(pem) if pem.contains("-----BEGIN") => {
                    ClientCredential::certificate_from_pem(pem, pem)?
                }
                _ => ClientCredential::pkcs12_named(
                    &bytes,
                    &lookup("AZURE_CLIENT_CERTIFICATE_PASSWORD").unwrap_or_default(),
                )?,
            };
            let send_chain = match set("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN") {
                None => false,
                Some(v) if v.trim() == "1" || v.trim().eq_ignore_ascii_case("true") => true,
                Some(v) if v.trim() == "0" || v.trim().eq_ignore_ascii_case("false") => false,
                Some(_) => {
                    return Err(CredentialError::InvalidCertificate {
                        reason: "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN must be true, false, 1 or 0",
                    });
                }
            };
            let credential = if send_chain {
                credential.send_certificate_chain()?
            } else {
                credential
            };
            (credential, CredentialSource::Certificate)
        } else if let Some(secret) = set("AZURE_CLIENT_SECRET") {
            (
                ClientCredential {
                    kind: Kind::Secret(secret.trim().to_owned()),
                },
                CredentialSource::Secret,
            )
        } else {
            return Err(CredentialError::MissingVariable {
                name: "WARDEN_MANAGED_IDENTITY, AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_CLIENT_SECRET"
                    .to_owned(),
            });
        };
        tracing::info!(source = ?chosen.1, "client credential chosen from the environment");
        Ok(chosen)
    }

    #[cfg(feature = "azure")]
    fn managed_identity_named(client_id: &str) -> Result<ClientCredential, CredentialError> {
        ClientCredential::managed_identity(client_id)
    }

    #[cfg(feature = "pkcs12")]
    fn pkcs12_named(pkcs12: &[u8], password: &str) -> Result<ClientCredential, CredentialError> {
        ClientCredential::certificate_from_pkcs12(pkcs12, password)
    }

    #[cfg(not(feature = "pkcs12"))]
    fn pkcs12_named(_pkcs12: &[u8], _password: &str) -> Result<ClientCredential, CredentialError> {
        Err(CredentialError::Unsupported {
            what: "a certificate that is not PEM (PKCS#12) needs warden-client's `pkcs12` feature",
        })
    }

    #[cfg(not(feature = "azure"))]
    fn managed_identity_named(_id: &str) -> Result<ClientCredential, CredentialError> {
        Err(CredentialError::Unsupported {
            what: "managed identity needs warden-client's `azure` feature",
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
    pub(crate) async fn form(
        &self,
        client_id: &str,
        token_endpoint: &str,
    ) -> Result<Vec<(&'static str, String)>, CredentialError> {
        match &self.kind {
            Kind::Secret(secret) => Ok(vec![("client_secret", secret.clone())]),
            Kind::Certificate {
                certificate,
                send_chain,
            } => Ok(vec![
                ("client_assertion_type", ASSERTION_TYPE.to_owned()),
                (
                    "client_assertion",
                    certificate.assertion(client_id, token_endpoint, *send_chain)?,
                ),
            ]),
            Kind::FederatedTokenFile(path) => {
                let token = std::fs::read_to_string(path)
                    .ok()
                    .map(|token| token.trim().to_owned())
                    .filter(|token| !token.is_empty())
                    .ok_or_else(|| CredentialError::UnreadableFile {
                        path: path.display().to_string(),
                    })?;
                Ok(vec![
                    ("client_assertion_type", ASSERTION_TYPE.to_owned()),
                    ("client_assertion", token),
                ])
            }
            #[cfg(feature = "azure")]
            Kind::TokenCredential(credential) => {
                let scope = exchange_scope(token_endpoint);
                let token =
                    tokio::time::timeout(IDENTITY_TIMEOUT, credential.get_token(&[scope], None))
                        .await
                        .map_err(|_| CredentialError::IdentityUnavailable {
                            reason: format!("no token within {} s", IDENTITY_TIMEOUT.as_secs()),
                        })?
                        .map_err(|error| token_credential_error(&error))?;
                Ok(vec![
                    ("client_assertion_type", ASSERTION_TYPE.to_owned()),
                    ("client_assertion", token.token.secret().to_owned()),
                ])
            }
        }
    }
}

impl Certificate {
    /// A certificate credential: `chain` the certificate's DER then its issuers', `key_pkcs8`
    /// its RSA key.
    fn credential(
        chain: Vec<Vec<u8>>,
        key_pkcs8: &[u8],
    ) -> Result<ClientCredential, CredentialError> {
        let key =
            RsaKeyPair::from_pkcs8(key_pkcs8).map_err(|_| CredentialError::InvalidCertificate {
                reason: "the key is not an RSA key of 2048 bits or more",
            })?;
        // The key's public half (PKCS#1 RSAPublicKey DER) is embedded, as is, in the
        // certificate's SubjectPublicKeyInfo: a key of another certificate is refused here, not
        // as AADSTS700027 at the first request.
        let public = aws_lc_rs::signature::KeyPair::public_key(&key).as_ref();
        if !chain[0]
            .windows(public.len())
            .any(|window| window == public)
        {
            return Err(CredentialError::InvalidCertificate {
                reason: "the key is not the certificate's (the first certificate is the leaf)",
            });
        }
        let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(digest::digest(&digest::SHA256, &chain[0]));
        let chain = chain
            .iter()
            .map(|der| base64::engine::general_purpose::STANDARD.encode(der))
            .collect();
        Ok(ClientCredential {
            kind: Kind::Certificate {
                certificate: std::sync::Arc::new(Certificate {
                    thumbprint,
                    key,
                    chain,
                }),
                send_chain: false,
            },
        })
    }

    /// A fresh assertion: `iss` = `sub` = the client, `aud` the token endpoint, a new `jti`,
    /// valid from now for five minutes; `x5c` when `send_chain`.
    fn assertion(
        &self,
        client_id: &str,
        token_endpoint: &str,
        send_chain: bool,
    ) -> Result<String, CredentialError> {
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
        let mut header = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": self.thumbprint});
        if send_chain {
            header["x5c"] = json!(self.chain);
        }
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

#[cfg(all(test, feature = "azure"))]
mod tests {
    use super::exchange_scope;

    #[test]
    fn the_exchange_audience_follows_the_cloud() {
        let scope = |authority: &str| exchange_scope(&format!("{authority}/t/oauth2/v2.0/token"));
        assert_eq!(
            scope("https://login.microsoftonline.com"),
            "api://AzureADTokenExchange/.default"
        );
        assert_eq!(
            scope("https://login.microsoftonline.us"),
            "api://AzureADTokenExchangeUSGov/.default"
        );
        assert_eq!(
            scope("https://login.chinacloudapi.cn"),
            "api://AzureADTokenExchangeChina/.default"
        );
    }
}
