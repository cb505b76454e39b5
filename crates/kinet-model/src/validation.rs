//! API-server validation with the upstream messages.
//!
//! Rules and wording follow k8s.io/apimachinery (util/validation,
//! api/validation, util/validation/field) and pkg/apis/core/validation,
//! apps/validation and batch/validation of kubernetes/kubernetes. Each
//! [`Cause`] carries the `StatusCause` fields the API server returns:
//! `reason` is the `field.ErrorType`, `field` the field path and `message`
//! what `field.Error.ErrorBody()` renders.
//!
//! Objects are the external (v1) JSON. Fields that API defaulting fills in
//! (restartPolicy, dnsPolicy, protocol, imagePullPolicy,
//! terminationMessagePolicy, terminationGracePeriodSeconds, secret type,
//! service type) are accepted when absent; callers that default before
//! validating get the same answers.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::json::{arr_at, at, int_at, str_at, string_map_at};
use crate::quantity::Quantity;
use crate::quote::{go_map, go_quote, go_strings};
use crate::selector::{LabelSelector, labels_of};

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
enum Bad {
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

fn bs(s: &str) -> Bad {
    Bad::Str(s.to_string())
}

fn with_detail(mut s: String, detail: &str) -> String {
    if !detail.is_empty() {
        s.push_str(": ");
        s.push_str(detail);
    }
    s
}

fn required(field: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired",
        field: field.to_string(),
        message: with_detail("Required value".into(), detail),
    }
}

fn forbidden(field: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueForbidden",
        field: field.to_string(),
        message: with_detail("Forbidden".into(), detail),
    }
}

fn too_long(field: &str, max: usize) -> Cause {
    let unit = if max == 1 { "byte" } else { "bytes" };
    Cause {
        reason: "FieldValueTooLong",
        field: field.to_string(),
        message: format!("Too long: may not be more than {max} {unit}"),
    }
}

fn invalid(field: &str, bad: Bad, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        field: field.to_string(),
        message: with_detail(format!("Invalid value: {}", bad.render()), detail),
    }
}

fn duplicate(field: &str, bad: Bad) -> Cause {
    Cause {
        reason: "FieldValueDuplicate",
        field: field.to_string(),
        message: format!("Duplicate value: {}", bad.render()),
    }
}

fn not_found(field: &str, bad: Bad) -> Cause {
    Cause {
        reason: "FieldValueNotFound",
        field: field.to_string(),
        message: format!("Not found: {}", bad.render()),
    }
}

fn not_supported(field: &str, bad: Bad, valid: &[&str]) -> Cause {
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

fn child(p: &str, name: &str) -> String {
    if p.is_empty() {
        name.to_string()
    } else {
        format!("{p}.{name}")
    }
}

fn index(p: &str, i: usize) -> String {
    format!("{p}[{i}]")
}

fn key(p: &str, k: &str) -> String {
    format!("{p}[{k}]")
}

// ---------------------------------------------------------------------------
// k8s.io/apimachinery/pkg/util/validation

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const CONFIG_MAP_KEY_FMT: &str = "[-._a-zA-Z0-9]+";
const CONFIG_MAP_KEY_ERR: &str =
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{fmt}')"));
    out
}

fn inclusive_range_error(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn matches_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| lower_alnum(c) || c == '-')
        && s.chars().next().is_some_and(lower_alnum)
        && s.chars().last().is_some_and(lower_alnum)
}

fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(matches_dns1123_label)
}

/// `validation.IsDNS1123Label`.
pub fn is_dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !matches_dns1123_label(s) {
        if matches_dns1123_subdomain(s) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// `validation.IsDNS1123Subdomain`.
pub fn is_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !matches_dns1123_subdomain(s) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// `validation.IsDNS1035Label`.
pub fn is_dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len_error(63));
    }
    let ok = !s.is_empty()
        && s.chars().all(|c| lower_alnum(c) || c == '-')
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars().last().is_some_and(lower_alnum);
    if !ok {
        errs.push(regex_error(
            DNS1035_LABEL_ERR,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

fn matches_qualified_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// `validation.IsQualifiedName` (label keys, annotation keys, finalizers).
pub fn is_qualified_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts.len() {
        1 => parts[0],
        2 => {
            let (prefix, name) = (parts[0], parts[1]);
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    is_dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !matches_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// `validation.IsValidLabelValue`.
pub fn is_valid_label_value(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !s.is_empty() && !matches_qualified_name_part(s) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// `validation.IsConfigMapKey` (ConfigMap and Secret keys).
pub fn is_config_map_key(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push(max_len_error(253));
    }
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        errs.push(regex_error(
            CONFIG_MAP_KEY_ERR,
            CONFIG_MAP_KEY_FMT,
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if s == "." {
        errs.push("must not be '.'".to_string());
    } else if s == ".." {
        errs.push("must not be '..'".to_string());
    } else if s.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

/// `validation.IsValidPortName` (IANA_SVC_NAME).
pub fn is_valid_port_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 15 {
        errs.push(max_len_error(15));
    }
    if s.is_empty() || !s.chars().all(|c| lower_alnum(c) || c == '-') {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
        );
    }
    if !s.chars().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if s.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if s.starts_with('-') || s.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

/// `validation.IsValidPortNum`.
pub fn is_valid_port_num(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range_error(1, 65535)]
    }
}

/// `validation.IsRelaxedEnvVarName` (RelaxedEnvironmentVariableValidation is on by default).
fn is_relaxed_env_var_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.is_empty() {
        errs.push("environment variable name must be non-empty".to_string());
    }
    if s.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        errs.push(
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .to_string(),
        );
    }
    errs
}

/// `path.IsValidPathSegmentName`: the name check for kinds without a
/// DNS rule (custom resources).
fn is_valid_path_segment_name(s: &str) -> Vec<String> {
    if s == "." || s == ".." {
        return vec![format!("may not be '{s}'")];
    }
    let mut errs = Vec::new();
    for bad in ["/", "%"] {
        if s.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

// ---------------------------------------------------------------------------
// Object metadata

#[derive(Clone, Copy, PartialEq, Eq)]
enum NameRule {
    Subdomain,
    Label,
    Dns1035,
    PathSegment,
}

fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        format!("{}a", &name[..name.len() - 2])
    } else {
        name.to_string()
    }
}

fn name_errors(rule: NameRule, name: &str, prefix: bool) -> Vec<String> {
    let name = if prefix && rule != NameRule::PathSegment {
        mask_trailing_dash(name)
    } else {
        name.to_string()
    };
    match rule {
        NameRule::Subdomain => is_dns1123_subdomain(&name),
        NameRule::Label => is_dns1123_label(&name),
        NameRule::Dns1035 => is_dns1035_label(&name),
        NameRule::PathSegment => {
            if prefix {
                is_valid_path_segment_name(&name)
                    .into_iter()
                    .filter(|m| !m.starts_with("may not be '"))
                    .collect()
            } else {
                is_valid_path_segment_name(&name)
            }
        }
    }
}

fn validate_labels(labels: &[(String, String)], path: &str, errs: &mut Vec<Cause>) {
    for (k, v) in labels {
        for msg in is_qualified_name(k) {
            errs.push(invalid(path, bs(k), &msg));
        }
        for msg in is_valid_label_value(v) {
            errs.push(invalid(path, bs(v), &msg));
        }
    }
}

const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

fn validate_annotations(annotations: &[(String, String)], path: &str, errs: &mut Vec<Cause>) {
    let mut total = 0usize;
    for (k, v) in annotations {
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(invalid(path, bs(k), &msg));
        }
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// The core rule for finalizer names (`validateKubeFinalizerName`).
fn validate_finalizer(name: &str, path: &str, errs: &mut Vec<Cause>) {
    for msg in is_qualified_name(name) {
        errs.push(invalid(path, bs(name), &msg));
    }
    if !name.contains('/') && !STANDARD_FINALIZERS.contains(&name) {
        errs.push(invalid(
            path,
            bs(name),
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
}

/// The parts of ObjectMeta validation shared by create and update.
fn validate_meta_common(meta: &Value, path: &str, namespaced: bool, errs: &mut Vec<Cause>) {
    if namespaced {
        let ns = str_at(meta, "/namespace");
        if !ns.is_empty() {
            for msg in name_errors(NameRule::Label, ns, false) {
                errs.push(invalid(&child(path, "namespace"), bs(ns), &msg));
            }
        }
    }
    if let Some(g) = int_at(meta, "/generation")
        && g < 0
    {
        errs.push(invalid(
            &child(path, "generation"),
            Bad::Int(g),
            "must be greater than or equal to 0",
        ));
    }
    validate_labels(
        &string_map_at(meta, "/labels"),
        &child(path, "labels"),
        errs,
    );
    validate_annotations(
        &string_map_at(meta, "/annotations"),
        &child(path, "annotations"),
        errs,
    );
    let owners_path = child(path, "ownerReferences");
    let mut controller: Option<String> = None;
    for owner in arr_at(meta, "/ownerReferences") {
        let api_version = str_at(owner, "/apiVersion");
        let version = api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(invalid(
                &child(&owners_path, "apiVersion"),
                bs(api_version),
                "version must not be empty",
            ));
        }
        for f in ["kind", "name", "uid"] {
            if str_at(owner, &format!("/{f}")).is_empty() {
                errs.push(invalid(
                    &child(&owners_path, f),
                    bs(""),
                    "must not be empty",
                ));
            }
        }
        if at(owner, "/controller").and_then(Value::as_bool) == Some(true) {
            let cur = format!("{}/{}", str_at(owner, "/kind"), str_at(owner, "/name"));
            match &controller {
                Some(first) => errs.push(invalid(
                    &owners_path,
                    Bad::Raw("[]v1.OwnerReference{...}".into()),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {cur}"
                    ),
                )),
                None => controller = Some(cur),
            }
        }
    }
    let fin_path = child(path, "finalizers");
    let finalizers: Vec<&str> = arr_at(meta, "/finalizers")
        .iter()
        .map(|f| f.as_str().unwrap_or(""))
        .collect();
    for f in &finalizers {
        for msg in is_qualified_name(f) {
            errs.push(invalid(&fin_path, bs(f), &msg));
        }
    }
    if finalizers.contains(&"orphan") && finalizers.contains(&"foregroundDeletion") {
        errs.push(invalid(
            &fin_path,
            Bad::Raw(go_strings(arr_at(meta, "/finalizers"))),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
}

/// The core kinds' extra finalizer rule, per index.
fn validate_kube_finalizers(meta: &Value, path: &str, errs: &mut Vec<Cause>) {
    for (i, f) in arr_at(meta, "/finalizers").iter().enumerate() {
        let name = f.as_str().unwrap_or("");
        if !name.contains('/') && !STANDARD_FINALIZERS.contains(&name) {
            errs.push(invalid(
                &index(&child(path, "finalizers"), i),
                bs(name),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}

/// `ValidateObjectMeta` on create.
fn validate_meta(obj: &Value, rule: NameRule, namespaced: bool, kube: bool, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let meta = at(obj, "/metadata").unwrap_or(&empty);
    let path = "metadata";
    let generate = str_at(meta, "/generateName");
    let name = str_at(meta, "/name");
    if !generate.is_empty() {
        for msg in name_errors(rule, generate, true) {
            errs.push(invalid("metadata.generateName", bs(generate), &msg));
        }
    }
    if name.is_empty() {
        if generate.is_empty() {
            errs.push(required(
                "metadata.name",
                "name or generateName is required",
            ));
        }
    } else {
        for msg in name_errors(rule, name, false) {
            errs.push(invalid("metadata.name", bs(name), &msg));
        }
    }
    validate_meta_common(meta, path, namespaced, errs);
    if kube {
        validate_kube_finalizers(meta, path, errs);
    }
}

/// `ValidateObjectMetaUpdate`.
fn validate_meta_update(old: &Value, new: &Value, kube: bool, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let om = at(old, "/metadata").unwrap_or(&empty);
    let nm = at(new, "/metadata").unwrap_or(&empty);
    if at(om, "/deletionTimestamp").is_some() {
        let old_f: HashSet<&str> = arr_at(om, "/finalizers")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut extra: Vec<&str> = arr_at(nm, "/finalizers")
            .iter()
            .filter_map(Value::as_str)
            .filter(|f| !old_f.contains(f))
            .collect();
        extra.sort();
        extra.dedup();
        if !extra.is_empty() {
            let list: Vec<String> = extra.iter().map(|f| go_quote(f)).collect();
            errs.push(forbidden(
                "metadata.finalizers",
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    list.join(", ")
                ),
            ));
        }
    }
    let (og, ng) = (
        int_at(om, "/generation").unwrap_or(0),
        int_at(nm, "/generation").unwrap_or(0),
    );
    if ng < og && at(nm, "/generation").is_some() {
        errs.push(invalid(
            "metadata.generation",
            Bad::Int(ng),
            "must not be decremented",
        ));
    }
    for f in ["name", "namespace"] {
        if str_at(nm, &format!("/{f}")) != str_at(om, &format!("/{f}")) {
            errs.push(invalid(
                &format!("metadata.{f}"),
                bs(str_at(nm, &format!("/{f}"))),
                "field is immutable",
            ));
        }
    }
    // BeforeUpdate copies uid and creationTimestamp when the request leaves them out.
    let uid = str_at(nm, "/uid");
    if !uid.is_empty() && uid != str_at(om, "/uid") {
        errs.push(invalid("metadata.uid", bs(uid), "field is immutable"));
    }
    validate_labels(&string_map_at(nm, "/labels"), "metadata.labels", errs);
    validate_annotations(
        &string_map_at(nm, "/annotations"),
        "metadata.annotations",
        errs,
    );
    let fin_path = "metadata.finalizers";
    for f in arr_at(nm, "/finalizers").iter().filter_map(Value::as_str) {
        for msg in is_qualified_name(f) {
            errs.push(invalid(fin_path, bs(f), &msg));
        }
    }
    if kube {
        validate_kube_finalizers(nm, "metadata", errs);
    }
}

// ---------------------------------------------------------------------------
// Quantities (resource.Quantity)

fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_hugepages(name)
}

fn validate_resource_name(name: &str, path: &str, errs: &mut Vec<Cause>) {
    for msg in is_qualified_name(name) {
        errs.push(invalid(path, bs(name), &msg));
    }
    if !name.contains('/') {
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_hugepages(name) {
            errs.push(invalid(
                path,
                bs(name),
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name) && name.starts_with("requests.") {
        errs.push(invalid(
            path,
            bs(name),
            "doesn't follow extended resource name standard",
        ));
    }
}

fn validate_quantity_value(name: &str, q: &Quantity, path: &str, errs: &mut Vec<Cause>) {
    if q.nanos() < 0 {
        errs.push(invalid(
            path,
            Bad::Str(q.canonical()),
            "must be greater than or equal to 0",
        ));
    }
    if !is_native_resource(name) && !q.is_integer() {
        errs.push(invalid(path, Bad::Raw(q.canonical()), "must be an integer"));
    }
}

/// `ValidateContainerResourceRequirements` (names, quantities, requests <= limits).
fn validate_resources(res: &Value, path: &str, errs: &mut Vec<Cause>) {
    let lim_path = child(path, "limits");
    let req_path = child(path, "requests");
    let limits: Vec<(String, Value)> = at(res, "/limits")
        .and_then(Value::as_object)
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    let requests: Vec<(String, Value)> = at(res, "/requests")
        .and_then(Value::as_object)
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    for (name, v) in &limits {
        let p = key(&lim_path, name);
        validate_resource_name(name, &p, errs);
        if let Some(q) = Quantity::from_json(v) {
            validate_quantity_value(name, &q, &p, errs);
        }
    }
    for (name, v) in &requests {
        let p = key(&req_path, name);
        validate_resource_name(name, &p, errs);
        let Some(q) = Quantity::from_json(v) else {
            continue;
        };
        validate_quantity_value(name, &q, &p, errs);
        match limits
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, l)| Quantity::from_json(l))
        {
            Some(l) => {
                if q.nanos() != l.nanos() && !overcommit_allowed(name) {
                    errs.push(invalid(
                        &req_path,
                        Bad::Str(q.canonical()),
                        &format!("must be equal to {name} limit of {}", l.canonical()),
                    ));
                } else if q.nanos() > l.nanos() {
                    errs.push(invalid(
                        &req_path,
                        Bad::Str(q.canonical()),
                        &format!(
                            "must be less than or equal to {name} limit of {}",
                            l.canonical()
                        ),
                    ));
                }
            }
            None => {
                if !overcommit_allowed(name) && !limits.iter().any(|(n, _)| n == name) {
                    errs.push(required(
                        &lim_path,
                        "Limit must be set for non overcommitable resources",
                    ));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Pod spec

const VOLUME_TYPES: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
];

fn validate_volume_source(vol: &Value, path: &str, errs: &mut Vec<Cause>) {
    let mut n = 0;
    for ty in VOLUME_TYPES {
        let Some(src) = at(vol, &format!("/{ty}")) else {
            continue;
        };
        // Upstream spells the path of a second cephfs source "cephFS".
        let p = child(path, if *ty == "cephfs" { "cephFS" } else { ty });
        if n > 0 {
            errs.push(forbidden(&p, "may not specify more than 1 volume type"));
            continue;
        }
        n += 1;
        let sp = child(path, ty);
        match *ty {
            "hostPath" if str_at(src, "/path").is_empty() => {
                errs.push(required(&child(&sp, "path"), ""))
            }
            "secret" if str_at(src, "/secretName").is_empty() => {
                errs.push(required(&child(&sp, "secretName"), ""))
            }
            "configMap" if str_at(src, "/name").is_empty() => {
                errs.push(required(&child(&sp, "name"), ""))
            }
            "persistentVolumeClaim" if str_at(src, "/claimName").is_empty() => {
                errs.push(required(&child(&sp, "claimName"), ""))
            }
            "nfs" => {
                if str_at(src, "/server").is_empty() {
                    errs.push(required(&child(&sp, "server"), ""));
                }
                let p = str_at(src, "/path");
                if p.is_empty() {
                    errs.push(required(&child(&sp, "path"), ""));
                } else if !p.starts_with('/') {
                    errs.push(invalid(
                        &child(&sp, "path"),
                        bs(p),
                        "must be an absolute path",
                    ));
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        errs.push(required(path, "must specify a volume type"));
    }
}

/// `ValidateVolumes`: returns the names of the valid volumes.
fn validate_volumes(volumes: &[Value], path: &str, errs: &mut Vec<Cause>) -> HashSet<String> {
    let mut names = HashSet::new();
    for (i, vol) in volumes.iter().enumerate() {
        let idx = index(path, i);
        let name_path = child(&idx, "name");
        let mut el = Vec::new();
        validate_volume_source(vol, &idx, &mut el);
        let name = str_at(vol, "/name");
        if name.is_empty() {
            el.push(required(&name_path, ""));
        } else {
            for msg in is_dns1123_label(name) {
                el.push(invalid(&name_path, bs(name), &msg));
            }
        }
        if names.contains(name) {
            el.push(duplicate(&name_path, bs(name)));
        }
        if el.is_empty() {
            names.insert(name.to_string());
        } else {
            errs.extend(el);
        }
    }
    names
}

fn validate_ports(ports: &[Value], path: &str, errs: &mut Vec<Cause>) {
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let idx = index(path, i);
        let name = str_at(p, "/name");
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(invalid(&child(&idx, "name"), bs(name), &m));
                }
            } else if !names.insert(name.to_string()) {
                errs.push(duplicate(&child(&idx, "name"), bs(name)));
            }
        }
        let cp = int_at(p, "/containerPort").unwrap_or(0);
        if cp == 0 {
            errs.push(required(&child(&idx, "containerPort"), ""));
        } else {
            for m in is_valid_port_num(cp) {
                errs.push(invalid(&child(&idx, "containerPort"), Bad::Int(cp), &m));
            }
        }
        let hp = int_at(p, "/hostPort").unwrap_or(0);
        if hp != 0 {
            for m in is_valid_port_num(hp) {
                errs.push(invalid(&child(&idx, "hostPort"), Bad::Int(hp), &m));
            }
        }
        validate_protocol(p, &child(&idx, "protocol"), errs);
    }
}

fn validate_protocol(p: &Value, path: &str, errs: &mut Vec<Cause>) {
    let proto = str_at(p, "/protocol");
    if !proto.is_empty() && !["TCP", "UDP", "SCTP"].contains(&proto) {
        errs.push(not_supported(path, bs(proto), &["SCTP", "TCP", "UDP"]));
    }
}

fn validate_env(env: &[Value], path: &str, errs: &mut Vec<Cause>) {
    for (i, e) in env.iter().enumerate() {
        let idx = index(path, i);
        let name = str_at(e, "/name");
        if name.is_empty() {
            errs.push(required(&child(&idx, "name"), ""));
        } else {
            for m in is_relaxed_env_var_name(name) {
                errs.push(invalid(&child(&idx, "name"), bs(name), &m));
            }
        }
        if let Some(from) = at(e, "/valueFrom") {
            let vf = child(&idx, "valueFrom");
            let mut n = 0;
            for (src, name_required) in [
                ("fieldRef", false),
                ("resourceFieldRef", false),
                ("configMapKeyRef", true),
                ("secretKeyRef", true),
            ] {
                let Some(sel) = at(from, &format!("/{src}")) else {
                    continue;
                };
                n += 1;
                let sp = child(&vf, src);
                if name_required {
                    let n = str_at(sel, "/name");
                    for m in is_dns1123_subdomain(n) {
                        errs.push(invalid(&child(&sp, "name"), bs(n), &m));
                    }
                    let k = str_at(sel, "/key");
                    if k.is_empty() {
                        errs.push(required(&child(&sp, "key"), ""));
                    } else {
                        for m in is_config_map_key(k) {
                            errs.push(invalid(&child(&sp, "key"), bs(k), &m));
                        }
                    }
                } else if src == "fieldRef" && str_at(sel, "/fieldPath").is_empty() {
                    errs.push(required(&child(&sp, "fieldPath"), ""));
                } else if src == "resourceFieldRef" && str_at(sel, "/resource").is_empty() {
                    errs.push(required(&child(&sp, "resource"), ""));
                }
            }
            if n == 0 {
                errs.push(invalid(
                    &vf,
                    bs(""),
                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                ));
            } else if !str_at(e, "/value").is_empty() {
                errs.push(invalid(
                    &vf,
                    bs(""),
                    "may not be specified when `value` is not empty",
                ));
            } else if n > 1 {
                errs.push(invalid(
                    &vf,
                    bs(""),
                    "may not have more than one field specified at a time",
                ));
            }
        }
    }
}

fn validate_env_from(env_from: &[Value], path: &str, errs: &mut Vec<Cause>) {
    for (i, e) in env_from.iter().enumerate() {
        let idx = index(path, i);
        let prefix = str_at(e, "/prefix");
        if !prefix.is_empty() {
            for m in is_relaxed_env_var_name(prefix) {
                errs.push(invalid(&child(&idx, "prefix"), bs(prefix), &m));
            }
        }
        let mut n = 0;
        for src in ["configMapRef", "secretRef"] {
            let Some(r) = at(e, &format!("/{src}")) else {
                continue;
            };
            n += 1;
            let name = str_at(r, "/name");
            let np = child(&child(&idx, src), "name");
            if name.is_empty() {
                errs.push(required(&np, ""));
            } else {
                for m in name_errors(NameRule::Subdomain, name, true) {
                    errs.push(invalid(&np, bs(name), &m));
                }
            }
        }
        if n == 0 {
            errs.push(invalid(
                path,
                bs(""),
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if n > 1 {
            errs.push(invalid(
                path,
                bs(""),
                "may not have more than one field specified at a time",
            ));
        }
    }
}

fn validate_volume_mounts(
    mounts: &[Value],
    volumes: &HashSet<String>,
    path: &str,
    errs: &mut Vec<Cause>,
) {
    let mut points = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let idx = index(path, i);
        let name = str_at(m, "/name");
        if name.is_empty() {
            errs.push(required(&child(&idx, "name"), ""));
        }
        if !volumes.contains(name) {
            errs.push(not_found(&child(&idx, "name"), bs(name)));
        }
        let mp = str_at(m, "/mountPath");
        if mp.is_empty() {
            errs.push(required(&child(&idx, "mountPath"), ""));
        }
        if !points.insert(mp.to_string()) {
            errs.push(invalid(&child(&idx, "mountPath"), bs(mp), "must be unique"));
        }
        let sub = str_at(m, "/subPath");
        if !sub.is_empty() {
            validate_local_descending_path(sub, &child(path, "subPath"), errs);
        }
        let expr = str_at(m, "/subPathExpr");
        if !expr.is_empty() {
            if !sub.is_empty() {
                errs.push(invalid(
                    &child(&idx, "subPathExpr"),
                    bs(expr),
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            validate_local_descending_path(expr, &child(path, "subPathExpr"), errs);
        }
    }
}

fn validate_local_descending_path(p: &str, path: &str, errs: &mut Vec<Cause>) {
    if p.starts_with('/') {
        errs.push(invalid(path, bs(p), "must be a relative path"));
    }
    if p.split('/').any(|seg| seg == "..") {
        errs.push(invalid(path, bs(p), "must not contain '..'"));
    }
}

fn validate_probe(probe: Option<&Value>, path: &str, errs: &mut Vec<Cause>) {
    let Some(probe) = probe else { return };
    let success_must_be_one = path.ends_with("livenessProbe") || path.ends_with("startupProbe");
    let mut n = 0;
    for h in ["exec", "httpGet", "tcpSocket", "grpc"] {
        if at(probe, &format!("/{h}")).is_some() {
            if n > 0 {
                errs.push(forbidden(
                    &child(path, h),
                    "may not specify more than 1 handler type",
                ));
            } else {
                n += 1;
            }
        }
    }
    if n == 0 {
        errs.push(required(path, "must specify a handler type"));
    }
    for f in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        if let Some(v) = int_at(probe, &format!("/{f}"))
            && v < 0
        {
            errs.push(invalid(
                &child(path, f),
                Bad::Int(v),
                "must be greater than or equal to 0",
            ));
        }
    }
    if success_must_be_one
        && let Some(v) = int_at(probe, "/successThreshold")
        && v != 1
    {
        errs.push(invalid(
            &child(path, "successThreshold"),
            Bad::Int(v),
            "must be 1",
        ));
    }
}

fn validate_pull_policy(c: &Value, path: &str, errs: &mut Vec<Cause>) {
    let p = str_at(c, "/imagePullPolicy");
    if !p.is_empty() && !["Always", "IfNotPresent", "Never"].contains(&p) {
        errs.push(not_supported(
            path,
            bs(p),
            &["Always", "IfNotPresent", "Never"],
        ));
    }
}

/// `validateContainerCommon`.
fn validate_container_common(
    c: &Value,
    volumes: &HashSet<String>,
    path: &str,
    errs: &mut Vec<Cause>,
) {
    let name = str_at(c, "/name");
    let name_path = child(path, "name");
    if name.is_empty() {
        errs.push(required(&name_path, ""));
    } else {
        for m in is_dns1123_label(name) {
            errs.push(invalid(&name_path, bs(name), &m));
        }
    }
    if str_at(c, "/image").is_empty() {
        errs.push(required(&child(path, "image"), ""));
    }
    let tmp = str_at(c, "/terminationMessagePolicy");
    if !tmp.is_empty() && tmp != "File" && tmp != "FallbackToLogsOnError" {
        errs.push(not_supported(
            &child(path, "terminationMessagePolicy"),
            bs(tmp),
            &["File", "FallbackToLogsOnError"],
        ));
    }
    validate_ports(arr_at(c, "/ports"), &child(path, "ports"), errs);
    validate_env(arr_at(c, "/env"), &child(path, "env"), errs);
    validate_env_from(arr_at(c, "/envFrom"), &child(path, "envFrom"), errs);
    validate_volume_mounts(
        arr_at(c, "/volumeMounts"),
        volumes,
        &child(path, "volumeMounts"),
        errs,
    );
    validate_pull_policy(c, &child(path, "imagePullPolicy"), errs);
    if let Some(res) = at(c, "/resources") {
        validate_resources(res, &child(path, "resources"), errs);
    }
}

/// `checkHostPortConflicts` over a set of containers.
fn check_host_ports(containers: &[Value], path: &str, errs: &mut Vec<Cause>) {
    let mut seen = HashSet::new();
    for (ci, c) in containers.iter().enumerate() {
        for (pi, p) in arr_at(c, "/ports").iter().enumerate() {
            let hp = int_at(p, "/hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let proto = match str_at(p, "/protocol") {
                "" => "TCP",
                other => other,
            };
            let id = format!("{}/{}/{}", str_at(p, "/hostIP"), proto, hp);
            if !seen.insert(id.clone()) {
                let hp_path = child(&index(&child(&index(path, ci), "ports"), pi), "hostPort");
                errs.push(duplicate(&hp_path, Bad::Str(id)));
            }
        }
    }
}

/// `ValidatePodSpec` at `path`; `is_pod` adds the Pod-only checks.
fn validate_pod_spec(spec: &Value, path: &str, is_pod: bool, errs: &mut Vec<Cause>) {
    let volumes = validate_volumes(arr_at(spec, "/volumes"), &child(path, "volumes"), errs);

    let containers = arr_at(spec, "/containers");
    let cpath = child(path, "containers");
    if containers.is_empty() {
        errs.push(required(&cpath, ""));
    } else {
        let mut names = HashSet::new();
        for (i, c) in containers.iter().enumerate() {
            let idx = index(&cpath, i);
            validate_container_common(c, &volumes, &idx, errs);
            let name = str_at(c, "/name");
            if !names.insert(name.to_string()) {
                errs.push(duplicate(&child(&idx, "name"), bs(name)));
            }
            validate_probe(at(c, "/livenessProbe"), &child(&idx, "livenessProbe"), errs);
            validate_probe(
                at(c, "/readinessProbe"),
                &child(&idx, "readinessProbe"),
                errs,
            );
            validate_probe(at(c, "/startupProbe"), &child(&idx, "startupProbe"), errs);
            if at(c, "/restartPolicy").is_some() {
                errs.push(forbidden(
                    &child(&idx, "restartPolicy"),
                    "may not be set for non-init containers",
                ));
            }
        }
        check_host_ports(containers, &cpath, errs);
    }

    let ipath = child(path, "initContainers");
    let mut all: HashSet<String> = containers
        .iter()
        .map(|c| str_at(c, "/name").to_string())
        .collect();
    for (i, c) in arr_at(spec, "/initContainers").iter().enumerate() {
        let idx = index(&ipath, i);
        validate_container_common(c, &volumes, &idx, errs);
        let restart = str_at(c, "/restartPolicy");
        if at(c, "/restartPolicy").is_some() && restart != "Always" {
            errs.push(not_supported(
                &child(&idx, "restartPolicy"),
                bs(restart),
                &["Always"],
            ));
        }
        let name = str_at(c, "/name");
        if all.contains(name) {
            errs.push(duplicate(&child(&idx, "name"), bs(name)));
        } else if !name.is_empty() {
            all.insert(name.to_string());
        }
        check_host_ports(std::slice::from_ref(c), &ipath, errs);
        if restart == "Always" {
            validate_probe(at(c, "/livenessProbe"), &child(&idx, "livenessProbe"), errs);
            validate_probe(
                at(c, "/readinessProbe"),
                &child(&idx, "readinessProbe"),
                errs,
            );
            validate_probe(at(c, "/startupProbe"), &child(&idx, "startupProbe"), errs);
        } else {
            for f in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if at(c, &format!("/{f}")).is_some() {
                    errs.push(forbidden(
                        &child(&idx, f),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }

    let restart = str_at(spec, "/restartPolicy");
    if !restart.is_empty() && !["Always", "OnFailure", "Never"].contains(&restart) {
        errs.push(not_supported(
            &child(path, "restartPolicy"),
            bs(restart),
            &["Always", "OnFailure", "Never"],
        ));
    }
    let dns = str_at(spec, "/dnsPolicy");
    if !dns.is_empty()
        && !["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"].contains(&dns)
    {
        errs.push(not_supported(
            &child(path, "dnsPolicy"),
            bs(dns),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        ));
    }
    validate_labels(
        &string_map_at(spec, "/nodeSelector"),
        &child(path, "nodeSelector"),
        errs,
    );
    if dns == "None" {
        match at(spec, "/dnsConfig") {
            None => errs.push(required(
                &child(path, "dnsConfig"),
                "must provide `dnsConfig` when `dnsPolicy` is None",
            )),
            Some(cfg) if arr_at(cfg, "/nameservers").is_empty() => errs.push(required(
                &child(&child(path, "dnsConfig"), "nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            )),
            _ => {}
        }
    }
    for field_name in ["serviceAccountName", "nodeName", "priorityClassName"] {
        let v = str_at(spec, &format!("/{field_name}"));
        if !v.is_empty() {
            for m in is_dns1123_subdomain(v) {
                errs.push(invalid(&child(path, field_name), bs(v), &m));
            }
        }
    }
    if let Some(ads) = int_at(spec, "/activeDeadlineSeconds")
        && !(1..=i32::MAX as i64).contains(&ads)
    {
        errs.push(invalid(
            &child(path, "activeDeadlineSeconds"),
            Bad::Int(ads),
            &inclusive_range_error(1, i32::MAX as i64),
        ));
    }
    for field_name in ["hostname", "subdomain"] {
        let v = str_at(spec, &format!("/{field_name}"));
        if !v.is_empty() {
            for m in is_dns1123_label(v) {
                errs.push(invalid(&child(path, field_name), bs(v), &m));
            }
        }
    }
    validate_tolerations(
        arr_at(spec, "/tolerations"),
        &child(path, "tolerations"),
        errs,
    );

    if is_pod {
        // validateContainersOnlyForPod
        for (list, p) in [
            (containers, cpath.as_str()),
            (arr_at(spec, "/initContainers"), ipath.as_str()),
        ] {
            for (i, c) in list.iter().enumerate() {
                let image = str_at(c, "/image");
                if image.trim() != image {
                    errs.push(invalid(
                        &child(&index(p, i), "image"),
                        bs(image),
                        "must not have leading or trailing whitespace",
                    ));
                }
            }
        }
    }
}

fn validate_taint_effect(effect: &str, allow_empty: bool, path: &str, errs: &mut Vec<Cause>) {
    if effect.is_empty() {
        if !allow_empty {
            errs.push(required(path, ""));
        }
        return;
    }
    if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
        errs.push(not_supported(
            path,
            bs(effect),
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
        ));
    }
}

fn validate_tolerations(tolerations: &[Value], path: &str, errs: &mut Vec<Cause>) {
    for (i, t) in tolerations.iter().enumerate() {
        let idx = index(path, i);
        let k = str_at(t, "/key");
        let op = str_at(t, "/operator");
        let effect = str_at(t, "/effect");
        if !k.is_empty() {
            for m in is_qualified_name(k) {
                errs.push(invalid(&child(&idx, "key"), bs(k), &m));
            }
        }
        if k.is_empty() && op != "Exists" {
            errs.push(invalid(
                &child(&idx, "operator"),
                bs(op),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if at(t, "/tolerationSeconds").is_some() && effect != "NoExecute" {
            errs.push(invalid(
                &child(&idx, "effect"),
                bs(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        let value = str_at(t, "/value");
        match op {
            "Equal" | "" => {
                let msgs = is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(invalid(
                        &child(&idx, "operator"),
                        bs(value),
                        &msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(invalid(
                        &child(&idx, "operator"),
                        bs(value),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(not_supported(
                &child(&idx, "operator"),
                bs(other),
                &["Equal", "Exists"],
            )),
        }
        validate_taint_effect(effect, true, &child(&idx, "effect"), errs);
    }
}

/// `ValidatePodTemplateSpec` at `path` (e.g. `spec.template`).
fn validate_pod_template(template: Option<&Value>, path: &str, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let t = template.unwrap_or(&empty);
    let meta = at(t, "/metadata").unwrap_or(&empty);
    let mp = child(path, "metadata");
    validate_labels(&string_map_at(meta, "/labels"), &child(&mp, "labels"), errs);
    validate_annotations(
        &string_map_at(meta, "/annotations"),
        &child(&mp, "annotations"),
        errs,
    );
    validate_pod_spec(
        at(t, "/spec").unwrap_or(&empty),
        &child(path, "spec"),
        false,
        errs,
    );
}

// ---------------------------------------------------------------------------
// Label selectors

fn validate_label_selector(sel: &Value, path: &str, errs: &mut Vec<Cause>) {
    let ep = child(path, "matchExpressions");
    for (i, e) in arr_at(sel, "/matchExpressions").iter().enumerate() {
        let idx = index(&ep, i);
        let op = str_at(e, "/operator");
        let values = arr_at(e, "/values");
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(required(
                        &child(&idx, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(forbidden(
                        &child(&idx, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(invalid(
                &child(&idx, "operator"),
                bs(other),
                "not a valid selector operator",
            )),
        }
        let k = str_at(e, "/key");
        for m in is_qualified_name(k) {
            errs.push(invalid(&child(&idx, "key"), bs(k), &m));
        }
        for (vi, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            for m in is_valid_label_value(v) {
                errs.push(invalid(&index(&child(&idx, "values"), vi), bs(v), &m));
            }
        }
    }
    validate_labels(
        &string_map_at(sel, "/matchLabels"),
        &child(path, "matchLabels"),
        errs,
    );
}

/// protobuf `(*LabelSelector).String()`, which the error body uses.
fn label_selector_string(sel: &Value) -> String {
    let mut labels = string_map_at(sel, "/matchLabels");
    labels.sort();
    let ml: String = labels.iter().map(|(k, v)| format!("{k}: {v},")).collect();
    let exprs: String = arr_at(sel, "/matchExpressions")
        .iter()
        .map(|e| {
            let vals: Vec<&str> = arr_at(e, "/values")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                str_at(e, "/key"),
                str_at(e, "/operator"),
                vals.join(" ")
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{ml}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )
}

/// Selector and template checks of ReplicaSet-like controllers.
fn validate_controller_spec(
    obj: &Value,
    kind_word: &str,
    template_path_spec: &str,
    errs: &mut Vec<Cause>,
) {
    let empty = Value::Object(Default::default());
    let spec = at(obj, "/spec").unwrap_or(&empty);
    if let Some(r) = int_at(spec, "/replicas")
        && r < 0
    {
        errs.push(invalid(
            "spec.replicas",
            Bad::Int(r),
            "must be greater than or equal to 0",
        ));
    }
    let template = at(spec, "/template");
    let selector = at(spec, "/selector");
    if selector.is_none() && kind_word != "daemonset" {
        errs.push(required("spec.selector", ""));
    }
    // metav1.LabelSelectorAsSelector; a selector that does not parse is not empty.
    let parsed = selector.map(LabelSelector::from_object_checked);
    if let Some(sel) = selector {
        validate_label_selector(sel, "spec.selector", errs);
        if parsed
            .as_ref()
            .is_some_and(|p| p.as_ref().is_ok_and(LabelSelector::is_empty))
        {
            errs.push(invalid(
                "spec.selector",
                Bad::Raw(label_selector_string(sel)),
                &format!("empty selector is invalid for {kind_word}"),
            ));
        }
    }
    match (selector, &parsed) {
        (Some(sel), Some(Err(_))) => {
            // The template is not checked against a selector that does not parse.
            match kind_word {
                "daemonset" => {}
                "statefulset" => {
                    errs.push(invalid(
                        "spec.selector",
                        Bad::Raw(label_selector_string(sel)),
                        "",
                    ));
                    return;
                }
                _ => {
                    errs.push(invalid(
                        "spec.selector",
                        Bad::Raw(label_selector_string(sel)),
                        "invalid label selector",
                    ));
                    return;
                }
            }
        }
        (_, Some(Ok(s)))
            if s.is_empty() || s.matches(&template.map(labels_of).unwrap_or_default()) => {}
        _ => {
            // A nil selector selects nothing, so it never matches the template.
            let raw = go_map(at(spec, "/template/metadata/labels"));
            errs.push(invalid(
                "spec.template.metadata.labels",
                Bad::Raw(raw),
                "`selector` does not match template `labels`",
            ));
        }
    }
    validate_pod_template(template, "spec.template", errs);
    if let Some(t) = template {
        let tspec = at(t, "/spec").unwrap_or(&empty);
        let rp = str_at(tspec, "/restartPolicy");
        if !rp.is_empty() && rp != "Always" {
            errs.push(not_supported(
                "spec.template.spec.restartPolicy",
                bs(rp),
                &["Always"],
            ));
        }
        if at(tspec, "/activeDeadlineSeconds").is_some() {
            errs.push(forbidden(
                "spec.template.spec.activeDeadlineSeconds",
                &format!("activeDeadlineSeconds in {template_path_spec} is not Supported"),
            ));
        }
    }
}

/// The Job template rules at `path` (`spec` or `spec.jobTemplate.spec`).
fn validate_job_spec(spec: Option<&Value>, path: &str, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let spec = spec.unwrap_or(&empty);
    for f in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
    ] {
        if let Some(v) = int_at(spec, &format!("/{f}"))
            && v < 0
        {
            errs.push(invalid(
                &child(path, f),
                Bad::Int(v),
                "must be greater than or equal to 0",
            ));
        }
    }
    let tpath = child(path, "template");
    validate_pod_template(at(spec, "/template"), &tpath, errs);
    let tspec = at(spec, "/template")
        .and_then(|t| at(t, "/spec"))
        .unwrap_or(&empty);
    let rp = str_at(tspec, "/restartPolicy");
    let rp_path = child(&child(&tpath, "spec"), "restartPolicy");
    if rp.is_empty() || rp == "Always" {
        errs.push(required(&rp_path, "valid values: \"OnFailure\", \"Never\""));
    } else if rp != "OnFailure" && rp != "Never" {
        errs.push(not_supported(&rp_path, bs(rp), &["OnFailure", "Never"]));
    }
}

// ---------------------------------------------------------------------------
// Service

fn validate_service(svc: &Value, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let spec = at(svc, "/spec").unwrap_or(&empty);
    let ty = match str_at(spec, "/type") {
        "" => "ClusterIP",
        t => t,
    };
    let headless = str_at(spec, "/clusterIP") == "None";
    let ports = arr_at(spec, "/ports");
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(required("spec.ports", ""));
    }
    if ty == "ExternalName" {
        let cname = str_at(spec, "/externalName").trim_end_matches('.');
        if cname.is_empty() {
            errs.push(required("spec.externalName", ""));
        } else {
            for m in is_dns1123_subdomain(cname) {
                errs.push(invalid("spec.externalName", bs(cname), &m));
            }
        }
    }
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let idx = index("spec.ports", i);
        let name = str_at(p, "/name");
        if ports.len() > 1 && name.is_empty() {
            errs.push(required(&child(&idx, "name"), ""));
        } else if !name.is_empty() {
            for m in is_dns1123_label(name) {
                errs.push(invalid(&child(&idx, "name"), bs(name), &m));
            }
            if !names.insert(name.to_string()) {
                errs.push(duplicate(&child(&idx, "name"), bs(name)));
            }
        }
        let port = int_at(p, "/port").unwrap_or(0);
        for m in is_valid_port_num(port) {
            errs.push(invalid(&child(&idx, "port"), Bad::Int(port), &m));
        }
        validate_protocol(p, &child(&idx, "protocol"), errs);
        match at(p, "/targetPort") {
            Some(Value::Number(n)) => {
                let n = n.as_i64().unwrap_or(0);
                for m in is_valid_port_num(n) {
                    errs.push(invalid(&child(&idx, "targetPort"), Bad::Int(n), &m));
                }
            }
            Some(Value::String(s)) => {
                for m in is_valid_port_name(s) {
                    errs.push(invalid(&child(&idx, "targetPort"), bs(s), &m));
                }
            }
            _ => {}
        }
    }
    validate_labels(&string_map_at(spec, "/selector"), "spec.selector", errs);
    if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&ty) {
        errs.push(not_supported(
            "spec.type",
            bs(ty),
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }
}

// ---------------------------------------------------------------------------
// ConfigMap / Secret / Node

const MAX_SECRET_SIZE: usize = 1024 * 1024;

fn validate_config_map(cm: &Value, errs: &mut Vec<Cause>) {
    let mut total = 0usize;
    let binary = string_map_at(cm, "/binaryData");
    for (k, v) in string_map_at(cm, "/data") {
        for m in is_config_map_key(&k) {
            errs.push(invalid(&key("data", &k), bs(&k), &m));
        }
        if binary.iter().any(|(bk, _)| *bk == k) {
            errs.push(invalid(
                &key("data", &k),
                bs(&k),
                "duplicate of key present in binaryData",
            ));
        }
        total += v.len();
    }
    for (k, v) in &binary {
        for m in is_config_map_key(k) {
            errs.push(invalid(&key("binaryData", k), bs(k), &m));
        }
        total += crate::secret::decoded_len(v);
    }
    if total > MAX_SECRET_SIZE {
        errs.push(too_long("", MAX_SECRET_SIZE));
    }
}

fn validate_secret(secret: &Value, errs: &mut Vec<Cause>) {
    let data = crate::secret::sizes(secret);
    let mut total = 0usize;
    for (k, len) in &data {
        for m in is_config_map_key(k) {
            errs.push(invalid(&key("data", k), bs(k), &m));
        }
        total += len;
    }
    if total > MAX_SECRET_SIZE {
        errs.push(too_long("data", MAX_SECRET_SIZE));
    }
    let has = |k: &str| data.iter().any(|(dk, _)| dk == k);
    let non_empty = |k: &str| data.iter().any(|(dk, l)| dk == k && *l > 0);
    match str_at(secret, "/type") {
        "kubernetes.io/service-account-token" => {
            let anns = at(secret, "/metadata")
                .map(|m| string_map_at(m, "/annotations"))
                .unwrap_or_default();
            if !anns
                .iter()
                .any(|(k, v)| k == "kubernetes.io/service-account.name" && !v.is_empty())
            {
                errs.push(required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" if !has(".dockercfg") => {
            errs.push(required("data[.dockercfg]", ""))
        }
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
            errs.push(required("data[.dockerconfigjson]", ""))
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(required("data[username]", ""));
            errs.push(required("data[password]", ""));
        }
        "kubernetes.io/ssh-auth" if !non_empty("ssh-privatekey") => {
            errs.push(required("data[ssh-privatekey]", ""))
        }
        "kubernetes.io/tls" => {
            if !has("tls.crt") {
                errs.push(required("data[tls.crt]", ""));
            }
            if !has("tls.key") {
                errs.push(required("data[tls.key]", ""));
            }
        }
        _ => {}
    }
}

fn validate_node_taints(taints: &[Value], path: &str, errs: &mut Vec<Cause>) {
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for (i, t) in taints.iter().enumerate() {
        let idx = index(path, i);
        let k = str_at(t, "/key");
        for m in is_qualified_name(k) {
            errs.push(invalid(&child(&idx, "key"), bs(k), &m));
        }
        let v = str_at(t, "/value");
        let msgs = is_valid_label_value(v);
        if !msgs.is_empty() {
            errs.push(invalid(&child(&idx, "value"), bs(v), &msgs.join(";")));
        }
        let effect = str_at(t, "/effect");
        validate_taint_effect(effect, false, &child(&idx, "effect"), errs);
        if !seen.insert((effect.to_string(), k.to_string())) {
            let time = match str_at(t, "/timeAdded") {
                "" => "<nil>".to_string(),
                ts => ts.to_string(),
            };
            let raw = format!(
                "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:{}}}",
                go_quote(k),
                go_quote(v),
                go_quote(effect),
                time
            );
            let mut c = duplicate(&idx, Bad::Raw(raw));
            c.message
                .push_str(": taints must be unique by key and effect pair");
            errs.push(c);
        }
    }
}

// ---------------------------------------------------------------------------
// Dispatch

/// (name rule, namespaced, core-group) for the kinds with upstream validation.
fn kind_rules(kind: &str) -> Option<(NameRule, bool, bool)> {
    Some(match kind {
        "Pod"
        | "ConfigMap"
        | "Secret"
        | "ServiceAccount"
        | "Endpoints"
        | "Event"
        | "PersistentVolumeClaim"
        | "ReplicationController"
        | "PodTemplate"
        | "LimitRange"
        | "ResourceQuota" => (NameRule::Subdomain, true, true),
        "Service" => (NameRule::Dns1035, true, true),
        "Namespace" => (NameRule::Label, false, true),
        "Node" | "PersistentVolume" => (NameRule::Subdomain, false, true),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "CronJob"
        | "Ingress"
        | "NetworkPolicy"
        | "EndpointSlice"
        | "Role"
        | "RoleBinding"
        | "Lease"
        | "ControllerRevision"
        | "HorizontalPodAutoscaler"
        | "PodDisruptionBudget" => (NameRule::Subdomain, true, true),
        "IngressClass"
        | "ClusterRole"
        | "ClusterRoleBinding"
        | "PriorityClass"
        | "StorageClass"
        | "CustomResourceDefinition" => (NameRule::Subdomain, false, true),
        _ => return None,
    })
}

/// Create-time validation of `obj` of `kind`. Unknown kinds get the generic
/// metadata checks (name required, path-segment name, labels, annotations).
pub fn validate(kind: &str, obj: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    let (rule, namespaced, kube) =
        kind_rules(kind).unwrap_or((NameRule::PathSegment, false, false));
    validate_meta(obj, rule, namespaced, kube, &mut errs);
    validate_body(kind, obj, &mut errs);
    if kind == "Pod"
        && let Some(spec) = at(obj, "/spec")
        && !arr_at(spec, "/ephemeralContainers").is_empty()
    {
        // ValidatePodCreate: ephemeral containers come through their subresource only.
        errs.push(forbidden(
            "spec.ephemeralContainers",
            "cannot be set on create",
        ));
    }
    errs
}

/// Everything but the metadata checks.
fn validate_body(kind: &str, obj: &Value, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    match kind {
        "Pod" => validate_pod_spec(at(obj, "/spec").unwrap_or(&empty), "spec", true, errs),
        "Namespace" => {
            let spec = at(obj, "/spec").unwrap_or(&empty);
            for f in arr_at(spec, "/finalizers") {
                validate_finalizer(f.as_str().unwrap_or(""), "spec.finalizers", errs);
            }
        }
        "ConfigMap" => validate_config_map(obj, errs),
        "Secret" => validate_secret(obj, errs),
        "Node" => {
            let spec = at(obj, "/spec").unwrap_or(&empty);
            validate_node_taints(arr_at(spec, "/taints"), "metadata.taints", errs);
        }
        "Service" => validate_service(obj, errs),
        "Deployment" | "ReplicaSet" => {
            validate_controller_spec(obj, "deployment", "ReplicaSet", errs)
        }
        "StatefulSet" => validate_controller_spec(obj, "statefulset", "StatefulSet", errs),
        "DaemonSet" => validate_controller_spec(obj, "daemonset", "DaemonSet", errs),
        "Job" => validate_job_spec(at(obj, "/spec"), "spec", errs),
        "CronJob" => {
            let spec = at(obj, "/spec").unwrap_or(&empty);
            if str_at(spec, "/schedule").is_empty() {
                errs.push(required("spec.schedule", ""));
            }
            let jt = at(spec, "/jobTemplate").and_then(|t| at(t, "/spec"));
            validate_job_spec(jt, "spec.jobTemplate.spec", errs);
        }
        _ => {}
    }
}

/// Strip what semantic equality ignores: nulls, empty lists and empty maps.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let n = normalize(v);
                let drop = match &n {
                    Value::Null => true,
                    Value::Array(a) => a.is_empty(),
                    Value::Object(o) => o.is_empty(),
                    _ => false,
                };
                if !drop {
                    out.insert(k.clone(), n);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

const FIELD_IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

const UPDATABLE_POD_SPEC_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

fn validate_pod_update(old: &Value, new: &Value, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let os = at(old, "/spec").unwrap_or(&empty);
    let ns = at(new, "/spec").unwrap_or(&empty);
    for list in ["containers", "initContainers"] {
        let (oc, nc) = (
            arr_at(os, &format!("/{list}")),
            arr_at(ns, &format!("/{list}")),
        );
        let p = child("spec", list);
        if oc.len() != nc.len() {
            errs.push(forbidden(
                &p,
                "pod updates may not add or remove containers",
            ));
            return;
        }
        for (i, c) in nc.iter().enumerate() {
            let image = str_at(c, "/image");
            if image.is_empty() {
                errs.push(required(&child(&index(&p, i), "image"), ""));
            }
            if image.trim() != image {
                errs.push(invalid(
                    &child(&index(&p, i), "image"),
                    bs(image),
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    let ads_path = "spec.activeDeadlineSeconds";
    match (
        int_at(os, "/activeDeadlineSeconds"),
        int_at(ns, "/activeDeadlineSeconds"),
    ) {
        (_, Some(n)) if !(0..=i32::MAX as i64).contains(&n) => {
            errs.push(invalid(
                ads_path,
                Bad::Int(n),
                &inclusive_range_error(0, i32::MAX as i64),
            ));
            return;
        }
        (Some(o), Some(n)) if o < n => {
            errs.push(invalid(
                ads_path,
                Bad::Int(n),
                "must be less than or equal to previous value",
            ));
            return;
        }
        (Some(_), None) => errs.push(invalid(
            ads_path,
            Bad::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    // Only additions to tolerations (tolerationSeconds may change).
    let strip = |t: &Value| {
        let mut t = normalize(t);
        if let Some(m) = t.as_object_mut() {
            m.remove("tolerationSeconds");
        }
        t
    };
    let new_tols: Vec<Value> = arr_at(ns, "/tolerations").iter().map(strip).collect();
    if arr_at(os, "/tolerations")
        .iter()
        .any(|o| !new_tols.contains(&strip(o)))
    {
        errs.push(forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    } else {
        validate_tolerations(arr_at(ns, "/tolerations"), "spec.tolerations", errs);
    }
    // Only deletions of scheduling gates.
    let old_gates: HashSet<&str> = arr_at(os, "/schedulingGates")
        .iter()
        .map(|g| str_at(g, "/name"))
        .collect();
    for (i, g) in arr_at(ns, "/schedulingGates").iter().enumerate() {
        let name = str_at(g, "/name");
        if !old_gates.contains(name) {
            errs.push(forbidden(
                &child(&index("spec.schedulingGates", i), "name"),
                &format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            ));
        }
    }
    let mut munged = ns.clone();
    if let Some(m) = munged.as_object_mut() {
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = m.get_mut(list) {
                for (i, c) in cs.iter_mut().enumerate() {
                    let old_image = arr_at(os, &format!("/{list}"))
                        .get(i)
                        .and_then(|o| at(o, "/image"))
                        .cloned();
                    if let Some(cm) = c.as_object_mut() {
                        match old_image {
                            Some(img) => cm.insert("image".into(), img),
                            None => cm.remove("image"),
                        };
                    }
                }
            }
        }
        for f in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
            match at(os, &format!("/{f}")) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
        let ogp = int_at(os, "/terminationGracePeriodSeconds");
        if ogp.is_some_and(|g| g < 0) && int_at(ns, "/terminationGracePeriodSeconds") == Some(1) {
            m.insert(
                "terminationGracePeriodSeconds".into(),
                at(os, "/terminationGracePeriodSeconds")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
        if !arr_at(os, "/schedulingGates").is_empty() {
            // Gated pods may add to nodeSelector.
            let on = string_map_at(os, "/nodeSelector");
            let nn = string_map_at(ns, "/nodeSelector");
            if on.iter().all(|kv| nn.contains(kv)) {
                match at(os, "/nodeSelector") {
                    Some(v) => m.insert("nodeSelector".into(), v.clone()),
                    None => m.remove("nodeSelector"),
                };
            }
        }
    }
    if normalize(&munged) != normalize(os) {
        errs.push(forbidden(
            "spec",
            &format!("pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}"),
        ));
    }
}

/// Immutable selectors of the apps controllers.
fn validate_selector_update(old: &Value, new: &Value, errs: &mut Vec<Cause>) {
    let sel = |v: &Value| at(v, "/spec").and_then(|s| at(s, "/selector")).cloned();
    let (o, n) = (sel(old), sel(new));
    if o.as_ref().map(normalize) != n.as_ref().map(normalize) {
        let bad = match &n {
            Some(n) => Bad::Raw(label_selector_string(n)),
            None => Bad::Null,
        };
        errs.push(invalid("spec.selector", bad, "field is immutable"));
    }
}

/// Update-time validation: the create rules on `new` plus the upstream
/// immutability rules against `old`. `new` should carry the defaults `old`
/// has (as the API server defaults a request before validating it).
/// An update through `pods/NAME/ephemeralcontainers` (what `kubectl debug` sends):
/// only `spec.ephemeralContainers` may change, and only by additions.
pub fn validate_ephemeral_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    let empty = Value::Object(Default::default());
    let os = at(old, "/spec").unwrap_or(&empty);
    let ns = at(new, "/spec").unwrap_or(&empty);
    let path = "spec.ephemeralContainers";
    let (oe, ne) = (
        arr_at(os, "/ephemeralContainers"),
        arr_at(ns, "/ephemeralContainers"),
    );
    for o in oe {
        let name = str_at(o, "/name");
        match ne.iter().position(|n| str_at(n, "/name") == name) {
            None => errs.push(forbidden(
                path,
                &format!(
                    "existing ephemeral containers {} may not be removed",
                    go_quote(name)
                ),
            )),
            Some(i) if normalize(&ne[i]) != normalize(o) => errs.push(forbidden(
                &index(path, i),
                &format!(
                    "existing ephemeral containers {} may not be changed",
                    go_quote(name)
                ),
            )),
            _ => {}
        }
    }
    let mut names: HashSet<String> = ["containers", "initContainers"]
        .iter()
        .flat_map(|l| arr_at(os, &format!("/{l}")))
        .map(|c| str_at(c, "/name").to_string())
        .collect();
    let regular: HashSet<String> = arr_at(os, "/containers")
        .iter()
        .chain(arr_at(os, "/initContainers"))
        .map(|c| str_at(c, "/name").to_string())
        .collect();
    for (i, c) in ne.iter().enumerate() {
        let p = index(path, i);
        let name = str_at(c, "/name");
        if name.is_empty() {
            errs.push(required(&child(&p, "name"), ""));
        } else {
            for m in is_dns1123_label(name) {
                errs.push(invalid(&child(&p, "name"), bs(name), &m));
            }
            if !names.insert(name.to_string()) {
                errs.push(duplicate(&child(&p, "name"), bs(name)));
            }
        }
        if str_at(c, "/image").is_empty() {
            errs.push(required(&child(&p, "image"), ""));
        }
        let target = str_at(c, "/targetContainerName");
        if !target.is_empty() && !regular.contains(target) {
            errs.push(not_found(&child(&p, "targetContainerName"), bs(target)));
        }
        for f in [
            "ports",
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
            "lifecycle",
            "resources",
        ] {
            let set = match at(c, &format!("/{f}")) {
                None | Some(Value::Null) => false,
                Some(Value::Array(a)) => !a.is_empty(),
                Some(Value::Object(o)) => !o.is_empty(),
                Some(_) => true,
            };
            if set {
                errs.push(forbidden(
                    &child(&p, f),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
    }
    let mut rest_old = os.clone();
    let mut rest_new = ns.clone();
    for v in [&mut rest_old, &mut rest_new] {
        if let Some(m) = v.as_object_mut() {
            m.remove("ephemeralContainers");
        }
    }
    if normalize(&rest_old) != normalize(&rest_new) {
        errs.push(forbidden(
            "spec",
            "pod updates may only change ephemeralContainers through this subresource",
        ));
    }
    errs
}

pub fn validate_update(kind: &str, old: &Value, new: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    let (rule, namespaced, kube) =
        kind_rules(kind).unwrap_or((NameRule::PathSegment, false, false));
    validate_meta_update(old, new, kube, &mut errs);
    match kind {
        "Pod" => {
            validate_meta(new, rule, namespaced, kube, &mut errs);
            validate_body(kind, new, &mut errs);
            validate_pod_update(old, new, &mut errs);
        }
        "ConfigMap" => {
            if at(old, "/immutable").and_then(Value::as_bool) == Some(true) {
                if at(new, "/immutable").and_then(Value::as_bool) != Some(true) {
                    errs.push(forbidden("immutable", FIELD_IMMUTABLE_WHEN_SET));
                }
                for f in ["data", "binaryData"] {
                    if normalize(&at(old, &format!("/{f}")).cloned().unwrap_or(Value::Null))
                        != normalize(&at(new, &format!("/{f}")).cloned().unwrap_or(Value::Null))
                    {
                        errs.push(forbidden(f, FIELD_IMMUTABLE_WHEN_SET));
                    }
                }
            }
            validate_meta(new, rule, namespaced, kube, &mut errs);
            validate_body(kind, new, &mut errs);
        }
        "Secret" => {
            let ty = |v: &Value| match str_at(v, "/type") {
                "" => "Opaque".to_string(),
                t => t.to_string(),
            };
            if ty(old) != ty(new) {
                errs.push(invalid("type", Bad::Str(ty(new)), "field is immutable"));
            }
            if at(old, "/immutable").and_then(Value::as_bool) == Some(true) {
                if at(new, "/immutable").and_then(Value::as_bool) != Some(true) {
                    errs.push(forbidden("immutable", FIELD_IMMUTABLE_WHEN_SET));
                }
                let od: BTreeMap<String, String> =
                    string_map_at(old, "/data").into_iter().collect();
                if od != crate::secret::stored_data(new) {
                    errs.push(forbidden("data", FIELD_IMMUTABLE_WHEN_SET));
                }
            }
            validate_meta(new, rule, namespaced, kube, &mut errs);
            validate_body(kind, new, &mut errs);
        }
        "Node" => {
            let empty = Value::Object(Default::default());
            let os = at(old, "/spec").unwrap_or(&empty);
            let ns = at(new, "/spec").unwrap_or(&empty);
            let (oc, nc) = (arr_at(os, "/podCIDRs"), arr_at(ns, "/podCIDRs"));
            let cidr_msg = "node updates may not change podCIDR except from \"\" to valid";
            if !oc.is_empty() {
                if oc.len() != nc.len() {
                    errs.push(forbidden("spec.podCIDRs", cidr_msg));
                } else {
                    for (o, n) in oc.iter().zip(nc) {
                        if o != n {
                            errs.push(forbidden("spec.podCIDRs", cidr_msg));
                        }
                    }
                }
            }
            let op = str_at(os, "/providerID");
            if !op.is_empty() && op != str_at(ns, "/providerID") {
                errs.push(forbidden(
                    "spec.providerID",
                    "node updates may not change providerID except from \"\" to valid",
                ));
            }
            validate_node_taints(arr_at(ns, "/taints"), "metadata.taints", &mut errs);
        }
        "Namespace" => {}
        "ServiceAccount" => {
            validate_meta(new, rule, namespaced, kube, &mut errs);
            validate_body(kind, new, &mut errs);
        }
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            validate_body(kind, new, &mut errs);
            validate_selector_update(old, new, &mut errs);
        }
        _ => validate_body(kind, new, &mut errs),
    }
    errs
}

// ---------------------------------------------------------------------------
// Strict field validation

fn roundtrip<T: DeserializeOwned + Serialize>(v: &Value) -> Option<Value> {
    let typed: T = serde_json::from_value(v.clone()).ok()?;
    serde_json::to_value(&typed).ok()
}

fn collect_unknown(input: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(im), Value::Object(tm)) => {
            for (k, v) in im {
                if v.is_null() {
                    continue;
                }
                match tm.get(k) {
                    None => out.push(child(path, k)),
                    Some(tv) => collect_unknown(v, tv, &child(path, k), out),
                }
            }
        }
        (Value::Array(ia), Value::Array(ta)) => {
            for (i, (iv, tv)) in ia.iter().zip(ta).enumerate() {
                collect_unknown(iv, tv, &index(path, i), out);
            }
        }
        _ => {}
    }
}

/// The fields of `obj` that the `kind`'s schema does not have, as paths like
/// `spec.containers[0].imagee` (for `fieldValidation=Strict`). Unknown kinds
/// and objects that do not decode into the typed struct give no report.
pub fn unknown_fields(kind: &str, obj: &Value) -> Vec<String> {
    use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
    use k8s_openapi::api::{discovery::v1 as discovery, networking::v1 as net, rbac::v1 as rbac};
    let typed = match kind {
        "Pod" => roundtrip::<core::Pod>(obj),
        "Namespace" => roundtrip::<core::Namespace>(obj),
        "Node" => roundtrip::<core::Node>(obj),
        "ConfigMap" => roundtrip::<core::ConfigMap>(obj),
        "Secret" => roundtrip::<core::Secret>(obj),
        "ServiceAccount" => roundtrip::<core::ServiceAccount>(obj),
        "Event" => roundtrip::<core::Event>(obj),
        "Service" => roundtrip::<core::Service>(obj),
        "Endpoints" => roundtrip::<core::Endpoints>(obj),
        "PersistentVolumeClaim" => roundtrip::<core::PersistentVolumeClaim>(obj),
        "Deployment" => roundtrip::<apps::Deployment>(obj),
        "ReplicaSet" => roundtrip::<apps::ReplicaSet>(obj),
        "StatefulSet" => roundtrip::<apps::StatefulSet>(obj),
        "DaemonSet" => roundtrip::<apps::DaemonSet>(obj),
        "Job" => roundtrip::<batch::Job>(obj),
        "CronJob" => roundtrip::<batch::CronJob>(obj),
        "Ingress" => roundtrip::<net::Ingress>(obj),
        "IngressClass" => roundtrip::<net::IngressClass>(obj),
        "NetworkPolicy" => roundtrip::<net::NetworkPolicy>(obj),
        "EndpointSlice" => roundtrip::<discovery::EndpointSlice>(obj),
        "Role" => roundtrip::<rbac::Role>(obj),
        "ClusterRole" => roundtrip::<rbac::ClusterRole>(obj),
        "RoleBinding" => roundtrip::<rbac::RoleBinding>(obj),
        "ClusterRoleBinding" => roundtrip::<rbac::ClusterRoleBinding>(obj),
        _ => None,
    };
    let mut out = Vec::new();
    if let Some(typed) = typed {
        collect_unknown(obj, &typed, "", &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `field: message` lines, as kubectl prints causes.
    fn lines(c: &[Cause]) -> Vec<String> {
        c.iter().map(Cause::error).collect()
    }

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "default"}, "spec": spec})
    }

    fn ctr(name: &str, image: &str) -> Value {
        json!({"name": name, "image": image})
    }

    fn pod_errs(spec: Value) -> Vec<String> {
        lines(&validate("Pod", &pod(spec)))
    }

    const LABEL_RE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const SUBDOMAIN_RE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

    fn label_msg() -> String {
        LABEL_RE.to_string()
    }

    #[test]
    fn dns_helpers_match_upstream() {
        assert!(is_dns1123_label("my-name").is_empty());
        assert!(is_dns1123_label("123-abc").is_empty());
        assert_eq!(
            is_dns1123_label("a.b"),
            vec!["must not contain dots".to_string()]
        );
        assert_eq!(is_dns1123_label("Bad"), vec![label_msg()]);
        assert_eq!(is_dns1123_label("-a"), vec![label_msg()]);
        assert_eq!(is_dns1123_label(""), vec![label_msg()]);
        let long = "a".repeat(64);
        assert_eq!(
            is_dns1123_label(&long),
            vec!["must be no more than 63 characters".to_string()]
        );
        assert!(is_dns1123_subdomain("example.com").is_empty());
        assert_eq!(
            is_dns1123_subdomain("Bad_Name"),
            vec![SUBDOMAIN_RE.to_string()]
        );
        assert_eq!(is_dns1123_subdomain("a..b"), vec![SUBDOMAIN_RE.to_string()]);
        assert_eq!(
            is_dns1123_subdomain(&"a".repeat(254)),
            vec!["must be no more than 253 characters".to_string()]
        );
        assert!(is_dns1035_label("abc-123").is_empty());
        assert_eq!(
            is_dns1035_label("1abc"),
            vec!["a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string()]
        );
    }

    #[test]
    fn qualified_name_and_label_value() {
        assert!(is_qualified_name("app.kubernetes.io/name").is_empty());
        assert!(is_qualified_name("MyName").is_empty());
        assert_eq!(
            is_qualified_name("/a"),
            vec!["prefix part must be non-empty".to_string()]
        );
        assert_eq!(
            is_qualified_name("Example.com/a"),
            vec![format!("prefix part {SUBDOMAIN_RE}")]
        );
        let name_re = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
        assert_eq!(
            is_qualified_name("a/"),
            vec![
                "name part must be non-empty".to_string(),
                name_re.to_string()
            ]
        );
        assert_eq!(is_qualified_name("-x"), vec![name_re.to_string()]);
        assert_eq!(
            is_qualified_name(&"x".repeat(64)),
            vec!["name part must be no more than 63 characters".to_string()]
        );
        assert_eq!(
            is_qualified_name("a/b/c"),
            vec!["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_string()]
        );
        assert!(is_valid_label_value("").is_empty());
        assert!(is_valid_label_value("v1.2_x").is_empty());
        assert_eq!(
            is_valid_label_value("bad value"),
            vec!["a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".to_string()]
        );
        assert_eq!(
            is_valid_label_value(&"v".repeat(64)),
            vec!["must be no more than 63 characters".to_string()]
        );
    }

    #[test]
    fn config_map_key_and_port_helpers() {
        assert!(is_config_map_key("key.name").is_empty());
        let key_re = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
        assert_eq!(is_config_map_key("a b"), vec![key_re.to_string()]);
        assert_eq!(
            is_config_map_key(".."),
            vec!["must not be '..'".to_string()]
        );
        assert_eq!(is_config_map_key("."), vec!["must not be '.'".to_string()]);
        assert_eq!(
            is_config_map_key("..x"),
            vec!["must not start with '..'".to_string()]
        );
        assert!(is_valid_port_name("http").is_empty());
        assert_eq!(
            is_valid_port_name("a-very-long-port-name"),
            vec!["must be no more than 15 characters".to_string()]
        );
        assert_eq!(
            is_valid_port_name("-8080--"),
            vec![
                "must contain at least one letter (a-z)".to_string(),
                "must not contain consecutive hyphens".to_string(),
                "must not begin or end with a hyphen".to_string()
            ]
        );
        assert_eq!(
            is_valid_port_name("HTTP"),
            vec![
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
                    .to_string(),
                "must contain at least one letter (a-z)".to_string()
            ]
        );
        assert!(is_valid_port_num(65535).is_empty());
        assert_eq!(
            is_valid_port_num(0),
            vec!["must be between 1 and 65535, inclusive".to_string()]
        );
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("a\"b\\c\n\t\u{1}"), "\"a\\\"b\\\\c\\n\\t\\x01\"");
        assert_eq!(go_quote("héllo"), "\"héllo\"");
    }

    #[test]
    fn metadata_name_rules() {
        let valid = json!({"containers": [ctr("a", "nginx")]});
        let mut p = pod(valid.clone());
        p["metadata"]["name"] = json!("Bad_Name");
        assert_eq!(
            lines(&validate("Pod", &p)),
            vec![format!(
                "metadata.name: Invalid value: \"Bad_Name\": {SUBDOMAIN_RE}"
            )]
        );
        p["metadata"].as_object_mut().unwrap().remove("name");
        let c = validate("Pod", &p);
        assert_eq!(c[0].reason, "FieldValueRequired");
        assert_eq!(
            lines(&c),
            vec!["metadata.name: Required value: name or generateName is required"]
        );
        p["metadata"]["generateName"] = json!("web-");
        assert!(validate("Pod", &p).is_empty());
        p["metadata"]["generateName"] = json!("Web-");
        assert_eq!(
            lines(&validate("Pod", &p)),
            vec![format!(
                "metadata.generateName: Invalid value: \"Web-\": {SUBDOMAIN_RE}"
            )]
        );
        // A dotted name is fine for a pod, not for a namespace or a service.
        let ok = json!({"metadata": {"name": "a.b"}});
        assert!(validate("ConfigMap", &ok).is_empty());
        assert_eq!(
            lines(&validate("Namespace", &ok)),
            vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
        );
        let svc = json!({"metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}});
        assert_eq!(
            lines(&validate("Service", &svc)),
            vec![
                "metadata.name: Invalid value: \"1svc\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
            ]
        );
        // Custom resources only get the path-segment rule.
        assert!(validate("Widget", &json!({"metadata": {"name": "Any_Name"}})).is_empty());
        assert_eq!(
            lines(&validate("Widget", &json!({"metadata": {"name": "a/b"}}))),
            vec!["metadata.name: Invalid value: \"a/b\": may not contain '/'"]
        );
        assert_eq!(
            lines(&validate("Widget", &json!({"metadata": {"name": ".."}}))),
            vec!["metadata.name: Invalid value: \"..\": may not be '..'"]
        );
        let bad_ns = json!({"metadata": {"name": "c", "namespace": "Bad"}});
        assert_eq!(
            lines(&validate("ConfigMap", &bad_ns)),
            vec![format!(
                "metadata.namespace: Invalid value: \"Bad\": {LABEL_RE}"
            )]
        );
    }

    #[test]
    fn metadata_labels_annotations_finalizers() {
        let obj = json!({"metadata": {"name": "c", "labels": {"ok": "v", "bad key!": "v", "k": "bad value"}}});
        let c = validate("ConfigMap", &obj);
        assert_eq!(c.len(), 2);
        assert!(
            c.iter()
                .all(|c| c.field == "metadata.labels" && c.reason == "FieldValueInvalid")
        );
        assert!(
            c[0].message
                .starts_with("Invalid value: \"bad key!\": name part must consist of")
        );
        assert!(
            c[1].message
                .starts_with("Invalid value: \"bad value\": a valid label must be an empty string")
        );

        // Annotation keys are checked case-insensitively; values are free-form.
        let obj = json!({"metadata": {"name": "c", "annotations": {"Example.COM/Key": "x y z", "bad key": ""}}});
        let c = validate("ConfigMap", &obj);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].field, "metadata.annotations");
        assert!(
            c[0].message
                .starts_with("Invalid value: \"bad key\": name part must consist")
        );

        let big = "x".repeat(256 * 1024);
        let obj = json!({"metadata": {"name": "c", "annotations": {"a": big}}});
        let c = validate("ConfigMap", &obj);
        assert_eq!(c[0].reason, "FieldValueTooLong");
        assert_eq!(
            c[0].error(),
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );

        let obj = json!({"metadata": {"name": "c", "finalizers": ["example.com/f", "kubernetes", "custom"]}});
        assert_eq!(
            lines(&validate("ConfigMap", &obj)),
            vec![
                "metadata.finalizers[2]: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
            ]
        );
        let obj =
            json!({"metadata": {"name": "c", "finalizers": ["orphan", "foregroundDeletion"]}});
        assert_eq!(
            lines(&validate("ConfigMap", &obj)),
            vec![
                "metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\"}: finalizer orphan and foregroundDeletion cannot be both set"
            ]
        );
        let obj = json!({"metadata": {"name": "c", "generation": -1, "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs"}]}});
        assert_eq!(
            lines(&validate("ConfigMap", &obj)),
            vec![
                "metadata.generation: Invalid value: -1: must be greater than or equal to 0",
                "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty"
            ]
        );
    }

    #[test]
    fn status_message_format() {
        let one = vec![required("spec.containers[0].image", "")];
        assert_eq!(
            status_message("Pod", "", "x", &one),
            "Pod \"x\" is invalid: spec.containers[0].image: Required value"
        );
        let two = vec![
            required("a", ""),
            required("a", ""),
            invalid("b", Bad::Int(3), "bad"),
        ];
        assert_eq!(
            status_message("Deployment", "apps", "web", &two),
            "Deployment.apps \"web\" is invalid: [a: Required value, b: Invalid value: 3: bad]"
        );
        assert_eq!(status_message("Pod", "", "x", &[]), "Pod \"x\" is invalid");
    }

    #[test]
    fn pod_valid() {
        let spec = json!({
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}],
            "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
            "containers": [{
                "name": "app", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                "env": [{"name": "A", "value": "1"}, {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "cfg", "mountPath": "/etc/cfg"}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}},
                "livenessProbe": {"httpGet": {"path": "/", "port": 80}}
            }]
        });
        assert_eq!(pod_errs(spec), Vec::<String>::new());
    }

    #[test]
    fn pod_containers_required_and_image_required() {
        let c = validate("Pod", &pod(json!({})));
        assert_eq!(lines(&c), vec!["spec.containers: Required value"]);
        assert_eq!(
            pod_errs(json!({"containers": [{"name": "a"}]})),
            vec!["spec.containers[0].image: Required value"]
        );
        assert_eq!(
            pod_errs(json!({"containers": [ctr("a", " nginx")]})),
            vec![
                "spec.containers[0].image: Invalid value: \" nginx\": must not have leading or trailing whitespace"
            ]
        );
    }

    #[test]
    fn pod_container_names() {
        assert_eq!(
            pod_errs(json!({"containers": [ctr("Web", "nginx")]})),
            vec![format!(
                "spec.containers[0].name: Invalid value: \"Web\": {LABEL_RE}"
            )]
        );
        assert_eq!(
            pod_errs(json!({"containers": [{"image": "nginx"}]})),
            vec!["spec.containers[0].name: Required value"]
        );
        let c = validate(
            "Pod",
            &pod(json!({"containers": [ctr("a", "x"), ctr("a", "y")]})),
        );
        assert_eq!(c[0].reason, "FieldValueDuplicate");
        assert_eq!(
            lines(&c),
            vec!["spec.containers[1].name: Duplicate value: \"a\""]
        );
        assert_eq!(
            pod_errs(
                json!({"containers": [ctr("a", "x")], "initContainers": [ctr("b", "x"), ctr("a", "y"), ctr("b", "z")]})
            ),
            vec![
                "spec.initContainers[1].name: Duplicate value: \"a\"",
                "spec.initContainers[2].name: Duplicate value: \"b\""
            ]
        );
    }

    #[test]
    fn pod_ports() {
        let spec = json!({"containers": [{"name": "a", "image": "x", "ports": [
            {"containerPort": 0},
            {"containerPort": 70000, "hostPort": -1},
            {"name": "metrics-endpoint-x", "containerPort": 9000},
            {"name": "web", "containerPort": 80, "protocol": "HTTP"},
            {"name": "web", "containerPort": 81}
        ]}]});
        assert_eq!(
            pod_errs(spec),
            vec![
                "spec.containers[0].ports[0].containerPort: Required value",
                "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[1].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[2].name: Invalid value: \"metrics-endpoint-x\": must be no more than 15 characters",
                "spec.containers[0].ports[3].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.containers[0].ports[4].name: Duplicate value: \"web\"",
            ]
        );
        let c = validate(
            "Pod",
            &pod(
                json!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "protocol": "QUIC"}]}]}),
            ),
        );
        assert_eq!(c[0].reason, "FieldValueNotSupported");
    }

    #[test]
    fn pod_host_port_conflicts() {
        let spec = json!({"containers": [
            {"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]},
            {"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080, "protocol": "TCP"}]}
        ]});
        assert_eq!(
            pod_errs(spec),
            vec!["spec.containers[1].ports[0].hostPort: Duplicate value: \"/TCP/8080\""]
        );
    }

    #[test]
    fn pod_restart_and_dns_policy() {
        assert_eq!(
            pod_errs(json!({"restartPolicy": "Sometimes", "containers": [ctr("a", "x")]})),
            vec![
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
            ]
        );
        assert_eq!(
            pod_errs(json!({"dnsPolicy": "Cluster", "containers": [ctr("a", "x")]})),
            vec![
                "spec.dnsPolicy: Unsupported value: \"Cluster\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\""
            ]
        );
        assert_eq!(
            pod_errs(json!({"dnsPolicy": "None", "containers": [ctr("a", "x")]})),
            vec![
                "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"
            ]
        );
        assert_eq!(
            pod_errs(
                json!({"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Sometimes",
                            "terminationMessagePolicy": "Foo"}]})
            ),
            vec![
                "spec.containers[0].terminationMessagePolicy: Unsupported value: \"Foo\": supported values: \"File\", \"FallbackToLogsOnError\"",
                "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
            ]
        );
    }

    #[test]
    fn pod_env() {
        let spec = json!({"containers": [{"name": "a", "image": "x", "env": [
            {"value": "x"},
            {"name": "A=B"},
            {"name": "ok.name-1"},
            {"name": "C", "valueFrom": {}},
            {"name": "D", "value": "v", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "E", "valueFrom": {"configMapKeyRef": {"name": "c"}}}
        ]}]});
        assert_eq!(
            pod_errs(spec),
            vec![
                "spec.containers[0].env[0].name: Required value",
                "spec.containers[0].env[1].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
                "spec.containers[0].env[3].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                "spec.containers[0].env[4].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
                "spec.containers[0].env[5].valueFrom.configMapKeyRef.key: Required value",
            ]
        );
        let spec = json!({"containers": [{"name": "a", "image": "x", "envFrom": [{"prefix": "P_"}, {"configMapRef": {"name": "c"}}]}]});
        assert_eq!(
            pod_errs(spec),
            vec![
                "spec.containers[0].envFrom: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`"
            ]
        );
    }

    #[test]
    fn pod_volumes_and_mounts() {
        let spec = json!({
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "data", "emptyDir": {}},
                {"name": "Bad", "emptyDir": {}},
                {"name": "none"},
                {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}},
                {"name": "hp", "hostPath": {}}
            ],
            "containers": [{"name": "a", "image": "x", "volumeMounts": [
                {"name": "data", "mountPath": "/d"},
                {"name": "missing", "mountPath": "/d"},
                {"name": "data", "mountPath": "/e", "subPath": "../x"}
            ]}]
        });
        assert_eq!(
            pod_errs(spec),
            vec![
                "spec.volumes[1].name: Duplicate value: \"data\"".to_string(),
                format!("spec.volumes[2].name: Invalid value: \"Bad\": {LABEL_RE}"),
                "spec.volumes[3]: Required value: must specify a volume type".to_string(),
                "spec.volumes[4].hostPath: Forbidden: may not specify more than 1 volume type".to_string(),
                "spec.volumes[5].hostPath.path: Required value".to_string(),
                "spec.containers[0].volumeMounts[1].name: Not found: \"missing\"".to_string(),
                "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/d\": must be unique".to_string(),
                "spec.containers[0].volumeMounts.subPath: Invalid value: \"../x\": must not contain '..'".to_string(),
            ]
        );
        let c = validate(
            "Pod",
            &pod(
                json!({"containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "v"}]}]}),
            ),
        );
        assert_eq!(c[0].reason, "FieldValueNotFound");
        assert_eq!(
            lines(&c),
            vec![
                "spec.containers[0].volumeMounts[0].name: Not found: \"v\"",
                "spec.containers[0].volumeMounts[0].mountPath: Required value"
            ]
        );
        let spec = json!({"volumes": [{"name": "s", "secret": {}}, {"name": "p", "persistentVolumeClaim": {}}, {"name": "c", "configMap": {}}],
                          "containers": [ctr("a", "x")]});
        assert_eq!(
            pod_errs(spec),
            vec![
                "spec.volumes[0].secret.secretName: Required value",
                "spec.volumes[1].persistentVolumeClaim.claimName: Required value",
                "spec.volumes[2].configMap.name: Required value"
            ]
        );
    }

    #[test]
    fn pod_resources() {
        let spec = json!({"containers": [{"name": "a", "image": "x", "resources": {
            "limits": {"cpu": "500m", "memory": "1Gi", "gpu": "1"},
            "requests": {"cpu": "1", "memory": "-1Mi"}
        }}]});
        assert_eq!(
            pod_errs(spec),
            vec![
                "spec.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a standard resource for containers",
                "spec.containers[0].resources.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m",
                "spec.containers[0].resources.requests[memory]: Invalid value: \"-1Mi\": must be greater than or equal to 0",
            ]
        );
        let spec = json!({"containers": [{"name": "a", "image": "x", "resources": {
            "limits": {"example.com/dev": "2"}, "requests": {"example.com/dev": "1", "example.com/other": "500m"}
        }}]});
        assert_eq!(
            pod_errs(spec),
            vec![
                "spec.containers[0].resources.requests: Invalid value: \"1\": must be equal to example.com/dev limit of 2",
                "spec.containers[0].resources.requests[example.com/other]: Invalid value: 500m: must be an integer",
                "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources",
            ]
        );
    }

    #[test]
    fn pod_probes_and_init_restrictions() {
        let spec = json!({"containers": [{"name": "a", "image": "x",
            "livenessProbe": {"successThreshold": 2, "exec": {"command": ["true"]}},
            "readinessProbe": {"periodSeconds": -1},
            "startupProbe": {"exec": {}, "tcpSocket": {"port": 1}}}],
            "initContainers": [{"name": "i", "image": "x", "readinessProbe": {"exec": {}}},
                               {"name": "s", "image": "x", "restartPolicy": "Never"}]});
        assert_eq!(
            pod_errs(spec),
            vec![
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                "spec.containers[0].readinessProbe: Required value: must specify a handler type",
                "spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
                "spec.containers[0].startupProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
                "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
                "spec.initContainers[1].restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            ]
        );
        assert_eq!(
            pod_errs(
                json!({"containers": [{"name": "a", "image": "x", "restartPolicy": "Always"}]})
            ),
            vec![
                "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"
            ]
        );
    }

    #[test]
    fn pod_misc_spec_fields() {
        let spec = json!({"containers": [ctr("a", "x")], "nodeName": "Node_1", "hostname": "a.b",
            "activeDeadlineSeconds": 0, "nodeSelector": {"disk": "fast ssd"},
            "tolerations": [{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v"},
                            {"key": "k", "tolerationSeconds": 5, "effect": "NoSchedule"}, {"key": "k", "effect": "Never"}]});
        let got = pod_errs(spec);
        assert_eq!(got.len(), 8, "{got:#?}");
        assert!(
            got[0].starts_with("spec.nodeSelector: Invalid value: \"fast ssd\": a valid label")
        );
        assert!(got[1].starts_with(
            "spec.nodeName: Invalid value: \"Node_1\": a lowercase RFC 1123 subdomain"
        ));
        assert_eq!(
            got[2],
            "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"
        );
        assert_eq!(
            got[3],
            "spec.hostname: Invalid value: \"a.b\": must not contain dots"
        );
        assert_eq!(
            got[4],
            "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""
        );
        assert_eq!(
            got[5],
            "spec.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'"
        );
        assert_eq!(
            got[6],
            "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"
        );
        assert_eq!(
            got[7],
            "spec.tolerations[3].effect: Unsupported value: \"Never\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
        );
    }

    fn running(spec: Value) -> Value {
        let mut p = pod(spec);
        p["metadata"]["uid"] = json!("u1");
        p["metadata"]["resourceVersion"] = json!("5");
        p
    }

    #[test]
    fn pod_update_image_change_allowed() {
        let old = running(
            json!({"containers": [ctr("a", "nginx:1")], "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]}),
        );
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("nginx:2");
        new["spec"]["tolerations"][0]["tolerationSeconds"] = json!(5);
        new["spec"]["tolerations"]
            .as_array_mut()
            .unwrap()
            .push(json!({"key": "x", "operator": "Exists"}));
        new["spec"]["activeDeadlineSeconds"] = json!(100);
        new["metadata"]["labels"] = json!({"new": "label"});
        assert_eq!(
            lines(&validate_update("Pod", &old, &new)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn pod_update_forbidden_changes() {
        let old = running(
            json!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}]}),
        );
        let mut new = old.clone();
        new["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(8080);
        let c = validate_update("Pod", &old, &new);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].reason, "FieldValueForbidden");
        assert_eq!(
            c[0].error(),
            "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
        );

        let mut new = old.clone();
        new["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(ctr("b", "y"));
        assert_eq!(
            lines(&validate_update("Pod", &old, &new)),
            vec!["spec.containers: Forbidden: pod updates may not add or remove containers"]
        );

        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("");
        assert_eq!(
            lines(&validate_update("Pod", &old, &new)),
            vec![
                "spec.containers[0].image: Required value",
                "spec.containers[0].image: Required value"
            ]
        );
    }

    #[test]
    fn pod_update_deadline_tolerations_gates_grace() {
        let old = running(json!({"containers": [ctr("a", "x")], "activeDeadlineSeconds": 10}));
        let mut new = old.clone();
        new["spec"]["activeDeadlineSeconds"] = json!(20);
        assert_eq!(
            lines(&validate_update("Pod", &old, &new)),
            vec![
                "spec.activeDeadlineSeconds: Invalid value: 20: must be less than or equal to previous value"
            ]
        );
        new["spec"]
            .as_object_mut()
            .unwrap()
            .remove("activeDeadlineSeconds");
        assert_eq!(
            lines(&validate_update("Pod", &old, &new)),
            vec![
                "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value"
            ]
        );

        let old = running(
            json!({"containers": [ctr("a", "x")], "tolerations": [{"key": "k", "operator": "Exists"}]}),
        );
        let mut new = old.clone();
        new["spec"]["tolerations"][0]["key"] = json!("other");
        assert_eq!(
            lines(&validate_update("Pod", &old, &new)),
            vec![
                "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
            ]
        );

        let old = running(
            json!({"containers": [ctr("a", "x")], "schedulingGates": [{"name": "g1"}], "nodeSelector": {"a": "b"}}),
        );
        let mut new = old.clone();
        new["spec"]["schedulingGates"] = json!([{"name": "g1"}, {"name": "g2"}]);
        assert_eq!(
            lines(&validate_update("Pod", &old, &new)),
            vec![
                "spec.schedulingGates[1].name: Forbidden: only deletion is allowed, but found new scheduling gate 'g2'"
            ]
        );
        let mut new = old.clone();
        new["spec"]["schedulingGates"] = json!([]);
        new["spec"]["nodeSelector"]["c"] = json!("d");
        assert!(validate_update("Pod", &old, &new).is_empty());

        let old =
            running(json!({"containers": [ctr("a", "x")], "terminationGracePeriodSeconds": -1}));
        let mut new = old.clone();
        new["spec"]["terminationGracePeriodSeconds"] = json!(1);
        assert!(validate_update("Pod", &old, &new).is_empty());
        new["spec"]["terminationGracePeriodSeconds"] = json!(2);
        assert_eq!(validate_update("Pod", &old, &new)[0].field, "spec");
    }

    #[test]
    fn update_metadata_immutability() {
        let old = json!({"metadata": {"name": "c", "namespace": "default", "uid": "u1", "labels": {"a": "b"}}});
        let mut new = old.clone();
        new["metadata"]["uid"] = json!("u2");
        assert_eq!(
            lines(&validate_update("ConfigMap", &old, &new)),
            vec!["metadata.uid: Invalid value: \"u2\": field is immutable"]
        );
        let mut new = old.clone();
        new["metadata"]["name"] = json!("d");
        assert_eq!(
            lines(&validate_update("ServiceAccount", &old, &new)),
            vec!["metadata.name: Invalid value: \"d\": field is immutable"]
        );
        // Labels are validated by both the update and the create rules.
        let mut new = old.clone();
        new["metadata"]["labels"]["a"] = json!("b c");
        assert_eq!(validate_update("ConfigMap", &old, &new).len(), 2);
        assert_eq!(validate_update("Namespace", &old, &new).len(), 1);

        let mut deleting = old.clone();
        deleting["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        deleting["metadata"]["finalizers"] = json!(["example.com/a"]);
        let mut new = deleting.clone();
        new["metadata"]["finalizers"] = json!(["example.com/a", "example.com/b"]);
        assert_eq!(
            lines(&validate_update("ConfigMap", &deleting, &new)),
            vec![
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/b\"}"
            ]
        );
        let mut old_gen = old.clone();
        old_gen["metadata"]["generation"] = json!(3);
        let mut new = old_gen.clone();
        new["metadata"]["generation"] = json!(2);
        assert_eq!(
            lines(&validate_update("Widget", &old_gen, &new)),
            vec!["metadata.generation: Invalid value: 2: must not be decremented"]
        );
    }

    #[test]
    fn namespace_rules() {
        assert!(
            validate(
                "Namespace",
                &json!({"metadata": {"name": "team-a"}, "spec": {"finalizers": ["kubernetes"]}})
            )
            .is_empty()
        );
        assert_eq!(
            lines(&validate(
                "Namespace",
                &json!({"metadata": {"name": "Team"}})
            )),
            vec![format!(
                "metadata.name: Invalid value: \"Team\": {LABEL_RE}"
            )]
        );
        assert_eq!(
            lines(&validate(
                "Namespace",
                &json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["foo"]}})
            )),
            vec![
                "spec.finalizers: Invalid value: \"foo\": name is neither a standard finalizer name nor is it fully qualified"
            ]
        );
        assert_eq!(
            lines(&validate(
                "Namespace",
                &json!({"metadata": {"name": &"n".repeat(64)}})
            )),
            vec![format!(
                "metadata.name: Invalid value: \"{}\": must be no more than 63 characters",
                "n".repeat(64)
            )]
        );
    }

    #[test]
    fn config_map_rules() {
        let cm = json!({"metadata": {"name": "c"}, "data": {"good.key": "v", "bad key": "v", "dup": "x"},
                        "binaryData": {"dup": "AAAA", "bad/bin": "AAAA"}});
        let key_re = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
        assert_eq!(
            lines(&validate("ConfigMap", &cm)),
            vec![
                format!("data[bad key]: Invalid value: \"bad key\": {key_re}"),
                "data[dup]: Invalid value: \"dup\": duplicate of key present in binaryData"
                    .to_string(),
                format!("binaryData[bad/bin]: Invalid value: \"bad/bin\": {key_re}"),
            ]
        );
        let big = json!({"metadata": {"name": "c"}, "data": {"a": "x".repeat(1024 * 1024 + 1)}});
        let c = validate("ConfigMap", &big);
        assert_eq!(c[0].reason, "FieldValueTooLong");
        assert_eq!(
            c[0].error(),
            ": Too long: may not be more than 1048576 bytes"
        );
    }

    #[test]
    fn config_map_immutable_update() {
        let old = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}});
        let mut new = old.clone();
        new["data"]["a"] = json!("2");
        new["immutable"] = json!(false);
        assert_eq!(
            lines(&validate_update("ConfigMap", &old, &new)),
            vec![
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set"
            ]
        );
        let mutable = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
        let mut new = mutable.clone();
        new["data"]["a"] = json!("2");
        assert!(validate_update("ConfigMap", &mutable, &new).is_empty());
    }

    #[test]
    fn secret_rules() {
        let s = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "dmFsdWU="}, "stringData": {"bad key": "x"}});
        let c = validate("Secret", &s);
        assert_eq!(c.len(), 1);
        assert!(
            c[0].error()
                .starts_with("data[bad key]: Invalid value: \"bad key\": a valid config key")
        );
        let tls = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}});
        assert_eq!(
            lines(&validate("Secret", &tls)),
            vec!["data[tls.key]: Required value"]
        );
        let basic = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/basic-auth"});
        assert_eq!(
            lines(&validate("Secret", &basic)),
            vec![
                "data[username]: Required value",
                "data[password]: Required value"
            ]
        );
        let sa = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/service-account-token"});
        assert_eq!(
            lines(&validate("Secret", &sa)),
            vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
        );
        let docker = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/dockerconfigjson", "data": {}});
        assert_eq!(
            lines(&validate("Secret", &docker)),
            vec!["data[.dockerconfigjson]: Required value"]
        );
        let ssh = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/ssh-auth", "data": {"ssh-privatekey": ""}});
        assert_eq!(
            lines(&validate("Secret", &ssh)),
            vec!["data[ssh-privatekey]: Required value"]
        );
        let big =
            json!({"metadata": {"name": "s"}, "stringData": {"a": "x".repeat(1024 * 1024 + 1)}});
        assert_eq!(
            lines(&validate("Secret", &big)),
            vec!["data: Too long: may not be more than 1048576 bytes"]
        );
    }

    #[test]
    fn secret_update_rules() {
        let old = json!({"metadata": {"name": "s"}, "type": "Opaque", "immutable": true, "data": {"a": "eA=="}});
        let mut new = old.clone();
        new["type"] = json!("example.com/custom");
        assert_eq!(
            lines(&validate_update("Secret", &old, &new)),
            vec!["type: Invalid value: \"example.com/custom\": field is immutable"]
        );
        let mut new = old.clone();
        new["stringData"] = json!({"a": "y"});
        assert_eq!(
            lines(&validate_update("Secret", &old, &new)),
            vec!["data: Forbidden: field is immutable when `immutable` is set"]
        );
        let mut same = old.clone();
        same["stringData"] = json!({"a": "x"});
        assert!(validate_update("Secret", &old, &same).is_empty());
        let untyped = json!({"metadata": {"name": "s"}, "data": {}});
        assert!(
            validate_update(
                "Secret",
                &untyped,
                &json!({"metadata": {"name": "s"}, "type": "Opaque"})
            )
            .is_empty()
        );
    }

    #[test]
    fn service_account_rules() {
        assert!(validate("ServiceAccount", &json!({"metadata": {"name": "builder"}})).is_empty());
        assert_eq!(
            lines(&validate(
                "ServiceAccount",
                &json!({"metadata": {"name": "Builder"}})
            )),
            vec![format!(
                "metadata.name: Invalid value: \"Builder\": {SUBDOMAIN_RE}"
            )]
        );
    }

    #[test]
    fn node_rules() {
        let node = json!({"metadata": {"name": "node-1"}, "spec": {"taints": [
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
            {"key": "dedicated", "value": "other", "effect": "NoSchedule"},
            {"key": "k", "effect": "Sometimes"},
            {"key": "k2"}
        ]}});
        assert_eq!(
            lines(&validate("Node", &node)),
            vec![
                "metadata.taints[1]: Duplicate value: core.Taint{Key:\"dedicated\", Value:\"other\", Effect:\"NoSchedule\", TimeAdded:<nil>}: taints must be unique by key and effect pair",
                "metadata.taints[2].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                "metadata.taints[3].effect: Required value",
            ]
        );
        assert_eq!(
            lines(&validate("Node", &json!({"metadata": {"name": "Node_1"}}))),
            vec![format!(
                "metadata.name: Invalid value: \"Node_1\": {SUBDOMAIN_RE}"
            )]
        );
        let old = json!({"metadata": {"name": "n"}, "spec": {"podCIDR": "10.0.0.0/24", "podCIDRs": ["10.0.0.0/24"], "providerID": "kinet://n"}});
        let mut new = old.clone();
        new["spec"]["podCIDRs"] = json!(["10.0.1.0/24"]);
        new["spec"]["providerID"] = json!("kinet://m");
        new["spec"]["unschedulable"] = json!(true);
        assert_eq!(
            lines(&validate_update("Node", &old, &new)),
            vec![
                "spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid",
                "spec.providerID: Forbidden: node updates may not change providerID except from \"\" to valid"
            ]
        );
        let fresh = json!({"metadata": {"name": "n"}, "spec": {}});
        let mut assigned = fresh.clone();
        assigned["spec"]["podCIDRs"] = json!(["10.0.0.0/24"]);
        assert!(validate_update("Node", &fresh, &assigned).is_empty());
    }

    #[test]
    fn service_rules() {
        let ok = json!({"metadata": {"name": "web"}, "spec": {"type": "ClusterIP", "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}});
        assert!(validate("Service", &ok).is_empty());
        let bad = json!({"metadata": {"name": "web"}, "spec": {"type": "Internal", "ports": [
            {"port": 0, "targetPort": "HTTP"}, {"name": "a", "port": 81, "protocol": "ICMP"}, {"name": "a", "port": 82}]}});
        assert_eq!(
            lines(&validate("Service", &bad)),
            vec![
                "spec.ports[0].name: Required value",
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[0].targetPort: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "spec.ports[0].targetPort: Invalid value: \"HTTP\": must contain at least one letter (a-z)",
                "spec.ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.ports[2].name: Duplicate value: \"a\"",
                "spec.type: Unsupported value: \"Internal\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
            ]
        );
        assert_eq!(
            lines(&validate(
                "Service",
                &json!({"metadata": {"name": "s"}, "spec": {}})
            )),
            vec!["spec.ports: Required value"]
        );
        assert!(
            validate(
                "Service",
                &json!({"metadata": {"name": "s"}, "spec": {"clusterIP": "None"}})
            )
            .is_empty()
        );
        assert_eq!(
            lines(&validate(
                "Service",
                &json!({"metadata": {"name": "s"}, "spec": {"type": "ExternalName"}})
            )),
            vec!["spec.externalName: Required value"]
        );
    }

    fn deployment(selector: Value, labels: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 2, "selector": selector,
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [ctr("nginx", "nginx")]}}}})
    }

    #[test]
    fn workload_selector_rules() {
        assert!(
            validate(
                "Deployment",
                &deployment(
                    json!({"matchLabels": {"app": "web"}}),
                    json!({"app": "web", "x": "y"})
                )
            )
            .is_empty()
        );
        assert_eq!(
            lines(&validate(
                "Deployment",
                &deployment(
                    json!({"matchLabels": {"app": "web"}}),
                    json!({"app": "api", "tier": "fe"})
                )
            )),
            vec![
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"api\", \"tier\":\"fe\"}: `selector` does not match template `labels`"
            ]
        );
        assert_eq!(
            lines(&validate(
                "Deployment",
                &deployment(json!({}), json!({"app": "web"}))
            )),
            vec![
                "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is invalid for deployment"
            ]
        );
        let mut no_sel = deployment(json!({}), json!({"app": "web"}));
        no_sel["spec"].as_object_mut().unwrap().remove("selector");
        assert_eq!(
            lines(&validate("Deployment", &no_sel)),
            vec![
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"
            ]
        );
        assert_eq!(lines(&validate("DaemonSet", &no_sel)).len(), 1);
        let expr = deployment(
            json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]},
                                                           {"key": "x", "operator": "Has"}]}),
            json!({"app": "web"}),
        );
        assert_eq!(
            lines(&validate("ReplicaSet", &expr)),
            vec![
                "spec.selector.matchExpressions[1].operator: Invalid value: \"Has\": not a valid selector operator",
                "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:app,Operator:In,Values:[web api],},LabelSelectorRequirement{Key:x,Operator:Has,Values:[],},},}: invalid label selector"
            ]
        );
        let nomatch = deployment(
            json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]},
                                                              {"key": "v", "operator": "In", "values": ["bad value"]}]}),
            json!({"app": "web"}),
        );
        let got = lines(&validate("ReplicaSet", &nomatch));
        assert_eq!(got.len(), 2);
        assert!(got[0].starts_with(
            "spec.selector.matchExpressions[1].values[0]: Invalid value: \"bad value\""
        ));
        assert!(got[1].starts_with("spec.template.metadata.labels: Invalid value"));
        let mut bad_tpl = deployment(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        );
        bad_tpl["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        bad_tpl["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
        bad_tpl["spec"]["replicas"] = json!(-1);
        assert_eq!(
            lines(&validate("StatefulSet", &bad_tpl)),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.spec.containers[0].image: Required value",
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
            ]
        );
    }

    #[test]
    fn workload_selector_immutable() {
        let old = deployment(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        );
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(5);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert!(validate_update("Deployment", &old, &new).is_empty());
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web2"}});
        new["spec"]["template"]["metadata"]["labels"] = json!({"app": "web2"});
        assert_eq!(
            lines(&validate_update("Deployment", &old, &new)),
            vec![
                "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{app: web2,},MatchExpressions:[]LabelSelectorRequirement{},}: field is immutable"
            ]
        );
        assert_eq!(validate_update("StatefulSet", &old, &new).len(), 1);
    }

    #[test]
    fn pod_ephemeral_containers_forbidden_on_create() {
        let spec = json!({"containers": [ctr("a", "x")], "ephemeralContainers": [{"name": "debug", "image": "busybox"}]});
        assert_eq!(
            pod_errs(spec),
            vec!["spec.ephemeralContainers: Forbidden: cannot be set on create"]
        );
    }

    #[test]
    fn job_and_cronjob_rules() {
        let job = json!({"metadata": {"name": "pi"}, "spec": {"template": {"spec": {"containers": [ctr("pi", "perl")]}}}});
        assert_eq!(
            lines(&validate("Job", &job)),
            vec![
                "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""
            ]
        );
        let mut ok = job.clone();
        ok["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert!(validate("Job", &ok).is_empty());
        let cj = json!({"metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [ctr("c", "")]}}}}}});
        assert_eq!(
            lines(&validate("CronJob", &cj)),
            vec![
                "spec.schedule: Required value",
                "spec.jobTemplate.spec.template.spec.containers[0].image: Required value"
            ]
        );
    }

    #[test]
    fn unknown_fields_reports_paths() {
        let p = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "x", "labels": {"anything": "goes"}, "annotations": {"a/b": "c"}, "bogus": 1},
            "spec": {"containers": [{"name": "a", "image": "x", "imagee": "typo", "ports": [{"containerPort": 80, "hostport": 1}]}],
                     "nodeSelector": {"free": "form"}, "restartPolicy": null, "unknownSpec": {"deep": true}},
            "status": {}
        });
        assert_eq!(
            unknown_fields("Pod", &p),
            vec![
                "metadata.bogus",
                "spec.containers[0].imagee",
                "spec.containers[0].ports[0].hostport",
                "spec.unknownSpec"
            ]
        );
        let clean = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "creationTimestamp": null},
                           "data": {"k": "v"}, "binaryData": {"b": "AAAA"}, "immutable": false});
        assert!(unknown_fields("ConfigMap", &clean).is_empty());
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dg=="},
                            "stringData": {"x": "y"}, "typ": "Opaque"});
        assert_eq!(unknown_fields("Secret", &secret), vec!["typ"]);
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replica": 3, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "n", "image": "i", "resources": {"limits": {"cpu": "1"}}, "Env": []}]}}}});
        assert_eq!(
            unknown_fields("Deployment", &dep),
            vec!["spec.replica", "spec.template.spec.containers[0].Env"]
        );
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                         "spec": {"ports": [{"port": 80, "targetPort": "http", "nodeport": 1}]}});
        assert_eq!(
            unknown_fields("Service", &svc),
            vec!["spec.ports[0].nodeport"]
        );
        for kind in [
            "Namespace",
            "Node",
            "ServiceAccount",
            "Event",
            "Endpoints",
            "ReplicaSet",
            "StatefulSet",
            "DaemonSet",
            "Job",
            "Ingress",
            "NetworkPolicy",
        ] {
            let obj = json!({"metadata": {"name": "x"}, "extraTopLevel": 1});
            assert_eq!(unknown_fields(kind, &obj), vec!["extraTopLevel"], "{kind}");
        }
        assert!(unknown_fields("Widget", &json!({"foo": 1})).is_empty());
        // Undecodable input (wrong types) gives no report.
        assert!(unknown_fields("Pod", &json!({"spec": {"containers": "nope"}, "x": 1})).is_empty());
    }
}
