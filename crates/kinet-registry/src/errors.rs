//! API errors (apimachinery's `api/errors`): the code, reason, message and details
//! of a `Status`, with the Kubernetes API server's wording, so kubectl prints what
//! it prints against a real cluster. Every writer gets these from the registry;
//! the API server sends them over HTTP (`kinet_apiserver::status`).

use kinet_model::validation::Cause;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// `pods "x" not found`
    pub fn not_found(group_resource: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{group_resource} \"{name}\" not found"))
            .with(json!({"name": name, "kind": plural_of(group_resource), "group": group_of(group_resource)}))
    }

    pub fn already_exists(group_resource: &str, name: &str) -> Self {
        Self::new(409, "AlreadyExists", format!("{group_resource} \"{name}\" already exists"))
            .with(json!({"name": name, "kind": plural_of(group_resource), "group": group_of(group_resource)}))
    }

    pub fn conflict(group_resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {group_resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
        .with(json!({"name": name, "kind": plural_of(group_resource), "group": group_of(group_resource)}))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn forbidden(group_resource: &str, name: &str, why: &str) -> Self {
        Self::new(403, "Forbidden", format!("{group_resource} \"{name}\" is forbidden: {why}"))
            .with(json!({"name": name, "kind": plural_of(group_resource), "group": group_of(group_resource)}))
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    pub fn unsupported_media(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"
            ),
        )
    }

    pub fn no_resource() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with(json!({}))
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// `Pod "x" is invalid: spec.containers[0].image: Required value` (several causes: `[a, b]`).
    pub fn invalid(kind: &str, group: &str, name: &str, causes: &[Cause]) -> Self {
        let parts: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let joined = if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("[{}]", parts.join(", "))
        };
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        Self::new(422, "Invalid", format!("{qualified} \"{name}\" is invalid: {joined}")).with(json!({
            "name": name,
            "group": group,
            "kind": kind,
            "causes": causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect::<Vec<_>>(),
        }))
    }

    /// True for 409 Conflict (a precondition or a concurrent write lost).
    pub fn is_conflict(&self) -> bool {
        self.reason == "Conflict"
    }

    /// The `Status` object of this error (the body of an error response).
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        // Go omits an empty reason (StatusReasonUnknown)
        if self.reason.is_empty()
            && let Some(m) = s.as_object_mut()
        {
            m.remove("reason");
        }
        if let Some(d) = &self.details {
            let mut d = d.clone();
            if let Some(m) = d.as_object_mut() {
                m.retain(|_, v| !(v.is_string() && v.as_str() == Some("")));
            }
            s["details"] = d;
        }
        s
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

fn plural_of(group_resource: &str) -> &str {
    group_resource.split('.').next().unwrap_or(group_resource)
}

fn group_of(group_resource: &str) -> &str {
    group_resource.split_once('.').map(|(_, g)| g).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_like_the_api_server() {
        let s = ApiError::not_found("pods", "x").to_status();
        assert_eq!(s["message"], "pods \"x\" not found");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["kind"], "pods");
        assert!(s["details"].get("group").is_none());
        let d = ApiError::not_found("deployments.apps", "web").to_status();
        assert_eq!(d["details"]["group"], "apps");
        let c = Cause {
            reason: "FieldValueRequired",
            field: "spec.containers[0].image".into(),
            message: "Required value".into(),
        };
        let i = ApiError::invalid("Pod", "", "x", std::slice::from_ref(&c)).to_status();
        assert_eq!(
            i["message"],
            "Pod \"x\" is invalid: spec.containers[0].image: Required value"
        );
        let two = ApiError::invalid("Deployment", "apps", "x", &[c.clone(), c]).to_status();
        let unknown = ApiError::new(500, "", "boom").to_status();
        assert!(unknown.get("reason").is_none());
        assert_eq!(unknown["code"], 500);
        assert!(
            two["message"]
                .as_str()
                .unwrap()
                .starts_with("Deployment.apps \"x\" is invalid: [spec")
        );
    }
}
