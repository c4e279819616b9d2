//! The datagram driver: one receive loop per UDP socket, one task per peer.
//!
//! The receive loop demultiplexes by source address into a bounded queue per peer (a peer
//! that falls behind loses datagrams, counted, rather than slowing everyone down); each peer
//! task runs its handler with the same select loop as the stream driver.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use super::{conn_span, CloseCause, DatagramHandler, DatagramProtocol, Flow};
use crate::shutdown::Shutdown;

/// Limits of the datagram driver.
#[derive(Debug, Clone, Copy)]
pub struct DatagramLimits {
    /// Largest datagram accepted; larger ones are truncated by the OS and dropped here.
    pub max_datagram: usize,
    /// Peers at once; datagrams from new peers beyond this are dropped.
    pub max_peers: usize,
    /// Datagrams queued per peer before new ones are dropped.
    pub peer_queue: usize,
}

impl Default for DatagramLimits {
    fn default() -> Self {
        Self { max_datagram: 65_535, max_peers: 1024, peer_queue: 64 }
    }
}

/// Counters of the datagram driver, exported as `$SYS/brokers/{node}/metrics/datagrams/...`.
#[derive(Debug, Default)]
pub struct DatagramStats {
    /// Datagrams dropped because a peer's queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Datagrams dropped because `max_peers` was reached.
    pub dropped_max_peers: AtomicU64,
    /// Datagrams from unknown peers the protocol refused.
    pub refused: AtomicU64,
}

impl DatagramStats {
    /// Every counter with its exported (dotted) name.
    pub fn snapshot(&self) -> [(&'static str, u64); 3] {
        [
            ("datagrams.dropped.queue_full", self.dropped_queue_full.load(Ordering::Relaxed)),
            ("datagrams.dropped.max_peers", self.dropped_max_peers.load(Ordering::Relaxed)),
            ("datagrams.refused", self.refused.load(Ordering::Relaxed)),
        ]
    }
}

type PeerMap = Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Bytes>>>>;

/// Serves `socket` until shutdown.
pub async fn run_datagram<P: DatagramProtocol>(
    socket: UdpSocket,
    protocol: Arc<P>,
    shutdown: Shutdown,
    limits: DatagramLimits,
    stats: Arc<DatagramStats>,
) {
    let socket = Arc::new(socket);
    let peers: PeerMap = Arc::new(Mutex::new(HashMap::new()));
    let mut buf = BytesMut::new();
    // Pinned once: made anew per datagram, it would join and leave the shutdown token's
    // shared waiter list each time.
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    loop {
        buf.reserve(limits.max_datagram);
        let received = tokio::select! {
            () = &mut cancelled => return,
            r = socket.recv_buf_from(&mut buf) => r,
        };
        let (len, peer) = match received {
            Ok(r) => r,
            Err(e) => {
                // ICMP port unreachable and the like surface here on some systems; keep going.
                tracing::debug!(error = %e, "udp_recv_error");
                continue;
            }
        };
        let datagram = buf.split_to(len).freeze();
        let existing = peers.lock().get(&peer).cloned();
        if let Some(tx) = existing {
            if tx.try_send(datagram).is_err() {
                stats.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        }
        if peers.lock().len() >= limits.max_peers {
            stats.dropped_max_peers.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let now = Instant::now();
        let Some(handler) = protocol.accept(peer, &datagram, now) else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let (tx, rx) = mpsc::channel(limits.peer_queue.max(1));
        let _ = tx.try_send(datagram);
        peers.lock().insert(peer, tx);
        let span = conn_span(protocol.name(), || Ok(peer), None);
        let task = run_peer(socket.clone(), peer, handler, rx, shutdown.clone(), peers.clone());
        tokio::spawn(task.instrument(span));
    }
}

async fn run_peer<H: DatagramHandler>(
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    mut handler: H,
    mut rx: mpsc::Receiver<Bytes>,
    shutdown: Shutdown,
    peers: PeerMap,
) {
    let mut out: Vec<Bytes> = Vec::new();
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let cause = loop {
        // Asked every turn: a wrapper (DTLS) hands over its inner handler's doorbell once the
        // inner handler exists. A ring while nobody waits is kept, so none is lost.
        let doorbell = handler.doorbell();
        let deadline = handler.next_timeout();
        let mut flow = Flow::Continue;
        let mut shutting_down = false;
        tokio::select! {
            biased;
            () = &mut cancelled => {
                handler.on_shutdown(Instant::now(), &mut out);
                shutting_down = true;
            }
            datagram = rx.recv() => match datagram {
                Some(d) => flow = handler.on_datagram(Instant::now(), d, &mut out).await,
                None => break CloseCause::PeerClosed,
            },
            () = doorbell.rung() => flow = handler.on_doorbell(Instant::now(), &mut out),
            () = sleep_until(deadline), if deadline.is_some() => flow = handler.on_timeout(Instant::now(), &mut out),
        }
        for d in out.drain(..) {
            if let Err(e) = socket.send_to(&d, peer).await {
                tracing::debug!(error = %e, "udp_send_error");
            }
        }
        if shutting_down {
            break CloseCause::Shutdown;
        }
        if flow == Flow::Close {
            break CloseCause::Handler;
        }
    };
    peers.lock().remove(&peer);
    handler.on_closed(Instant::now(), cause);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
