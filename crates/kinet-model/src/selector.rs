//! Label and field selectors: the `?labelSelector=` / `?fieldSelector=` string
//! forms, and `LabelSelector` objects (matchLabels / matchExpressions).

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; empty selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<Requirement>);

impl LabelSelector {
    /// Parses the string form used by `-l` (`a=b,c!=d,e in (x,y),!f,g`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        let mut rest = s.trim();
        while !rest.is_empty() {
            // split at the next top-level comma (not inside parentheses)
            let mut depth = 0;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    ',' if depth == 0 => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let part = rest[..end].trim();
            rest = if end < rest.len() {
                rest[end + 1..].trim_start()
            } else {
                ""
            };
            if part.is_empty() {
                return Err(format!(
                    "unable to parse requirement: found '', expected: identifier in {s:?}"
                ));
            }
            reqs.push(parse_requirement(part)?);
        }
        Ok(LabelSelector(reqs))
    }

    /// Builds a selector from a `LabelSelector` object (`matchLabels`, `matchExpressions`).
    pub fn from_object(sel: &Value) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(Requirement::Eq(
                    k.clone(),
                    v.as_str().unwrap_or("").to_string(),
                ));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = e.get("operator").and_then(Value::as_str).unwrap_or("");
                reqs.push(match op {
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::NotExists(key),
                    other => {
                        return Err(format!("{other:?} is not a valid label selector operator"));
                    }
                });
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// `metav1.LabelSelectorAsSelector`: [`from_object`](Self::from_object), also
    /// refusing `In`/`NotIn` without values and `Exists`/`DoesNotExist` with values.
    pub fn from_object_checked(sel: &Value) -> Result<Self, String> {
        let parsed = Self::from_object(sel)?;
        let exprs = sel.get("matchExpressions").and_then(Value::as_array);
        for e in exprs.into_iter().flatten() {
            let n = e
                .get("values")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            match e.get("operator").and_then(Value::as_str) {
                Some("In" | "NotIn") if n == 0 => {
                    return Err("for 'in', 'notin' operators, values set can't be empty".into());
                }
                Some("Exists" | "DoesNotExist") if n > 0 => {
                    return Err("values set must be empty for exists and does not exist".into());
                }
                _ => {}
            }
        }
        Ok(parsed)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Eq(k, v) => labels.get(k) == Some(v),
            Requirement::NotEq(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }

    /// Matches an object's `metadata.labels`.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.is_empty() || self.matches(&labels_of(obj))
    }
}

/// `labels.Selector.String()`: requirements sorted by key (stably), set values
/// sorted and deduplicated: `app=web,env in (dev,prod),tier,!canary`.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = |r: &Requirement| match r {
            Requirement::Eq(k, _)
            | Requirement::NotEq(k, _)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::NotExists(k) => k.clone(),
        };
        let set = |vs: &[String]| {
            let mut vs = vs.to_vec();
            vs.sort();
            vs.dedup();
            vs.join(",")
        };
        let mut reqs: Vec<&Requirement> = self.0.iter().collect();
        reqs.sort_by_key(|r| key(r));
        for (i, r) in reqs.into_iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match r {
                Requirement::Eq(k, v) => write!(f, "{k}={v}")?,
                Requirement::NotEq(k, v) => write!(f, "{k}!={v}")?,
                Requirement::In(k, vs) => write!(f, "{k} in ({})", set(vs))?,
                Requirement::NotIn(k, vs) => write!(f, "{k} notin ({})", set(vs))?,
                Requirement::Exists(k) => write!(f, "{k}")?,
                Requirement::NotExists(k) => write!(f, "!{k}")?,
            }
        }
        Ok(())
    }
}

/// The `metadata.labels` of an object as a map.
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let bad = || format!("unable to parse requirement: {part:?}");
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::NotExists(check_key(key.trim())?));
    }
    for (op, neg) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((k, v)) = part.split_once(op) {
            let (k, v) = (check_key(k.trim())?, v.trim().to_string());
            return Ok(if neg {
                Requirement::NotEq(k, v)
            } else {
                Requirement::Eq(k, v)
            });
        }
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let rest = words[1].trim();
        let (neg, list) = if let Some(l) = rest.strip_prefix("notin") {
            (true, l)
        } else if let Some(l) = rest.strip_prefix("in") {
            (false, l)
        } else {
            return Err(bad());
        };
        let list = list.trim();
        let inner = list
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .ok_or_else(bad)?;
        let values: Vec<String> = inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        let key = check_key(words[0])?;
        return Ok(if neg {
            Requirement::NotIn(key, values)
        } else {
            Requirement::In(key, values)
        });
    }
    Ok(Requirement::Exists(check_key(part)?))
}

fn check_key(k: &str) -> Result<String, String> {
    let ok = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(k.to_string())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label key {k:?}"
        ))
    }
}

/// A parsed field selector (`metadata.name=x,status.phase!=Running`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, neg, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            out.push((field.trim().to_string(), neg, value.trim().to_string()));
        }
        Ok(FieldSelector(out))
    }

    /// Checks every field is one the kind supports; the message is the API server's.
    pub fn check(&self, kind: &str) -> Result<(), String> {
        match self.0.iter().find(|(f, _, _)| !supported_field(kind, f)) {
            Some((f, _, _)) => Err(format!("field label not supported: {f}")),
            None => Ok(()),
        }
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(f, neg, v)| {
            let actual = field_value(obj, f);
            (actual == *v) != *neg
        })
    }
}

fn supported_field(kind: &str, f: &str) -> bool {
    if f == "metadata.name" || f == "metadata.namespace" {
        return true;
    }
    match kind {
        "Pod" => matches!(
            f,
            "spec.nodeName"
                | "spec.restartPolicy"
                | "spec.schedulerName"
                | "spec.serviceAccountName"
                | "spec.hostNetwork"
                | "status.phase"
                | "status.podIP"
                | "status.nominatedNodeName"
        ),
        "Event" => {
            f.starts_with("involvedObject.")
                || matches!(f, "reason" | "reportingComponent" | "source" | "type")
        }
        "Secret" => f == "type",
        "Namespace" => f == "status.phase",
        "Node" => f == "spec.unschedulable",
        "ReplicaSet" | "Job" => f == "status.replicas" || f == "status.successful",
        _ => false,
    }
}

/// The string value of a dotted field path (missing = "").
pub fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => {
                // booleans that default to false read "false"
                return if path == "spec.hostNetwork" || path == "spec.unschedulable" {
                    "false".into()
                } else {
                    String::new()
                };
            }
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_matches_set_based_selectors() {
        let s = LabelSelector::parse("app=web, tier in (front, back),!canary,env!=prod").unwrap();
        assert_eq!(s.0.len(), 4);
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "front")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "back"),
            ("canary", "1")
        ])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "back"),
            ("env", "prod")
        ])));
        let s = LabelSelector::parse("app notin (a,b),run").unwrap();
        assert!(s.matches(&labels(&[("run", "x")])));
        assert!(!s.matches(&labels(&[("run", "x"), ("app", "a")])));
        assert!(LabelSelector::parse("a=b,,c").is_err());
        assert!(LabelSelector::parse("a in x").is_err());
    }

    #[test]
    fn object_selectors() {
        let s = LabelSelector::from_object(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "Exists"}]
        }))
        .unwrap();
        assert!(s.matches_object(&json!({"metadata": {"labels": {"app": "web", "tier": "x"}}})));
        assert!(!s.matches_object(&json!({"metadata": {"labels": {"app": "web"}}})));
        assert!(
            LabelSelector::from_object(
                &json!({"matchExpressions": [{"key": "a", "operator": "Maybe"}]})
            )
            .is_err()
        );
    }

    #[test]
    fn checked_object_selectors_refuse_what_labelselectorasselector_refuses() {
        let ok = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]},
                                             {"key": "b", "operator": "DoesNotExist"}]});
        assert_eq!(
            LabelSelector::from_object_checked(&ok),
            LabelSelector::from_object(&ok)
        );
        let no_values =
            json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]});
        assert!(LabelSelector::from_object(&no_values).is_ok());
        assert_eq!(
            LabelSelector::from_object_checked(&no_values).unwrap_err(),
            "for 'in', 'notin' operators, values set can't be empty"
        );
        let values =
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]});
        assert_eq!(
            LabelSelector::from_object_checked(&values).unwrap_err(),
            "values set must be empty for exists and does not exist"
        );
        let bad_op = json!({"matchExpressions": [{"key": "a", "operator": "Has"}]});
        assert!(LabelSelector::from_object_checked(&bad_op).is_err());
        let empty = LabelSelector::from_object_checked(&json!({})).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn renders_as_upstream_string() {
        let s = LabelSelector::from_object(&json!({
            "matchLabels": {"role": "db"},
            "matchExpressions": [
                {"key": "tier", "operator": "Exists"},
                {"key": "x", "operator": "DoesNotExist"},
                {"key": "env", "operator": "NotIn", "values": ["b", "a", "b"]},
                {"key": "app", "operator": "In", "values": ["web"]}
            ]
        }))
        .unwrap();
        assert_eq!(
            s.to_string(),
            "app in (web),env notin (a,b),role=db,tier,!x"
        );
        assert_eq!(LabelSelector::default().to_string(), "");
        let s = LabelSelector::parse("b!=2,a==1").unwrap();
        assert_eq!(s.to_string(), "a=1,b!=2");
    }

    #[test]
    fn field_selectors() {
        let pod = json!({"metadata": {"name": "a", "namespace": "default"}, "spec": {"nodeName": "node1"}, "status": {"phase": "Running"}});
        let f = FieldSelector::parse("spec.nodeName=node1,status.phase!=Succeeded").unwrap();
        assert!(f.check("Pod").is_ok());
        assert!(f.matches(&pod));
        assert!(
            !FieldSelector::parse("metadata.name=b")
                .unwrap()
                .matches(&pod)
        );
        assert!(
            FieldSelector::parse("spec.hostNetwork=false")
                .unwrap()
                .matches(&pod)
        );
        let err = FieldSelector::parse("spec.foo=1")
            .unwrap()
            .check("Pod")
            .unwrap_err();
        assert_eq!(err, "field label not supported: spec.foo");
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
