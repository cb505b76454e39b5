//! The kubernetes plugin: answers its zones from the cluster view through
//! [`records::resolve`], passing NXDOMAINs on where `fallthrough` says so.

use std::sync::Arc;

use futures::future::BoxFuture;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData as HData, Record};

use crate::chain::{Next, Outcome, Plugin};
use crate::cluster::ClusterView;
use crate::config;
use crate::records::{self, Answer, RData, Rcode};
use crate::server::Request;

pub struct Kubernetes {
    cfg: config::Kubernetes,
    view: Arc<ClusterView>,
}

impl Kubernetes {
    pub fn new(cfg: config::Kubernetes, view: Arc<ClusterView>) -> Self {
        Kubernetes { cfg, view }
    }
}

fn name(s: &str) -> Option<Name> {
    Name::from_ascii(s).ok()
}

/// A record of the pure model on the wire.
pub fn to_wire(r: &records::Record) -> Option<Record> {
    let data = match &r.data {
        RData::A(ip) => HData::A(A(*ip)),
        RData::Aaaa(ip) => HData::AAAA(AAAA(*ip)),
        RData::Cname(t) => HData::CNAME(CNAME(name(t)?)),
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => HData::SRV(SRV::new(*priority, *weight, *port, name(target)?)),
        RData::Ptr(t) => HData::PTR(PTR(name(t)?)),
        RData::Txt(t) => HData::TXT(TXT::new(vec![t.clone()])),
        RData::Ns(t) => HData::NS(NS(name(t)?)),
        RData::Soa(s) => HData::SOA(SOA::new(
            name(&s.mname)?,
            name(&s.rname)?,
            s.serial,
            s.refresh as i32,
            s.retry as i32,
            s.expire as i32,
            s.minimum,
        )),
    };
    Some(Record::from_rdata(name(&r.name)?, r.ttl, data))
}

/// The reply carrying an answer of the pure model.
pub fn reply(req: &Request, a: &Answer) -> Message {
    let mut m = req.reply();
    m.set_authoritative(true);
    m.set_response_code(match a.rcode {
        Rcode::NoError => ResponseCode::NoError,
        Rcode::NxDomain => ResponseCode::NXDomain,
    });
    m.add_answers(a.answer.iter().filter_map(to_wire));
    m.add_name_servers(a.authority.iter().filter_map(to_wire));
    m.add_additionals(a.additional.iter().filter_map(to_wire));
    m
}

impl Plugin for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn ready(&self) -> Option<bool> {
        Some(self.view.synced())
    }

    fn serve<'a>(&'a self, req: Arc<Request>, next: Next) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let qname = req.qname();
            let snap = self.view.snapshot();
            let Some(a) =
                records::resolve(&snap.cluster(), &self.cfg, &qname, req.qtype(), snap.serial)
            else {
                return next.serve(req).await;
            };
            if a.rcode == Rcode::NxDomain && self.cfg.falls_through(&qname) {
                return next.serve(req).await;
            }
            let _ = req.answered_by.set("kubernetes");
            Ok(reply(&req, &a))
        })
    }
}
