//! A small HTTPS client for the lab's API server, for the CLI's own needs
//! (readiness, status, applying bundled manifests). Users' tools use kubectl.

use crate::paths::Paths;
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::sync::Arc;
use tokio::net::TcpStream;

pub struct Client {
    addr: String,
    token: String,
    tls: tokio_rustls::TlsConnector,
}

impl Client {
    pub fn for_lab(p: &Paths) -> Result<Client> {
        let cfg = crate::paths::LabConfig::load(p)
            .context("the lab has no configuration; is it up? (kinet up)")?;
        let token = std::fs::read_to_string(p.token())?.trim().to_string();
        let ca = std::fs::read(p.pki().join("ca.crt"))?;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut ca.as_slice()) {
            let c = c?;
            roots.add(c)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client {
            addr: format!("127.0.0.1:{}", cfg.port),
            token,
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
        })
    }

    /// Sends one request; returns the status code and the JSON body (Null if not JSON).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Value)> {
        let tcp = TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("connecting to the API server at {}", self.addr))?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = self.tls.connect(name, tcp).await?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let resp = send.send_request(req).await?;
        let code = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((code, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        let (code, v) = self.request("GET", path, "application/json", None).await?;
        if code != 200 {
            bail!("GET {path}: {}", v["message"].as_str().unwrap_or("failed"));
        }
        Ok(v)
    }

    /// Creates an object, or merges it into the existing one.
    pub async fn apply(&self, obj: &Value) -> Result<String> {
        let api_version = obj["apiVersion"].as_str().unwrap_or("");
        let kind = obj["kind"].as_str().unwrap_or("");
        let r = kinet_model::resources::for_kind(api_version, kind)
            .with_context(|| format!("no resource for kind {kind:?} in version {api_version:?}"))?;
        let name = kinet_model::json::name(obj);
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let coll = kinet_apiserver::discovery::collection_path(r, ns);
        let body = serde_json::to_vec(obj)?;
        let (code, v) = self
            .request(
                "POST",
                &format!("{coll}?fieldValidation=Strict"),
                "application/json",
                Some(body.clone()),
            )
            .await?;
        // kubectl's resource.group form: `deployment.apps/web`, `service/web`
        let what = if r.group.is_empty() {
            format!("{}/{name}", r.singular)
        } else {
            format!("{}.{}/{name}", r.singular, r.group)
        };
        match code {
            201 => Ok(format!("{what} created")),
            409 => {
                let (code, v) = self
                    .request(
                        "PATCH",
                        &format!("{coll}/{name}"),
                        "application/merge-patch+json",
                        Some(body),
                    )
                    .await?;
                if code == 200 {
                    Ok(format!("{what} configured"))
                } else {
                    bail!("{}", v["message"].as_str().unwrap_or("patch failed"))
                }
            }
            _ => bail!("{}", v["message"].as_str().unwrap_or("create failed")),
        }
    }
}

/// Parses a multi-document YAML (or JSON) manifest into objects, unrolling `List`s.
pub fn parse_manifests(text: &str) -> Result<Vec<Value>> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v = Value::deserialize(doc)?;
        if v.is_null() {
            continue;
        }
        if v["kind"].as_str().is_some_and(|k| k.ends_with("List"))
            && let Some(items) = v["items"].as_array()
        {
            out.extend(items.iter().cloned());
            continue;
        }
        if !v.is_object() || v.get("kind").is_none() || v.get("apiVersion").is_none() {
            bail!("a manifest document is not a Kubernetes object (it needs apiVersion and kind)");
        }
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_manifests() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n# comment\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n";
        let objs = parse_manifests(text).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1]["kind"], "Pod");
        assert!(parse_manifests("just: a map\n").is_err());
    }
}
