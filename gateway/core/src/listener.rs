//! Accept loops for stream listeners (TCP and WebSocket), with a connection limit.
//!
//! Each accepted connection runs in its own task inside a `conn` span (`proto`, `peer`,
//! `client_id` filled in by the protocol once known).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tracing::Instrument;

use crate::conn::hibernate::{self, SleeperPoll};
use crate::conn::stream::{run_stream, spawn_tcp, BufferedRead, IdleWait, StreamLimits, TcpShared, TcpSocket};
use crate::conn::ws::WsByteStream;
use crate::conn::{conn_span, StreamProtocol};
use crate::shutdown::Shutdown;

/// Limits of one listener.
#[derive(Debug, Clone)]
pub struct ListenerLimits {
    /// Connections at once; further ones are closed at accept.
    pub max_connections: usize,
    /// Stream driver limits.
    pub stream: StreamLimits,
}

/// WebSocket listener settings (EMQX `listeners.ws.<name>.websocket.*`).
#[derive(Debug, Clone)]
pub struct WsSettings {
    /// Request path, e.g. `/mqtt`.
    pub path: String,
    /// Subprotocols offered, in preference order.
    pub subprotocols: Vec<String>,
    /// Refuse clients that offer none of them.
    pub fail_if_no_subprotocol: bool,
    /// Largest WebSocket message accepted.
    pub max_message_size: usize,
    /// Accept text messages (text protocols such as STOMP).
    pub allow_text: bool,
    /// Send text messages instead of binary ones.
    pub text_output: bool,
    /// Time allowed for the HTTP upgrade.
    pub handshake_timeout: Duration,
}

fn span_for(proto: &'static str, peer: std::net::SocketAddr) -> tracing::Span {
    conn_span(proto, || Ok(peer), None)
}

async fn accept(listener: &TcpListener) -> Option<(TcpStream, std::net::SocketAddr)> {
    match listener.accept().await {
        Ok(pair) => Some(pair),
        Err(e) => {
            // Out of file descriptors and the like: back off instead of spinning.
            tracing::warn!(error = %e, "accept_failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// Accepts connections until shutdown, closing those over `max_connections` at once, and
/// hands each accepted one (with its permit, released when the connection ends) to `serve`.
async fn accept_loop(
    listener: TcpListener,
    shutdown: Shutdown,
    max_connections: usize,
    mut serve: impl FnMut(TcpStream, std::net::SocketAddr, OwnedSemaphorePermit),
) {
    let permits = Arc::new(Semaphore::new(max_connections));
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            a = accept(&listener) => a,
        };
        let Some((stream, peer)) = accepted else { continue };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(peer = %peer, max = max_connections, "max_connections_reached");
            continue;
        };
        let _ = stream.set_nodelay(true);
        serve(stream, peer, permit);
    }
}

/// Serves `protocol` over plain TCP until shutdown; idle connections hibernate after
/// `limits.stream.hibernate_after`.
pub async fn serve_tcp<P: StreamProtocol>(
    listener: TcpListener,
    protocol: Arc<P>,
    shutdown: Shutdown,
    limits: ListenerLimits,
) {
    let sleepers = limits.stream.hibernate_after.and_then(|_| {
        SleeperPoll::start(shutdown.clone())
            .inspect_err(|e| tracing::error!(error = %e, "hibernation_unavailable"))
            .ok()
    });
    let shared = Arc::new(TcpShared {
        protocol: protocol.name(),
        shutdown: shutdown.clone(),
        limits: StreamLimits { hibernate_after: sleepers.as_ref().and(limits.stream.hibernate_after), ..limits.stream },
        runtime: tokio::runtime::Handle::current(),
        sleepers,
    });
    accept_loop(listener, shutdown, limits.max_connections, |stream, peer, permit| {
        let handler = Box::new(protocol.connect(peer, Instant::now()));
        let span = span_for(protocol.name(), peer);
        spawn_tcp(TcpSocket::Accepted(stream), handler, shared.clone(), permit, IdleWait::FRESH, span);
    })
    .await;
    // Sleeping connections need a task to see the shutdown.
    hibernate::wake_all();
}

/// Serves `protocol` over WebSocket until shutdown.
pub async fn serve_ws<P: StreamProtocol>(
    listener: TcpListener,
    protocol: Arc<P>,
    shutdown: Shutdown,
    limits: ListenerLimits,
    ws: WsSettings,
) {
    let ws = Arc::new(ws);
    let conn_shutdown = shutdown.clone();
    accept_loop(listener, shutdown, limits.max_connections, |stream, peer, permit| {
        let protocol = protocol.clone();
        let shutdown = conn_shutdown.clone();
        let ws = ws.clone();
        let stream_limits = limits.stream;
        let span = span_for(protocol.name(), peer);
        tokio::spawn(
            async move {
                let config = WebSocketConfig::default()
                    .max_message_size(Some(ws.max_message_size))
                    .max_frame_size(Some(ws.max_message_size));
                let settings = ws.clone();
                #[allow(clippy::result_large_err)] // tungstenite's callback signature
                let callback = move |req: &Request, resp: Response| negotiate(&settings, req, resp);
                let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config));
                let socket = match tokio::time::timeout(ws.handshake_timeout, handshake).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::info!(error = %e, "websocket_handshake_failed");
                        return;
                    }
                    Err(_) => {
                        tracing::info!("websocket_handshake_timeout");
                        return;
                    }
                };
                let bytes = WsByteStream::new(socket, ws.allow_text, ws.text_output);
                let (reader, writer) = tokio::io::split(bytes);
                let handler = Box::new(protocol.connect(peer, Instant::now()));
                run_stream(BufferedRead(reader), writer, handler, shutdown, stream_limits, permit).await;
            }
            .instrument(span),
        );
    })
    .await;
}

#[allow(clippy::result_large_err)] // the signature is tungstenite's callback type
fn negotiate(ws: &WsSettings, req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    if req.uri().path() != ws.path {
        return Err(error_response(StatusCode::NOT_FOUND, "unknown WebSocket path"));
    }
    let offered: Vec<String> = req
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .collect();
    let chosen = ws.subprotocols.iter().find(|p| offered.iter().any(|o| o.eq_ignore_ascii_case(p)));
    match chosen {
        Some(p) => {
            if let Ok(value) = HeaderValue::from_str(p) {
                resp.headers_mut().insert("sec-websocket-protocol", value);
            }
        }
        None if ws.fail_if_no_subprotocol => {
            return Err(error_response(StatusCode::BAD_REQUEST, "no supported WebSocket subprotocol offered"));
        }
        None => {}
    }
    Ok(resp)
}

fn error_response(status: StatusCode, text: &str) -> ErrorResponse {
    let mut resp = ErrorResponse::new(Some(text.to_string()));
    *resp.status_mut() = status;
    resp
}
