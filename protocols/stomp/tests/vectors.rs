//! Byte-level vectors: the example frames of the STOMP 1.2 specification (section named on
//! each test), escaping per version, CR LF, heart-beat EOLs, one trigger per `DecodeError`
//! variant, and "need more" at every split point.

use bytes::{Bytes, BytesMut};
use gw_stomp::codec::*;

use Version::{V1_0, V1_1, V1_2};

fn decoder(v: Version) -> Decoder {
    let mut d = Decoder::new(FrameLimits::default());
    d.set_version(v);
    d
}

/// Decodes everything in `bytes`, panicking on error or leftovers.
fn decode_all(bytes: &[u8], v: Version) -> Vec<Decoded> {
    let mut d = decoder(v);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(x) = d.decode(&mut buf).unwrap() {
        out.push(x);
    }
    assert!(buf.is_empty(), "left {:?}", buf);
    out
}

fn decode_one(bytes: &[u8], v: Version) -> Frame {
    match decode_all(bytes, v).as_slice() {
        [Decoded::Frame(f)] => f.clone(),
        other => panic!("expected one frame, got {other:?}"),
    }
}

fn decode_err_with(bytes: &[u8], v: Version, limits: FrameLimits) -> DecodeError {
    let mut d = Decoder::new(limits);
    d.set_version(v);
    let mut buf = BytesMut::from(bytes);
    loop {
        match d.decode(&mut buf) {
            Err(e) => return e,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("expected an error for {bytes:?}"),
        }
    }
}

fn decode_err(bytes: &[u8], v: Version) -> DecodeError {
    decode_err_with(bytes, v, FrameLimits::default())
}

fn encoded(frame: &Frame, v: Version) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(frame, v, &mut out);
    out.to_vec()
}

/// `bytes` decodes to `expected`; every strict prefix is `Ok(None)` for a fresh decoder
/// and for one decoder fed byte by byte (nothing consumed until complete).
fn vector(bytes: &[u8], v: Version, expected: &Frame) {
    assert_eq!(&decode_one(bytes, v), expected);
    for split in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..split]);
        assert_eq!(decoder(v).decode(&mut buf), Ok(None), "prefix {split}");
        assert_eq!(buf.len(), split);
    }
    let mut d = decoder(v);
    let mut buf = BytesMut::new();
    for (i, &b) in bytes.iter().enumerate() {
        buf.extend_from_slice(&[b]);
        let got = d.decode(&mut buf).unwrap();
        if i + 1 < bytes.len() {
            assert_eq!(got, None, "byte {i}");
        } else {
            assert_eq!(got, Some(Decoded::Frame(expected.clone())));
        }
    }
}

// ----- spec examples -----

/// §Connecting.
#[test]
fn spec_connect() {
    let bytes = b"CONNECT\n\
        accept-version:1.2\n\
        host:stomp.github.org\n\
        \n\
        \0";
    let f = Frame::new(Command::Connect).with_header("accept-version", "1.2").with_header("host", "stomp.github.org");
    vector(bytes, V1_2, &f);
    assert_eq!(encoded(&f, V1_2), bytes);
}

/// §Protocol Negotiation: CONNECTED; `version:1.1`.
#[test]
fn spec_connected() {
    let bytes = b"CONNECTED\nversion:1.1\n\n\0";
    let f = Frame::new(Command::Connected).with_header("version", "1.1");
    vector(bytes, V1_1, &f);
    assert_eq!(encoded(&f, V1_1), bytes);
}

/// §Protocol Negotiation: the ERROR for no common version, body without content-length.
#[test]
fn spec_error_versions() {
    let bytes = b"ERROR\nversion:1.2,2.1\ncontent-type:text/plain\n\nSupported protocol versions are 1.2 2.1\0";
    let f = decode_one(bytes, V1_2);
    assert_eq!(f.header("version"), Some("1.2,2.1"));
    assert_eq!(f.body, Bytes::from_static(b"Supported protocol versions are 1.2 2.1"));
    // Re-encoding adds content-length first (always written for a non-empty body).
    assert_eq!(
        encoded(&f, V1_2),
        b"ERROR\ncontent-length:39\nversion:1.2,2.1\ncontent-type:text/plain\n\nSupported protocol versions are 1.2 2.1\0"
    );
}

/// §SEND, plus a trailing EOL after the NULL (frame = ... NULL *( EOL )).
#[test]
fn spec_send_then_eol() {
    let bytes = b"SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\n\0\n";
    let got = decode_all(bytes, V1_2);
    assert_eq!(got.len(), 2);
    let Decoded::Frame(f) = &got[0] else { panic!() };
    assert_eq!(f.command, Command::Send);
    assert_eq!(f.header("destination"), Some("/queue/a"));
    assert_eq!(f.body, Bytes::from_static(b"hello queue a\n"));
    assert_eq!(got[1], Decoded::Heartbeat);
}

/// §Header content-length: NULs inside the body are read when content-length is given.
#[test]
fn send_content_length_with_nuls() {
    let bytes = b"SEND\n\
        content-length:5\n\
        destination:/q\n\
        \n\
        a\0b\0c\0";
    let f = Frame::new(Command::Send)
        .with_header("content-length", "5")
        .with_header("destination", "/q")
        .with_body(&b"a\0b\0c"[..]);
    vector(bytes, V1_2, &f);
    assert_eq!(encoded(&f, V1_2), bytes);
}

/// §MESSAGE.
#[test]
fn spec_message() {
    let bytes = b"MESSAGE\n\
        content-length:13\n\
        subscription:0\n\
        message-id:007\n\
        destination:/queue/a\n\
        content-type:text/plain\n\
        \n\
        hello queue a\0";
    let f = Frame::new(Command::Message)
        .with_header("content-length", "13")
        .with_header("subscription", "0")
        .with_header("message-id", "007")
        .with_header("destination", "/queue/a")
        .with_header("content-type", "text/plain")
        .with_body(&b"hello queue a"[..]);
    vector(bytes, V1_2, &f);
    assert_eq!(encoded(&f, V1_2), bytes);
}

/// §RECEIPT, and §DISCONNECT's example (no blank line before NULL there is a typo in the
/// spec text; the BNF requires it).
#[test]
fn spec_receipt_and_disconnect() {
    let f = Frame::new(Command::Receipt).with_header("receipt-id", "message-12345");
    vector(b"RECEIPT\nreceipt-id:message-12345\n\n\0", V1_2, &f);
    let d = Frame::new(Command::Disconnect).with_header("receipt", "77");
    vector(b"DISCONNECT\nreceipt:77\n\n\0", V1_2, &d);
}

/// §ERROR: the long example, with content-length among the headers. (The spec says 171;
/// its body as printed is 170 octets, so the length is computed here.)
#[test]
fn spec_error_long() {
    let body = "The message:\n-----\nMESSAGE\ndestined:/queue/a\nreceipt:message-12345\n\nHello queue a!\n-----\nDid not contain a destination header, which is REQUIRED\nfor message propagation.\n";
    let bytes = format!(
        "ERROR\nreceipt-id:message-12345\ncontent-type:text/plain\ncontent-length:{}\nmessage: malformed frame received\n\n{body}\0",
        body.len()
    );
    let f = decode_one(bytes.as_bytes(), V1_2);
    // Never trimmed (§Value Encoding): the leading space stays.
    assert_eq!(f.header("message"), Some(" malformed frame received"));
    assert_eq!(f.body, Bytes::from(body));
}

/// §Repeated Header Entries: the first one wins.
#[test]
fn spec_repeated_header() {
    let f = decode_one(b"MESSAGE\nfoo:World\nfoo:Hello\n\n\0", V1_2);
    assert_eq!(f.header("foo"), Some("World"));
    assert_eq!(f.headers.len(), 2);
}

/// §ACK / §NACK / §BEGIN / §COMMIT / §ABORT / §SUBSCRIBE / §UNSUBSCRIBE examples.
#[test]
fn spec_client_frames() {
    for (bytes, cmd) in [
        (&b"ACK\nid:12345\ntransaction:tx1\n\n\0"[..], Command::Ack),
        (b"NACK\nid:12345\n\n\0", Command::Nack),
        (b"BEGIN\ntransaction:tx1\n\n\0", Command::Begin),
        (b"COMMIT\ntransaction:tx1\n\n\0", Command::Commit),
        (b"ABORT\ntransaction:tx1\n\n\0", Command::Abort),
        (b"SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0", Command::Subscribe),
        (b"UNSUBSCRIBE\nid:0\n\n\0", Command::Unsubscribe),
        (b"STOMP\naccept-version:1.2\nhost:stomp.github.org\n\n\0", Command::Stomp),
    ] {
        let f = decode_one(bytes, V1_2);
        assert_eq!(f.command, cmd);
        assert_eq!(encoded(&f, V1_2), bytes);
    }
}

// ----- line endings and heart-beats -----

/// §STOMP Frames: EOL = [CR] LF (1.2).
#[test]
fn crlf_line_endings() {
    let f = decode_one(b"SEND\r\ndestination:/q\r\nx:y\r\n\r\nbody\0", V1_2);
    assert_eq!(f.header("destination"), Some("/q"));
    assert_eq!(f.header("x"), Some("y"));
    assert_eq!(f.body, Bytes::from_static(b"body"));
}

/// §Heart-beating: EOLs between frames are reported one by one.
#[test]
fn heartbeat_eols_between_frames() {
    let got = decode_all(b"\n\r\n\nRECEIPT\nreceipt-id:1\n\n\0\r\n\n", V1_2);
    assert_eq!(got.len(), 6);
    assert_eq!(got[..3], [Decoded::Heartbeat, Decoded::Heartbeat, Decoded::Heartbeat]);
    assert!(matches!(got[3], Decoded::Frame(_)));
    assert_eq!(got[4..], [Decoded::Heartbeat, Decoded::Heartbeat]);
    // A lone CR waits for its LF.
    let mut buf = BytesMut::from(&b"\r"[..]);
    assert_eq!(decoder(V1_2).decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), 1);
}

// ----- escaping (§Value Encoding) -----

#[test]
fn escaping_v1_2() {
    // name "a:b" value "x\ny:z\\w\r"
    let bytes = b"SEND\na\\cb:x\\ny\\cz\\\\w\\r\n\n\0";
    let f = Frame::new(Command::Send).with_header("a:b", "x\ny:z\\w\r");
    vector(bytes, V1_2, &f);
    assert_eq!(encoded(&f, V1_2), bytes);
}

#[test]
fn escaping_v1_1_has_no_cr() {
    let f = decode_one(b"SEND\nk:a\\nb\\cc\\\\d\n\n\0", V1_1);
    assert_eq!(f.header("k"), Some("a\nb:c\\d"));
    assert_eq!(decode_err(b"SEND\nk:\\r\n\n\0", V1_1), DecodeError::InvalidEscape);
    // Encoding for 1.1 drops CR (not representable).
    let f = Frame::new(Command::Send).with_header("k", "a\rb\n");
    assert_eq!(encoded(&f, V1_1), b"SEND\nk:ab\\n\n\n\0");
}

#[test]
fn v1_0_and_connect_are_not_escaped() {
    let f = decode_one(b"SEND\nk:a\\nb\n\n\0", V1_0);
    assert_eq!(f.header("k"), Some("a\\nb"));
    // CONNECT / CONNECTED never unescape, whatever the version.
    let f = decode_one(b"CONNECT\npasscode:p\\ss:w\n\n\0", V1_2);
    assert_eq!(f.header("passcode"), Some("p\\ss:w"));
    let f = Frame::new(Command::Connected).with_header("server", "a\\b:c");
    assert_eq!(encoded(&f, V1_2), b"CONNECTED\nserver:a\\b:c\n\n\0");
    // 1.0 drops CR / LF (and ':' in names) it cannot carry.
    let f = Frame::new(Command::Message).with_header("a:b", "x\ny");
    assert_eq!(encoded(&f, V1_0), b"MESSAGE\nab:xy\n\n\0");
}

// ----- every DecodeError variant -----

#[test]
fn error_unknown_command() {
    assert_eq!(decode_err(b"send\n\n\0", V1_2), DecodeError::UnknownCommand);
    assert_eq!(decode_err(b"\rX", V1_2), DecodeError::UnknownCommand);
    // Refused before its line ends: longer than any command.
    assert_eq!(decode_err(b"GET / HTTP/1.1", V1_2), DecodeError::UnknownCommand);
}

#[test]
fn error_too_many_headers() {
    let limits = FrameLimits { max_headers: 2, ..Default::default() };
    assert_eq!(decode_err_with(b"SEND\na:1\nb:2\nc:3\n\n\0", V1_2, limits), DecodeError::TooManyHeaders { max: 2 });
    // Before the third line is complete.
    assert_eq!(decode_err_with(b"SEND\na:1\nb:2\nc", V1_2, limits), DecodeError::TooManyHeaders { max: 2 });
}

#[test]
fn error_header_too_long() {
    let limits = FrameLimits { max_header_length: 8, ..Default::default() };
    assert_eq!(decode_err_with(b"SEND\nk:1234567\n\n\0", V1_2, limits), DecodeError::HeaderTooLong { max: 8 });
    // Exactly at the limit, CR LF allowed.
    let mut d = Decoder::new(limits);
    let mut buf = BytesMut::from(&b"SEND\nk:123456\r\n\n\0"[..]);
    assert!(d.decode(&mut buf).unwrap().is_some());
    // Refused before the line ends.
    assert_eq!(decode_err_with(b"SEND\nk:12345678", V1_2, limits), DecodeError::HeaderTooLong { max: 8 });
}

#[test]
fn error_missing_colon_empty_name() {
    assert_eq!(decode_err(b"SEND\nnocolon\n\n\0", V1_2), DecodeError::MissingColon);
    assert_eq!(decode_err(b"SEND\n:v\n\n\0", V1_2), DecodeError::EmptyHeaderName);
}

#[test]
fn error_invalid_escape_and_utf8() {
    assert_eq!(decode_err(b"SEND\nk:\\t\n\n\0", V1_2), DecodeError::InvalidEscape);
    assert_eq!(decode_err(b"SEND\nk:abc\\\n\n\0", V1_2), DecodeError::InvalidEscape);
    assert_eq!(decode_err(b"SEND\nk:\xff\n\n\0", V1_2), DecodeError::InvalidUtf8);
}

#[test]
fn error_content_length() {
    assert_eq!(decode_err(b"SEND\ncontent-length:x1\n\n\0", V1_2), DecodeError::InvalidContentLength);
    assert_eq!(decode_err(b"SEND\ncontent-length:-1\n\n\0", V1_2), DecodeError::InvalidContentLength);
    // Above the limit: refused as soon as the headers end, without waiting for the body.
    assert_eq!(decode_err(b"SEND\ncontent-length:65537\n\n", V1_2), DecodeError::BodyTooLarge { max: 65536 });
    assert_eq!(
        decode_err(b"SEND\ncontent-length:99999999999999999999999\n\n", V1_2),
        DecodeError::BodyTooLarge { max: 65536 }
    );
    assert_eq!(decode_err(b"SEND\ncontent-length:2\n\nabc\0", V1_2), DecodeError::MissingNull);
}

#[test]
fn error_body_too_large_without_content_length() {
    let limits = FrameLimits { max_body_length: 4, ..Default::default() };
    // Five body bytes and no NULL yet: refused without waiting for the NULL.
    assert_eq!(decode_err_with(b"SEND\n\nabcde", V1_2, limits), DecodeError::BodyTooLarge { max: 4 });
    assert_eq!(decode_err_with(b"SEND\n\nabcde\0", V1_2, limits), DecodeError::BodyTooLarge { max: 4 });
    let mut buf = BytesMut::from(&b"SEND\n\nabcd\0"[..]);
    assert!(Decoder::new(limits).decode(&mut buf).unwrap().is_some());
}

#[test]
fn error_frame_too_large() {
    let limits = FrameLimits { max_frame_size: Some(16), ..Default::default() };
    assert_eq!(decode_err_with(b"SEND\ncontent-length:10\n\n", V1_2, limits), DecodeError::FrameTooLarge { max: 16 });
    assert_eq!(decode_err_with(b"SEND\nk:v\n\n0123456789", V1_2, limits), DecodeError::FrameTooLarge { max: 16 });
    let mut buf = BytesMut::from(&b"SEND\nk:v\n\n01234\0"[..]);
    assert!(Decoder::new(limits).decode(&mut buf).unwrap().is_some());
}

#[test]
fn errors_say_what_is_wrong() {
    assert_eq!(DecodeError::TooManyHeaders { max: 10 }.to_string(), "too many headers (limit 10)");
    assert_eq!(DecodeError::BodyTooLarge { max: 65536 }.to_string(), "body too large (limit 65536 bytes)");
}

#[test]
fn decoder_is_reusable_after_frames_and_resets_after_errors() {
    let mut d = decoder(V1_2);
    let mut buf = BytesMut::from(&b"SEND\ndestination:/a\n\nx\0SEND\ndestination:/b\n\ny\0"[..]);
    let Some(Decoded::Frame(a)) = d.decode(&mut buf).unwrap() else { panic!() };
    let Some(Decoded::Frame(b)) = d.decode(&mut buf).unwrap() else { panic!() };
    assert_eq!((a.header("destination"), b.header("destination")), (Some("/a"), Some("/b")));
    assert!(buf.is_empty());
}
