//! The catalog of built-in functions (`{ builtin: <name>, params: {...} }`): their names, the
//! role each plays, and the parameters each takes. Validation checks references against it; the
//! runtime implements each entry (on records that are `serde_json::Value`-like).

/// What a function does, which decides its signature in the generated trait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// An arc's guard: reads the record, returns a boolean.
    Condition,
    /// Changes the record (state or arc `transform`).
    Transform,
    /// Checks the record on entering a state (`validate`); a failure fails the state.
    Validate,
    /// Makes the target state's data on an arc (`data:` of an arc).
    MakeData,
}

impl Role {
    /// The word used in diagnostics and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Condition => "condition",
            Role::Transform => "transform",
            Role::Validate => "validate",
            Role::MakeData => "state data maker",
        }
    }
}

/// The type of a built-in's parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// A string.
    Str,
    /// A list of strings.
    StrList,
    /// A number (integer or float).
    Number,
    /// A mapping of strings to strings.
    StrMap,
    /// Any value.
    Any,
}

impl ParamType {
    /// How the type is described in diagnostics and docs.
    pub fn describe(self) -> &'static str {
        match self {
            ParamType::Str => "a string",
            ParamType::StrList => "a list of strings",
            ParamType::Number => "a number",
            ParamType::StrMap => "a mapping of strings to strings",
            ParamType::Any => "any value",
        }
    }
}

/// One parameter of a built-in.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    /// Its key in `params`.
    pub name: &'static str,
    /// Its type.
    pub ty: ParamType,
    /// Whether it must be given.
    pub required: bool,
}

/// A built-in function.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    /// Its name in `builtin:`.
    pub name: &'static str,
    /// The one role it can play.
    pub role: Role,
    /// Its parameters.
    pub params: &'static [Param],
    /// One line of documentation.
    pub doc: &'static str,
}

const fn req(name: &'static str, ty: ParamType) -> Param {
    Param {
        name,
        ty,
        required: true,
    }
}

const fn opt(name: &'static str, ty: ParamType) -> Param {
    Param {
        name,
        ty,
        required: false,
    }
}

/// Every built-in, by name.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "required_fields",
        role: Role::Validate,
        params: &[req("fields", ParamType::StrList)],
        doc: "fails unless every field of `fields` is present and not null",
    },
    Builtin {
        name: "field_range",
        role: Role::Validate,
        params: &[
            req("field", ParamType::Str),
            opt("min", ParamType::Number),
            opt("max", ParamType::Number),
        ],
        doc: "fails unless `field` is a number within `min..=max` (each bound optional)",
    },
    Builtin {
        name: "set_field",
        role: Role::Transform,
        params: &[req("field", ParamType::Str), req("value", ParamType::Any)],
        doc: "sets `field` to `value`",
    },
    Builtin {
        name: "remove_fields",
        role: Role::Transform,
        params: &[req("fields", ParamType::StrList)],
        doc: "removes every field of `fields`",
    },
    Builtin {
        name: "rename_fields",
        role: Role::Transform,
        params: &[req("map", ParamType::StrMap)],
        doc: "renames fields: each key of `map` to its value",
    },
    Builtin {
        name: "field_equals",
        role: Role::Condition,
        params: &[req("field", ParamType::Str), req("value", ParamType::Any)],
        doc: "true when `field` equals `value`",
    },
    Builtin {
        name: "field_present",
        role: Role::Condition,
        params: &[req("field", ParamType::Str)],
        doc: "true when `field` is present and not null",
    },
];

/// The built-in called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}
