//! Spec vectors: OMA LwM2M TS TLV / JSON examples (the Device object instance), RFC 8428
//! SenML examples, CoRE link-format Register payloads, and the hand-written XML definitions.

use bytes::Bytes;
use gw_lwm2m::object_model::{ObjectRegistry, ResourceType};
use gw_lwm2m::tlv::{self, Kind, Tlv, TlvContent};
use gw_lwm2m::{linkformat, oma_json, senml, Entry, Path, Value};

fn registry() -> ObjectRegistry {
    ObjectRegistry::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/lwm2m_xml")).unwrap()
}

/// OMA LwM2M TS 1.0 §6.4.3.1 (TS 1.1 Core §7.4.3.1) example: Read /3/0 in TLV. The last
/// resource is sent with id 0x0F in the widely used copy of this vector (Wakaama's tests).
const DEVICE_TLV: &[u8] = &[
    0xC8, 0x00, 0x14, b'O', b'p', b'e', b'n', b' ', b'M', b'o', b'b', b'i', b'l', b'e', b' ', b'A', b'l', b'l', b'i',
    b'a', b'n', b'c', b'e', // 0 Manufacturer: 8-bit length 0x14
    0xC8, 0x01, 0x16, b'L', b'i', b'g', b'h', b't', b'w', b'e', b'i', b'g', b'h', b't', b' ', b'M', b'2', b'M', b' ',
    b'C', b'l', b'i', b'e', b'n', b't', // 1 Model Number
    0xC8, 0x02, 0x09, b'3', b'4', b'5', b'0', b'0', b'0', b'1', b'2', b'3', // 2 Serial Number
    0xC3, 0x03, b'1', b'.', b'0', // 3 Firmware Version: length 3 in the type byte
    0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05, // 6 Available Power Sources [1, 5]
    0x88, 0x07, 0x08, 0x42, 0x00, 0x0E, 0xD8, 0x42, 0x01, 0x13, 0x88, // 7 Voltage [3800, 5000]
    0x87, 0x08, 0x41, 0x00, 0x7D, 0x42, 0x01, 0x03, 0x84, // 8 Current [125, 900]
    0xC1, 0x09, 0x64, // 9 Battery Level 100
    0xC1, 0x0A, 0x0F, // 10 Memory Free 15
    0x83, 0x0B, 0x41, 0x00, 0x00, // 11 Error Code [0]
    0xC4, 0x0D, 0x51, 0x82, 0x42, 0x8F, // 13 Current Time 1367491215
    0xC6, 0x0E, b'+', b'0', b'2', b':', b'0', b'0', // 14 UTC Offset
    0xC1, 0x0F, b'U', // 15 (binding "U" in the example)
];

fn device_entries() -> Vec<Entry> {
    let r = |res, v| Entry::new(Path::resource(3, 0, res), v);
    let ri = |res, i, v| Entry::new(Path::resource_instance(3, 0, res, i), Value::Integer(v));
    vec![
        r(0, Value::String("Open Mobile Alliance".into())),
        r(1, Value::String("Lightweight M2M Client".into())),
        r(2, Value::String("345000123".into())),
        r(3, Value::String("1.0".into())),
        ri(6, 0, 1),
        ri(6, 1, 5),
        ri(7, 0, 3800),
        ri(7, 1, 5000),
        ri(8, 0, 125),
        ri(8, 1, 900),
        r(9, Value::Integer(100)),
        r(10, Value::Integer(15)),
        ri(11, 0, 0),
        r(13, Value::Time(1_367_491_215)),
        r(14, Value::String("+02:00".into())),
        r(15, Value::String("U".into())),
    ]
}

#[test]
fn tlv_device_example_decodes_typed() {
    let reg = registry();
    let entries = tlv::decode_entries(DEVICE_TLV, &Path::instance(3, 0), &reg).unwrap();
    assert_eq!(entries, device_entries());
}

#[test]
fn tlv_device_example_raw_round_trip() {
    let raw = tlv::decode(DEVICE_TLV).unwrap();
    assert_eq!(raw.len(), 13);
    assert_eq!(raw[4].kind, Kind::MultipleResource);
    let mut out = Vec::new();
    tlv::encode(&raw, &mut out).unwrap();
    assert_eq!(out, DEVICE_TLV);
    // and the typed encoder produces the same bytes from the entries
    assert_eq!(tlv::encode_entries(&device_entries(), &Path::instance(3, 0)).unwrap(), DEVICE_TLV);
}

/// TS §6.4.3.1 second example: Read /3/0/6 answered with the multiple resource.
#[test]
fn tlv_multiple_resource_on_resource_path() {
    let reg = registry();
    let buf = [0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05];
    let e = tlv::decode_entries(&buf, &Path::resource(3, 0, 6), &reg).unwrap();
    assert_eq!(e[1], Entry::new(Path::resource_instance(3, 0, 6, 1), Value::Integer(5)));
}

/// TS §6.4.3.2 example: Read /2 (Access Control, several object instances), 8-bit ids,
/// nested object-instance TLVs (`08 00 0E ...`, length in the following byte).
#[test]
fn tlv_object_instances() {
    let reg = registry();
    let buf = [
        0x08, 0x00, 0x0E, 0xC1, 0x00, 0x01, 0xC1, 0x01, 0x00, 0x83, 0x02, 0x41, 0x7F, 0x07, 0xC1, 0x03, 0x7F, //
        0x08, 0x02, 0x12, 0xC1, 0x00, 0x03, 0xC1, 0x01, 0x00, 0x87, 0x02, 0x41, 0x7F, 0x07, 0x61, 0x01, 0x36, 0x01,
        0xC1, 0x03, 0x7F,
    ];
    let e = tlv::decode_entries(&buf, &Path::object(2), &reg).unwrap();
    assert_eq!(e[0], Entry::new(Path::resource(2, 0, 0), Value::Integer(1)));
    assert_eq!(e[2], Entry::new(Path::resource_instance(2, 0, 2, 127), Value::Integer(7)));
    // 16-bit resource-instance id 0x0136 = 310, value 1
    assert_eq!(e[7], Entry::new(Path::resource_instance(2, 2, 2, 310), Value::Integer(1)));
    assert_eq!(e.len(), 9);
}

#[test]
fn tlv_lengths_and_ids() {
    // 16-bit id and 16-bit length
    let t = vec![Tlv { kind: Kind::Resource, id: 5700, content: TlvContent::Value(Bytes::from(vec![0u8; 300])) }];
    let mut out = Vec::new();
    tlv::encode(&t, &mut out).unwrap();
    assert_eq!(&out[..5], &[0xF0, 0x16, 0x44, 0x01, 0x2C]);
    assert_eq!(tlv::decode(&out).unwrap(), t);
    assert!(tlv::decode(&out[..100]).is_err());
    // floats: 4 bytes when exact, 8 otherwise
    assert_eq!(tlv::encode_value(&Value::Float(21.5)).len(), 4);
    assert_eq!(tlv::encode_value(&Value::Float(0.1)).len(), 8);
    assert_eq!(tlv::encode_value(&Value::Integer(-129)).as_ref(), &[0xFF, 0x7F]);
    assert_eq!(tlv::encode_value(&Value::Objlnk(3, 1)).as_ref(), &[0, 3, 0, 1]);
    let p = Path::resource(3303, 0, 5700);
    assert_eq!(tlv::decode_value(ResourceType::Float, &[0x41, 0xAC, 0, 0], &p).unwrap(), Value::Float(21.5));
    assert!(tlv::decode_value(ResourceType::Integer, &[0, 0, 0], &p).is_err());
    assert!(tlv::decode_value(ResourceType::Boolean, &[2], &p).is_err());
}

#[test]
fn tlv_unknown_object_is_an_error() {
    let reg = registry();
    let err = tlv::decode_entries(&[0xC1, 0x01, 0x05], &Path::instance(9999, 0), &reg).unwrap_err();
    assert!(matches!(err, tlv::TlvError::UnknownResource(_)));
}

/// TS 1.0 §6.4.4 example: the Device object instance as OMA LwM2M JSON.
const DEVICE_OMA_JSON: &str = r#"{"bn":"/3/0/","e":[
 {"n":"0","sv":"Open Mobile Alliance"},{"n":"1","sv":"Lightweight M2M Client"},
 {"n":"2","sv":"345000123"},{"n":"3","sv":"1.0"},
 {"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"7/0","v":3800},{"n":"7/1","v":5000},
 {"n":"8/0","v":125},{"n":"8/1","v":900},{"n":"9","v":100},{"n":"10","v":15},
 {"n":"11/0","v":0},{"n":"13","v":1367491215},{"n":"14","sv":"+02:00"},{"n":"15","sv":"U"}]}"#;

#[test]
fn oma_json_device_example() {
    let reg = registry();
    let e = oma_json::decode(DEVICE_OMA_JSON.as_bytes(), &Path::instance(3, 0), Some(&reg)).unwrap();
    assert_eq!(e, device_entries());
    // without bn, names are relative to the request path
    let e = oma_json::decode(br#"{"e":[{"n":"","v":21.5}]}"#, &Path::resource(3303, 0, 5700), Some(&reg)).unwrap();
    assert_eq!(e, vec![Entry::new(Path::resource(3303, 0, 5700), Value::Float(21.5))]);
    let e = oma_json::decode(
        br#"{"bn":"/1/0/","e":[{"n":"6","bv":true},{"n":"7","ov":"3:0"}]}"#,
        &Path::instance(1, 0),
        None,
    )
    .unwrap();
    assert_eq!(e[0].value, Value::Boolean(true));
    assert_eq!(e[1].value, Value::Objlnk(3, 0));
    assert!(oma_json::decode(b"[]", &Path::object(3), None).is_err());
    assert!(oma_json::decode(br#"{"e":[{"n":"x","v":1}]}"#, &Path::object(3), None).is_err());
}

/// TS 1.1 Core §7.4.5 example: the Device object instance as SenML JSON.
const DEVICE_SENML_JSON: &str = r#"[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},
 {"n":"1","vs":"Lightweight M2M Client"},{"n":"2","vs":"345000123"},{"n":"3","vs":"1.0"},
 {"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"7/0","v":3800},{"n":"7/1","v":5000},
 {"n":"8/0","v":125},{"n":"8/1","v":900},{"n":"9","v":100},{"n":"10","v":15},
 {"n":"11/0","v":0},{"n":"13","v":1367491215},{"n":"14","vs":"+02:00"},{"n":"15","vs":"U"}]"#;

#[test]
fn senml_json_device_example_and_round_trip() {
    let reg = registry();
    let e = senml::decode_json(DEVICE_SENML_JSON.as_bytes(), Some(&reg)).unwrap();
    assert_eq!(e, device_entries());
    let again = senml::encode_json(&e, Some(&Path::instance(3, 0)));
    assert_eq!(senml::decode_json(&again, Some(&reg)).unwrap(), e);
    let cbor = senml::encode_cbor(&e, Some(&Path::instance(3, 0)));
    assert_eq!(senml::decode_cbor(&cbor, Some(&reg)).unwrap(), e);
}

/// RFC 8428 §5.1.2 (multiple datapoints) and §5.1.4 (base time resolution).
#[test]
fn senml_rfc8428_resolution() {
    let pack = br#"[{"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},
                    {"n":"current","u":"A","v":1.2}]"#;
    let r = senml::resolve(&senml::decode_json_records(pack).unwrap());
    assert_eq!(r[0].name, "urn:dev:ow:10e2073a01080063:voltage");
    assert_eq!(r[1].name, "urn:dev:ow:10e2073a01080063:current");
    assert_eq!(r[1].value, Some(senml::RecordValue::Number(1.2)));
    let pack = br#"[{"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,"bu":"A","bver":5,
                     "n":"voltage","u":"V","v":120.1},{"n":"current","t":-5,"v":1.2}]"#;
    let r = senml::resolve(&senml::decode_json_records(pack).unwrap());
    assert_eq!(r[1].time, Some(1.276020076001e9 - 5.0));
    // an RFC 8428 name is not an LwM2M path
    assert!(matches!(senml::decode_json(pack, None), Err(senml::SenmlError::Name(_))));
}

/// SenML CBOR (RFC 8428 §6: bn = -2, n = 0, v = 2), with a half-precision float.
#[test]
fn senml_cbor_vector() {
    let mut buf = vec![0x81, 0xA3, 0x21, 0x68];
    buf.extend_from_slice(b"/3303/0/");
    buf.extend_from_slice(&[0x00, 0x64]);
    buf.extend_from_slice(b"5700");
    buf.extend_from_slice(&[0x02, 0xF9, 0x4D, 0x60]); // 21.5 as float16
    let e = senml::decode_cbor(&buf, Some(&registry())).unwrap();
    assert_eq!(e, vec![Entry::new(Path::resource(3303, 0, 5700), Value::Float(21.5))]);
    let vals = vec![
        Entry::new(Path::resource(3311, 0, 5850), Value::Boolean(true)),
        Entry::new(Path::resource(5, 0, 0), Value::Opaque(Bytes::from_static(b"\x00\xff"))),
        Entry::new(Path::resource(3, 0, 22), Value::Objlnk(3303, 1)),
    ];
    let cbor = senml::encode_cbor(&vals, None);
    assert_eq!(senml::decode_cbor(&cbor, None).unwrap(), vals);
    let json = senml::encode_json(&vals, None);
    assert!(String::from_utf8_lossy(&json).contains(r#""vd":"AP8""#));
    assert_eq!(senml::decode_json(&json, None).unwrap(), vals);
}

#[test]
fn link_format_register_payloads() {
    let o = linkformat::registered_objects("</1/0>,</3/0>;ver=1.1,</>;rt=\"oma.lwm2m\"").unwrap();
    assert_eq!(o.alternate_path, "/");
    assert_eq!(o.object_list, vec!["/1/0", "/3/0"]);
    // TS Core §6.2.1 example with an alternate path
    let o =
        linkformat::registered_objects("</lwm2m>;rt=\"oma.lwm2m\",</lwm2m/1/101>,</lwm2m/1/102>,</lwm2m/2/0>").unwrap();
    assert_eq!(o.alternate_path, "/lwm2m");
    assert_eq!(o.object_list, vec!["/1/101", "/1/102", "/2/0"]);
    // LwM2M 1.0 style, object without instances
    let o = linkformat::registered_objects("</1/0>,</3/0>,</5>,</3303/0>,</3303/1>").unwrap();
    assert_eq!(o.object_list, vec!["/1/0", "/3/0", "/5", "/3303/0", "/3303/1"]);
    // Discover answer (TS Core §5.4.2 example)
    let links = linkformat::parse("</3/0>;pmin=10,</3/0/1>,</3/0/2>,</3/0/3>,</3/0/4>,</3/0/6>;dim=8").unwrap();
    assert_eq!(links[5].attr("dim"), Some("8"));
    assert_eq!(linkformat::to_string(&links[..1]), "</3/0>;pmin=10");
}

#[test]
fn shipped_xml_definitions() {
    let reg = registry();
    let ids: Vec<u16> = reg.ids().collect();
    assert_eq!(ids, vec![0, 1, 2, 3, 4, 5, 6, 7, 3303, 3304, 3311]);
    let dev = reg.object(3).unwrap();
    assert_eq!(dev.name, "Device");
    assert!(!dev.multiple && dev.mandatory);
    assert!(dev.resources[&4].operations.execute);
    assert!(dev.resources[&6].multiple);
    assert_eq!(dev.resources[&13].rtype, ResourceType::Time);
    assert_eq!(reg.resource(5, 0).unwrap().rtype, ResourceType::Opaque);
    assert_eq!(reg.resource(3311, 5850).unwrap().rtype, ResourceType::Boolean);
}
