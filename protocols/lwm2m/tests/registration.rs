//! Registration interface with a virtual clock (TS Core §6.2; EMQX behaviour §3.3).

use std::time::{Duration, Instant};

use bytes::Bytes;
use gw_coap::codec::{option, Code, Message, MessageType};
use gw_lwm2m::registration::{parse_request, RdEvent, RdRequest, Registrar, RegistrationConfig};

fn req(code: Code, path: &[&str], query: &[&str], payload: &str) -> Message {
    let mut m = Message::new(MessageType::Confirmable, code, 0x1234, Bytes::from_static(b"tk"));
    for p in path {
        m.add_option(option::URI_PATH, Bytes::from(p.as_bytes().to_vec()));
    }
    for q in query {
        m.add_option(option::URI_QUERY, Bytes::from(q.as_bytes().to_vec()));
    }
    m.payload = Bytes::from(payload.as_bytes().to_vec());
    m
}

fn register(r: &mut Registrar, now: Instant, lt: &str, b: &str) -> Message {
    let m = req(Code::POST, &["rd"], &["ep=dev1", lt, "lwm2m=1.1", b], "</1/0>,</3/0>;ver=1.1,</>;rt=\"oma.lwm2m\"");
    let rd = parse_request(&m).unwrap();
    let out = r.apply(now, &m, rd);
    assert_eq!(out.event, Some(RdEvent::Registered));
    out.response
}

#[test]
fn register_creates_with_location() {
    let mut r = Registrar::new(RegistrationConfig::default());
    let now = Instant::now();
    let resp = register(&mut r, now, "lt=300", "b=U");
    assert_eq!((resp.mtype, resp.code, resp.message_id), (MessageType::Acknowledgement, Code::CREATED, 0x1234));
    assert_eq!(resp.token, Bytes::from_static(b"tk"));
    let loc: Vec<_> = resp.options_of(option::LOCATION_PATH).cloned().collect();
    assert_eq!(loc, vec![Bytes::from_static(b"rd"), Bytes::from_static(b"dev1")]);
    let reg = r.registration().unwrap();
    assert_eq!(reg.objects.object_list, vec!["/1/0", "/3/0"]);
    assert_eq!(reg.lifetime, Duration::from_secs(300));
    assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(300)));
}

#[test]
fn register_rejections() {
    for q in [&["lt=300"][..], &["ep=x"], &["ep=", "lt=1"], &["ep=x", "lt=abc"], &["ep=x", "lt=1", "lwm2m=2.0"]] {
        let m = req(Code::POST, &["rd"], q, "");
        let e = parse_request(&m).unwrap_err();
        assert_eq!(e.code, Code::BAD_REQUEST, "{q:?}");
        assert_eq!(Registrar::reject(&m, &e).code, Code::BAD_REQUEST);
    }
    let e = parse_request(&req(Code::POST, &["rd"], &["lt=300"], "")).unwrap_err();
    assert_eq!(e.reason, "Login Failed: invalid queries");
    assert_eq!(parse_request(&req(Code::POST, &["xx"], &[], "")).unwrap_err().code, Code::NOT_FOUND);
    assert_eq!(parse_request(&req(Code::GET, &["rd"], &[], "")).unwrap_err().code, Code::METHOD_NOT_ALLOWED);
    assert!(parse_request(&req(Code::POST, &["rd"], &["ep=x", "lt=5"], "not links")).is_err());
}

#[test]
fn lifetime_bounds() {
    let r = Registrar::new(RegistrationConfig::default());
    assert_eq!(r.granted_lifetime(0), Duration::from_secs(86_400));
    assert_eq!(r.granted_lifetime(5), Duration::from_secs(15));
    assert_eq!(r.granted_lifetime(100_000), Duration::from_secs(86_400));
}

#[test]
fn update_touch_expiry_and_deregister() {
    let mut r = Registrar::new(RegistrationConfig::default());
    let t0 = Instant::now();
    register(&mut r, t0, "lt=60", "b=U");
    let t1 = t0 + Duration::from_secs(30);
    let m = req(Code::POST, &["rd", "dev1"], &["lt=120", "b=UQ"], "");
    let rd = parse_request(&m).unwrap();
    assert!(matches!(rd, RdRequest::Update { objects: None, .. }));
    let out = r.apply(t1, &m, rd);
    assert_eq!(out.response.code, Code::CHANGED);
    assert_eq!(out.event, Some(RdEvent::Updated { objects_changed: false }));
    let reg = r.registration().unwrap();
    assert_eq!((reg.lifetime, reg.param("lt"), reg.queue_mode()), (Duration::from_secs(120), Some("120"), true));
    // queue mode: reachable only within qmode_time_window of the last uplink
    assert!(r.is_reachable(t1 + Duration::from_secs(21)));
    assert!(!r.is_reachable(t1 + Duration::from_secs(22)));
    // any message restarts the lifetime
    r.touch(t1 + Duration::from_secs(100));
    assert!(!r.handle_timeout(t1 + Duration::from_secs(200)));
    assert!(r.handle_timeout(t1 + Duration::from_secs(220)));
    assert!(r.registration().is_none());
    // wrong location → 4.04
    register(&mut r, t0, "lt=60", "b=U");
    let m = req(Code::POST, &["rd", "other"], &[], "");
    assert_eq!(r.apply(t1, &m, parse_request(&m).unwrap()).response.code, Code::NOT_FOUND);
    let m = req(Code::DELETE, &["rd", "dev1"], &[], "");
    let out = r.apply(t1, &m, parse_request(&m).unwrap());
    assert_eq!((out.response.code, out.event), (Code::DELETED, Some(RdEvent::Deregistered)));
    assert_eq!(r.apply(t1, &m, parse_request(&m).unwrap()).response.code, Code::NOT_FOUND);
}

#[test]
fn update_with_objects() {
    let mut r = Registrar::new(RegistrationConfig::default());
    let t0 = Instant::now();
    register(&mut r, t0, "lt=60", "b=U");
    let m = req(Code::POST, &["rd", "dev1"], &[], "</3/0>,</3303/0>");
    let out = r.apply(t0, &m, parse_request(&m).unwrap());
    assert_eq!(out.event, Some(RdEvent::Updated { objects_changed: true }));
    assert_eq!(r.registration().unwrap().objects.object_list, vec!["/3/0", "/3303/0"]);
}
