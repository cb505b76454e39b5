//! Field types checked as the API server decodes a body into the kind's Go struct.
//!
//! The API server never stores what does not decode: a create or update body goes
//! through sigs.k8s.io/json (Go's encoding/json), a JSON or merge patch's result
//! too, and a strategic merge patch's result through runtime's unstructured
//! converter. [`check_json`] and [`check_unstructured`] walk an object against the
//! message table of `proto/schema.txt` (the same one the protobuf decoder reads)
//! and return the first mismatch in those decoders' words:
//!
//! - encoding/json: `json: cannot unmarshal array into Go struct field
//!   ConfigMap.data of type map[string]string` (the struct is the innermost Go
//!   struct, the field the dotted JSON path from the top object without indexes
//!   or map keys; a type error is remembered and decoding goes on, an error from
//!   a type's own `UnmarshalJSON` — Time, Duration, IntOrString, Quantity — ends it);
//! - the unstructured converter: `cannot restore struct from: string`,
//!   `cannot convert int64 to string`, `unrecognized type: int32`.
//!
//! Unknown fields are skipped (strict field validation reports them) and null is
//! always allowed. Go's named types (`v1.RestartPolicy`, `v1.ResourceList`) are
//! not in the table: their underlying types are named instead.

use serde_json::{Map, Value};

use crate::proto::kind_message;
use crate::proto::schema::{Field, Message, Scalar, Schema, Type};
use crate::quantity::Quantity;
use crate::quote::{go_json_kind, go_quote};

/// `resource.ErrFormatWrong`.
const QUANTITY_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Checks `obj` (of `kind` in `api_version`, e.g. "apps/v1") as encoding/json
/// decodes it into the kind's Go struct; `Err` is the decoder's error text.
/// Kinds missing from the table pass.
pub fn check_json(api_version: &str, kind: &str, obj: &Value) -> Result<(), String> {
    let (Ok(msg), Value::Object(map)) = (kind_message(api_version, kind), obj) else {
        return Ok(());
    };
    let mut d = JsonDecoder::default();
    d.object(msg, map)?;
    d.saved.map_or(Ok(()), Err)
}

/// Checks `obj` as runtime.DefaultUnstructuredConverter.FromUnstructured fills the
/// kind's Go struct (the strategic merge patch path); `Err` is its error text.
pub fn check_unstructured(api_version: &str, kind: &str, obj: &Value) -> Result<(), String> {
    let (Ok(msg), Value::Object(map)) = (kind_message(api_version, kind), obj) else {
        return Ok(());
    };
    unstructured_struct(msg, map)
}

/// `fmt.Sprintf("%+v", v)` of the value decoded into Go's `map[string]interface{}`
/// (`map[metadata:map[labels:map[a:5]]]`): keys sorted, strings bare.
pub fn go_format(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => go_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(go_format).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_format(&m[k])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// `json.Marshal` of the value decoded into Go's `map[string]interface{}`: compact,
/// keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub fn go_marshal(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            v => v.clone(),
        }
    }
    sorted(v)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// strconv.FormatFloat(f, 'g', -1, 64) as `%v` prints a float64.
fn go_float(f: f64) -> String {
    let exp = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    if (-4..21).contains(&exp) {
        let s = f.to_string();
        s.strip_suffix(".0").map(String::from).unwrap_or(s)
    } else {
        let s = format!("{f:e}"); // 1e21, 1.5e-7
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
        format!("{m}e{sign}{digits:0>2}")
    }
}

/// The Go type reflect prints for a table type: `v1.Container`, `int32`, `[]uint8`.
fn go_elem(ty: Type) -> String {
    match ty {
        Type::Scalar(s) => match s {
            Scalar::String => "string",
            Scalar::Bytes => "[]uint8",
            Scalar::Bool => "bool",
            Scalar::Int32 => "int32",
            Scalar::Int64 => "int64",
            Scalar::Uint32 => "uint32",
            Scalar::Uint64 => "uint64",
            Scalar::Double => "float64",
            Scalar::Float => "float32",
        }
        .to_string(),
        Type::Message(name) => {
            let mut parts = name.rsplit('.');
            match (parts.next(), parts.next()) {
                (Some(t), Some(pkg)) => format!("{pkg}.{t}"),
                _ => name.to_string(),
            }
        }
    }
}

fn go_field_type(f: &Field) -> String {
    let elem = go_elem(f.ty);
    if f.map {
        format!("map[string]{elem}")
    } else if f.repeated {
        format!("[]{elem}")
    } else {
        elem
    }
}

/// The Go struct name of a message (`core.v1.ObjectMeta` → `ObjectMeta`).
fn struct_name(msg: &Message) -> &'static str {
    msg.name.rsplit('.').next().unwrap_or(msg.name)
}

/// The field a JSON key names, looking through inline embedded structs.
fn lookup<'m>(msg: &'m Message, key: &str) -> Option<&'m Field> {
    msg.fields.iter().find_map(|f| {
        if f.inline {
            let Type::Message(name) = f.ty else {
                return None;
            };
            Schema::get().message(name).and_then(|m| lookup(m, key))
        } else {
            (f.json == key).then_some(f)
        }
    })
}

/// The special types that decode themselves (`UnmarshalJSON`).
enum Special {
    Time {
        micro: bool,
    },
    Duration,
    IntOrString,
    Quantity,
    /// RawExtension, FieldsV1, JSON: any value.
    Any,
    /// Named `[]string` types (Verbs, ExtraValue).
    Strings,
}

fn special(name: &str) -> Option<Special> {
    Some(match name {
        "meta.v1.Time" => Special::Time { micro: false },
        "meta.v1.MicroTime" => Special::Time { micro: true },
        "meta.v1.Duration" => Special::Duration,
        "intstr.IntOrString" => Special::IntOrString,
        "resource.Quantity" => Special::Quantity,
        "runtime.RawExtension" | "meta.v1.FieldsV1" | "apiextensions.v1.JSON" => Special::Any,
        "meta.v1.Verbs"
        | "authentication.v1.ExtraValue"
        | "authorization.v1.ExtraValue"
        | "certificates.v1.ExtraValue" => Special::Strings,
        _ => return None,
    })
}

/// `metav1.Time.UnmarshalJSON`'s time.Parse of RFC 3339 (RFC3339Micro's layout
/// for MicroTime), with time.Parse's error for text that is not a time at all.
fn parse_time(s: &str, micro: bool) -> Result<(), String> {
    if s.as_bytes().get(10) == Some(&b'T') && chrono::DateTime::parse_from_rfc3339(s).is_ok() {
        return Ok(());
    }
    let layout = if micro {
        "2006-01-02T15:04:05.000000Z07:00"
    } else {
        "2006-01-02T15:04:05Z07:00"
    };
    Err(format!(
        "parsing time {} as {}: cannot parse {} as \"2006\"",
        go_quote(s),
        go_quote(layout),
        go_quote(s)
    ))
}

/// time.ParseDuration's grammar: `[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+` or "0".
fn parse_duration(s: &str) -> Result<(), String> {
    let bad = || Err(format!("time: invalid duration {}", go_quote(s)));
    let mut rest = s.strip_prefix(['-', '+']).unwrap_or(s);
    if rest == "0" {
        return Ok(());
    }
    if rest.is_empty() {
        return bad();
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return bad();
        }
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        if !matches!(
            &rest[..unit_end],
            "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h"
        ) {
            return Err(if unit_end == 0 {
                format!("time: missing unit in duration {}", go_quote(s))
            } else {
                format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(&rest[..unit_end]),
                    go_quote(s)
                )
            });
        }
        rest = &rest[unit_end..];
    }
    Ok(())
}

fn parse_quantity(s: &str) -> Result<(), String> {
    Quantity::parse(s)
        .map(|_| ())
        .ok_or_else(|| QUANTITY_FORMAT.into())
}

/// The integer kinds' range.
fn int_fits(n: &serde_json::Number, s: Scalar) -> bool {
    match s {
        Scalar::Int32 => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        Scalar::Int64 => n.as_i64().is_some(),
        Scalar::Uint32 => n.as_u64().is_some_and(|i| u32::try_from(i).is_ok()),
        Scalar::Uint64 => n.as_u64().is_some(),
        _ => true,
    }
}

fn is_int(s: Scalar) -> bool {
    matches!(
        s,
        Scalar::Int32 | Scalar::Int64 | Scalar::Uint32 | Scalar::Uint64
    )
}

fn is_float(s: Scalar) -> bool {
    matches!(s, Scalar::Double | Scalar::Float)
}

// ---------------------------------------------------------------------------
// encoding/json

#[derive(Default)]
struct JsonDecoder {
    /// errorContext: the innermost struct and the JSON field names down to here.
    strukt: &'static str,
    stack: Vec<String>,
    /// The first type error (decoding goes on after it).
    saved: Option<String>,
}

impl JsonDecoder {
    /// An UnmarshalTypeError with the current context.
    fn type_error(&self, value: &str, ty: &str) -> String {
        format!(
            "json: cannot unmarshal {value} into Go struct field {}.{} of type {ty}",
            self.strukt,
            self.stack.join(".")
        )
    }

    fn save(&mut self, value: &str, ty: &str) {
        if self.saved.is_none() {
            self.saved = Some(self.type_error(value, ty));
        }
    }

    fn object(&mut self, msg: &'static Message, map: &Map<String, Value>) -> Result<(), String> {
        for (k, v) in map {
            let Some(f) = lookup(msg, k) else {
                continue;
            };
            let outer = self.strukt;
            self.strukt = struct_name(msg);
            self.stack.push(k.clone());
            let r = self.field(f, v);
            self.stack.pop();
            self.strukt = outer;
            r?;
        }
        Ok(())
    }

    fn field(&mut self, f: &Field, v: &Value) -> Result<(), String> {
        match v {
            Value::Null => Ok(()),
            Value::Object(m) if f.map => m.values().try_for_each(|v| self.elem(f.ty, v)),
            Value::Array(a) if f.repeated && !f.map => {
                a.iter().try_for_each(|v| self.elem(f.ty, v))
            }
            v if f.map || f.repeated => {
                self.save(go_json_kind(v), &go_field_type(f));
                Ok(())
            }
            v => self.elem(f.ty, v),
        }
    }

    fn elem(&mut self, ty: Type, v: &Value) -> Result<(), String> {
        if v.is_null() {
            return Ok(());
        }
        match ty {
            Type::Scalar(s) => {
                self.scalar(s, v);
                Ok(())
            }
            Type::Message(name) => match special(name) {
                Some(sp) => self.special(sp, name, v),
                None => match (v, Schema::get().message(name)) {
                    (Value::Object(m), Some(msg)) => self.object(msg, m),
                    (Value::Object(_), None) => Ok(()),
                    (v, _) => {
                        self.save(go_json_kind(v), &go_elem(ty));
                        Ok(())
                    }
                },
            },
        }
    }

    fn scalar(&mut self, s: Scalar, v: &Value) {
        let ok = match (s, v) {
            (Scalar::String | Scalar::Bytes, Value::String(_)) => true,
            (Scalar::Bool, Value::Bool(_)) => true,
            (s, Value::Number(n)) if is_int(s) => {
                if !int_fits(n, s) {
                    self.save(&format!("number {n}"), &go_elem(Type::Scalar(s)));
                }
                true
            }
            (s, Value::Number(_)) => is_float(s),
            _ => false,
        };
        if !ok {
            self.save(go_json_kind(v), &go_elem(Type::Scalar(s)));
        }
    }

    /// A type's own UnmarshalJSON: its error ends the decoding (a type error from
    /// its inner json.Unmarshal gets the outer context).
    fn special(&mut self, sp: Special, name: &'static str, v: &Value) -> Result<(), String> {
        match (sp, v) {
            (Special::Any, _) => Ok(()),
            (Special::Time { micro }, Value::String(s)) => parse_time(s, micro),
            (Special::Duration, Value::String(s)) => parse_duration(s),
            (Special::Time { .. } | Special::Duration, v) => {
                Err(self.type_error(go_json_kind(v), "string"))
            }
            (Special::IntOrString, Value::String(_)) => Ok(()),
            (Special::IntOrString, Value::Number(n)) if int_fits(n, Scalar::Int32) => Ok(()),
            (Special::IntOrString, Value::Number(n)) => {
                Err(self.type_error(&format!("number {n}"), "int32"))
            }
            (Special::IntOrString, v) => Err(self.type_error(go_json_kind(v), "int32")),
            (Special::Quantity, Value::String(s)) => parse_quantity(s),
            (Special::Quantity, Value::Number(n)) => parse_quantity(&n.to_string()),
            (Special::Quantity, _) => Err(QUANTITY_FORMAT.into()),
            (Special::Strings, Value::Array(a)) => {
                for item in a {
                    self.elem(Type::Scalar(Scalar::String), item)?;
                }
                Ok(())
            }
            (Special::Strings, v) => {
                self.save(go_json_kind(v), &go_elem(Type::Message(name)));
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------
// runtime.DefaultUnstructuredConverter.FromUnstructured

/// The Go kind of a value of `map[string]interface{}`.
fn source_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "invalid",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

fn unstructured_struct(msg: &Message, map: &Map<String, Value>) -> Result<(), String> {
    for f in &msg.fields {
        if f.inline {
            if let Type::Message(name) = f.ty
                && let Some(inner) = Schema::get().message(name)
            {
                unstructured_struct(inner, map)?;
            }
            continue;
        }
        if let Some(v) = map.get(f.json) {
            unstructured_field(f, v)?;
        }
    }
    Ok(())
}

fn unstructured_field(f: &Field, v: &Value) -> Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::Object(m) if f.map => m.values().try_for_each(|v| unstructured_elem(f.ty, v)),
        v if f.map => Err(format!("cannot restore map from {}", source_kind(v))),
        Value::Array(a) if f.repeated => a.iter().try_for_each(|v| unstructured_elem(f.ty, v)),
        v if f.repeated => Err(format!("cannot restore slice from {}", source_kind(v))),
        v => unstructured_elem(f.ty, v),
    }
}

fn unstructured_elem(ty: Type, v: &Value) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    match ty {
        Type::Scalar(Scalar::Bytes) => match v {
            Value::String(_) => Ok(()),
            Value::Array(a) => a
                .iter()
                .try_for_each(|v| unstructured_elem(Type::Scalar(Scalar::Uint32), v)),
            v => Err(format!("cannot restore slice from {}", source_kind(v))),
        },
        Type::Scalar(s) => unstructured_scalar(s, v),
        Type::Message(name) => match special(name) {
            Some(sp) => unstructured_special(sp, v),
            None => match (v, Schema::get().message(name)) {
                (Value::Object(m), Some(msg)) => unstructured_struct(msg, m),
                (Value::Object(_), None) => Ok(()),
                (v, _) => Err(format!("cannot restore struct from: {}", source_kind(v))),
            },
        },
    }
}

fn unstructured_scalar(s: Scalar, v: &Value) -> Result<(), String> {
    let dt = go_elem(Type::Scalar(s));
    let unrecognized = || Err(format!("unrecognized type: {dt}"));
    match v {
        Value::String(_) if s == Scalar::String => Ok(()),
        Value::Bool(_) if s == Scalar::Bool => Ok(()),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            if is_int(s) || is_float(s) {
                Ok(()) // reflect's Convert: truncated, never an error
            } else if s == Scalar::String {
                Err(format!("cannot convert int64 to {dt}"))
            } else {
                unrecognized()
            }
        }
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            if is_float(s) || is_int(s) && f == f.trunc() {
                Ok(())
            } else if is_int(s) {
                Err(format!("cannot convert float64 to {dt}"))
            } else {
                unrecognized()
            }
        }
        _ => unrecognized(),
    }
}

/// The converter hands a self-decoding type `json.Marshal` of the value: the same
/// errors as encoding/json's, without a struct context.
fn unstructured_special(sp: Special, v: &Value) -> Result<(), String> {
    let go_value = |value: &str, ty: &str| {
        Err(format!(
            "json: cannot unmarshal {value} into Go value of type {ty}"
        ))
    };
    match (sp, v) {
        (Special::Any, _) => Ok(()),
        (Special::Time { micro }, Value::String(s)) => parse_time(s, micro),
        (Special::Duration, Value::String(s)) => parse_duration(s),
        (Special::Time { .. } | Special::Duration, v) => go_value(go_json_kind(v), "string"),
        (Special::IntOrString, Value::String(_)) => Ok(()),
        (Special::IntOrString, Value::Number(n)) if int_fits(n, Scalar::Int32) => Ok(()),
        (Special::IntOrString, Value::Number(n)) => go_value(&format!("number {n}"), "int32"),
        (Special::IntOrString, v) => go_value(go_json_kind(v), "int32"),
        (Special::Quantity, Value::String(s)) => parse_quantity(s),
        (Special::Quantity, Value::Number(n)) => parse_quantity(&n.to_string()),
        (Special::Quantity, _) => Err(QUANTITY_FORMAT.into()),
        (Special::Strings, Value::Array(a)) => a
            .iter()
            .try_for_each(|v| unstructured_elem(Type::Scalar(Scalar::String), v)),
        (Special::Strings, v) => Err(format!("cannot restore slice from {}", source_kind(v))),
    }
}

#[cfg(test)]
mod tests;
