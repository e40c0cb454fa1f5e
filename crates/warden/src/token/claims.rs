//! Checks on the claims: time, audience, required members. They read the claims as borrowed
//! members ([`Members`]), so a pre-check allocates only for the few claims it looks at.

use serde_json::Value;

use crate::error::InvalidToken;
use crate::json::Members;

/// A NumericDate claim (RFC 7519 §2): a JSON number, integer or not. `Ok(None)` if absent.
pub(crate) fn numeric_date(
    claims: &Members<'_>,
    name: &'static str,
) -> Result<Option<f64>, InvalidToken> {
    let Some(raw) = claims.raw(name) else {
        return Ok(None);
    };
    // A JSON number only (no string, no `true`), finite.
    let text = raw.get();
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err(InvalidToken::InvalidClaim { claim: name });
    }
    match serde_json::from_str::<f64>(text) {
        Ok(value) if value.is_finite() => Ok(Some(value)),
        _ => Err(InvalidToken::InvalidClaim { claim: name }),
    }
}

/// `exp` required and after now − leeway; `nbf` and `iat` not after now + leeway.
pub(crate) fn check_times(
    claims: &Members<'_>,
    now: u64,
    leeway: u64,
) -> Result<f64, InvalidToken> {
    let exp = numeric_date(claims, "exp")?.ok_or(InvalidToken::MissingClaim { claim: "exp" })?;
    // Compare in f64: `exp` may be fractional, negative or huge (1e300) without overflow.
    let now_f = now as f64;
    let leeway_f = leeway as f64;
    if now_f >= exp + leeway_f {
        return Err(InvalidToken::Expired { exp, now });
    }
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && nbf > now_f + leeway_f
    {
        return Err(InvalidToken::NotYetValid { nbf, now });
    }
    if let Some(iat) = numeric_date(claims, "iat")?
        && iat > now_f + leeway_f
    {
        return Err(InvalidToken::IssuedInFuture { iat, now });
    }
    Ok(exp)
}

/// `aud` (a string or an array of strings) contains one of `accepted`.
pub(crate) fn check_audience(
    claims: &Members<'_>,
    claim: &'static str,
    accepted: &[String],
) -> Result<(), InvalidToken> {
    let matches = |aud: &str| accepted.iter().any(|a| a == aud);
    // The usual single string is read borrowed; an array is read whole.
    if let Some(Some(aud)) = claims.string(claim) {
        return if matches(&aud) {
            Ok(())
        } else {
            Err(InvalidToken::WrongAudience)
        };
    }
    match claims.get(claim) {
        None => Err(InvalidToken::MissingClaim { claim }),
        Some(Value::Array(auds)) => {
            let mut found = false;
            for aud in auds {
                match aud {
                    Value::String(aud) => found |= matches(&aud),
                    _ => return Err(InvalidToken::InvalidClaim { claim }),
                }
            }
            if found {
                Ok(())
            } else {
                Err(InvalidToken::WrongAudience)
            }
        }
        Some(_) => Err(InvalidToken::InvalidClaim { claim }),
    }
}

/// Every claim in `required` is present; the string-valued ones are strings.
pub(crate) fn check_required(
    claims: &Members<'_>,
    required: &'static [&'static str],
) -> Result<(), InvalidToken> {
    for &claim in required {
        if !claims.contains(claim) {
            return Err(InvalidToken::MissingClaim { claim });
        }
        let must_be_string = matches!(
            claim,
            "iss" | "sub" | "client_id" | "jti" | "tid" | "oid" | "uti"
        );
        if must_be_string && !claims.is_string(claim) {
            return Err(InvalidToken::InvalidClaim { claim });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Runs `check` on the members of `v`'s JSON text.
    fn with<T>(v: Value, check: impl FnOnce(&Members<'_>) -> T) -> T {
        let text = v.to_string();
        let members = crate::json::parse_members(&text).unwrap();
        check(&members)
    }

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn exp_is_required_numeric_and_in_the_future() {
        let check = |v: Value, leeway| with(v, |m| check_times(m, NOW, leeway));
        assert_eq!(
            check(json!({}), 0),
            Err(InvalidToken::MissingClaim { claim: "exp" })
        );
        assert_eq!(
            check(json!({"exp": "1700000100"}), 0),
            Err(InvalidToken::InvalidClaim { claim: "exp" })
        );
        assert!(matches!(
            check(json!({"exp": NOW}), 0),
            Err(InvalidToken::Expired { .. })
        ));
        assert!(check(json!({"exp": NOW + 1}), 0).is_ok());
        assert!(check(json!({"exp": NOW - 30}), 60).is_ok());
        assert!(matches!(
            check(json!({"exp": NOW - 60}), 60),
            Err(InvalidToken::Expired { .. })
        ));
        assert!(check(json!({"exp": 1e300}), 0).is_ok());
        assert!(matches!(
            check(json!({"exp": -1}), 0),
            Err(InvalidToken::Expired { .. })
        ));
        assert!(check(json!({"exp": NOW as f64 + 0.5}), 0).is_ok());
    }

    #[test]
    fn nbf_and_iat_respect_leeway() {
        let check = |v: Value| with(v, |m| check_times(m, NOW, 60));
        let exp = NOW + 300;
        assert!(matches!(
            check(json!({"exp": exp, "nbf": NOW + 120})),
            Err(InvalidToken::NotYetValid { .. })
        ));
        assert!(check(json!({"exp": exp, "nbf": NOW + 60})).is_ok());
        assert!(matches!(
            check(json!({"exp": exp, "iat": NOW + 61})),
            Err(InvalidToken::IssuedInFuture { .. })
        ));
        assert_eq!(
            check(json!({"exp": exp, "iat": "x"})),
            Err(InvalidToken::InvalidClaim { claim: "iat" })
        );
    }

    #[test]
    fn audience_must_contain_ours() {
        let ours = vec!["api://rs".to_owned()];
        let check = |v: Value| with(v, |m| check_audience(m, "aud", &ours));
        assert!(check(json!({"aud": "api://rs"})).is_ok());
        assert!(check(json!({"aud": ["x", "api://rs"]})).is_ok());
        assert_eq!(check(json!({"aud": "x"})), Err(InvalidToken::WrongAudience));
        assert_eq!(
            check(json!({"aud": "api://rs/"})),
            Err(InvalidToken::WrongAudience)
        );
        assert_eq!(check(json!({"aud": []})), Err(InvalidToken::WrongAudience));
        assert_eq!(
            check(json!({})),
            Err(InvalidToken::MissingClaim { claim: "aud" })
        );
        assert_eq!(
            check(json!({"aud": 123})),
            Err(InvalidToken::InvalidClaim { claim: "aud" })
        );
        assert_eq!(
            check(json!({"aud": ["api://rs", 1]})),
            Err(InvalidToken::InvalidClaim { claim: "aud" })
        );
    }
}
