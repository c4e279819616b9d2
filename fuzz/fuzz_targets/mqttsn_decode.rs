//! Decodes arbitrary bytes as one MQTT-SN datagram; whatever decodes must re-encode and
//! decode to itself. Also drives a connected channel with the same bytes (and the QoS -1
//! helper) to check nothing panics.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gw_mqttsn::channel::{decode_qos_minus_one, Channel, ChannelConfig};
use gw_mqttsn::codec::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode(data) {
        let mut out = BytesMut::new();
        encode(&msg, &mut out).expect("decoded message re-encodes");
        assert_eq!(decode(&out), Ok(msg));
    }
    let config = ChannelConfig { predefined: vec![(1, "/p/1".into())], ..ChannelConfig::default() };
    let _ = decode_qos_minus_one(&config, data);
    let now = Instant::now();
    let mut ch = Channel::new(Arc::new(config), now);
    ch.handle_datagram(now, &[0x06, 0x04, 0x04, 0x01, 0x00, 0x0A]);
    while ch.poll_event().is_some() {}
    ch.accept_connect(now);
    ch.handle_datagram(now, data);
    while ch.poll_event().is_some() {}
    let _ = ch.deliver(now, "some/topic", bytes::Bytes::from_static(b"x"), 1, false, Some(1));
    ch.handle_datagram(now, data);
    ch.handle_timeout(now + Duration::from_secs(20));
    while ch.poll_event().is_some() {}
    while ch.poll_transmit().is_some() {}
});
