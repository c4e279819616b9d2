//! DTLS 1.2 for any datagram protocol: [`Dtls`] wraps a [`DatagramProtocol`] and is one itself.
//!
//! `run_datagram(socket, Arc::new(Dtls::new(inner, server)), ..)` is all a listener needs: the
//! datagram driver still demultiplexes by peer, and each peer's handler here runs that peer's
//! DTLS state (OpenSSL over an in-memory pipe: records in, records out, no socket), hands the
//! decrypted datagrams to the inner protocol's handler and encrypts what it sends. The inner
//! handler is created on the first application datagram, so a protocol sees only peers that
//! finished the handshake.
//!
//! Why OpenSSL: it is what `coap-client-openssl` (libcoap) and most device stacks test against,
//! it speaks DTLS 1.2 with PSK and certificate suites (CCM8 included), and its records can be
//! driven from memory. The `tokio-dtls` crate is DTLS 1.3 only, which devices do not speak.
//!
//! Layout: [`DtlsConfig`] (what the operator configures) → [`DtlsConfig::build`] →
//! [`DtlsServer`] (the shared OpenSSL context) → [`Dtls`] (the protocol wrapper) →
//! [`DtlsPeer`] (one peer: handshake, records, retransmission timer).
//!
//! Timers: OpenSSL retransmits a lost handshake flight when it is next called after its own
//! timer expired (it checks on every read). `unsafe` is forbidden in this workspace, so the
//! timer cannot be queried (`DTLSv1_get_timeout`); the peer mirrors it instead (1 s doubling
//! to 60 s, as OpenSSL does, plus a small margin) and calls into OpenSSL when it fires, through
//! the driver's `next_timeout`/`on_timeout`.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::memcmp;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::ssl::{
    ErrorCode, Ssl, SslContext, SslContextBuilder, SslFiletype, SslMethod, SslOptions, SslStream, SslVerifyMode,
    SslVersion,
};
use tokio::time::Instant;

use super::{CloseCause, DatagramHandler, DatagramProtocol, Flow};
use crate::bus::Doorbell;

/// Largest pre-shared key OpenSSL accepts (`PSK_MAX_PSK_LEN`).
const MAX_PSK_LEN: usize = 256;
/// Largest PSK identity (`PSK_MAX_IDENTITY_LEN`).
const MAX_IDENTITY_LEN: usize = 128;
/// Largest datagram the server sends: the IPv6 minimum MTU less IP and UDP headers.
const DTLS_MTU: u32 = 1232;
/// OpenSSL's first retransmission timeout and its cap (RFC 6347 §4.2.4.1).
const RTO_INITIAL: Duration = Duration::from_secs(1);
const RTO_MAX: Duration = Duration::from_secs(60);
/// Fire a little after OpenSSL's own timer so that it has expired when we call in.
const RTO_MARGIN: Duration = Duration::from_millis(20);
/// Suites offered: PSK (CCM8 first, the CoAP mandatory-to-implement, RFC 7252 §9.1.3.1) and
/// certificate suites. OpenSSL only picks a certificate suite when a certificate is loaded.
const CIPHERS: &str = "PSK-AES128-CCM8:ECDHE-ECDSA-AES128-CCM8:PSK-AES128-CCM:PSK-AES128-GCM-SHA256:\
ECDHE-PSK-AES128-CBC-SHA256:PSK-AES256-GCM-SHA384:PSK-AES128-CBC-SHA256:\
ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:\
ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/// What is wrong with a DTLS configuration, or what failed while loading it.
#[derive(Debug, thiserror::Error)]
pub enum DtlsError {
    /// Neither a PSK nor a certificate is configured.
    #[error("dtls: no credentials: configure at least one psk identity or certfile + keyfile")]
    NoCredentials,
    /// A certificate without its key, or a key without its certificate.
    #[error("dtls: certfile and keyfile must be given together")]
    CertWithoutKey,
    /// `verify_peer` needs the CAs to verify against.
    #[error("dtls: verify_peer needs cacertfile")]
    VerifyWithoutCa,
    /// `verify_peer` needs a certificate of our own (a client only sends its certificate on a
    /// certificate suite).
    #[error("dtls: verify_peer needs certfile + keyfile")]
    VerifyWithoutCert,
    /// A PSK entry is unusable.
    #[error("dtls: psk identity {identity:?}: {reason}")]
    BadPsk {
        /// The identity as configured.
        identity: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `handshake_timeout` is zero.
    #[error("dtls: handshake_timeout must be greater than zero")]
    ZeroHandshakeTimeout,
    /// A PEM file could not be loaded.
    #[error("dtls: {what} {path}: {source}")]
    File {
        /// Which key: `certfile`, `keyfile`, `cacertfile`.
        what: &'static str,
        /// The path as configured.
        path: PathBuf,
        /// OpenSSL's reason.
        source: ErrorStack,
    },
    /// The certificate and key do not belong together.
    #[error("dtls: keyfile does not match certfile: {0}")]
    KeyMismatch(ErrorStack),
    /// Any other OpenSSL failure while building the context.
    #[error("dtls: openssl: {0}")]
    OpenSsl(#[from] ErrorStack),
}

/// The operator's DTLS settings for one listener.
#[derive(Clone)]
pub struct DtlsConfig {
    /// Pre-shared keys: (identity, key). Keys are raw bytes.
    pub psk: Vec<(String, Vec<u8>)>,
    /// The server certificate chain (PEM), leaf first.
    pub certfile: Option<PathBuf>,
    /// The server's private key (PEM).
    pub keyfile: Option<PathBuf>,
    /// CAs that client certificates must chain to (PEM).
    pub cacertfile: Option<PathBuf>,
    /// Require a client certificate on certificate suites (PSK clients are unaffected).
    pub verify_peer: bool,
    /// A peer that has not finished its handshake within this is dropped.
    pub handshake_timeout: Duration,
}

impl Default for DtlsConfig {
    fn default() -> Self {
        Self {
            psk: Vec::new(),
            certfile: None,
            keyfile: None,
            cacertfile: None,
            verify_peer: false,
            handshake_timeout: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for DtlsConfig {
    // Keys are credentials: show identities only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let identities: Vec<&str> = self.psk.iter().map(|(i, _)| i.as_str()).collect();
        f.debug_struct("DtlsConfig")
            .field("psk_identities", &identities)
            .field("certfile", &self.certfile)
            .field("keyfile", &self.keyfile)
            .field("cacertfile", &self.cacertfile)
            .field("verify_peer", &self.verify_peer)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

impl DtlsConfig {
    /// Validates the settings and loads the files into a server context.
    pub fn build(self) -> Result<DtlsServer, DtlsError> {
        if self.handshake_timeout.is_zero() {
            return Err(DtlsError::ZeroHandshakeTimeout);
        }
        let has_cert = match (&self.certfile, &self.keyfile) {
            (Some(_), Some(_)) => true,
            (None, None) => false,
            _ => return Err(DtlsError::CertWithoutKey),
        };
        if self.psk.is_empty() && !has_cert {
            return Err(DtlsError::NoCredentials);
        }
        if self.verify_peer && self.cacertfile.is_none() {
            return Err(DtlsError::VerifyWithoutCa);
        }
        if self.verify_peer && !has_cert {
            return Err(DtlsError::VerifyWithoutCert);
        }
        let mut keys: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        for (identity, key) in &self.psk {
            let bad = |reason| DtlsError::BadPsk { identity: identity.clone(), reason };
            if identity.is_empty() || identity.len() > MAX_IDENTITY_LEN {
                return Err(bad("identity must be 1 to 128 bytes"));
            }
            if key.is_empty() || key.len() > MAX_PSK_LEN {
                return Err(bad("key must be 1 to 256 bytes"));
            }
            if keys.insert(identity.as_bytes().to_vec(), key.clone()).is_some() {
                return Err(bad("identity configured twice"));
            }
        }

        let mut ctx = SslContextBuilder::new(SslMethod::dtls())?;
        ctx.set_min_proto_version(Some(SslVersion::DTLS1_2))?;
        ctx.set_cipher_list(CIPHERS)?;
        // Records go through memory, not a socket: the MTU is ours to say.
        ctx.set_options(SslOptions::NO_QUERY_MTU | SslOptions::COOKIE_EXCHANGE);
        if let (Some(cert), Some(key)) = (&self.certfile, &self.keyfile) {
            ctx.set_certificate_chain_file(cert).map_err(|source| DtlsError::File {
                what: "certfile",
                path: cert.clone(),
                source,
            })?;
            ctx.set_private_key_file(key, SslFiletype::PEM).map_err(|source| DtlsError::File {
                what: "keyfile",
                path: key.clone(),
                source,
            })?;
            ctx.check_private_key().map_err(DtlsError::KeyMismatch)?;
        }
        if let Some(ca) = &self.cacertfile {
            ctx.set_ca_file(ca).map_err(|source| DtlsError::File { what: "cacertfile", path: ca.clone(), source })?;
        }
        ctx.set_verify(if self.verify_peer {
            SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT
        } else {
            SslVerifyMode::NONE
        });
        if !keys.is_empty() {
            ctx.set_psk_server_callback(move |_ssl, identity, out| {
                // Unknown identity: 0 makes OpenSSL send unknown_psk_identity and fail.
                let Some(key) = identity.and_then(|i| keys.get(i)) else { return Ok(0) };
                out[..key.len()].copy_from_slice(key);
                Ok(key.len())
            });
        }

        // Stateless cookies (RFC 6347 §4.2.1): HMAC of the peer address under a secret made at
        // start-up, so the big server flight only goes to addresses that answer.
        let peer_index = Ssl::new_ex_index::<SocketAddr>()?;
        let mut secret = [0u8; 32];
        openssl::rand::rand_bytes(&mut secret)?;
        let secret = PKey::hmac(&secret)?;
        let gen_secret = secret.clone();
        ctx.set_cookie_generate_cb(move |ssl, out| {
            let peer = ssl.ex_data(peer_index).copied();
            let cookie = cookie_for(&gen_secret, peer)?;
            let n = cookie.len().min(out.len());
            out[..n].copy_from_slice(&cookie[..n]);
            Ok(n)
        });
        ctx.set_cookie_verify_cb(move |ssl, cookie| {
            let peer = ssl.ex_data(peer_index).copied();
            cookie_for(&secret, peer)
                .is_ok_and(|expected| expected.len() == cookie.len() && memcmp::eq(&expected, cookie))
        });

        Ok(DtlsServer {
            ctx: ctx.build(),
            peer_index,
            handshake_timeout: self.handshake_timeout,
            has_psk: !self.psk.is_empty(),
            has_cert,
        })
    }
}

fn cookie_for(secret: &PKey<openssl::pkey::Private>, peer: Option<SocketAddr>) -> Result<Vec<u8>, ErrorStack> {
    let mut signer = Signer::new(MessageDigest::sha256(), secret)?;
    let peer = peer.map(|p| p.to_string()).unwrap_or_default();
    signer.update(peer.as_bytes())?;
    signer.sign_to_vec()
}

/// A validated DTLS server context, shared by every peer of a listener.
pub struct DtlsServer {
    ctx: SslContext,
    peer_index: openssl::ex_data::Index<Ssl, SocketAddr>,
    handshake_timeout: Duration,
    has_psk: bool,
    has_cert: bool,
}

impl fmt::Debug for DtlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DtlsServer")
            .field("psk", &self.has_psk)
            .field("certificate", &self.has_cert)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// A datagram protocol behind DTLS: itself a [`DatagramProtocol`] for `run_datagram`.
pub struct Dtls<P> {
    inner: Arc<P>,
    server: Arc<DtlsServer>,
}

impl<P: DatagramProtocol> Dtls<P> {
    /// Wraps `inner`; every peer must complete a DTLS handshake with `server` first.
    pub fn new(inner: Arc<P>, server: DtlsServer) -> Self {
        Self { inner, server: Arc::new(server) }
    }
}

impl<P: DatagramProtocol> DatagramProtocol for Dtls<P> {
    type Handler = DtlsPeer<P>;

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn accept(&self, peer: SocketAddr, first: &[u8], now: Instant) -> Option<Self::Handler> {
        // Only a ClientHello starts a peer: garbage and stray records cost no state.
        if !is_client_hello(first) {
            tracing::debug!(%peer, len = first.len(), "dtls_not_client_hello");
            return None;
        }
        let mut ssl = match Ssl::new(&self.server.ctx) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "dtls_ssl_new_failed");
                return None;
            }
        };
        ssl.set_ex_data(self.server.peer_index, peer);
        ssl.set_accept_state();
        if let Err(e) = ssl.set_mtu(DTLS_MTU) {
            tracing::warn!(%peer, error = %e, "dtls_set_mtu_failed");
            return None;
        }
        let stream = match SslStream::new(ssl, Pipe::default()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "dtls_ssl_new_failed");
                return None;
            }
        };
        Some(DtlsPeer {
            protocol: self.inner.clone(),
            peer,
            stream,
            established: false,
            inner: None,
            idle_doorbell: Arc::new(Doorbell::new()),
            handshake_deadline: now + self.server.handshake_timeout,
            rto: RTO_INITIAL,
            retransmit_at: None,
        })
    }
}

/// Whether `d` starts with a DTLS handshake record in epoch 0 holding a ClientHello.
fn is_client_hello(d: &[u8]) -> bool {
    // content type 22 (handshake), version major 0xfe (DTLS), epoch 0, handshake type 1.
    d.len() >= 25 && d[0] == 22 && d[1] == 0xfe && d[3] == 0 && d[4] == 0 && d[13] == 1
}

/// The in-memory "socket" under OpenSSL: one datagram in at a time, each write one datagram out.
#[derive(Debug, Default)]
struct Pipe {
    incoming: Option<Bytes>,
    outgoing: Vec<Bytes>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(d) = self.incoming.take() else { return Err(io::ErrorKind::WouldBlock.into()) };
        // A datagram larger than OpenSSL's buffer is truncated, as a socket would; the record
        // layer then rejects it.
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.push(Bytes::copy_from_slice(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One DTLS peer: the handshake, then the inner protocol's handler over decrypted datagrams.
pub struct DtlsPeer<P: DatagramProtocol> {
    protocol: Arc<P>,
    peer: SocketAddr,
    stream: SslStream<Pipe>,
    established: bool,
    inner: Option<P::Handler>,
    /// Watched by the driver until the inner handler exists.
    idle_doorbell: Arc<Doorbell>,
    handshake_deadline: Instant,
    rto: Duration,
    retransmit_at: Option<Instant>,
}

impl<P: DatagramProtocol> DtlsPeer<P> {
    /// The PSK identity the peer used, if it used one.
    pub fn psk_identity(&self) -> Option<&[u8]> {
        self.stream.ssl().psk_identity()
    }

    fn drain_records(&mut self, out: &mut Vec<Bytes>) -> bool {
        let pipe = self.stream.get_mut();
        let wrote = !pipe.outgoing.is_empty();
        out.append(&mut pipe.outgoing);
        wrote
    }

    /// Runs the handshake one step; `Err` = it failed (already logged).
    fn handshake(&mut self, out: &mut Vec<Bytes>, retransmission: bool) -> Result<(), ()> {
        let result = self.stream.do_handshake();
        let wrote = self.drain_records(out);
        match result {
            Ok(()) => {
                self.established = true;
                self.retransmit_at = None;
                let ssl = self.stream.ssl();
                tracing::debug!(
                    identity = ?ssl.psk_identity().map(String::from_utf8_lossy),
                    cipher = ssl.current_cipher().map(|c| c.name()),
                    version = ssl.version_str(),
                    "dtls_established"
                );
                Ok(())
            }
            Err(e) if e.code() == ErrorCode::WANT_READ || e.code() == ErrorCode::WANT_WRITE => {
                if retransmission {
                    self.rto = (self.rto * 2).min(RTO_MAX);
                } else if wrote {
                    // A new flight: OpenSSL restarted its timer at the initial value.
                    self.rto = RTO_INITIAL;
                }
                if wrote || retransmission {
                    self.retransmit_at = Some(Instant::now() + self.rto + RTO_MARGIN);
                }
                Ok(())
            }
            Err(e) => {
                tracing::warn!(peer = %self.peer, error = %e, "dtls_handshake_failed");
                Err(())
            }
        }
    }

    /// Encrypts the inner handler's plaintext datagrams into `out`.
    fn seal(&mut self, plain: Vec<Bytes>, out: &mut Vec<Bytes>) -> Flow {
        for d in plain {
            if let Err(e) = self.stream.ssl_write(&d) {
                tracing::warn!(peer = %self.peer, error = %e, "dtls_write_failed");
                self.drain_records(out);
                return Flow::Close;
            }
        }
        self.drain_records(out);
        Flow::Continue
    }

    /// Decrypts every record of the datagram now in the pipe and runs the inner handler.
    async fn open(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Flow {
        loop {
            let capacity = self.stream.get_ref().incoming.as_ref().map_or(0, Bytes::len).max(2048);
            let mut buf = vec![0u8; capacity];
            match self.stream.ssl_read(&mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    let plain = Bytes::from(buf);
                    if self.inner.is_none() {
                        self.inner = self.protocol.accept(self.peer, &plain, now);
                        if self.inner.is_none() {
                            continue;
                        }
                    }
                    let mut replies = Vec::new();
                    let flow = match self.inner.as_mut() {
                        Some(inner) => inner.on_datagram(now, plain, &mut replies).await,
                        None => Flow::Continue,
                    };
                    if self.seal(replies, out) == Flow::Close || flow == Flow::Close {
                        return Flow::Close;
                    }
                }
                Err(e) if e.code() == ErrorCode::WANT_READ => break,
                Err(e) if e.code() == ErrorCode::ZERO_RETURN => {
                    // close_notify: answer it and end the peer.
                    let _ = self.stream.shutdown();
                    self.drain_records(out);
                    return Flow::Close;
                }
                Err(e) => {
                    tracing::warn!(peer = %self.peer, error = %e, "dtls_read_failed");
                    self.drain_records(out);
                    return Flow::Close;
                }
            }
        }
        // Records OpenSSL wrote while reading (a retransmitted last flight, alerts).
        self.drain_records(out);
        Flow::Continue
    }

    fn with_inner(&mut self, out: &mut Vec<Bytes>, f: impl FnOnce(&mut P::Handler, &mut Vec<Bytes>) -> Flow) -> Flow {
        let Some(inner) = self.inner.as_mut() else { return Flow::Continue };
        let mut replies = Vec::new();
        let flow = f(inner, &mut replies);
        if self.seal(replies, out) == Flow::Close || flow == Flow::Close {
            return Flow::Close;
        }
        Flow::Continue
    }
}

impl<P: DatagramProtocol> DatagramHandler for DtlsPeer<P> {
    fn doorbell(&self) -> Arc<Doorbell> {
        match &self.inner {
            Some(inner) => inner.doorbell(),
            None => self.idle_doorbell.clone(),
        }
    }

    async fn on_datagram(&mut self, now: Instant, datagram: Bytes, out: &mut Vec<Bytes>) -> Flow {
        self.stream.get_mut().incoming = Some(datagram);
        if !self.established {
            if self.handshake(out, false).is_err() {
                return Flow::Close;
            }
            if !self.established {
                return Flow::Continue;
            }
        }
        self.open(now, out).await
    }

    fn on_doorbell(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Flow {
        self.with_inner(out, |inner, replies| inner.on_doorbell(now, replies))
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Flow {
        if !self.established {
            if now >= self.handshake_deadline {
                tracing::warn!(peer = %self.peer, "dtls_handshake_failed: timed out");
                return Flow::Close;
            }
            if self.retransmit_at.is_some_and(|at| now >= at) {
                self.stream.get_mut().incoming = None;
                if self.handshake(out, true).is_err() {
                    return Flow::Close;
                }
            }
            return Flow::Continue;
        }
        if self.inner.as_ref().and_then(DatagramHandler::next_timeout).is_some_and(|at| now >= at) {
            return self.with_inner(out, |inner, replies| inner.on_timeout(now, replies));
        }
        Flow::Continue
    }

    fn next_timeout(&self) -> Option<Instant> {
        if !self.established {
            let deadline = self.handshake_deadline;
            return Some(self.retransmit_at.map_or(deadline, |at| at.min(deadline)));
        }
        self.inner.as_ref().and_then(DatagramHandler::next_timeout)
    }

    fn on_shutdown(&mut self, now: Instant, out: &mut Vec<Bytes>) {
        if let Some(inner) = self.inner.as_mut() {
            let mut replies = Vec::new();
            inner.on_shutdown(now, &mut replies);
            let _ = self.seal(replies, out);
        }
        if self.established {
            let _ = self.stream.shutdown();
            self.drain_records(out);
        }
    }

    fn on_closed(&mut self, now: Instant, cause: CloseCause) {
        if let Some(inner) = self.inner.as_mut() {
            inner.on_closed(now, cause);
        }
    }
}
