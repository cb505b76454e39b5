//! kube-proxy's command line and its `KubeProxyConfiguration`
//! (kubeproxy.config.k8s.io/v1alpha1), with upstream's defaults and its
//! validation messages for what kinet reads.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::model::Cidr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Iptables,
    Nftables,
    Ipvs,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Iptables => "iptables",
            Mode::Nftables => "nftables",
            Mode::Ipvs => "ipvs",
        }
    }
}

/// The flags kube-proxy is started with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub config: Option<String>,
    pub hostname_override: Option<String>,
    pub verbosity: u8,
    /// `--cluster-cidr`, `--proxy-mode`: override the file as upstream's flags do.
    pub cluster_cidr: Option<String>,
    pub proxy_mode: Option<String>,
    pub healthz_bind_address: Option<String>,
    pub metrics_bind_address: Option<String>,
}

/// Parses `--name=value` / `--name value` flags as kube-proxy's pflag does.
pub fn parse_flags(args: &[String]) -> Result<Flags> {
    let mut f = Flags::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            bail!("unknown command {arg:?} for \"kube-proxy\"");
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let mut value = || -> Result<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .with_context(|| format!("flag needs an argument: --{name}")),
            }
        };
        match name {
            "config" => f.config = Some(value()?),
            "hostname-override" => f.hostname_override = Some(value()?),
            "v" => {
                let v = value()?;
                f.verbosity = v
                    .parse()
                    .with_context(|| format!("invalid argument {v:?} for \"-v, --v\" flag"))?;
            }
            "cluster-cidr" => f.cluster_cidr = Some(value()?),
            "proxy-mode" => f.proxy_mode = Some(value()?),
            "healthz-bind-address" => f.healthz_bind_address = Some(value()?),
            "metrics-bind-address" => f.metrics_bind_address = Some(value()?),
            _ => bail!("unknown flag: --{name}"),
        }
    }
    Ok(f)
}

/// What kinet's kube-proxy reads of its configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyConfig {
    pub mode: Mode,
    pub hostname_override: Option<String>,
    pub cluster_cidr: Option<Cidr>,
    pub sync_period: Duration,
    pub min_sync_period: Duration,
    pub masquerade_all: bool,
    pub masquerade_bit: u8,
    pub healthz_bind_address: String,
    pub metrics_bind_address: String,
    /// conntrack.tcpBeLiberal.
    pub conntrack_tcp_be_liberal: bool,
}

impl Default for ProxyConfig {
    fn default() -> ProxyConfig {
        ProxyConfig {
            mode: Mode::Iptables,
            hostname_override: None,
            cluster_cidr: None,
            sync_period: Duration::from_secs(30),
            min_sync_period: Duration::from_secs(1),
            masquerade_all: false,
            masquerade_bit: 14,
            healthz_bind_address: "0.0.0.0:10256".into(),
            metrics_bind_address: "127.0.0.1:10249".into(),
            conntrack_tcp_be_liberal: false,
        }
    }
}

/// Go's `time.ParseDuration` for what configs hold: `30s`, `1m0s`, `500ms`, `1h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Some(Duration::from_secs_f64(total))
}

fn duration_at(v: &Value, pointer: &str) -> Result<Option<Duration>> {
    match v.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => parse_duration(s)
            .map(Some)
            .with_context(|| format!("time: invalid duration {s:?}")),
        Some(other) => bail!("invalid duration {other} at {pointer}"),
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

impl ProxyConfig {
    /// Parses the YAML (or JSON) of a KubeProxyConfiguration, then applies `flags`.
    pub fn load(text: &str, flags: &Flags) -> Result<ProxyConfig> {
        let v: Value = if text.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_yaml::from_str(text).context("failed to decode the configuration")?
        };
        if let Some(kind) = str_at(&v, "/kind")
            && kind != "KubeProxyConfiguration"
        {
            bail!(
                "no kind {kind:?} is registered for version \"kubeproxy.config.k8s.io/v1alpha1\""
            );
        }
        let mut c = ProxyConfig::default();
        let mode = flags
            .proxy_mode
            .as_deref()
            .or_else(|| str_at(&v, "/mode"))
            .unwrap_or("");
        c.mode = match mode {
            "" | "iptables" => Mode::Iptables,
            "nftables" => Mode::Nftables,
            "ipvs" => Mode::Ipvs,
            other => bail!(
                "invalid configuration: KubeProxyConfiguration.mode: Invalid value: {other:?}: must be iptables, ipvs, nftables or blank (blank means the best-available proxy [currently iptables])"
            ),
        };
        c.hostname_override = flags
            .hostname_override
            .clone()
            .or_else(|| str_at(&v, "/hostnameOverride").map(str::to_string))
            .filter(|h| !h.trim().is_empty())
            .map(|h| h.trim().to_lowercase());
        if let Some(cidr) = flags
            .cluster_cidr
            .as_deref()
            .or_else(|| str_at(&v, "/clusterCIDR"))
            .filter(|s| !s.is_empty())
        {
            // Dual stack lists "v4,v6": the lab is IPv4, take the IPv4 one.
            let first = cidr.split(',').find(|s| !s.contains(':')).unwrap_or(cidr);
            c.cluster_cidr = Some(Cidr::parse_net_or_host(first.trim()).with_context(|| {
                format!("invalid configuration: KubeProxyConfiguration.clusterCIDR: Invalid value: {cidr:?}: must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48)")
            })?);
        }
        let (sync, min_sync, masq_all, masq_bit) = match c.mode {
            Mode::Nftables => (
                "/nftables/syncPeriod",
                "/nftables/minSyncPeriod",
                "/nftables/masqueradeAll",
                "/nftables/masqueradeBit",
            ),
            Mode::Iptables | Mode::Ipvs => (
                "/iptables/syncPeriod",
                "/iptables/minSyncPeriod",
                "/iptables/masqueradeAll",
                "/iptables/masqueradeBit",
            ),
        };
        if let Some(d) = duration_at(&v, sync)? {
            if d.is_zero() {
                bail!(
                    "invalid configuration: KubeProxyConfiguration.{}.syncPeriod: Invalid value: \"0s\": must be greater than 0",
                    c.mode.as_str()
                );
            }
            c.sync_period = d;
        }
        if let Some(d) = duration_at(&v, min_sync)? {
            c.min_sync_period = d;
        }
        c.masquerade_all = v
            .pointer(masq_all)
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if let Some(bit) = v.pointer(masq_bit).and_then(Value::as_u64) {
            if bit > 31 {
                bail!(
                    "invalid configuration: KubeProxyConfiguration.{}.masqueradeBit: Invalid value: {bit}: must be within the range [0, 31]",
                    c.mode.as_str()
                );
            }
            c.masquerade_bit = bit as u8;
        }
        if let Some(a) = flags
            .healthz_bind_address
            .as_deref()
            .or_else(|| str_at(&v, "/healthzBindAddress"))
            .filter(|s| !s.is_empty())
        {
            c.healthz_bind_address = a.to_string();
        }
        if let Some(a) = flags
            .metrics_bind_address
            .as_deref()
            .or_else(|| str_at(&v, "/metricsBindAddress"))
            .filter(|s| !s.is_empty())
        {
            c.metrics_bind_address = a.to_string();
        }
        c.conntrack_tcp_be_liberal = v
            .pointer("/conntrack/tcpBeLiberal")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(c)
    }
}

/// A bind address as upstream accepts it: `IP:PORT`, or `IP` alone (the default port).
pub fn bind_address(addr: &str, default_port: u16) -> Option<std::net::SocketAddr> {
    if let Ok(sa) = addr.parse() {
        return Some(sa);
    }
    let ip: std::net::IpAddr = addr.parse().ok()?;
    Some(std::net::SocketAddr::new(ip, default_port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn flags_as_pflag() {
        let f = parse_flags(&args(
            "--config=/var/lib/kube-proxy/config.conf --hostname-override node1 --v=2",
        ))
        .unwrap();
        assert_eq!(f.config.as_deref(), Some("/var/lib/kube-proxy/config.conf"));
        assert_eq!(f.hostname_override.as_deref(), Some("node1"));
        assert_eq!(f.verbosity, 2);
        assert!(parse_flags(&args("--bogus=1")).is_err());
        assert!(parse_flags(&args("--config")).is_err());
    }

    #[test]
    fn durations_as_go() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m0s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h2m"), Some(Duration::from_secs(3720)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration(""), None);
    }

    const CONF: &str = "\
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clusterCIDR: 10.1.0.0/16
iptables:
  syncPeriod: 10s
  minSyncPeriod: 0s
nftables:
  syncPeriod: 20s
  minSyncPeriod: 2s
  masqueradeAll: true
healthzBindAddress: 0.0.0.0:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  tcpBeLiberal: true
";

    #[test]
    fn configuration_is_read_for_its_mode() {
        let c = ProxyConfig::load(CONF, &Flags::default()).unwrap();
        assert_eq!(c.mode, Mode::Nftables);
        assert_eq!(c.cluster_cidr.unwrap().to_string(), "10.1.0.0/16");
        assert_eq!(c.sync_period, Duration::from_secs(20));
        assert_eq!(c.min_sync_period, Duration::from_secs(2));
        assert!(c.masquerade_all && c.conntrack_tcp_be_liberal);
        let flags = Flags {
            proxy_mode: Some("iptables".into()),
            ..Flags::default()
        };
        let c = ProxyConfig::load(CONF, &flags).unwrap();
        assert_eq!(c.mode, Mode::Iptables);
        assert_eq!(c.sync_period, Duration::from_secs(10));
        assert_eq!(c.min_sync_period, Duration::ZERO);
        assert!(!c.masquerade_all);
    }

    #[test]
    fn blank_is_iptables_and_unknown_modes_fail_as_upstream() {
        let c = ProxyConfig::load("mode: \"\"\n", &Flags::default()).unwrap();
        assert_eq!(c.mode, Mode::Iptables);
        assert_eq!(c.sync_period, Duration::from_secs(30));
        let e = ProxyConfig::load("mode: userspace\n", &Flags::default()).unwrap_err();
        assert!(
            e.to_string()
                .contains("KubeProxyConfiguration.mode: Invalid value: \"userspace\"")
        );
        assert!(ProxyConfig::load("clusterCIDR: nope\n", &Flags::default()).is_err());
    }

    #[test]
    fn bind_addresses() {
        assert_eq!(
            bind_address("0.0.0.0:10256", 10256).unwrap().to_string(),
            "0.0.0.0:10256"
        );
        assert_eq!(
            bind_address("127.0.0.1", 10249).unwrap().to_string(),
            "127.0.0.1:10249"
        );
        assert!(bind_address("nope", 1).is_none());
    }
}
