//! Decodes arbitrary bytes as a stream of MQTT packets, once with a fresh server codec
//! (version learned from CONNECT) and once with a codec fixed to 5.0; every packet that
//! decodes must re-encode and decode to itself.
#![no_main]

use bytes::BytesMut;
use gw_mqtt::codec::{Codec, ProtocolVersion};
use libfuzzer_sys::fuzz_target;

fn run(data: &[u8], mut codec: Codec) {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(packet)) = codec.decode(&mut buf) {
        // Re-encode with the version the packet was decoded with (CONNECT updated it).
        let version = codec.version().unwrap_or(ProtocolVersion::V3_1_1);
        let mut out = BytesMut::new();
        codec.encode(&packet, &mut out).expect("a decoded packet re-encodes");
        assert_eq!(gw_mqtt::codec::encoded_len(&packet, version), out.len());
        let mut again = Codec::new(u32::MAX);
        again.set_version(version);
        let back = again.decode(&mut out).expect("re-encoded packet decodes");
        assert_eq!(back.as_ref(), Some(&packet));
        assert!(out.is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    run(data, Codec::new(1 << 20));
    let mut v5 = Codec::new(1 << 20);
    v5.set_version(ProtocolVersion::V5);
    run(data, v5);
});
