//! Strict JSON: objects whose member names appear once, at every depth (RFC 7515 §4, RFC 7519 §4,
//! RFC 7517 §4). `serde_json::Value` silently keeps the last duplicate; this parser refuses it.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Why a document was refused. Never carries the document's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON, not UTF-8, or not an object at the top.
    NotObject,
    /// A member name repeats within one object.
    DuplicateMember,
    /// A value is not what a JSON reader can decode: an escape naming no character (a lone
    /// surrogate such as `\ud800`), a number beyond a double's range, or nesting deeper than
    /// serde_json reads (127 levels).
    InvalidValue,
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

/// A JSON object's members, read without building a tree: names borrowed from the text (copied
/// only when they hold escapes), values as raw JSON text. Duplicate names are refused at every
/// depth, as [`parse_object`] does; a nested object is checked with the strict parser.
pub(crate) struct Members<'a> {
    entries: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Members<'a> {
    /// The raw value of a member.
    pub(crate) fn raw(&self, name: &str) -> Option<&'a RawValue> {
        self.entries
            .iter()
            .find(|(key, _)| same_name(key, name))
            .map(|(_, value)| *value)
    }

    /// The members, in the order of the text.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &'a RawValue)> {
        self.entries.iter().map(|(name, value)| (&**name, *value))
    }

    /// Whether the object has no member.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the object has this member.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    /// A member as an owned value (for the few members a check reads).
    pub(crate) fn get(&self, name: &str) -> Option<Value> {
        self.raw(name)
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
    }

    /// A member that should be a string: `None` if absent, `Some(None)` if it is not a string.
    /// Borrowed from the text unless the string holds escapes.
    pub(crate) fn string(&self, name: &str) -> Option<Option<Cow<'a, str>>> {
        let text = self.raw(name)?.get();
        if let Some(plain) = plain_string(text) {
            return Some(Some(Cow::Borrowed(plain)));
        }
        Some(match serde_json::from_str::<&'a str>(text) {
            Ok(borrowed) => Some(Cow::Borrowed(borrowed)),
            Err(_) => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
        })
    }

    /// Whether a member is a JSON string.
    pub(crate) fn is_string(&self, name: &str) -> bool {
        self.raw(name).is_some_and(|raw| raw.get().starts_with('"'))
    }
}

/// The text of a member's value that is a JSON string without an escape, between its quotes;
/// `None` for any other value. Only for values of [`Members`]: their parse checked the grammar
/// (no control character, valid UTF-8), so such a string is its text and no decoder needs to
/// run again.
pub(crate) fn plain_string(value: &str) -> Option<&str> {
    value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|inner| !inner.contains('\\'))
}

/// Parses `text` as one JSON object into borrowed members, refusing duplicate names at every
/// depth and any value a JSON reader could not decode, so every later reader of the same text
/// (a claims map, the application's own type) sees exactly what the checks saw.
pub(crate) fn parse_members(text: &str) -> Result<Members<'_>, JsonError> {
    let Ok(RawMembers(entries)) = serde_json::from_str::<RawMembers<'_>>(text) else {
        return Err(JsonError::NotObject);
    };
    for (i, (key, value)) in entries.iter().enumerate() {
        if entries[..i].iter().any(|(other, _)| same_name(other, key)) {
            return Err(JsonError::DuplicateMember);
        }
        // Skipping a value (as `RawValue` does) checks its grammar but not what its escapes
        // decode to, nor a number's range. A string without an escape is valid as it stands
        // (the text is UTF-8 and the grammar refused control characters); anything else is
        // decoded once, without building a tree.
        let raw = value.get();
        let plain_string = raw.starts_with('"') && !raw.contains('\\');
        if !plain_string {
            check_value(raw)?;
        }
    }
    Ok(Members { entries })
}

/// How deep a member's value may nest: serde_json reads at most 127 levels of arrays and objects
/// (its recursion limit of 128), and the object holding the member is one of them.
const MAX_VALUE_DEPTH: usize = 126;

/// Decodes one JSON value as a reader would (every string and number), keeping nothing.
fn check_value(raw: &str) -> Result<(), JsonError> {
    let mut de = serde_json::Deserializer::from_str(raw);
    let mut duplicate = false;
    let checked = de.deserialize_any(Check {
        duplicate: &mut duplicate,
        depth: 0,
    });
    match checked {
        Ok(()) => Ok(()),
        Err(_) if duplicate => Err(JsonError::DuplicateMember),
        Err(_) => Err(JsonError::InvalidValue),
    }
}

/// Walks a value: strings decoded (escapes and surrogate pairs checked), numbers read (a double's
/// range checked), member names compared within each object, nesting counted. Builds nothing but
/// each object's list of names.
struct Check<'f> {
    duplicate: &'f mut bool,
    /// Arrays and objects around this value, within the member's value.
    depth: usize,
}

impl Check<'_> {
    fn nested<E: de::Error>(&mut self) -> Result<Check<'_>, E> {
        if self.depth >= MAX_VALUE_DEPTH {
            return Err(E::custom("nested too deeply"));
        }
        Ok(Check {
            duplicate: &mut *self.duplicate,
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self.nested()?)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut access: A) -> Result<(), A::Error> {
        // An entered object counts even when empty, as an array does: a reader refuses an empty
        // container at the limit too.
        let check = self.nested()?;
        let mut names: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Key(name)) = access.next_key::<Key<'de>>()? {
            access.next_value_seed(Check {
                duplicate: &mut *check.duplicate,
                depth: check.depth,
            })?;
            if names.iter().any(|other| same_name(other, &name)) {
                *self.duplicate = true;
                return Err(de::Error::custom("duplicate member"));
            }
            names.push(name);
        }
        Ok(())
    }
}

/// Name equality for the short member names of JOSE headers and claims: length and first byte
/// decide most pairs without a call to `memcmp` (the lookups and the duplicate check compare
/// every pair of names).
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

struct RawMembers<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawMembers<'a> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = RawMembers<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(16);
                while let Some(Key(key)) = access.next_key::<Key<'de>>()? {
                    let value: &'de RawValue = access.next_value()?;
                    entries.push((key, value));
                }
                Ok(RawMembers(entries))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// A member name, borrowed when it holds no escape.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Key<'a> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod member_tests {
    use super::*;

    #[test]
    fn reads_members_and_refuses_duplicates_like_the_strict_parser() {
        let m =
            parse_members(r#"{"a":"x","e":"\u0078","n":1.5,"arr":["p","q"],"o":{"k":1}}"#).unwrap();
        assert_eq!(m.get("a"), Some(Value::from("x")));
        assert!(matches!(m.string("a"), Some(Some(Cow::Borrowed("x")))));
        assert_eq!(m.string("e"), Some(Some(Cow::Owned("x".to_owned()))));
        assert_eq!(m.string("n"), Some(None));
        assert_eq!(m.string("zz"), None);
        assert!(m.is_string("a") && !m.is_string("n"));
        assert!(m.contains("arr") && !m.contains("zz"));
        for bad in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":1,"\u0061":2}"#,
            r#"{"o":{"k":1,"k":2}}"#,
            r#"{"arr":[{"k":1,"k":2}]}"#,
        ] {
            assert_eq!(
                parse_members(bad).err(),
                Some(JsonError::DuplicateMember),
                "{bad}"
            );
        }
        for bad in ["[]", "1", "{", "{} {}", ""] {
            assert_eq!(
                parse_members(bad).err(),
                Some(JsonError::NotObject),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_values_a_reader_cannot_decode_wherever_they_are() {
        for bad in [
            r#"{"s":"\ud800"}"#,
            r#"{"s":"\udc00"}"#,
            r#"{"s":"x\ud83dy"}"#,
            r#"{"s":"\ude00\ud83d"}"#,
            r#"{"n":1e400}"#,
            r#"{"n":-1e400}"#,
            r#"{"a":["ok","\ud800"]}"#,
            r#"{"a":[1,2,1e999]}"#,
            r#"{"o":{"deep":{"s":"\udfff"}}}"#,
            r#"{"o":{"k":"\ud800"}}"#,
        ] {
            assert_eq!(
                parse_members(bad).err(),
                Some(JsonError::InvalidValue),
                "{bad}"
            );
        }
        // Nesting: accepted exactly when a reader of the whole object accepts it.
        for depth in 120..135 {
            let deep = format!(r#"{{"d":{}1{}}}"#, "[".repeat(depth), "]".repeat(depth));
            let reader = serde_json::from_str::<Map<String, Value>>(&deep).is_ok();
            assert_eq!(parse_members(&deep).is_ok(), reader, "depth {depth}");
            let objects = format!(
                r#"{{"d":{}1{}}}"#,
                r#"{"a":"#.repeat(depth),
                "}".repeat(depth)
            );
            let reader = serde_json::from_str::<Map<String, Value>>(&objects).is_ok();
            assert_eq!(
                parse_members(&objects).is_ok(),
                reader,
                "objects, depth {depth}"
            );
            // An empty container innermost, where nothing inside it is read.
            for innermost in ["{}", "[]"] {
                let deep = format!(
                    r#"{{"d":{}{innermost}{}}}"#,
                    "[".repeat(depth),
                    "]".repeat(depth)
                );
                let reader = serde_json::from_str::<Map<String, Value>>(&deep).is_ok();
                assert_eq!(
                    parse_members(&deep).is_ok(),
                    reader,
                    "{innermost}, depth {depth}"
                );
            }
        }
        // What a reader decodes is accepted: a surrogate pair, escaped solidus, big integers.
        let good = parse_members(
            r#"{"s":"\ud83d\ude00","u":"https:\/\/x","n":123456789012345678901234567890,"e":"\u00e9"}"#,
        )
        .unwrap();
        assert_eq!(
            good.string("s"),
            Some(Some(Cow::Owned("\u{1f600}".to_owned())))
        );
        assert_eq!(
            good.string("u"),
            Some(Some(Cow::Owned("https://x".to_owned())))
        );
    }
}
