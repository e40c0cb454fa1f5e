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
