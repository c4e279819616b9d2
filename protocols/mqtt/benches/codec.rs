//! Codec throughput on the packets a gateway handles most: small PUBLISHes (3.1.1 and 5.0
//! with properties), CONNECT, SUBSCRIBE and PUBACK.

use std::hint::black_box;
use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gw_mqtt::codec::*;

fn publish_64() -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: MqttString::from("site/7/sensor/temperature"),
        packet_id: NonZeroU16::new(42),
        properties: Default::default(),
        payload: Bytes::from(vec![0xA5; 64]),
    })
}

fn publish_v5_props() -> Packet {
    let Packet::Publish(mut p) = publish_64() else { unreachable!() };
    p.properties = PublishProperties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(3600),
        topic_alias: Some(3),
        response_topic: Some(MqttString::from("site/7/reply")),
        correlation_data: Some(Bytes::from_static(b"req-0001")),
        user_properties: vec![(MqttString::from("unit"), MqttString::from("celsius"))],
        subscription_identifiers: vec![17],
        content_type: Some(MqttString::from("application/octet-stream")),
    }
    .into();
    Packet::Publish(p)
}

fn connect() -> Packet {
    Packet::Connect(Box::new(Connect {
        version: ProtocolVersion::V5,
        clean_start: true,
        keep_alive: 60,
        client_id: MqttString::from("gateway-device-0001"),
        will: Some(LastWill {
            topic: MqttString::from("site/7/status"),
            payload: Bytes::from_static(b"offline"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: WillProperties::default(),
        }),
        username: Some(MqttString::from("device")),
        password: Some(Bytes::from_static(b"secret-token")),
        properties: ConnectProperties {
            session_expiry_interval: Some(300),
            receive_maximum: Some(32),
            ..Default::default()
        },
    }))
}

fn subscribe() -> Packet {
    let opts = SubscriptionOptions { qos: QoS::AtLeastOnce, ..Default::default() };
    Packet::Subscribe(Subscribe {
        packet_id: NonZeroU16::new(7).unwrap_or(NonZeroU16::MIN),
        filters: vec![
            (MqttString::from("site/7/cmd/#"), opts),
            (MqttString::from("site/+/broadcast"), opts),
            (MqttString::from("$SYS/broker/uptime"), opts),
        ],
        properties: SubscribeProperties { subscription_identifier: Some(5), ..Default::default() },
    })
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("publish_64_v311", ProtocolVersion::V3_1_1, publish_64()),
        ("publish_64_v5_props", ProtocolVersion::V5, publish_v5_props()),
        ("connect_v5", ProtocolVersion::V5, connect()),
        ("subscribe_v5", ProtocolVersion::V5, subscribe()),
        ("puback_v311", ProtocolVersion::V3_1_1, Packet::PubAck(PubAck::new(NonZeroU16::MIN))),
    ];
    for (name, version, packet) in cases {
        let mut wire = BytesMut::new();
        encode(&packet, version, &mut wire).expect("bench packet encodes");
        let wire = wire.freeze();

        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_function("decode", |b| {
            let mut codec = Codec::new(u32::MAX);
            codec.set_version(version);
            b.iter(|| {
                // Copying the wire bytes in is what a socket read would do anyway.
                let mut buf = BytesMut::from(&wire[..]);
                black_box(codec.decode(&mut buf).expect("decodes"))
            });
        });
        group.bench_function("encode", |b| {
            let mut buf = BytesMut::with_capacity(wire.len() * 2);
            b.iter(|| {
                buf.clear();
                encode(black_box(&packet), version, &mut buf).expect("encodes");
                black_box(buf.len())
            });
        });
        group.bench_function("encoded_len", |b| {
            b.iter(|| black_box(encoded_len(black_box(&packet), version)));
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
