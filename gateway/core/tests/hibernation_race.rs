//! Doorbell rings that land while a connection falls asleep (`conn::hibernate`): none may
//! be lost. A test binary of its own, as the sleepers' slot table is process-wide.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use gw_core::bus::Doorbell;
use gw_core::conn::hibernate;
use gw_core::conn::stream::StreamLimits;
use gw_core::conn::{CloseCause, Flow, StreamHandler, StreamProtocol};
use gw_core::listener::{serve_tcp, ListenerLimits};
use gw_core::shutdown::Shutdown;
use parking_lot::Mutex;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Writes one `!` per wake-up by its doorbell; ignores input.
struct Bell(Arc<Doorbell>);

impl StreamHandler for Bell {
    fn doorbell(&self) -> Arc<Doorbell> {
        self.0.clone()
    }

    async fn on_input(&mut self, _now: Instant, input: &mut BytesMut, _out: &mut BytesMut) -> Flow {
        input.clear();
        Flow::Continue
    }

    fn on_doorbell(&mut self, _now: Instant, out: &mut BytesMut) -> Flow {
        out.extend_from_slice(b"!");
        Flow::Continue
    }

    fn on_timeout(&mut self, _now: Instant, _out: &mut BytesMut) -> Flow {
        Flow::Continue
    }

    fn next_timeout(&self) -> Option<Instant> {
        None
    }

    fn on_shutdown(&mut self, _now: Instant, _out: &mut BytesMut) {}

    fn on_closed(&mut self, _now: Instant, _cause: CloseCause) {}
}

/// Hands out bells and keeps the last one's doorbell for the test to ring.
#[derive(Default)]
struct Bells(Mutex<Option<Arc<Doorbell>>>);

impl StreamProtocol for Bells {
    type Handler = Bell;

    fn name(&self) -> &'static str {
        "bell"
    }

    fn connect(&self, _peer: SocketAddr, _now: Instant) -> Bell {
        let doorbell = Arc::new(Doorbell::new());
        *self.0.lock() = Some(doorbell.clone());
        Bell(doorbell)
    }
}

/// A connection that hibernates 1 ms after each wake-up is rung again and again, after
/// delays spread over 0-3 ms, so rings land while it is awake, while it falls asleep and
/// while it sleeps; from another thread than the connection's. Every ring must be
/// answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ring_is_lost_as_a_connection_falls_asleep() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bells = Arc::new(Bells::default());
    let stream = StreamLimits { hibernate_after: Some(Duration::from_millis(1)), ..StreamLimits::default() };
    let limits = ListenerLimits { max_connections: 1, stream };
    let shutdown = Shutdown::new();
    tokio::spawn(serve_tcp(listener, bells.clone(), shutdown.clone(), limits));
    let mut client = TcpStream::connect(addr).await.unwrap();
    let doorbell = loop {
        if let Some(d) = bells.0.lock().clone() {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    // The ringing thread rings each time it is told to, after its delay.
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let mut found_asleep = 0;
        for i in 0u64.. {
            if wait.recv().is_err() {
                break;
            }
            std::thread::sleep(Duration::from_micros((i * 397) % 3000));
            found_asleep += hibernate::sleeping();
            doorbell.ring();
        }
        found_asleep
    });
    let mut byte = [0u8; 1];
    for i in 0..400 {
        go.send(()).unwrap();
        let answered = tokio::time::timeout(Duration::from_secs(2), client.read_exact(&mut byte)).await;
        assert!(answered.is_ok(), "ring {i} was lost");
        assert_eq!(byte[0], b'!');
    }
    drop(go);
    let found_asleep = thread.join().unwrap();
    // Rings found it awake, and asleep (whether some landed exactly as it fell asleep is
    // up to the timing; over 400 rings spread like this, some do).
    assert!(found_asleep > 20 && found_asleep < 380, "asleep before {found_asleep} of 400 rings");
    shutdown.cancel();
}
