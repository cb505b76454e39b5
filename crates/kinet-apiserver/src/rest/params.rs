//! The query parameters of list, watch and delete-collection requests, read in
//! one place with the API server's checks and messages: what its handler decodes
//! (selectors, integers: 400 BadRequest), what `ValidateListOptions` forbids
//! (422 Invalid `ListOptions.meta.k8s.io`), and what its storage checks before
//! reading (`ListReadConsistency`: continue token, resourceVersion and its match).

use super::continue_token;
use super::request::{Query, truthy};
use crate::status::ApiError;
use kinet_model::quote::go_quote;
use kinet_model::resources::Resource;
use kinet_model::selector::{FieldSelector, LabelSelector};
use kinet_model::validation::Cause;

/// How long a watch lasts when the client does not say (or says 0).
const DEFAULT_WATCH_SECONDS: u64 = 1800;

pub(crate) struct ListParams {
    pub label: LabelSelector,
    pub field: FieldSelector,
    /// `resourceVersion` as sent; None when absent or empty.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`; None when absent or empty.
    pub resource_version_match: Option<String>,
    /// `continue`; None when absent or empty.
    pub continue_token: Option<String>,
    /// Whether `sendInitialEvents` was sent at all (upstream's `*bool` is set).
    pub send_initial_events: bool,
    pub limit: Option<i64>,
    pub timeout_seconds: Option<i64>,
    pub allow_bookmarks: bool,
}

/// How a list must be read (upstream's `ReadConsistency`, with its revision).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// The latest state.
    Consistent,
    /// A state at least this recent.
    NotOlderThan(u64),
    /// The state at exactly this revision.
    Exact(u64),
}

/// What a list reads: how, and from which key on (a continue token's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListRead {
    pub read: Read,
    pub start: Option<String>,
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
        // lists are never cut into pages (the API lets a server ignore `limit`
        // and return everything), but a limit changes how a version is read
        let limit = int("limit")?;
        let non_empty = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
        Ok(ListParams {
            label,
            field,
            resource_version: non_empty("resourceVersion"),
            resource_version_match: non_empty("resourceVersionMatch"),
            continue_token: non_empty("continue"),
            send_initial_events: q.contains_key("sendInitialEvents"),
            limit,
            timeout_seconds,
            allow_bookmarks: truthy(q, "allowWatchBookmarks"),
        })
    }

    /// Upstream's `ValidateListOptions` (with the WatchList feature gate off, as
    /// in v1.33): a 422 Invalid `ListOptions.meta.k8s.io ""` with every cause.
    pub fn validate(&self, watch: bool) -> Result<(), ApiError> {
        let field = "resourceVersionMatch";
        let mut causes = Vec::new();
        let matched = self.resource_version_match.as_deref();
        if watch {
            if self.send_initial_events {
                if matched != Some("NotOlderThan") {
                    causes.push(forbidden(
                        field,
                        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                    ));
                }
                causes.push(forbidden(
                    "sendInitialEvents",
                    "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
                ));
            }
            if let Some(m) = matched {
                if !self.send_initial_events {
                    causes.push(forbidden(field, "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"));
                }
                if m != "NotOlderThan" {
                    causes.push(not_supported(field, m, &["NotOlderThan"]));
                }
                if self.continue_token.is_some() {
                    causes.push(forbidden(
                        field,
                        "resourceVersionMatch is forbidden when continue is provided",
                    ));
                }
            }
        } else {
            if let Some(m) = matched {
                if self.resource_version.is_none() {
                    causes.push(forbidden(
                        field,
                        "resourceVersionMatch is forbidden unless resourceVersion is provided",
                    ));
                }
                if self.continue_token.is_some() {
                    causes.push(forbidden(
                        field,
                        "resourceVersionMatch is forbidden when continue is provided",
                    ));
                }
                if m != "Exact" && m != "NotOlderThan" {
                    causes.push(not_supported(field, m, &["Exact", "NotOlderThan", ""]));
                }
                if m == "Exact" && self.resource_version.as_deref() == Some("0") {
                    causes.push(forbidden(
                        field,
                        "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                    ));
                }
            }
            if self.send_initial_events {
                causes.push(forbidden(
                    "sendInitialEvents",
                    "sendInitialEvents is forbidden for list",
                ));
            }
        }
        if causes.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid("ListOptions", "meta.k8s.io", "", &causes))
        }
    }

    /// How a list reads and from which key (storage's `ListReadConsistency`):
    /// the continue token decoded, the resourceVersion parsed and matched.
    pub fn list_read(&self, prefix: &str) -> Result<ListRead, ApiError> {
        if let Some(token) = &self.continue_token {
            let (key, rv) = continue_token::decode(token, prefix)
                .map_err(|e| ApiError::bad_request(format!("invalid continue token: {e}")))?;
            if self.resource_version.as_deref().is_some_and(|v| v != "0") {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            // a positive version is the snapshot the first page was read at;
            // a negative one means "the latest" (a token renewed after a 410)
            let read = match u64::try_from(rv) {
                Ok(rv) if rv > 0 => Read::Exact(rv),
                _ => Read::Consistent,
            };
            return Ok(ListRead {
                read,
                start: Some(key),
            });
        }
        let Some(v) = &self.resource_version else {
            return Ok(ListRead {
                read: Read::Consistent,
                start: None,
            });
        };
        let rv = parse_resource_version(v)
            .map_err(|e| ApiError::bad_request(format!("invalid resource version: {e}")))?;
        let read = match self.resource_version_match.as_deref() {
            Some("Exact") => Read::Exact(rv),
            None if self.limit.is_some_and(|l| l > 0) && rv > 0 => Read::Exact(rv),
            _ => Read::NotOlderThan(rv),
        };
        Ok(ListRead { read, start: None })
    }

    /// Where a watch starts: None for "now, with the current state first", Some(0)
    /// for "any state, current state first", Some(n) for "after revision n". A
    /// version that is not a number fails as upstream's watch does: a 500 whose
    /// reason is empty.
    pub fn watch_from(&self) -> Result<Option<u64>, ApiError> {
        match self.resource_version.as_deref() {
            None => Ok(None),
            Some(v) => object_resource_version(v).map(Some),
        }
    }

    /// How long a watch lasts, in seconds: 0 or none is the default, a negative
    /// timeout ends the watch at once (upstream's timer fires immediately).
    pub fn watch_seconds(&self) -> u64 {
        match self.timeout_seconds {
            None | Some(0) => DEFAULT_WATCH_SECONDS,
            Some(t) => u64::try_from(t).unwrap_or(0),
        }
    }
}

/// The `resourceVersion` of a get or a watch, as the watch cache parses it: a
/// bad one is the versioner's error as it is, a 500 whose reason is empty.
pub(crate) fn object_resource_version(v: &str) -> Result<u64, ApiError> {
    parse_resource_version(v).map_err(|e| ApiError::new(500, "", e))
}

/// `field.Forbidden(field, detail)`.
fn forbidden(field: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueForbidden",
        field: field.to_string(),
        message: format!("Forbidden: {detail}"),
    }
}

/// `field.NotSupported(field, value, supported)`.
fn not_supported(field: &str, value: &str, supported: &[&str]) -> Cause {
    let list: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
    Cause {
        reason: "FieldValueNotSupported",
        field: field.to_string(),
        message: format!(
            "Unsupported value: {}: supported values: {}",
            go_quote(value),
            list.join(", ")
        ),
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
        let e = p.list_read("/core/pods/").unwrap_err();
        assert_eq!((e.code, e.reason), (400, "BadRequest"));
        assert_eq!(
            e.message,
            "invalid resource version: resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": invalid syntax"
        );
        for ok in ["0", "", "17"] {
            let p = params(&[("resourceVersion", ok)]).unwrap();
            assert_eq!(p.list_read("/core/pods/").unwrap().start, None);
        }
        let p = params(&[("continue", "junk")]).unwrap();
        let e = p.list_read("/core/pods/").unwrap_err();
        assert_eq!(
            e.message,
            "invalid continue token: continue key is not valid: invalid character '\\u008e' looking for beginning of value"
        );
        // {"v":"meta.k8s.io/v1","rv":5,"start":"b"}
        let good = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NSwic3RhcnQiOiJiIn0";
        let p = params(&[("continue", good)]).unwrap();
        assert_eq!(
            p.list_read("/core/pods/").unwrap(),
            ListRead {
                read: Read::Exact(5),
                start: Some("/core/pods/b".into())
            }
        );
        let p = params(&[("continue", good), ("resourceVersion", "3")]).unwrap();
        assert_eq!(
            p.list_read("/core/pods/").unwrap_err().message,
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
        let p = params(&[("timeoutSeconds", "0")]).unwrap();
        assert_eq!(p.watch_seconds(), 1800);
        let p = params(&[("timeoutSeconds", "-3")]).unwrap();
        assert_eq!(p.watch_seconds(), 0);
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

    #[test]
    fn versions_read_as_upstream_storage_reads_them() {
        let read = |q: &[(&str, &str)]| params(q).unwrap().list_read("/core/pods/").unwrap().read;
        assert_eq!(read(&[]), Read::Consistent);
        assert_eq!(read(&[("resourceVersion", "0")]), Read::NotOlderThan(0));
        assert_eq!(read(&[("resourceVersion", "7")]), Read::NotOlderThan(7));
        // the legacy case: a limit makes a version exact
        assert_eq!(
            read(&[("resourceVersion", "7"), ("limit", "5")]),
            Read::Exact(7)
        );
        assert_eq!(
            read(&[("resourceVersion", "7"), ("limit", "-1")]),
            Read::NotOlderThan(7)
        );
        assert_eq!(
            read(&[("resourceVersion", "0"), ("limit", "5")]),
            Read::NotOlderThan(0)
        );
        let exact = [("resourceVersion", "7"), ("resourceVersionMatch", "Exact")];
        assert_eq!(read(&exact), Read::Exact(7));
        let not_older = [
            ("resourceVersion", "7"),
            ("resourceVersionMatch", "NotOlderThan"),
            ("limit", "5"),
        ];
        assert_eq!(read(&not_older), Read::NotOlderThan(7));
        // a renewed token (rv -1): the latest state from its key
        let token = continue_token::encode("/core/pods/b", "/core/pods/", -1).unwrap();
        assert_eq!(read(&[("continue", &token)]), Read::Consistent);
    }

    #[test]
    fn list_options_are_validated_as_upstream() {
        let invalid = |q: &[(&str, &str)], watch: bool| {
            let e = params(q).unwrap().validate(watch).unwrap_err();
            assert_eq!((e.code, e.reason), (422, "Invalid"));
            e.message
        };
        assert_eq!(
            invalid(&[("resourceVersionMatch", "Exact")], false),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
        );
        assert_eq!(
            invalid(
                &[("resourceVersionMatch", "Soon"), ("resourceVersion", "1")],
                false
            ),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Unsupported value: \"Soon\": supported values: \"Exact\", \"NotOlderThan\", \"\""
        );
        assert_eq!(
            invalid(
                &[("resourceVersionMatch", "Exact"), ("resourceVersion", "0")],
                false
            ),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""
        );
        assert_eq!(
            invalid(
                &[("resourceVersionMatch", "Exact"), ("continue", "x")],
                false
            ),
            "ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided, resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided]"
        );
        assert_eq!(
            invalid(&[("sendInitialEvents", "false")], false),
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"
        );
        assert_eq!(
            invalid(&[("resourceVersionMatch", "NotOlderThan")], true),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
        );
        assert_eq!(
            invalid(
                &[
                    ("sendInitialEvents", "true"),
                    ("resourceVersionMatch", "NotOlderThan")
                ],
                true
            ),
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"
        );
        for ok in [
            &[][..],
            &[
                ("resourceVersion", "5"),
                ("resourceVersionMatch", "NotOlderThan"),
            ][..],
            &[
                ("resourceVersion", "5"),
                ("resourceVersionMatch", "Exact"),
                ("limit", "1"),
            ][..],
        ] {
            assert!(params(ok).unwrap().validate(false).is_ok(), "{ok:?}");
        }
        assert!(
            params(&[("resourceVersion", "5")])
                .unwrap()
                .validate(true)
                .is_ok()
        );
    }
}
