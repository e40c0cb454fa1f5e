//! Where revocation rules live: the [`RevocationStore`] trait and the embedded store.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::{Revocation, Scope, Target, filing_key, in_force, revocable_values};
use crate::clock::{self, Clock, SystemClock};
use crate::principal::Principal;

/// The future [`RevocationStore::revoke`] returns.
pub type Revoking<'a> = Pin<Box<dyn Future<Output = Result<(), RevocationError>> + Send + 'a>>;

/// Where revocation rules live. Checked on every request: `revoked_since` and `ensure_current`
/// answer from memory, without waiting on I/O. A store shared by a fleet of API instances keeps
/// a local replica and syncs it in the background (the `warden-redis` crate).
pub trait RevocationStore: Send + Sync + fmt::Debug + 'static {
    /// Adds a rule. Resolves once the rule is enforced by this instance and stored as durably as
    /// the store promises (for a fleet store: written to the shared backend, so every replica
    /// enforces it). An error means the rule may not have reached the other replicas: tell the
    /// caller, who retries (adding a rule twice is harmless).
    fn revoke(&self, revocation: Revocation) -> Revoking<'_>;

    /// The latest instant of a rule that revokes this token ([`Revocation::revokes`]), if any.
    /// Look up every pair of [`revocable_values`]: matching one identifier claim only would let a
    /// token that also carries another slip through.
    fn revoked_since(&self, principal: &Principal) -> Option<u64>;

    /// Whether the rules are current enough to judge tokens by. A fleet store whose feed has been
    /// cut off longer than its configured bound answers [`Stale`], and warden answers 503 with
    /// `Retry-After` instead of trusting an outdated list. The default: always current.
    fn ensure_current(&self) -> Result<(), Stale> {
        Ok(())
    }

    /// How long the store keeps a rule after its instant, if bounded. The validator refuses to
    /// build with a store that would forget a rule while a token it matches can still be valid
    /// (less than the longest token lifetime plus the leeway).
    fn retention(&self) -> Option<Duration> {
        None
    }
}

/// Why a revocation could not be stored.
#[derive(Debug)]
#[non_exhaustive]
pub enum RevocationError {
    /// The shared backend could not be reached or refused the write. The rule is enforced by
    /// this instance only; retry to share it.
    Unavailable {
        /// What the backend's client reported.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The shared backend did not answer in time. The rule is enforced by this instance and
    /// may or may not have been shared; retry.
    TimedOut {
        /// How long the store waited.
        after: Duration,
    },
    /// The store cannot hold a rule of this kind (a target or scope newer than the store);
    /// retrying will not help. Nothing was enforced.
    Unsupported {
        /// What the store cannot hold.
        reason: &'static str,
    },
}

impl fmt::Display for RevocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevocationError::Unavailable { source } => {
                write!(f, "revocation store unavailable: {source}")
            }
            RevocationError::TimedOut { after } => {
                write!(f, "revocation store did not answer within {after:?}")
            }
            RevocationError::Unsupported { reason } => {
                write!(f, "revocation store cannot hold this rule: {reason}")
            }
        }
    }
}

impl std::error::Error for RevocationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RevocationError::Unavailable { source } => Some(&**source),
            RevocationError::TimedOut { .. } | RevocationError::Unsupported { .. } => None,
        }
    }
}

/// A store's rules are older than its staleness bound allows ([`RevocationStore::ensure_current`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stale {
    since: SystemTime,
    retry_after: Duration,
}

impl Stale {
    /// Rules last known current at `since`; callers should try again after `retry_after`.
    pub fn new(since: SystemTime, retry_after: Duration) -> Self {
        Stale { since, retry_after }
    }

    /// When the rules were last known to be current.
    pub fn since(&self) -> SystemTime {
        self.since
    }

    /// When a caller should try again (sent as `Retry-After`).
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

/// How often, at most, adding a rule also sweeps out expired ones.
const PRUNE_INTERVAL_SECS: u64 = 60;

/// The embedded store, and the local replica of a fleet store: rules in a concurrent hash map
/// keyed by the value they name, read lock-free. A lookup costs the same with ten rules or a
/// million (`benches/revocations.rs`); adding one costs O(1), and at most once a minute a sweep
/// drops rules that can no longer match a valid token.
#[derive(Debug)]
pub struct InMemoryRevocations {
    rules: papaya::HashMap<Box<str>, Rules>,
    /// Tenant and issuer names, shared by every rule scoped to them.
    scopes: papaya::HashSet<Arc<str>>,
    retention: Duration,
    clock: Arc<dyn Clock>,
    last_prune: AtomicU64,
}

/// The rules naming one value: nearly always one.
#[derive(Debug, Clone)]
enum Rules {
    One(Rule),
    Many(Box<[Rule]>),
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    target: Target,
    scope: Scope,
    before: u64,
    /// The value as the rule spelled it, when it differs from the key it is filed under (a GUID
    /// in upper case): identifiers compared exactly (`sub`, `jti`) compare with it.
    spelled: Option<Box<str>>,
}

impl Rule {
    /// The rule's value, as it spelled it.
    fn value<'a>(&'a self, key: &'a str) -> &'a str {
        self.spelled.as_deref().unwrap_or(key)
    }
}

impl Rules {
    fn as_slice(&self) -> &[Rule] {
        match self {
            Rules::One(rule) => std::slice::from_ref(rule),
            Rules::Many(rules) => rules,
        }
    }

    fn from_vec(mut rules: Vec<Rule>) -> Option<Rules> {
        match rules.len() {
            0 => None,
            1 => rules.pop().map(Rules::One),
            _ => Some(Rules::Many(rules.into_boxed_slice())),
        }
    }

    /// These rules plus `rule`: one rule per (target, scope, spelling), the latest instant wins.
    fn with(&self, rule: &Rule) -> Rules {
        let mut rules = self.as_slice().to_vec();
        match rules
            .iter_mut()
            .find(|r| r.target == rule.target && r.scope == rule.scope && r.spelled == rule.spelled)
        {
            Some(existing) => existing.before = existing.before.max(rule.before),
            None => rules.push(rule.clone()),
        }
        Rules::from_vec(rules).unwrap_or(Rules::One(rule.clone()))
    }
}

impl Default for InMemoryRevocations {
    /// Rules kept for warden's default longest token lifetime plus the largest leeway it
    /// accepts (5 minutes), so a validator with default settings accepts it.
    fn default() -> Self {
        Self::with_retention(
            super::DEFAULT_MAX_TOKEN_LIFETIME.saturating_add(Duration::from_secs(300)),
        )
    }
}

impl InMemoryRevocations {
    /// A store that keeps each rule for `retention` after its instant: at least the longest
    /// token lifetime plus the leeway (the validator refuses a store that keeps rules for less).
    pub fn with_retention(retention: Duration) -> Self {
        InMemoryRevocations {
            // Writers finish a resize before going on, so a reader never searches two tables:
            // writes are rare (revocations), reads are every request.
            rules: papaya::HashMap::builder()
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            scopes: papaya::HashSet::new(),
            retention,
            clock: Arc::new(SystemClock),
            last_prune: AtomicU64::new(0),
        }
    }

    /// Reads the time from this clock when it drops expired rules (default the system clock;
    /// the validator gives its default store its own clock).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The number of live rules (counts them: O(rules)).
    pub fn len(&self) -> usize {
        self.rules
            .pin()
            .values()
            .map(|rules| rules.as_slice().len())
            .sum()
    }

    /// Whether no rule is live.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether a rule with this instant can still match a token that is valid now.
    pub fn is_live(&self, before: u64) -> bool {
        before > self.horizon()
    }

    fn horizon(&self) -> u64 {
        clock::unix_secs(&*self.clock).saturating_sub(self.retention.as_secs())
    }

    /// Adds a rule to this instance at once, synchronously: what [`RevocationStore::revoke`]
    /// does for the embedded store, and what a fleet store's feed calls for every rule it
    /// receives. Applying a rule twice, or an older one after a newer, changes nothing: per
    /// (target, scope, value) the latest instant wins.
    pub fn apply(&self, revocation: Revocation) {
        let Revocation {
            target,
            value,
            scope,
            before,
        } = revocation;
        if !self.is_live(before) {
            return;
        }
        let key = filing_key(&value);
        let rule = Rule {
            target,
            scope: self.interned(scope),
            before,
            spelled: (key != value).then(|| value.into_boxed_str()),
        };
        self.rules.pin().update_or_insert_with(
            key.into_boxed_str(),
            |rules| rules.with(&rule),
            || Rules::One(rule.clone()),
        );
        self.prune_if_due();
        // The identifiers with a rule (papaya keeps the count: O(1)), not `len`, which walks
        // every rule.
        crate::observability::revocation_rules(self.rules.len());
    }

    /// Drops rules that can no longer match a valid token. Adding a rule calls it at most once
    /// a minute.
    pub fn prune(&self) {
        let horizon = self.horizon();
        let rules = self.rules.pin();
        let mut shrunk = Vec::new();
        rules.retain(|value, list| {
            let live = list
                .as_slice()
                .iter()
                .filter(|r| r.before > horizon)
                .count();
            if live > 0 && live < list.as_slice().len() {
                shrunk.push(value.clone());
            }
            live > 0
        });
        for value in shrunk {
            rules.update(value, |list| {
                let live: Vec<Rule> = list
                    .as_slice()
                    .iter()
                    .filter(|r| r.before > horizon)
                    .cloned()
                    .collect();
                Rules::from_vec(live).unwrap_or_else(|| list.clone())
            });
        }
        // A name only the set still holds belongs to no rule.
        self.scopes.pin().retain(|name| Arc::strong_count(name) > 1);
    }

    fn prune_if_due(&self) {
        let now = clock::unix_secs(&*self.clock);
        let last = self.last_prune.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= PRUNE_INTERVAL_SECS
            && self
                .last_prune
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.prune();
        }
    }

    /// The same tenant or issuer name for every rule that names it.
    fn interned(&self, scope: Scope) -> Scope {
        let intern = |name: Arc<str>| -> Arc<str> {
            let scopes = self.scopes.pin();
            match scopes.get(&*name) {
                Some(shared) => shared.clone(),
                None => {
                    scopes.insert(name.clone());
                    name
                }
            }
        };
        match scope {
            Scope::Any => Scope::Any,
            Scope::Tenant(name) => Scope::Tenant(intern(name)),
            Scope::Issuer(name) => Scope::Issuer(intern(name)),
        }
    }
}

impl RevocationStore for InMemoryRevocations {
    fn retention(&self) -> Option<Duration> {
        Some(self.retention)
    }

    fn revoke(&self, revocation: Revocation) -> Revoking<'_> {
        self.apply(revocation);
        Box::pin(std::future::ready(Ok(())))
    }

    fn revoked_since(&self, principal: &Principal) -> Option<u64> {
        if self.rules.is_empty() {
            return None;
        }
        let rules = self.rules.pin();
        let mut latest = None;
        let mut buffer = [0; 36];
        for identifier in revocable_values(principal) {
            let key = identifier.lookup_key(&mut buffer);
            let Some(list) = rules.get(key) else {
                continue;
            };
            for rule in list.as_slice() {
                if rule.target == identifier.target
                    && identifier.matches(rule.value(key))
                    && in_force(&rule.scope, rule.before, principal)
                {
                    latest = latest.max(Some(rule.before));
                }
            }
        }
        latest
    }
}
