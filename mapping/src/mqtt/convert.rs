//! MQTT packets ⇄ bus messages: QoS, publish properties, wills.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gw_core::bus::{self, ClientId, Delivery, Message, MessageProps, Topic};
use gw_mqtt::codec::{self, MqttString, PublishProperties, PublishRef};
use tokio::time::Instant;

/// Codec QoS → bus QoS.
pub(crate) fn qos_to_bus(q: codec::QoS) -> bus::QoS {
    match q {
        codec::QoS::AtMostOnce => bus::QoS::AtMostOnce,
        codec::QoS::AtLeastOnce => bus::QoS::AtLeastOnce,
        codec::QoS::ExactlyOnce => bus::QoS::ExactlyOnce,
    }
}

/// Bus QoS → codec QoS.
pub(crate) fn qos_from_bus(q: bus::QoS) -> codec::QoS {
    match q {
        bus::QoS::AtMostOnce => codec::QoS::AtMostOnce,
        bus::QoS::AtLeastOnce => codec::QoS::AtLeastOnce,
        bus::QoS::ExactlyOnce => codec::QoS::ExactlyOnce,
    }
}

fn text(s: &MqttString) -> Arc<str> {
    Arc::from(s.as_str())
}

fn mqtt_text(s: &Arc<str>) -> MqttString {
    MqttString::from_trusted(Bytes::copy_from_slice(s.as_bytes()))
}

/// The metadata of a PUBLISH (or Will) as bus message properties; `None` when there is none,
/// so the common message carries no allocation for it.
pub(crate) fn props_to_bus(
    payload_format_indicator: Option<u8>,
    content_type: Option<&MqttString>,
    response_topic: Option<&MqttString>,
    correlation_data: Option<&Bytes>,
    user_properties: &[(MqttString, MqttString)],
) -> Option<Box<MessageProps>> {
    let props = MessageProps {
        payload_format_indicator,
        content_type: content_type.map(text),
        response_topic: response_topic.map(text),
        correlation_data: correlation_data.cloned(),
        user_properties: user_properties.iter().map(|(k, v)| (text(k), text(v))).collect(),
    };
    (!props.is_empty()).then(|| Box::new(props))
}

/// A bus message from an inbound PUBLISH whose topic is already validated.
pub(crate) fn message_from_publish(
    topic: Topic,
    publish: &codec::Publish,
    publisher: &ClientId,
    now: Instant,
) -> Message {
    let p = &publish.properties;
    Message {
        topic,
        payload: publish.payload.clone(),
        qos: qos_to_bus(publish.qos),
        retain: publish.retain,
        expires_at: p.message_expiry_interval.map(|s| now + Duration::from_secs(u64::from(s))),
        publisher: Some(publisher.clone()),
        props: props_to_bus(
            p.payload_format_indicator,
            p.content_type.as_ref(),
            p.response_topic.as_ref(),
            p.correlation_data.as_ref(),
            &p.user_properties,
        ),
    }
}

/// The PUBLISH properties of a delivery: the message's own, its subscription identifiers,
/// and the remaining message expiry, re-stamped [MQTT-3.3.2-6]. `None` when it has none, as
/// most deliveries: the caller then uses one empty set for all of them.
pub(crate) fn delivery_properties(delivery: &Delivery, now: Instant) -> Option<PublishProperties> {
    let message = &delivery.message;
    if message.props.is_none() && message.expires_at.is_none() && delivery.subscription_ids.is_empty() {
        return None;
    }
    let mut properties = PublishProperties {
        message_expiry_interval: message.remaining_expiry_secs(now),
        subscription_identifiers: delivery.subscription_ids.to_vec(),
        ..PublishProperties::default()
    };
    if let Some(p) = message.props.as_deref() {
        properties.payload_format_indicator = p.payload_format_indicator;
        properties.content_type = p.content_type.as_ref().map(mqtt_text);
        properties.response_topic = p.response_topic.as_ref().map(mqtt_text);
        properties.correlation_data = p.correlation_data.clone();
        properties.user_properties = p.user_properties.iter().map(|(k, v)| (mqtt_text(k), mqtt_text(v))).collect();
    }
    Some(properties)
}

/// The PUBLISH packet for a delivery, borrowing the shared topic and payload (every
/// subscriber's copy of a message encodes from the same bytes, without touching their
/// reference counts).
pub(crate) fn publish_for_delivery<'a>(
    delivery: &'a Delivery,
    properties: &'a PublishProperties,
    packet_id: Option<std::num::NonZeroU16>,
    dup: bool,
) -> PublishRef<'a> {
    PublishRef {
        dup,
        qos: qos_from_bus(delivery.qos),
        retain: delivery.retain,
        topic: delivery.message.topic.as_bytes(),
        packet_id,
        properties,
        payload: &delivery.message.payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gw_core::bus::QoS;

    #[test]
    fn publish_properties_survive_the_bus_unchanged() {
        let now = Instant::now();
        let publish = codec::Publish {
            dup: false,
            qos: codec::QoS::AtLeastOnce,
            retain: true,
            topic: MqttString::from("a/b"),
            packet_id: std::num::NonZeroU16::new(7),
            properties: PublishProperties {
                payload_format_indicator: Some(1),
                message_expiry_interval: Some(60),
                topic_alias: None,
                response_topic: Some(MqttString::from("reply/to")),
                correlation_data: Some(Bytes::from_static(b"\x00\x01")),
                user_properties: vec![
                    (MqttString::from("k"), MqttString::from("v")),
                    (MqttString::from("k"), MqttString::from("w")),
                ],
                subscription_identifiers: Vec::new(),
                content_type: Some(MqttString::from("application/json")),
            }
            .into(),
            payload: Bytes::from_static(b"{}"),
        };
        let topic = Topic::new("a/b").unwrap();
        let message = message_from_publish(topic, &publish, &ClientId::new("c"), now);
        assert_eq!(message.qos, QoS::AtLeastOnce);
        let delivery = Delivery {
            message: Arc::new(message),
            qos: QoS::AtLeastOnce,
            retain: true,
            subscription_ids: Box::new([3]),
            shared: None,
        };
        let properties = delivery_properties(&delivery, now).expect("subscription id and properties");
        let out = publish_for_delivery(&delivery, &properties, publish.packet_id, false);
        let mut expected = (*publish.properties).clone();
        expected.subscription_identifiers = vec![3];
        assert_eq!(out.properties, &expected);
        assert_eq!(out.topic, publish.topic.as_bytes().as_ref());
        assert_eq!(out.payload, &publish.payload[..]);
        // Zero copy: the payload is the same buffer.
        assert_eq!(out.payload.as_ptr(), publish.payload.as_ptr());
    }

    #[test]
    fn message_expiry_is_restamped_with_the_time_left() {
        let now = Instant::now();
        let mut message = Message::new(Topic::new("t").unwrap(), Bytes::new(), QoS::AtMostOnce, false);
        message.expires_at = Some(now + Duration::from_secs(60));
        let delivery = plain_delivery(message);
        let properties = delivery_properties(&delivery, now + Duration::from_secs(45)).expect("an expiry");
        assert_eq!(properties.message_expiry_interval, Some(15));
    }

    #[test]
    fn a_plain_delivery_has_no_properties_to_build() {
        let message = Message::new(Topic::new("t").unwrap(), Bytes::new(), QoS::AtMostOnce, false);
        assert!(delivery_properties(&plain_delivery(message), Instant::now()).is_none());
    }

    /// A QoS 0 delivery of `message` through a subscription without identifier.
    fn plain_delivery(message: Message) -> Delivery {
        Delivery {
            message: Arc::new(message),
            qos: QoS::AtMostOnce,
            retain: false,
            subscription_ids: Box::default(),
            shared: None,
        }
    }
}
