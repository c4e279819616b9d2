//! The few packets gwload sends and reads, built by hand from the specifications (MQTT 3.1.1,
//! STOMP 1.2, MQTT-SN 1.2, CoAP RFC 7252) so the gateway is measured as an outside client sees
//! it, without its own codecs.

// ------------------------------------------------------------------------------- MQTT 3.1.1

/// MQTT packet types gwload looks at (upper nibble of the fixed header).
pub(crate) const MQTT_CONNACK: u8 = 2;
pub(crate) const MQTT_PUBLISH: u8 = 3;
pub(crate) const MQTT_SUBACK: u8 = 9;

/// Appends `n` as an MQTT variable byte integer (the fixed header's Remaining Length).
pub(crate) fn put_remaining_length(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let digit = (n % 128) as u8;
        n /= 128;
        if n == 0 {
            out.push(digit);
            return;
        }
        out.push(digit | 0x80);
    }
}

fn put_mqtt_string(out: &mut Vec<u8>, s: &[u8]) {
    let len = u16::try_from(s.len()).expect("MQTT string longer than 65535 bytes");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s);
}

/// CONNECT, protocol level 4 (3.1.1), clean session, no will, no credentials.
pub(crate) fn mqtt_connect(client_id: &str, keepalive: u16) -> Vec<u8> {
    let mut body = Vec::with_capacity(12 + client_id.len());
    put_mqtt_string(&mut body, b"MQTT");
    body.push(4);
    body.push(0x02);
    body.extend_from_slice(&keepalive.to_be_bytes());
    put_mqtt_string(&mut body, client_id.as_bytes());
    let mut packet = vec![0x10];
    put_remaining_length(&mut packet, body.len());
    packet.extend_from_slice(&body);
    packet
}

/// SUBSCRIBE to one filter.
pub(crate) fn mqtt_subscribe(packet_id: u16, filter: &str, qos: u8) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    put_mqtt_string(&mut body, filter.as_bytes());
    body.push(qos);
    let mut packet = vec![0x82];
    put_remaining_length(&mut packet, body.len());
    packet.extend_from_slice(&body);
    packet
}

/// Appends a QoS 0 PUBLISH (no packet id, no retain).
pub(crate) fn mqtt_publish_qos0(out: &mut Vec<u8>, topic: &str, payload: &[u8]) {
    out.push(0x30);
    put_remaining_length(out, 2 + topic.len() + payload.len());
    put_mqtt_string(out, topic.as_bytes());
    out.extend_from_slice(payload);
}

/// The first complete MQTT packet of `buf`: (first header byte, body offset, packet length).
/// `Ok(None)` while incomplete; an error for a Remaining Length of more than four bytes.
pub(crate) fn mqtt_packet(buf: &[u8]) -> Result<Option<(u8, usize, usize)>, &'static str> {
    let Some(&first) = buf.first() else { return Ok(None) };
    let mut len = 0usize;
    for (i, &byte) in buf.iter().enumerate().skip(1) {
        if i > 4 {
            return Err("MQTT remaining length longer than 4 bytes");
        }
        len |= usize::from(byte & 0x7f) << (7 * (i - 1));
        if byte & 0x80 == 0 {
            let total = i + 1 + len;
            return Ok((buf.len() >= total).then_some((first, i + 1, total)));
        }
    }
    Ok(None)
}

/// Counts the PUBLISH packets in an MQTT byte stream fed in arbitrary pieces, reading only
/// fixed headers and skipping bodies, without buffering anything.
#[derive(Debug, Default)]
pub(crate) struct PublishCounter {
    state: CounterState,
}

#[derive(Debug, Default, Clone, Copy)]
enum CounterState {
    #[default]
    Header,
    Length {
        publish: bool,
        value: usize,
        shift: u32,
    },
    Body {
        publish: bool,
        left: usize,
    },
}

impl PublishCounter {
    /// Feeds the next bytes of the stream; returns the PUBLISH packets completed by them.
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<u64, &'static str> {
        let mut publishes = 0;
        while let Some(&byte) = data.first() {
            self.state = match self.state {
                CounterState::Header => {
                    data = &data[1..];
                    CounterState::Length { publish: byte >> 4 == MQTT_PUBLISH, value: 0, shift: 0 }
                }
                CounterState::Length { publish, value, shift } => {
                    data = &data[1..];
                    let value = value | (usize::from(byte & 0x7f) << shift);
                    if byte & 0x80 != 0 {
                        if shift >= 21 {
                            return Err("MQTT remaining length longer than 4 bytes");
                        }
                        CounterState::Length { publish, value, shift: shift + 7 }
                    } else if value == 0 {
                        publishes += u64::from(publish);
                        CounterState::Header
                    } else {
                        CounterState::Body { publish, left: value }
                    }
                }
                CounterState::Body { publish, left } => {
                    let take = left.min(data.len());
                    data = &data[take..];
                    if take == left {
                        publishes += u64::from(publish);
                        CounterState::Header
                    } else {
                        CounterState::Body { publish, left: left - take }
                    }
                }
            };
        }
        Ok(publishes)
    }
}

// ------------------------------------------------------------------------------- STOMP 1.2

/// CONNECT asking for 1.2, virtual host `/`, no heart-beats (the header's default 0,0).
pub(crate) fn stomp_connect() -> Vec<u8> {
    b"CONNECT\naccept-version:1.2\nhost:/\n\n\0".to_vec()
}

/// Appends a SEND frame with an explicit content-length.
pub(crate) fn stomp_send(out: &mut Vec<u8>, destination: &str, body: &[u8]) {
    out.extend_from_slice(b"SEND\ndestination:");
    out.extend_from_slice(destination.as_bytes());
    out.extend_from_slice(b"\ncontent-length:");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
    out.extend_from_slice(body);
    out.push(0);
}

// ------------------------------------------------------------------------------- MQTT-SN 1.2

pub(crate) const SN_CONNACK: u8 = 0x05;
pub(crate) const SN_REGACK: u8 = 0x0B;
pub(crate) const SN_PUBACK: u8 = 0x0D;
pub(crate) const SN_DISCONNECT: u8 = 0x18;

/// A whole MQTT-SN message: Length (1 octet, or 0x01 + 2 octets from 256 on), MsgType, body.
pub(crate) fn sn_message(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let short = 2 + body.len();
    let mut out = Vec::with_capacity(short + 2);
    if short <= 255 {
        out.push(short as u8);
    } else {
        let long = u16::try_from(short + 2).expect("MQTT-SN message longer than 65535 bytes");
        out.push(0x01);
        out.extend_from_slice(&long.to_be_bytes());
    }
    out.push(msg_type);
    out.extend_from_slice(body);
    out
}

/// CONNECT: flags CleanSession, ProtocolId 1, Duration, ClientId.
pub(crate) fn sn_connect(client_id: &str, duration: u16) -> Vec<u8> {
    let mut body = vec![0x04, 0x01];
    body.extend_from_slice(&duration.to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    sn_message(0x04, &body)
}

/// REGISTER a topic name (TopicId 0 from a client).
pub(crate) fn sn_register(msg_id: u16, topic: &str) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&msg_id.to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    sn_message(0x0A, &body)
}

/// PUBLISH QoS 0 to a normal (registered) topic id: flags 0x00, MsgId 0.
pub(crate) fn sn_publish_qos0(topic_id: u16, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00];
    body.extend_from_slice(&topic_id.to_be_bytes());
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(payload);
    sn_message(0x0C, &body)
}

/// (MsgType, body) of one MQTT-SN datagram, if its Length field is consistent.
pub(crate) fn sn_parse(datagram: &[u8]) -> Option<(u8, &[u8])> {
    match *datagram {
        [0x01, hi, lo, msg_type, ref body @ ..] if usize::from(u16::from_be_bytes([hi, lo])) == datagram.len() => {
            Some((msg_type, body))
        }
        [len, msg_type, ref body @ ..] if len >= 2 && usize::from(len) == datagram.len() => Some((msg_type, body)),
        _ => None,
    }
}

// ------------------------------------------------------------------------------- CoAP (RFC 7252)

pub(crate) const COAP_CON: u8 = 0;
pub(crate) const COAP_NON: u8 = 1;
pub(crate) const COAP_RST: u8 = 3;
pub(crate) const COAP_EMPTY: u8 = 0x00;
pub(crate) const COAP_POST: u8 = 0x02;
pub(crate) const COAP_URI_PATH: u16 = 11;
pub(crate) const COAP_URI_QUERY: u16 = 15;

/// An option delta or length as its 4-bit nibble and extended bytes (§3.1).
fn coap_nibble(v: usize) -> (u8, Vec<u8>) {
    match v {
        0..=12 => (v as u8, Vec::new()),
        13..=268 => (13, vec![(v - 13) as u8]),
        _ => (14, u16::try_from(v - 269).expect("CoAP option delta/length too large").to_be_bytes().to_vec()),
    }
}

/// Appends options, which must come in ascending option-number order, delta-encoded.
pub(crate) fn coap_put_options(out: &mut Vec<u8>, options: &[(u16, &[u8])]) {
    let mut previous = 0u16;
    for &(number, value) in options {
        assert!(number >= previous, "CoAP options out of order");
        let (delta, delta_ext) = coap_nibble(usize::from(number - previous));
        let (len, len_ext) = coap_nibble(value.len());
        out.push(delta << 4 | len);
        out.extend_from_slice(&delta_ext);
        out.extend_from_slice(&len_ext);
        out.extend_from_slice(value);
        previous = number;
    }
}

/// A whole CoAP message (version 1). The message id is at bytes 2..4 and the token right after
/// the 4-byte header, so a sender can patch both in place.
pub(crate) fn coap_message(
    msg_type: u8,
    code: u8,
    message_id: u16,
    token: &[u8],
    options: &[(u16, &[u8])],
    payload: &[u8],
) -> Vec<u8> {
    assert!(token.len() <= 8, "CoAP token longer than 8 bytes");
    let mut out = vec![0x40 | msg_type << 4 | token.len() as u8, code];
    out.extend_from_slice(&message_id.to_be_bytes());
    out.extend_from_slice(token);
    coap_put_options(&mut out, options);
    if !payload.is_empty() {
        out.push(0xFF);
        out.extend_from_slice(payload);
    }
    out
}

/// (type, code, message id) of a CoAP datagram, if it has a version-1 header.
pub(crate) fn coap_header(datagram: &[u8]) -> Option<(u8, u8, u16)> {
    match *datagram {
        [b0, code, hi, lo, ..] if b0 >> 6 == 1 => Some((b0 >> 4 & 3, code, u16::from_be_bytes([hi, lo]))),
        _ => None,
    }
}

/// A CoAP code as `c.dd` (e.g. 2.04, 4.04).
pub(crate) fn coap_code_text(code: u8) -> String {
    format!("{}.{:02}", code >> 5, code & 0x1f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remaining_length(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        put_remaining_length(&mut out, n);
        out
    }

    #[test]
    fn mqtt_remaining_length_boundaries() {
        // MQTT 3.1.1 §2.2.3, table 2.4
        assert_eq!(remaining_length(0), [0x00]);
        assert_eq!(remaining_length(127), [0x7F]);
        assert_eq!(remaining_length(128), [0x80, 0x01]);
        assert_eq!(remaining_length(16_383), [0xFF, 0x7F]);
        assert_eq!(remaining_length(16_384), [0x80, 0x80, 0x01]);
        assert_eq!(remaining_length(2_097_151), [0xFF, 0xFF, 0x7F]);
        assert_eq!(remaining_length(2_097_152), [0x80, 0x80, 0x80, 0x01]);
        assert_eq!(remaining_length(268_435_455), [0xFF, 0xFF, 0xFF, 0x7F]);
    }

    #[test]
    fn mqtt_packets_parse_back() {
        let connect = mqtt_connect("gw", 600);
        assert_eq!(connect, b"\x10\x0e\x00\x04MQTT\x04\x02\x02\x58\x00\x02gw");
        assert_eq!(mqtt_subscribe(1, "bench/#", 0), b"\x82\x0c\x00\x01\x00\x07bench/#\x00");
        let mut publish = Vec::new();
        mqtt_publish_qos0(&mut publish, "bench/1", &[7; 200]);
        assert_eq!(mqtt_packet(&publish), Ok(Some((0x30, 3, publish.len()))));
        assert_eq!(mqtt_packet(&publish[..100]), Ok(None));
        assert_eq!(
            mqtt_packet(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err("MQTT remaining length longer than 4 bytes")
        );
    }

    #[test]
    fn publish_counter_counts_across_any_split() {
        let mut stream = vec![0x90, 3, 0, 1, 0]; // SUBACK
        for i in 0..5 {
            mqtt_publish_qos0(&mut stream, "bench/x", &vec![1; 60 * i]);
        }
        stream.extend_from_slice(&[0xD0, 0]); // PINGRESP
        mqtt_publish_qos0(&mut stream, "b", &[]);
        for chunk in [1, 2, 3, 7, 64, 1000] {
            let mut counter = PublishCounter::default();
            let total: u64 = stream.chunks(chunk).map(|c| counter.feed(c).unwrap()).sum();
            assert_eq!(total, 6, "chunk size {chunk}");
        }
    }

    #[test]
    fn stomp_send_frame() {
        let mut out = Vec::new();
        stomp_send(&mut out, "bench/3", b"ab\0c");
        assert_eq!(out, b"SEND\ndestination:bench/3\ncontent-length:4\n\nab\0c\0");
    }

    #[test]
    fn mqttsn_messages() {
        assert_eq!(sn_connect("c1", 600), [8, 0x04, 0x04, 0x01, 0x02, 0x58, b'c', b'1']);
        assert_eq!(sn_register(5, "bench/0"), b"\x0d\x0a\x00\x00\x00\x05bench/0");
        let short = sn_publish_qos0(0x0102, &[9; 3]);
        assert_eq!(short, [10, 0x0C, 0x00, 0x01, 0x02, 0, 0, 9, 9, 9]);
        assert_eq!(sn_parse(&short), Some((0x0C, &short[2..])));
        // from 256 bytes on: 0x01 and a 2-octet length covering the whole message
        let long = sn_publish_qos0(1, &[0; 300]);
        assert_eq!(long.len(), 4 + 5 + 300);
        assert_eq!(long[..4], [0x01, 0x01, 0x35, 0x0C]);
        assert_eq!(sn_parse(&long).map(|(t, b)| (t, b.len())), Some((0x0C, 305)));
        assert_eq!(sn_parse(&[3, SN_CONNACK, 0]), Some((SN_CONNACK, &[0u8][..])));
        assert_eq!(sn_parse(&[4, SN_CONNACK, 0]), None);
    }

    #[test]
    fn coap_option_encoding() {
        let mut out = Vec::new();
        // delta 11 / len 2; delta 0 / len 12; delta 4 / extended len 13 (1 byte: 0)
        coap_put_options(&mut out, &[(11, b"ps"), (11, b"abcdefghijkl"), (15, &[b'q'; 13])]);
        let mut want = vec![0xB2, b'p', b's', 0x0C];
        want.extend_from_slice(b"abcdefghijkl");
        want.extend_from_slice(&[0x4D, 0x00]);
        want.extend_from_slice(&[b'q'; 13]);
        assert_eq!(out, want);
        // extended delta 13..268 (1 byte: 20 - 13) and 269.. (2 bytes: 280 - 269), length 269 (2 bytes: 0)
        let mut out = Vec::new();
        coap_put_options(&mut out, &[(20, b""), (300, &[0; 269])]);
        assert_eq!(out[..2], [0xD0, 20 - 13]);
        assert_eq!(out[2..7], [0xEE, 0x00, 11, 0x00, 0x00]);
        assert_eq!(out.len(), 7 + 269);
    }

    #[test]
    fn coap_non_post() {
        let m = coap_message(
            COAP_NON,
            COAP_POST,
            0x1234,
            &[0xAB, 0xCD],
            &[
                (COAP_URI_PATH, b"ps"),
                (COAP_URI_PATH, b"bench"),
                (COAP_URI_PATH, b"7"),
                (COAP_URI_QUERY, b"clientid=gwload7"),
            ],
            b"hi",
        );
        let mut want = vec![0x52, 0x02, 0x12, 0x34, 0xAB, 0xCD];
        want.extend_from_slice(b"\xB2ps\x05bench\x017");
        want.extend_from_slice(b"\x4D\x03clientid=gwload7"); // delta 4, length 13 + 3
        want.extend_from_slice(b"\xFFhi");
        assert_eq!(m, want);
        assert_eq!(coap_header(&m), Some((COAP_NON, COAP_POST, 0x1234)));
        assert_eq!(coap_code_text(0x44), "2.04");
        assert_eq!(coap_code_text(0x84), "4.04");
        assert_eq!(coap_message(COAP_CON, COAP_EMPTY, 7, &[], &[], &[]), [0x40, 0, 0, 7]);
    }
}
