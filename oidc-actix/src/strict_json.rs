//! JSON objects parsed strictly: a member name may appear only once in any object.
//!
//! RFC 7519 §4 lets a JWT parser either reject duplicate claim names or keep the last one. This
//! crate rejects them, at every depth: with duplicates, what a check reads and what a claims type
//! or another parser reads could differ (`"groups": ["users"], "groups": ["admins"]`), and no
//! honest provider sends them. Everything else is serde_json's: UTF-8 is validated in every
//! string (members nobody reads included, which skipping would not do), and nesting is limited
//! to serde_json's recursion limit (128), so no depth can exhaust the stack.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `bytes` as one JSON object with unique member names at every level.
pub(crate) fn object(bytes: &[u8]) -> Result<Map<String, Value>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = deserializer.deserialize_any(StrictValue)?;
    deserializer.end()?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(de::Error::custom("not a JSON object")),
    }
}

/// Builds a `Value` like serde_json's own visitor, failing on a repeated member name.
struct StrictValue;

impl<'de> de::DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        Number::from_f64(value)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number out of range"))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            let value = access.next_value_seed(StrictValue)?;
            if map.contains_key(&name) {
                return Err(de::Error::custom("a member name appears twice"));
            }
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_parse_like_serde_json() {
        let text = br#"{"a": 1, "b": [1.5, -2, "x", null, true, {"c": {}}], "u": "caf\u00e9"}"#;
        assert_eq!(
            Value::Object(object(text).unwrap()),
            serde_json::from_slice::<Value>(text).unwrap()
        );
        assert_eq!(object(b" {} ").unwrap(), Map::new());
    }

    #[test]
    fn a_repeated_member_name_is_an_error_at_any_depth() {
        assert!(object(br#"{"sub": "a", "sub": "b"}"#).is_err());
        assert!(object(br#"{"x": {"roles": [1], "roles": [2]}}"#).is_err());
        assert!(object(br#"{"x": [{"k": 1, "k": 1}]}"#).is_err());
        assert!(
            object(br#"{"k": {"k": 1}}"#).is_ok(),
            "the same name at two levels"
        );
    }

    #[test]
    fn anything_but_one_valid_object_is_an_error() {
        for text in [
            &b"[1]"[..],
            b"\"s\"",
            b"{} {}",
            b"{\"a\": 1",
            b"{\"x\": \"\xff\"}",
            b"{\"\xff\": 1}",
            b"{\"x\": \"\\ud800\"}",
        ] {
            assert!(object(text).is_err(), "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{{\"x\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(object(deep.as_bytes()).is_err());
        let fine = format!("{{\"x\": {}{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            object(fine.as_bytes()).unwrap().len(),
            json!({"x": 0}).as_object().unwrap().len()
        );
    }
}
