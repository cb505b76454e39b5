use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;

fn query(name: &str, t: RecordType) -> Message {
    let mut m = Message::new();
    m.set_id(4242).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    m
}

fn big_answer(q: &Message, n: u8) -> Message {
    let mut r = reply_to(q);
    for i in 0..n {
        r.add_answer(Record::from_rdata(
            Name::from_ascii("big.example.").unwrap(),
            30,
            RData::A(A(Ipv4Addr::new(192, 0, 2, i))),
        ));
    }
    r
}

#[test]
fn udp_answers_over_512_bytes_are_truncated_with_tc() {
    let q = query("big.example.", RecordType::A);
    let mut r = big_answer(&q, 60);
    let wire = encode(&q, MIN_UDP_SIZE, &mut r);
    assert!(wire.len() <= 512, "{}", wire.len());
    let back = Message::from_vec(&wire).unwrap();
    assert!(back.truncated());
    assert!(back.answers().len() < 60);
    // Over TCP everything fits.
    let mut r = big_answer(&q, 60);
    let back = Message::from_vec(&encode(&q, u16::MAX, &mut r)).unwrap();
    assert!(!back.truncated());
    assert_eq!(back.answers().len(), 60);
}

#[test]
fn edns_size_raises_the_limit_and_is_echoed() {
    let mut q = query("big.example.", RecordType::A);
    let mut e = Edns::new();
    e.set_max_payload(1232);
    q.set_edns(e);
    let req = Request {
        msg: q.clone(),
        size: 40,
        peer: "127.0.0.1:1".parse().unwrap(),
        local: "127.0.0.1:53".parse().unwrap(),
        proto: Proto::Udp,
        answered_by: Default::default(),
    };
    assert_eq!(req.bufsize(), 1232);
    let mut r = big_answer(&q, 60);
    let back = Message::from_vec(&encode(&q, req.bufsize(), &mut r)).unwrap();
    assert!(!back.truncated());
    assert_eq!(back.max_payload(), 1232);
    // Without EDNS no OPT record comes back.
    let q2 = query("a.example.", RecordType::A);
    let mut r = reply_to(&q2);
    r.set_edns(Edns::new());
    let back = Message::from_vec(&encode(&q2, 512, &mut r)).unwrap();
    assert!(back.extensions().is_none());
}

#[test]
fn malformed_short_responses_and_other_opcodes() {
    assert!(matches!(decode(&[1, 2, 3]), Err(None)));
    // A header claiming one question, then garbage: FORMERR with the id.
    let mut bad = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    bad.extend_from_slice(&[0x3f, b'a']);
    let Err(Some(r)) = decode(&bad) else {
        panic!("expected FORMERR")
    };
    assert_eq!(r.id(), 0x1234);
    assert_eq!(r.response_code(), ResponseCode::FormErr);
    // No question at all.
    let none = [0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(decode(&none), Err(Some(r)) if r.response_code() == ResponseCode::FormErr));
    // A response is never answered.
    let mut resp = query("a.", RecordType::A);
    resp.set_message_type(MessageType::Response);
    assert!(matches!(decode(&resp.to_vec().unwrap()), Err(None)));
    // NOTIFY/UPDATE: NOTIMP.
    let mut upd = query("a.", RecordType::SOA);
    upd.set_op_code(OpCode::Update);
    assert!(
        matches!(decode(&upd.to_vec().unwrap()), Err(Some(r)) if r.response_code() == ResponseCode::NotImp)
    );
    // A good query decodes.
    let q = query("Kubernetes.default.svc.cluster.local.", RecordType::A);
    let m = decode(&q.to_vec().unwrap()).unwrap();
    assert_eq!(m.id(), 4242);
}

#[test]
fn every_prefix_of_a_query_decodes_or_fails_cleanly() {
    let mut q = query("kubernetes.default.svc.cluster.local.", RecordType::SRV);
    q.set_edns(Edns::new());
    let wire = q.to_vec().unwrap();
    for n in 0..wire.len() {
        let _ = decode(&wire[..n]);
    }
    for i in 0..wire.len() {
        let mut w = wire.clone();
        w[i] ^= 0xff;
        let _ = decode(&w);
    }
}
