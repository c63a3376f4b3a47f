//! Records to SQLite values without building a JSON object on the way: a serializer that fills the
//! named columns from a struct's (or map's) fields.

use std::fmt;

use rusqlite::types::Value as SqlValue;
use serde::Serialize;
use serde::ser::{self, Impossible};

/// Why a record could not be turned into cells the direct way.
#[derive(Debug)]
pub(super) enum CellError {
    /// A field holds a sequence, a map, a struct or bytes: stored as JSON text, by the slow path.
    Nested,
    /// The record is no struct or map.
    NotAnObject(&'static str),
    /// The record's own `Serialize` failed.
    Custom(String),
}

impl fmt::Display for CellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CellError::Nested => f.write_str("a nested value"),
            CellError::NotAnObject(kind) => write!(
                f,
                "a record must serialize as an object (a struct or a map) to fill columns, not {kind}"
            ),
            CellError::Custom(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CellError {}

impl ser::Error for CellError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CellError::Custom(msg.to_string())
    }
}

/// Fills `cells[i]` with the field named `columns[i]` of the record serialized into it; fields
/// that are no column are skipped, columns that are no field stay as they were (NULL).
pub(super) struct RowSerializer<'a> {
    pub columns: &'a [String],
    pub cells: &'a mut [SqlValue],
    /// The key of the map entry being serialized, for maps.
    pub key: Option<String>,
}

impl RowSerializer<'_> {
    fn set<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), CellError> {
        if let Some(i) = self.columns.iter().position(|c| c == key) {
            self.cells[i] = value.serialize(CellSerializer)?;
        }
        Ok(())
    }
}

macro_rules! not_an_object {
    ($($method:ident($($arg:ty),*) -> $kind:literal;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<Self::Ok, Self::Error> {
            Err(CellError::NotAnObject($kind))
        })*
    };
}

impl ser::Serializer for &mut RowSerializer<'_> {
    type Ok = ();
    type Error = CellError;
    type SerializeSeq = Impossible<(), CellError>;
    type SerializeTuple = Impossible<(), CellError>;
    type SerializeTupleStruct = Impossible<(), CellError>;
    type SerializeTupleVariant = Impossible<(), CellError>;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), CellError>;

    not_an_object! {
        serialize_bool(bool) -> "a boolean";
        serialize_i8(i8) -> "a number";
        serialize_i16(i16) -> "a number";
        serialize_i32(i32) -> "a number";
        serialize_i64(i64) -> "a number";
        serialize_u8(u8) -> "a number";
        serialize_u16(u16) -> "a number";
        serialize_u32(u32) -> "a number";
        serialize_u64(u64) -> "a number";
        serialize_f32(f32) -> "a number";
        serialize_f64(f64) -> "a number";
        serialize_char(char) -> "a string";
        serialize_str(&str) -> "a string";
        serialize_bytes(&[u8]) -> "bytes";
        serialize_none() -> "null";
        serialize_unit() -> "null";
        serialize_unit_struct(&'static str) -> "null";
        serialize_unit_variant(&'static str, u32, &'static str) -> "a string";
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CellError> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), CellError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), CellError> {
        Err(CellError::NotAnObject("an enum variant"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, CellError> {
        Err(CellError::NotAnObject("an array"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, CellError> {
        Err(CellError::NotAnObject("an array"))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, CellError> {
        Err(CellError::NotAnObject("an array"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, CellError> {
        Err(CellError::NotAnObject("an enum variant"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, CellError> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, CellError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, CellError> {
        Err(CellError::NotAnObject("an enum variant"))
    }
}

impl ser::SerializeStruct for &mut RowSerializer<'_> {
    type Ok = ();
    type Error = CellError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), CellError> {
        self.set(key, value)
    }
    fn skip_field(&mut self, _: &'static str) -> Result<(), CellError> {
        Ok(())
    }
    fn end(self) -> Result<(), CellError> {
        Ok(())
    }
}

impl ser::SerializeMap for &mut RowSerializer<'_> {
    type Ok = ();
    type Error = CellError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CellError> {
        self.key = Some(match key.serialize(CellSerializer)? {
            SqlValue::Text(s) => s,
            SqlValue::Integer(i) => i.to_string(),
            _ => return Err(CellError::Custom("a map key must be a string".to_string())),
        });
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CellError> {
        let key = self.key.take().unwrap_or_default();
        self.set(&key, value)
    }
    fn end(self) -> Result<(), CellError> {
        Ok(())
    }
}

/// One field as an SQLite value: numbers, text, booleans as 0/1, `None` and units as NULL, unit
/// variants as their name. Anything nested is [`CellError::Nested`].
struct CellSerializer;

impl ser::Serializer for CellSerializer {
    type Ok = SqlValue;
    type Error = CellError;
    type SerializeSeq = Impossible<SqlValue, CellError>;
    type SerializeTuple = Impossible<SqlValue, CellError>;
    type SerializeTupleStruct = Impossible<SqlValue, CellError>;
    type SerializeTupleVariant = Impossible<SqlValue, CellError>;
    type SerializeMap = Impossible<SqlValue, CellError>;
    type SerializeStruct = Impossible<SqlValue, CellError>;
    type SerializeStructVariant = Impossible<SqlValue, CellError>;

    fn serialize_bool(self, v: bool) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Integer(i64::from(v)))
    }
    fn serialize_i8(self, v: i8) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Integer(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Integer(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Integer(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Integer(v))
    }
    fn serialize_u8(self, v: u8) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Integer(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Integer(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Integer(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<SqlValue, CellError> {
        // Beyond i64 the value would become a float: kept exact, as text.
        Ok(i64::try_from(v).map_or_else(|_| SqlValue::Text(v.to_string()), SqlValue::Integer))
    }
    fn serialize_f32(self, v: f32) -> Result<SqlValue, CellError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<SqlValue, CellError> {
        // Not a number is no JSON number either: NULL, as serde_json writes it.
        Ok(if v.is_finite() {
            SqlValue::Real(v)
        } else {
            SqlValue::Null
        })
    }
    fn serialize_char(self, v: char) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Text(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Text(v.to_string()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<SqlValue, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_none(self) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<SqlValue, CellError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Null)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<SqlValue, CellError> {
        Ok(SqlValue::Text(variant.to_string()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<SqlValue, CellError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<SqlValue, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, CellError> {
        Err(CellError::Nested)
    }
}
