//! Strict JSON: objects whose member names appear once, at every depth (RFC 7515 §4, RFC 7519 §4,
//! RFC 7517 §4). `serde_json::Value` silently keeps the last duplicate; this parser refuses it.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a document was refused. Never carries the document's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON, not UTF-8, or not an object at the top.
    NotObject,
    /// A member name repeats within one object.
    DuplicateMember,
}

/// Parses `bytes` as one JSON object, refusing duplicate member names at any depth.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut duplicate = false;
    let value = de
        .deserialize_any(StrictVisitor {
            duplicate: &mut duplicate,
        })
        .map_err(|_| {
            if duplicate {
                JsonError::DuplicateMember
            } else {
                JsonError::NotObject
            }
        })?;
    de.end().map_err(|_| JsonError::NotObject)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotObject),
    }
}

struct StrictVisitor<'f> {
    duplicate: &'f mut bool,
}

impl<'de> DeserializeSeed<'de> for StrictVisitor<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictVisitor {
            duplicate: &mut *self.duplicate,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(StrictVisitor {
                duplicate: &mut *self.duplicate,
            })?;
            if map.insert(key, value).is_some() {
                *self.duplicate = true;
                return Err(de::Error::custom("duplicate member"));
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_duplicates_at_any_depth() {
        assert_eq!(
            parse_object(br#"{"a":1,"a":2}"#),
            Err(JsonError::DuplicateMember)
        );
        assert_eq!(
            parse_object(br#"{"a":{"b":1,"b":1}}"#),
            Err(JsonError::DuplicateMember)
        );
        assert_eq!(
            parse_object(br#"{"a":[{"b":1,"b":1}]}"#),
            Err(JsonError::DuplicateMember)
        );
    }

    #[test]
    fn refuses_non_objects_and_trailing_data() {
        for bad in [&b"[]"[..], b"1", b"\"x\"", b"{} {}", b"{", b"\xff", b""] {
            assert_eq!(parse_object(bad), Err(JsonError::NotObject));
        }
    }

    #[test]
    fn keeps_unicode_escapes_and_numbers() {
        let map = parse_object(br#"{"a":"\u00e9","n":1.5,"i":-3,"z":null}"#).unwrap();
        assert_eq!(map["a"], "é");
        assert_eq!(map["n"], 1.5);
        assert_eq!(map["i"], -3);
    }
}
