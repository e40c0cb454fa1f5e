//! One `claims` parameter for a token request, as MSAL builds it: the client's capabilities
//! (`xms_cc`, so the token is CAE-enabled) merged with the claims a challenge asked for.

use serde_json::{Map, Value, json};

/// The capabilities as a claims request, `{"access_token":{"xms_cc":{"values":[…]}}}`, merged
/// with `challenge` (a claims request, JSON): objects merge recursively, arrays concatenate,
/// and the challenge's scalars win. `None` when there is nothing to ask. The result is the raw
/// JSON Entra expects in the form's `claims` (not base64).
pub fn merge_claims(capabilities: &[String], challenge: Option<&Value>) -> Option<Value> {
    let mut merged = if capabilities.is_empty() {
        Value::Object(Map::new())
    } else {
        json!({"access_token": {"xms_cc": {"values": capabilities}}})
    };
    if let Some(challenge) = challenge {
        merge(&mut merged, challenge);
    }
    match &merged {
        Value::Object(object) if object.is_empty() => None,
        _ => Some(merged),
    }
}

fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match into.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        into.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(into), Value::Array(from)) => into.extend(from.iter().cloned()),
        (into, from) => *into = from.clone(),
    }
}

/// The claims a downstream API's challenge asks for: in a `WWW-Authenticate` value, the
/// `claims` parameter of a challenge with `error="insufficient_claims"` (Microsoft's CAE
/// challenge), decoded (base64, padded or not) into the claims request. `None` for any other
/// challenge.
///
/// ```
/// let header = r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzAxNDc3MzAzIn19fQ==""#;
/// let claims = warden_client::claims_from_challenge(header).unwrap();
/// assert_eq!(claims["access_token"]["nbf"]["value"], "1701477303");
/// ```
pub fn claims_from_challenge(www_authenticate: &str) -> Option<Value> {
    use base64::Engine as _;
    if !www_authenticate.contains(r#"error="insufficient_claims""#) {
        return None;
    }
    let start = www_authenticate.find(r#"claims=""#)? + r#"claims=""#.len();
    let rest = &www_authenticate[start..];
    let encoded = &rest[..rest.find('"')?];
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let bytes = engines
        .iter()
        .find_map(|engine| engine.decode(encoded).ok())?;
    serde_json::from_slice(&bytes).ok()
}

/// The claims a `401` answer's challenges ask for, if one of them is a claims challenge.
pub(crate) fn claims_challenge(answer: &reqwest::Response) -> Option<Value> {
    if answer.status() != reqwest::StatusCode::UNAUTHORIZED {
        return None;
    }
    answer
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(claims_from_challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_as_msal_does() {
        // MSAL's own test vector (the reference's U1.6).
        let challenge = json!({"access_token":{"nbf":{"essential":true, "value":"1701477303"}}});
        let merged = merge_claims(&["cp1".to_owned(), "cp2".to_owned()], Some(&challenge));
        assert_eq!(
            merged,
            Some(
                json!({"access_token":{"xms_cc":{"values":["cp1","cp2"]},"nbf":{"essential":true,"value":"1701477303"}}})
            )
        );
        assert_eq!(merge_claims(&[], None), None);
        let only = json!({"access_token":{"acrs":{"essential":true,"value":"c25"}}});
        assert_eq!(merge_claims(&[], Some(&only)), Some(only));
    }
}
