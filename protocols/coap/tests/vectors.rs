//! Byte-annotated datagrams (RFC 7252 §3, §3.1) → messages → the same bytes, the format
//! errors the codec adds on top of coap-lite, and a never-panics proptest.

use bytes::Bytes;
use gw_coap::codec::{decode, encode, option, BlockValue, Code, DecodeErrorKind, Message, MessageType};
use proptest::prelude::*;

fn roundtrip(bytes: &[u8]) -> Message {
    let msg = decode(bytes).expect("decodes");
    assert_eq!(encode(&msg).expect("encodes").as_ref(), bytes, "re-encodes to the same bytes");
    msg
}

#[test]
fn con_get_with_token_path_and_query() {
    let bytes = [
        0x42, // ver 1 (01), type CON (00), TKL 2
        0x01, // 0.01 GET
        0x12, 0x34, // Message ID 0x1234
        0xab, 0xcd, // token
        0xb2, b'p', b's', // delta 11 (Uri-Path), length 2
        0x04, b'c', b'o', b'a', b'p', // delta 0 (Uri-Path again), length 4
        0x04, b't', b'e', b's', b't', // delta 0, length 4
        0x45, b'c', b'=', b'a', b'b', b'c', // delta 4 (15 Uri-Query), length 5
    ];
    let msg = roundtrip(&bytes);
    assert_eq!(msg.mtype, MessageType::Confirmable);
    assert_eq!(msg.code, Code::GET);
    assert_eq!(msg.message_id, 0x1234);
    assert_eq!(msg.token.as_ref(), &[0xab, 0xcd]);
    let path: Vec<&[u8]> = msg.options_of(option::URI_PATH).map(|b| b.as_ref()).collect();
    assert_eq!(path, vec![&b"ps"[..], b"coap", b"test"]);
    assert_eq!(msg.option(option::URI_QUERY).unwrap().as_ref(), b"c=abc");
    assert!(msg.payload.is_empty());
}

#[test]
fn extended_delta_and_length_forms() {
    let mut bytes = vec![
        0x50, // ver 1, NON (01), TKL 0
        0x02, // 0.02 POST
        0x00, 0x01, // MID 1
        0xd1, 0x2f, 0x10, // delta 13-form: 13 + 0x2f = 60 (Size1), length 1, value 16
        0xed, 0x00, 0x1f, 0x07, // delta 14-form: 269 + 0x001f = 300 (+60 = 360), length 13-form: 13 + 7 = 20
    ];
    bytes.extend_from_slice(&[0xaa; 20]);
    bytes.extend_from_slice(&[
        0xde, 0x00, 0x00, 0x1f, // delta 13-form: 13 + 0 = 13 (→ 373), length 14-form: 269 + 31 = 300
    ]);
    bytes.extend_from_slice(&[0xbb; 300]);
    bytes.extend_from_slice(&[0xff, b'h', b'i']); // payload marker, payload "hi"
    let msg = roundtrip(&bytes);
    assert_eq!(msg.mtype, MessageType::NonConfirmable);
    assert_eq!(msg.uint_option(option::SIZE1), Ok(Some(16)));
    assert_eq!(msg.option(360).unwrap().len(), 20);
    assert_eq!(msg.option(373).unwrap().len(), 300);
    assert_eq!(msg.payload.as_ref(), b"hi");
}

#[test]
fn piggybacked_content_with_observe_and_block2() {
    let bytes = [
        0x61, // ver 1, ACK (10), TKL 1
        0x45, // 2.05 Content
        0xbe, 0xef, // MID
        0x07, // token
        0x61, 0x05, // delta 6 (Observe), length 1, value 5
        0xd1, 0x04, 0x1e, // delta 13 + 4 = 17 → 23 (Block2), length 1: NUM 1, M 1, SZX 6
        0x11, 0x02, // delta 1 → 24: an unknown elective option, length 1
    ];
    // The same message with Size2 (28 = 23 + 5) instead of option 24:
    let mut good = bytes[..10].to_vec();
    good.extend_from_slice(&[0x52, 0x04, 0x00]); // delta 5 → 28 (Size2), length 2, value 1024
    good.extend_from_slice(&[0xff, 1, 2, 3]);
    let msg = roundtrip(&good);
    assert_eq!(msg.mtype, MessageType::Acknowledgement);
    assert_eq!(msg.code, Code::CONTENT);
    assert_eq!(msg.uint_option(option::OBSERVE), Ok(Some(5)));
    let block = BlockValue::decode(msg.option(option::BLOCK2).unwrap()).unwrap();
    assert_eq!(block, BlockValue { num: 1, more: true, szx: 6 });
    assert_eq!(block.size(), 1024);
    assert_eq!(msg.uint_option(option::SIZE2), Ok(Some(1024)));
    assert_eq!(msg.payload.as_ref(), &[1, 2, 3]);
    // The odd one decodes too (option 24, elective, unknown): options are just numbers here.
    assert_eq!(decode(&bytes).unwrap().option(24).unwrap().as_ref(), &[0x02]);
}

#[test]
fn empty_ack_and_reset() {
    let ack = roundtrip(&[0x60, 0x00, 0x00, 0x2a]); // ver 1, ACK, TKL 0, 0.00, MID 42
    assert_eq!(ack, Message::empty_ack(42));
    let rst = roundtrip(&[0x70, 0x00, 0xff, 0xff]); // ver 1, RST
    assert_eq!(rst, Message::reset(0xffff));
}

#[test]
fn block_values() {
    // RFC 7959 §2.2: 0 bytes = NUM 0, M 0, SZX 0.
    assert_eq!(BlockValue::decode(&[]).unwrap(), BlockValue { num: 0, more: false, szx: 0 });
    let v = BlockValue { num: 0x12345, more: true, szx: 2 };
    assert_eq!(v.encode().as_ref(), &[0x12, 0x34, 0x5a]);
    assert_eq!(BlockValue::decode(&v.encode()).unwrap(), v);
    assert!(BlockValue::decode(&[0x07]).is_err(), "SZX 7 reserved");
    assert!(BlockValue::decode(&[0, 0, 0, 0]).is_err(), "at most 3 bytes");
}

#[test]
fn format_errors() {
    let e = decode(&[0x40, 0x01]).unwrap_err();
    assert_eq!((e.kind, e.reject_con), (DecodeErrorKind::TooShort, None));
    // Version 2: silently ignored, no RST.
    let e = decode(&[0x80, 0x01, 0, 1]).unwrap_err();
    assert_eq!((e.kind, e.reject_con), (DecodeErrorKind::Version(2), None));
    // TKL 9 in a CON: RST with MID 7.
    let e = decode(&[0x49, 0x01, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap_err();
    assert_eq!((e.kind, e.reject_con), (DecodeErrorKind::TokenLength, Some(7)));
    // Token past the end.
    assert_eq!(decode(&[0x44, 0x01, 0, 7, 1]).unwrap_err().kind, DecodeErrorKind::TokenLength);
    // Payload marker with an empty payload (coap-lite accepts this one).
    let e = decode(&[0x50, 0x02, 0, 8, 0xff]).unwrap_err();
    assert_eq!((e.kind, e.reject_con), (DecodeErrorKind::EmptyPayload, None));
    // Delta nibble 15 without being the marker.
    assert_eq!(decode(&[0x40, 0x01, 0, 9, 0xf1, 0]).unwrap_err().kind, DecodeErrorKind::Option);
    // Option value past the end.
    assert_eq!(decode(&[0x40, 0x01, 0, 9, 0xb5, b'p']).unwrap_err().kind, DecodeErrorKind::Option);
    // Empty message with a token (coap-lite accepts this one).
    assert_eq!(decode(&[0x41, 0x00, 0, 9, 1]).unwrap_err().kind, DecodeErrorKind::EmptyWithContent);
}

#[test]
fn encode_refuses_long_tokens() {
    let msg = Message::new(MessageType::Confirmable, Code::GET, 1, Bytes::from_static(&[0; 9]));
    assert!(encode(&msg).is_err());
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(msg) = decode(&data) {
            let bytes = encode(&msg).expect("a decoded message re-encodes");
            prop_assert_eq!(decode(&bytes).expect("and decodes again"), msg);
        }
    }

    #[test]
    fn decoding_headerish_bytes_never_panics(
        tkl in 0u8..16, code in any::<u8>(), rest in proptest::collection::vec(any::<u8>(), 0..64)
    ) {
        let mut data = vec![0x40 | tkl, code, 0, 1];
        data.extend(rest);
        if let Ok(msg) = decode(&data) {
            prop_assert_eq!(decode(&encode(&msg).unwrap()).unwrap(), msg);
        }
    }
}
