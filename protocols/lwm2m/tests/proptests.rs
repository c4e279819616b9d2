//! Decoders never panic on arbitrary input; TLV trees round-trip.

use bytes::Bytes;
use gw_coap::codec::{Code, Message, MessageType};
use gw_lwm2m::object_model::ObjectRegistry;
use gw_lwm2m::tlv::{self, Kind, Tlv, TlvContent};
use gw_lwm2m::{commands, linkformat, object_model, oma_json, registration, senml, Path};
use proptest::prelude::*;

fn leaf() -> impl Strategy<Value = Tlv> {
    (any::<u16>(), prop::collection::vec(any::<u8>(), 0..300), any::<bool>()).prop_map(|(id, v, ri)| Tlv {
        kind: if ri { Kind::ResourceInstance } else { Kind::Resource },
        id,
        content: TlvContent::Value(Bytes::from(v)),
    })
}

proptest! {
    #[test]
    fn tlv_decode_never_panics(buf in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = tlv::decode(&buf);
        let reg = ObjectRegistry::new();
        let _ = tlv::decode_entries(&buf, &Path::instance(3, 0), &reg);
    }

    #[test]
    fn tlv_round_trip(leaves in prop::collection::vec(leaf(), 0..8)) {
        let mut out = Vec::new();
        tlv::encode(&leaves, &mut out).unwrap();
        prop_assert_eq!(tlv::decode(&out).unwrap(), leaves);
    }

    #[test]
    fn senml_and_json_never_panic(buf in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = senml::decode_json(&buf, None);
        let _ = senml::decode_cbor(&buf, None);
        let _ = oma_json::decode(&buf, &Path::object(3), None);
        let reg = ObjectRegistry::new();
        for cf in [0u16, 40, 42, 110, 112, 11542, 11543, 60] {
            let _ = commands::decode_content(Some(cf), &buf, &Path::resource(3, 0, 0), &reg);
        }
    }

    #[test]
    fn text_parsers_never_panic(s in "\\PC{0,80}") {
        let _ = linkformat::parse(&s);
        let _ = linkformat::registered_objects(&s);
        let _ = object_model::parse_xml(&s);
        let _ = Path::parse(&s);
        let _ = Path::instance(3, 0).join(&s);
        let mut m = Message::new(MessageType::Confirmable, Code::POST, 1, Bytes::new());
        m.add_option(11, Bytes::from_static(b"rd"));
        m.add_option(15, Bytes::from(s.clone().into_bytes()));
        m.payload = Bytes::from(s.into_bytes());
        let _ = registration::parse_request(&m);
    }

    #[test]
    fn link_format_chars(s in "[<>;=,\"/a-z0-9 ]{0,60}") {
        let _ = linkformat::parse(&s);
    }
}
