//! Decodes arbitrary bytes as LwM2M TLV (raw, and typed against the shipped object
//! definitions of the Device object); whatever decodes raw must re-encode and decode to
//! itself.
#![no_main]

use std::sync::OnceLock;

use gw_lwm2m::object_model::ObjectRegistry;
use gw_lwm2m::{tlv, Path};
use libfuzzer_sys::fuzz_target;

fn registry() -> &'static ObjectRegistry {
    static REGISTRY: OnceLock<ObjectRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/lwm2m_xml");
        ObjectRegistry::load_dir(&dir).unwrap_or_default()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(tlvs) = tlv::decode(data) {
        let mut out = Vec::new();
        if tlv::encode(&tlvs, &mut out).is_ok() {
            assert_eq!(tlv::decode(&out).ok(), Some(tlvs), "TLV re-encodes to itself");
        }
    }
    for target in ["/3", "/3/0", "/3/0/1", "/3303/0"] {
        if let Ok(path) = target.parse::<Path>() {
            let _ = tlv::decode_entries(data, &path, registry());
        }
    }
});
