//! Downlink requests as CoAP messages and response decoding by content format.

use bytes::Bytes;
use gw_coap::codec::{option, Code, Message, MessageType};
use gw_lwm2m::commands::{
    build_request, code_message, decode_content, decode_response, Content, ContentError, Operation,
};
use gw_lwm2m::object_model::ObjectRegistry;
use gw_lwm2m::{Entry, Path, Value};

fn registry() -> ObjectRegistry {
    ObjectRegistry::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/lwm2m_xml")).unwrap()
}

fn uri(m: &Message) -> Vec<String> {
    m.options_of(option::URI_PATH).map(|v| String::from_utf8_lossy(v).into_owned()).collect()
}

#[test]
fn requests() {
    let tk = Bytes::from_static(b"\x01\x02");
    let m = build_request(&Operation::Read(Path::resource(3, 0, 1)), "/", tk.clone()).unwrap();
    assert_eq!(
        (m.mtype, m.code, uri(&m)),
        (MessageType::Confirmable, Code::GET, vec!["3".into(), "0".into(), "1".into()])
    );
    let m = build_request(&Operation::Discover(Path::instance(3, 0)), "/lwm2m", tk.clone()).unwrap();
    assert_eq!(uri(&m), vec!["lwm2m", "3", "0"]);
    assert_eq!(m.uint_option(option::ACCEPT).unwrap(), Some(40));
    let m = build_request(&Operation::Observe(Path::resource(3, 0, 9)), "/", tk.clone()).unwrap();
    assert_eq!(m.uint_option(option::OBSERVE).unwrap(), Some(0));
    assert_eq!(m.option(option::OBSERVE).map(|v| v.len()), Some(0));
    let m = build_request(&Operation::CancelObserve(Path::resource(3, 0, 9)), "/", tk.clone()).unwrap();
    assert_eq!(m.uint_option(option::OBSERVE).unwrap(), Some(1));
    let entries = vec![Entry::new(Path::resource(3, 0, 14), Value::String("+08:00".into()))];
    let w = Operation::Write { path: Path::instance(3, 0), entries: entries.clone(), partial: true };
    let m = build_request(&w, "/", tk.clone()).unwrap();
    assert_eq!(m.code, Code::POST);
    assert_eq!(m.uint_option(option::CONTENT_FORMAT).unwrap(), Some(11542));
    assert_eq!(m.payload.as_ref(), b"\xC6\x0E+08:00");
    let w = Operation::Write { path: Path::resource(3, 0, 14), entries, partial: false };
    assert_eq!(build_request(&w, "/", tk.clone()).unwrap().code, Code::PUT);
    let wa = Operation::WriteAttributes {
        path: Path::resource(3, 0, 9),
        attributes: vec![("pmin".into(), "10".into()), ("gt".into(), "50.5".into())],
    };
    let m = build_request(&wa, "/", tk.clone()).unwrap();
    let q: Vec<_> = m.options_of(option::URI_QUERY).cloned().collect();
    assert_eq!((m.code, q), (Code::PUT, vec![Bytes::from_static(b"pmin=10"), Bytes::from_static(b"gt=50.5")]));
    let m = build_request(&Operation::Execute { path: Path::resource(3, 0, 4), args: "0".into() }, "/", tk.clone())
        .unwrap();
    assert_eq!(
        (m.code, m.uint_option(option::CONTENT_FORMAT).unwrap(), m.payload.as_ref()),
        (Code::POST, Some(0), &b"0"[..])
    );
    let c = Operation::Create {
        path: Path::object(3303),
        entries: vec![Entry::new(Path::resource(3303, 0, 5700), Value::Float(21.5))],
    };
    let m = build_request(&c, "/", tk.clone()).unwrap();
    assert_eq!(m.payload.as_ref(), &[0x07, 0x00, 0xE4, 0x16, 0x44, 0x41, 0xAC, 0x00, 0x00]);
    assert_eq!(build_request(&Operation::Delete(Path::instance(3303, 0)), "/", tk).unwrap().code, Code::DELETE);
    assert!(build_request(&Operation::Read(Path::object(3)), "/", Bytes::from_static(b"123456789")).is_err());
}

#[test]
fn decode_by_content_format() {
    let reg = registry();
    let p = Path::resource(3, 0, 9);
    assert_eq!(
        decode_content(Some(0), b"88", &p, &reg).unwrap(),
        Content::Values(vec![Entry::new(p, Value::Integer(88))])
    );
    assert_eq!(
        decode_content(None, b"88", &p, &reg).unwrap(),
        Content::Values(vec![Entry::new(p, Value::Integer(88))])
    );
    let fw = Path::resource(5, 0, 0);
    assert_eq!(
        decode_content(Some(42), b"\x00\x01", &fw, &reg).unwrap(),
        Content::Values(vec![Entry::new(fw, Value::Opaque(Bytes::from_static(b"\x00\x01")))])
    );
    assert_eq!(
        decode_content(Some(40), b"</3/0>;pmin=10,</3/0/1>", &Path::instance(3, 0), &reg).unwrap(),
        Content::Links(vec!["</3/0>;pmin=10".into(), "</3/0/1>".into()])
    );
    assert_eq!(decode_content(Some(11542), b"", &p, &reg).unwrap(), Content::Empty);
    assert!(matches!(
        decode_content(Some(0), b"1", &Path::resource(9999, 0, 1), &reg),
        Err(ContentError::UnknownResource(_))
    ));
    assert!(matches!(decode_content(Some(50), b"{}", &p, &reg), Err(ContentError::Unsupported(50))));
    let mut m = Message::new(MessageType::Acknowledgement, Code::CONTENT, 1, Bytes::new());
    m.set_uint_option(option::CONTENT_FORMAT, 110);
    m.payload = Bytes::from_static(br#"[{"bn":"/3/0/","n":"9","v":88}]"#);
    assert_eq!(
        decode_response(&m, &Path::instance(3, 0), &reg).unwrap(),
        Content::Values(vec![Entry::new(p, Value::Integer(88))])
    );
    assert_eq!(code_message(Code::NOT_FOUND), "not_found");
    assert_eq!(code_message(Code::UNSUPPORTED_CONTENT_FORMAT), "unsupported_content_format");
}
