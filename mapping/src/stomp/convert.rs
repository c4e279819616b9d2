//! STOMP frames ⇄ bus messages.
//!
//! A SEND's `destination` is the topic (after the mountpoint). Headers that have an MQTT 5
//! counterpart travel as that property, so MQTT clients see them natively:
//! `content-type` ⇄ Content Type, `reply-to` ⇄ Response Topic, `correlation-id` ⇄
//! Correlation Data; every other user header ⇄ a User Property of the same name. A MESSAGE
//! without a content type says `text/plain`, as EMQX's does.

use std::sync::Arc;

use bytes::Bytes;
use gw_core::bus::{ClientId, Message, MessageProps, QoS, Topic};

const CONTENT_TYPE: &str = "content-type";
const REPLY_TO: &str = "reply-to";
const CORRELATION_ID: &str = "correlation-id";

/// The bus message for a SEND (QoS 0, not retained, as in EMQX).
pub(crate) fn message_from_send(
    topic: Topic,
    headers: &[(String, String)],
    body: Bytes,
    publisher: &ClientId,
) -> Message {
    let mut props = MessageProps::default();
    for (name, value) in headers {
        match name.as_str() {
            CONTENT_TYPE => props.content_type = Some(Arc::from(value.as_str())),
            REPLY_TO => props.response_topic = Some(Arc::from(value.as_str())),
            CORRELATION_ID => props.correlation_data = Some(Bytes::copy_from_slice(value.as_bytes())),
            _ => props.user_properties.push((Arc::from(name.as_str()), Arc::from(value.as_str()))),
        }
    }
    let mut message = Message::new(topic, body, QoS::AtMostOnce, false);
    message.publisher = Some(publisher.clone());
    message.props = (!props.is_empty()).then(|| Box::new(props));
    message
}

/// The extra headers of a MESSAGE carrying `message` (the channel adds `subscription`,
/// `message-id`, `destination` and `ack`).
pub(crate) fn message_headers(message: &Message) -> Vec<(String, String)> {
    let props = message.props();
    let mut headers = Vec::with_capacity(1 + props.user_properties.len());
    let content_type = props.content_type.as_deref().unwrap_or("text/plain");
    headers.push((CONTENT_TYPE.to_string(), content_type.to_string()));
    if let Some(reply_to) = &props.response_topic {
        headers.push((REPLY_TO.to_string(), reply_to.to_string()));
    }
    if let Some(correlation) = props.correlation_data.as_ref().and_then(|c| std::str::from_utf8(c).ok()) {
        headers.push((CORRELATION_ID.to_string(), correlation.to_string()));
    }
    for (name, value) in &props.user_properties {
        headers.push((name.to_string(), value.to_string()));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_through_mqtt_properties() {
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("reply-to".to_string(), "replies/1".to_string()),
            ("correlation-id".to_string(), "abc".to_string()),
            ("x-trace".to_string(), "t1".to_string()),
        ];
        let m = message_from_send(Topic::new("a/b").unwrap(), &headers, Bytes::from_static(b"{}"), &ClientId::new("c"));
        let p = m.props();
        assert_eq!(p.content_type.as_deref(), Some("application/json"));
        assert_eq!(p.response_topic.as_deref(), Some("replies/1"));
        assert_eq!(p.correlation_data.as_deref(), Some(&b"abc"[..]));
        assert_eq!(p.user_properties, vec![(Arc::from("x-trace"), Arc::from("t1"))]);
        assert_eq!(message_headers(&m), headers);
    }

    #[test]
    fn message_without_content_type_says_text_plain() {
        let m = Message::new(Topic::new("t").unwrap(), Bytes::new(), QoS::AtMostOnce, false);
        assert_eq!(message_headers(&m), vec![("content-type".to_string(), "text/plain".to_string())]);
    }
}
