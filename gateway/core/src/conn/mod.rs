//! Transport drivers, written once for every protocol.
//!
//! A protocol front-end implements [`StreamHandler`] (TCP, TLS, WebSocket) or
//! [`DatagramHandler`] (UDP, DTLS) around its sans-IO channel; the drivers here own the
//! socket, the read and write buffers, the timer, the doorbell and the shutdown signal, and
//! call the handler for each input. Output bytes are collected into one buffer per wake-up and
//! written with one call.

pub mod datagram;
pub mod dtls;
pub mod hibernate;
pub mod stream;
pub mod ws;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use crate::bus::{Doorbell, DrainSignal};

/// What the handler wants after an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// Flush what was written and close the connection.
    Close,
}

/// Publisher back-pressure: a subscriber is behind, so the driver reads nothing from this
/// connection until `until`, or until `drained` rings (the subscriber caught up), whichever
/// comes first.
#[derive(Debug, Clone)]
pub struct ReadPause {
    /// The latest end of the pause.
    pub until: Instant,
    /// Ends the pause early.
    pub drained: Option<Arc<DrainSignal>>,
}

/// Why a connection ended, as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseCause {
    /// The handler returned [`Flow::Close`].
    Handler,
    /// The peer closed the connection.
    PeerClosed,
    /// A socket error.
    Io(io::ErrorKind),
    /// The gateway is shutting down.
    Shutdown,
}

/// One stream connection of a protocol: the driver calls these as things happen.
pub trait StreamHandler: Send + 'static {
    /// The doorbell the bus rings for this connection (deliveries, kicks).
    fn doorbell(&self) -> Arc<Doorbell>;

    /// Bytes arrived: consume every complete frame from `input`, append output to `out`.
    /// Asynchronous because the first frame may need authentication.
    fn on_input(&mut self, now: Instant, input: &mut BytesMut, out: &mut BytesMut)
        -> impl Future<Output = Flow> + Send;

    /// The doorbell rang: take deliveries (or notice a kick).
    fn on_doorbell(&mut self, now: Instant, out: &mut BytesMut) -> Flow;

    /// The deadline from [`StreamHandler::next_timeout`] passed.
    fn on_timeout(&mut self, now: Instant, out: &mut BytesMut) -> Flow;

    /// The earliest time [`StreamHandler::on_timeout`] must be called.
    fn next_timeout(&self) -> Option<Instant>;

    /// Whether the driver must not read from the socket for now (publisher back-pressure).
    /// The driver wakes the handler's timer when the pause ends.
    fn read_pause(&self) -> Option<ReadPause> {
        None
    }

    /// The pause's drain signal rang before its time was up: reading may go on.
    fn end_read_pause(&mut self) {}

    /// The gateway shuts down: write a goodbye if the protocol has one.
    fn on_shutdown(&mut self, now: Instant, out: &mut BytesMut);

    /// The connection is over; release the session. Called exactly once.
    fn on_closed(&mut self, now: Instant, cause: CloseCause);

    /// The client id, once known: the log span of a connection waking from hibernation is
    /// made anew and needs it.
    fn client_id(&self) -> Option<&str> {
        None
    }

    /// The connection is going to sleep (`conn::hibernate`): give back memory kept for
    /// bursts (queue and buffer capacity), so a quiet connection costs what an idle one does.
    fn on_hibernate(&mut self) {}
}

/// The listeners box each handler, so an idle connection's task holds a pointer to it rather
/// than the handler inline (and, as an async fn argument, twice).
impl<H: StreamHandler> StreamHandler for Box<H> {
    fn doorbell(&self) -> Arc<Doorbell> {
        (**self).doorbell()
    }

    fn on_input(
        &mut self,
        now: Instant,
        input: &mut BytesMut,
        out: &mut BytesMut,
    ) -> impl Future<Output = Flow> + Send {
        (**self).on_input(now, input, out)
    }

    fn on_doorbell(&mut self, now: Instant, out: &mut BytesMut) -> Flow {
        (**self).on_doorbell(now, out)
    }

    fn on_timeout(&mut self, now: Instant, out: &mut BytesMut) -> Flow {
        (**self).on_timeout(now, out)
    }

    fn next_timeout(&self) -> Option<Instant> {
        (**self).next_timeout()
    }

    fn read_pause(&self) -> Option<ReadPause> {
        (**self).read_pause()
    }

    fn end_read_pause(&mut self) {
        (**self).end_read_pause();
    }

    fn on_shutdown(&mut self, now: Instant, out: &mut BytesMut) {
        (**self).on_shutdown(now, out);
    }

    fn on_closed(&mut self, now: Instant, cause: CloseCause) {
        (**self).on_closed(now, cause);
    }

    fn client_id(&self) -> Option<&str> {
        (**self).client_id()
    }

    fn on_hibernate(&mut self) {
        (**self).on_hibernate();
    }
}

/// The log span every connection's task runs in: `proto`, `peer` and `client_id` (recorded
/// by the protocol once known). `peer` is only asked for when the span is enabled.
pub(crate) fn conn_span(
    proto: &'static str,
    peer: impl FnOnce() -> io::Result<SocketAddr>,
    client_id: Option<&str>,
) -> tracing::Span {
    let span = tracing::info_span!("conn", proto, peer = tracing::field::Empty, client_id = tracing::field::Empty);
    if !span.is_disabled() {
        if let Ok(peer) = peer() {
            span.record("peer", tracing::field::display(peer));
        }
        if let Some(client_id) = client_id {
            span.record("client_id", client_id);
        }
    }
    span
}

/// A stream protocol: makes a handler for each accepted connection.
pub trait StreamProtocol: Send + Sync + 'static {
    /// The per-connection handler.
    type Handler: StreamHandler;

    /// Protocol name for logs (`mqtt`, `stomp`).
    fn name(&self) -> &'static str;

    /// A new connection from `peer`.
    fn connect(&self, peer: SocketAddr, now: Instant) -> Self::Handler;
}

/// One datagram peer of a protocol (a CoAP endpoint, an MQTT-SN client).
pub trait DatagramHandler: Send + 'static {
    /// The doorbell the bus rings for this peer. The driver asks again before every wait, so
    /// a wrapper may hand over a different one later (DTLS: its inner handler's, once it exists).
    fn doorbell(&self) -> Arc<Doorbell>;

    /// A datagram from the peer; push datagrams to send into `out`.
    fn on_datagram(&mut self, now: Instant, datagram: Bytes, out: &mut Vec<Bytes>)
        -> impl Future<Output = Flow> + Send;

    /// The doorbell rang.
    fn on_doorbell(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Flow;

    /// The deadline from [`DatagramHandler::next_timeout`] passed.
    fn on_timeout(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Flow;

    /// The earliest time [`DatagramHandler::on_timeout`] must be called.
    fn next_timeout(&self) -> Option<Instant>;

    /// The gateway shuts down.
    fn on_shutdown(&mut self, now: Instant, out: &mut Vec<Bytes>);

    /// The peer is done; release its session. Called exactly once.
    fn on_closed(&mut self, now: Instant, cause: CloseCause);
}

/// A datagram protocol: decides whether a datagram from an unknown peer starts a peer.
pub trait DatagramProtocol: Send + Sync + 'static {
    /// The per-peer handler.
    type Handler: DatagramHandler;

    /// Protocol name for logs.
    fn name(&self) -> &'static str;

    /// `first` came from an unknown `peer`: a handler to start it, or `None` to drop the
    /// datagram (the protocol logs why).
    fn accept(&self, peer: SocketAddr, first: &[u8], now: Instant) -> Option<Self::Handler>;
}
