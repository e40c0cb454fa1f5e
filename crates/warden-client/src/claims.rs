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
/// `claims` parameter of a challenge whose `error` is `insufficient_claims` (Microsoft's CAE
/// challenge), decoded (base64, padded or not) into the claims request. The value is read as
/// RFC 9110 §11.6.1 writes challenges: several may share it, parameter names are
/// case-insensitive, values are tokens or quoted strings; both parameters must belong to the
/// same challenge. `None` for any other challenge.
///
/// ```
/// let header = r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzAxNDc3MzAzIn19fQ==""#;
/// let claims = warden_client::claims_from_challenge(header).unwrap();
/// assert_eq!(claims["access_token"]["nbf"]["value"], "1701477303");
/// ```
pub fn claims_from_challenge(www_authenticate: &str) -> Option<Value> {
    use base64::Engine as _;
    challenges(www_authenticate).into_iter().find_map(|params| {
        let param = |name: &str| {
            params
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        };
        if param("error") != Some("insufficient_claims") {
            return None;
        }
        let encoded = param("claims")?;
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
    })
}

/// The parameters of each challenge in a `WWW-Authenticate` value (RFC 9110 §11.6.1), names
/// as written, quoted values unescaped. A challenge given as a `token68` has none. Parsing
/// stops at the first malformed part; what came before it is kept.
fn challenges(value: &str) -> Vec<Vec<(String, String)>> {
    fn is_tchar(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
    }
    let bytes = value.as_bytes();
    let mut at = 0;
    let skip = |at: &mut usize, set: &[u8]| {
        while *at < bytes.len() && set.contains(&bytes[*at]) {
            *at += 1;
        }
    };
    let mut challenges: Vec<Vec<(String, String)>> = Vec::new();
    loop {
        skip(&mut at, b" \t,");
        if at >= bytes.len() {
            return challenges;
        }
        let start = at;
        while at < bytes.len() && is_tchar(bytes[at]) {
            at += 1;
        }
        if at == start {
            return challenges;
        }
        let name = &value[start..at];
        skip(&mut at, b" \t");
        if at < bytes.len() && bytes[at] == b'=' && challenges.last().is_some() {
            // A parameter of the current challenge: `name = token / quoted-string`; or a
            // `token68` with its padding (`abc==`), which names nothing.
            at += 1;
            if matches!(bytes.get(at), None | Some(b'=' | b',')) {
                skip(&mut at, b"=");
                continue;
            }
            skip(&mut at, b" \t");
            let parameter = if bytes.get(at) == Some(&b'"') {
                at += 1;
                let mut text = Vec::new();
                loop {
                    match bytes.get(at) {
                        None => return challenges,
                        Some(b'"') => break,
                        Some(b'\\') => {
                            let Some(&escaped) = bytes.get(at + 1) else {
                                return challenges;
                            };
                            text.push(escaped);
                            at += 2;
                        }
                        Some(&b) => {
                            text.push(b);
                            at += 1;
                        }
                    }
                }
                at += 1;
                String::from_utf8(text).ok()
            } else {
                let start = at;
                while at < bytes.len() && is_tchar(bytes[at]) {
                    at += 1;
                }
                (at > start).then(|| value[start..at].to_owned())
            };
            let Some(parameter) = parameter else {
                return challenges;
            };
            if let Some(current) = challenges.last_mut() {
                current.push((name.to_owned(), parameter));
            }
        } else {
            // A new challenge's scheme; a `token68` after it without padding reads as a scheme
            // with no parameters, which asks for no claims.
            challenges.push(Vec::new());
        }
    }
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
    fn reads_challenges_as_rfc_9110_writes_them() {
        use base64::Engine as _;
        let b64 = |json: &str| base64::engine::general_purpose::STANDARD.encode(json);
        let (a, b) = (b64(r#"{"a":1}"#), b64(r#"{"b":2}"#));
        // The claims of the challenge whose error asks for them, not of another one.
        let several = format!(
            r#"Bearer error="invalid_token", claims="{a}", Bearer realm="", error="insufficient_claims", claims="{b}""#
        );
        assert_eq!(claims_from_challenge(&several), Some(json!({"b": 2})));
        // Names are whole and case-insensitive; a token value is a value.
        let lookalikes = format!(
            r#"Bearer xms_claims="{a}", xerror="insufficient_claims", Error=insufficient_claims, Claims="{b}""#
        );
        assert_eq!(claims_from_challenge(&lookalikes), Some(json!({"b": 2})));
        // An escaped quote inside another parameter does not end it.
        let escaped = format!(
            r#"Bearer error_description="say \"claims=\"{a}", error="insufficient_claims", claims="{b}""#
        );
        assert_eq!(claims_from_challenge(&escaped), Some(json!({"b": 2})));
        // A challenge in the token68 form, then one with parameters.
        let token68 =
            format!(r#"Basic dXNlcjpwYXNz==, Bearer error="insufficient_claims", claims="{b}""#);
        assert_eq!(claims_from_challenge(&token68), Some(json!({"b": 2})));
        // Anything else asks for nothing.
        for value in [
            format!(r#"Bearer error="invalid_token", claims="{a}""#),
            format!(r#"Bearer claims="{a}""#),
            r#"Bearer error="insufficient_claims""#.to_owned(),
            format!(r#"Bearer error="insufficient_claims", claims="{a}"#),
            r#"Bearer error="insufficient_claims", claims="not base64!""#.to_owned(),
            String::new(),
            "=,=".to_owned(),
        ] {
            assert_eq!(claims_from_challenge(&value), None, "{value}");
        }
    }

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
