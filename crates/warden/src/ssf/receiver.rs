//! The receiver: verifies SETs from one transmitter and turns their events into revocation
//! rules, recorded signals, or verification.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::event::{CredentialChangeType, EventKind};
use super::mapping::{Mapping, Reach};
use super::set::{self, Expected, SecurityEvent, SetError};
use super::signals::{AssuranceSignal, ComplianceSignal, RiskSignal, Signals, SubjectSignals};
use super::subject::Subject;
use super::transmitter::TransmitterConfiguration;
use crate::algorithm::{Algorithm, DEFAULT_ALGORITHMS};
use crate::cae::{Revocation, RevocationStore};
use crate::clock::{self, Clock, SystemClock};
use crate::error::{ConfigError, Setting};
use crate::keys::{JwksCache, KeySet, KeySource, Refresh, VerifyingKey};
use crate::token;

/// How many SET ids are remembered to recognise a redelivery. One forgotten and delivered again
/// is applied again, which changes nothing: rules and signals keep their latest instant.
const REMEMBERED_SETS: usize = 100_000;
/// How many verification requests may wait for their event at once.
const PENDING_VERIFICATIONS: usize = 16;
/// How long a verification request waits for its event.
const VERIFICATION_WINDOW: Duration = Duration::from_secs(600);
/// The oldest a verification SET may be (by its `iat`): it proves the stream works now, so an
/// old one delivered again proves nothing. Revoking events have no such bound: an old
/// revocation is still a revocation.
const MAX_VERIFICATION_AGE: Duration = Duration::from_secs(600);
/// The retry hint when the transmitter's keys are unavailable and the key source gives none.
const KEYS_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Receives the security events of one transmitter: verifies each SET, revokes what its event
/// revokes through the [`RevocationStore`] the API's validator reads, and records the rest.
/// Cheap to clone; see the [module documentation](super) for the whole flow.
#[derive(Clone, Debug)]
pub struct Receiver {
    inner: Arc<Inner>,
}

struct Inner {
    configuration: TransmitterConfiguration,
    audience: String,
    algorithms: Vec<Algorithm>,
    keys: Arc<dyn KeySource>,
    revocations: Arc<dyn RevocationStore>,
    speaks_for: Vec<String>,
    tenants: Vec<String>,
    max_clock_skew: Duration,
    clock: Arc<dyn Clock>,
    seen: quick_cache::sync::Cache<String, ()>,
    signals: Signals,
    /// States asked for, and when (on the monotonic clock: a stepped wall clock neither
    /// extends nor cuts a request's window).
    pending_states: Mutex<Vec<(String, tokio::time::Instant)>>,
    /// The ids of the streams `StreamClient` created or read (at most 16, newest kept).
    streams: Mutex<Vec<String>>,
    /// The ids of streams the builder was told of (`ReceiverBuilder::stream_id`), kept for good.
    configured_streams: Vec<String>,
    verified_at: AtomicU64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("transmitter", &self.configuration.issuer())
            .field("audience", &self.audience)
            .field("speaks_for", &self.speaks_for)
            .field("tenants", &self.tenants)
            .finish_non_exhaustive()
    }
}

/// What a received SET did.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    event: SecurityEvent,
    action: Action,
}

impl Received {
    /// The verified event.
    pub fn event(&self) -> &SecurityEvent {
        &self.event
    }

    /// What it did.
    pub fn action(&self) -> &Action {
        &self.action
    }
}

/// What a received SET did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// These rules were added to the revocation store: tokens their subject was issued before
    /// the event are revoked.
    Revoked(Vec<Revocation>),
    /// A signal was recorded for requirements to read ([`Receiver::signals`]).
    Recorded,
    /// A verification event matched (or needed no state).
    Verified,
    /// The same SET (`jti`) was received before; nothing was done again.
    AlreadyReceived,
    /// Acknowledged and logged, with no effect.
    Ignored {
        /// Why.
        reason: &'static str,
    },
}

/// Configures a [`Receiver`]; see [`Receiver::builder`].
#[must_use]
#[derive(Debug)]
pub struct ReceiverBuilder {
    configuration: TransmitterConfiguration,
    audience: String,
    algorithms: Vec<Algorithm>,
    keys: Option<Arc<dyn KeySource>>,
    revocations: Option<Arc<dyn RevocationStore>>,
    speaks_for: Vec<String>,
    tenants: Vec<String>,
    max_clock_skew: Duration,
    clock: Arc<dyn Clock>,
    streams: Vec<String>,
}

impl Receiver {
    /// Starts configuring a receiver of `configuration`'s transmitter, whose SETs name this
    /// receiver by `audience` (`aud`).
    pub fn builder(
        configuration: TransmitterConfiguration,
        audience: impl Into<String>,
    ) -> ReceiverBuilder {
        ReceiverBuilder {
            configuration,
            audience: audience.into(),
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            keys: None,
            revocations: None,
            speaks_for: Vec::new(),
            tenants: Vec::new(),
            max_clock_skew: crate::validator::DEFAULT_LEEWAY,
            clock: Arc::new(SystemClock),
            streams: Vec::new(),
        }
    }

    /// Verifies one SET and acts on its event. Resolves once every rule the event adds is held
    /// as durably as the revocation store promises (for a fleet store, by the whole fleet), so
    /// a transmitter that is answered success may forget the SET. When the store fails on one
    /// of an event's rules, the rules stored before it stay (each revokes what the event says)
    /// and the SET is not remembered, so its redelivery stores the rest.
    ///
    /// # Errors
    ///
    /// [`SetError`]: its [`code`](SetError::code) is what the transmitter is told; without a
    /// code the SET should be delivered again later, and nothing was remembered.
    pub async fn receive(&self, set: &str) -> Result<Received, SetError> {
        self.receive_as(set, None).await
    }

    /// [`Receiver::receive`], for a SET delivered under a `jti` (RFC 8936's `sets` map): one whose
    /// own `jti` differs is refused before it has any effect.
    pub(crate) async fn receive_as(
        &self,
        set: &str,
        delivered_as: Option<&str>,
    ) -> Result<Received, SetError> {
        let received = self.receive_checked(set, delivered_as).await;
        let (event, outcome) = match &received {
            Ok(received) => (
                received.event.event().kind.name(),
                match &received.action {
                    Action::Revoked(_) => "revoked",
                    Action::Recorded => "recorded",
                    Action::Verified => "verified",
                    Action::AlreadyReceived => "duplicate",
                    Action::Ignored { .. } => "ignored",
                },
            ),
            // Refused before it was read or verified: its type is not to be trusted.
            Err(_) => ("unverified", "refused"),
        };
        crate::observability::ssf_event(event, outcome);
        received
    }

    async fn receive_checked(
        &self,
        set: &str,
        delivered_as: Option<&str>,
    ) -> Result<Received, SetError> {
        let inner = &*self.inner;
        let expected = Expected {
            issuer: inner.configuration.issuer(),
            audience: &inner.audience,
            algorithms: &inner.algorithms,
        };
        let unverified = set::read(set, &expected)?;
        let keys = inner.keys_for(unverified.jws.kid.as_deref()).await?;
        let key = keys
            .find(unverified.jws.kid.as_deref(), unverified.jws.alg)
            .ok_or(SetError::UnknownKey)?;
        verify(key, &unverified.jws)?;
        let event = unverified.event;
        if delivered_as.is_some_and(|jti| jti != event.jti()) {
            return Err(SetError::InvalidClaims(
                "the SET's jti is not the one it was delivered under",
            ));
        }
        if inner.seen.get(event.jti()).is_some() {
            return Ok(Received {
                event,
                action: Action::AlreadyReceived,
            });
        }
        let action = inner.act(&event).await?;
        inner.seen.insert(event.jti().to_owned(), ());
        log(&event, &action);
        Ok(Received { event, action })
    }

    /// The signals recorded from events that revoke nothing by themselves.
    pub fn signals(&self) -> &Signals {
        &self.inner.signals
    }

    /// The transmitter's configuration.
    pub fn configuration(&self) -> &TransmitterConfiguration {
        &self.inner.configuration
    }

    /// The audience SETs must name.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// When a verification event was last received (seconds since the Unix epoch).
    pub fn last_verified_at(&self) -> Option<u64> {
        match self.inner.verified_at.load(Ordering::Acquire) {
            0 => None,
            at => Some(at),
        }
    }

    /// Remembers a stream of this receiver, so verification events must name it.
    pub(crate) fn remember_stream(&self, stream_id: &str) {
        let mut streams = lock(&self.inner.streams);
        if !streams.iter().any(|known| known == stream_id) {
            if streams.len() >= PENDING_VERIFICATIONS {
                streams.remove(0);
            }
            streams.push(stream_id.to_owned());
        }
    }

    /// Expects a verification event carrying `state` (SSF 1.0 §8.1.4.1), for the next ten
    /// minutes; [`StreamClient::request_verification`](super::StreamClient::request_verification)
    /// calls it. A verification event with a state not expected is refused with
    /// `invalid_state`.
    pub fn expect_verification(&self, state: impl Into<String>) {
        let now = tokio::time::Instant::now();
        let mut pending = lock(&self.inner.pending_states);
        pending.retain(|(_, since)| now.duration_since(*since) < VERIFICATION_WINDOW);
        if pending.len() == PENDING_VERIFICATIONS {
            pending.remove(0);
        }
        pending.push((state.into(), now));
    }
}

impl Inner {
    /// The transmitter's keys, fetched again when the SET names a key they lack. A `kid` still
    /// missing from a fresh fetch is unknown (`invalid_key`, final); a fetch that cannot happen
    /// now (the cooldown after the last unknown `kid`) or failed is the receiver's trouble: the
    /// transmitter is asked to deliver again, so an event signed just after a key rotation, or
    /// during a JWKS outage, is not lost.
    async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, SetError> {
        let snapshot = self.keys.snapshot();
        if let Some(set) = &snapshot
            && kid.is_none_or(|kid| set.contains_kid(kid))
        {
            return Ok(set.clone());
        }
        match self.keys.refresh() {
            // A source that will not fetch now but will later (a cooldown, a back-off): ask for
            // the SET again then. A source that never fetches (static keys): the snapshot is
            // all there is, and the kid is unknown for good.
            Refresh::NotNow {
                retry_after: Some(retry_after),
            } => Err(SetError::KeysUnavailable { retry_after }),
            Refresh::NotNow { retry_after: None } => match snapshot {
                Some(_) => Err(SetError::UnknownKey),
                None => Err(SetError::KeysUnavailable {
                    retry_after: KEYS_RETRY_AFTER,
                }),
            },
            Refresh::Pending(fetch) => match fetch.await {
                Ok(set) => Ok(set),
                Err(unavailable) => Err(SetError::KeysUnavailable {
                    retry_after: unavailable.retry_after,
                }),
            },
        }
    }

    async fn act(&self, event: &SecurityEvent) -> Result<Action, SetError> {
        let now = clock::unix_secs(&*self.clock);
        // A SET names when its event happened, on the transmitter's clock, the clock its tokens'
        // `iat` is on too. A later instant than its arrival would revoke tokens issued after it,
        // so it is capped, at now plus the clock skew allowed: a transmitter whose clock runs a
        // little ahead still revokes the tokens issued just before its event. Rules reach the
        // tokens issued up to that second, included: `iat` has whole seconds, and a token of
        // the event's second may have come before it.
        let instant = event
            .occurred_at()
            .min(now.saturating_add(self.max_clock_skew.as_secs()));
        let revoke = |reach| self.revoke(event.subject(), reach, instant);
        match &event.event().kind {
            EventKind::SessionRevoked => revoke(Reach::Session).await,
            EventKind::CredentialChange { change_type, .. } => {
                if *change_type == CredentialChangeType::Create {
                    Ok(Action::Ignored {
                        reason: "a credential was added",
                    })
                } else {
                    revoke(Reach::User).await
                }
            }
            EventKind::TokenClaimsChange { .. }
            | EventKind::AccountDisabled { .. }
            | EventKind::AccountPurged
            | EventKind::CredentialCompromise { .. }
            | EventKind::SessionsRevoked => revoke(Reach::User).await,
            EventKind::AssuranceLevelChange {
                namespace,
                current_level,
                previous_level,
                change_direction,
            } => self.record(
                event.subject(),
                SubjectSignals {
                    assurance: Some(AssuranceSignal {
                        namespace: namespace.clone(),
                        current_level: current_level.clone(),
                        previous_level: previous_level.clone(),
                        change_direction: *change_direction,
                        at: instant,
                    }),
                    ..SubjectSignals::default()
                },
            ),
            EventKind::DeviceComplianceChange { current_status, .. } => self.record(
                event.subject(),
                SubjectSignals {
                    device: Some(ComplianceSignal {
                        status: *current_status,
                        at: instant,
                    }),
                    ..SubjectSignals::default()
                },
            ),
            EventKind::RiskLevelChange {
                principal,
                current_level,
                ..
            } => self.record(
                event.subject(),
                SubjectSignals {
                    risk: Some(RiskSignal {
                        principal: principal.clone(),
                        level: *current_level,
                        at: instant,
                    }),
                    ..SubjectSignals::default()
                },
            ),
            EventKind::Verification { state } => self.verify_stream(event, state.as_deref(), now),
            EventKind::StreamUpdated { status } => {
                if status != "enabled" {
                    tracing::warn!(
                        transmitter = event.issuer(),
                        status = status.as_str(),
                        "the transmitter paused or disabled the stream: no events arrive until it is enabled"
                    );
                }
                Ok(Action::Ignored {
                    reason: "the stream's status changed",
                })
            }
            EventKind::SessionObserved | EventKind::OtherRisc { .. } => Ok(Action::Ignored {
                reason: "an informational event",
            }),
            EventKind::Unknown => Ok(Action::Ignored {
                reason: "an event type this receiver does not act on",
            }),
        }
    }

    async fn revoke(
        &self,
        subject: &Subject,
        reach: Reach,
        instant: u64,
    ) -> Result<Action, SetError> {
        let rules: Vec<Revocation> = self
            .mapping()
            .rules(subject, reach)?
            .into_iter()
            .map(|rule| rule.issued_at_or_before(instant))
            .collect();
        for rule in &rules {
            self.revocations
                .revoke(rule.clone())
                .await
                .map_err(SetError::RevocationsUnavailable)?;
        }
        Ok(Action::Revoked(rules))
    }

    fn record(&self, subject: &Subject, signal: SubjectSignals) -> Result<Action, SetError> {
        let subjects = self.mapping().rules(subject, Reach::Session)?;
        self.signals.record(&subjects, &signal);
        Ok(Action::Recorded)
    }

    fn mapping(&self) -> Mapping<'_> {
        Mapping {
            speaks_for: &self.speaks_for,
            tenants: &self.tenants,
            critical: self.configuration.critical_subject_members(),
        }
    }

    /// SSF §8.1.4.1: the subject is a stream of this receiver (`opaque`, its id: one it
    /// created, read, or was told of), the SET is fresh (a verification proves the stream works
    /// now; an old one replayed proves nothing), and the `state` is one it asked for; while it
    /// waits for one, a verification without state is not the answer.
    fn verify_stream(
        &self,
        event: &SecurityEvent,
        state: Option<&str>,
        now: u64,
    ) -> Result<Action, SetError> {
        let Subject::Opaque { id } = event.subject() else {
            return Err(SetError::InvalidSubject(
                "a verification event's subject is not the stream (an opaque id)",
            ));
        };
        if !self.configured_streams.iter().any(|stream| stream == id)
            && !lock(&self.streams).iter().any(|stream| stream == id)
        {
            return Err(SetError::InvalidSubject(
                "a verification event names a stream this receiver does not know",
            ));
        }
        let issued = event.issued_at();
        if issued.saturating_add(MAX_VERIFICATION_AGE.as_secs()) < now
            || issued > now.saturating_add(self.max_clock_skew.as_secs())
        {
            return Err(SetError::InvalidClaims(
                "a verification SET must be issued within the last ten minutes",
            ));
        }
        let mut pending = lock(&self.pending_states);
        let monotonic = tokio::time::Instant::now();
        pending.retain(|(_, since)| monotonic.duration_since(*since) < VERIFICATION_WINDOW);
        match state {
            Some(state) => {
                let position = pending
                    .iter()
                    .position(|(expected, _)| {
                        blake3::hash(expected.as_bytes()) == blake3::hash(state.as_bytes())
                    })
                    .ok_or(SetError::UnexpectedState)?;
                pending.remove(position);
            }
            None if !pending.is_empty() => return Err(SetError::UnexpectedState),
            None => {}
        }
        drop(pending);
        self.verified_at.store(now.max(1), Ordering::Release);
        Ok(Action::Verified)
    }
}

fn verify(key: &VerifyingKey, jws: &token::Jws<'_>) -> Result<(), SetError> {
    if !key.allows(jws.alg) {
        return Err(SetError::DisallowedAlgorithm);
    }
    let signature = token::decode_signature(jws.signature).map_err(|_| SetError::BadSignature)?;
    if key.verify(jws.alg, jws.signing_input.as_bytes(), &signature) {
        Ok(())
    } else {
        Err(SetError::BadSignature)
    }
}

fn log(event: &SecurityEvent, action: &Action) {
    match action {
        Action::Revoked(rules) => tracing::info!(
            transmitter = event.issuer(),
            jti = event.jti(),
            event = event.event().uri,
            rules = rules.len(),
            "security event revoked tokens"
        ),
        Action::Ignored { reason } => tracing::info!(
            transmitter = event.issuer(),
            jti = event.jti(),
            event = event.event().uri,
            reason,
            "security event acknowledged with no effect"
        ),
        _ => tracing::debug!(
            transmitter = event.issuer(),
            jti = event.jti(),
            event = event.event().uri,
            ?action,
            "security event received"
        ),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ReceiverBuilder {
    /// The revocation store the API's validator reads
    /// ([`Validator::revocations`](crate::Validator::revocations)); required.
    pub fn revocations(mut self, store: Arc<dyn RevocationStore>) -> Self {
        self.revocations = Some(store);
        self
    }

    /// An issuer of access tokens whose users this transmitter may revoke; call once per
    /// issuer. By default only the transmitter's own issuer. An `iss_sub` or `jwt_id` subject
    /// naming another issuer is refused with `access_denied`; an `opaque` user id applies to
    /// each of these issuers.
    pub fn speaks_for(mut self, issuer: impl Into<String>) -> Self {
        self.speaks_for.push(issuer.into());
        self
    }

    /// A tenant (`tid`) whose users this transmitter may revoke through complex subjects with a
    /// `tenant` member (the Entra shape: `user` an object id, `tenant` a tenant id); call once per
    /// tenant. None by default: such a subject naming a tenant not listed is refused with
    /// `access_denied`, so a transmitter cannot reach the users of a tenant it does not serve.
    /// Compared without regard to case.
    pub fn speaks_for_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenants.push(tenant.into());
        self
    }

    /// A stream of this receiver that was created elsewhere (by an administrator in the
    /// transmitter's console, say): verification events naming it are accepted. Streams that
    /// [`StreamClient`](super::StreamClient) creates or reads are known without it. A
    /// verification event naming a stream this receiver does not know is refused.
    pub fn stream_id(mut self, stream_id: impl Into<String>) -> Self {
        self.streams.push(stream_id.into());
        self
    }

    /// How far ahead of this receiver's clock an event's time may be and still count (default
    /// the validator's default leeway, 60 s). An event dated later takes effect at now plus this
    /// (its rule reaching the tokens of that second too).
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew;
        self
    }

    /// The signing algorithms accepted (default all asymmetric ones warden supports).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Where the transmitter's keys come from (default a [`JwksCache`] of the configuration's
    /// `jwks_uri`, with its rotation, unknown-`kid` refresh and outage behaviour).
    pub fn keys(mut self, keys: Arc<dyn KeySource>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The clock events are judged by (default the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for no revocation store, an empty audience or algorithm list, or a
    /// transmitter without `jwks_uri` when no key source is given.
    pub fn build(self) -> Result<Receiver, ConfigError> {
        let revocations = self.revocations.ok_or_else(|| {
            ConfigError::invalid(
                Setting::SharedSignals,
                "needs the validator's revocation store",
            )
        })?;
        if self.audience.is_empty() {
            return Err(ConfigError::invalid(
                Setting::SharedSignals,
                "the receiver's audience is empty",
            ));
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::invalid(
                Setting::Algorithms,
                "accepts no algorithm",
            ));
        }
        let keys = match self.keys {
            Some(keys) => keys,
            None => {
                let jwks_uri = self.configuration.jwks_uri().ok_or_else(|| {
                    ConfigError::invalid(
                        Setting::SharedSignals,
                        "the transmitter's configuration has no jwks_uri",
                    )
                })?;
                Arc::new(
                    JwksCache::builder(self.configuration.issuer())
                        .jwks_uri(jwks_uri)
                        .algorithms(self.algorithms.iter().copied())
                        .build()?,
                ) as Arc<dyn KeySource>
            }
        };
        let speaks_for = if self.speaks_for.is_empty() {
            vec![self.configuration.issuer().to_owned()]
        } else {
            self.speaks_for
        };
        Ok(Receiver {
            inner: Arc::new(Inner {
                configuration: self.configuration,
                audience: self.audience,
                algorithms: self.algorithms,
                keys,
                revocations,
                speaks_for,
                tenants: self.tenants,
                max_clock_skew: self.max_clock_skew,
                clock: self.clock,
                seen: quick_cache::sync::Cache::new(REMEMBERED_SETS),
                signals: Signals::default(),
                pending_states: Mutex::new(Vec::new()),
                streams: Mutex::new(Vec::new()),
                configured_streams: self.streams,
                verified_at: AtomicU64::new(0),
            }),
        })
    }
}
