//! Event types: CAEP 1.0, RISC 1.0 and SSF 1.0's own, each with the fields its specification
//! requires checked.

use serde_json::{Map, Value};

use super::set::SetError;

/// The URI prefix of CAEP 1.0 event types.
pub const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
/// The URI prefix of RISC 1.0 event types.
pub const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
/// The URI of SSF 1.0's verification event (§8.1.4).
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
/// The URI of SSF 1.0's stream-updated event (§8.1.5).
pub const STREAM_UPDATED: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

/// One event of a SET: its type and the fields every CAEP event may carry.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The event type URI, as sent.
    pub uri: String,
    /// `event_timestamp`: when it happened (seconds since the Unix epoch), if the event says.
    pub timestamp: Option<u64>,
    /// `initiating_entity`: who caused it, if the event says.
    pub initiating_entity: Option<InitiatingEntity>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// CAEP `session-revoked`: the subject's session (or every session) ended.
    SessionRevoked,
    /// CAEP `token-claims-change`: claims of the subject's tokens changed.
    TokenClaimsChange {
        /// The claims and their new values.
        claims: Map<String, Value>,
    },
    /// CAEP `credential-change`: a credential was created, revoked, updated or deleted.
    CredentialChange {
        /// `credential_type` (`password`, `fido2-platform`, …).
        credential_type: String,
        /// `change_type`.
        change_type: CredentialChangeType,
    },
    /// CAEP `assurance-level-change`.
    AssuranceLevelChange {
        /// `namespace` (`RFC8176`, `NIST-AAL`, …).
        namespace: String,
        /// `current_level`.
        current_level: String,
        /// `previous_level`, if given.
        previous_level: Option<String>,
        /// `change_direction`, if given.
        change_direction: Option<ChangeDirection>,
    },
    /// CAEP `device-compliance-change`.
    DeviceComplianceChange {
        /// `previous_status`.
        previous_status: Compliance,
        /// `current_status`.
        current_status: Compliance,
    },
    /// CAEP `risk-level-change`.
    RiskLevelChange {
        /// `principal`: what the risk is about (`USER`, `DEVICE`, …).
        principal: String,
        /// `current_level`.
        current_level: RiskLevel,
        /// `previous_level`, if given.
        previous_level: Option<RiskLevel>,
    },
    /// CAEP `session-established` or `session-presented`: informational.
    SessionObserved,
    /// RISC `account-disabled`.
    AccountDisabled {
        /// `reason` (`hijacking`, `bulk-account`), if given.
        reason: Option<String>,
    },
    /// RISC `account-purged`.
    AccountPurged,
    /// RISC `credential-compromise`.
    CredentialCompromise {
        /// `credential_type`.
        credential_type: String,
    },
    /// RISC `sessions-revoked` (deprecated in favour of CAEP `session-revoked`).
    SessionsRevoked,
    /// Any other RISC event (`account-enabled`, `identifier-changed`, `opt-in`, …): informational
    /// here.
    OtherRisc {
        /// The event name, after the RISC prefix.
        name: String,
    },
    /// SSF `verification`: the transmitter proves the stream works.
    Verification {
        /// `state`, echoed from the verification request, if any.
        state: Option<String>,
    },
    /// SSF `stream-updated`: the stream's status changed.
    StreamUpdated {
        /// `status` (`enabled`, `paused`, `disabled`).
        status: String,
    },
    /// A type this version does not know: acknowledged, logged, never an error.
    Unknown,
}

impl EventKind {
    /// A short, fixed name of the kind, as warden's metrics label it (`session-revoked`,
    /// `risc-other`, `unknown`): never a value from the SET, so a transmitter cannot mint labels.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::SessionRevoked => "session-revoked",
            EventKind::TokenClaimsChange { .. } => "token-claims-change",
            EventKind::CredentialChange { .. } => "credential-change",
            EventKind::AssuranceLevelChange { .. } => "assurance-level-change",
            EventKind::DeviceComplianceChange { .. } => "device-compliance-change",
            EventKind::RiskLevelChange { .. } => "risk-level-change",
            EventKind::SessionObserved => "session-observed",
            EventKind::AccountDisabled { .. } => "account-disabled",
            EventKind::AccountPurged => "account-purged",
            EventKind::CredentialCompromise { .. } => "credential-compromise",
            EventKind::SessionsRevoked => "sessions-revoked",
            EventKind::OtherRisc { .. } => "risc-other",
            EventKind::Verification { .. } => "verification",
            EventKind::StreamUpdated { .. } => "stream-updated",
            EventKind::Unknown => "unknown",
        }
    }
}

/// CAEP `change_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialChangeType {
    /// `create`.
    Create,
    /// `revoke`.
    Revoke,
    /// `update`.
    Update,
    /// `delete`.
    Delete,
}

/// CAEP `change_direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeDirection {
    /// `increase`.
    Increase,
    /// `decrease`.
    Decrease,
}

/// CAEP device compliance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compliance {
    /// `compliant`.
    Compliant,
    /// `not-compliant`.
    NotCompliant,
}

/// CAEP risk level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RiskLevel {
    /// `LOW`.
    Low,
    /// `MEDIUM`.
    Medium,
    /// `HIGH`.
    High,
}

/// CAEP `initiating_entity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitiatingEntity {
    /// `admin`.
    Admin,
    /// `user`.
    User,
    /// `policy`.
    Policy,
    /// `system`.
    System,
}

impl Event {
    /// Reads the single member of a SET's `events` claim.
    pub(crate) fn parse(uri: &str, value: &Value) -> Result<Event, SetError> {
        let fields = value.as_object().ok_or(SetError::InvalidEvent(
            "an event's value is not a JSON object",
        ))?;
        let kind = if let Some(name) = uri.strip_prefix(CAEP) {
            caep(name, fields)?
        } else if let Some(name) = uri.strip_prefix(RISC) {
            risc(name, fields)?
        } else if uri == VERIFICATION {
            EventKind::Verification {
                state: optional_string(fields, "state")?,
            }
        } else if uri == STREAM_UPDATED {
            EventKind::StreamUpdated {
                status: required_string(fields, "status")?,
            }
        } else {
            EventKind::Unknown
        };
        let timestamp = match fields.get("event_timestamp") {
            None => None,
            // A NumericDate (RFC 7519 §2): seconds, possibly fractional; the whole second
            // before it counts.
            Some(value) => Some(
                value
                    .as_u64()
                    .or_else(|| {
                        value
                            .as_f64()
                            .filter(|secs| secs.is_finite() && *secs >= 0.0)
                            .map(|secs| secs as u64)
                    })
                    .ok_or(SetError::InvalidEvent(
                        "`event_timestamp` is not a non-negative number of seconds",
                    ))?,
            ),
        };
        let initiating_entity = match optional_string(fields, "initiating_entity")?.as_deref() {
            None => None,
            Some("admin") => Some(InitiatingEntity::Admin),
            Some("user") => Some(InitiatingEntity::User),
            Some("policy") => Some(InitiatingEntity::Policy),
            Some("system") => Some(InitiatingEntity::System),
            Some(_) => {
                return Err(SetError::InvalidEvent(
                    "`initiating_entity` is not admin, user, policy or system",
                ));
            }
        };
        for reason in ["reason_admin", "reason_user"] {
            match fields.get(reason) {
                None => {}
                Some(Value::Object(messages)) if messages.values().all(Value::is_string) => {}
                Some(_) => {
                    return Err(SetError::InvalidEvent(
                        "a reason is not an object of language tags to strings",
                    ));
                }
            }
        }
        Ok(Event {
            kind,
            uri: uri.to_owned(),
            timestamp,
            initiating_entity,
        })
    }
}

fn caep(name: &str, fields: &Map<String, Value>) -> Result<EventKind, SetError> {
    Ok(match name {
        "session-revoked" => EventKind::SessionRevoked,
        "token-claims-change" => match fields.get("claims") {
            Some(Value::Object(claims)) => EventKind::TokenClaimsChange {
                claims: claims.clone(),
            },
            _ => {
                return Err(SetError::InvalidEvent(
                    "`token-claims-change` has no `claims` object",
                ));
            }
        },
        "credential-change" => EventKind::CredentialChange {
            credential_type: required_string(fields, "credential_type")?,
            change_type: match required_string(fields, "change_type")?.as_str() {
                "create" => CredentialChangeType::Create,
                "revoke" => CredentialChangeType::Revoke,
                "update" => CredentialChangeType::Update,
                "delete" => CredentialChangeType::Delete,
                _ => {
                    return Err(SetError::InvalidEvent(
                        "`change_type` is not create, revoke, update or delete",
                    ));
                }
            },
        },
        "assurance-level-change" => EventKind::AssuranceLevelChange {
            namespace: required_string(fields, "namespace")?,
            current_level: required_string(fields, "current_level")?,
            previous_level: optional_string(fields, "previous_level")?,
            change_direction: match optional_string(fields, "change_direction")?.as_deref() {
                None => None,
                Some("increase") => Some(ChangeDirection::Increase),
                Some("decrease") => Some(ChangeDirection::Decrease),
                Some(_) => {
                    return Err(SetError::InvalidEvent(
                        "`change_direction` is not increase or decrease",
                    ));
                }
            },
        },
        "device-compliance-change" => EventKind::DeviceComplianceChange {
            previous_status: compliance(&required_string(fields, "previous_status")?)?,
            current_status: compliance(&required_string(fields, "current_status")?)?,
        },
        "risk-level-change" => EventKind::RiskLevelChange {
            principal: required_string(fields, "principal")?,
            current_level: risk_level(&required_string(fields, "current_level")?)?,
            previous_level: optional_string(fields, "previous_level")?
                .map(|level| risk_level(&level))
                .transpose()?,
        },
        "session-established" | "session-presented" => EventKind::SessionObserved,
        _ => EventKind::Unknown,
    })
}

fn risc(name: &str, fields: &Map<String, Value>) -> Result<EventKind, SetError> {
    Ok(match name {
        "account-disabled" => EventKind::AccountDisabled {
            reason: optional_string(fields, "reason")?,
        },
        "account-purged" => EventKind::AccountPurged,
        "credential-compromise" => EventKind::CredentialCompromise {
            credential_type: required_string(fields, "credential_type")?,
        },
        "sessions-revoked" => EventKind::SessionsRevoked,
        other => EventKind::OtherRisc {
            name: other.to_owned(),
        },
    })
}

fn compliance(status: &str) -> Result<Compliance, SetError> {
    match status {
        "compliant" => Ok(Compliance::Compliant),
        "not-compliant" => Ok(Compliance::NotCompliant),
        _ => Err(SetError::InvalidEvent(
            "a compliance status is not compliant or not-compliant",
        )),
    }
}

fn risk_level(level: &str) -> Result<RiskLevel, SetError> {
    match level {
        "LOW" => Ok(RiskLevel::Low),
        "MEDIUM" => Ok(RiskLevel::Medium),
        "HIGH" => Ok(RiskLevel::High),
        _ => Err(SetError::InvalidEvent(
            "a risk level is not LOW, MEDIUM or HIGH",
        )),
    }
}

fn required_string(fields: &Map<String, Value>, name: &str) -> Result<String, SetError> {
    match fields.get(name) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
        _ => Err(SetError::InvalidEvent(
            "an event's required field is missing, empty or not a string",
        )),
    }
}

fn optional_string(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, SetError> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(SetError::InvalidEvent("an event's field is not a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn caep_event(name: &str, value: Value) -> Result<Event, SetError> {
        Event::parse(&format!("{CAEP}{name}"), &value)
    }

    #[test]
    fn reads_caep_and_risc_events() {
        let event = caep_event(
            "session-revoked",
            json!({"event_timestamp":1_700_000_000,"initiating_entity":"admin","reason_admin":{"en":"Landspeed Policy Violation"}}),
        )
        .unwrap();
        assert_eq!(event.kind, EventKind::SessionRevoked);
        assert_eq!(event.timestamp, Some(1_700_000_000));
        assert_eq!(event.initiating_entity, Some(InitiatingEntity::Admin));
        let event = caep_event(
            "credential-change",
            json!({"credential_type":"fido2-roaming","change_type":"create"}),
        )
        .unwrap();
        assert!(matches!(
            event.kind,
            EventKind::CredentialChange {
                change_type: CredentialChangeType::Create,
                ..
            }
        ));
        let event = Event::parse(&format!("{RISC}account-disabled"), &json!({})).unwrap();
        assert_eq!(event.kind, EventKind::AccountDisabled { reason: None });
        let event = Event::parse("urn:example:unknown", &json!({"anything":[1]})).unwrap();
        assert_eq!(event.kind, EventKind::Unknown);
    }

    #[test]
    fn refuses_events_missing_what_the_spec_requires() {
        for (name, value) in [
            ("credential-change", json!({"credential_type":"password"})),
            (
                "device-compliance-change",
                json!({"previous_status":"compliant","current_status":"unknown"}),
            ),
            ("session-revoked", json!({"initiating_entity":"robot"})),
            ("token-claims-change", json!({})),
            ("session-revoked", json!({"event_timestamp":"yesterday"})),
            ("session-revoked", json!("not an object")),
        ] {
            assert!(
                matches!(
                    caep_event(name, value.clone()),
                    Err(SetError::InvalidEvent(_))
                ),
                "{name} {value}"
            );
        }
    }
}
