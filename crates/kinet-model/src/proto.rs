//! Kubernetes protobuf request bodies → the JSON a JSON client would have sent.
//!
//! kubectl 1.32+ sends the bodies of its typed commands (`create namespace`, `run`,
//! `expose`, evictions, delete options, …) as `application/vnd.kubernetes.protobuf`:
//! the magic bytes `k8s\0` followed by a `runtime.Unknown` message whose `raw` field
//! holds the object encoded with the messages of Kubernetes' generated.proto files.
//!
//! [`decode`] turns such a body into the JSON object that Go's `json.Marshal` would
//! produce for the decoded Go struct: JSON field names and order from the Go json
//! tags, zero values dropped for `omitempty` value fields but kept for pointers and
//! non-omitempty fields, inline embedded structs flattened, and the special types
//! (Time, MicroTime, Duration, IntOrString, Quantity, RawExtension, FieldsV1, bytes)
//! in their JSON forms. Fields absent from the wire are omitted; unknown field
//! numbers are skipped. The per-message table lives in `proto/schema.txt`.

pub(crate) mod schema;
#[cfg(test)]
mod tests;
mod wire;

use chrono::Datelike;
use serde_json::{Map, Number, Value};

use schema::{Field, Message, Scalar, Schema, Type};
use wire::{Reader, WireValue};

/// The Kubernetes protobuf media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The 4 magic bytes that start every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// Nesting limit for embedded messages (Kubernetes objects nest far less deeply).
const MAX_DEPTH: usize = 100;

/// `time.Time{}.Unix()`: Go's zero time, which Time/MicroTime encode as JSON null.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// apiVersion → package of the schema table.
const GROUP_VERSIONS: &[(&str, &str)] = &[
    ("v1", "core.v1"),
    ("apps/v1", "apps.v1"),
    ("batch/v1", "batch.v1"),
    ("networking.k8s.io/v1", "networking.v1"),
    ("discovery.k8s.io/v1", "discovery.v1"),
    ("coordination.k8s.io/v1", "coordination.v1"),
    ("policy/v1", "policy.v1"),
    ("autoscaling/v1", "autoscaling.v1"),
    ("autoscaling/v2", "autoscaling.v2"),
    ("events.k8s.io/v1", "events.v1"),
    ("rbac.authorization.k8s.io/v1", "rbac.v1"),
    ("scheduling.k8s.io/v1", "scheduling.v1"),
    ("authentication.k8s.io/v1", "authentication.v1"),
    ("authorization.k8s.io/v1", "authorization.v1"),
    ("certificates.k8s.io/v1", "certificates.v1"),
    ("storage.k8s.io/v1", "storage.v1"),
    ("node.k8s.io/v1", "node.v1"),
    ("meta.k8s.io/v1", "meta.v1"),
];

/// meta/v1 kinds that every group version registers (DeleteOptions travels with the
/// apiVersion of the resource being deleted).
const META_KINDS: &[&str] = &[
    "DeleteOptions",
    "CreateOptions",
    "UpdateOptions",
    "PatchOptions",
    "GetOptions",
    "ListOptions",
    "Status",
    "WatchEvent",
];

/// True for application/vnd.kubernetes.protobuf (with or without parameters).
pub fn is_protobuf(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case(MEDIA_TYPE)
}

/// Decodes the Kubernetes protobuf envelope — the 4 magic bytes "k8s\0" followed by a
/// runtime.Unknown message (typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3,
/// contentType=4) — into a JSON object with "apiVersion" and "kind" set and fields
/// named and shaped exactly as Kubernetes' JSON encoding.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    decode_at(body, 0)
}

fn decode_at(body: &[u8], depth: usize) -> Result<Value, String> {
    let data = body
        .strip_prefix(MAGIC)
        .ok_or("not a Kubernetes protobuf body: missing the \"k8s\\0\" prefix")?;
    if data.is_empty() {
        return Err("empty protobuf body".into());
    }
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    let mut content_encoding = String::new();
    let mut content_type = String::new();
    let mut r = Reader::new(data);
    while let Some((num, v)) = r
        .next_field()
        .map_err(|e| format!("runtime.Unknown: {e}"))?
    {
        match (num, v) {
            (1, WireValue::Bytes(tm)) => {
                let mut t = Reader::new(tm);
                while let Some((n, v)) = t.next_field().map_err(|e| format!("typeMeta: {e}"))? {
                    match (n, v) {
                        (1, WireValue::Bytes(s)) => api_version = utf8(s),
                        (2, WireValue::Bytes(s)) => kind = utf8(s),
                        _ => {}
                    }
                }
            }
            (2, WireValue::Bytes(b)) => raw = b,
            (3, WireValue::Bytes(s)) => content_encoding = utf8(s),
            (4, WireValue::Bytes(s)) => content_type = utf8(s),
            (1..=4, v) => {
                return Err(format!(
                    "runtime.Unknown field {num}: unexpected wire type {}",
                    v.wire_type()
                ));
            }
            _ => {}
        }
    }
    if !content_encoding.is_empty() {
        return Err(format!(
            "unsupported protobuf contentEncoding {content_encoding:?}"
        ));
    }
    if kind.is_empty() {
        return Err("protobuf body has no kind".into());
    }
    if api_version.is_empty() {
        return Err(format!("protobuf body of kind {kind:?} has no apiVersion"));
    }

    let fields = if content_type.to_ascii_lowercase().contains("json") {
        match serde_json::from_slice::<Value>(raw) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(format!("embedded JSON of kind {kind:?} is not an object")),
            Err(e) => return Err(format!("embedded JSON of kind {kind:?}: {e}")),
        }
    } else {
        let msg = kind_message(&api_version, &kind)?;
        decode_object(msg, raw, depth + 1)?
    };

    let mut out = Map::new();
    out.insert("kind".into(), Value::String(kind));
    out.insert("apiVersion".into(), Value::String(api_version));
    for (k, v) in fields {
        if k != "kind" && k != "apiVersion" {
            out.insert(k, v);
        }
    }
    Ok(Value::Object(out))
}

/// The message for a top-level kind (a message with object or list metadata, or one of
/// the meta/v1 option kinds).
pub(crate) fn kind_message(api_version: &str, kind: &str) -> Result<&'static Message, String> {
    let schema = Schema::get();
    let in_group = GROUP_VERSIONS
        .iter()
        .find(|(gv, _)| *gv == api_version)
        .and_then(|(_, pkg)| schema.message(&format!("{pkg}.{kind}")))
        .filter(|m| {
            m.fields.iter().any(|f| {
                f.json == "metadata"
                    && matches!(
                        f.ty,
                        Type::Message("meta.v1.ObjectMeta" | "meta.v1.ListMeta")
                    )
            })
        });
    in_group
        .or_else(|| {
            META_KINDS
                .contains(&kind)
                .then(|| schema.message(&format!("meta.v1.{kind}")))
                .flatten()
        })
        .ok_or_else(|| {
            format!("unsupported kind {kind:?} (apiVersion {api_version:?}) in protobuf body")
        })
}

/// Per-field accumulation while reading a message (fields may come in any order and
/// repeat; a repeated embedded message merges, which is the same as concatenating).
enum Acc<'a> {
    Scalar(Value),
    Message(Vec<&'a [u8]>),
    List(Vec<Value>),
    Map(Map<String, Value>),
}

fn decode_object(msg: &Message, buf: &[u8], depth: usize) -> Result<Map<String, Value>, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{}: messages nested too deeply", msg.name));
    }
    let mut acc: Vec<Option<Acc>> = (0..msg.fields.len()).map(|_| None).collect();
    let mut r = Reader::new(buf);
    while let Some((num, value)) = r.next_field().map_err(|e| format!("{}: {e}", msg.name))? {
        let Some((idx, f)) = msg.field(num) else {
            continue; // unknown field: skipped, as Go does
        };
        let slot = &mut acc[idx];
        if f.map {
            let WireValue::Bytes(entry) = value else {
                return Err(wire_error(msg, f, value));
            };
            let (k, v) = map_entry(msg, f, entry, depth)?;
            if let Acc::Map(m) = slot.get_or_insert_with(|| Acc::Map(Map::new())) {
                m.insert(k, v);
            }
        } else if f.repeated {
            let Acc::List(list) = slot.get_or_insert_with(|| Acc::List(Vec::new())) else {
                continue;
            };
            match (f.ty, value) {
                (Type::Message(name), WireValue::Bytes(b)) => {
                    list.push(message_value(name, b, depth + 1)?)
                }
                (Type::Message(_), _) => return Err(wire_error(msg, f, value)),
                (Type::Scalar(s), WireValue::Bytes(b))
                    if !matches!(s, Scalar::String | Scalar::Bytes) =>
                {
                    // packed repeated numbers
                    let mut p = Reader::new(b);
                    while !p.at_end() {
                        let v = match s {
                            Scalar::Double => WireValue::Fixed64(p.fixed64()?),
                            Scalar::Float => WireValue::Fixed32(p.fixed32()?),
                            _ => WireValue::Varint(p.varint()?),
                        };
                        list.push(scalar_value(s, v).ok_or_else(|| wire_error(msg, f, value))??);
                    }
                }
                (Type::Scalar(s), v) => {
                    list.push(scalar_value(s, v).ok_or_else(|| wire_error(msg, f, value))??)
                }
            }
        } else {
            match (f.ty, value) {
                (Type::Message(_), WireValue::Bytes(b)) => {
                    match slot.get_or_insert_with(|| Acc::Message(Vec::new())) {
                        Acc::Message(parts) => parts.push(b),
                        _ => unreachable!("slot kinds follow the field's type"),
                    }
                }
                (Type::Message(_), _) => return Err(wire_error(msg, f, value)),
                (Type::Scalar(s), v) => {
                    let v = scalar_value(s, v).ok_or_else(|| wire_error(msg, f, value))??;
                    *slot = Some(Acc::Scalar(v));
                }
            }
        }
    }

    let mut out = Map::new();
    for (f, a) in msg.fields.iter().zip(acc) {
        match a {
            Some(Acc::Scalar(v)) if f.keep || !is_zero(&v) => {
                out.insert(f.json.into(), v);
            }
            None | Some(Acc::Scalar(_)) => {}
            Some(Acc::Message(parts)) => {
                let Type::Message(name) = f.ty else {
                    unreachable!("message slot for a scalar field")
                };
                let v = if parts.len() == 1 {
                    message_value(name, parts[0], depth + 1)?
                } else {
                    message_value(name, &parts.concat(), depth + 1)?
                };
                match v {
                    Value::Object(inner) if f.inline => {
                        for (k, v) in inner {
                            out.entry(k).or_insert(v);
                        }
                    }
                    v => {
                        out.insert(f.json.into(), v);
                    }
                }
            }
            Some(Acc::List(list)) => {
                out.insert(f.json.into(), Value::Array(list));
            }
            Some(Acc::Map(m)) => {
                out.insert(f.json.into(), Value::Object(m));
            }
        }
    }
    Ok(out)
}

fn wire_error(msg: &Message, f: &Field, value: WireValue) -> String {
    format!(
        "{}.{} (field {}): unexpected wire type {}",
        msg.name,
        f.json,
        f.num,
        value.wire_type()
    )
}

/// One `map<string, T>` entry: key = 1, value = 2; missing parts are zero values.
fn map_entry(
    msg: &Message,
    f: &Field,
    entry: &[u8],
    depth: usize,
) -> Result<(String, Value), String> {
    let mut key = String::new();
    let mut value: Option<WireValue> = None;
    let mut r = Reader::new(entry);
    while let Some((num, v)) = r
        .next_field()
        .map_err(|e| format!("{}.{}: {e}", msg.name, f.json))?
    {
        match (num, v) {
            (1, WireValue::Bytes(k)) => key = utf8(k),
            (1, v) => return Err(wire_error(msg, f, v)),
            (2, v) => value = Some(v),
            _ => {}
        }
    }
    let value = match (f.ty, value) {
        (Type::Scalar(s), Some(v)) => scalar_value(s, v).ok_or_else(|| wire_error(msg, f, v))??,
        (Type::Message(name), Some(WireValue::Bytes(b))) => message_value(name, b, depth + 1)?,
        (Type::Message(_), Some(v)) => return Err(wire_error(msg, f, v)),
        (Type::Scalar(s), None) => zero_scalar(s),
        (Type::Message(name), None) => message_value(name, &[], depth + 1)?,
    };
    Ok((key, value))
}

/// A scalar's JSON value, or `None` when the wire type does not fit the field type.
fn scalar_value(s: Scalar, v: WireValue) -> Option<Result<Value, String>> {
    Some(Ok(match (s, v) {
        (Scalar::String, WireValue::Bytes(b)) => Value::String(utf8(b)),
        (Scalar::Bytes, WireValue::Bytes(b)) => Value::String(crate::secret::encode(b)),
        (Scalar::Bool, WireValue::Varint(x)) => Value::Bool(x != 0),
        // Go truncates over-long int32 varints the same way.
        (Scalar::Int32, WireValue::Varint(x)) => Value::from(x as i32),
        (Scalar::Int64, WireValue::Varint(x)) => Value::from(x as i64),
        (Scalar::Uint32, WireValue::Varint(x)) => Value::from(x as u32),
        (Scalar::Uint64, WireValue::Varint(x)) => Value::from(x),
        (Scalar::Double, WireValue::Fixed64(x)) => return Some(float(f64::from_bits(x))),
        (Scalar::Float, WireValue::Fixed32(x)) => {
            // Go prints float32 with 32-bit precision: go through the shortest f32 text.
            let f = f32::from_bits(x);
            return Some(float(f.to_string().parse::<f64>().unwrap_or(f64::from(f))));
        }
        _ => return None,
    }))
}

fn float(f: f64) -> Result<Value, String> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("unsupported float value {f} (Go's JSON encoding rejects it)"))
}

fn zero_scalar(s: Scalar) -> Value {
    match s {
        Scalar::String | Scalar::Bytes => Value::String(String::new()),
        Scalar::Bool => Value::Bool(false),
        Scalar::Double | Scalar::Float => Value::from(0.0),
        _ => Value::from(0),
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null => true,
        _ => false,
    }
}

/// JSON for an embedded message: the special Kubernetes types or a plain object.
fn message_value(name: &str, buf: &[u8], depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{name}: messages nested too deeply"));
    }
    match name {
        "meta.v1.Time" => time_value(buf, false),
        "meta.v1.MicroTime" => time_value(buf, true),
        "meta.v1.Duration" => {
            let mut nanos = 0i64;
            for_each(name, buf, |num, v| {
                if let (1, WireValue::Varint(x)) = (num, v) {
                    nanos = x as i64;
                }
            })?;
            Ok(Value::String(go_duration(nanos)))
        }
        "intstr.IntOrString" => {
            let (mut ty, mut int_val, mut str_val) = (0i64, 0i32, String::new());
            for_each(name, buf, |num, v| match (num, v) {
                (1, WireValue::Varint(x)) => ty = x as i64,
                (2, WireValue::Varint(x)) => int_val = x as i32,
                (3, WireValue::Bytes(s)) => str_val = utf8(s),
                _ => {}
            })?;
            match ty {
                0 => Ok(Value::from(int_val)),
                1 => Ok(Value::String(str_val)),
                t => Err(format!("IntOrString: impossible type {t}")),
            }
        }
        "resource.Quantity" => {
            let mut s = String::new();
            for_each(name, buf, |num, v| {
                if let (1, WireValue::Bytes(b)) = (num, v) {
                    s = utf8(b);
                }
            })?;
            if s.is_empty() {
                s.push('0');
            }
            Ok(Value::String(s))
        }
        "runtime.RawExtension" | "meta.v1.FieldsV1" => {
            let mut raw: Option<&[u8]> = None;
            for_each(name, buf, |num, v| {
                if let (1, WireValue::Bytes(b)) = (num, v) {
                    raw = Some(b);
                }
            })?;
            match raw {
                None | Some([]) => Ok(Value::Null),
                Some(b) if b.starts_with(MAGIC) => decode_at(b, depth),
                Some(b) => serde_json::from_slice(b)
                    .map_err(|e| format!("{name}: embedded data is not JSON: {e}")),
            }
        }
        // Go named slice types ([]string): a JSON array, null when empty.
        "meta.v1.Verbs"
        | "authentication.v1.ExtraValue"
        | "authorization.v1.ExtraValue"
        | "certificates.v1.ExtraValue" => {
            let mut items = Vec::new();
            for_each(name, buf, |num, v| {
                if let (1, WireValue::Bytes(b)) = (num, v) {
                    items.push(Value::String(utf8(b)));
                }
            })?;
            Ok(if items.is_empty() {
                Value::Null
            } else {
                Value::Array(items)
            })
        }
        _ => {
            let msg = Schema::get()
                .message(name)
                .ok_or_else(|| format!("message {name} is missing from the schema table"))?;
            decode_object(msg, buf, depth).map(Value::Object)
        }
    }
}

fn for_each<'a>(
    name: &str,
    buf: &'a [u8],
    mut f: impl FnMut(u32, WireValue<'a>),
) -> Result<(), String> {
    let mut r = Reader::new(buf);
    while let Some((num, v)) = r.next_field().map_err(|e| format!("{name}: {e}"))? {
        f(num, v);
    }
    Ok(())
}

/// meta/v1 Time (RFC 3339, whole seconds: Go's Time.Unmarshal drops nanos) or
/// MicroTime (RFC 3339 with 6 fractional digits); Go's zero time is null.
fn time_value(buf: &[u8], micro: bool) -> Result<Value, String> {
    if buf.is_empty() {
        return Ok(Value::Null);
    }
    let (mut secs, mut nanos) = (0i64, 0i64);
    for_each("meta.v1.Time", buf, |num, v| match (num, v) {
        (1, WireValue::Varint(x)) => secs = x as i64,
        (2, WireValue::Varint(x)) => nanos = i64::from(x as i32),
        _ => {}
    })?;
    if !micro {
        nanos = 0;
    }
    let secs = secs
        .checked_add(nanos.div_euclid(1_000_000_000))
        .ok_or("time out of range")?;
    let nanos = nanos.rem_euclid(1_000_000_000) as u32;
    if secs == GO_ZERO_TIME_UNIX && nanos == 0 {
        return Ok(Value::Null);
    }
    let t = chrono::DateTime::from_timestamp(secs, nanos)
        .filter(|t| (0..=9999).contains(&t.year()))
        .ok_or_else(|| format!("time {secs}s out of the range JSON can encode"))?;
    let fmt = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(Value::String(t.format(fmt).to_string()))
}

/// Go's `time.Duration.String()`: "1h2m3.5s", "1.5ms", "0s".
fn go_duration(d: i64) -> String {
    fn frac(v: u64, prec: usize) -> String {
        if v == 0 {
            return String::new();
        }
        let s = format!(".{v:0prec$}");
        s.trim_end_matches('0').to_string()
    }
    if d == 0 {
        return "0s".into();
    }
    let u = d.unsigned_abs();
    let body = if u < 1_000_000_000 {
        let (unit, prec, div) = if u < 1_000 {
            ("ns", 0, 1)
        } else if u < 1_000_000 {
            ("µs", 3, 1_000)
        } else {
            ("ms", 6, 1_000_000)
        };
        format!("{}{}{unit}", u / div, frac(u % div, prec))
    } else {
        let secs = u / 1_000_000_000;
        let f = frac(u % 1_000_000_000, 9);
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            format!("{h}h{m}m{s}{f}s")
        } else if secs >= 60 {
            format!("{m}m{s}{f}s")
        } else {
            format!("{s}{f}s")
        }
    };
    if d < 0 { format!("-{body}") } else { body }
}

fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
