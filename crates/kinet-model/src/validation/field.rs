//! `field.Error` as the API server renders it: [`Cause`], the constructors of
//! each `field.ErrorType` with its `ErrorBody()` wording, and field paths.

use std::collections::HashSet;

use serde_json::Value;

use crate::json::int_at;
use crate::quote::go_quote;

/// One `metav1.StatusCause` of an Invalid status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueDuplicate`,
    /// `FieldValueNotSupported`, `FieldValueForbidden`, `FieldValueTooLong`
    /// or `FieldValueNotFound`.
    pub reason: &'static str,
    /// The field path, e.g. `spec.containers[0].name`.
    pub field: String,
    /// `ErrorBody()`, e.g. `Required value`.
    pub message: String,
}

impl Cause {
    /// `field.Error.Error()`: `<field>: <message>`.
    pub fn error(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

/// The `message` of the Invalid `Status` (`errors.NewInvalid`):
/// `Pod "x" is invalid: <error>` or `Deployment.apps "x" is invalid: [<e1>, <e2>]`.
/// `group` is the API group ("" for core).
pub fn status_message(kind: &str, group: &str, name: &str, causes: &[Cause]) -> String {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let mut seen = HashSet::new();
    let msgs: Vec<String> = causes
        .iter()
        .map(Cause::error)
        .filter(|m| seen.insert(m.clone()))
        .collect();
    match msgs.len() {
        0 => format!("{qualified} {} is invalid", go_quote(name)),
        1 => format!("{qualified} {} is invalid: {}", go_quote(name), msgs[0]),
        _ => format!(
            "{qualified} {} is invalid: [{}]",
            go_quote(name),
            msgs.join(", ")
        ),
    }
}

// ---------------------------------------------------------------------------
// field.Error construction

/// A bad value as `ErrorBody()` prints it.
pub(super) enum Bad {
    Str(String),
    Int(i64),
    Null,
    /// Already rendered (Go `%#v` or a Stringer).
    Raw(String),
}

impl Bad {
    fn render(&self) -> String {
        match self {
            Bad::Str(s) => go_quote(s),
            Bad::Int(i) => i.to_string(),
            Bad::Null => "null".to_string(),
            Bad::Raw(r) => r.clone(),
        }
    }
}

pub(super) fn bs(s: &str) -> Bad {
    Bad::Str(s.to_string())
}

fn with_detail(mut s: String, detail: &str) -> String {
    if !detail.is_empty() {
        s.push_str(": ");
        s.push_str(detail);
    }
    s
}

pub(super) fn required(field: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired",
        field: field.to_string(),
        message: with_detail("Required value".into(), detail),
    }
}

pub(super) fn forbidden(field: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueForbidden",
        field: field.to_string(),
        message: with_detail("Forbidden".into(), detail),
    }
}

pub(super) fn too_long(field: &str, max: usize) -> Cause {
    let unit = if max == 1 { "byte" } else { "bytes" };
    Cause {
        reason: "FieldValueTooLong",
        field: field.to_string(),
        message: format!("Too long: may not be more than {max} {unit}"),
    }
}

pub(super) fn invalid(field: &str, bad: Bad, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        field: field.to_string(),
        message: with_detail(format!("Invalid value: {}", bad.render()), detail),
    }
}

/// `ValidateNonnegativeField` of each integer field of `obj` named in
/// `fields` (absent ones pass), each reported at `path.<field>`.
pub(super) fn non_negative(obj: &Value, path: &str, fields: &[&str], errs: &mut Vec<Cause>) {
    for f in fields {
        if let Some(v) = int_at(obj, &format!("/{f}"))
            && v < 0
        {
            errs.push(invalid(
                &child(path, f),
                Bad::Int(v),
                "must be greater than or equal to 0",
            ));
        }
    }
}

/// A required name at `path`: `Required` when empty, else one `Invalid` for
/// each message of `check`.
pub(super) fn required_name(
    name: &str,
    path: &str,
    check: impl Fn(&str) -> Vec<String>,
    errs: &mut Vec<Cause>,
) {
    if name.is_empty() {
        errs.push(required(path, ""));
    } else {
        for m in check(name) {
            errs.push(invalid(path, bs(name), &m));
        }
    }
}

pub(super) fn duplicate(field: &str, bad: Bad) -> Cause {
    Cause {
        reason: "FieldValueDuplicate",
        field: field.to_string(),
        message: format!("Duplicate value: {}", bad.render()),
    }
}

pub(super) fn not_found(field: &str, bad: Bad) -> Cause {
    Cause {
        reason: "FieldValueNotFound",
        field: field.to_string(),
        message: format!("Not found: {}", bad.render()),
    }
}

pub(super) fn not_supported(field: &str, bad: Bad, valid: &[&str]) -> Cause {
    let detail = if valid.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
        format!("supported values: {}", quoted.join(", "))
    };
    Cause {
        reason: "FieldValueNotSupported",
        field: field.to_string(),
        message: with_detail(format!("Unsupported value: {}", bad.render()), &detail),
    }
}

// ---------------------------------------------------------------------------
// Field paths

pub(super) fn child(p: &str, name: &str) -> String {
    if p.is_empty() {
        name.to_string()
    } else {
        format!("{p}.{name}")
    }
}

pub(super) fn index(p: &str, i: usize) -> String {
    format!("{p}[{i}]")
}

pub(super) fn key(p: &str, k: &str) -> String {
    format!("{p}[{k}]")
}
