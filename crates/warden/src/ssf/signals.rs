//! Signals that change no token by themselves (assurance level, device compliance, risk): the
//! receiver records the latest of each per subject, and requirements read them.

use std::sync::Arc;

use super::event::{ChangeDirection, Compliance, RiskLevel};
use crate::cae::{Revocation, Scope, Target, filing_key, revocable_values};
use crate::principal::Principal;

/// How many subjects' signals are kept; beyond it the least recently used are forgotten.
const CAPACITY: usize = 100_000;

/// A CAEP `assurance-level-change`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AssuranceSignal {
    /// `namespace`.
    pub namespace: String,
    /// `current_level`.
    pub current_level: String,
    /// `previous_level`, if given.
    pub previous_level: Option<String>,
    /// `change_direction`, if given.
    pub change_direction: Option<ChangeDirection>,
    /// When it happened (seconds since the Unix epoch).
    pub at: u64,
}

/// A CAEP `device-compliance-change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComplianceSignal {
    /// `current_status`.
    pub status: Compliance,
    /// When it happened (seconds since the Unix epoch).
    pub at: u64,
}

/// A CAEP `risk-level-change`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RiskSignal {
    /// `principal`: what the risk is about.
    pub principal: String,
    /// `current_level`.
    pub level: RiskLevel,
    /// When it happened (seconds since the Unix epoch).
    pub at: u64,
}

/// The latest signals about a caller's user or session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectSignals {
    /// The latest assurance-level change.
    pub assurance: Option<AssuranceSignal>,
    /// The latest device-compliance change.
    pub device: Option<ComplianceSignal>,
    /// The latest risk-level change.
    pub risk: Option<RiskSignal>,
}

impl SubjectSignals {
    /// Whether the latest device-compliance signal says the device is not compliant, and came
    /// after the token was issued (a token issued later passed the provider's policy again).
    pub fn device_not_compliant_for(&self, principal: &Principal) -> bool {
        self.device.is_some_and(|device| {
            device.status == Compliance::NotCompliant && issued_before(principal, device.at)
        })
    }

    /// Whether the latest assurance signal is a decrease that came after the token was issued.
    pub fn assurance_decreased_for(&self, principal: &Principal) -> bool {
        self.assurance.as_ref().is_some_and(|assurance| {
            assurance.change_direction == Some(ChangeDirection::Decrease)
                && issued_before(principal, assurance.at)
        })
    }

    fn merge(&mut self, other: &SubjectSignals) {
        fn later<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>, at: impl Fn(&T) -> u64) {
            if let Some(theirs) = theirs
                && mine.as_ref().is_none_or(|mine| at(theirs) >= at(mine))
            {
                *mine = Some(theirs.clone());
            }
        }
        later(&mut self.assurance, &other.assurance, |s| s.at);
        later(&mut self.device, &other.device, |s| s.at);
        later(&mut self.risk, &other.risk, |s| s.at);
    }
}

/// Whether the token was issued up to the signal's second, that second included: `iat` has whole
/// seconds, so a token of the same second may come before the signal (rounded toward acting, as
/// revocations are).
fn issued_before(principal: &Principal, at: u64) -> bool {
    principal.issued_at().unwrap_or(0.0) < at.saturating_add(1) as f64
}

type Key = (Target, String, Scope);

/// The signals a receiver recorded, per subject (the user, or the session when the event named
/// one), kept in this process: a fleet's replicas each know what reached them.
#[derive(Clone)]
pub struct Signals {
    entries: Arc<quick_cache::sync::Cache<Key, SubjectSignals>>,
    /// Serialises `record`'s read-merge-write, so two signals about one subject both stay
    /// (signals are rare; lookups take no lock).
    writing: Arc<std::sync::Mutex<()>>,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals")
            .field("subjects", &self.entries.len())
            .finish()
    }
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            entries: Arc::new(quick_cache::sync::Cache::new(CAPACITY)),
            writing: Arc::new(std::sync::Mutex::new(())),
        }
    }
}

impl Signals {
    /// The latest signals about the caller: by every identifier a rule could name it by (its
    /// user, session, token, client, verified email), in its issuer, its tenant, or any issuer.
    pub fn of(&self, principal: &Principal) -> SubjectSignals {
        let mut signals = SubjectSignals::default();
        if self.entries.is_empty() {
            return signals;
        }
        let tenant = principal.identifier_claims().tenant;
        for identifier in revocable_values(principal) {
            let scopes = [
                Some(Scope::Issuer(Arc::from(principal.issuer()))),
                tenant.map(|tid| Scope::Tenant(Arc::from(tid.to_ascii_lowercase()))),
                Some(Scope::Any),
            ];
            // Filed by the value's filing key: a GUID in any case finds its signals (signals
            // only ever narrow access, so `sub` need not be told apart by case here).
            let value = filing_key(identifier.value);
            for scope in scopes.into_iter().flatten() {
                if let Some(found) = self.entries.get(&(identifier.target, value.clone(), scope)) {
                    signals.merge(&found);
                }
            }
        }
        signals
    }

    /// How many subjects have signals.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no signal was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records a signal for the subjects the rules name (the rules are not applied).
    pub(crate) fn record(&self, subjects: &[Revocation], signal: &SubjectSignals) {
        let _writing = self
            .writing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for subject in subjects {
            // Tenants are GUIDs, compared without regard to case, as rules compare them.
            let scope = match subject.scope() {
                Scope::Tenant(tid) => Scope::Tenant(Arc::from(tid.to_ascii_lowercase())),
                other => other.clone(),
            };
            let key = (subject.target(), filing_key(subject.value()), scope);
            let mut merged = self.entries.get(&key).unwrap_or_default();
            merged.merge(signal);
            self.entries.insert(key, merged);
        }
    }
}
