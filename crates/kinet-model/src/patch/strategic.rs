//! Kubernetes strategic merge patch (`application/strategic-merge-patch+json`),
//! the server half of k8s.io/apimachinery/pkg/util/strategicpatch: what
//! kubectl's client-side apply, patch, label, annotate, edit, set and
//! rollout send.
//!
//! Semantics, field by field of the patch:
//!
//! * objects merge recursively; `null` deletes a member;
//! * lists whose metadata ([`super::merge_meta`]) says `merge` merge element
//!   by element on the merge key (primitive lists: as an ordered set); all
//!   other lists are replaced;
//! * `$patch: replace` in an object replaces it, `$patch: delete` empties it,
//!   `$patch: merge` is the default; in a merge list an element
//!   `{"$patch": "delete", <key>: v}` deletes the elements with that key and
//!   an element `{"$patch": "replace"}` replaces the list with the other
//!   elements;
//! * `$retainKeys: [..]` clears every member of the target object not named;
//! * `$deleteFromPrimitiveList/<field>: [..]` removes those values;
//! * `$setElementOrder/<field>: [..]` orders the merged list.
//!
//! Element order without `$setElementOrder` follows upstream: elements named
//! by the patch come in patch order, interleaved with the untouched elements
//! by their old position; new elements go before untouched ones that follow
//! them (so `kubectl patch` adding a container puts it first).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::meta::{self, Field, Ty};
use super::{PatchError, json_eq};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Applies a strategic merge patch to `target`, an object of Kubernetes
/// `kind` ("Pod", "Deployment", ...). Kinds not in the metadata table merge
/// objects recursively and replace lists (like a JSON merge patch with the
/// directives understood).
pub fn strategic_merge_patch(
    target: &Value,
    patch: &Value,
    kind: &str,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::new(format!(
            "strategic merge patch must be a JSON object, got: {patch}"
        )));
    };
    let original = match target {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    merge_map(original, patch, meta::root(kind)).map(Value::Object)
}

fn bad_patch_type(directive: &Value, map: &Map<String, Value>) -> PatchError {
    let directive = directive
        .as_str()
        .map_or_else(|| directive.to_string(), str::to_owned);
    PatchError::new(format!(
        "unknown patch type: {directive} in map: {}",
        Value::Object(map.clone())
    ))
}

fn no_merge_key(map: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::new(format!(
        "map: {} does not contain declared merge key: {key}",
        Value::Object(map.clone())
    ))
}

fn bad_retain_keys() -> PatchError {
    PatchError::new("invalid patch format of retainKeys")
}

fn bad_primitive_list() -> PatchError {
    PatchError::new("invalid patch format of primitive list")
}

fn bad_set_element_order() -> PatchError {
    PatchError::new("invalid patch format of setElementOrder list")
}

/// The field a `<prefix>/<field>` directive key names.
fn directive_field<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    key.strip_prefix(prefix)?
        .strip_prefix('/')
        .filter(|f| !f.is_empty())
}

fn without(map: &Map<String, Value>, key: &str) -> Map<String, Value> {
    let mut out = map.clone();
    out.shift_remove(key);
    out
}

/// Merges `patch` into `original`, an object of type `ty`.
fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    ty: Ty,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => merge_map(Map::new(), &without(patch, DIRECTIVE), ty),
            Some("delete") => Ok(Map::new()),
            Some("merge") => merge_map(original, &without(patch, DIRECTIVE), ty),
            _ => Err(bad_patch_type(directive, patch)),
        };
    }

    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let retain = retain.as_array().ok_or_else(bad_retain_keys)?;
        let retained = |key: &str| retain.iter().any(|k| k.as_str() == Some(key));
        for (key, value) in patch {
            let exempt = key == RETAIN_KEYS
                || value.is_null()
                || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
                || key.starts_with(SET_ELEMENT_ORDER);
            if !exempt && !retained(key) {
                return Err(bad_retain_keys());
            }
        }
        original.retain(|key, _| retained(key));
    }

    // Lists with a $setElementOrder directive are merged and ordered first.
    let mut ordered = HashSet::new();
    for (key, order) in patch {
        if !key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        let name = directive_field(key, SET_ELEMENT_ORDER).ok_or_else(bad_set_element_order)?;
        let order = order.as_array().ok_or_else(bad_set_element_order)?;
        if merge_ordered_list(&mut original, patch, name, order, ty)? {
            ordered.insert(name);
        }
    }

    for (key, value) in patch {
        if key == DIRECTIVE
            || key == RETAIN_KEYS
            || key.starts_with(SET_ELEMENT_ORDER)
            || ordered.contains(key.as_str())
        {
            continue;
        }
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            let name =
                directive_field(key, DELETE_FROM_PRIMITIVE_LIST).ok_or_else(bad_primitive_list)?;
            let doomed = value.as_array().ok_or_else(bad_primitive_list)?;
            if let Some(Value::Array(items)) = original.get_mut(name) {
                items.retain(|item| !doomed.iter().any(|d| json_eq(item, d)));
            }
            continue;
        }
        if value.is_null() {
            original.shift_remove(key);
            continue;
        }
        let field = meta::field(ty, key);
        match original.get_mut(key) {
            None => {
                if let Some(fresh) = fresh_value(value, field)? {
                    original.insert(key.clone(), fresh);
                }
            }
            Some(slot) => {
                let current = std::mem::take(slot);
                let merged = match (current, value) {
                    (Value::Object(cur), Value::Object(p)) => {
                        Some(Value::Object(merge_map(cur, p, field.ty)?))
                    }
                    (Value::Array(cur), Value::Array(p)) => Some(Value::Array(match field.list {
                        Some(list_meta) => merge_list(&cur, p, list_meta.merge_key, field.ty)?,
                        None => replace_list(p, field.ty)?,
                    })),
                    _ => fresh_value(value, field)?,
                };
                match merged {
                    Some(v) => *slot = v,
                    None => {
                        original.shift_remove(key);
                    }
                }
            }
        }
    }
    Ok(original)
}

/// The value a patch value yields where the target has none: the patch with
/// its directives applied to nothing. `None` when nothing is left (an object
/// carrying `$patch: delete`).
fn fresh_value(value: &Value, field: Field) -> Result<Option<Value>, PatchError> {
    Ok(match value {
        Value::Object(map) => {
            if map.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                None
            } else {
                Some(Value::Object(merge_map(Map::new(), map, field.ty)?))
            }
        }
        Value::Array(items) => Some(Value::Array(match field.list {
            Some(list_meta) => merge_list(&[], items, list_meta.merge_key, field.ty)?,
            None => replace_list(items, field.ty)?,
        })),
        other => Some(other.clone()),
    })
}

/// A list without merge strategy: the patch list replaces the target, with
/// directive-carrying elements dropped and nested directives applied.
fn replace_list(items: &[Value], elem: Ty) -> Result<Vec<Value>, PatchError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::Object(map) if map.contains_key(DIRECTIVE) => {}
            Value::Object(map) => out.push(Value::Object(merge_map(Map::new(), map, elem)?)),
            Value::Array(inner) => out.push(Value::Array(replace_list(inner, Ty::Unknown)?)),
            other => out.push(other.clone()),
        }
    }
    Ok(out)
}

/// The identity of a list element: its merge key value, or the element
/// itself in a list of primitives.
fn identity<'a>(item: &'a Value, key: Option<&str>) -> Option<&'a Value> {
    match key {
        Some(k) => item.as_object()?.get(k),
        None => Some(item),
    }
}

fn position_in<'a, I>(list: I, item: &Value, key: Option<&str>) -> Option<usize>
where
    I: IntoIterator<Item = &'a Value>,
{
    let id = identity(item, key)?;
    list.into_iter()
        .position(|other| identity(other, key).is_some_and(|o| json_eq(o, id)))
}

/// Merges a patch list into the target list of a field whose strategy is
/// `merge`, on the merge `key` (`None`: a set of primitives). `elem` is the
/// element type, for the metadata of nested fields.
fn merge_list(
    original: &[Value],
    patch: &[Value],
    key: Option<&str>,
    elem: Ty,
) -> Result<Vec<Value>, PatchError> {
    let mut replace = false;
    let mut deleted: Vec<&Value> = Vec::new();
    let mut items: Vec<&Value> = Vec::new();
    for item in patch {
        let Some((map, directive)) = item
            .as_object()
            .and_then(|m| m.get(DIRECTIVE).map(|d| (m, d)))
        else {
            items.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let value = key
                    .and_then(|k| map.get(k))
                    .ok_or_else(|| no_merge_key(map, key.unwrap_or_default()))?;
                deleted.push(value);
            }
            Some("replace") => replace = true,
            // An element `{"$patch": "merge"}` only restates the default.
            Some("merge") if map.len() == 1 => {}
            Some("merge") => items.push(item),
            _ => return Err(bad_patch_type(directive, map)),
        }
    }

    check_element_types(original.iter().chain(items.iter().copied()))?;
    let objects = items.iter().any(|v| v.is_object()) || original.iter().any(Value::is_object);
    if objects && key.is_none() {
        return Err(PatchError::new(
            "cannot merge lists of objects without a patch merge key",
        ));
    }

    if replace {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(fresh_element(item, elem)?);
        }
        return Ok(out);
    }

    // The target without deleted elements; also the reference order of
    // the elements the patch does not mention.
    let mut server: Vec<Value> = Vec::with_capacity(original.len());
    for item in original {
        let doomed = identity(item, key).is_some_and(|id| deleted.iter().any(|d| json_eq(d, id)));
        // A set of primitives holds each value once.
        let duplicate = key.is_none() && server.iter().any(|s| json_eq(s, item));
        if !doomed && !duplicate {
            server.push(item.clone());
        }
    }

    let mut merged = server.clone();
    for item in &items {
        if let (Some(k), Value::Object(map)) = (key, item)
            && !map.contains_key(k)
        {
            return Err(no_merge_key(map, k));
        }
        match (position_in(&merged, item, key), item) {
            (Some(i), Value::Object(map)) => {
                let current = match std::mem::take(&mut merged[i]) {
                    Value::Object(cur) => cur,
                    _ => Map::new(),
                };
                merged[i] = Value::Object(merge_map(current, map, elem)?);
            }
            // A primitive already in the set.
            (Some(_), _) => {}
            (None, _) => merged.push(fresh_element(item, elem)?),
        }
    }

    Ok(order_elements(merged, &items, &server, key))
}

fn fresh_element(item: &Value, elem: Ty) -> Result<Value, PatchError> {
    Ok(match item {
        Value::Object(map) => Value::Object(merge_map(Map::new(), map, elem)?),
        other => other.clone(),
    })
}

/// Rejects lists of lists and lists mixing objects with primitives.
fn check_element_types<'a>(items: impl Iterator<Item = &'a Value>) -> Result<(), PatchError> {
    let mut seen_object = None;
    for item in items {
        if item.is_array() {
            return Err(PatchError::new("lists of lists are not supported"));
        }
        match seen_object {
            None => seen_object = Some(item.is_object()),
            Some(o) if o != item.is_object() => {
                return Err(PatchError::new(
                    "list element types are not identical: objects are mixed with primitive values",
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Orders a merged list. Elements named in `wanted` come in that order;
/// the others keep their relative order from `server`; both sequences are
/// interleaved by the elements' positions in `server`, an element unknown
/// to `server` going before the remaining server-only elements.
fn order_elements(
    merged: Vec<Value>,
    wanted: &[&Value],
    server: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let (mut named, mut others): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|v| position_in(wanted.iter().copied(), v, key).is_some());
    named.sort_by_key(|v| position_in(wanted.iter().copied(), v, key));
    others.sort_by_key(|v| position_in(server, v, key).unwrap_or(usize::MAX));

    let mut out = Vec::with_capacity(named.len() + others.len());
    let mut named = named.into_iter().peekable();
    let mut others = others.into_iter().peekable();
    while let (Some(n), Some(o)) = (named.peek(), others.peek()) {
        let other_first = match (position_in(server, o, key), position_in(server, n, key)) {
            (Some(oi), Some(ni)) => oi < ni,
            _ => false,
        };
        let next = if other_first {
            others.next()
        } else {
            named.next()
        };
        out.extend(next);
    }
    out.extend(others);
    out.extend(named);
    out
}

/// Handles `$setElementOrder/<name>` together with the patch's `<name>`
/// list. Returns false when the field is not a merge list, leaving the
/// field to the ordinary merge.
fn merge_ordered_list(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    name: &str,
    order: &[Value],
    ty: Ty,
) -> Result<bool, PatchError> {
    let field = meta::field(ty, name);
    // kubectl only sends the directive for merge lists; if the table does
    // not know the field, the directive itself tells how it merges.
    let inferred;
    let key = match field.list {
        Some(list_meta) => list_meta.merge_key,
        None => match infer_merge_key(order) {
            Some(k) => {
                inferred = k;
                inferred.as_deref()
            }
            None => return Ok(false),
        },
    };
    let patch_list = match patch.get(name) {
        None => None,
        Some(Value::Array(items)) => Some(items.as_slice()),
        Some(_) => return Ok(false),
    };
    if let Some(items) = patch_list {
        check_patch_order(items, order, key)?;
    }
    let server: Vec<Value> = match original.get(name) {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let has_server = matches!(original.get(name), Some(Value::Array(_)));
    let merged = match (has_server, patch_list) {
        (false, None) => return Ok(true),
        (true, None) => server.clone(),
        (_, Some(items)) => merge_list(&server, items, key, field.ty)?,
    };
    let wanted: Vec<&Value> = order.iter().collect();
    let ordered = order_elements(merged, &wanted, &server, key);
    original.insert(name.to_owned(), Value::Array(ordered));
    Ok(true)
}

/// Guesses the merge key of a list the table does not know from its
/// `$setElementOrder` list: `Some(None)` for primitives, which merge as a
/// set; `Some(Some(key))` when every entry is an object holding just that
/// one key.
fn infer_merge_key(order: &[Value]) -> Option<Option<String>> {
    let first = order.first()?;
    if order.iter().all(|v| !v.is_object() && !v.is_array()) {
        return Some(None);
    }
    let map = first.as_object().filter(|m| m.len() == 1)?;
    let key = map.keys().next()?;
    let same = order.iter().all(|v| {
        v.as_object()
            .is_some_and(|m| m.len() == 1 && m.contains_key(key))
    });
    (same && !key.starts_with('$')).then(|| Some(key.clone()))
}

/// The patch list's elements (deletions and other directive elements
/// aside) must appear in the `$setElementOrder` list, in the same order.
fn check_patch_order(
    items: &[Value],
    order: &[Value],
    key: Option<&str>,
) -> Result<(), PatchError> {
    let identity_of = |v: &Value| -> Result<Value, PatchError> {
        match key {
            None => Ok(v.clone()),
            Some(k) => match v {
                Value::Object(m) => m.get(k).cloned().ok_or_else(|| no_merge_key(m, k)),
                other => Err(PatchError::new(format!(
                    "expected an object with merge key {k}, got: {other}"
                ))),
            },
        }
    };
    let plain: Vec<&Value> = items
        .iter()
        .filter(|v| !v.as_object().is_some_and(|m| m.contains_key(DIRECTIVE)))
        .collect();
    let mut next = 0;
    for wanted in order {
        if next == plain.len() {
            break;
        }
        if json_eq(&identity_of(plain[next])?, &identity_of(wanted)?) {
            next += 1;
        }
    }
    if next < plain.len() {
        return Err(PatchError::new(format!(
            "the order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}",
            Value::Array(items.to_vec()),
            Value::Array(order.to_vec())
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
