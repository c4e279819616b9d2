//! Block-wise device responses (RFC 7959 §2.4) reassembled before decoding.

use std::time::Instant;

use bytes::Bytes;
use gw_coap::codec::{option, BlockValue, Code, Message, MessageType};
use gw_lwm2m::blockwise::{BlockLimits, ResponseAssembler, ResponseStep};
use gw_lwm2m::commands::build_request;
use gw_lwm2m::commands::Operation;
use gw_lwm2m::Path;

fn observe_request() -> Message {
    build_request(&Operation::Observe(Path::instance(3, 0)), "/", Bytes::from_static(b"\x07")).unwrap()
}

/// Block `num` (`szx`) of `body` as the device sends it, with an Observe option on block 0.
fn block(body: &[u8], num: u32, szx: u8) -> Message {
    let size = 16usize << szx;
    let start = num as usize * size;
    let end = (start + size).min(body.len());
    let mut m = Message::new(MessageType::Acknowledgement, Code::CONTENT, 1, Bytes::from_static(b"\x07"));
    if num == 0 {
        m.set_uint_option(option::OBSERVE, 9);
    }
    m.set_uint_option(option::CONTENT_FORMAT, 11542);
    m.set_option(option::BLOCK2, BlockValue { num, more: end < body.len(), szx }.encode());
    m.payload = Bytes::copy_from_slice(&body[start..end]);
    m
}

fn block2(m: &Message) -> BlockValue {
    BlockValue::decode(m.option(option::BLOCK2).expect("a Block2 option")).unwrap()
}

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

#[test]
fn blocks_are_fetched_and_reassembled_with_the_first_blocks_options() {
    let now = Instant::now();
    let mut asm = ResponseAssembler::new(BlockLimits::default());
    let first = observe_request();
    let body = body(40);
    let ResponseStep::Next(next) = asm.on_response(now, &first, block(&body, 0, 0)) else { panic!() };
    assert!(asm.in_progress());
    assert_eq!(block2(&next), BlockValue { num: 1, more: false, szx: 0 });
    assert_eq!(next.option(option::OBSERVE), None, "later blocks are not observe requests");
    assert_eq!(next.options_of(option::URI_PATH).count(), 2, "the same resource");
    let ResponseStep::Next(next) = asm.on_response(now, &next, block(&body, 1, 0)) else { panic!() };
    assert_eq!(block2(&next).num, 2);
    let ResponseStep::Complete(whole) = asm.on_response(now, &next, block(&body, 2, 0)) else { panic!() };
    assert_eq!(whole.payload, body);
    assert_eq!(whole.uint_option(option::OBSERVE).unwrap(), Some(9), "the observe response's sequence");
    assert_eq!(whole.uint_option(option::CONTENT_FORMAT).unwrap(), Some(11542));
    assert_eq!(whole.option(option::BLOCK2), None);
    assert!(!asm.in_progress());
}

#[test]
fn later_blocks_are_asked_at_the_configured_size() {
    let now = Instant::now();
    let mut asm = ResponseAssembler::new(BlockLimits { max_block_size: 32, ..BlockLimits::default() });
    let req = observe_request();
    let body = body(100);
    // The device starts with 64-byte blocks (SZX 2); the next 32-byte block is NUM 2 (§2.4).
    let ResponseStep::Next(next) = asm.on_response(now, &req, block(&body, 0, 2)) else { panic!() };
    assert_eq!(block2(&next), BlockValue { num: 2, more: false, szx: 1 });
    let ResponseStep::Next(next) = asm.on_response(now, &next, block(&body, 2, 1)) else { panic!() };
    let ResponseStep::Complete(whole) = asm.on_response(now, &next, block(&body, 3, 1)) else { panic!() };
    assert_eq!(whole.payload, body);
}

#[test]
fn broken_transfers_fail_with_the_rfc_codes() {
    let now = Instant::now();
    let req = observe_request();
    let body = body(100);
    let mut asm = ResponseAssembler::new(BlockLimits::default());
    assert!(matches!(asm.on_response(now, &req, block(&body, 0, 0)), ResponseStep::Next(_)));
    let skipped = asm.on_response(now, &req, block(&body, 2, 0));
    assert_eq!(skipped, ResponseStep::Failed(Code::REQUEST_ENTITY_INCOMPLETE));
    assert!(!asm.in_progress());
    // A later block with no transfer in progress.
    assert_eq!(asm.on_response(now, &req, block(&body, 1, 0)), ResponseStep::Failed(Code::REQUEST_ENTITY_INCOMPLETE));

    let mut small = ResponseAssembler::new(BlockLimits { max_body_size: 40, ..BlockLimits::default() });
    let mut announced = block(&body, 0, 0);
    announced.set_uint_option(option::SIZE2, 100);
    assert_eq!(small.on_response(now, &req, announced), ResponseStep::Failed(Code::REQUEST_ENTITY_TOO_LARGE));
    let mut step = small.on_response(now, &req, block(&body, 0, 0));
    for num in 1..3 {
        assert!(matches!(step, ResponseStep::Next(_)), "{num}: {step:?}");
        step = small.on_response(now, &req, block(&body, num, 0));
    }
    assert_eq!(step, ResponseStep::Failed(Code::REQUEST_ENTITY_TOO_LARGE));

    let mut bad = block(&body, 0, 0);
    bad.set_option(option::BLOCK2, Bytes::from_static(b"\x0f")); // SZX 7 is reserved
    assert_eq!(asm.on_response(now, &req, bad), ResponseStep::Failed(Code::BAD_OPTION));
}

#[test]
fn single_blocks_errors_and_other_methods_pass_through() {
    let now = Instant::now();
    let mut asm = ResponseAssembler::new(BlockLimits::default());
    let req = observe_request();
    let ResponseStep::Complete(m) = asm.on_response(now, &req, block(&body(10), 0, 0)) else { panic!() };
    assert_eq!((m.payload.len(), m.option(option::BLOCK2)), (10, None));
    let mut plain = block(&body(10), 0, 0);
    plain.remove_option(option::BLOCK2);
    assert_eq!(asm.on_response(now, &req, plain.clone()), ResponseStep::Complete(plain));
    let post =
        build_request(&Operation::Execute { path: Path::resource(3, 0, 4), args: String::new() }, "/", Bytes::new())
            .unwrap();
    let ResponseStep::Complete(m) = asm.on_response(now, &post, block(&body(40), 0, 0)) else { panic!() };
    assert_eq!(m.payload.len(), 16, "only GET responses are continued");
}
