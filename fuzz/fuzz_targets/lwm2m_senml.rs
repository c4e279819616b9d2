//! Decodes arbitrary bytes as SenML JSON and SenML CBOR (RFC 8428), with and without the
//! object definitions: errors are fine, panics are not.
#![no_main]

use std::sync::OnceLock;

use gw_lwm2m::object_model::ObjectRegistry;
use gw_lwm2m::senml;
use libfuzzer_sys::fuzz_target;

fn registry() -> &'static ObjectRegistry {
    static REGISTRY: OnceLock<ObjectRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/lwm2m_xml");
        ObjectRegistry::load_dir(&dir).unwrap_or_default()
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = senml::decode_json(data, None);
    let _ = senml::decode_json(data, Some(registry()));
    let _ = senml::decode_cbor(data, None);
    let _ = senml::decode_cbor(data, Some(registry()));
});
