//! DTLS 1.2 over the datagram driver: an echo protocol behind `Dtls` on 127.0.0.1, driven by
//! a blocking OpenSSL DTLS client (PSK and certificates), a wrong key, unknown identities and
//! garbage. Test certificates are in `tests/certs` (see its README).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gw_core::bus::Doorbell;
use gw_core::conn::datagram::{run_datagram, DatagramLimits, DatagramStats};
use gw_core::conn::dtls::{Dtls, DtlsConfig, DtlsError};
use gw_core::conn::{CloseCause, DatagramHandler, DatagramProtocol, Flow};
use gw_core::shutdown::Shutdown;
use openssl::ssl::{ErrorCode, HandshakeError, SslConnector, SslFiletype, SslMethod, SslStream, SslVerifyMode};
use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// Echoes "echo:<datagram>"; "ring" rings its own doorbell, answered with "rung".
struct Echo {
    doorbell: Arc<Doorbell>,
    closed: Arc<Mutex<Vec<CloseCause>>>,
}

impl DatagramHandler for Echo {
    fn doorbell(&self) -> Arc<Doorbell> {
        self.doorbell.clone()
    }

    async fn on_datagram(&mut self, _now: Instant, datagram: Bytes, out: &mut Vec<Bytes>) -> Flow {
        if &datagram[..] == b"ring" {
            self.doorbell.ring();
            return Flow::Continue;
        }
        let mut reply = b"echo:".to_vec();
        reply.extend_from_slice(&datagram);
        out.push(reply.into());
        Flow::Continue
    }

    fn on_doorbell(&mut self, _now: Instant, out: &mut Vec<Bytes>) -> Flow {
        out.push(Bytes::from_static(b"rung"));
        Flow::Continue
    }

    fn on_timeout(&mut self, _now: Instant, _out: &mut Vec<Bytes>) -> Flow {
        Flow::Continue
    }

    fn next_timeout(&self) -> Option<Instant> {
        None
    }

    fn on_shutdown(&mut self, _now: Instant, out: &mut Vec<Bytes>) {
        out.push(Bytes::from_static(b"bye"));
    }

    fn on_closed(&mut self, _now: Instant, cause: CloseCause) {
        self.closed.lock().push(cause);
    }
}

#[derive(Default)]
struct EchoProtocol {
    accepted: AtomicUsize,
    closed: Arc<Mutex<Vec<CloseCause>>>,
}

impl DatagramProtocol for EchoProtocol {
    type Handler = Echo;

    fn name(&self) -> &'static str {
        "echo"
    }

    fn accept(&self, _peer: SocketAddr, _first: &[u8], _now: Instant) -> Option<Echo> {
        self.accepted.fetch_add(1, Ordering::SeqCst);
        Some(Echo { doorbell: Arc::new(Doorbell::new()), closed: self.closed.clone() })
    }
}

fn cert(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/certs").join(name)
}

fn psk_config() -> DtlsConfig {
    DtlsConfig {
        psk: vec![("id".into(), b"secret".to_vec()), ("other".into(), b"other-key".to_vec())],
        handshake_timeout: Duration::from_secs(2),
        ..DtlsConfig::default()
    }
}

fn cert_config(verify_peer: bool) -> DtlsConfig {
    DtlsConfig {
        certfile: Some(cert("server.pem")),
        keyfile: Some(cert("server.key")),
        cacertfile: verify_peer.then(|| cert("ca.pem")),
        verify_peer,
        handshake_timeout: Duration::from_secs(2),
        ..DtlsConfig::default()
    }
}

struct Server {
    addr: SocketAddr,
    protocol: Arc<EchoProtocol>,
    stats: Arc<DatagramStats>,
    shutdown: Shutdown,
}

async fn start(config: DtlsConfig) -> Server {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let protocol = Arc::new(EchoProtocol::default());
    let dtls = Dtls::new(protocol.clone(), config.build().unwrap());
    let stats = Arc::new(DatagramStats::default());
    let shutdown = Shutdown::new();
    tokio::spawn(run_datagram(socket, Arc::new(dtls), shutdown.clone(), DatagramLimits::default(), stats.clone()));
    Server { addr, protocol, stats, shutdown }
}

/// A connected UDP socket as the blocking Read + Write OpenSSL wants.
struct Udp(StdUdpSocket);

impl Read for Udp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv(buf)
    }
}

impl Write for Udp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Cred {
    Psk(&'static str, &'static [u8]),
    /// Verify the server against ca.pem; present client.pem when `true`.
    Cert(bool),
}

/// A blocking DTLS 1.2 handshake, giving up after `limit`.
fn connect(server: SocketAddr, cred: Cred, limit: Duration) -> Result<SslStream<Udp>, String> {
    let socket = StdUdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(server).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut b = SslConnector::builder(SslMethod::dtls()).unwrap();
    match cred {
        Cred::Psk(identity, key) => {
            b.set_cipher_list("PSK-AES128-CCM8").unwrap();
            b.set_verify(SslVerifyMode::NONE);
            b.set_psk_client_callback(move |_ssl, _hint, id_out, key_out| {
                id_out[..identity.len()].copy_from_slice(identity.as_bytes());
                id_out[identity.len()] = 0;
                key_out[..key.len()].copy_from_slice(key);
                Ok(key.len())
            });
        }
        Cred::Cert(with_client_cert) => {
            b.set_ca_file(cert("ca.pem")).unwrap();
            if with_client_cert {
                b.set_certificate_file(cert("client.pem"), SslFiletype::PEM).unwrap();
                b.set_private_key_file(cert("client.key"), SslFiletype::PEM).unwrap();
            }
        }
    }
    let deadline = std::time::Instant::now() + limit;
    let mut attempt = b.build().connect("localhost", Udp(socket));
    loop {
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(HandshakeError::WouldBlock(mid)) => {
                if std::time::Instant::now() > deadline {
                    return Err("timed out".into());
                }
                attempt = mid.handshake();
            }
            Err(HandshakeError::SetupFailure(e)) => return Err(e.to_string()),
            Err(HandshakeError::Failure(mid)) => return Err(mid.error().to_string()),
        }
    }
}

/// Sends `msg`, returns the next datagram's plaintext (or an error text).
fn round_trip(stream: &mut SslStream<Udp>, msg: &[u8]) -> Result<Vec<u8>, String> {
    stream.ssl_write(msg).map_err(|e| e.to_string())?;
    receive(stream)
}

fn receive(stream: &mut SslStream<Udp>) -> Result<Vec<u8>, String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut buf = vec![0u8; 2048];
    loop {
        match stream.ssl_read(&mut buf) {
            Ok(n) => return Ok(buf[..n].to_vec()),
            Err(e) if e.code() == ErrorCode::WANT_READ && std::time::Instant::now() < deadline => {}
            Err(e) if e.code() == ErrorCode::ZERO_RETURN => return Err("close_notify".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Runs a blocking client off the runtime.
async fn client<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test]
async fn psk_handshake_then_echo() {
    let server = start(psk_config()).await;
    let addr = server.addr;
    let replies = client(move || {
        let mut s = connect(addr, Cred::Psk("id", b"secret"), Duration::from_secs(5)).unwrap();
        assert_eq!(s.ssl().version_str(), "DTLSv1.2");
        let a = round_trip(&mut s, b"hello").unwrap();
        let b = round_trip(&mut s, b"again").unwrap();
        let rung = round_trip(&mut s, b"ring").unwrap();
        (a, b, rung)
    })
    .await;
    assert_eq!(replies.0, b"echo:hello");
    assert_eq!(replies.1, b"echo:again");
    // The inner handler's doorbell is watched once it exists.
    assert_eq!(replies.2, b"rung");
    assert_eq!(server.protocol.accepted.load(Ordering::SeqCst), 1);
    server.shutdown.cancel();
}

#[tokio::test]
async fn certificate_handshake_then_echo() {
    let server = start(cert_config(false)).await;
    let addr = server.addr;
    let reply = client(move || {
        let mut s = connect(addr, Cred::Cert(false), Duration::from_secs(5)).unwrap();
        assert_eq!(s.ssl().version_str(), "DTLSv1.2");
        round_trip(&mut s, b"cert").unwrap()
    })
    .await;
    assert_eq!(reply, b"echo:cert");
    server.shutdown.cancel();
}

#[tokio::test]
async fn client_certificate_required_when_verify_peer() {
    let server = start(cert_config(true)).await;
    let addr = server.addr;
    let (without, with) = client(move || {
        let without = connect(addr, Cred::Cert(false), Duration::from_secs(3)).map(|_| ());
        let mut s = connect(addr, Cred::Cert(true), Duration::from_secs(5)).unwrap();
        (without, round_trip(&mut s, b"mutual").unwrap())
    })
    .await;
    assert!(without.is_err(), "a client without a certificate must be refused");
    assert_eq!(with, b"echo:mutual");
    assert_eq!(server.protocol.accepted.load(Ordering::SeqCst), 1);
    server.shutdown.cancel();
}

#[tokio::test]
async fn psk_and_certificates_on_one_listener() {
    let mut config = cert_config(false);
    config.psk = psk_config().psk;
    let server = start(config).await;
    let addr = server.addr;
    let (psk, cert) = client(move || {
        let mut p = connect(addr, Cred::Psk("other", b"other-key"), Duration::from_secs(5)).unwrap();
        let mut c = connect(addr, Cred::Cert(false), Duration::from_secs(5)).unwrap();
        (round_trip(&mut p, b"p").unwrap(), round_trip(&mut c, b"c").unwrap())
    })
    .await;
    assert_eq!(psk, b"echo:p");
    assert_eq!(cert, b"echo:c");
    server.shutdown.cancel();
}

#[tokio::test]
async fn wrong_psk_fails_and_others_are_still_served() {
    let server = start(psk_config()).await;
    let addr = server.addr;
    client(move || {
        // Unknown identity: the server refuses at once.
        assert!(connect(addr, Cred::Psk("nobody", b"secret"), Duration::from_secs(3)).is_err());
        // Known identity, wrong key: the Finished does not decrypt; DTLS drops such records
        // silently (RFC 6347 §4.1.2.7), so the handshake ends by timeout on both sides.
        let bad = std::thread::spawn(move || connect(addr, Cred::Psk("id", b"wrong"), Duration::from_secs(3)).is_err());
        // Meanwhile a good client is served.
        let mut good = connect(addr, Cred::Psk("id", b"secret"), Duration::from_secs(5)).unwrap();
        assert_eq!(round_trip(&mut good, b"fine").unwrap(), b"echo:fine");
        assert!(bad.join().unwrap(), "a wrong key must not complete the handshake");
        assert_eq!(round_trip(&mut good, b"still").unwrap(), b"echo:still");
    })
    .await;
    // Only the good client reached the inner protocol.
    assert_eq!(server.protocol.accepted.load(Ordering::SeqCst), 1);
    server.shutdown.cancel();
}

#[tokio::test]
async fn garbage_is_ignored() {
    let server = start(psk_config()).await;
    let addr = server.addr;
    client(move || {
        let raw = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        raw.send_to(b"not dtls at all", addr).unwrap();
        raw.send_to(&[], addr).unwrap();
        let mut hello = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40, 1];
        hello.extend_from_slice(&[0xab; 40]);
        for i in 0..=255u8 {
            raw.send_to(&[i; 64], addr).unwrap();
        }
        // Looks like a ClientHello record header, then nonsense: that peer gets state and
        // fails its handshake alone.
        let fake = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        fake.send_to(&hello, addr).unwrap();
        fake.send_to(&[0x16; 100], addr).unwrap();
        let mut good = connect(addr, Cred::Psk("id", b"secret"), Duration::from_secs(5)).unwrap();
        // Garbage injected into an established session's 5-tuple is dropped by the record layer.
        let inject = good.get_ref().0.try_clone().unwrap();
        inject.send(b"\x17\xfe\xfd garbage in an established session").unwrap();
        inject.send(&[0x17; 300]).unwrap();
        assert_eq!(round_trip(&mut good, b"alive").unwrap(), b"echo:alive");
    })
    .await;
    // Datagrams that do not start a ClientHello are refused without creating a peer (how
    // many of the burst arrive depends on the socket buffer under load; one byte pattern,
    // 0x16, does look like a handshake record and gets a peer that then fails alone).
    assert!(server.stats.refused.load(Ordering::SeqCst) >= 2);
    server.shutdown.cancel();
}

#[tokio::test]
async fn shutdown_sends_inner_goodbye_then_close_notify() {
    let server = start(psk_config()).await;
    let addr = server.addr;
    let mut s = client(move || {
        let mut s = connect(addr, Cred::Psk("id", b"secret"), Duration::from_secs(5)).unwrap();
        round_trip(&mut s, b"x").unwrap();
        s
    })
    .await;
    server.shutdown.cancel();
    let (bye, end) = client(move || (receive(&mut s), receive(&mut s))).await;
    assert_eq!(bye.unwrap(), b"bye");
    assert_eq!(end.unwrap_err(), "close_notify");
    assert_eq!(*server.protocol.closed.lock(), vec![CloseCause::Shutdown]);
}

#[test]
fn config_errors_name_the_problem() {
    let err = |c: DtlsConfig| c.build().unwrap_err();
    assert!(matches!(err(DtlsConfig::default()), DtlsError::NoCredentials));
    let c = DtlsConfig { certfile: Some(cert("server.pem")), ..DtlsConfig::default() };
    assert!(matches!(err(c), DtlsError::CertWithoutKey));
    let c = DtlsConfig { verify_peer: true, ..cert_config(false) };
    assert!(matches!(err(c), DtlsError::VerifyWithoutCa));
    let c = DtlsConfig { verify_peer: true, cacertfile: Some(cert("ca.pem")), ..psk_config() };
    assert!(matches!(err(c), DtlsError::VerifyWithoutCert));
    let c = DtlsConfig { psk: vec![("id".into(), vec![])], ..DtlsConfig::default() };
    assert!(matches!(err(c), DtlsError::BadPsk { .. }));
    let c =
        DtlsConfig { psk: vec![("id".into(), b"a".to_vec()), ("id".into(), b"b".to_vec())], ..DtlsConfig::default() };
    assert!(matches!(err(c), DtlsError::BadPsk { .. }));
    let c = DtlsConfig { handshake_timeout: Duration::ZERO, ..psk_config() };
    assert!(matches!(err(c), DtlsError::ZeroHandshakeTimeout));
    let c = DtlsConfig { certfile: Some(cert("missing.pem")), ..cert_config(false) };
    let e = err(c);
    assert!(matches!(e, DtlsError::File { what: "certfile", .. }));
    assert!(e.to_string().contains("missing.pem"), "{e}");
    // OpenSSL notices the mismatch while loading the key already.
    let c = DtlsConfig { keyfile: Some(cert("client.key")), ..cert_config(false) };
    assert!(matches!(err(c), DtlsError::File { what: "keyfile", .. } | DtlsError::KeyMismatch(_)));
}

#[test]
fn debug_redacts_keys() {
    let text = format!("{:?}", psk_config());
    assert!(text.contains("\"id\""), "{text}");
    assert!(!text.contains("secret") && !text.contains("115, 101, 99"), "{text}");
}

/// The server's flight after the cookie exchange is lost once and every retransmitted
/// ClientHello is dropped too: only the server's own retransmission (driven through
/// `next_timeout`/`on_timeout`) can complete the handshake.
#[tokio::test]
async fn lost_server_flight_is_retransmitted() {
    use std::sync::atomic::AtomicBool;

    let server = start(psk_config()).await;
    let addr = server.addr;
    let result = client(move || {
        let front = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let back = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        back.connect(addr).unwrap();
        for s in [&front, &back] {
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        }
        let proxy_addr = front.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let client_addr = Arc::new(Mutex::new(None::<SocketAddr>));
        let dropped_hellos = Arc::new(AtomicUsize::new(0));
        let (f2, b2, stop2, ca2) =
            (front.try_clone().unwrap(), back.try_clone().unwrap(), stop.clone(), client_addr.clone());
        let dropped2 = dropped_hellos.clone();
        let upstream = std::thread::spawn(move || {
            let mut hellos = 0;
            let mut buf = [0u8; 4096];
            while !stop2.load(Ordering::SeqCst) {
                let Ok((n, from)) = f2.recv_from(&mut buf) else { continue };
                *ca2.lock() = Some(from);
                let d = &buf[..n];
                if n > 13 && d[0] == 22 && d[13] == 1 {
                    hellos += 1;
                    if hellos >= 3 {
                        dropped2.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                }
                b2.send(d).unwrap();
            }
        });
        let stop3 = stop.clone();
        let downstream = std::thread::spawn(move || {
            let mut count = 0;
            let mut buf = [0u8; 4096];
            while !stop3.load(Ordering::SeqCst) {
                let Ok(n) = back.recv(&mut buf) else { continue };
                count += 1;
                if count == 2 {
                    continue; // the ServerHello flight, lost
                }
                if let Some(to) = *client_addr.lock() {
                    front.send_to(&buf[..n], to).unwrap();
                }
            }
            count
        });
        let started = std::time::Instant::now();
        let echoed = connect(proxy_addr, Cred::Psk("id", b"secret"), Duration::from_secs(5))
            .and_then(|mut s| round_trip(&mut s, b"late"));
        let took = started.elapsed();
        stop.store(true, Ordering::SeqCst);
        upstream.join().unwrap();
        let from_server = downstream.join().unwrap();
        (echoed, took, from_server, dropped_hellos.load(Ordering::SeqCst))
    })
    .await;
    let (echoed, took, from_server, dropped) = result;
    assert_eq!(echoed.unwrap(), b"echo:late");
    assert!(took >= Duration::from_millis(900), "completed in {took:?}: nothing was lost?");
    assert!(from_server >= 4, "server datagrams: {from_server}");
    eprintln!("handshake took {took:?}, {dropped} client retransmissions dropped, {from_server} server datagrams");
    server.shutdown.cancel();
}
