//! Tokens: well-formed ones with any claims, and attack tokens.

use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use warden::Algorithm;

use crate::keys::{KeyError, SigningKey, random_id};
use crate::state::{Mode, Shared};

/// The subject of user tokens unless told otherwise.
pub const DEFAULT_SUBJECT: &str = "user-1";
/// The client id unless told otherwise.
pub const DEFAULT_CLIENT: &str = "client-1";
/// The Entra object id of the default user.
pub const DEFAULT_USER_OID: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
/// The Entra object id of the default client application's service principal.
pub const DEFAULT_APP_OID: &str = "5b1f2e3d-0c4a-4f6e-8d7b-9a0b1c2d3e4f";

/// How the public key is encoded when used as an HMAC secret (the RS256 → HS256 confusion, CVE-2016-10555).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyEncoding {
    /// SubjectPublicKeyInfo PEM, with its trailing newline.
    SpkiPem,
    /// SubjectPublicKeyInfo PEM without the trailing newline.
    SpkiPemNoNewline,
    /// SubjectPublicKeyInfo DER.
    SpkiDer,
    /// PKCS#1 `RSA PUBLIC KEY` PEM (RSA keys only; others fall back to SPKI PEM).
    Pkcs1Pem,
    /// The public JWK as JSON text.
    JwkJson,
    /// The raw RSA modulus (or EC point / Ed25519 key) bytes.
    RawPublicKey,
}

/// Builds and signs a token; see [`FakeIssuer::token`](crate::FakeIssuer::token).
///
/// Defaults follow the issuer's mode. Generic OIDC: header `typ: at+jwt`; claims `iss`, `aud`,
/// `sub`, `client_id`, `iat`, `exp` (one hour), `jti`, and `scope` when scopes are set. Entra v2:
/// header `typ: JWT`; claims `aud`, `iss`, `iat`, `nbf`, `exp`, `azp`, `azpacr`, `oid`, `sub`,
/// `tid`, `uti`, `ver: "2.0"`, `scp` (user tokens), `roles`, `idtyp: "app"` (app-only tokens),
/// `xms_cc` (CAE-capable clients), `acrs`. Entra v1: `ver: "1.0"`, `appid`, and the issuer
/// `{base}/sts/{tid}/`.
#[must_use]
pub struct TokenBuilder<'a> {
    state: &'a Shared,
    subject: Option<String>,
    object_id: Option<String>,
    tenant: Option<String>,
    audience: Option<Value>,
    client: String,
    scopes: Vec<String>,
    roles: Vec<String>,
    app_only: bool,
    cae_capable: bool,
    acrs: Vec<String>,
    v1: bool,
    lifetime_secs: i64,
    issued_at: Option<i64>,
    not_before: Option<i64>,
    expires_at: Option<i64>,
    claims: Map<String, Value>,
    removed_claims: Vec<String>,
    header: Map<String, Value>,
    removed_header: Vec<String>,
    algorithm: Option<Algorithm>,
    kid: Option<String>,
}

impl<'a> TokenBuilder<'a> {
    pub(crate) fn new(state: &'a Shared) -> Self {
        TokenBuilder {
            state,
            subject: None,
            object_id: None,
            tenant: None,
            audience: None,
            client: DEFAULT_CLIENT.to_owned(),
            scopes: Vec::new(),
            roles: Vec::new(),
            app_only: false,
            cae_capable: false,
            acrs: Vec::new(),
            v1: false,
            lifetime_secs: 3600,
            issued_at: None,
            not_before: None,
            expires_at: None,
            claims: Map::new(),
            removed_claims: Vec::new(),
            header: Map::new(),
            removed_header: Vec::new(),
            algorithm: None,
            kid: None,
        }
    }

    /// Sets `sub`.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets `oid` (Entra mode).
    pub fn object_id(mut self, oid: impl Into<String>) -> Self {
        self.object_id = Some(oid.into());
        self
    }

    /// Sets the tenant (`tid` and the issuer, Entra mode).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets `aud` to one value.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(Value::String(audience.into()));
        self
    }

    /// Sets `aud` to an array.
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list = audiences
            .into_iter()
            .map(|a| Value::String(a.into()))
            .collect();
        self.audience = Some(Value::Array(list));
        self
    }

    /// Sets the client application (`client_id`, `azp` or `appid`).
    pub fn client(mut self, client: impl Into<String>) -> Self {
        self.client = client.into();
        self
    }

    /// Sets the delegated scopes (`scope`, or `scp` in Entra mode).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the app roles (`roles`).
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Makes an app-only token: the application acting as itself (no scopes; `sub` is the
    /// client; Entra: `idtyp: "app"`).
    pub fn app_only(mut self) -> Self {
        self.app_only = true;
        self
    }

    /// Binds the token to a DPoP key (`cnf.jkt`, RFC 9449 §6): it is then accepted only with
    /// `Authorization: DPoP` and a proof signed with that key ([`DpopKey::proof`]).
    ///
    /// [`DpopKey::proof`]: crate::DpopKey::proof
    pub fn dpop_bound(self, key: &crate::DpopKey) -> Self {
        self.claim("cnf", serde_json::json!({ "jkt": key.thumbprint() }))
    }

    /// Binds the token to a client certificate (`cnf.x5t#S256`, RFC 8705 §3.1), given as DER.
    pub fn certificate_bound(self, certificate_der: &[u8]) -> Self {
        let thumbprint = warden::mtls::ClientCertificate::from_der(certificate_der)
            .thumbprint()
            .to_owned();
        self.claim("cnf", serde_json::json!({ "x5t#S256": thumbprint }))
    }

    /// Marks the client as able to answer claims challenges (`xms_cc: ["cp1"]`).
    pub fn cae_capable(mut self) -> Self {
        self.cae_capable = true;
        self
    }

    /// Sets the satisfied authentication contexts (`acrs`, Entra).
    pub fn acrs<I, S>(mut self, acrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.acrs = acrs.into_iter().map(Into::into).collect();
        self
    }

    /// Makes an Entra v1.0 token (`ver: "1.0"`, `appid`, sts-style issuer).
    pub fn v1(mut self) -> Self {
        self.v1 = true;
        self
    }

    /// Sets the lifetime: `exp` = `iat` + lifetime (default one hour).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime_secs = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2);
        self
    }

    /// Sets `exp`, in seconds since the Unix epoch (may be in the past).
    pub fn expires_at(mut self, exp: i64) -> Self {
        self.expires_at = Some(exp);
        self
    }

    /// Sets `nbf`, in seconds since the Unix epoch.
    pub fn not_before(mut self, nbf: i64) -> Self {
        self.not_before = Some(nbf);
        self
    }

    /// Sets `iat`, in seconds since the Unix epoch.
    pub fn issued_at(mut self, iat: i64) -> Self {
        self.issued_at = Some(iat);
        self
    }

    /// Sets any claim (last word: overrides the defaults).
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Removes a claim, default or not.
    pub fn without_claim(mut self, name: impl Into<String>) -> Self {
        self.removed_claims.push(name.into());
        self
    }

    /// Sets any header member (last word: overrides `alg`, `typ`, `kid`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.header.insert(name.into(), value.into());
        self
    }

    /// Removes a header member, default or not.
    pub fn without_header(mut self, name: impl Into<String>) -> Self {
        self.removed_header.push(name.into());
        self
    }

    /// Signs with this algorithm (default: the key's own).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// Signs with the key of this kid, published or retired (default: the signing key).
    pub fn key(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    pub(crate) fn lifetime_secs(&self) -> i64 {
        self.lifetime_secs
    }

    /// The claims the token will carry.
    pub fn claims(&self) -> Map<String, Value> {
        let now = crate::clock::unix_now();
        let iat = self.issued_at.unwrap_or(now);
        let exp = self.expires_at.unwrap_or(iat + self.lifetime_secs);
        let mut claims = Map::new();
        let mut put = |name: &str, value: Value| {
            claims.insert(name.to_owned(), value);
        };
        let audience = self
            .audience
            .clone()
            .unwrap_or_else(|| Value::String(self.state.audience.clone()));
        let subject = match (&self.subject, self.app_only) {
            (Some(subject), _) => subject.clone(),
            (None, true) => self.default_app_subject(),
            (None, false) => DEFAULT_SUBJECT.to_owned(),
        };
        match &self.state.mode {
            Mode::Oidc => {
                put("iss", json!(self.state.base));
                put("aud", audience);
                put("sub", json!(subject));
                put("client_id", json!(self.client));
                put("iat", json!(iat));
                put("exp", json!(exp));
                put("jti", json!(random_id()));
                if !self.scopes.is_empty() {
                    put("scope", json!(self.scopes.join(" ")));
                }
            }
            Mode::Entra { tenant } => {
                let tid = self.tenant.as_deref().unwrap_or(tenant);
                let issuer = if self.v1 {
                    format!("{}/sts/{tid}/", self.state.base)
                } else {
                    format!("{}/{tid}/v2.0", self.state.base)
                };
                let oid = self.object_id.clone().unwrap_or_else(|| {
                    if self.app_only {
                        DEFAULT_APP_OID
                    } else {
                        DEFAULT_USER_OID
                    }
                    .to_owned()
                });
                put("aud", audience);
                put("iss", json!(issuer));
                put("iat", json!(iat));
                put("nbf", json!(self.not_before.unwrap_or(iat)));
                put("exp", json!(exp));
                if self.v1 {
                    put("appid", json!(self.client));
                    put("appidacr", json!("1"));
                } else {
                    put("azp", json!(self.client));
                    put("azpacr", json!("1"));
                }
                put("oid", json!(oid));
                put("sub", json!(subject));
                put("tid", json!(tid));
                put("uti", json!(random_id()));
                put("ver", json!(if self.v1 { "1.0" } else { "2.0" }));
                if self.app_only {
                    put("idtyp", json!("app"));
                } else if !self.scopes.is_empty() {
                    put("scp", json!(self.scopes.join(" ")));
                }
                if self.cae_capable {
                    put("xms_cc", json!(["cp1"]));
                }
                if !self.acrs.is_empty() {
                    put("acrs", json!(self.acrs));
                }
            }
        }
        if let Some(nbf) = self.not_before {
            put("nbf", json!(nbf));
        }
        if !self.roles.is_empty() {
            put("roles", json!(self.roles));
        }
        if self.cae_capable && self.state.mode == Mode::Oidc {
            put("xms_cc", json!(["cp1"]));
        }
        if !self.acrs.is_empty() && self.state.mode == Mode::Oidc {
            put("acrs", json!(self.acrs));
        }
        for (name, value) in &self.claims {
            claims.insert(name.clone(), value.clone());
        }
        for name in &self.removed_claims {
            claims.remove(name);
        }
        claims
    }

    fn default_app_subject(&self) -> String {
        match self.state.mode {
            Mode::Oidc => self.client.clone(),
            Mode::Entra { .. } => DEFAULT_APP_OID.to_owned(),
        }
    }

    fn header_for(&self, key: &SigningKey, alg: &str) -> Map<String, Value> {
        let mut header = Map::new();
        header.insert("alg".into(), json!(alg));
        let typ = match self.state.mode {
            Mode::Oidc => "at+jwt",
            Mode::Entra { .. } => "JWT",
        };
        header.insert("typ".into(), json!(typ));
        header.insert("kid".into(), json!(key.kid()));
        for (name, value) in &self.header {
            header.insert(name.clone(), value.clone());
        }
        for name in &self.removed_header {
            header.remove(name);
        }
        header
    }

    /// Signs the token.
    ///
    /// # Errors
    ///
    /// [`KeyError`] if the kid is unknown or the key cannot sign with the algorithm.
    pub fn try_sign(self) -> Result<String, KeyError> {
        let key = self.state.key(self.kid.as_deref())?;
        let algorithm = self.algorithm.unwrap_or(key.algorithm());
        let header = self.header_for(&key, algorithm.as_str());
        let signing_input = signing_input(&header, &self.claims());
        let signature = key.sign(algorithm, signing_input.as_bytes())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// Signs the token.
    ///
    /// # Panics
    ///
    /// If the kid is unknown or the key cannot sign with the algorithm: a mistake in the test.
    pub fn sign(self) -> String {
        self.try_sign()
            .unwrap_or_else(|e| panic!("the fake issuer cannot sign this token: {e}"))
    }

    /// An unsigned token: header `alg` set to `alg_text` (`none`, `None`, `NONE`, `nOnE`, `""`),
    /// empty signature.
    pub fn sign_unsigned(mut self, alg_text: &str) -> String {
        self.header.insert("alg".into(), json!(alg_text));
        let key = self.state.key(self.kid.as_deref());
        let header = match &key {
            Ok(key) => self.header_for(key, key.algorithm().as_str()),
            Err(_) => self.header.clone(),
        };
        format!("{}.", signing_input(&header, &self.claims()))
    }

    /// HS256 keyed with the issuer's public key in some encoding (CVE-2016-10555).
    ///
    /// # Panics
    ///
    /// If the kid is unknown.
    pub fn sign_hs256_with_public_key(mut self, encoding: KeyEncoding) -> String {
        let key = self
            .state
            .key(self.kid.as_deref())
            .unwrap_or_else(|e| panic!("the fake issuer has no such key: {e}"));
        let secret = match encoding {
            KeyEncoding::SpkiPem => key.public_pem().into_bytes(),
            KeyEncoding::SpkiPemNoNewline => key.public_pem().trim_end().as_bytes().to_vec(),
            KeyEncoding::SpkiDer => key.public_spki_der(),
            KeyEncoding::Pkcs1Pem => key
                .public_pkcs1_pem()
                .unwrap_or_else(|| key.public_pem())
                .into_bytes(),
            KeyEncoding::JwkJson => key.public_jwk().to_string().into_bytes(),
            KeyEncoding::RawPublicKey => raw_public_key(&key),
        };
        self.header.insert("alg".into(), json!("HS256"));
        let header = self.header_for(&key, "HS256");
        let input = signing_input(&header, &self.claims());
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &secret),
            input.as_bytes(),
        );
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Signed by a fresh key that was never published, under the signing key's kid.
    ///
    /// # Panics
    ///
    /// If the signing key is unknown or a key cannot be generated.
    pub fn sign_with_unpublished_key(self) -> String {
        let published = self
            .state
            .key(self.kid.as_deref())
            .unwrap_or_else(|e| panic!("the fake issuer has no such key: {e}"));
        let attacker = SigningKey::generate(published.kid(), published.algorithm())
            .unwrap_or_else(|e| panic!("cannot generate a key: {e}"));
        self.sign_with(&attacker)
    }

    /// A valid token whose payload was changed after signing (`sub` replaced by `admin`).
    pub fn sign_tampered(self) -> String {
        let mut claims = self.claims();
        let token = self.sign();
        let mut parts = token.splitn(3, '.');
        let (header, _, signature) = (parts.next(), parts.next(), parts.next());
        claims.insert("sub".into(), json!("admin"));
        format!(
            "{}.{}.{}",
            header.unwrap_or_default(),
            b64_json(&Value::Object(claims)),
            signature.unwrap_or_default()
        )
    }

    /// A valid token whose signature is replaced by `signature` (raw bytes): for ECDSA edge
    /// cases such as r = s = 0 (CVE-2022-21449) or r = s = n.
    pub fn sign_with_signature_bytes(self, signature: &[u8]) -> String {
        let token = self.sign();
        let input = token
            .rsplit_once('.')
            .map_or("", |(input, _)| input)
            .to_owned();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// A valid ES256/ES384 token whose fixed-size `r || s` signature is re-encoded as DER, as
    /// some libraries wrongly emit (RFC 7518 §3.4 requires the fixed form).
    ///
    /// # Panics
    ///
    /// If the signature cannot be decoded (a mistake in the test).
    pub fn sign_with_der_signature(self) -> String {
        let token = self.sign();
        let (input, signature) = token.rsplit_once('.').unwrap_or_default();
        let raw = URL_SAFE_NO_PAD
            .decode(signature)
            .unwrap_or_else(|e| panic!("bad signature encoding: {e}"));
        let (r, s) = raw.split_at(raw.len() / 2);
        let mut body = crate::keys::der_integer(r);
        body.extend(crate::keys::der_integer(s));
        let der = crate::keys::der_tlv(0x30, &body);
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(der))
    }

    /// Signed by an attacker's key whose public JWK is embedded in the header (CVE-2018-0114).
    ///
    /// # Panics
    ///
    /// If a key cannot be generated.
    pub fn sign_with_embedded_jwk(mut self) -> String {
        let attacker = SigningKey::generate("attacker", Algorithm::RS256)
            .unwrap_or_else(|e| panic!("cannot generate a key: {e}"));
        self.header.insert("jwk".into(), attacker.public_jwk());
        self.sign_with(&attacker)
    }

    /// Signed by an attacker's key, with `jku` pointing at `url` (where the attacker serves it).
    ///
    /// # Panics
    ///
    /// If a key cannot be generated.
    pub fn sign_with_key_url(mut self, member: &str, url: &str) -> String {
        let attacker = SigningKey::generate("attacker", Algorithm::RS256)
            .unwrap_or_else(|e| panic!("cannot generate a key: {e}"));
        self.header.insert(member.into(), json!(url));
        self.sign_with(&attacker)
    }

    /// Signs with a key that is not the issuer's (any other [`SigningKey`]).
    ///
    /// # Panics
    ///
    /// If the key cannot sign with its own algorithm.
    pub fn sign_with(self, key: &SigningKey) -> String {
        let algorithm = self.algorithm.unwrap_or(key.algorithm());
        let header = self.header_for(key, algorithm.as_str());
        let input = signing_input(&header, &self.claims());
        let signature = key
            .sign(algorithm, input.as_bytes())
            .unwrap_or_else(|e| panic!("cannot sign: {e}"));
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

fn raw_public_key(key: &SigningKey) -> Vec<u8> {
    let jwk = key.public_jwk();
    let member = if jwk["kty"] == "RSA" { "n" } else { "x" };
    URL_SAFE_NO_PAD
        .decode(jwk[member].as_str().unwrap_or_default())
        .unwrap_or_default()
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn signing_input(header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
    format!(
        "{}.{}",
        b64_json(&Value::Object(header.clone())),
        b64_json(&Value::Object(claims.clone()))
    )
}

/// Standard base64 with padding, as Microsoft's `claims=` challenge parameter uses.
pub fn decode_claims_challenge(value: &str) -> Option<Value> {
    let bytes = STANDARD.decode(value).ok()?;
    serde_json::from_slice(&bytes).ok()
}
