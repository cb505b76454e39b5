//! Pod templates' identity: the pod-template-hash (FNV-1a of the canonical
//! template, safe-encoded as upstream does it) and "same rollout" comparison.

use serde_json::Value;

/// FNV-1a (32 bit), as Kubernetes hashes pod templates.
pub fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c9dc5;
    for b in data {
        h ^= *b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    h
}

/// Upstream's SafeEncodeString: digits mapped to consonants and digits that never spell words.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char)
        .collect()
}

/// The same value with object keys sorted and nulls dropped, so equal templates
/// hash alike whatever order their fields arrived in.
pub fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            // null is Go's zero value: `creationTimestamp: null` and no creationTimestamp are alike
            Value::Object(
                keys.into_iter()
                    .filter(|k| !m[*k].is_null())
                    .map(|k| (k.clone(), canonical(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The template without its pod-template-hash label, canonical.
fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(l) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove("pod-template-hash");
    }
    canonical(&t)
}

/// Two pod templates are the same rollout when they differ at most in pod-template-hash.
pub fn same_template(a: &Value, b: &Value) -> bool {
    without_hash(a) == without_hash(b)
}

/// The pod-template-hash label value of a template (and collision count).
pub fn template_hash(template: &Value, collisions: i64) -> String {
    let mut data = serde_json::to_vec(&without_hash(template)).unwrap_or_default();
    if collisions > 0 {
        data.extend_from_slice(collisions.to_string().as_bytes());
    }
    safe_encode(&fnv32a(&data).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hashes_are_stable_and_safe() {
        let t = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}});
        let h = template_hash(&t, 0);
        assert_eq!(h, template_hash(&t, 0));
        assert_ne!(h, template_hash(&t, 1));
        assert!(
            h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{h}"
        );
        let mut t2 = t.clone();
        t2["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        assert_ne!(h, template_hash(&t2, 0));
        // field order does not matter
        let reordered: Value = serde_json::from_str(r#"{"spec": {"containers": [{"image": "nginx", "name": "nginx"}]}, "metadata": {"labels": {"app": "web"}}}"#).unwrap();
        assert_eq!(h, template_hash(&reordered, 0));
        let mut with_null = t.clone();
        with_null["metadata"]["creationTimestamp"] = Value::Null;
        assert_eq!(h, template_hash(&with_null, 0));
        // the label itself does not change the hash
        let mut t3 = t.clone();
        t3["metadata"]["labels"]["pod-template-hash"] = json!(h.clone());
        assert_eq!(h, template_hash(&t3, 0));
        assert!(same_template(&t, &t3));
        assert!(!same_template(&t, &t2));
        assert_eq!(fnv32a(b""), 0x811c9dc5);
    }
}
