//! The REST layer's door to the registry (`kinet_registry`), which holds what a
//! write does to objects for every writer. Here only what is HTTP's: a patch's
//! media type and the decoding of its body, and the subresource named in the path.

use crate::status::ApiError;
use kinet_model::resources::Resource;
use kinet_registry::{Patch, Registry, Subresource};
use kinet_store::Store;
use serde_json::Value;
use std::sync::Arc;

pub use kinet_registry::{FieldValidation, WriteOpts, Written, name_of};

pub struct Objects {
    pub store: Arc<Store>,
}

impl Objects {
    pub fn new(store: Arc<Store>) -> Self {
        Objects { store }
    }

    /// The registry over this store: reads, creates and deletes go to it directly.
    pub fn registry(&self) -> Registry<'_> {
        Registry::new(&self.store)
    }

    /// Replaces an object (PUT), or only its status when `subresource` is "status"
    /// (its ephemeral containers for "ephemeralcontainers").
    pub fn update(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        new: Value,
        opts: WriteOpts,
    ) -> Result<Written, ApiError> {
        self.registry()
            .update(r, ns, name, Subresource::parse(subresource), new, opts)
    }

    /// Applies a patch of the given content type.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        content_type: &str,
        body: &[u8],
        opts: WriteOpts,
    ) -> Result<Written, ApiError> {
        let p = decode_patch(content_type, body)?;
        self.registry()
            .patch(r, ns, name, Subresource::parse(subresource), &p, opts)
    }
}

/// A PATCH body by its media type.
fn decode_patch(content_type: &str, body: &[u8]) -> Result<Patch, ApiError> {
    let json = |body: &[u8]| {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
    };
    match content_type.split(';').next().unwrap_or("").trim() {
        "application/apply-patch+yaml" => serde_yaml::from_slice(body)
            .map(Patch::Apply)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}"))),
        "application/json-patch+json" => json(body).map(Patch::Json),
        "application/merge-patch+json" => json(body).map(Patch::Merge),
        "application/strategic-merge-patch+json" => json(body).map(Patch::StrategicMerge),
        other => Err(ApiError::unsupported_media(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_are_decoded_by_media_type() {
        assert!(matches!(
            decode_patch("application/merge-patch+json; charset=utf-8", b"{}"),
            Ok(Patch::Merge(_))
        ));
        assert!(matches!(
            decode_patch("application/apply-patch+yaml", b"a: 1"),
            Ok(Patch::Apply(_))
        ));
        let e = decode_patch("application/json-patch+json", b"[")
            .err()
            .unwrap();
        assert_eq!(e.code, 400);
        let e = decode_patch("text/plain", b"").err().unwrap();
        assert_eq!(e.code, 415);
    }
}
