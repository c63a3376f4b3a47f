//! The built-in functions a machine can name with `{ builtin: <name>, params: {...} }`, for
//! records whose fields are JSON values: `serde_json::Value` (an object) and
//! `serde_json::Map<String, Value>` out of the box, any type of yours through [`Fields`].
//!
//! Needs the `builtins` feature. The compiler checks names, roles and parameters against its
//! catalog (`fsm_codegen::builtins`), so by the time these run the parameters have the right shape;
//! a parameter that is somehow missing fails the function rather than panicking.

use crate::core::FnError;
pub use serde_json::Value;

/// A record with named JSON fields.
pub trait Fields {
    /// The field `name`, if present.
    fn field(&self, name: &str) -> Option<&Value>;
    /// Sets the field `name`.
    fn set_field(&mut self, name: &str, value: Value);
    /// Removes the field `name`, returning it.
    fn remove_field(&mut self, name: &str) -> Option<Value>;
}

impl Fields for serde_json::Map<String, Value> {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
    fn set_field(&mut self, name: &str, value: Value) {
        self.insert(name.to_owned(), value);
    }
    fn remove_field(&mut self, name: &str) -> Option<Value> {
        self.remove(name)
    }
}

/// A `Value` that is not an object has no fields; setting one makes it an object.
impl Fields for Value {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
    fn set_field(&mut self, name: &str, value: Value) {
        if !self.is_object() {
            *self = Value::Object(serde_json::Map::new());
        }
        if let Value::Object(map) = self {
            map.insert(name.to_owned(), value);
        }
    }
    fn remove_field(&mut self, name: &str) -> Option<Value> {
        self.as_object_mut().and_then(|m| m.remove(name))
    }
}

/// Parses the parameters the generator wrote as JSON text (once per call site, in a static).
pub fn params(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or(Value::Null)
}

fn param<'a>(params: &'a Value, name: &str, builtin: &str) -> Result<&'a Value, FnError> {
    params
        .get(name)
        .ok_or_else(|| FnError::new(format!("built-in `{builtin}` has no parameter `{name}`")))
}

fn str_param<'a>(params: &'a Value, name: &str, builtin: &str) -> Result<&'a str, FnError> {
    param(params, name, builtin)?
        .as_str()
        .ok_or_else(|| FnError::new(format!("built-in `{builtin}`: `{name}` is not a string")))
}

fn str_list<'a>(params: &'a Value, name: &str, builtin: &str) -> Result<Vec<&'a str>, FnError> {
    match param(params, name, builtin)? {
        Value::Array(items) => Ok(items.iter().filter_map(Value::as_str).collect()),
        _ => Err(FnError::new(format!("built-in `{builtin}`: `{name}` is not a list"))),
    }
}

/// `required_fields { fields }`: fails unless every field is present and not null.
pub fn required_fields<D: Fields + ?Sized>(data: &mut D, params: &Value) -> Result<(), FnError> {
    let missing: Vec<&str> = str_list(params, "fields", "required_fields")?
        .into_iter()
        .filter(|f| data.field(f).is_none_or(Value::is_null))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(FnError::new(format!("missing required fields: {}", missing.join(", "))))
    }
}

/// `field_range { field, min?, max? }`: fails unless the field is a number within the bounds.
pub fn field_range<D: Fields + ?Sized>(data: &mut D, params: &Value) -> Result<(), FnError> {
    let field = str_param(params, "field", "field_range")?;
    let Some(n) = data.field(field).and_then(Value::as_f64) else {
        return Err(FnError::new(format!("field `{field}` is not a number")));
    };
    let min = params.get("min").and_then(Value::as_f64);
    let max = params.get("max").and_then(Value::as_f64);
    if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
        return Err(FnError::new(format!("field `{field}` = {n} is out of range")));
    }
    Ok(())
}

/// `set_field { field, value }`.
pub fn set_field<D: Fields + ?Sized>(data: &mut D, params: &Value) -> Result<(), FnError> {
    let field = str_param(params, "field", "set_field")?;
    let value = param(params, "value", "set_field")?.clone();
    data.set_field(field, value);
    Ok(())
}

/// `remove_fields { fields }`.
pub fn remove_fields<D: Fields + ?Sized>(data: &mut D, params: &Value) -> Result<(), FnError> {
    for field in str_list(params, "fields", "remove_fields")? {
        data.remove_field(field);
    }
    Ok(())
}

/// `rename_fields { map }`: each key of `map` becomes its value; absent fields are skipped.
pub fn rename_fields<D: Fields + ?Sized>(data: &mut D, params: &Value) -> Result<(), FnError> {
    let Value::Object(map) = param(params, "map", "rename_fields")? else {
        return Err(FnError::new("built-in `rename_fields`: `map` is not a mapping"));
    };
    for (from, to) in map {
        if let (Some(to), Some(value)) = (to.as_str(), data.remove_field(from)) {
            data.set_field(to, value);
        }
    }
    Ok(())
}

/// `field_equals { field, value }` (condition).
pub fn field_equals<D: Fields + ?Sized>(data: &D, params: &Value) -> bool {
    match (params.get("field").and_then(Value::as_str), params.get("value")) {
        (Some(field), Some(value)) => data.field(field) == Some(value),
        _ => false,
    }
}

/// `field_present { field }` (condition): present and not null.
pub fn field_present<D: Fields + ?Sized>(data: &D, params: &Value) -> bool {
    params
        .get("field")
        .and_then(Value::as_str)
        .and_then(|f| data.field(f))
        .is_some_and(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtins_work_on_json_objects() {
        let mut v = json!({"a": 1, "b": null});
        assert!(required_fields(&mut v, &json!({"fields": ["a"]})).is_ok());
        let e = required_fields(&mut v, &json!({"fields": ["a", "b", "c"]})).unwrap_err();
        assert_eq!(e.message(), "missing required fields: b, c");
        assert!(field_range(&mut v, &json!({"field": "a", "min": 0, "max": 1})).is_ok());
        assert!(field_range(&mut v, &json!({"field": "a", "min": 2})).is_err());
        set_field(&mut v, &json!({"field": "c", "value": [1, 2]})).unwrap();
        rename_fields(&mut v, &json!({"map": {"c": "d"}})).unwrap();
        remove_fields(&mut v, &json!({"fields": ["b"]})).unwrap();
        assert_eq!(v, json!({"a": 1, "d": [1, 2]}));
        assert!(field_equals(&v, &json!({"field": "a", "value": 1})));
        assert!(field_present(&v, &json!({"field": "d"})) && !field_present(&v, &json!({"field": "b"})));
        assert_eq!(params("{\"x\":1}"), json!({"x": 1}));
        assert_eq!(params("not json"), Value::Null);
    }
}
