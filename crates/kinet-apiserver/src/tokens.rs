//! Service-account tokens, as kube-apiserver issues and checks them: ES256 JWTs
//! signed with the lab's service-account key, with Kubernetes' claims (`iss`, `aud`,
//! `sub` `system:serviceaccount:NS:NAME`, `iat`/`nbf`/`exp`, `jti`, and
//! `kubernetes.io` with the namespace, the service account and the pod, secret or
//! node the token is bound to), the `serviceaccounts/NAME/token` subresource
//! (TokenRequest) that `kubectl create token` and the node agents use, and the
//! authenticator that accepts such tokens as bearer credentials while the service
//! account (and the bound object) still exist with the same uid.

use crate::status::ApiError;
use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, SecondsFormat, Utc};
use kinet_model::json::{arr_at, str_at};
use kinet_model::resources;
use kinet_model::validation::Cause;
use kinet_store::Store;
use ring::rand::SystemRandom;
use ring::signature::{
    self, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
};
use serde_json::{Map, Value, json};
use std::path::Path;

/// The issuer and the API server's audience (kube-apiserver's default for a cluster
/// whose domain is cluster.local).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The expiration ServiceAccount admission asks for in projected volumes: such
/// tokens bound to a pod are valid for a year, with `warnafter` at the hour.
pub const WARN_ONLY_EXPIRATION: i64 = 60 * 60 + 7;
pub const EXTENDED_EXPIRATION: i64 = 24 * 365 * 60 * 60;
/// TokenRequest's default expiration.
pub const DEFAULT_EXPIRATION: i64 = 3600;
/// Clock skew allowed when checking `exp`, `nbf` and `iat` (go-jose's default).
const LEEWAY: i64 = 60;

/// The ASN.1 prefix of a P-256 SubjectPublicKeyInfo, before the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The lab's service-account signing key (ES256).
pub struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    /// `kid`: base64url of the SHA-256 of the public key's DER, as kube-apiserver sets it.
    kid: String,
    public_pem: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn unpem(text: &str, label: &str) -> Result<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).context("no PEM block")? + begin.len();
    let stop = text[start..].find(&end).context("unterminated PEM block")? + start;
    let b64: String = text[start..stop].split_whitespace().collect();
    Ok(STANDARD.decode(b64)?)
}

impl Signer {
    /// A new random key.
    pub fn generate() -> Result<Signer> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| anyhow::anyhow!("generating the service-account key failed"))?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    fn from_pkcs8(der: &[u8]) -> Result<Signer> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| anyhow::anyhow!("bad service-account key: {e}"))?;
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(key.public_key().as_ref());
        let kid = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &spki));
        Ok(Signer {
            key,
            rng,
            kid,
            public_pem: pem("PUBLIC KEY", &spki),
        })
    }

    /// Loads `sa.key` from the lab's PKI directory, or creates it (with `sa.pub`).
    pub fn load_or_create(dir: &Path) -> Result<Signer> {
        let path = dir.join("sa.key");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let der = unpem(&text, "PRIVATE KEY")
                .with_context(|| format!("reading {}", path.display()))?;
            return Self::from_pkcs8(&der);
        }
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| anyhow::anyhow!("generating the service-account key failed"))?;
        let signer = Self::from_pkcs8(pkcs8.as_ref())?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            f.write_all(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())?;
        }
        std::fs::write(dir.join("sa.pub"), &signer.public_pem)?;
        Ok(signer)
    }

    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// A compact JWS of `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default())
        );
        let sig = self
            .key
            .sign(&self.rng, input.as_bytes())
            .map(|s| URL_SAFE_NO_PAD.encode(s.as_ref()))
            .unwrap_or_default();
        format!("{input}.{sig}")
    }

    /// The claims of `token` if this key signed it (nothing else is checked).
    pub fn verify(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
        signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.key.public_key().as_ref())
            .verify(format!("{h}.{c}").as_bytes(), &sig)
            .ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()
    }
}

/// A reference in the `kubernetes.io` claim.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ref {
    pub name: String,
    pub uid: String,
}

impl Ref {
    fn of(obj: &Value) -> Ref {
        Ref {
            name: str_at(obj, "/metadata/name").to_string(),
            uid: str_at(obj, "/metadata/uid").to_string(),
        }
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        if !self.name.is_empty() {
            m.insert("name".into(), json!(self.name));
        }
        if !self.uid.is_empty() {
            m.insert("uid".into(), json!(self.uid));
        }
        Value::Object(m)
    }
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claims {
    pub namespace: String,
    pub service_account: Ref,
    pub pod: Option<Ref>,
    pub secret: Option<Ref>,
    pub node: Option<Ref>,
    pub audiences: Vec<String>,
    pub issued_at: i64,
    pub expires: i64,
    /// Seconds after `issued_at` from which the token is stale (projected tokens).
    pub warn_after: Option<i64>,
    pub id: String,
}

impl Claims {
    /// The JWT payload, with keys in the order kube-apiserver writes them (sorted).
    pub fn to_json(&self) -> Value {
        let mut k8s = Map::new();
        k8s.insert("namespace".into(), json!(self.namespace));
        if let Some(n) = &self.node {
            k8s.insert("node".into(), n.to_json());
        }
        if let Some(p) = &self.pod {
            k8s.insert("pod".into(), p.to_json());
        }
        if let Some(s) = &self.secret {
            k8s.insert("secret".into(), s.to_json());
        }
        k8s.insert("serviceaccount".into(), self.service_account.to_json());
        if let Some(w) = self.warn_after {
            k8s.insert("warnafter".into(), json!(self.issued_at + w));
        }
        let mut m = Map::new();
        m.insert("aud".into(), json!(self.audiences));
        m.insert("exp".into(), json!(self.expires));
        m.insert("iat".into(), json!(self.issued_at));
        m.insert("iss".into(), json!(ISSUER));
        m.insert("jti".into(), json!(self.id));
        m.insert("kubernetes.io".into(), Value::Object(k8s));
        m.insert("nbf".into(), json!(self.issued_at));
        m.insert(
            "sub".into(),
            json!(format!(
                "system:serviceaccount:{}:{}",
                self.namespace, self.service_account.name
            )),
        );
        Value::Object(m)
    }
}

fn get(store: &Store, plural: &str, ns: Option<&str>, name: &str) -> Option<std::sync::Arc<Value>> {
    let r = resources::find("", "v1", plural)?;
    store.get(&resources::store_key(r, ns, name))
}

fn invalid(name: &str, field: &str, message: String) -> ApiError {
    ApiError::invalid(
        "TokenRequest",
        "authentication.k8s.io",
        name,
        &[Cause {
            reason: "FieldValueInvalid",
            field: field.into(),
            message,
        }],
    )
}

/// POST `serviceaccounts/NAME/token`: checks the TokenRequest `body`, signs a token
/// and returns the TokenRequest with its status, as kube-apiserver does.
pub fn token_request(
    store: &Store,
    signer: &Signer,
    ns: &str,
    name: &str,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    for (field, want) in [("name", name), ("namespace", ns)] {
        let got = str_at(body, &format!("/metadata/{field}"));
        if !got.is_empty() && got != want {
            return Err(invalid(
                name,
                &format!("metadata.{field}"),
                format!(
                    "Invalid value: {got:?}: must match the service account {field} if specified"
                ),
            ));
        }
    }
    let sa = get(store, "serviceaccounts", Some(ns), name)
        .ok_or_else(|| ApiError::not_found("serviceaccounts", name))?;
    let spec = body.get("spec").cloned().unwrap_or(json!({}));
    let mut audiences: Vec<String> = arr_at(&spec, "/audiences")
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    if audiences.is_empty() {
        audiences = vec![ISSUER.to_string()];
    }
    let expiration = spec
        .get("expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_EXPIRATION);
    if expiration < 600 {
        return Err(invalid(
            "",
            "spec.expirationSeconds",
            format!("Invalid value: {expiration}: may not specify a duration less than 10 minutes"),
        ));
    }
    if expiration > u32::MAX as i64 {
        return Err(invalid(
            "",
            "spec.expirationSeconds",
            format!("Too long: may not be more than {} bytes", u32::MAX),
        ));
    }
    let mut claims = Claims {
        namespace: ns.to_string(),
        service_account: Ref::of(&sa),
        audiences: audiences.clone(),
        issued_at: now.timestamp(),
        id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    let bound = spec.get("boundObjectRef").filter(|b| b.is_object());
    if let Some(r) = bound {
        let kind = str_at(r, "/kind");
        let api_version = str_at(r, "/apiVersion");
        let bname = str_at(r, "/name");
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let uid = match (group, kind) {
            ("", "Pod") => {
                let pod = get(store, "pods", Some(ns), bname)
                    .ok_or_else(|| ApiError::not_found("pods", bname))?;
                if str_at(&pod, "/spec/serviceAccountName") != name {
                    return Err(ApiError::bad_request(format!(
                        "cannot bind token for serviceaccount {name:?} to pod running with different serviceaccount name."
                    )));
                }
                let node = str_at(&pod, "/spec/nodeName");
                if !node.is_empty() {
                    claims.node = Some(match get(store, "nodes", None, node) {
                        Some(n) => Ref::of(&n),
                        None => Ref {
                            name: node.to_string(),
                            uid: String::new(),
                        },
                    });
                }
                claims.pod = Some(Ref::of(&pod));
                str_at(&pod, "/metadata/uid").to_string()
            }
            ("", "Secret") => {
                let s = get(store, "secrets", Some(ns), bname)
                    .ok_or_else(|| ApiError::not_found("secrets", bname))?;
                claims.secret = Some(Ref::of(&s));
                str_at(&s, "/metadata/uid").to_string()
            }
            ("", "Node") => {
                let n = get(store, "nodes", None, bname)
                    .ok_or_else(|| ApiError::not_found("nodes", bname))?;
                claims.node = Some(Ref::of(&n));
                str_at(&n, "/metadata/uid").to_string()
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token to object of type {group}/{version}, Kind={kind}"
                )));
            }
        };
        let want = str_at(r, "/uid");
        if !want.is_empty() && want != uid {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {kind} {bname:?}: the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            ));
        }
    }
    // projected tokens of pods: valid for a year, stale after the hour they asked for
    let mut lifetime = expiration;
    if claims.pod.is_some()
        && expiration == WARN_ONLY_EXPIRATION
        && audiences.iter().all(|a| a == ISSUER)
    {
        claims.warn_after = Some(expiration);
        lifetime = EXTENDED_EXPIRATION;
    }
    claims.expires = claims.issued_at + lifetime;
    let token = signer.sign(&claims.to_json());
    let expires_at = DateTime::<Utc>::from_timestamp(claims.issued_at + expiration, 0)
        .unwrap_or(now)
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut out_spec = json!({"audiences": audiences, "expirationSeconds": expiration});
    if let Some(b) = bound {
        out_spec["boundObjectRef"] = b.clone();
    }
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "creationTimestamp": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        },
        "spec": out_spec,
        "status": {"token": token, "expirationTimestamp": expires_at},
    }))
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub username: String,
    pub namespace: String,
    pub service_account: String,
}

/// Checks a bearer token as kube-apiserver's service-account authenticator does:
/// signature, issuer, audience, times, and that the service account (and the pod,
/// secret or node it is bound to) still exists with the same uid.
pub fn authenticate(
    store: &Store,
    signer: &Signer,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Identity> {
    let Some(c) = signer.verify(token) else {
        bail!("invalid signature");
    };
    if c.get("iss").and_then(Value::as_str) != Some(ISSUER) {
        bail!("unknown issuer");
    }
    let aud_ok = match c.get("aud") {
        Some(Value::String(a)) => a == ISSUER,
        Some(Value::Array(a)) => a.iter().any(|x| x == ISSUER),
        _ => false,
    };
    if !aud_ok {
        bail!("token audiences do not include the API server's");
    }
    let t = now.timestamp();
    let num = |k: &str| c.get(k).and_then(Value::as_i64);
    if num("exp").is_none_or(|e| t >= e + LEEWAY) {
        bail!("Token has expired.");
    }
    if num("nbf").is_some_and(|n| t + LEEWAY < n) || num("iat").is_some_and(|i| t + LEEWAY < i) {
        bail!("Token could not be validated.");
    }
    let k = c
        .get("kubernetes.io")
        .context("not a service-account token")?;
    let ns = str_at(k, "/namespace");
    let sa_name = str_at(k, "/serviceaccount/name");
    let deleted_long_ago = |o: &Value| {
        o.pointer("/metadata/deletionTimestamp")
            .and_then(Value::as_str)
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .is_some_and(|d| d.timestamp() < t - LEEWAY)
    };
    let sa = get(store, "serviceaccounts", Some(ns), sa_name)
        .with_context(|| format!("serviceaccount {ns}/{sa_name} not found"))?;
    if deleted_long_ago(&sa) || str_at(&sa, "/metadata/uid") != str_at(k, "/serviceaccount/uid") {
        bail!("ServiceAccount {ns}/{sa_name} has been deleted");
    }
    for (claim, plural, namespaced) in [
        ("pod", "pods", true),
        ("secret", "secrets", true),
        ("node", "nodes", false),
    ] {
        let Some(r) = k.get(claim) else { continue };
        let name = str_at(r, "/name");
        let obj = get(store, plural, namespaced.then_some(ns), name)
            .context("Token has been invalidated")?;
        let uid = str_at(r, "/uid");
        if deleted_long_ago(&obj) || (!uid.is_empty() && str_at(&obj, "/metadata/uid") != uid) {
            bail!("Token has been invalidated");
        }
    }
    Ok(Identity {
        username: format!("system:serviceaccount:{ns}:{sa_name}"),
        namespace: ns.to_string(),
        service_account: sa_name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let s = Store::open(None).unwrap();
        let put = |plural: &str, ns: Option<&str>, obj: Value| {
            let r = resources::find("", "v1", plural).unwrap();
            s.create(
                &resources::store_key(r, ns, str_at(&obj, "/metadata/name")),
                obj,
            )
            .unwrap();
        };
        put(
            "serviceaccounts",
            Some("default"),
            json!({"metadata": {"name": "default", "namespace": "default", "uid": "sa-uid"}}),
        );
        put(
            "pods",
            Some("default"),
            json!({"metadata": {"name": "p", "namespace": "default", "uid": "pod-uid"},
                   "spec": {"serviceAccountName": "default", "nodeName": "node1"}}),
        );
        put(
            "nodes",
            None,
            json!({"metadata": {"name": "node1", "uid": "node-uid"}}),
        );
        s
    }

    fn decode(token: &str) -> (Value, Value) {
        let p: Vec<&str> = token.split('.').collect();
        let d = |s: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap();
        (d(p[0]), d(p[1]))
    }

    #[test]
    fn tokens_carry_kubernetes_claims_in_upstream_order() {
        let s = store();
        let k = Signer::generate().unwrap();
        let now = Utc::now();
        let tr = token_request(
            &s,
            &k,
            "default",
            "default",
            &json!({"spec": {"expirationSeconds": 600}}),
            now,
        )
        .unwrap();
        assert_eq!(tr["kind"], "TokenRequest");
        assert_eq!(tr["spec"]["audiences"], json!([ISSUER]));
        let token = tr["status"]["token"].as_str().unwrap();
        let (h, c) = decode(token);
        assert_eq!(h["alg"], "ES256");
        assert_eq!(h["kid"], k.key_id());
        let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "aud",
                "exp",
                "iat",
                "iss",
                "jti",
                "kubernetes.io",
                "nbf",
                "sub"
            ]
        );
        assert_eq!(c["sub"], "system:serviceaccount:default:default");
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
        assert_eq!(
            c["kubernetes.io"],
            json!({"namespace": "default", "serviceaccount": {"name": "default", "uid": "sa-uid"}})
        );
        let exp =
            DateTime::parse_from_rfc3339(tr["status"]["expirationTimestamp"].as_str().unwrap())
                .unwrap();
        assert_eq!(exp.timestamp(), now.timestamp() + 600);
        let id = authenticate(&s, &k, token, now).unwrap();
        assert_eq!(id.username, "system:serviceaccount:default:default");
    }

    #[test]
    fn pod_bound_projected_tokens_last_a_year_and_warn_after_the_hour() {
        let s = store();
        let k = Signer::generate().unwrap();
        let now = Utc::now();
        let body = json!({"spec": {"expirationSeconds": 3607, "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"}}});
        let tr = token_request(&s, &k, "default", "default", &body, now).unwrap();
        let (_, c) = decode(tr["status"]["token"].as_str().unwrap());
        let iat = c["iat"].as_i64().unwrap();
        assert_eq!(c["exp"].as_i64().unwrap() - iat, EXTENDED_EXPIRATION);
        assert_eq!(
            c["kubernetes.io"]["warnafter"].as_i64().unwrap(),
            iat + 3607
        );
        assert_eq!(
            c["kubernetes.io"]["pod"],
            json!({"name": "p", "uid": "pod-uid"})
        );
        assert_eq!(
            c["kubernetes.io"]["node"],
            json!({"name": "node1", "uid": "node-uid"})
        );
        // the status says when the kubelet should rotate it, not the extended expiry
        let exp =
            DateTime::parse_from_rfc3339(tr["status"]["expirationTimestamp"].as_str().unwrap())
                .unwrap();
        assert_eq!(exp.timestamp(), iat + 3607);
        // the pod goes: the token goes with it
        let token = tr["status"]["token"].as_str().unwrap();
        assert!(authenticate(&s, &k, token, now).is_ok());
        let r = resources::find("", "v1", "pods").unwrap();
        s.delete(&resources::store_key(r, Some("default"), "p"), None)
            .unwrap();
        assert!(authenticate(&s, &k, token, now).is_err());
    }

    #[test]
    fn requests_are_checked_as_upstream_does() {
        let s = store();
        let k = Signer::generate().unwrap();
        let now = Utc::now();
        let e = token_request(&s, &k, "default", "nosuch", &json!({}), now).unwrap_err();
        assert_eq!(e.message, "serviceaccounts \"nosuch\" not found");
        let e = token_request(
            &s,
            &k,
            "default",
            "default",
            &json!({"spec": {"expirationSeconds": 60}}),
            now,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"
        );
        let body = json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "gone"}}});
        let e = token_request(&s, &k, "default", "default", &body, now).unwrap_err();
        assert_eq!(e.message, "pods \"gone\" not found");
        let body = json!({"spec": {"boundObjectRef": {"kind": "ConfigMap", "apiVersion": "v1", "name": "x"}}});
        let e = token_request(&s, &k, "default", "default", &body, now).unwrap_err();
        assert_eq!(
            e.message,
            "cannot bind token to object of type /v1, Kind=ConfigMap"
        );
        let body = json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "other"}}});
        let e = token_request(&s, &k, "default", "default", &body, now).unwrap_err();
        assert_eq!(e.code, 409);
    }

    #[test]
    fn tampered_expired_foreign_and_other_audience_tokens_are_refused() {
        let s = store();
        let k = Signer::generate().unwrap();
        let now = Utc::now();
        let issue = |body: Value, at: DateTime<Utc>| {
            token_request(&s, &k, "default", "default", &body, at).unwrap()["status"]["token"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let good = issue(json!({}), now);
        assert!(authenticate(&s, &k, &good, now).is_ok());
        // another payload under the same signature
        let parts: Vec<&str> = good.split('.').collect();
        let (_, mut c) = decode(&good);
        c["sub"] = json!("system:serviceaccount:kube-system:admin");
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap()),
            parts[2]
        );
        assert!(authenticate(&s, &k, &forged, now).is_err());
        // another key
        let other = Signer::generate().unwrap();
        assert!(authenticate(&s, &other, &good, now).is_err());
        // expired (past the minute of leeway)
        let old = issue(
            json!({"spec": {"expirationSeconds": 600}}),
            now - chrono::Duration::seconds(700),
        );
        let e = authenticate(&s, &k, &old, now).unwrap_err();
        assert_eq!(e.to_string(), "Token has expired.");
        // for someone else
        let x = issue(json!({"spec": {"audiences": ["vault"]}}), now);
        assert!(authenticate(&s, &k, &x, now).is_err());
        // the service account was recreated: a new uid
        let r = resources::find("", "v1", "serviceaccounts").unwrap();
        let key = resources::store_key(r, Some("default"), "default");
        s.update_with(&key, |o| {
            o["metadata"]["uid"] = json!("new-uid");
            true
        })
        .unwrap();
        assert!(authenticate(&s, &k, &good, now).is_err());
    }

    #[test]
    fn keys_persist() {
        let dir = std::env::temp_dir().join(format!("kinet-sa-{}", uuid::Uuid::new_v4()));
        let a = Signer::load_or_create(&dir).unwrap();
        let b = Signer::load_or_create(&dir).unwrap();
        assert_eq!(a.key_id(), b.key_id());
        let t = a.sign(&json!({"x": 1}));
        assert_eq!(b.verify(&t).unwrap(), json!({"x": 1}));
        let text = std::fs::read_to_string(dir.join("sa.pub")).unwrap();
        assert!(text.starts_with("-----BEGIN PUBLIC KEY-----"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("sa.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
