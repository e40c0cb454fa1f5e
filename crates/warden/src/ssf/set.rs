//! Security Event Tokens (RFC 8417) as SSF 1.0 profiles them: strict parsing and the checks on
//! unverified content (they only reject). The signature is checked by the receiver, with the
//! transmitter's keys, after these.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use super::event::Event;
use super::subject::Subject;
use crate::algorithm::Algorithm;
use crate::cae::RevocationError;
use crate::error::{InvalidToken, Malformed};
use crate::issuer::typ_is;
use crate::json::{self, JsonError};
use crate::token::{self, Jws};

/// Why a SET was refused, or could not be processed now. Never holds the SET's content.
///
/// [`SetError::code`] gives the RFC 8935 §2.4 error code a transmitter receives (push: in the 400
/// body; poll: in `setErrs`). Errors without a code are the receiver's own trouble (keys or the
/// revocation store unavailable): nothing is acknowledged, and the transmitter delivers again.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetError {
    /// Not a compact JWS with a JSON header and payload.
    Malformed(&'static str),
    /// A JSON member name repeats (in the header, the claims, or any nested object).
    DuplicateMember,
    /// The header's `typ` is not `secevent+jwt` (SSF 1.0 §4.1.1).
    WrongType,
    /// The claims break RFC 8417 or SSF 1.0's profile: `iat`, `jti`, `events` or `sub_id`
    /// missing, `sub` or `exp` present, more than one event.
    InvalidClaims(&'static str),
    /// The `sub_id` is not a valid subject identifier (RFC 9493).
    InvalidSubject(&'static str),
    /// The event lacks a field its specification requires, or has one of the wrong kind.
    InvalidEvent(&'static str),
    /// `alg` is missing, `none`, symmetric, or not on the transmitter's allow-list.
    DisallowedAlgorithm,
    /// No key of the transmitter's JWKS has the SET's `kid` (or fits its `alg`).
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// `iss` is not the configured transmitter.
    WrongIssuer,
    /// `aud` does not name this receiver.
    WrongAudience,
    /// The subject names an issuer or a tenant this transmitter may not speak for.
    SubjectNotAllowed,
    /// The subject is valid but names nothing warden matches tokens by (a phone number, a
    /// device alone), or a whole tenant: the event is discarded, not acknowledged.
    SubjectNotMatched(&'static str),
    /// A member of the complex subject that the transmitter declares critical is one warden
    /// cannot process (SSF 1.0 §3.6): the event is discarded.
    CriticalMemberNotProcessed {
        /// The member's name (`device`, `application`, `org_unit`, `group`, or `user`,
        /// `session`, `tenant` in a format warden does not map).
        member: &'static str,
    },
    /// A verification event's `state` matches no verification this receiver asked for.
    UnexpectedState,
    /// The transmitter's keys could not be fetched; deliver again later.
    KeysUnavailable {
        /// When to try again.
        retry_after: Duration,
    },
    /// The revocation store did not take the rule (it is enforced by this instance only, or not
    /// at all): deliver again later; or, for [`RevocationError::Unsupported`], the store cannot
    /// hold a rule of this kind at all (final, `invalid_request`).
    RevocationsUnavailable(RevocationError),
}

impl SetError {
    /// The RFC 8935 §2.4 error code, or `None` when the fault is the receiver's and the SET
    /// should be delivered again. `invalid_state` is SSF 1.0 §8.1.4.1's.
    pub fn code(&self) -> Option<&'static str> {
        Some(match self {
            SetError::Malformed(_)
            | SetError::DuplicateMember
            | SetError::WrongType
            | SetError::InvalidClaims(_)
            | SetError::InvalidSubject(_)
            | SetError::SubjectNotMatched(_)
            | SetError::CriticalMemberNotProcessed { .. }
            | SetError::InvalidEvent(_) => "invalid_request",
            SetError::DisallowedAlgorithm | SetError::UnknownKey | SetError::BadSignature => {
                "invalid_key"
            }
            SetError::WrongIssuer => "invalid_issuer",
            SetError::WrongAudience => "invalid_audience",
            SetError::SubjectNotAllowed => "access_denied",
            SetError::UnexpectedState => "invalid_state",
            // A store that cannot hold the rule will not hold it on a retry: final.
            SetError::RevocationsUnavailable(RevocationError::Unsupported { .. }) => {
                "invalid_request"
            }
            SetError::KeysUnavailable { .. } | SetError::RevocationsUnavailable(_) => return None,
        })
    }
}

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::Malformed(reason)
            | SetError::InvalidClaims(reason)
            | SetError::InvalidSubject(reason)
            | SetError::SubjectNotMatched(reason)
            | SetError::InvalidEvent(reason) => f.write_str(reason),
            SetError::CriticalMemberNotProcessed { member } => write!(
                f,
                "the subject's critical member `{member}` is one this receiver cannot process"
            ),
            SetError::DuplicateMember => f.write_str("a JSON member name repeats"),
            SetError::WrongType => f.write_str("the header's typ is not secevent+jwt"),
            SetError::DisallowedAlgorithm => f.write_str("the signing algorithm is not accepted"),
            SetError::UnknownKey => f.write_str("no key of the transmitter has this kid"),
            SetError::BadSignature => f.write_str("the signature does not verify"),
            SetError::WrongIssuer => f.write_str("iss is not the configured transmitter"),
            SetError::WrongAudience => f.write_str("aud does not name this receiver"),
            SetError::SubjectNotAllowed => f.write_str(
                "the subject names an issuer or tenant this transmitter may not speak for",
            ),
            SetError::UnexpectedState => {
                f.write_str("the verification state matches no verification requested")
            }
            SetError::KeysUnavailable { .. } => {
                f.write_str("the transmitter's keys are unavailable; deliver again later")
            }
            SetError::RevocationsUnavailable(error @ RevocationError::Unsupported { .. }) => {
                write!(f, "this receiver cannot enforce the event's rule ({error})")
            }
            SetError::RevocationsUnavailable(error) => {
                write!(
                    f,
                    "the revocation could not be stored ({error}); deliver again later"
                )
            }
        }
    }
}

impl std::error::Error for SetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetError::RevocationsUnavailable(error) => Some(error),
            _ => None,
        }
    }
}

/// A verified security event: one SET, its event and its subject.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityEvent {
    issuer: String,
    jti: String,
    issued_at: u64,
    audience: Vec<String>,
    txn: Option<String>,
    subject: Subject,
    event: Event,
}

impl SecurityEvent {
    /// `iss`: the transmitter.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `jti`: the SET's id, unique within the stream.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// `iat`: when the SET was issued (seconds since the Unix epoch).
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// `aud`.
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// `txn`: the transaction the event belongs to, if given.
    pub fn txn(&self) -> Option<&str> {
        self.txn.as_deref()
    }

    /// `sub_id`: who or what the event is about.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// When the event took effect: its `event_timestamp`, else the SET's `iat` (never the arrival
    /// time: SETs arrive out of order and late, RFC 8417 §5.3-5.4).
    pub fn occurred_at(&self) -> u64 {
        self.event.timestamp.unwrap_or(self.issued_at)
    }
}

/// The longest `jti` accepted: the receiver remembers ids to recognise redeliveries, so their
/// size is bounded.
const MAX_JTI_BYTES: usize = 256;

/// What a SET must match.
pub(crate) struct Expected<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) audience: &'a str,
    pub(crate) algorithms: &'a [Algorithm],
}

/// A SET whose form and claims passed, its signature not yet checked.
pub(crate) struct Unverified<'t> {
    pub(crate) jws: Jws<'t>,
    pub(crate) event: SecurityEvent,
}

/// Strict parsing and every check that needs no key; they only reject.
pub(crate) fn read<'t>(set: &'t str, expected: &Expected<'_>) -> Result<Unverified<'t>, SetError> {
    let jws = token::parse_jws(set).map_err(jws_error)?;
    if !typ_is(jws.typ.as_deref(), &["secevent+jwt"]) {
        return Err(SetError::WrongType);
    }
    if !expected.algorithms.contains(&jws.alg) {
        return Err(SetError::DisallowedAlgorithm);
    }
    let claims = json::parse_object(&jws.payload).map_err(|error| match error {
        JsonError::DuplicateMember => SetError::DuplicateMember,
        JsonError::NotObject | JsonError::InvalidValue => {
            SetError::Malformed("the payload is not a JSON object")
        }
    })?;
    let event = check_claims(claims, expected)?;
    Ok(Unverified { jws, event })
}

/// What the strict JWS reader's refusal means for a SET (RFC 8935 §2.4's codes): every
/// refusal named, so a new one must be given its answer here.
fn jws_error(error: InvalidToken) -> SetError {
    match error {
        InvalidToken::DisallowedAlgorithm | InvalidToken::AlgorithmMismatch => {
            SetError::DisallowedAlgorithm
        }
        InvalidToken::BadSignature => SetError::BadSignature,
        InvalidToken::UnknownKey | InvalidToken::KeyOfAnotherIssuer => SetError::UnknownKey,
        InvalidToken::Encrypted => SetError::Malformed("an encrypted JWT, not a signed SET"),
        InvalidToken::EmbeddedKey => SetError::Malformed("the header carries or points at a key"),
        InvalidToken::UnsupportedCritical => SetError::Malformed("the header has crit"),
        InvalidToken::Malformed(Malformed::DuplicateMember) => SetError::DuplicateMember,
        InvalidToken::Malformed(_)
        | InvalidToken::TooLarge { .. }
        | InvalidToken::Nested
        | InvalidToken::WrongType
        | InvalidToken::WrongTokenKind
        | InvalidToken::UntrustedIssuer
        | InvalidToken::WrongTenant
        | InvalidToken::WrongAudience
        | InvalidToken::MissingClaim { .. }
        | InvalidToken::InvalidClaim { .. }
        | InvalidToken::Expired { .. }
        | InvalidToken::NotYetValid { .. }
        | InvalidToken::LifetimeTooLong
        | InvalidToken::IssuedInFuture { .. } => {
            SetError::Malformed("not a compact JWS with a JSON header")
        }
    }
}

fn check_claims(
    mut claims: Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<SecurityEvent, SetError> {
    let issuer = match claims.remove("iss") {
        Some(Value::String(iss)) if iss == expected.issuer => iss,
        Some(Value::String(_)) => return Err(SetError::WrongIssuer),
        _ => return Err(SetError::InvalidClaims("iss is missing or not a string")),
    };
    let audience = match claims.remove("aud") {
        Some(Value::String(aud)) => vec![aud],
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(aud) => Ok(aud),
                _ => Err(SetError::InvalidClaims(
                    "aud holds a value that is not a string",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => return Err(SetError::WrongAudience),
        Some(_) => return Err(SetError::InvalidClaims("aud is not a string or an array")),
    };
    if !audience.iter().any(|aud| aud == expected.audience) {
        return Err(SetError::WrongAudience);
    }
    if claims.contains_key("sub") {
        return Err(SetError::InvalidClaims(
            "sub is present (SSF 1.0 §4.1.2: the subject is sub_id)",
        ));
    }
    if claims.contains_key("exp") {
        return Err(SetError::InvalidClaims(
            "exp is present (SSF 1.0 §4.1.7: a SET does not expire)",
        ));
    }
    let issued_at = match claims.get("iat") {
        Some(Value::Number(iat)) => iat
            .as_u64()
            .or_else(|| {
                iat.as_f64()
                    .filter(|secs| *secs >= 0.0)
                    .map(|secs| secs as u64)
            })
            .ok_or(SetError::InvalidClaims("iat is negative"))?,
        _ => return Err(SetError::InvalidClaims("iat is missing or not a number")),
    };
    let jti = match claims.remove("jti") {
        Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= MAX_JTI_BYTES => jti,
        _ => {
            return Err(SetError::InvalidClaims(
                "jti is missing, empty, longer than 256 bytes or not a string",
            ));
        }
    };
    let txn = match claims.remove("txn") {
        None => None,
        Some(Value::String(txn)) => Some(txn),
        Some(_) => return Err(SetError::InvalidClaims("txn is not a string")),
    };
    let event = match claims.get("events") {
        Some(Value::Object(events)) => {
            let mut entries = events.iter();
            match (entries.next(), entries.next()) {
                (Some((uri, value)), None) => Event::parse(uri, value)?,
                (None, _) => return Err(SetError::InvalidClaims("events is empty")),
                (Some(_), Some(_)) => {
                    return Err(SetError::InvalidClaims(
                        "events holds more than one event (SSF 1.0 §4.2.1)",
                    ));
                }
            }
        }
        _ => {
            return Err(SetError::InvalidClaims(
                "events is missing or not an object",
            ));
        }
    };
    let subject = match claims.get("sub_id") {
        Some(sub_id) => Subject::parse(sub_id)?,
        None => {
            return Err(SetError::InvalidClaims(
                "sub_id is missing (SSF 1.0 §3.1 requires it)",
            ));
        }
    };
    Ok(SecurityEvent {
        issuer,
        jti,
        issued_at,
        audience,
        txn,
        subject,
        event,
    })
}

/// The SET parser, for the fuzz targets: strict parsing and the unverified checks.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_read(data: &[u8]) {
    if let Ok(set) = std::str::from_utf8(data) {
        let expected = Expected {
            issuer: "https://transmitter.example",
            audience: "https://receiver.example",
            algorithms: crate::algorithm::DEFAULT_ALGORITHMS,
        };
        if let Ok(unverified) = read(set, &expected) {
            let _ = unverified.event.occurred_at();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    const ISS: &str = "https://tr.example.com";
    const AUD: &str = "https://rp.example.com";

    fn expected() -> Expected<'static> {
        Expected {
            issuer: ISS,
            audience: AUD,
            algorithms: &[Algorithm::RS256],
        }
    }

    fn set(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    fn claims(extra: Value) -> String {
        let mut base = json!({
            "iss": ISS, "aud": AUD, "iat": 1_700_000_000, "jti": "j1",
            "sub_id": {"format":"iss_sub","iss":"https://idp","sub":"u1"},
            "events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked": {}}
        });
        for (name, value) in extra.as_object().unwrap() {
            if value.is_null() {
                base.as_object_mut().unwrap().remove(name);
            } else {
                base[name] = value.clone();
            }
        }
        base.to_string()
    }

    const HEADER: &str = r#"{"alg":"RS256","typ":"secevent+jwt","kid":"k"}"#;

    #[test]
    fn reads_a_conforming_set_and_ignores_unknown_claims() {
        let text = set(HEADER, &claims(json!({"x-extra": true})));
        let event = read(&text, &expected()).unwrap().event;
        assert_eq!(event.jti(), "j1");
        assert_eq!(event.occurred_at(), 1_700_000_000);
        let text = set(
            r#"{"alg":"RS256","typ":"application/secevent+JWT"}"#,
            &claims(json!({})),
        );
        assert!(read(&text, &expected()).is_ok());
    }

    #[test]
    fn maps_each_refusal_to_its_rfc_8935_code() {
        let cases = [
            (
                set(r#"{"alg":"RS256","typ":"JWT"}"#, &claims(json!({}))),
                "invalid_request",
            ),
            (
                set(r#"{"alg":"RS256","typ":"at+jwt"}"#, &claims(json!({}))),
                "invalid_request",
            ),
            (
                set(r#"{"alg":"RS256"}"#, &claims(json!({}))),
                "invalid_request",
            ),
            (
                set(r#"{"alg":"none","typ":"secevent+jwt"}"#, &claims(json!({}))),
                "invalid_key",
            ),
            (
                set(
                    r#"{"alg":"HS256","typ":"secevent+jwt"}"#,
                    &claims(json!({})),
                ),
                "invalid_key",
            ),
            (
                set(
                    r#"{"alg":"ES256","typ":"secevent+jwt"}"#,
                    &claims(json!({})),
                ),
                "invalid_key",
            ),
            (
                set(HEADER, &claims(json!({"iss":"https://other"}))),
                "invalid_issuer",
            ),
            (
                set(HEADER, &claims(json!({"aud":"https://other"}))),
                "invalid_audience",
            ),
            (
                set(HEADER, &claims(json!({"aud":null}))),
                "invalid_audience",
            ),
            (set(HEADER, &claims(json!({"jti":null}))), "invalid_request"),
            (set(HEADER, &claims(json!({"iat":null}))), "invalid_request"),
            (
                set(HEADER, &claims(json!({"events":null}))),
                "invalid_request",
            ),
            (
                set(HEADER, &claims(json!({"events":{"urn:x":"s"}}))),
                "invalid_request",
            ),
            (
                set(HEADER, &claims(json!({"events":{"urn:x":{},"urn:y":{}}}))),
                "invalid_request",
            ),
            (set(HEADER, &claims(json!({"sub":"u1"}))), "invalid_request"),
            (
                set(HEADER, &claims(json!({"exp":1_800_000_000}))),
                "invalid_request",
            ),
            (
                set(HEADER, &claims(json!({"sub_id":null}))),
                "invalid_request",
            ),
            (
                set(
                    HEADER,
                    &claims(json!({"sub_id":{"format":"opaque","id":""}})),
                ),
                "invalid_request",
            ),
            (
                set(
                    HEADER,
                    r#"{"iss":"https://tr.example.com","iss":"https://tr.example.com"}"#,
                ),
                "invalid_request",
            ),
            ("not a jws".to_owned(), "invalid_request"),
        ];
        for (text, code) in cases {
            let error = read(&text, &expected()).err().expect("refused");
            assert_eq!(error.code(), Some(code), "{error}");
        }
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(claims(json!({})))
        );
        assert_eq!(
            read(&unsigned, &expected()).err().unwrap().code(),
            Some("invalid_key")
        );
    }
}
