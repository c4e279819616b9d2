//! Property tests: every packet valid for a version survives encode → decode unchanged,
//! `encoded_len` is exact, and no input makes the decoder panic.

use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
use gw_mqtt::codec::*;
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

const VBI_MAX: u32 = 268_435_455;

fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(ProtocolVersion::V3_1), Just(ProtocolVersion::V3_1_1), Just(ProtocolVersion::V5)]
}

fn string() -> impl Strategy<Value = MqttString> {
    // Mostly topic-like ASCII, sometimes any non-NUL Unicode.
    prop_oneof![3 => "[a-z0-9/+#$]{0,10}", 1 => "[^\u{0}]{0,6}"].prop_map(MqttString::from)
}

fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn user_props() -> impl Strategy<Value = UserProperties> {
    vec((string(), string()), 0..3)
}

fn packet_id() -> impl Strategy<Value = NonZeroU16> {
    (1..=u16::MAX).prop_map(|n| NonZeroU16::new(n).unwrap())
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)]
}

fn flag() -> impl Strategy<Value = Option<u8>> {
    of(0u8..=1)
}

/// `s` for 5.0, the default otherwise: 3.x packets have no properties on the wire.
fn v5_only<T: Default + std::fmt::Debug + Clone + 'static>(
    v: ProtocolVersion,
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    if v == ProtocolVersion::V5 {
        s.boxed()
    } else {
        Just(T::default()).boxed()
    }
}

fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
    (
        of(any::<u32>()),
        of(1..=u16::MAX),
        of(1..=u32::MAX),
        of(any::<u16>()),
        flag(),
        flag(),
        user_props(),
        of(string()),
        of(binary()),
    )
        .prop_map(|(se, rm, mps, tam, rri, rpi, up, am, ad)| ConnectProperties {
            session_expiry_interval: se,
            receive_maximum: rm,
            maximum_packet_size: mps,
            topic_alias_maximum: tam,
            request_response_information: rri,
            request_problem_information: rpi,
            user_properties: up,
            authentication_method: am,
            authentication_data: ad,
        })
}

fn will_properties() -> impl Strategy<Value = WillProperties> {
    (of(any::<u32>()), flag(), of(any::<u32>()), of(string()), of(string()), of(binary()), user_props()).prop_map(
        |(wd, pfi, mei, ct, rt, cd, up)| WillProperties {
            will_delay_interval: wd,
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            content_type: ct,
            response_topic: rt,
            correlation_data: cd,
            user_properties: up,
        },
    )
}

fn connect(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let will = (string(), binary(), qos(), any::<bool>(), v5_only(v, will_properties()))
        .prop_map(|(topic, payload, qos, retain, properties)| LastWill { topic, payload, qos, retain, properties });
    (any::<bool>(), any::<u16>(), string(), of(will), of(string()), of(binary()), v5_only(v, connect_properties()))
        .prop_map(move |(clean_start, keep_alive, client_id, will, username, password, properties)| {
            // Before 5.0 a password needs a user name [MQTT-3.1.2-22].
            let password = if v != ProtocolVersion::V5 && username.is_none() { None } else { password };
            Packet::Connect(Box::new(Connect {
                version: v,
                clean_start,
                keep_alive,
                client_id,
                will,
                username,
                password,
                properties,
            }))
        })
}

fn connack_properties() -> impl Strategy<Value = ConnAckProperties> {
    let a = (
        of(any::<u32>()),
        of(1..=u16::MAX),
        flag(),
        flag(),
        of(1..=u32::MAX),
        of(string()),
        of(any::<u16>()),
        of(string()),
        user_props(),
    );
    let b = (flag(), flag(), flag(), of(any::<u16>()), of(string()), of(string()), of(string()), of(binary()));
    (a, b).prop_map(|((se, rm, mq, ra, mps, aci, tam, rs, up), (wsa, sia, ssa, ska, ri, sr, am, ad))| {
        ConnAckProperties {
            session_expiry_interval: se,
            receive_maximum: rm,
            maximum_qos: mq,
            retain_available: ra,
            maximum_packet_size: mps,
            assigned_client_identifier: aci,
            topic_alias_maximum: tam,
            reason_string: rs,
            user_properties: up,
            wildcard_subscription_available: wsa,
            subscription_identifiers_available: sia,
            shared_subscription_available: ssa,
            server_keep_alive: ska,
            response_information: ri,
            server_reference: sr,
            authentication_method: am,
            authentication_data: ad,
        }
    })
}

fn connack(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let code = if v == ProtocolVersion::V5 { any::<u8>().boxed() } else { (0u8..=5).boxed() };
    (any::<bool>(), code, v5_only(v, connack_properties())).prop_map(|(session_present, code, properties)| {
        Packet::ConnAck(ConnAck { session_present, code, properties: properties.into() })
    })
}

fn publish_properties() -> impl Strategy<Value = PublishProperties> {
    (
        flag(),
        of(any::<u32>()),
        of(1..=u16::MAX),
        of(string()),
        of(binary()),
        user_props(),
        vec(1..=VBI_MAX, 0..3),
        of(string()),
    )
        .prop_map(|(pfi, mei, ta, rt, cd, up, sids, ct)| PublishProperties {
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            topic_alias: ta,
            response_topic: rt,
            correlation_data: cd,
            user_properties: up,
            subscription_identifiers: sids,
            content_type: ct,
        })
}

fn publish(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (any::<bool>(), qos(), any::<bool>(), string(), packet_id(), v5_only(v, publish_properties()), binary()).prop_map(
        |(dup, qos, retain, topic, id, properties, payload)| {
            let packet_id = (qos != QoS::AtMostOnce).then_some(id);
            Packet::Publish(Publish { dup, qos, retain, topic, packet_id, properties: properties.into(), payload })
        },
    )
}

fn ack_properties() -> impl Strategy<Value = AckProperties> {
    (of(string()), user_props())
        .prop_map(|(reason_string, user_properties)| AckProperties { reason_string, user_properties })
}

fn reason(v: ProtocolVersion) -> BoxedStrategy<u8> {
    if v == ProtocolVersion::V5 {
        prop_oneof![Just(0u8), any::<u8>()].boxed()
    } else {
        Just(0).boxed()
    }
}

fn pub_ack(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (0..4u8, packet_id(), reason(v), v5_only(v, ack_properties())).prop_map(
        |(kind, packet_id, reason_code, properties)| {
            let a = PubAck { packet_id, reason_code, properties: properties.into() };
            match kind {
                0 => Packet::PubAck(a),
                1 => Packet::PubRec(a),
                2 => Packet::PubRel(a),
                _ => Packet::PubComp(a),
            }
        },
    )
}

fn options(v: ProtocolVersion) -> BoxedStrategy<SubscriptionOptions> {
    if v == ProtocolVersion::V5 {
        let rh = prop_oneof![
            Just(RetainHandling::SendAtSubscribe),
            Just(RetainHandling::SendIfNew),
            Just(RetainHandling::DoNotSend)
        ];
        (qos(), any::<bool>(), any::<bool>(), rh)
            .prop_map(|(qos, no_local, retain_as_published, retain_handling)| SubscriptionOptions {
                qos,
                no_local,
                retain_as_published,
                retain_handling,
            })
            .boxed()
    } else {
        qos().prop_map(|qos| SubscriptionOptions { qos, ..Default::default() }).boxed()
    }
}

fn subscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let props = (of(1..=VBI_MAX), user_props()).prop_map(|(subscription_identifier, user_properties)| {
        SubscribeProperties { subscription_identifier, user_properties }
    });
    (packet_id(), vec((string(), options(v)), 1..4), v5_only(v, props))
        .prop_map(|(packet_id, filters, properties)| Packet::Subscribe(Subscribe { packet_id, filters, properties }))
}

fn suback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let code = if v == ProtocolVersion::V5 {
        any::<u8>().boxed()
    } else {
        prop_oneof![Just(0u8), Just(1), Just(2), Just(0x80)].boxed()
    };
    (packet_id(), vec(code, 1..4), v5_only(v, ack_properties())).prop_map(|(packet_id, reason_codes, properties)| {
        Packet::SubAck(SubAck { packet_id, reason_codes, properties: properties.into() })
    })
}

fn unsubscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (packet_id(), vec(string(), 1..4), v5_only(v, user_props())).prop_map(|(packet_id, filters, user_properties)| {
        Packet::Unsubscribe(Unsubscribe { packet_id, filters, user_properties })
    })
}

fn unsuback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let codes = if v == ProtocolVersion::V5 { vec(any::<u8>(), 0..4).boxed() } else { Just(vec![]).boxed() };
    (packet_id(), codes, v5_only(v, ack_properties())).prop_map(|(packet_id, reason_codes, properties)| {
        Packet::UnsubAck(UnsubAck { packet_id, reason_codes, properties: properties.into() })
    })
}

fn disconnect(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let props = (of(any::<u32>()), of(string()), user_props(), of(string())).prop_map(
        |(session_expiry_interval, reason_string, user_properties, server_reference)| DisconnectProperties {
            session_expiry_interval,
            reason_string,
            user_properties,
            server_reference,
        },
    );
    (reason(v), v5_only(v, props)).prop_map(|(reason_code, properties)| {
        Packet::Disconnect(Disconnect { reason_code, properties: properties.into() })
    })
}

fn auth() -> impl Strategy<Value = Packet> {
    let props = (of(string()), of(binary()), of(string()), user_props()).prop_map(
        |(authentication_method, authentication_data, reason_string, user_properties)| AuthProperties {
            authentication_method,
            authentication_data,
            reason_string,
            user_properties,
        },
    );
    (reason(ProtocolVersion::V5), props)
        .prop_map(|(reason_code, properties)| Packet::Auth(Auth { reason_code, properties: properties.into() }))
}

fn packet(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    // More than ten arms: prop_oneof! then needs one concrete type, hence the boxing.
    let common = prop_oneof![
        connect(v).boxed(),
        connack(v).boxed(),
        publish(v).boxed(),
        pub_ack(v).boxed(),
        subscribe(v).boxed(),
        suback(v).boxed(),
        unsubscribe(v).boxed(),
        unsuback(v).boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(v).boxed(),
    ];
    if v == ProtocolVersion::V5 {
        prop_oneof![10 => common, 1 => auth()].boxed()
    } else {
        common.boxed()
    }
}

fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|v| (Just(v), packet(v)))
}

fn decode_all(bytes: &[u8], mut codec: Codec) {
    let mut buf = BytesMut::from(bytes);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_decode_is_identity((v, p) in versioned_packet()) {
        let mut codec = Codec::new(u32::MAX);
        codec.set_version(v);
        let mut buf = BytesMut::new();
        codec.encode(&p, &mut buf).unwrap();
        prop_assert_eq!(encoded_len(&p, v), buf.len());
        let back = codec.decode(&mut buf).unwrap();
        prop_assert_eq!(back, Some(p));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..256)) {
        decode_all(&bytes, Codec::new(u32::MAX));
        let mut v5 = Codec::new(u32::MAX);
        v5.set_version(ProtocolVersion::V5);
        decode_all(&bytes, v5);
    }

    /// Random bytes rarely get past the fixed header; damaged valid packets reach deep into
    /// the body parsers.
    #[test]
    fn decoding_damaged_packets_never_panics(
        (v, p) in versioned_packet(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = BytesMut::new();
        encode(&p, v, &mut buf).unwrap();
        let mut bytes = buf.to_vec();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let keep = cut.index(bytes.len() + 1);
        let mut codec = Codec::new(u32::MAX);
        codec.set_version(v);
        decode_all(&bytes, codec);
        decode_all(&bytes[..keep], codec);
    }
}
