//! `kinet enable ADDON`, `kinet disable ADDON` and the addons part of `kinet
//! status`, as `microk8s enable|disable|status` give them. An addon's objects
//! are created and deleted through the API; the lab's `addons.json` records
//! which are on, so the daemon restores them (when missing) at its next start.

use std::process::ExitCode;

use anyhow::{Result, bail};
use serde_json::Value;

use crate::client::Client;
use crate::paths::Paths;
use crate::system::{self, ADDONS};

/// `kinet enable NAME` (on) or `kinet disable NAME`.
pub fn switch(lab: &str, name: &str, on: bool) -> ExitCode {
    match switch_inner(lab, name, on) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn switch_inner(lab: &str, name: &str, on: bool) -> Result<()> {
    let Some(addon) = system::addon(name) else {
        let known: Vec<&str> = ADDONS.iter().map(|a| a.name).collect();
        bail!(
            "Addon {name} was not found in any repository\nAvailable addons: {}",
            known.join(", ")
        );
    };
    let p = Paths::new(lab);
    if p.daemon_pid().is_none() {
        bail!("Lab {lab:?} is not running (kinet up starts it)");
    }
    let mut set = system::enabled(&p);
    if set.contains(name) == on {
        println!(
            "Addon core/{name} is already {}",
            if on { "enabled" } else { "disabled" }
        );
        return Ok(());
    }
    let objects = system::addon_objects(addon, kinet_model::lab::node_ip(1))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let c = Client::for_lab(&p)?;
    if on {
        println!("Enabling {}", addon.title);
        println!("Applying manifest");
        rt.block_on(async {
            for obj in &objects {
                println!("{}", c.apply(obj).await?);
            }
            anyhow::Ok(())
        })?;
        set.insert(name.to_string());
    } else {
        println!("Disabling {}", addon.title);
        println!("Removing {} manifest", addon.title);
        rt.block_on(async {
            for obj in objects.iter().rev() {
                if let Some(line) = delete(&c, obj).await? {
                    println!("{line}");
                }
            }
            anyhow::Ok(())
        })?;
        set.remove(name);
    }
    system::save_enabled(&p, &set)?;
    println!(
        "{} is {}",
        addon.title,
        if on { "enabled" } else { "disabled" }
    );
    Ok(())
}

/// Deletes one object, as `kubectl delete -f` reports it (`service "kube-dns" deleted`);
/// None when it was already gone.
async fn delete(c: &Client, obj: &Value) -> Result<Option<String>> {
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    let Some(r) = kinet_model::resources::for_kind(api_version, kind) else {
        bail!("no resource for kind {kind:?} in version {api_version:?}");
    };
    let name = kinet_model::json::name(obj);
    let ns = kinet_model::json::namespace(obj);
    let ns = if ns.is_empty() { "default" } else { ns };
    let path = format!(
        "{}/{name}",
        kinet_apiserver::discovery::collection_path(r, ns)
    );
    let body = br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}"#;
    let (code, v) = c
        .request("DELETE", &path, "application/json", Some(body.to_vec()))
        .await?;
    // kubectl's resource.group form: `deployment.apps`, `service`
    let what = if r.group.is_empty() {
        r.singular.to_string()
    } else {
        format!("{}.{}", r.singular, r.group)
    };
    match code {
        200 | 202 => Ok(Some(format!("{what} \"{name}\" deleted"))),
        404 => Ok(None),
        _ => bail!("{}", v["message"].as_str().unwrap_or("delete failed")),
    }
}

/// The addons block of `kinet status`, as `microk8s status` prints it.
pub fn status_lines(p: &Paths) -> Vec<String> {
    let set = system::enabled(p);
    let mut out = vec!["addons:".to_string()];
    for (on, title) in [(true, "enabled"), (false, "disabled")] {
        out.push(format!("  {title}:"));
        for a in ADDONS.iter().filter(|a| set.contains(a.name) == on) {
            out.push(format!("    {:<20} # (core) {}", a.name, a.description));
        }
    }
    out
}
