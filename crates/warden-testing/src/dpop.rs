//! DPoP for tests: a client key, the proofs it signs, and tokens bound to it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::keys::{KeyError, SigningKey};
use warden::Algorithm;

/// A DPoP client's key pair (P-256 unless told otherwise): what a client keeps secret and proves
/// possession of with each request.
///
/// ```
/// use warden_testing::{DpopKey, FakeIssuer};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let issuer = FakeIssuer::start().await?;
/// let key = DpopKey::generate()?;
/// let token = issuer.token().subject("alice").dpop_bound(&key).sign();
/// let proof = key.proof("GET", "http://127.0.0.1:3000/orders").access_token(&token).sign();
/// // Send `Authorization: DPoP {token}` and `DPoP: {proof}`.
/// # assert!(proof.split('.').count() == 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct DpopKey {
    key: SigningKey,
}

impl DpopKey {
    /// A fresh ES256 (P-256) key.
    ///
    /// # Errors
    ///
    /// [`KeyError`] if the key cannot be generated.
    pub fn generate() -> Result<Self, KeyError> {
        Self::with_algorithm(Algorithm::ES256)
    }

    /// A fresh key for `alg` (ES256, ES384, RS256, PS256, EdDSA…).
    ///
    /// # Errors
    ///
    /// [`KeyError`] for an algorithm this crate cannot sign with.
    pub fn with_algorithm(alg: Algorithm) -> Result<Self, KeyError> {
        Ok(DpopKey {
            key: SigningKey::generate("dpop", alg)?,
        })
    }

    /// The public key as the proof header's `jwk`: key members only.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.key.public_jwk();
        if let Some(members) = jwk.as_object_mut() {
            members.remove("kid");
            members.remove("use");
            members.remove("alg");
        }
        jwk
    }

    /// The RFC 7638 thumbprint, as a bound token's `cnf.jkt`.
    pub fn thumbprint(&self) -> String {
        warden::dpop::thumbprint(&self.public_jwk()).unwrap_or_default()
    }

    /// A proof for a request: `htm` `method`, `htu` `url`, `iat` now, a random `jti`.
    pub fn proof(&self, method: &str, url: &str) -> ProofBuilder<'_> {
        let mut claims = Map::new();
        claims.insert("jti".into(), json!(random_jti()));
        claims.insert("htm".into(), json!(method));
        claims.insert("htu".into(), json!(url));
        claims.insert("iat".into(), json!(crate::clock::unix_now()));
        let mut header = Map::new();
        header.insert("typ".into(), json!("dpop+jwt"));
        header.insert("alg".into(), json!(self.key.algorithm().as_str()));
        header.insert("jwk".into(), self.public_jwk());
        ProofBuilder {
            key: self,
            header,
            claims,
        }
    }
}

/// A DPoP proof being built; [`sign`](Self::sign) makes the compact JWS.
#[derive(Debug)]
pub struct ProofBuilder<'k> {
    key: &'k DpopKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl ProofBuilder<'_> {
    /// Binds the proof to this access token (`ath`), as a resource server requires.
    pub fn access_token(mut self, token: &str) -> Self {
        self.claims
            .insert("ath".into(), json!(warden::dpop::token_hash(token)));
        self
    }

    /// Sets `iat`.
    pub fn issued_at(mut self, iat: i64) -> Self {
        self.claims.insert("iat".into(), json!(iat));
        self
    }

    /// Sets `jti`.
    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.claims.insert("jti".into(), json!(jti.into()));
        self
    }

    /// Sets or replaces a claim.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets or replaces a header member (`typ`, `alg`, `jwk`…), for attack proofs.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.header.insert(name.into(), value.into());
        self
    }

    /// The compact JWS, signed with the key's own algorithm.
    pub fn sign(self) -> String {
        let alg = self.key.key.algorithm();
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(self.header).to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(self.claims).to_string()),
        );
        let signature = self.key.key.sign(alg, input.as_bytes()).unwrap_or_default();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// 128 random bits, base64url: a proof's `jti`.
fn random_jti() -> String {
    let mut bytes = [0u8; 16];
    // aws-lc-rs's system random; a zeroed jti on failure only makes a test's proofs collide.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
