//! Typed settings from a connector's table, tolerant of the environment: `CUADRA__CONNECTORS__NAME__KEY`
//! overrides arrive as strings whatever the key's type, so where a settings struct asks for a number or a boolean
//! and the table holds a string, the string is parsed (`"30"` → 30, `"true"` → true). Everything else is
//! deserialized exactly as `serde_json::from_value` would, unknown keys included. Errors name the key that failed
//! or is unknown (`connectors.NAME.KEY`), or the table itself for a missing key (`connectors.NAME`).

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess};
use serde::Deserializer;
use serde_json::{Map, Value};

/// Deserializes `T` from `table`, reading numbers and booleans from strings where `T` asks for them. The error is
/// `(path, message)`: the failing key's dotted path (empty at the top) and serde's message.
pub fn from_value<T: DeserializeOwned>(table: Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(Lenient(table)).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, e.into_inner().to_string())
    })
}

/// A JSON value whose strings stand in for numbers and booleans when those are asked for.
struct Lenient(Value);

macro_rules! from_string {
    ($($method:ident => $ty:ty, $visit:ident;)*) => {$(
        fn $method<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            if let Value::String(s) = &self.0 {
                if let Ok(n) = s.trim().parse::<$ty>() {
                    return visitor.$visit(n);
                }
            }
            self.0.$method(visitor)
        }
    )*};
}

macro_rules! delegate {
    ($($method:ident),*) => {$(
        fn $method<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method(visitor)
        }
    )*};
}

impl<'de> Deserializer<'de> for Lenient {
    type Error = serde_json::Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(m) => visitor.visit_map(LenientMap::new(m)),
            Value::Array(a) => visitor.visit_seq(LenientSeq(a.into_iter())),
            other => other.deserialize_any(visitor),
        }
    }

    from_string! {
        deserialize_bool => bool, visit_bool;
        deserialize_i8 => i64, visit_i64;
        deserialize_i16 => i64, visit_i64;
        deserialize_i32 => i64, visit_i64;
        deserialize_i64 => i64, visit_i64;
        deserialize_u8 => u64, visit_u64;
        deserialize_u16 => u64, visit_u64;
        deserialize_u32 => u64, visit_u64;
        deserialize_u64 => u64, visit_u64;
        deserialize_f32 => f64, visit_f64;
        deserialize_f64 => f64, visit_f64;
    }

    delegate!(
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_identifier,
        deserialize_ignored_any
    );

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Lenient(other)),
        }
    }

    fn deserialize_unit_struct<V: de::Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(a) => visitor.visit_seq(LenientSeq(a.into_iter())),
            other => other.deserialize_seq(visitor),
        }
    }

    fn deserialize_tuple<V: de::Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(m) => visitor.visit_map(LenientMap::new(m)),
            other => other.deserialize_map(visitor),
        }
    }

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(m) => visitor.visit_map(LenientMap::new(m)),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }
}

struct LenientSeq(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for LenientSeq {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Lenient(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct LenientMap {
    entries: serde_json::map::IntoIter,
    value: Option<Value>,
}

impl LenientMap {
    fn new(m: Map<String, Value>) -> Self {
        LenientMap {
            entries: m.into_iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for LenientMap {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.entries.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(Lenient(v)),
            None => Err(de::Error::custom("a value was asked for before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct S {
        name: String,
        #[serde(default)]
        days: Option<u32>,
        #[serde(default)]
        on: bool,
        #[serde(default)]
        rate: Option<f64>,
        #[serde(default)]
        list: Vec<u16>,
    }

    #[test]
    fn strings_stand_in_for_numbers_and_booleans() {
        let v = serde_json::json!({"name": "x", "days": " 30", "on": "true", "rate": "2.5", "list": ["1", 2]});
        let s: S = from_value(v).unwrap();
        assert_eq!(
            s,
            S {
                name: "x".into(),
                days: Some(30),
                on: true,
                rate: Some(2.5),
                list: vec![1, 2]
            }
        );
    }

    #[test]
    fn strings_stay_strings_and_errors_name_the_key() {
        let (path, msg) = from_value::<S>(serde_json::json!({"name": 5})).unwrap_err();
        assert_eq!(path, "name");
        assert!(msg.contains("invalid type"), "{msg}");
        let (path, msg) =
            from_value::<S>(serde_json::json!({"name": "x", "days": "soon"})).unwrap_err();
        assert_eq!(path, "days");
        assert!(msg.contains("soon"), "{msg}");
        let (path, msg) = from_value::<S>(serde_json::json!({"name": "x", "nope": 1})).unwrap_err();
        assert_eq!(path, "nope");
        assert!(msg.contains("unknown field `nope`"), "{msg}");
        let (path, msg) = from_value::<S>(serde_json::json!({})).unwrap_err();
        assert_eq!(path, "");
        assert_eq!(msg, "missing field `name`");
    }
}
