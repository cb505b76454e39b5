//! `kinet proxy`: kube-proxy as a DaemonSet pod runs it. It reads its
//! KubeProxyConfiguration (`--config`), talks to the API as any in-cluster
//! client (`kube::Config::infer`: KUBERNETES_SERVICE_HOST/PORT and the
//! service-account token), watches Services, EndpointSlices and its own
//! Node with kube-runtime watchers (relisting after errors with back-off),
//! and once every cache is synced programs the node it runs in (hostNetwork)
//! with the pure core's rulesets: one `iptables-restore --noflush` or
//! `nft -f -` transaction per sync, partial syncs of only what changed, a
//! full one every syncPeriod and after a failure, never more often than
//! minSyncPeriod.

pub mod apply;
pub mod config;
pub mod health;
pub mod klog;
mod proxier;
mod sync;

use std::process::ExitCode;

pub use config::{Flags, Mode, ProxyConfig};

/// `kinet proxy [flags]`: runs until killed; exit 1 on a bad configuration.
pub fn main(args: Vec<String>) -> ExitCode {
    let flags = match config::parse_flags(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return ExitCode::from(1);
        }
    };
    klog::set_verbosity(flags.verbosity);
    let text = match &flags.config {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                klog::error(
                    "run.go:72",
                    "command failed",
                    &[("err", &format!("failed to read config file {path:?}: {e}"))],
                );
                return ExitCode::from(1);
            }
        },
        None => String::new(),
    };
    let cfg = match ProxyConfig::load(&text, &flags) {
        Ok(c) => c,
        Err(e) => {
            klog::error("run.go:72", "command failed", &[("err", &format!("{e:#}"))]);
            return ExitCode::from(1);
        }
    };
    if let Err(e) = check_mode(cfg.mode) {
        klog::error("run.go:72", "command failed", &[("err", &e)]);
        return ExitCode::from(1);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            klog::error("run.go:72", "command failed", &[("err", &e)]);
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(sync::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            klog::error("run.go:72", "command failed", &[("err", &format!("{e:#}"))]);
            ExitCode::from(1)
        }
    }
}

/// Can this kernel run `mode`? kinet implements iptables and nftables; ipvs
/// needs the kernel's ip_vs, and kinet has no IPVS proxier either way.
pub fn check_mode(mode: Mode) -> Result<(), String> {
    if mode != Mode::Ipvs {
        return Ok(());
    }
    if !std::path::Path::new("/proc/net/ip_vs").exists() {
        return Err("can't use the IPVS proxier: the kernel has no ip_vs support (/proc/net/ip_vs is missing); set mode to \"iptables\" or \"nftables\" in the kube-proxy ConfigMap".into());
    }
    Err("can't use the IPVS proxier: kinet's kube-proxy implements only the iptables and nftables modes; set mode to \"iptables\" or \"nftables\" in the kube-proxy ConfigMap".into())
}
