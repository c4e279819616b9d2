//! Decodes arbitrary bytes as one CoAP datagram; a message that decodes must re-encode and
//! decode to itself. Also drives a channel (with one accepted observe relation) with the same
//! bytes and a timer sweep, to check it never panics.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gw_coap::channel::{Channel, ChannelConfig, Event, ResponseCode};
use gw_coap::codec::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode(data) {
        let bytes = encode(&msg).expect("a decoded message re-encodes");
        assert_eq!(decode(&bytes).expect("and decodes again"), msg);
    }
    let now = Instant::now();
    let mut ch = Channel::new(Arc::new(ChannelConfig { max_block_size: 16, ..ChannelConfig::default() }), now, 1);
    // GET /ps/t Observe=0, token 0x01, accepted.
    ch.handle_datagram(now, &[0x41, 0x01, 0, 1, 1, 0x60, 0x52, b'p', b's', 0x01, b't']);
    while let Some(ev) = ch.poll_event() {
        if let Event::Subscribe { request, subscription, .. } = ev {
            ch.respond(now, request, ResponseCode::Content, Bytes::new());
            let _ = ch.notify(now, subscription, Bytes::from_static(&[7; 40]), true);
        }
    }
    ch.handle_datagram(now, data);
    while let Some(ev) = ch.poll_event() {
        match ev {
            Event::Publish { request, .. } | Event::Heartbeat { request } | Event::Disconnect { request } => {
                ch.respond(now, request, ResponseCode::Changed, Bytes::from_static(&[1; 40]))
            }
            Event::Subscribe { request, .. } | Event::Unsubscribe { request, .. } => {
                ch.defer(request);
                ch.respond(now, request, ResponseCode::Content, Bytes::new())
            }
            Event::Connect { request, .. } => ch.respond_connected(now, request, 5),
            _ => {}
        }
    }
    ch.handle_timeout(now + Duration::from_secs(300));
    while ch.poll_transmit().is_some() {}
});
