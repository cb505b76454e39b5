use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::cache::{Item, cache_ttl, minimal_ttl};
use super::*;
use crate::server::{Proto, Request};

fn req(name: &str, t: RecordType) -> Request {
    let mut m = Message::new();
    m.set_id(1234).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    Request {
        msg: m,
        size: 54,
        peer: "10.1.0.5:45678".parse().unwrap(),
        local: "10.1.0.2:53".parse().unwrap(),
        proto: Proto::Udp,
        answered_by: Default::default(),
    }
}

fn a(name: &str, ttl: u32) -> Record {
    Record::from_rdata(
        Name::from_ascii(name).unwrap(),
        ttl,
        RData::A(A(Ipv4Addr::new(10, 152, 183, 1))),
    )
}

fn soa(ttl: u32, minimum: u32) -> Record {
    Record::from_rdata(
        Name::from_ascii("cluster.local.").unwrap(),
        ttl,
        RData::SOA(SOA::new(
            Name::from_ascii("ns.dns.cluster.local.").unwrap(),
            Name::from_ascii("hostmaster.cluster.local.").unwrap(),
            1,
            7200,
            1800,
            86400,
            minimum,
        )),
    )
}

#[test]
fn log_line_is_coredns_common_format() {
    let r = req("kubernetes.default.svc.cluster.local.", RecordType::A);
    let mut resp = r.reply();
    resp.set_authoritative(true);
    resp.add_answer(a("kubernetes.default.svc.cluster.local.", 5));
    let line = log_line(COMMON_LOG_FORMAT, &r, &resp, 106, 0.000123);
    assert_eq!(
        line,
        "10.1.0.5:45678 - 1234 \"A IN kubernetes.default.svc.cluster.local. udp 54 false 512\" NOERROR qr,aa,rd 106 0.000123s"
    );
    let mut r6 = req("X.example.", RecordType::AAAA);
    r6.peer = "[fd00::5]:53000".parse().unwrap();
    r6.proto = Proto::Tcp;
    let mut resp = r6.reply();
    resp.set_response_code(ResponseCode::NXDomain)
        .set_recursion_available(true);
    let line = log_line("{common}", &r6, &resp, 40, 0.5);
    assert_eq!(
        line,
        "[fd00::5]:53000 - 1234 \"AAAA IN x.example. tcp 54 false 65535\" NXDOMAIN qr,rd,ra 40 0.5s"
    );
}

#[test]
fn classes_follow_typify() {
    let r = req("a.cluster.local.", RecordType::A);
    let mut m = r.reply();
    m.add_answer(a("a.cluster.local.", 5));
    assert_eq!(classify(typify(&m)), LogClass::Success);
    let mut m = r.reply();
    m.add_name_server(soa(5, 5));
    assert_eq!(typify(&m), RespType::NoData);
    assert_eq!(classify(typify(&m)), LogClass::Denial);
    m.set_response_code(ResponseCode::NXDomain);
    assert_eq!(typify(&m), RespType::NameError);
    let mut m = r.reply();
    m.set_response_code(ResponseCode::ServFail);
    assert_eq!(classify(typify(&m)), LogClass::Error);
    m.set_response_code(ResponseCode::Refused);
    assert_eq!(classify(typify(&m)), LogClass::Error);
}

fn cache_cfg() -> config::Cache {
    match config::load(".:53 {\n cache 30\n}\n", &|_| None).unwrap()[0].plugins[0].clone() {
        config::Plugin::Cache(c) => c,
        _ => unreachable!(),
    }
}

#[test]
fn cache_ttls_are_bounded_by_the_configured_maximum_and_minimum() {
    let c = cache_cfg();
    let r = req("example.com.", RecordType::A);
    let mut m = r.reply();
    m.add_answer(a("example.com.", 300));
    assert_eq!(cache_ttl(&c, &m), Some((30, true)));
    let mut m = r.reply();
    m.add_answer(a("example.com.", 2));
    assert_eq!(cache_ttl(&c, &m), Some((5, true)), "min TTL 5");
    // Denial: the SOA's min(TTL, MINIMUM).
    let mut m = r.reply();
    m.set_response_code(ResponseCode::NXDomain);
    m.add_name_server(soa(20, 10));
    assert_eq!(minimal_ttl(&m, typify(&m)), 10);
    assert_eq!(cache_ttl(&c, &m), Some((10, false)));
    // SERVFAIL and truncated answers are not cached.
    let mut m = r.reply();
    m.set_response_code(ResponseCode::ServFail);
    assert_eq!(cache_ttl(&c, &m), None);
    let mut m = r.reply();
    m.add_answer(a("example.com.", 300));
    m.set_truncated(true);
    assert_eq!(cache_ttl(&c, &m), None);
}

#[test]
fn cached_ttls_count_down() {
    let r = req("Example.com.", RecordType::A);
    let now = Instant::now();
    let item = Item {
        rcode: ResponseCode::NoError,
        ra: true,
        ad: false,
        answer: vec![a("example.com.", 30)],
        ns: vec![],
        extra: vec![],
        orig_ttl: 30,
        stored: now - Duration::from_secs(12),
        freq: (now, 0),
    };
    assert_eq!(item.ttl(now), 18);
    let m = item.to_msg(&r, 18);
    assert_eq!(m.answers()[0].ttl(), 18);
    assert_eq!(m.id(), 1234);
    assert!(m.authoritative());
    assert_eq!(m.queries()[0].name().to_ascii(), "Example.com.");
    assert_eq!(item.ttl(now + Duration::from_secs(20)), -2);
}

#[test]
fn loadbalance_keeps_cnames_first_and_every_address() {
    let r = req("x.", RecordType::A);
    let mut m = r.reply();
    m.add_answer(Record::from_rdata(
        Name::from_ascii("x.").unwrap(),
        5,
        RData::CNAME(hickory_proto::rr::rdata::CNAME(
            Name::from_ascii("y.").unwrap(),
        )),
    ));
    for i in 0..8 {
        m.add_answer(Record::from_rdata(
            Name::from_ascii("y.").unwrap(),
            5,
            RData::A(A(Ipv4Addr::new(10, 0, 0, i))),
        ));
    }
    let mut orders = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let mut c = m.clone();
        shuffle_addresses(&mut c);
        assert_eq!(c.answers()[0].record_type(), RecordType::CNAME);
        assert_eq!(c.answers().len(), 9);
        orders.insert(format!("{:?}", c.answers()));
    }
    assert!(orders.len() > 1, "the addresses were never shuffled");
}

fn dispatch(text: &str) -> crate::chain::Dispatch {
    let view = crate::cluster::ClusterView::fixed(vec![], vec![], vec![]);
    let servers = config::load(text, &|_| None).unwrap();
    let mut zones = Vec::new();
    for s in &servers {
        for k in &s.keys {
            let ctx = Context {
                view: view.clone(),
                server: format!("dns://{}:{}", k.zone, k.port),
                zone: k.zone.clone(),
                listen: "127.0.0.1:53".parse().unwrap(),
            };
            zones.push(crate::chain::Zone {
                zone: k.zone.clone(),
                server: ctx.server.clone(),
                chain: build(s, &ctx).unwrap().into(),
            });
        }
    }
    crate::chain::Dispatch {
        addr: "127.0.0.1:53".parse().unwrap(),
        zones,
    }
}

#[tokio::test]
async fn names_outside_every_zone_are_refused_and_an_empty_chain_end_is_servfail() {
    let d = dispatch("cluster.local:53 {\n kubernetes\n}\nexample.org:53 {\n errors\n}\n");
    let r = d.serve(req("google.com.", RecordType::A)).await.unwrap();
    assert_eq!(r.response_code(), ResponseCode::Refused);
    let r = d.serve(req("x.example.org.", RecordType::A)).await.unwrap();
    assert_eq!(r.response_code(), ResponseCode::ServFail);
    let r = d
        .serve(req("kubernetes.default.svc.cluster.local.", RecordType::A))
        .await
        .unwrap();
    assert_eq!(r.response_code(), ResponseCode::NXDomain);
    assert!(r.authoritative());
    // dns-version answers from the kubernetes zone.
    let r = d
        .serve(req("dns-version.cluster.local.", RecordType::TXT))
        .await
        .unwrap();
    assert_eq!(r.answers().len(), 1);
    assert_eq!(d.not_ready(), Vec::<&str>::new());
}

#[tokio::test]
async fn hosts_answers_and_falls_through() {
    let d = dispatch(".:53 {\n hosts /nonexistent {\n  192.0.2.7 web.lan\n  fallthrough\n }\n}\n");
    let r = d.serve(req("WEB.lan.", RecordType::A)).await.unwrap();
    assert_eq!(r.answers().len(), 1);
    assert_eq!(r.answers()[0].name().to_ascii(), "WEB.lan.");
    let r = d
        .serve(req("7.2.0.192.in-addr.arpa.", RecordType::PTR))
        .await
        .unwrap();
    assert_eq!(r.answers().len(), 1);
    // Unknown: falls through to the end of the chain.
    let r = d.serve(req("other.lan.", RecordType::A)).await.unwrap();
    assert_eq!(r.response_code(), ResponseCode::ServFail);
}

#[tokio::test]
async fn rewrite_name_serves_the_target_under_the_asked_name() {
    let d = dispatch(
        ".:53 {\n rewrite name web.example.org web.lan\n hosts /nonexistent {\n  192.0.2.8 web.lan\n }\n}\n",
    );
    let r = d
        .serve(req("web.example.org.", RecordType::A))
        .await
        .unwrap();
    assert_eq!(r.queries()[0].name().to_ascii(), "web.example.org.");
    assert_eq!(r.answers().len(), 1, "{r:?}");
    assert_eq!(r.answers()[0].name().to_ascii(), "web.example.org.");
}
