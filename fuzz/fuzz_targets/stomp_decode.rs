//! Decodes arbitrary bytes as a stream of STOMP frames, for each version, with small limits;
//! every frame that decodes must re-encode and decode to itself (minus `content-length`,
//! which the encoder rewrites), within what the version can carry. Also drives a channel
//! with the same bytes, after a CONNECT, to check it never panics.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gw_stomp::channel::{Channel, ChannelConfig};
use gw_stomp::codec::{encode, Decoded, Decoder, Frame, FrameLimits, Version};
use libfuzzer_sys::fuzz_target;

fn limits() -> FrameLimits {
    FrameLimits { max_headers: 16, max_header_length: 256, max_body_length: 4096, max_frame_size: Some(8192) }
}

/// Whether encoding for `version` keeps every header character (see the codec's escaping).
fn representable(frame: &Frame, version: Version) -> bool {
    let escaped = frame.command.escapes_headers() && version != Version::V1_0;
    frame.headers.iter().all(|(n, v)| {
        let bad_raw = |s: &str| s.contains('\r') || s.contains('\n');
        if !escaped {
            !bad_raw(n) && !bad_raw(v) && !n.contains(':')
        } else if version == Version::V1_1 {
            !n.contains('\r') && !v.contains('\r')
        } else {
            true
        }
    })
}

fn without_content_length(mut f: Frame) -> Frame {
    f.headers.retain(|(n, _)| n != "content-length");
    f
}

fn run(data: &[u8], version: Version) {
    let mut decoder = Decoder::new(limits());
    decoder.set_version(version);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(decoded)) = decoder.decode(&mut buf) {
        let Decoded::Frame(frame) = decoded else { continue };
        if !representable(&frame, version) {
            continue;
        }
        let mut out = BytesMut::new();
        encode(&frame, version, &mut out);
        // Escaping at most doubles a header line, and content-length adds one header.
        let mut again =
            Decoder::new(FrameLimits { max_frame_size: None, max_headers: 64, max_header_length: 1024, ..limits() });
        again.set_version(version);
        let back = again.decode(&mut out).expect("re-encoded frame decodes");
        match back {
            Some(Decoded::Frame(back)) => assert_eq!(without_content_length(back), without_content_length(frame)),
            other => panic!("re-encoded frame decoded as {other:?}"),
        }
        assert!(out.is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    for version in Version::ALL {
        run(data, version);
    }
    let now = Instant::now();
    let mut ch = Channel::new(Arc::new(ChannelConfig { limits: limits(), ..ChannelConfig::default() }), now);
    let mut connect = BytesMut::from(&b"CONNECT\naccept-version:1.2\nheart-beat:1000,1000\n\n\0"[..]);
    ch.handle_bytes(now, &mut connect);
    while ch.poll_event().is_some() {}
    ch.accept_connect(now, "s");
    let mut buf = BytesMut::from(data);
    ch.handle_bytes(now, &mut buf);
    ch.handle_timeout(now + Duration::from_secs(3));
    while ch.poll_event().is_some() {}
    let mut out = BytesMut::new();
    ch.take_transmit(&mut out);
});
