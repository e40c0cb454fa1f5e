//! Confidential clients of the fake issuer: how a registered client proves itself at the token
//! endpoint (a secret, or a certificate's signed assertion, RFC 7523 `private_key_jwt`), and the
//! audiences an on-behalf-of assertion may name for it. Clients not registered need no proof, as
//! before.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, UnparsedPublicKey,
};
use base64::Engine as _;
use serde_json::{Value, json};

/// A confidential client, as the app registration of a middle-tier API would describe it.
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    pub(crate) client_id: String,
    pub(crate) secret: Option<String>,
    pub(crate) certificate: Option<Certificate>,
    pub(crate) federated: Vec<Federated>,
    pub(crate) audiences: Vec<String>,
    /// Whether certificate assertions must carry `x5c` (subject name and issuer trust).
    pub(crate) require_chain: bool,
    /// The redirect URIs the client registered; none means any loopback one.
    pub(crate) redirect_uris: Vec<String>,
}

/// A federated identity credential: tokens of `issuer` about `subject`, for Entra's exchange
/// audience, may sign the client in.
#[derive(Debug, Clone)]
pub(crate) struct Federated {
    issuer: String,
    subject: String,
    /// The issuer's RS256 public key, SubjectPublicKeyInfo DER.
    public_key: Vec<u8>,
}

/// The audience a federated credential's token names: Entra's token exchange.
pub const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

#[derive(Debug, Clone)]
pub(crate) struct Certificate {
    /// SHA-256 of the certificate's DER: its `x5t#S256`.
    thumbprint: Vec<u8>,
    /// The certificate's public key, SubjectPublicKeyInfo DER.
    public_key: Vec<u8>,
}

impl ClientRegistration {
    /// A client known by `client_id`; its own id is an audience on-behalf-of assertions may name.
    pub fn new(client_id: impl Into<String>) -> Self {
        let client_id = client_id.into();
        ClientRegistration {
            audiences: vec![client_id.clone()],
            client_id,
            secret: None,
            certificate: None,
            federated: Vec::new(),
            require_chain: false,
            redirect_uris: Vec::new(),
        }
    }

    /// A federated identity credential (workload identity federation): an RS256 token of
    /// `issuer` (a Kubernetes cluster, GitHub Actions, a managed identity) whose `sub` is
    /// `subject` and `aud` is [`FEDERATED_AUDIENCE`], signed by the key whose
    /// SubjectPublicKeyInfo is `public_key_der`, signs the client in.
    pub fn federated(
        mut self,
        issuer: impl Into<String>,
        subject: impl Into<String>,
        public_key_der: &[u8],
    ) -> Self {
        self.federated.push(Federated {
            issuer: issuer.into(),
            subject: subject.into(),
            public_key: public_key_der.to_vec(),
        });
        self
    }

    /// A redirect URI the client may use at the authorization endpoint: compared exactly, but
    /// for the port of `http://127.0.0.1` and `http://[::1]` (RFC 8252 §7.3). A client that
    /// registers none may use any loopback redirect URI.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }

    /// A public client: it has no secret, certificate or federated credential to prove itself
    /// with, and may not use the on-behalf-of grant.
    pub(crate) fn is_public(&self) -> bool {
        self.secret.is_none() && self.certificate.is_none() && self.federated.is_empty()
    }

    /// The client proves itself with this secret (`client_secret`).
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// The client proves itself with assertions signed by this certificate's key (RSA):
    /// `certificate_der` names it (`x5t#S256`), `public_key_der` (SubjectPublicKeyInfo) verifies.
    pub fn certificate(mut self, certificate_der: &[u8], public_key_der: &[u8]) -> Self {
        self.certificate = Some(Certificate {
            thumbprint: digest::digest(&digest::SHA256, certificate_der)
                .as_ref()
                .to_vec(),
            public_key: public_key_der.to_vec(),
        });
        self
    }

    /// Assertions signed by the certificate must carry it in `x5c` (its first element), as an
    /// app registration trusting certificates by subject name and issuer asks. The fake checks
    /// that `x5c` names the registered certificate; it does not build a chain to a CA.
    pub fn require_certificate_chain(mut self) -> Self {
        self.require_chain = true;
        self
    }

    /// Another audience (an Application ID URI) the API's tokens carry: an on-behalf-of
    /// assertion must name one of them.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }
}

/// An Entra-shaped token endpoint error: `error`, `error_description` with its AADSTS code,
/// `error_codes`.
pub(crate) fn entra_error(status: u16, error: &str, code: u32, description: &str) -> (u16, Value) {
    (
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
            "timestamp": "2026-12-07 00:00:00Z",
            "trace_id": "00000000-0000-0000-0000-000000000000",
            "correlation_id": "00000000-0000-0000-0000-000000000000",
        }),
    )
}

/// Checks a registered client's proof: its secret, or its assertion for `token_endpoint`.
pub(crate) fn authenticate(
    client: &ClientRegistration,
    secret: Option<&str>,
    assertion_type: Option<&str>,
    assertion: Option<&str>,
    token_endpoint: &str,
    now: i64,
) -> Result<(), (u16, Value)> {
    if let Some(given) = secret {
        return match &client.secret {
            Some(expected) if expected == given => Ok(()),
            _ => Err(entra_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided.",
            )),
        };
    }
    let (Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), Some(assertion)) =
        (assertion_type, assertion)
    else {
        return Err(entra_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain client_assertion or client_secret.",
        ));
    };
    let bad = |code, text| Err(entra_error(401, "invalid_client", code, text));
    let Some((header, claims, signing_input, signature)) = split(assertion) else {
        return bad(50027, "Invalid JWT token.");
    };
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    // A federated credential's token: another issuer's, about this workload.
    // The credential for the token's issuer and subject, else any of its issuer (to say 70021).
    let of_issuer = |f: &&Federated| text("iss") == Some(f.issuer.as_str());
    let federated = client
        .federated
        .iter()
        .filter(of_issuer)
        .find(|f| text("sub") == Some(f.subject.as_str()))
        .or_else(|| client.federated.iter().find(of_issuer));
    if let Some(federated) = federated {
        let signed = header.get("alg").and_then(Value::as_str) == Some("RS256")
            && UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &federated.public_key)
                .verify(signing_input.as_bytes(), &signature)
                .is_ok();
        if !signed {
            return bad(700027, "The federated token's signature is invalid.");
        }
        // Entra's own tokens (a managed identity's) sign an app in only when app-only.
        if claims.get("scp").is_some() || text("idtyp") == Some("user") {
            return bad(
                700229,
                "Only app-only tokens can be used as federated identity credentials for this issuer.",
            );
        }
        if text("sub") != Some(federated.subject.as_str())
            || text("aud") != Some(FEDERATED_AUDIENCE)
        {
            return bad(
                70021,
                "No matching federated identity record found for presented assertion.",
            );
        }
        return match claims.get("exp").and_then(Value::as_i64) {
            Some(exp) if now < exp => Ok(()),
            _ => bad(
                700024,
                "The federated token is not within its valid time range.",
            ),
        };
    }
    let Some(certificate) = &client.certificate else {
        return bad(
            700027,
            "No certificate is registered, nor a federated credential of this issuer.",
        );
    };
    let thumbprint = header
        .get("x5t#S256")
        .and_then(Value::as_str)
        .and_then(decode);
    if thumbprint.as_deref() != Some(certificate.thumbprint.as_slice()) {
        return bad(
            700027,
            "The certificate in the assertion is not registered.",
        );
    }
    // `x5c`, when sent, starts with the certificate `x5t#S256` names.
    // An array (RFC 7515), or the single string MSAL sends.
    let leaf = match header.get("x5c") {
        Some(Value::Array(chain)) => chain.first().and_then(Value::as_str),
        Some(Value::String(leaf)) => Some(leaf.as_str()),
        _ => None,
    }
    .and_then(|der| base64::engine::general_purpose::STANDARD.decode(der).ok());
    match (&leaf, header.get("x5c")) {
        (Some(leaf), _)
            if digest::digest(&digest::SHA256, leaf).as_ref() != certificate.thumbprint =>
        {
            return bad(
                700027,
                "The certificate in x5c is not the one x5t#S256 names.",
            );
        }
        (None, Some(_)) => return bad(700027, "x5c is not a certificate chain."),
        (None, None) if client.require_chain => {
            return bad(
                700027,
                "The app trusts certificates by subject name and issuer: the assertion must carry x5c.",
            );
        }
        _ => {}
    }
    let algorithm = match header.get("alg").and_then(Value::as_str) {
        Some("PS256") => &RSA_PSS_2048_8192_SHA256,
        Some("RS256") => &RSA_PKCS1_2048_8192_SHA256,
        _ => return bad(700027, "Unsupported assertion algorithm."),
    };
    if UnparsedPublicKey::new(algorithm, &certificate.public_key)
        .verify(signing_input.as_bytes(), &signature)
        .is_err()
    {
        return bad(700027, "Client assertion contains an invalid signature.");
    }
    if text("aud") != Some(token_endpoint)
        || text("iss") != Some(&client.client_id)
        || text("sub") != Some(&client.client_id)
        || text("jti").is_none()
    {
        return bad(
            700023,
            "Invalid audience, issuer, subject or jti in the client assertion.",
        );
    }
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    match (number("nbf"), number("exp")) {
        (Some(nbf), Some(exp)) if nbf <= now + 60 && now < exp && exp - nbf <= 600 => Ok(()),
        _ => bad(
            700024,
            "Client assertion is not within its valid time range.",
        ),
    }
}

/// The header, the claims, the signing input and the signature of a compact JWS.
pub(crate) fn split(jws: &str) -> Option<(Value, Value, String, Vec<u8>)> {
    let mut parts = jws.split('.');
    let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let json = |part: &str| -> Option<Value> { serde_json::from_slice(&decode(part)?).ok() };
    Some((
        json(header)?,
        json(claims)?,
        format!("{header}.{claims}"),
        decode(signature)?,
    ))
}

fn decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}
