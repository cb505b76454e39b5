//! Secret data: base64 as the API server writes it, the decoded `data` a
//! volume or an env var reads, and the sizes validation counts.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use crate::json::string_map_at;

/// Standard base64 with padding, as `data` holds it.
pub fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A `data` value decoded (surrounding blanks ignored); a value that is not
/// base64 reads as empty.
pub fn decode(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_default()
}

/// A Secret's `data`, each value base64-decoded (what kubelet writes into a
/// secret volume). Values that are not strings read as empty.
pub fn data(secret: &Value) -> BTreeMap<String, Vec<u8>> {
    secret
        .get("data")
        .and_then(Value::as_object)
        .map(|d| {
            d.iter()
                .map(|(k, v)| (k.clone(), decode(v.as_str().unwrap_or(""))))
                .collect()
        })
        .unwrap_or_default()
}

/// The decoded length of a base64 value as validation counts it (without
/// decoding: three bytes per four characters, padding left out).
pub fn decoded_len(s: &str) -> usize {
    s.trim_end_matches('=').len() * 3 / 4
}

/// The keys of `data` after `stringData` is merged in (as conversion does),
/// each with its decoded size, in the order validation reports them: `data`'s
/// keys, then the keys only `stringData` has.
pub fn sizes(secret: &Value) -> Vec<(String, usize)> {
    let mut sizes: Vec<(String, usize)> = string_map_at(secret, "/data")
        .into_iter()
        .map(|(k, v)| (k, decoded_len(&v)))
        .collect();
    for (k, v) in string_map_at(secret, "/stringData") {
        match sizes.iter_mut().find(|(dk, _)| *dk == k) {
            Some(e) => e.1 = v.len(),
            None => sizes.push((k, v.len())),
        }
    }
    sizes
}

/// `data` as the API server stores it: `stringData` merged in, base64-encoded,
/// over `data` (values as [`string_map_at`] reads them).
pub fn stored_data(secret: &Value) -> BTreeMap<String, String> {
    let mut data: BTreeMap<String, String> = string_map_at(secret, "/data").into_iter().collect();
    for (k, v) in string_map_at(secret, "/stringData") {
        data.insert(k, encode(v.as_bytes()));
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_round_trip() {
        assert_eq!(encode(b"hello"), "aGVsbG8=");
        assert_eq!(encode(b"hi"), "aGk=");
        assert_eq!(encode(b""), "");
        assert_eq!(decode(" aGk= "), b"hi");
        assert!(decode("not base64!").is_empty());
    }

    #[test]
    fn data_is_decoded() {
        let s = json!({"data": {"a": "eA==", "b": "!!", "n": 5}, "stringData": {"c": "y"}});
        let d = data(&s);
        assert_eq!(d.len(), 3);
        assert_eq!(d["a"], b"x");
        assert!(d["b"].is_empty());
        assert!(d["n"].is_empty());
        assert!(data(&json!({"data": "x"})).is_empty());
        assert!(data(&json!({})).is_empty());
    }

    #[test]
    fn sizes_merge_string_data() {
        let s =
            json!({"data": {"a": "dmFsdWU=", "b": "eA=="}, "stringData": {"b": "four", "c": "xy"}});
        assert_eq!(
            sizes(&s),
            vec![("a".into(), 5), ("b".into(), 4), ("c".into(), 2)]
        );
        assert_eq!(decoded_len("eA=="), 1);
        assert_eq!(decoded_len("aGk="), 2);
        assert_eq!(decoded_len(""), 0);
    }

    #[test]
    fn stored_data_encodes_string_data_over_data() {
        let s = json!({"data": {"a": "eA==", "b": "eA=="}, "stringData": {"b": "y"}});
        let d = stored_data(&s);
        assert_eq!(d["a"], "eA==");
        assert_eq!(d["b"], "eQ==");
        assert_eq!(d.len(), 2);
    }
}
