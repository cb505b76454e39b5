//! The fake internet's resolver on the wire: a DNS query in, the response out,
//! as a pure function of the query's bytes ([`respond`]) or of the parsed
//! message ([`answer`]); the zone is [`super::zone`].

use super::zone::{self, Data, Rcode, Rr};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record};

/// The largest UDP answer without EDNS0 (RFC 1035).
pub const UDP_PLAIN: usize = 512;
/// The UDP payload size the resolver advertises (the DNS flag day's).
pub const EDNS_PAYLOAD: u16 = 1232;

fn name(s: &str) -> Option<Name> {
    let mut n = Name::from_ascii(s).ok()?;
    n.set_fqdn(true);
    Some(n)
}

fn record(rr: &Rr) -> Option<Record> {
    let data = match &rr.data {
        Data::A(ip) => RData::A(A(*ip)),
        Data::Ptr(t) => RData::PTR(PTR(name(t)?)),
        Data::Soa(s) => RData::SOA(SOA::new(
            name(&s.mname)?,
            name(&s.rname)?,
            s.serial,
            s.refresh as i32,
            s.retry as i32,
            s.expire as i32,
            s.minimum,
        )),
    };
    Some(Record::from_rdata(name(&rr.name)?, rr.ttl, data))
}

/// The response to a parsed query: the zone's answer for its one IN question,
/// FORMERR for no or several questions, NOTIMP for opcodes other than QUERY,
/// REFUSED for other classes. Recursion available, not authoritative; EDNS0 echoed.
pub fn answer(q: &Message) -> Message {
    let mut r = Message::new();
    r.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(q.op_code())
        .set_recursion_desired(q.recursion_desired())
        .set_recursion_available(true)
        .set_checking_disabled(q.checking_disabled());
    if q.extensions().is_some() {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        r.set_edns(e);
    }
    if q.message_type() != MessageType::Query {
        r.set_response_code(ResponseCode::FormErr);
        return r;
    }
    if q.op_code() != OpCode::Query {
        r.set_response_code(ResponseCode::NotImp);
        return r;
    }
    let [question] = q.queries() else {
        r.set_response_code(ResponseCode::FormErr);
        return r;
    };
    r.add_query(question.clone());
    if question.query_class() != DNSClass::IN {
        r.set_response_code(ResponseCode::Refused);
        return r;
    }
    let asked = question.name().to_ascii();
    let a = zone::lookup(&asked, u16::from(question.query_type()));
    r.set_response_code(match a.rcode {
        Rcode::NoError => ResponseCode::NoError,
        Rcode::NxDomain => ResponseCode::NXDomain,
    });
    r.add_answers(a.answers.iter().filter_map(record));
    r.add_name_servers(a.authority.iter().filter_map(record));
    r
}

/// The response bytes to a query's bytes, at most `limit` long (UDP: 512, or the
/// client's EDNS0 size up to ours; TCP: 65535), truncated (TC set, sections
/// emptied) when longer. Bytes that are not a DNS message but have a header get
/// FORMERR; fewer than a header's 12 bytes, or a response, get nothing.
pub fn respond(query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let q = match Message::from_vec(query) {
        Ok(q) => q,
        Err(_) => return formerr(query),
    };
    if q.message_type() == MessageType::Response {
        return None;
    }
    let limit = if tcp {
        usize::from(u16::MAX)
    } else {
        match q.extensions().as_ref() {
            Some(e) => usize::from(e.max_payload().clamp(512, EDNS_PAYLOAD)),
            None => UDP_PLAIN,
        }
    };
    let r = answer(&q);
    let bytes = r.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    let mut t = r.truncate();
    t.set_truncated(true);
    t.to_vec().ok()
}

/// FORMERR for bytes with a DNS header that do not parse (RFC 1035 4.1.1).
fn formerr(query: &[u8]) -> Option<Vec<u8>> {
    let [id0, id1, flags, ..] = *query else {
        return None;
    };
    if query.len() < 12 || flags & 0x80 != 0 {
        return None;
    }
    let opcode = OpCode::from_u8((flags >> 3) & 0x0f);
    let r = Message::error_msg(
        u16::from_be_bytes([id0, id1]),
        opcode,
        ResponseCode::FormErr,
    );
    r.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::RecordType;

    fn query(n: &str, t: RecordType) -> Message {
        let mut m = Message::new();
        m.set_id(4242)
            .set_recursion_desired(true)
            .add_query(Query::query(Name::from_ascii(n).unwrap(), t));
        m
    }

    fn ask(m: &Message) -> Message {
        Message::from_vec(&respond(&m.to_vec().unwrap(), false).unwrap()).unwrap()
    }

    #[test]
    fn a_known_name_answers_its_address() {
        let r = ask(&query("google.com.", RecordType::A));
        assert_eq!(r.id(), 4242);
        assert_eq!(r.message_type(), MessageType::Response);
        assert_eq!(r.response_code(), ResponseCode::NoError);
        assert!(r.recursion_available() && r.recursion_desired() && !r.authoritative());
        assert_eq!(r.queries().len(), 1);
        assert_eq!(r.answers().len(), 1);
        assert_eq!(r.answers()[0].data(), &RData::A(A::new(192, 0, 2, 10)));
        assert_eq!(r.answers()[0].name().to_ascii(), "google.com.");
    }

    #[test]
    fn nxdomain_and_nodata_carry_an_soa() {
        let r = ask(&query("nope.example.", RecordType::A));
        assert_eq!(r.response_code(), ResponseCode::NXDomain);
        assert!(r.answers().is_empty());
        assert_eq!(r.name_servers()[0].record_type(), RecordType::SOA);
        assert_eq!(r.name_servers()[0].name().to_ascii(), ".");
        let r = ask(&query("github.com.", RecordType::AAAA));
        assert_eq!(r.response_code(), ResponseCode::NoError);
        assert!(r.answers().is_empty());
        assert_eq!(r.name_servers()[0].name().to_ascii(), "github.com.");
        let r = ask(&query("8.8.8.8.in-addr.arpa.", RecordType::PTR));
        assert_eq!(
            r.answers()[0].data(),
            &RData::PTR(PTR(Name::from_ascii("dns.google.").unwrap()))
        );
    }

    #[test]
    fn bad_queries_get_the_right_codes() {
        let mut m = query("google.com.", RecordType::A);
        m.set_op_code(OpCode::Status);
        assert_eq!(ask(&m).response_code(), ResponseCode::NotImp);
        let mut m = query("google.com.", RecordType::A);
        m.queries_mut()[0].set_query_class(DNSClass::CH);
        assert_eq!(ask(&m).response_code(), ResponseCode::Refused);
        let mut m = query("google.com.", RecordType::A);
        m.add_query(Query::query(Name::from_ascii("a.").unwrap(), RecordType::A));
        assert_eq!(ask(&m).response_code(), ResponseCode::FormErr);
        let mut m = query("google.com.", RecordType::A);
        m.take_queries();
        assert_eq!(ask(&m).response_code(), ResponseCode::FormErr);
        // garbage after a header: FORMERR with the id; too short or a response: nothing
        let mut junk = vec![0x12, 0x34, 0x01, 0x00, 0, 5, 0, 0, 0, 0, 0, 0];
        junk.extend_from_slice(&[0xff; 7]);
        let r = Message::from_vec(&respond(&junk, false).unwrap()).unwrap();
        assert_eq!((r.id(), r.response_code()), (0x1234, ResponseCode::FormErr));
        assert_eq!(respond(&[1, 2, 3], false), None);
        assert_eq!(respond(&[], true), None);
        let resp = ask(&query("google.com.", RecordType::A)).to_vec().unwrap();
        assert_eq!(respond(&resp, false), None);
    }

    #[test]
    fn mangled_queries_never_panic() {
        let good = query("www.example.com.", RecordType::A).to_vec().unwrap();
        // a small xorshift: every byte flipped, the message cut everywhere
        let mut x: u32 = 0x9e37_79b9;
        for round in 0..4000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let mut m = good.clone();
            let at = x as usize % m.len();
            m[at] ^= (x >> 8) as u8 | 1;
            if round % 3 == 0 {
                m.truncate(x as usize % (good.len() + 1));
            }
            for tcp in [false, true] {
                if let Some(out) = respond(&m, tcp) {
                    assert!(out.len() >= 12 && out.len() <= 65535);
                    assert_eq!(out[..2], m[..2], "the id is kept");
                }
            }
        }
    }

    #[test]
    fn edns_is_echoed() {
        let mut m = query("example.com.", RecordType::A);
        let mut e = Edns::new();
        e.set_max_payload(4096);
        m.set_edns(e);
        let r = ask(&m);
        assert_eq!(
            r.extensions().as_ref().map(|e| e.max_payload()),
            Some(EDNS_PAYLOAD)
        );
        assert!(
            ask(&query("example.com.", RecordType::A))
                .extensions()
                .is_none()
        );
    }
}
