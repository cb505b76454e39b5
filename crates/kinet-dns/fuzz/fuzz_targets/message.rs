//! Any bytes as a query: decoded as the server decodes them, served by a
//! chain with the kubernetes and hosts plugins over a small cluster, and
//! the answer encoded for a 512-byte UDP client. Run by hand, for a bounded
//! time: `cd crates/kinet-dns/fuzz && cargo +nightly fuzz run message -- -max_total_time=600`.
#![no_main]

use std::sync::OnceLock;

use kinet_dns::chain::{Dispatch, Zone};
use kinet_dns::cluster::ClusterView;
use kinet_dns::plugins::{self, Context};
use kinet_dns::server::{self, Proto, Request};
use libfuzzer_sys::fuzz_target;

fn dispatch() -> &'static Dispatch {
    static D: OnceLock<Dispatch> = OnceLock::new();
    D.get_or_init(|| {
        let services = serde_json::from_value(serde_json::json!([
            {"metadata": {"name": "kubernetes", "namespace": "default"},
             "spec": {"clusterIP": "10.152.183.1", "ports": [{"name": "https", "port": 443}]}},
            {"metadata": {"name": "web", "namespace": "default"},
             "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}},
            {"metadata": {"name": "ext", "namespace": "default"},
             "spec": {"type": "ExternalName", "externalName": "web.default.svc.cluster.local"}}
        ]))
        .unwrap_or_default();
        let slices = serde_json::from_value(serde_json::json!([
            {"metadata": {"name": "web-1", "namespace": "default",
                          "labels": {"kubernetes.io/service-name": "web"}},
             "addressType": "IPv4",
             "endpoints": [{"addresses": ["10.1.1.5"], "hostname": "web-0"},
                           {"addresses": ["10.1.2.6"]}]}
        ]))
        .unwrap_or_default();
        let view = ClusterView::fixed(services, slices, vec![]);
        let text = ".:53 {\n errors\n loadbalance\n rewrite name w.example web.default.svc.cluster.local\n hosts /nonexistent {\n  192.0.2.1 a.example\n  fallthrough\n }\n kubernetes cluster.local in-addr.arpa ip6.arpa {\n  pods insecure\n }\n}\n";
        let servers = kinet_dns::config::load(text, &|_| None).unwrap_or_default();
        let mut zones = Vec::new();
        for s in &servers {
            for k in &s.keys {
                let ctx = Context {
                    view: view.clone(),
                    server: "dns://.:53".into(),
                    zone: k.zone.clone(),
                    listen: "127.0.0.1:53".parse().unwrap(),
                };
                if let Ok(chain) = plugins::build(s, &ctx) {
                    zones.push(Zone {
                        zone: k.zone.clone(),
                        server: ctx.server.clone(),
                        chain: chain.into(),
                    });
                }
            }
        }
        Dispatch {
            addr: "127.0.0.1:53".parse().unwrap(),
            zones,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = server::decode(data) else {
        return;
    };
    for proto in [Proto::Udp, Proto::Tcp] {
        let req = Request {
            msg: msg.clone(),
            size: data.len(),
            peer: "10.1.0.5:45678".parse().unwrap(),
            local: "10.1.0.2:53".parse().unwrap(),
            proto,
            answered_by: Default::default(),
        };
        let q = req.clone();
        if let Some(mut resp) = futures::executor::block_on(dispatch().serve(req)) {
            let wire = server::encode(&q.msg, q.bufsize(), &mut resp);
            assert!(proto == Proto::Tcp || wire.len() <= usize::from(q.bufsize()));
        }
    }
});
