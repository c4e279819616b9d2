//! Property tests: encode → decode is the identity (per version, within what the version
//! can carry), decoding arbitrary bytes never panics, and splitting the input anywhere
//! gives the same frames.

use bytes::{Bytes, BytesMut};
use gw_stomp::codec::*;
use proptest::prelude::*;

fn version() -> impl Strategy<Value = Version> {
    prop::sample::select(Version::ALL.to_vec())
}

fn command() -> impl Strategy<Value = Command> {
    prop::sample::select(Command::ALL.to_vec())
}

/// Header text a version can carry in a frame of `command`.
fn text(escaped: bool, name: bool) -> BoxedStrategy<String> {
    if escaped {
        // Any character, escapes included (CR only survives 1.2; filtered below).
        "[a-z:\\\\\n\r é-]{0,12}".boxed()
    } else if name {
        "[a-z \\\\é-]{0,12}".boxed()
    } else {
        "[a-z: \\\\é-]{0,12}".boxed()
    }
}

fn frame_for(v: Version) -> impl Strategy<Value = Frame> {
    command().prop_flat_map(move |command| {
        let escaped = command.escapes_headers() && v != Version::V1_0;
        let header = (text(escaped, true), text(escaped, false))
            .prop_map(move |(mut n, mut val)| {
                if v == Version::V1_1 {
                    n.retain(|c| c != '\r');
                    val.retain(|c| c != '\r');
                }
                if n.is_empty() {
                    n.push('h');
                }
                (n, val)
            })
            .prop_filter("content-length is the encoder's", |(n, _)| n != "content-length");
        (prop::collection::vec(header, 0..6), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(move |(headers, body)| Frame { command, headers, body: Bytes::from(body) })
    })
}

fn without_content_length(mut f: Frame) -> Frame {
    f.headers.retain(|(n, _)| n != "content-length");
    f
}

fn big_limits() -> FrameLimits {
    FrameLimits { max_headers: 64, max_header_length: 4096, max_body_length: 1 << 20, max_frame_size: None }
}

proptest! {
    #[test]
    fn roundtrip((v, frame) in version().prop_flat_map(|v| (Just(v), frame_for(v)))) {
        let mut buf = BytesMut::new();
        encode(&frame, v, &mut buf);
        let mut d = Decoder::new(big_limits());
        d.set_version(v);
        let got = d.decode(&mut buf).unwrap();
        prop_assert_eq!(got.map(|g| match g { Decoded::Frame(f) => without_content_length(f), Decoded::Heartbeat => panic!() }), Some(frame));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn split_anywhere((v, frames) in version().prop_flat_map(|v| (Just(v), prop::collection::vec(frame_for(v), 1..4))), cut in any::<prop::sample::Index>()) {
        let mut wire = BytesMut::new();
        for f in &frames {
            encode(f, v, &mut wire);
            wire.extend_from_slice(b"\n");
        }
        let cut = cut.index(wire.len() + 1);
        let mut d = Decoder::new(big_limits());
        d.set_version(v);
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut got = Vec::new();
        for step in 0..2 {
            if step == 1 {
                buf.extend_from_slice(&wire[cut..]);
            }
            while let Some(x) = d.decode(&mut buf).unwrap() {
                if let Decoded::Frame(f) = x {
                    got.push(without_content_length(f));
                }
            }
        }
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), v in version()) {
        let mut d = Decoder::new(FrameLimits { max_headers: 3, max_header_length: 32, max_body_length: 64, max_frame_size: Some(200) });
        d.set_version(v);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = d.decode(&mut buf) {}
    }

    #[test]
    fn stomp_like_bytes_never_panic(parts in prop::collection::vec(prop::sample::select(vec![
        &b"SEND"[..], b"CONNECT", b"MESSAGE", b"\n", b"\r\n", b"\r", b"\0", b":", b"\\", b"\\n", b"\\c", b"\\r", b"k", b"content-length:", b"3", b"999999", b"\xff",
    ]), 0..64), v in version()) {
        let bytes: Vec<u8> = parts.concat();
        let mut d = Decoder::new(FrameLimits { max_headers: 3, max_header_length: 16, max_body_length: 32, max_frame_size: None });
        d.set_version(v);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = d.decode(&mut buf) {}
    }
}
