//! The fake issuer's state, shared by its HTTP handlers and the token builder: its mode, its key
//! ring, its faults and counters.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::keys::{KeyError, SigningKey};

/// Which authority the fake imitates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    Oidc,
    Entra { tenant: String },
}

/// An endpoint of the fake issuer, for faults and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// The OpenID Connect discovery document(s).
    Discovery,
    /// The JWKS document(s).
    Jwks,
    /// The token endpoint.
    Token,
    /// The managed-identity endpoints (App Service's `/msi/token`, IMDS's token path).
    ManagedIdentity,
}

impl Endpoint {
    /// The endpoint's name in the HTTP fault API and the configuration file.
    pub(crate) fn named(name: &str) -> Option<Endpoint> {
        match name {
            "discovery" => Some(Endpoint::Discovery),
            "jwks" => Some(Endpoint::Jwks),
            "token" => Some(Endpoint::Token),
            "managed_identity" => Some(Endpoint::ManagedIdentity),
            _ => None,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Endpoint::Discovery => 0,
            Endpoint::Jwks => 1,
            Endpoint::Token => 2,
            Endpoint::ManagedIdentity => 3,
        }
    }
}

/// A failure the fake issuer can be told to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this HTTP status and a short text body.
    Status(u16),
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Answer 200 with an HTML page, as a captive portal or a misrouted proxy would.
    Html,
    /// Answer a JWKS with no keys (`{"keys":[]}`), or a discovery document without `jwks_uri`.
    EmptyKeySet,
    /// Answer a discovery document whose `issuer` is another URL.
    WrongIssuer,
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Never answer.
    Hang,
    /// Answer the normal document padded to at least this many bytes.
    Oversized(usize),
}

/// A managed identity assigned to the fake host.
#[derive(Debug, Clone)]
pub(crate) struct AssignedIdentity {
    /// `false` for the system-assigned identity.
    pub(crate) user_assigned: bool,
    pub(crate) client_id: String,
    pub(crate) object_id: String,
}

/// A fault as JSON (`POST /_fake/faults/{endpoint}`, the configuration file's `faults`):
/// exactly one of `{"status": 503}`, `{"delay_ms": 200}`, `{"oversized_bytes": 2000000}` or
/// `{"kind": "garbage" | "html" | "empty" | "wrong_issuer" | "hang"}`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultRequest {
    status: Option<u16>,
    delay_ms: Option<u64>,
    oversized_bytes: Option<usize>,
    kind: Option<String>,
}

impl FaultRequest {
    /// The fault, when exactly one is named and known.
    pub(crate) fn fault(&self) -> Option<Fault> {
        match (
            self.status,
            self.delay_ms,
            self.oversized_bytes,
            self.kind.as_deref(),
        ) {
            (Some(code), None, None, None) => Some(Fault::Status(code)),
            (None, Some(ms), None, None) => Some(Fault::Delay(Duration::from_millis(ms))),
            (None, None, Some(bytes), None) => Some(Fault::Oversized(bytes)),
            (None, None, None, Some("garbage")) => Some(Fault::Garbage),
            (None, None, None, Some("html")) => Some(Fault::Html),
            (None, None, None, Some("empty")) => Some(Fault::EmptyKeySet),
            (None, None, None, Some("wrong_issuer")) => Some(Fault::WrongIssuer),
            (None, None, None, Some("hang")) => Some(Fault::Hang),
            _ => None,
        }
    }
}

pub(crate) struct RingKey {
    pub(crate) key: Arc<SigningKey>,
    pub(crate) published: bool,
}

pub(crate) struct KeyRing {
    pub(crate) keys: Vec<RingKey>,
    pub(crate) signing: String,
}

pub(crate) struct Shared {
    pub(crate) mode: Mode,
    pub(crate) base: String,
    pub(crate) audience: String,
    pub(crate) ring: Mutex<KeyRing>,
    pub(crate) faults: Mutex<HashMap<Endpoint, Fault>>,
    pub(crate) hits: [AtomicU64; 4],
    pub(crate) jwks_max_age: Mutex<Option<u64>>,
    pub(crate) transmitter: Transmitter,
    /// Registered confidential clients, by id.
    pub(crate) clients: Mutex<HashMap<String, crate::clients::ClientRegistration>>,
    /// Answers the token endpoint gives next, in order, before anything else.
    pub(crate) token_errors: Mutex<VecDeque<(u16, Value)>>,
    /// The managed identities assigned to the fake host.
    pub(crate) identities: Mutex<Vec<AssignedIdentity>>,
    /// Authorization codes and refresh-token families.
    pub(crate) authorizations: Mutex<crate::authorization::Authorizations>,
    /// Whether the authorization endpoint takes `code_challenge_method=plain`.
    pub(crate) allow_plain_pkce: bool,
    /// Whether client metadata documents may be fetched over plain http on loopback.
    pub(crate) client_metadata_on_loopback: bool,
    /// Users' claims, added to their tokens when they sign in.
    pub(crate) users: Mutex<std::collections::BTreeMap<String, serde_json::Map<String, Value>>>,
}

pub(crate) fn b64_bytes(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Locks a mutex, recovering the data if a panicking test poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// The key with this kid (any, published or not), or the signing key.
    pub(crate) fn key(&self, kid: Option<&str>) -> Result<Arc<SigningKey>, KeyError> {
        let ring = self.ring();
        let kid = kid.unwrap_or(&ring.signing);
        ring.keys
            .iter()
            .find(|k| k.key.kid() == kid)
            .map(|k| k.key.clone())
            .ok_or_else(|| KeyError::UnknownKey(kid.to_owned()))
    }

    /// A key the JWKS publishes, by kid: what a verifier of this issuer's tokens would find.
    pub(crate) fn published_key(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.ring()
            .keys
            .iter()
            .find(|k| k.published && k.key.kid() == kid)
            .map(|k| k.key.clone())
    }

    /// The path this issuer is served at (`/partner-a` for one of several on a port; empty at
    /// the root), for the pages' scripts.
    pub(crate) fn path_prefix(&self) -> String {
        self.base
            .split("://")
            .nth(1)
            .and_then(|rest| rest.find('/').map(|slash| rest[slash..].to_owned()))
            .unwrap_or_default()
    }

    /// The issuer of tokens: the base URL (OIDC mode) or `{base}/{tenant}/v2.0` (Entra mode).
    pub(crate) fn token_issuer(&self) -> String {
        match &self.mode {
            Mode::Oidc => self.base.clone(),
            Mode::Entra { tenant } => format!("{}/{tenant}/v2.0", self.base),
        }
    }

    /// The JWKS URL.
    pub(crate) fn jwks_url(&self) -> String {
        match &self.mode {
            Mode::Oidc => format!("{}/jwks", self.base),
            Mode::Entra { tenant } => format!("{}/{tenant}/discovery/v2.0/keys", self.base),
        }
    }

    /// Adds a published key with this kid, unless one has it already.
    pub(crate) fn add_key(&self, kid: &str, algorithm: warden::Algorithm) -> Result<(), KeyError> {
        let mut ring = self.ring();
        if ring.keys.iter().any(|k| k.key.kid() == kid) {
            return Ok(());
        }
        let key = SigningKey::generate(kid.to_owned(), algorithm)?;
        ring.keys.push(RingKey {
            key: Arc::new(key),
            published: true,
        });
        Ok(())
    }

    /// Publishes a new key, makes it the signing key and retires the old one from the JWKS, in
    /// one step. Returns the new kid.
    pub(crate) fn rotate(&self, algorithm: warden::Algorithm) -> Result<String, KeyError> {
        let mut ring = self.ring();
        let kid = format!("key-{}", ring.keys.len() + 1);
        let key = SigningKey::generate(kid.clone(), algorithm)?;
        let old = std::mem::replace(&mut ring.signing, kid.clone());
        ring.keys.push(RingKey {
            key: Arc::new(key),
            published: true,
        });
        for key in ring.keys.iter_mut().filter(|k| k.key.kid() == old) {
            key.published = false;
        }
        Ok(kid)
    }

    pub(crate) fn ring(&self) -> MutexGuard<'_, KeyRing> {
        lock(&self.ring)
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, HashMap<Endpoint, Fault>> {
        lock(&self.faults)
    }

    /// The published keys; in Entra mode each carries the templated `issuer` member.
    pub(crate) fn jwks(&self, issuer_member: Option<&str>) -> Value {
        let ring = self.ring();
        let keys: Vec<Value> = ring
            .keys
            .iter()
            .filter(|k| k.published)
            .map(|k| {
                let mut jwk = k.key.public_jwk();
                if let Some(issuer) = issuer_member {
                    jwk["issuer"] = json!(issuer);
                }
                jwk
            })
            .collect();
        json!({ "keys": keys })
    }
}

/// The transmitter's streams and poll queues.
#[derive(Default)]
pub(crate) struct Transmitter {
    pub(crate) streams: Mutex<HashMap<String, Stream>>,
    pub(crate) next_stream: AtomicU64,
    pub(crate) next_jti: AtomicU64,
    /// Wakes held long polls.
    pub(crate) queued: Notify,
    /// What receivers reported in `setErrs`: (jti, err).
    pub(crate) set_errors: Mutex<Vec<(String, String)>>,
    /// The jtis receivers acknowledged.
    pub(crate) acknowledged: Mutex<Vec<String>>,
}

#[derive(Clone)]
pub(crate) struct Stream {
    pub(crate) id: String,
    pub(crate) delivery: StreamDelivery,
    pub(crate) events_requested: Vec<String>,
    pub(crate) audience: String,
    pub(crate) queue: VecDeque<(String, String)>,
}

#[derive(Clone)]
pub(crate) enum StreamDelivery {
    Push {
        endpoint_url: String,
        authorization: Option<String>,
    },
    Poll,
}
