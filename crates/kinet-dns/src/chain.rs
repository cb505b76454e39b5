//! The plugin chain of each server block, in CoreDNS's plugin order (its
//! plugin.cfg, [`corefile::DIRECTIVES`]) rather than the Corefile's, and the
//! per-port dispatch to the server block whose zone matches the question
//! best (REFUSED when none does).

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use hickory_proto::op::{Message, ResponseCode};

use crate::config::{self, in_zone};
use crate::corefile::DIRECTIVES;
use crate::server::Request;

/// What a plugin returns when it wrote no response: the rcode the server
/// answers with, and the error the `errors` plugin logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub rcode: ResponseCode,
    pub error: Option<String>,
}

impl Failure {
    pub fn new(rcode: ResponseCode, error: impl Into<String>) -> Failure {
        Failure {
            rcode,
            error: Some(error.into()),
        }
    }

    /// The reply the server sends for this failure.
    pub fn reply(&self, req: &Request) -> Message {
        let mut m = req.reply();
        m.set_response_code(self.rcode);
        m
    }
}

pub type Outcome = Result<Message, Failure>;

/// One plugin of a chain (CoreDNS's plugin.Handler).
pub trait Plugin: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Answers or passes to `next`.
    fn serve<'a>(&'a self, req: Arc<Request>, next: Next) -> BoxFuture<'a, Outcome>;
    /// `Some(ready)` for plugins the ready plugin asks.
    fn ready(&self) -> Option<bool> {
        None
    }
    /// Called once the chain's server listens.
    fn on_startup(&self) {}
}

/// The rest of a chain after the current plugin.
#[derive(Clone)]
pub struct Next {
    chain: Arc<[Box<dyn Plugin>]>,
    at: usize,
    /// The plugin calling (for "no next plugin found").
    caller: &'static str,
}

impl Next {
    /// The whole chain, from its first plugin.
    pub fn start(chain: Arc<[Box<dyn Plugin>]>) -> Next {
        Next {
            chain,
            at: 0,
            caller: "",
        }
    }

    /// Runs the next plugin (plugin.NextOrFailure).
    pub fn serve(self, req: Arc<Request>) -> BoxFuture<'static, Outcome> {
        Box::pin(async move {
            let Some(p) = self.chain.get(self.at) else {
                return Err(Failure::new(
                    ResponseCode::ServFail,
                    format!("plugin/{}: no next plugin found", self.caller),
                ));
            };
            let next = Next {
                chain: self.chain.clone(),
                at: self.at + 1,
                caller: p.name(),
            };
            p.serve(req, next).await
        })
    }

    pub fn is_empty(&self) -> bool {
        self.at >= self.chain.len()
    }
}

/// The position of a plugin in CoreDNS's execution order.
pub fn order(name: &str) -> usize {
    DIRECTIVES
        .iter()
        .position(|d| *d == name)
        .unwrap_or(DIRECTIVES.len())
}

/// The name of a configured plugin.
pub fn plugin_name(p: &config::Plugin) -> &str {
    use config::Plugin as P;
    match p {
        P::Kubernetes(_) => "kubernetes",
        P::Forward(_) => "forward",
        P::Cache(_) => "cache",
        P::Log(_) => "log",
        P::Errors => "errors",
        P::Health { .. } => "health",
        P::Ready { .. } => "ready",
        P::Reload { .. } => "reload",
        P::Loop => "loop",
        P::LoadBalance => "loadbalance",
        P::Hosts(_) => "hosts",
        P::Rewrite(_) => "rewrite",
        P::Prometheus { .. } => "prometheus",
        P::Other(d) => &d.name,
    }
}

/// A server block's plugins sorted into execution order (stable, so two
/// `rewrite` lines keep the Corefile's order among themselves).
pub fn sorted(plugins: &[config::Plugin]) -> Vec<&config::Plugin> {
    let mut v: Vec<&config::Plugin> = plugins.iter().collect();
    v.sort_by_key(|p| order(plugin_name(p)));
    v
}

/// One server block's chain for one zone.
pub struct Zone {
    /// Lower case, fully qualified.
    pub zone: String,
    /// `dns://:PORT` as CoreDNS names the server in metrics.
    pub server: String,
    pub chain: Arc<[Box<dyn Plugin>]>,
}

/// Every chain served on one address.
pub struct Dispatch {
    pub addr: SocketAddr,
    pub zones: Vec<Zone>,
}

impl Dispatch {
    /// The zone whose chain serves `name` (the longest match).
    pub fn zone_for(&self, name: &str) -> Option<&Zone> {
        self.zones
            .iter()
            .filter(|z| in_zone(name, &z.zone))
            .max_by_key(|z| z.zone.len())
    }

    /// Serves a request through the matching chain; failures become replies.
    pub async fn serve(&self, req: Request) -> Option<Message> {
        let name = req.name();
        let Some(zone) = self.zone_for(&name) else {
            let mut m = req.reply();
            m.set_response_code(ResponseCode::Refused);
            return Some(m);
        };
        let req = Arc::new(req);
        match Next::start(zone.chain.clone()).serve(req.clone()).await {
            Ok(m) => Some(m),
            Err(f) => Some(f.reply(&req)),
        }
    }

    /// Whether every plugin that reports readiness is ready, and the names of those not.
    pub fn not_ready(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for z in &self.zones {
            for p in z.chain.iter() {
                if p.ready() == Some(false) && !out.contains(&p.name()) {
                    out.push(p.name());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_run_in_coredns_order_not_the_corefiles() {
        let servers = config::load(crate::MICROK8S_COREFILE, &|_| None).unwrap();
        let names: Vec<&str> = sorted(&servers[0].plugins)
            .into_iter()
            .map(plugin_name)
            .collect();
        assert_eq!(
            names,
            [
                "reload",
                "ready",
                "health",
                "prometheus",
                "errors",
                "log",
                "loadbalance",
                "cache",
                "kubernetes",
                "loop",
                "forward"
            ]
        );
    }

    #[test]
    fn rewrite_runs_before_kubernetes_and_after_cache() {
        let text = ".:53 {\n forward . 127.0.0.1\n rewrite name a.example. b.example.\n cache\n}\n";
        let servers = config::load(text, &|_| None).unwrap();
        let names: Vec<&str> = sorted(&servers[0].plugins)
            .into_iter()
            .map(plugin_name)
            .collect();
        assert_eq!(names, ["cache", "rewrite", "forward"]);
    }
}
