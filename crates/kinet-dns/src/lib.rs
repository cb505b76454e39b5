//! CoreDNS's pure core for `kinet dns`: the Corefile as CoreDNS parses it
//! ([`corefile`]), the typed plugin configuration ([`config`]) and the
//! Kubernetes DNS-Based Service Discovery records ([`records`]); and the
//! server: the wire ([`server`], with the reusable [`server::Handler`]),
//! the plugin chains ([`chain`], [`plugins`]), the cluster view
//! ([`cluster`]) and the process ([`run`]).

pub mod chain;
pub mod cluster;
pub mod config;
pub mod corefile;
mod http;
pub mod log;
pub mod metrics;
pub mod plugins;
pub mod records;
pub mod run;
pub mod server;

/// MicroK8s's default Corefile (issue 9).
pub const MICROK8S_COREFILE: &str = ".:53 {
    errors
    health {
      lameduck 5s
    }
    ready
    log . {
      class error
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}
";

/// kubeadm's default Corefile.
pub const KUBEADM_COREFILE: &str = ".:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
";
