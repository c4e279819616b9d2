//! Property tests: every message survives encode → decode unchanged, and no input makes
//! the decoder panic.

use bytes::{Bytes, BytesMut};
use gw_mqttsn::codec::*;
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

fn string() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z0-9/+#]{0,12}", 1 => "\\PC{0,6}"]
}

fn binary() -> impl Strategy<Value = Bytes> {
    prop_oneof![4 => vec(any::<u8>(), 0..24), 1 => vec(any::<u8>(), 250..300)].prop_map(Bytes::from)
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)]
}

fn any_qos() -> impl Strategy<Value = QoS> {
    prop_oneof![qos(), Just(QoS::MinusOne)]
}

fn topic_ref() -> impl Strategy<Value = TopicRef> {
    prop_oneof![
        string().prop_map(TopicRef::Name),
        any::<u16>().prop_map(TopicRef::Predefined),
        any::<[u8; 2]>().prop_map(TopicRef::Short),
    ]
}

fn will_topic() -> impl Strategy<Value = Option<WillTopic>> {
    of((qos(), any::<bool>(), string()).prop_map(|(qos, retain, topic)| WillTopic { qos, retain, topic }))
}

fn plain() -> impl Strategy<Value = Message> {
    let kind = prop_oneof![Just(TopicIdType::Normal), Just(TopicIdType::Predefined), Just(TopicIdType::Short)];
    prop_oneof![
        (any::<u8>(), any::<u16>()).prop_map(|(gateway_id, duration)| Message::Advertise { gateway_id, duration }),
        any::<u8>().prop_map(|radius| Message::SearchGw { radius }),
        (any::<u8>(), binary())
            .prop_map(|(gateway_id, gateway_address)| Message::GwInfo { gateway_id, gateway_address }),
        (any::<bool>(), any::<bool>(), any::<u16>(), string()).prop_map(
            |(will, clean_session, duration, client_id)| {
                Message::Connect(Connect { will, clean_session, duration, client_id })
            }
        ),
        any::<u8>().prop_map(|return_code| Message::ConnAck { return_code }),
        Just(Message::WillTopicReq),
        will_topic().prop_map(Message::WillTopic),
        Just(Message::WillMsgReq),
        binary().prop_map(|payload| Message::WillMsg { payload }),
        (any::<u16>(), any::<u16>(), string()).prop_map(|(topic_id, msg_id, topic_name)| Message::Register {
            topic_id,
            msg_id,
            topic_name
        }),
        (any::<u16>(), any::<u16>(), any::<u8>()).prop_map(|(topic_id, msg_id, return_code)| Message::RegAck {
            topic_id,
            msg_id,
            return_code
        }),
        (any::<bool>(), any_qos(), any::<bool>(), kind, any::<u16>(), any::<u16>(), binary()).prop_map(
            |(dup, qos, retain, topic_id_type, topic_id, msg_id, data)| Message::Publish(Publish {
                dup,
                qos,
                retain,
                topic_id_type,
                topic_id,
                msg_id,
                data
            })
        ),
        (any::<u16>(), any::<u16>(), any::<u8>()).prop_map(|(topic_id, msg_id, return_code)| Message::PubAck {
            topic_id,
            msg_id,
            return_code
        }),
        any::<u16>().prop_map(|msg_id| Message::PubComp { msg_id }),
        any::<u16>().prop_map(|msg_id| Message::PubRec { msg_id }),
        any::<u16>().prop_map(|msg_id| Message::PubRel { msg_id }),
        (any::<bool>(), qos(), any::<u16>(), topic_ref())
            .prop_map(|(dup, qos, msg_id, topic)| Message::Subscribe(Subscribe { dup, qos, msg_id, topic })),
        (qos(), any::<u16>(), any::<u16>(), any::<u8>()).prop_map(|(qos, topic_id, msg_id, return_code)| {
            Message::SubAck { qos, topic_id, msg_id, return_code }
        }),
        (any::<u16>(), topic_ref()).prop_map(|(msg_id, topic)| Message::Unsubscribe { msg_id, topic }),
        any::<u16>().prop_map(|msg_id| Message::UnsubAck { msg_id }),
        // An empty client id is the same as none on the wire.
        of("[a-z0-9]{1,23}").prop_map(|client_id| Message::PingReq { client_id }),
        Just(Message::PingResp),
        of(any::<u16>()).prop_map(|duration| Message::Disconnect { duration }),
        will_topic().prop_map(Message::WillTopicUpd),
        any::<u8>().prop_map(|return_code| Message::WillTopicResp { return_code }),
        binary().prop_map(|payload| Message::WillMsgUpd { payload }),
        any::<u8>().prop_map(|return_code| Message::WillMsgResp { return_code }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        4 => plain(),
        1 => (any::<u8>(), binary(), plain()).prop_map(|(ctrl, id, m)| Message::Encapsulated(Encapsulated {
            ctrl,
            wireless_node_id: id.slice(..id.len().min(200)),
            message: Box::new(m),
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encode_then_decode_is_identity(msg in message()) {
        let mut out = BytesMut::new();
        encode(&msg, &mut out).unwrap();
        prop_assert_eq!(decode(&out), Ok(msg));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..64)) {
        if let Ok(msg) = decode(&data) {
            // Whatever decodes re-encodes to something that decodes to the same message.
            let mut out = BytesMut::new();
            encode(&msg, &mut out).unwrap();
            prop_assert_eq!(decode(&out), Ok(msg));
        }
    }

    #[test]
    fn valid_header_random_body_never_panics(kind in any::<u8>(), body in vec(any::<u8>(), 0..40)) {
        let mut data = vec![(body.len() + 2) as u8, kind];
        data.extend_from_slice(&body);
        let _ = decode(&data);
    }
}
