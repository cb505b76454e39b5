//! Sync timings without criterion: full ruleset generation for 1,000 and
//! 10,000 Services × 2 endpoints, and one incremental change (a Service
//! added) with 10,000 present, in both modes. `cargo bench -p kinet-proxy`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kinet_proxy::fixtures::{ep, service, slice};
use kinet_proxy::model::Cidr;
use kinet_proxy::nftables::NftRuleset;
use kinet_proxy::{Config, ProxyState, Ruleset};

fn objects(n: usize) -> (Vec<Service>, Vec<EndpointSlice>) {
    let mut services = Vec::with_capacity(n);
    let mut slices = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("svc{i}");
        let ip = format!("10.{}.{}.{}", 152 + i / 65536, (i / 256) % 256, i % 256);
        services.push(service("bench", &name, &ip, &[("http", 80, "TCP")]));
        let a = format!("10.1.{}.{}", (2 * i / 256) % 256, (2 * i) % 256);
        let b = format!("10.2.{}.{}", (2 * i / 256) % 256, (2 * i + 1) % 256);
        slices.push(slice(
            "bench",
            &name,
            &format!("{name}-1"),
            &[("http", 8080, "TCP")],
            &[ep(&a, "node1", true), ep(&b, "node2", true)],
        ));
    }
    (services, slices)
}

fn time<T>(label: &str, runs: u32, mut f: impl FnMut() -> T) -> Duration {
    let _ = f();
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed());
        drop(out);
    }
    println!("{label:<60} {:>10.2} ms", best.as_secs_f64() * 1e3);
    best
}

fn main() {
    let mut cfg = Config::new("node1");
    cfg.cluster_cidr = Cidr::parse_net_or_host("10.1.0.0/16");
    for n in [1_000, 10_000] {
        let (services, slices) = objects(n);
        let state = ProxyState::from_objects("node1", &services, &slices);
        time(
            &format!("iptables full sync, {n} services x 2 endpoints"),
            5,
            || Ruleset::build(&state, &cfg).full_restore(&[]),
        );
        time(
            &format!("nftables full sync, {n} services x 2 endpoints"),
            5,
            || NftRuleset::build(&state, &cfg).full_transaction(&cfg, false, &[], &[]),
        );
    }
    let (services, slices) = objects(10_000);
    let base = ProxyState::from_objects("node1", &services, &slices);
    let ipt = Ruleset::build(&base, &cfg);
    let nft = NftRuleset::build(&base, &cfg);
    let extra = service("bench", "added", "10.200.0.1", &[("http", 80, "TCP")]);
    let extra_slice = slice(
        "bench",
        "added",
        "added-1",
        &[("http", 8080, "TCP")],
        &[ep("10.3.0.1", "node1", true), ep("10.3.0.2", "node2", true)],
    );
    let mut state = base.clone();
    let key = state.apply_service(&extra);
    state.apply_slice(&extra_slice);
    let changed = BTreeSet::from([key]);
    time("iptables partial sync: add 1 service to 10000", 5, || {
        let mut rs = ipt.clone();
        let start = Instant::now();
        let delta = rs.update(&state, &cfg, &changed);
        let text = rs.delta_restore(&delta);
        (start.elapsed(), text.len())
    });
    // The clone above is outside what a proxier does; time without it too.
    let mut rs = ipt.clone();
    let start = Instant::now();
    let delta = rs.update(&state, &cfg, &changed);
    let text = rs.delta_restore(&delta);
    println!(
        "{:<60} {:>10.2} ms ({} bytes of restore input)",
        "iptables partial sync (no clone), one run",
        start.elapsed().as_secs_f64() * 1e3,
        text.len()
    );
    let mut rs = nft.clone();
    let start = Instant::now();
    let sync = rs.update(&state, &cfg, &changed);
    println!(
        "{:<60} {:>10.3} ms ({} lines of nft input)",
        "nftables incremental sync: add 1 service to 10000",
        start.elapsed().as_secs_f64() * 1e3,
        sync.transaction.lines().count()
    );
}
