//! [`SetBuilder`]: a signed security event token, delivered or returned; [`PushAnswer`].

use std::sync::atomic::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::keys::{KeyError, SigningKey};
use crate::state::Shared;

use super::{CAEP, RISC};

/// What a receiver answered to a pushed SET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body, as text.
    pub body: String,
    /// The `WWW-Authenticate` header, if any.
    pub www_authenticate: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `Content-Language` header, if any.
    pub content_language: Option<String>,
}

impl PushAnswer {
    /// The RFC 8935 `err` code of a refusal, if the body holds one.
    pub fn err(&self) -> Option<String> {
        serde_json::from_str::<Value>(&self.body)
            .ok()?
            .get("err")?
            .as_str()
            .map(str::to_owned)
    }
}

/// Builds a Security Event Token signed by the fake issuer; see [`FakeIssuer::security_event`](crate::FakeIssuer::security_event).
///
/// Defaults: `typ` `secevent+jwt`, the signing key, `iss` the transmitter, `aud` the issuer's
/// audience, a fresh `jti`, `iat` now, `sub_id` the default user as `iss_sub` of the token
/// issuer, and a CAEP `session-revoked` event at now.
#[must_use]
pub struct SetBuilder<'a> {
    state: &'a Shared,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    event_uri: String,
    event: Map<String, Value>,
}

impl<'a> SetBuilder<'a> {
    pub(crate) fn new(state: &'a Shared) -> Self {
        let jti = format!(
            "set-{}-{}",
            crate::clock::unix_now(),
            state.transmitter.next_jti.fetch_add(1, Ordering::Relaxed)
        );
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(state.base));
        claims.insert("aud".into(), json!(state.audience));
        claims.insert("iat".into(), json!(crate::clock::unix_now()));
        claims.insert("jti".into(), json!(jti));
        claims.insert(
            "sub_id".into(),
            json!({"format":"iss_sub","iss": state.token_issuer(),"sub": crate::DEFAULT_SUBJECT}),
        );
        let mut header = Map::new();
        header.insert("typ".into(), json!("secevent+jwt"));
        let mut event = Map::new();
        event.insert("event_timestamp".into(), json!(crate::clock::unix_now()));
        SetBuilder {
            state,
            header,
            claims,
            event_uri: format!("{CAEP}session-revoked"),
            event,
        }
    }

    /// A CAEP event (`session-revoked`, `credential-change`, …), its fields replaced by `fields`
    /// (an object; `event_timestamp` stays unless `fields` sets it).
    pub fn caep(self, name: &str, fields: Value) -> Self {
        self.event(format!("{CAEP}{name}"), fields)
    }

    /// A RISC event (`account-disabled`, …).
    pub fn risc(self, name: &str, fields: Value) -> Self {
        self.event(format!("{RISC}{name}"), fields)
    }

    /// Any event type, with these fields.
    pub fn event(mut self, uri: impl Into<String>, fields: Value) -> Self {
        self.event_uri = uri.into();
        if let Value::Object(fields) = fields {
            for (name, value) in fields {
                self.event.insert(name, value);
            }
        }
        self
    }

    /// The event's `event_timestamp` (seconds since the Unix epoch).
    pub fn event_timestamp(mut self, secs: i64) -> Self {
        self.event.insert("event_timestamp".into(), json!(secs));
        self
    }

    /// Removes the event's `event_timestamp` (the SET's `iat` is then the event time).
    pub fn without_event_timestamp(mut self) -> Self {
        self.event.remove("event_timestamp");
        self
    }

    /// The subject (`sub_id`), as JSON.
    pub fn subject(mut self, sub_id: Value) -> Self {
        self.claims.insert("sub_id".into(), sub_id);
        self
    }

    /// The subject `iss_sub` of this token issuer and subject.
    pub fn user(self, sub: &str) -> Self {
        let iss = self.state.token_issuer();
        self.subject(json!({"format":"iss_sub","iss":iss,"sub":sub}))
    }

    /// The `aud`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.claims.insert("aud".into(), json!(audience.into()));
        self
    }

    /// The `jti`.
    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.claims.insert("jti".into(), json!(jti.into()));
        self
    }

    /// Any claim (replacing one).
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Any header parameter (replacing one; `typ` included).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.header.insert(name.into(), value.into());
        self
    }

    /// The claims the SET will carry.
    pub fn claims(&self) -> Map<String, Value> {
        let mut claims = self.claims.clone();
        if !claims.contains_key("events") {
            let mut events = Map::new();
            events.insert(self.event_uri.clone(), Value::Object(self.event.clone()));
            claims.insert("events".into(), Value::Object(events));
        }
        claims
    }

    /// The `jti` the SET will carry.
    pub fn jti_value(&self) -> String {
        self.claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// Signs the SET with the issuer's signing key.
    ///
    /// # Errors
    ///
    /// [`KeyError`] if the key cannot sign.
    pub fn try_sign(self) -> Result<String, KeyError> {
        let key = self.state.key(None)?;
        self.sign_with(&key)
    }

    /// Signs the SET with the issuer's signing key.
    ///
    /// # Panics
    ///
    /// If the key cannot sign: a mistake in the test.
    pub fn sign(self) -> String {
        self.try_sign()
            .unwrap_or_else(|e| panic!("the fake transmitter cannot sign this SET: {e}"))
    }

    /// Signed by a fresh key that was never published, under the signing key's kid.
    ///
    /// # Panics
    ///
    /// If a key cannot be generated.
    pub fn sign_with_unpublished_key(self) -> String {
        let published = self
            .state
            .key(None)
            .unwrap_or_else(|e| panic!("the fake issuer has no signing key: {e}"));
        let attacker = SigningKey::generate(published.kid(), published.algorithm())
            .unwrap_or_else(|e| panic!("cannot generate a key: {e}"));
        self.sign_with(&attacker)
            .unwrap_or_else(|e| panic!("cannot sign: {e}"))
    }

    /// A validly signed SET whose payload was changed afterwards (the subject replaced).
    pub fn sign_tampered(self) -> String {
        let mut claims = self.claims();
        let set = self.sign();
        let mut parts = set.splitn(3, '.');
        let (header, _, signature) = (parts.next(), parts.next(), parts.next());
        claims.insert(
            "sub_id".into(),
            json!({"format":"opaque","id":"someone-else"}),
        );
        format!(
            "{}.{}.{}",
            header.unwrap_or_default(),
            URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string()),
            signature.unwrap_or_default()
        )
    }

    /// An unsigned SET: `alg` `none`, empty signature.
    pub fn sign_unsigned(mut self) -> String {
        self.header.insert("alg".into(), json!("none"));
        format!("{}.", self.signing_input(&self.header))
    }

    fn sign_with(self, key: &SigningKey) -> Result<String, KeyError> {
        let mut header = Map::new();
        header.insert("alg".into(), json!(key.algorithm().as_str()));
        header.insert("kid".into(), json!(key.kid()));
        for (name, value) in &self.header {
            header.insert(name.clone(), value.clone());
        }
        let input = self.signing_input(&header);
        let signature = key.sign(key.algorithm(), input.as_bytes())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    fn signing_input(&self, header: &Map<String, Value>) -> String {
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(header.clone()).to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(self.claims()).to_string())
        )
    }
}
