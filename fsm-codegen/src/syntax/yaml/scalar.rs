//! Scalars resolved with the YAML 1.2 core schema and strict booleans: `true`/`false` are
//! booleans, `yes` is a string, quoted scalars are always strings.

use super::tree::Style;

/// A scalar resolved with the YAML 1.2 core schema.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Scalar<'_> {
    pub(super) fn describe(self) -> String {
        match self {
            Scalar::Null => "nothing (null)".to_owned(),
            Scalar::Bool(b) => format!("the boolean `{b}`"),
            Scalar::Int(i) => format!("the integer `{i}`"),
            Scalar::Float(f) => format!("the number `{f}`"),
            Scalar::Str(s) => format!("the string `{s}`"),
        }
    }
}

/// Resolves a scalar: quoted and block scalars are strings; plain ones may be null, booleans
/// (`true`/`false` only) or numbers.
pub(super) fn resolve(text: &str, style: Style) -> Scalar<'_> {
    if style != Style::Plain {
        return Scalar::Str(text);
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Scalar::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .map(Scalar::Int)
            .or_else(|_| text.parse::<f64>().map(Scalar::Float))
            .unwrap_or(Scalar::Str(text));
    }
    if let Some(octal) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(octal, 8)
    {
        return Scalar::Int(i);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Scalar::Int(i);
    }
    if is_core_float(unsigned)
        && let Ok(f) = text.parse::<f64>()
    {
        return Scalar::Float(f);
    }
    Scalar::Str(text)
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, without sign.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => (digits(int) && (frac.is_empty() || digits(frac))) || (int.is_empty() && digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema() {
        assert_eq!(resolve("yes", Style::Plain), Scalar::Str("yes"));
        assert_eq!(resolve("true", Style::Plain), Scalar::Bool(true));
        assert_eq!(resolve("true", Style::DoubleQuoted), Scalar::Str("true"));
        assert_eq!(resolve("-12", Style::Plain), Scalar::Int(-12));
        assert_eq!(resolve("0x1f", Style::Plain), Scalar::Int(31));
        assert_eq!(resolve("1.5e3", Style::Plain), Scalar::Float(1500.0));
        assert_eq!(resolve("1.2.3", Style::Plain), Scalar::Str("1.2.3"));
        assert_eq!(resolve("~", Style::Plain), Scalar::Null);
        assert_eq!(resolve("e5", Style::Plain), Scalar::Str("e5"));
        assert_eq!(resolve(".", Style::Plain), Scalar::Str("."));
    }
}
