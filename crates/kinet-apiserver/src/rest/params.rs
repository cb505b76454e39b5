//! The query parameters of list, watch and delete-collection requests, read in
//! one place with the API server's checks and messages: what its handler decodes
//! (selectors, integers: 400 BadRequest) and what its storage checks before
//! reading (continue token, resourceVersion).

use super::continue_token;
use super::request::{Query, truthy};
use crate::status::ApiError;
use kinet_model::quote::go_quote;
use kinet_model::resources::Resource;
use kinet_model::selector::{FieldSelector, LabelSelector};

/// How long a watch lasts when the client does not say.
const DEFAULT_WATCH_SECONDS: u64 = 1800;

pub(crate) struct ListParams {
    pub label: LabelSelector,
    pub field: FieldSelector,
    /// `resourceVersion` as sent; None when absent or empty.
    pub resource_version: Option<String>,
    /// `continue`; None when absent or empty.
    pub continue_token: Option<String>,
    pub timeout_seconds: Option<i64>,
    pub allow_bookmarks: bool,
}

impl ListParams {
    /// Decodes the parameters of a collection request for resource `r`.
    pub fn parse(r: &Resource, q: &Query) -> Result<Self, ApiError> {
        let label = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let field = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        field.check(r.kind).map_err(ApiError::bad_request)?;
        let int = |k: &str| {
            q.get(k)
                .map(|v| parse_int(v).map_err(ApiError::bad_request))
                .transpose()
        };
        let timeout_seconds = int("timeoutSeconds")?;
        // checked as upstream decodes it; lists are never cut into pages (the API
        // lets a server ignore `limit` and return everything)
        int("limit")?;
        let non_empty = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
        Ok(ListParams {
            label,
            field,
            resource_version: non_empty("resourceVersion"),
            continue_token: non_empty("continue"),
            timeout_seconds,
            allow_bookmarks: truthy(q, "allowWatchBookmarks"),
        })
    }

    /// What a list checks before it reads (storage's `ValidateListOptions`): the
    /// key the list continues from, if a continue token says so.
    pub fn list_start(&self, prefix: &str) -> Result<Option<String>, ApiError> {
        if let Some(token) = &self.continue_token {
            let (key, _rv) = continue_token::decode(token, prefix)
                .map_err(|e| ApiError::bad_request(format!("invalid continue token: {e}")))?;
            if self.resource_version.as_deref().is_some_and(|v| v != "0") {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            return Ok(Some(key));
        }
        if let Some(v) = &self.resource_version {
            parse_resource_version(v)
                .map_err(|e| ApiError::bad_request(format!("invalid resource version: {e}")))?;
        }
        Ok(None)
    }

    /// Where a watch starts: None for "now, with the current state first", Some(0)
    /// for "any state, current state first", Some(n) for "after revision n". A
    /// version that is not a number fails as upstream's watch does: a 500 whose
    /// reason is empty.
    pub fn watch_from(&self) -> Result<Option<u64>, ApiError> {
        match self.resource_version.as_deref() {
            None => Ok(None),
            Some(v) => parse_resource_version(v)
                .map(Some)
                .map_err(|e| ApiError::new(500, "", e)),
        }
    }

    /// How long a watch lasts, in seconds.
    pub fn watch_seconds(&self) -> u64 {
        self.timeout_seconds
            .and_then(|t| u64::try_from(t).ok())
            .unwrap_or(DEFAULT_WATCH_SECONDS)
    }
}

/// The API server's `ParseResourceVersion`: "" and "0" are 0, anything else must
/// be a decimal uint64. The error reads like the field error upstream returns.
fn parse_resource_version(v: &str) -> Result<u64, String> {
    if v.is_empty() || v == "0" {
        return Ok(0);
    }
    parse_uint(v).map_err(|e| format!("resourceVersion: Invalid value: {}: {e}", go_quote(v)))
}

/// Go's `strconv.ParseUint(s, 10, 64)`, with its error text.
fn parse_uint(s: &str) -> Result<u64, String> {
    let err = |what: &str| format!("strconv.ParseUint: parsing {}: {what}", go_quote(s));
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("invalid syntax"));
    }
    s.parse().map_err(|_| err("value out of range"))
}

/// Go's `strconv.ParseInt(s, 10, 64)`, with its error text.
fn parse_int(s: &str) -> Result<i64, String> {
    let err = |what: &str| format!("strconv.ParseInt: parsing {}: {what}", go_quote(s));
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("invalid syntax"));
    }
    s.parse().map_err(|_| err("value out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods() -> &'static Resource {
        kinet_model::resources::find("", "v1", "pods").unwrap()
    }

    fn params(query: &[(&str, &str)]) -> Result<ListParams, ApiError> {
        let q = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ListParams::parse(pods(), &q)
    }

    #[test]
    fn go_integer_parsing() {
        assert_eq!(parse_uint("42"), Ok(42));
        assert_eq!(parse_int("-5"), Ok(-5));
        assert_eq!(parse_int("+5"), Ok(5));
        let invalid = |f: &str, s: &str, why: &str| format!("strconv.{f}: parsing {s:?}: {why}");
        assert_eq!(
            parse_uint("+1"),
            Err(invalid("ParseUint", "+1", "invalid syntax"))
        );
        assert_eq!(
            parse_uint("18446744073709551616"),
            Err(invalid(
                "ParseUint",
                "18446744073709551616",
                "value out of range"
            ))
        );
        assert_eq!(
            parse_int("abc"),
            Err(invalid("ParseInt", "abc", "invalid syntax"))
        );
        assert_eq!(
            parse_int("-"),
            Err(invalid("ParseInt", "-", "invalid syntax"))
        );
    }

    #[test]
    fn list_resource_versions_and_continue_tokens() {
        let p = params(&[("resourceVersion", "abc")]).unwrap();
        let e = p.list_start("/core/pods/").unwrap_err();
        assert_eq!((e.code, e.reason), (400, "BadRequest"));
        assert_eq!(
            e.message,
            "invalid resource version: resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": invalid syntax"
        );
        for ok in ["0", "", "17"] {
            let p = params(&[("resourceVersion", ok)]).unwrap();
            assert_eq!(p.list_start("/core/pods/").unwrap(), None);
        }
        let p = params(&[("continue", "junk")]).unwrap();
        let e = p.list_start("/core/pods/").unwrap_err();
        assert_eq!(
            e.message,
            "invalid continue token: continue key is not valid: invalid character '\\u008e' looking for beginning of value"
        );
        // {"v":"meta.k8s.io/v1","rv":5,"start":"b"}
        let good = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NSwic3RhcnQiOiJiIn0";
        let p = params(&[("continue", good)]).unwrap();
        assert_eq!(
            p.list_start("/core/pods/").unwrap().as_deref(),
            Some("/core/pods/b")
        );
        let p = params(&[("continue", good), ("resourceVersion", "3")]).unwrap();
        assert_eq!(
            p.list_start("/core/pods/").unwrap_err().message,
            "specifying resource version is not allowed when using continue"
        );
    }

    #[test]
    fn watch_versions_and_timeouts() {
        assert_eq!(params(&[]).unwrap().watch_from().unwrap(), None);
        let p = params(&[("resourceVersion", "0")]).unwrap();
        assert_eq!(p.watch_from().unwrap(), Some(0));
        let p = params(&[("resourceVersion", "12")]).unwrap();
        assert_eq!(p.watch_from().unwrap(), Some(12));
        let e = params(&[("resourceVersion", "x1")])
            .unwrap()
            .watch_from()
            .unwrap_err();
        assert_eq!((e.code, e.reason), (500, ""));
        assert_eq!(
            e.message,
            "resourceVersion: Invalid value: \"x1\": strconv.ParseUint: parsing \"x1\": invalid syntax"
        );
        assert_eq!(params(&[]).unwrap().watch_seconds(), 1800);
        let p = params(&[("timeoutSeconds", "5")]).unwrap();
        assert_eq!(p.watch_seconds(), 5);
        let e = params(&[("timeoutSeconds", "soon")]).err().unwrap();
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "strconv.ParseInt: parsing \"soon\": invalid syntax")
        );
        let e = params(&[("limit", "1.5")]).err().unwrap();
        assert_eq!(
            e.message,
            "strconv.ParseInt: parsing \"1.5\": invalid syntax"
        );
    }

    #[test]
    fn selectors_are_checked() {
        assert_eq!(
            params(&[("labelSelector", "a in (")]).err().unwrap().code,
            400
        );
        assert_eq!(
            params(&[("fieldSelector", "spec.nope=1")])
                .err()
                .unwrap()
                .code,
            400
        );
        let p = params(&[
            ("labelSelector", "app=web"),
            ("fieldSelector", "metadata.name=x"),
        ])
        .unwrap();
        assert!(!p.label.is_empty());
    }
}
