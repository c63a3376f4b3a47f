//! The JSON Schema of the YAML format, derived from the [`ast`](crate::ast) types (doc comments
//! become descriptions) plus the shorthands the reader accepts. `fsm schema` prints it, and the
//! repository commits a copy (`fsm.schema.json`) that editors use through
//! `# yaml-language-server: $schema=...`.

use schemars::Schema;
use serde_json::{Value, json};

/// The schema of a machine file.
pub fn schema() -> Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12();
    let schema = settings.into_generator().into_root_schema_for::<crate::ast::Machine>();
    let mut value = schema.to_value();
    forbid_null(&mut value);
    value
}

/// The schema as pretty-printed JSON, with a final newline: the content of `fsm.schema.json`.
pub fn schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// Optional keys are omitted, never `null` (the reader refuses `name: ~` where a string is
/// expected): drops the `null` alternatives schemars adds for `Option` fields.
fn forbid_null(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Array(types)) = object.get_mut("type") {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    object.insert("type".to_owned(), only);
                }
            }
            if let Some(Value::Array(options)) = object.get("anyOf") {
                let kept: Vec<Value> = options
                    .iter()
                    .filter(|o| **o != json!({ "type": "null" }))
                    .cloned()
                    .collect();
                if let [only] = kept.as_slice() {
                    let only = only.clone();
                    object.remove("anyOf");
                    if let Value::Object(inner) = only {
                        object.extend(inner);
                    }
                }
            }
            object.values_mut().for_each(forbid_null);
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_null),
        _ => {}
    }
}

/// Adds what the derive cannot see to the machine's schema: the single-network shorthand
/// (`states` and `arcs` at the top level), events given by name alone, numeric versions, the
/// lower bound of `max_transitions`, and the rule that a machine has `networks` or `states`.
pub(crate) fn machine_shorthands(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        properties.insert(
            "states".to_owned(),
            json!({
                "description": "The states of a machine with a single network (instead of `networks`).",
                "type": "array",
                "items": { "$ref": "#/$defs/State" }
            }),
        );
        properties.insert(
            "arcs".to_owned(),
            json!({
                "description": "The arcs of a machine with a single network (instead of `networks`).",
                "type": "array",
                "items": { "$ref": "#/$defs/Arc" }
            }),
        );
        properties.insert(
            "superstates".to_owned(),
            json!({
                "description": "The superstates of a machine with a single network (instead of `networks`).",
                "type": "array",
                "items": { "$ref": "#/$defs/Superstate" }
            }),
        );
        if let Some(Value::Object(version)) = properties.get_mut("version") {
            // `version: 1.0` is read as the text "1.0".
            version.insert("type".to_owned(), json!(["string", "number"]));
        }
        if let Some(Value::Object(max)) = properties.get_mut("max_transitions") {
            max.insert("minimum".to_owned(), json!(1));
        }
        if let Some(Value::Object(errors)) = properties.get_mut("errors") {
            errors.insert(
                "items".to_owned(),
                json!({ "anyOf": [
                    { "type": "string", "description": "A kind of error, by name." },
                    { "$ref": "#/$defs/ErrorDecl" }
                ]}),
            );
        }
        if let Some(Value::Object(events)) = properties.get_mut("events") {
            events.insert(
                "items".to_owned(),
                json!({ "anyOf": [
                    { "type": "string", "description": "An event without payload, by name." },
                    { "$ref": "#/$defs/Event" }
                ]}),
            );
        }
    }
    object.insert(
        "anyOf".to_owned(),
        json!([{ "required": ["networks"] }, { "required": ["states"] }]),
    );
}
