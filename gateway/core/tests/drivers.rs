//! The transport drivers with toy protocols over real sockets on 127.0.0.1: bytes in and
//! out, doorbell rings, timers, peer demultiplexing, close and shutdown paths.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gw_core::bus::{Doorbell, DrainSignal};
use gw_core::conn::datagram::{run_datagram, DatagramLimits, DatagramStats};
use gw_core::conn::hibernate;
use gw_core::conn::stream::StreamLimits;
use gw_core::conn::{CloseCause, DatagramHandler, DatagramProtocol, Flow, ReadPause, StreamHandler, StreamProtocol};
use gw_core::listener::{serve_tcp, ListenerLimits};
use gw_core::shutdown::Shutdown;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Instant;

/// Line protocol: echoes each line upper-cased and logs it; "quit" closes; "ring" rings its
/// own doorbell, which writes "rung"; "later" arms a 50 ms timer that writes "timer"; "pause"
/// stops reading for 200 ms, "pause-until-drained" for 10 s or until `drain` rings;
/// "id NAME" makes NAME the client id.
struct Lines {
    doorbell: Arc<Doorbell>,
    client_id: Option<String>,
    timer: Option<Instant>,
    pause: Option<ReadPause>,
    drain: Arc<DrainSignal>,
    closed: Arc<Mutex<Vec<CloseCause>>>,
    /// Counts `on_hibernate` calls of every connection.
    hibernated: Arc<AtomicUsize>,
}

impl StreamHandler for Lines {
    fn doorbell(&self) -> Arc<Doorbell> {
        self.doorbell.clone()
    }

    async fn on_input(&mut self, now: Instant, input: &mut BytesMut, out: &mut BytesMut) -> Flow {
        if self.pause.as_ref().is_some_and(|p| p.until > now) {
            return Flow::Continue;
        }
        while let Some(pos) = input.iter().position(|&b| b == b'\n') {
            let line = input.split_to(pos + 1);
            let text = std::str::from_utf8(&line[..pos]).unwrap().to_string();
            tracing::info!(line = %text, "line");
            if let Some(id) = text.strip_prefix("id ") {
                tracing::Span::current().record("client_id", id);
                self.client_id = Some(id.to_string());
            }
            match text.as_str() {
                "quit" => {
                    out.extend_from_slice(b"BYE\n");
                    return Flow::Close;
                }
                "ring" => self.doorbell.ring(),
                "later" => self.timer = Some(now + Duration::from_millis(50)),
                // Back-pressure: stop for 200 ms, leaving the rest of `input` for later (as the
                // MQTT glue stops between two PUBLISHes).
                "pause" => {
                    self.pause = Some(ReadPause { until: now + Duration::from_millis(200), drained: None });
                    out.extend_from_slice(b"paused\n");
                    return Flow::Continue;
                }
                "pause-until-drained" => {
                    let drained = Some(self.drain.clone());
                    self.pause = Some(ReadPause { until: now + Duration::from_secs(10), drained });
                    out.extend_from_slice(b"paused\n");
                    return Flow::Continue;
                }
                _ => {
                    out.extend_from_slice(text.to_uppercase().as_bytes());
                    out.extend_from_slice(b"\n");
                }
            }
        }
        Flow::Continue
    }

    fn on_doorbell(&mut self, _now: Instant, out: &mut BytesMut) -> Flow {
        out.extend_from_slice(b"rung\n");
        Flow::Continue
    }

    fn on_timeout(&mut self, now: Instant, out: &mut BytesMut) -> Flow {
        // The driver also wakes the handler when a read pause ends.
        if self.timer.is_some_and(|at| at <= now) {
            self.timer = None;
            out.extend_from_slice(b"timer\n");
        }
        Flow::Continue
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.timer
    }

    fn read_pause(&self) -> Option<ReadPause> {
        self.pause.clone()
    }

    fn end_read_pause(&mut self) {
        self.pause = None;
    }

    fn on_shutdown(&mut self, _now: Instant, out: &mut BytesMut) {
        out.extend_from_slice(b"shutdown\n");
    }

    fn on_closed(&mut self, _now: Instant, cause: CloseCause) {
        self.closed.lock().push(cause);
    }

    fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    fn on_hibernate(&mut self) {
        self.hibernated.fetch_add(1, Ordering::Relaxed);
    }
}

struct LinesProtocol {
    closed: Arc<Mutex<Vec<CloseCause>>>,
    drain: Arc<DrainSignal>,
    /// Every connection's doorbell, so a test can ring one from outside.
    doorbells: Arc<Mutex<Vec<Arc<Doorbell>>>>,
    hibernated: Arc<AtomicUsize>,
}

impl StreamProtocol for LinesProtocol {
    type Handler = Lines;
    fn name(&self) -> &'static str {
        "lines"
    }
    fn connect(&self, _peer: SocketAddr, _now: Instant) -> Lines {
        let doorbell = Arc::new(Doorbell::new());
        self.doorbells.lock().push(doorbell.clone());
        Lines {
            doorbell,
            client_id: None,
            timer: None,
            pause: None,
            drain: self.drain.clone(),
            closed: self.closed.clone(),
            hibernated: self.hibernated.clone(),
        }
    }
}

/// A log writer appending to a shared buffer.
struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn read_line(stream: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    let fut = async {
        loop {
            if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                return String::from_utf8(line[..pos].to_vec()).unwrap();
            }
            let mut chunk = [0u8; 256];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed while waiting for a line");
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), fut).await.expect("timed out waiting for a line")
}

async fn start_lines(max_connections: usize) -> (SocketAddr, Shutdown, Arc<Mutex<Vec<CloseCause>>>) {
    start_lines_draining(max_connections, Arc::default()).await
}

async fn start_lines_draining(
    max_connections: usize,
    drain: Arc<DrainSignal>,
) -> (SocketAddr, Shutdown, Arc<Mutex<Vec<CloseCause>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let closed = Arc::new(Mutex::new(Vec::new()));
    let protocol = Arc::new(LinesProtocol {
        closed: closed.clone(),
        drain,
        doorbells: Arc::default(),
        hibernated: Arc::default(),
    });
    let limits = ListenerLimits { max_connections, stream: StreamLimits::default() };
    tokio::spawn(serve_tcp(listener, protocol, shutdown.clone(), limits));
    (addr, shutdown, closed)
}

async fn wait_for(cond: impl Fn() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached in 2 s");
}

#[tokio::test]
async fn stream_driver_runs_input_doorbell_timer_and_close() {
    let (addr, _shutdown, closed) = start_lines(10).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    // Input split across writes is reassembled by the handler's buffer.
    s.write_all(b"hel").await.unwrap();
    s.write_all(b"lo\nworld\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "HELLO");
    assert_eq!(read_line(&mut s, &mut buf).await, "WORLD");
    s.write_all(b"ring\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "rung");
    s.write_all(b"later\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "timer");
    s.write_all(b"quit\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "BYE");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await.unwrap().unwrap();
    assert_eq!(n, 0, "closed after the goodbye was flushed");
    wait_for(|| closed.lock().as_slice() == [CloseCause::Handler]).await;
}

/// The driver moves its timer only earlier (moving it later would re-register the timer on
/// every wake-up of a busy connection): a deadline the handler moves later is still met, once,
/// and not before its new time.
#[tokio::test]
async fn a_deadline_moved_later_is_met_once_at_its_new_time() {
    let (addr, _shutdown, _closed) = start_lines(10).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    let start = Instant::now();
    s.write_all(b"later\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    s.write_all(b"later\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "timer");
    assert!(start.elapsed() >= Duration::from_millis(80), "the second deadline, 30 + 50 ms after the start");
    s.write_all(b"after\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "AFTER", "no second timer line");
}

/// The one test of this binary whose connections hibernate: `hibernate::sleeping()` counts
/// the whole process's sleepers.
#[tokio::test]
async fn an_idle_connection_hibernates_and_wakes_for_input_doorbell_timer_close_and_shutdown() {
    // Log lines, to see the connection's span made anew when it wakes. Process-wide: the
    // sleeper may be woken on another thread (another test's listener shutting down wakes
    // every sleeper), and a thread's own default would leave the span empty there.
    let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || LogSink(sink.clone())).finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only test that sets it");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let closed = Arc::new(Mutex::new(Vec::new()));
    let doorbells = Arc::new(Mutex::new(Vec::new()));
    let hibernated = Arc::new(AtomicUsize::new(0));
    let protocol = Arc::new(LinesProtocol {
        closed: closed.clone(),
        drain: Arc::default(),
        doorbells: doorbells.clone(),
        hibernated: hibernated.clone(),
    });
    let stream = StreamLimits { hibernate_after: Some(Duration::from_millis(20)), ..StreamLimits::default() };
    tokio::spawn(serve_tcp(listener, protocol, shutdown.clone(), ListenerLimits { max_connections: 10, stream }));
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    s.write_all(b"id c1\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "ID C1");
    wait_for(|| hibernate::sleeping() == 1).await;

    // Input wakes it (and what arrives is read whole), in a span with the peer and client id.
    s.write_all(b"again\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "AGAIN");
    wait_for(|| hibernate::sleeping() == 1).await;
    let logged = String::from_utf8(logs.lock().clone()).unwrap();
    let again = logged.lines().find(|l| l.contains("line=again")).expect("the woken connection logs");
    let peer = format!("peer={}", s.local_addr().unwrap());
    assert!(again.contains(&peer) && again.contains("client_id=\"c1\""), "span fields missing: {again}");

    // Its doorbell wakes it.
    doorbells.lock()[0].ring();
    assert_eq!(read_line(&mut s, &mut buf).await, "rung");
    wait_for(|| hibernate::sleeping() == 1).await;

    // Its deadline wakes it: the 50 ms timer outlasts the 20 ms before it sleeps.
    s.write_all(b"later\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "timer");
    wait_for(|| hibernate::sleeping() == 1).await;

    // The peer closing wakes it to be closed.
    drop(s);
    wait_for(|| closed.lock().as_slice() == [CloseCause::PeerClosed]).await;
    assert_eq!(hibernate::sleeping(), 0);

    // The listener's shutdown wakes sleepers to say goodbye.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"hi\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "HI");
    wait_for(|| hibernate::sleeping() == 1).await;
    shutdown.cancel();
    assert_eq!(read_line(&mut s, &mut buf).await, "shutdown");
    wait_for(|| closed.lock().len() == 2).await;
    assert_eq!(closed.lock()[1], CloseCause::Shutdown);
    assert_eq!(hibernate::sleeping(), 0);
    // Told before each of the five sleeps waited for above (to give back its buffers).
    assert!(hibernated.load(Ordering::Relaxed) >= 5);
}

#[tokio::test]
async fn stream_driver_reports_peer_close_and_shutdown() {
    let (addr, shutdown, closed) = start_lines(10).await;
    let s = TcpStream::connect(addr).await.unwrap();
    drop(s);
    wait_for(|| closed.lock().as_slice() == [CloseCause::PeerClosed]).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    s.write_all(b"x\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "X");
    shutdown.cancel();
    assert_eq!(read_line(&mut s, &mut buf).await, "shutdown");
    wait_for(|| closed.lock().len() == 2).await;
    assert_eq!(closed.lock()[1], CloseCause::Shutdown);
}

#[tokio::test]
async fn listener_enforces_max_connections() {
    let (addr, _shutdown, _closed) = start_lines(1).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    first.write_all(b"a\n").await.unwrap();
    assert_eq!(read_line(&mut first, &mut buf).await, "A");
    let mut second = TcpStream::connect(addr).await.unwrap();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), second.read_to_end(&mut rest)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "the connection over the limit is closed");
    first.write_all(b"b\n").await.unwrap();
    assert_eq!(read_line(&mut first, &mut buf).await, "B", "the first connection is unaffected");
}

/// Datagram echo: replies "<n>:<payload>" with a per-peer counter; "bye" ends the peer;
/// a first datagram "no" is refused.
struct Echo {
    doorbell: Arc<Doorbell>,
    count: usize,
    closed: Arc<AtomicUsize>,
}

impl DatagramHandler for Echo {
    fn doorbell(&self) -> Arc<Doorbell> {
        self.doorbell.clone()
    }
    async fn on_datagram(&mut self, _now: Instant, datagram: Bytes, out: &mut Vec<Bytes>) -> Flow {
        if &datagram[..] == b"bye" {
            return Flow::Close;
        }
        self.count += 1;
        let mut reply = format!("{}:", self.count).into_bytes();
        reply.extend_from_slice(&datagram);
        out.push(Bytes::from(reply));
        Flow::Continue
    }
    fn on_doorbell(&mut self, _now: Instant, _out: &mut Vec<Bytes>) -> Flow {
        Flow::Continue
    }
    fn on_timeout(&mut self, _now: Instant, _out: &mut Vec<Bytes>) -> Flow {
        Flow::Continue
    }
    fn next_timeout(&self) -> Option<Instant> {
        None
    }
    fn on_shutdown(&mut self, _now: Instant, _out: &mut Vec<Bytes>) {}
    fn on_closed(&mut self, _now: Instant, _cause: CloseCause) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

struct EchoProtocol {
    closed: Arc<AtomicUsize>,
}

impl DatagramProtocol for EchoProtocol {
    type Handler = Echo;
    fn name(&self) -> &'static str {
        "echo"
    }
    fn accept(&self, _peer: SocketAddr, first: &[u8], _now: Instant) -> Option<Echo> {
        (first != b"no").then(|| Echo { doorbell: Arc::new(Doorbell::new()), count: 0, closed: self.closed.clone() })
    }
}

async fn recv(socket: &UdpSocket) -> String {
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf)).await.expect("no reply").unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

#[tokio::test]
async fn datagram_driver_keeps_one_handler_per_peer() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let closed = Arc::new(AtomicUsize::new(0));
    let stats = Arc::new(DatagramStats::default());
    let shutdown = Shutdown::new();
    tokio::spawn(run_datagram(
        server,
        Arc::new(EchoProtocol { closed: closed.clone() }),
        shutdown.clone(),
        DatagramLimits::default(),
        stats.clone(),
    ));
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    a.connect(addr).await.unwrap();
    b.connect(addr).await.unwrap();
    a.send(b"x").await.unwrap();
    assert_eq!(recv(&a).await, "1:x");
    a.send(b"y").await.unwrap();
    assert_eq!(recv(&a).await, "2:y");
    b.send(b"z").await.unwrap();
    assert_eq!(recv(&b).await, "1:z", "each peer has its own handler");
    // A peer that ends starts afresh with its next datagram.
    a.send(b"bye").await.unwrap();
    wait_for(|| closed.load(Ordering::SeqCst) == 1).await;
    a.send(b"w").await.unwrap();
    assert_eq!(recv(&a).await, "1:w");
    // Refused first datagrams are counted and answered with nothing.
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    c.connect(addr).await.unwrap();
    c.send(b"no").await.unwrap();
    wait_for(|| stats.refused.load(Ordering::SeqCst) == 1).await;
    shutdown.cancel();
    wait_for(|| closed.load(Ordering::SeqCst) == 3).await;
}

#[tokio::test(start_paused = true)]
async fn stream_driver_pauses_reading_when_the_handler_asks() {
    let (addr, _shutdown, _closed) = start_lines(10).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    s.write_all(b"pause\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "paused");
    let before = Instant::now();
    s.write_all(b"next\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "NEXT");
    // The clock is virtual: the reply can only have come after the pause ran out.
    assert!(Instant::now() - before >= Duration::from_millis(150), "read resumed only after the pause");
}

#[tokio::test(start_paused = true)]
async fn frames_held_during_a_pause_are_handled_without_new_bytes() {
    let (addr, _shutdown, _closed) = start_lines(10).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    let before = Instant::now();
    // One write: "next" is read together with "pause" and must wait in the driver's input
    // buffer; nothing else is ever sent.
    s.write_all(b"pause\nnext\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "paused");
    assert_eq!(read_line(&mut s, &mut buf).await, "NEXT", "held frames handled when the pause ends");
    assert!(Instant::now() - before >= Duration::from_millis(150));
}

#[tokio::test(start_paused = true)]
async fn a_drain_signal_ends_a_pause_early() {
    let drain = Arc::new(DrainSignal::default());
    let (addr, _shutdown, _closed) = start_lines_draining(10, drain.clone()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    let before = Instant::now();
    s.write_all(b"pause-until-drained\nnext\n").await.unwrap();
    assert_eq!(read_line(&mut s, &mut buf).await, "paused");
    wait_for(|| drain.has_waiters()).await;
    drain.wake_one();
    assert_eq!(read_line(&mut s, &mut buf).await, "NEXT");
    assert!(Instant::now() - before < Duration::from_secs(5), "the drain, not the 10 s pause, ended it");
}
