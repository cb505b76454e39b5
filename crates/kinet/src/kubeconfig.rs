//! Kubeconfig files: the lab's own, and its context merged into the user's.

use crate::paths::Paths;
use anyhow::Result;
use base64::Engine;
use serde_yaml::Value;
use std::path::PathBuf;

pub fn standalone(p: &Paths, port: u16, ca_pem: &str, token: &str) -> String {
    let ctx = p.context();
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: https://127.0.0.1:{port}\n  name: {ctx}\ncontexts:\n- context:\n    cluster: {ctx}\n    user: {ctx}\n  name: {ctx}\ncurrent-context: {ctx}\npreferences: {{}}\nusers:\n- name: {ctx}\n  user:\n    token: {token}\n"
    )
}

/// The user's kubeconfig: the first path of $KUBECONFIG, or ~/.kube/config.
pub fn user_path() -> PathBuf {
    if let Some(k) = std::env::var_os("KUBECONFIG").filter(|k| !k.is_empty()) {
        let s = k.to_string_lossy().to_string();
        return PathBuf::from(s.split(':').next().unwrap_or(&s));
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".kube").join("config")
}

fn upsert(list: &mut Value, key: &str, name: &str, entry: Value) {
    if !list.is_sequence() {
        *list = Value::Sequence(vec![]);
    }
    let seq = list.as_sequence_mut().unwrap();
    seq.retain(|e| e.get("name").and_then(Value::as_str) != Some(name));
    let mut m = serde_yaml::Mapping::new();
    m.insert(Value::from(key), entry);
    m.insert(Value::from("name"), Value::from(name));
    seq.push(Value::Mapping(m));
}

/// Merges the lab's context into the user's kubeconfig and makes it current.
pub fn merge_into_user(p: &Paths) -> Result<PathBuf> {
    let lab: Value = serde_yaml::from_str(&std::fs::read_to_string(p.kubeconfig())?)?;
    let path = user_path();
    let mut cfg: Value = match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => serde_yaml::from_str(&t)?,
        _ => serde_yaml::from_str("apiVersion: v1\nkind: Config\npreferences: {}\n")?,
    };
    let ctx = p.context();
    let pick = |k: &str, inner: &str| lab[k][0][inner].clone();
    upsert(
        &mut cfg["clusters"],
        "cluster",
        &ctx,
        pick("clusters", "cluster"),
    );
    upsert(&mut cfg["users"], "user", &ctx, pick("users", "user"));
    upsert(
        &mut cfg["contexts"],
        "context",
        &ctx,
        pick("contexts", "context"),
    );
    cfg["current-context"] = Value::from(ctx);
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(&path, serde_yaml::to_string(&cfg)?)?;
    Ok(path)
}

/// Removes the lab's context from the user's kubeconfig.
pub fn remove_from_user(p: &Paths) -> Result<()> {
    let path = user_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let mut cfg: Value = serde_yaml::from_str(&text)?;
    let ctx = p.context();
    let mut changed = false;
    for k in ["clusters", "users", "contexts"] {
        if let Some(seq) = cfg.get_mut(k).and_then(Value::as_sequence_mut) {
            let before = seq.len();
            seq.retain(|e| e.get("name").and_then(Value::as_str) != Some(ctx.as_str()));
            changed |= seq.len() != before;
        }
    }
    if cfg.get("current-context").and_then(Value::as_str) == Some(ctx.as_str()) {
        cfg["current-context"] = Value::from("");
        changed = true;
    }
    if changed {
        std::fs::write(&path, serde_yaml::to_string(&cfg)?)?;
    }
    Ok(())
}
