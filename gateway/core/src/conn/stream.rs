//! The stream driver: one task per TCP/TLS/WebSocket connection.
//!
//! It selects over the shutdown signal, pending writes, socket reads, the doorbell and the
//! handler's timer, using only cancel-safe futures (`readable` + `try_read_buf`, `write_buf`,
//! `Notify::notified`, `sleep_until`). Reading stops while the write buffer is above its high
//! watermark, so a client that does not read cannot make the gateway buffer without bound.
//! An idle connection holds no read or write buffer, and an idle plain-TCP connection gives
//! up its task after a while (`conn::hibernate`).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tracing::Instrument;

use super::hibernate::{self, Resume, SleeperPoll, WakeCause};
use super::{conn_span, CloseCause, Flow, StreamHandler};
use crate::bus::DrainSignal;
use crate::shutdown::Shutdown;

/// Limits of the stream driver.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Stop reading and taking deliveries while this many bytes wait to be written.
    pub write_high_watermark: usize,
    /// Bytes reserved for each read.
    pub read_chunk: usize,
    /// How long to try to flush the last bytes before closing.
    pub flush_timeout: Duration,
    /// A plain-TCP connection with nothing to do for this long hibernates ([`run_tcp`]);
    /// `None` keeps every connection in its task.
    pub hibernate_after: Option<Duration>,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            write_high_watermark: 1 << 20,
            read_chunk: 16384,
            flush_timeout: Duration::from_secs(5),
            hibernate_after: None,
        }
    }
}

/// The read side of a stream, readable without holding a buffer while idle.
pub trait ReadSide: Send {
    /// Waits for data and appends it to `buf` (reserving `chunk` bytes only once data is
    /// there). `Ok(0)` means end of stream. Must be cancel-safe.
    fn read_into<'a>(
        &'a mut self,
        buf: &'a mut BytesMut,
        chunk: usize,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
}

impl ReadSide for tokio::net::tcp::OwnedReadHalf {
    async fn read_into(&mut self, buf: &mut BytesMut, chunk: usize) -> io::Result<usize> {
        loop {
            // Polled in place rather than through `readable()`, whose future would add
            // some 170 bytes to every idle connection's task.
            std::future::poll_fn(|cx| self.as_ref().poll_read_ready(cx)).await?;
            if buf.capacity() - buf.len() < chunk / 2 {
                buf.reserve(chunk);
            }
            let room = buf.capacity() - buf.len();
            match self.try_read_buf(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Ok(n) if n > 0 && n < room => {
                    // Less than there was room for: the socket is empty now. Forget its
                    // readiness rather than learn that from one more `recv` (WouldBlock) on
                    // the next call; bytes that come later bring a new readiness event.
                    let _ = self.as_ref().try_io(Interest::READABLE, || Err::<(), _>(io::ErrorKind::WouldBlock.into()));
                    return Ok(n);
                }
                other => return other,
            }
        }
    }
}

/// Adapts any `AsyncRead` (a WebSocket byte stream, a TLS stream) to [`ReadSide`]; it must
/// reserve its buffer before waiting.
#[derive(Debug)]
pub struct BufferedRead<R>(pub R);

impl<R: AsyncRead + Unpin + Send> ReadSide for BufferedRead<R> {
    async fn read_into(&mut self, buf: &mut BytesMut, chunk: usize) -> io::Result<usize> {
        if buf.capacity() - buf.len() < chunk / 2 {
            buf.reserve(chunk);
        }
        self.0.read_buf(buf).await
    }
}

/// Runs one connection until it closes; calls `handler.on_closed` exactly once. `permit` (the
/// listener's connection-limit permit) is released when the connection is over.
pub async fn run_stream<R, W, H>(
    mut reader: R,
    mut writer: W,
    mut handler: H,
    shutdown: Shutdown,
    limits: StreamLimits,
    permit: OwnedSemaphorePermit,
) where
    R: ReadSide,
    W: AsyncWrite + Unpin + Send,
    H: StreamHandler,
{
    // Only a plain TCP socket can hibernate (`run_tcp`): TLS and WebSocket state stays in the task.
    if let Ending::Closed(cause, output) = drive(&mut reader, &mut writer, &mut handler, &shutdown, &limits, None).await
    {
        close(writer, output, handler, cause, limits.flush_timeout, permit).await;
    }
}

/// What the connections of one plain-TCP listener share: held once per listener, so a
/// sleeping connection keeps one pointer to it rather than copies.
pub(crate) struct TcpShared {
    /// Protocol name, for the log span of a connection that wakes.
    pub protocol: &'static str,
    pub shutdown: Shutdown,
    /// `hibernate_after` is `None` here unless `sleepers` is there.
    pub limits: StreamLimits,
    /// Where woken connections get their tasks.
    pub runtime: tokio::runtime::Handle,
    /// Where sleeping connections wait for input; without it (hibernation is off, or the
    /// epoll set could not be made) they do not hibernate.
    pub sleepers: Option<SleeperPoll>,
}

/// A plain-TCP connection's socket as its task starts.
pub(crate) enum TcpSocket {
    /// Fresh from `accept`.
    Accepted(TcpStream),
    /// Back from hibernation, in no reactor yet.
    Woken(std::net::TcpStream),
}

/// How long a plain-TCP connection waits with nothing to do before it hibernates. A fresh
/// connection waits an eighth of its listener's `hibernate_after`; each time input or a
/// delivery wakes it, the wait doubles, up to `hibernate_after`. A device that connects
/// and then stays quiet (most of them) gives its task up soon, so a connect storm has few
/// tasks alive at once (each some 1.3 KB while awake, and the heap keeps what a storm took);
/// a connection that is woken often soon waits the full `hibernate_after` between sleeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdleWait {
    /// How many times the wait has doubled.
    doublings: u8,
}

impl IdleWait {
    const MAX_DOUBLINGS: u8 = 3;
    /// The wait of a connection that has never slept.
    pub(crate) const FRESH: Self = Self { doublings: 0 };

    /// The wait, given the listener's `hibernate_after`.
    pub(crate) fn of(self, hibernate_after: Duration) -> Duration {
        hibernate_after / (1 << (Self::MAX_DOUBLINGS - self.doublings))
    }

    /// The wait after a wake-up for `cause`.
    pub(crate) fn after_wake(self, cause: WakeCause) -> Self {
        match cause {
            WakeCause::Input | WakeCause::Doorbell => Self { doublings: (self.doublings + 1).min(Self::MAX_DOUBLINGS) },
            WakeCause::Deadline | WakeCause::Shutdown => self,
        }
    }
}

/// Runs one plain-TCP connection as [`run_stream`] does, except that after `idle` (see
/// [`IdleWait`]) with nothing to do the connection goes to sleep (`conn::hibernate`) and
/// this task ends; a new one starts when there is something to do.
async fn run_tcp<H: StreamHandler>(
    socket: TcpSocket,
    mut handler: H,
    shared: Arc<TcpShared>,
    permit: OwnedSemaphorePermit,
    idle: IdleWait,
) {
    let socket = match socket {
        TcpSocket::Accepted(socket) => socket,
        // Converted here rather than by the waker: tokio registers a socket with the reactor
        // of the runtime it is in.
        TcpSocket::Woken(socket) => match TcpStream::from_std(socket) {
            Ok(socket) => socket,
            Err(e) => {
                tracing::warn!(error = %e, "wake_failed");
                handler.on_closed(Instant::now(), CloseCause::Io(e.kind()));
                return;
            }
        },
    };
    let limits = &shared.limits;
    let can_sleep = shared.sleepers.as_ref().is_some_and(SleeperPoll::is_working);
    let hibernate_after = limits.hibernate_after.filter(|_| can_sleep).map(|after| idle.of(after));
    let (mut reader, mut writer) = socket.into_split();
    if let Ending::Closed(cause, output) =
        drive(&mut reader, &mut writer, &mut handler, &shared.shutdown, limits, hibernate_after).await
    {
        return close(writer, output, handler, cause, limits.flush_timeout, permit).await;
    }
    let Ok(socket) = reader.reunite(writer) else { unreachable!("the halves of one socket") };
    handler.on_hibernate();
    let deadline = handler.next_timeout().map(Instant::into_std);
    let doorbell = handler.doorbell();
    let shutdown = shared.shutdown.clone();
    let asleep = Asleep { handler, shared, permit, idle };
    if let Err((e, Asleep { mut handler, .. })) = hibernate::sleep(socket, doorbell, deadline, &shutdown, asleep) {
        tracing::warn!(error = %e, "hibernation_failed");
        handler.on_closed(Instant::now(), CloseCause::Io(e.kind()));
    }
    // The task ends, and with it the log span (some 400 bytes at `info`): the next task gets
    // a new one.
}

/// A connection asleep (`conn::hibernate`): what its next task needs.
struct Asleep<H> {
    handler: H,
    shared: Arc<TcpShared>,
    permit: OwnedSemaphorePermit,
    idle: IdleWait,
}

impl<H: StreamHandler> Resume for Asleep<H> {
    fn sleeper_poll(&self) -> Option<&SleeperPoll> {
        self.shared.sleepers.as_ref()
    }

    fn resume(self, socket: std::net::TcpStream, cause: WakeCause) {
        let Self { handler, shared, permit, idle } = self;
        let span = conn_span(shared.protocol, || socket.peer_addr(), handler.client_id());
        spawn_tcp(TcpSocket::Woken(socket), handler, shared, permit, idle.after_wake(cause), span);
    }
}

/// Starts a task running [`run_tcp`], its future boxed. Tokio aligns a task's cell to 128
/// bytes, and glibc serves an aligned request by carving it out of a free chunk larger by
/// the alignment, which the chunk of a freed cell of the same size never is: each
/// connection's cell (1.4 KB with the future inside) left a hole behind when it
/// hibernated, some 400 bytes per connection after a connect storm (conn-19k). Boxed, the
/// future is an ordinary allocation the next connection reuses, and the cell is 128 bytes.
pub(crate) fn spawn_tcp<H: StreamHandler>(
    socket: TcpSocket,
    handler: H,
    shared: Arc<TcpShared>,
    permit: OwnedSemaphorePermit,
    idle: IdleWait,
    span: tracing::Span,
) {
    let runtime = shared.runtime.clone();
    drop(runtime.spawn(Box::pin(run_tcp(socket, handler, shared, permit, idle).instrument(span))));
}

/// When a connection awake in [`drive`] next asks whether it has had nothing to do for its
/// `hibernate_after`. The idle deadline moves later with every wake-up of a busy connection,
/// but its timer is only moved earlier, so the timer fires before the deadline, finds it
/// moved and is armed again: a wake-up for nothing every `hibernate_after` or sooner, some
/// 27k a second with 2000 connections each busy every 50 ms (`hibernate_after` 100 ms), on
/// top of 60k real ones. Each such early firing doubles how long the next check waits, up to
/// 8 x `hibernate_after`: while busy, a connection's timer fires about once per 8 x
/// `hibernate_after`, and once it falls quiet it goes to sleep up to that much later. A
/// connection whose timer has never fired early is checked on time.
#[derive(Debug, Clone, Copy)]
struct IdleCheck {
    after: Duration,
    /// Early firings so far, up to [`IdleCheck::MAX_BACKOFF`].
    backoff: u8,
    /// No check before this.
    not_before: Option<Instant>,
}

impl IdleCheck {
    const MAX_BACKOFF: u8 = 3;
    /// `hibernate_after` is taken as at most this, so that adding 8 times it to an instant
    /// cannot overflow (a configured "100000y" would otherwise panic the connection's task).
    const LONGEST: Duration = Duration::from_secs(365 * 24 * 3600);

    fn new(after: Duration) -> Self {
        Self { after: after.min(Self::LONGEST), backoff: 0, not_before: None }
    }

    /// When to check, the last activity being at `last_activity`.
    fn due(&self, last_activity: Instant) -> Instant {
        let due = last_activity + self.after;
        self.not_before.map_or(due, |not_before| not_before.max(due))
    }

    /// The timer fired at `now`, before the deadline it was armed for moved later.
    fn fired_early(&mut self, now: Instant) {
        self.backoff = (self.backoff + 1).min(Self::MAX_BACKOFF);
        self.not_before = Some(now + self.after * (1 << self.backoff));
    }
}

/// How [`drive`] stopped.
enum Ending {
    /// The connection is over; `BytesMut` holds output still to flush.
    Closed(CloseCause, BytesMut),
    /// Nothing happened for `hibernate_after`: no buffered input or output, no pause.
    Idle,
}

/// The driver's loop: runs the handler until the connection closes or, with nothing to do
/// for `hibernate_after`, goes idle.
async fn drive<R, W, H>(
    reader: &mut R,
    writer: &mut W,
    handler: &mut H,
    shutdown: &Shutdown,
    limits: &StreamLimits,
    hibernate_after: Option<Duration>,
) -> Ending
where
    R: ReadSide,
    W: AsyncWrite + Unpin + Send,
    H: StreamHandler,
{
    let doorbell = handler.doorbell();
    let mut input = BytesMut::new();
    let mut output = BytesMut::new();
    // Output written but not yet flushed (set while any is buffered here too).
    let mut needs_flush = false;
    // Set when the handler paused reading with complete frames still in `input`: they are
    // handed back as soon as the pause is over, whatever woke the loop (no new bytes may come,
    // e.g. a client waiting for acknowledgements of exactly those frames).
    let mut held_input = false;
    // One timer for the connection's life, moved when the handler's deadline changes:
    // creating a `Sleep` per wake-up would register and deregister a timer entry each time.
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);
    // The shutdown and doorbell waits also live as long as the loop: made anew in each
    // `select!`, each would join and leave a waiter list under its lock on every wake-up (the
    // shutdown's list is shared by every connection of the listener).
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let rung = doorbell.rung();
    tokio::pin!(rung);
    let mut timer_at = None;
    let mut last_activity = Instant::now();
    let mut idle_check = hibernate_after.map(IdleCheck::new);
    let cause = loop {
        let paused = handler.read_pause().filter(|p| p.until > Instant::now());
        if held_input && paused.is_none() {
            held_input = false;
            if !input.is_empty() {
                let flow = Box::pin(handler.on_input(Instant::now(), &mut input, &mut output)).await;
                held_input = is_paused(handler);
                if flow == Flow::Close {
                    break CloseCause::Handler;
                }
                continue;
            }
        }
        let idle = input.is_empty() && output.is_empty() && !needs_flush && !held_input && paused.is_none();
        let hibernate_at = idle_check.filter(|_| idle).map(|check| check.due(last_activity));
        let deadline =
            [handler.next_timeout(), paused.as_ref().map(|p| p.until), hibernate_at].into_iter().flatten().min();
        let reading_paused = paused.is_some();
        let drained = paused.and_then(|p| p.drained);
        // The timer is only ever moved earlier: the idle deadline moves later with every
        // wake-up of a busy connection, and moving the timer re-registers its entry under the
        // timer wheel's lock. Armed too early, it fires, finds nothing due and is armed again
        // (`IdleCheck` makes that rare).
        if let Some(at) = deadline.filter(|at| !matches!(timer_at, Some(armed) if armed <= *at)) {
            timer.as_mut().reset(at);
            timer_at = Some(at);
        }
        let congested = output.len() >= limits.write_high_watermark;
        // Set before the write starts, so a write cancelled between its last bytes and the
        // flush still flushes on a later turn.
        needs_flush |= !output.is_empty();
        let mut flow = Flow::Continue;
        tokio::select! {
            biased;
            () = &mut cancelled => {
                handler.on_shutdown(Instant::now(), &mut output);
                break CloseCause::Shutdown;
            }
            written = write_and_flush(writer, &mut output), if needs_flush => match written {
                Ok(Written::Nothing) => break CloseCause::Io(io::ErrorKind::WriteZero),
                Ok(Written::Some) => {}
                Ok(Written::AllFlushed) => needs_flush = false,
                Err(e) => break CloseCause::Io(e.kind()),
            },
            read = reader.read_into(&mut input, limits.read_chunk), if !congested && !reading_paused => match read {
                Ok(0) => break CloseCause::PeerClosed,
                // Boxed so the handler's (large) input future is not part of every idle
                // connection's task; one small allocation per read.
                Ok(_) => {
                    flow = Box::pin(handler.on_input(Instant::now(), &mut input, &mut output)).await;
                    held_input = is_paused(handler);
                }
                Err(e) => break CloseCause::Io(e.kind()),
            },
            () = wait_drained(drained.as_deref()), if drained.is_some() => handler.end_read_pause(),
            () = &mut rung, if !congested => {
                rung.set(doorbell.rung());
                flow = handler.on_doorbell(Instant::now(), &mut output);
            }
            () = &mut timer, if deadline.is_some() => {
                timer_at = None;
                let now = Instant::now();
                if deadline.is_some_and(|at| at > now) {
                    // Armed for a deadline that has since moved: nothing is due, and this
                    // wake-up is no activity.
                    if let Some(check) = idle_check.as_mut() {
                        check.fired_early(now);
                    }
                    continue;
                }
                let handler_due = handler.next_timeout().is_some_and(|at| at <= now);
                if hibernate_at.is_some_and(|at| at <= now) && !handler_due {
                    return Ending::Idle;
                }
                flow = handler.on_timeout(now, &mut output);
            }
        }
        last_activity = Instant::now();
        // An idle connection keeps no buffers (issue: < 1 KB per idle connection).
        if input.is_empty() && input.capacity() > 0 {
            input = BytesMut::new();
        }
        if output.is_empty() && output.capacity() > 0 {
            output = BytesMut::new();
        }
        if flow == Flow::Close {
            break CloseCause::Handler;
        }
    };
    Ending::Closed(cause, output)
}

/// Flushes what is left (unless the socket failed), closes the write side and tells the
/// handler; the connection-limit permit goes last.
async fn close<W, H>(
    mut writer: W,
    output: BytesMut,
    mut handler: H,
    cause: CloseCause,
    flush_timeout: Duration,
    permit: OwnedSemaphorePermit,
) where
    W: AsyncWrite + Unpin + Send,
    H: StreamHandler,
{
    if !matches!(cause, CloseCause::Io(_)) && !output.is_empty() {
        let flush = async {
            writer.write_all(&output).await?;
            writer.flush().await
        };
        let _ = tokio::time::timeout(flush_timeout, flush).await;
    }
    let _ = tokio::time::timeout(flush_timeout, writer.shutdown()).await;
    handler.on_closed(Instant::now(), cause);
    drop(permit);
}

fn is_paused<H: StreamHandler>(handler: &H) -> bool {
    handler.read_pause().is_some_and(|p| p.until > Instant::now())
}

/// Waits for a paused publisher's drain signal (never, without one).
async fn wait_drained(signal: Option<&DrainSignal>) {
    match signal {
        Some(signal) => signal.drained().await,
        None => std::future::pending().await,
    }
}

/// What one turn of [`write_and_flush`] did.
enum Written {
    /// The writer accepted no byte.
    Nothing,
    /// Some of the output was written; the rest waits for the socket.
    Some,
    /// All of it was written and flushed.
    AllFlushed,
}

/// Writes some of `output` and, once it is all written, flushes (a WebSocket sink buffers
/// messages until flushed; a socket's flush does nothing, so a burst costs the driver loop
/// one turn rather than one to write and one to flush). Cancel-safe: `write_buf` advances
/// only what was written, and the caller flushes on a later turn if the flush was cut short.
async fn write_and_flush<W: AsyncWrite + Unpin>(writer: &mut W, output: &mut BytesMut) -> io::Result<Written> {
    if !output.is_empty() {
        if writer.write_buf(output).await? == 0 {
            return Ok(Written::Nothing);
        }
        if !output.is_empty() {
            return Ok(Written::Some);
        }
    }
    writer.flush().await?;
    Ok(Written::AllFlushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_wait_starts_at_an_eighth_and_doubles_with_each_busy_wake_up() {
        let after = Duration::from_millis(100);
        let mut idle = IdleWait::FRESH;
        assert_eq!(idle.of(after), Duration::from_micros(12_500));
        // A keep-alive check or a shutdown says nothing about traffic.
        assert_eq!(idle.after_wake(WakeCause::Deadline), idle);
        assert_eq!(idle.after_wake(WakeCause::Shutdown), idle);
        idle = idle.after_wake(WakeCause::Input);
        assert_eq!(idle.of(after), Duration::from_millis(25));
        idle = idle.after_wake(WakeCause::Doorbell);
        assert_eq!(idle.of(after), Duration::from_millis(50));
        for _ in 0..3 {
            idle = idle.after_wake(WakeCause::Input);
            assert_eq!(idle.of(after), after, "never above hibernate_after");
        }
    }

    #[test]
    fn a_busy_connection_checks_for_idleness_ever_less_often_up_to_eight_times_hibernate_after() {
        let after = Duration::from_millis(100);
        let ms = Duration::from_millis;
        let start = Instant::now();
        let mut check = IdleCheck::new(after);
        // Never busy: checked exactly `hibernate_after` after the last activity.
        assert_eq!(check.due(start), start + after);
        // Busy every 50 ms: the timer armed for start + 100 ms fires early each time, and the
        // next check waits 200, 400, then 800 ms, never longer.
        let mut now = start + after;
        for wait in [200, 400, 800, 800, 800] {
            check.fired_early(now);
            let last_activity = now - ms(30);
            assert_eq!(check.due(last_activity), now + ms(wait));
            now += ms(wait);
        }
        // Activity after the pushed-back check still counts in full.
        assert_eq!(check.due(now + ms(900)), now + ms(900) + after);
    }

    #[test]
    fn an_enormous_hibernate_after_does_not_overflow_the_idle_check() {
        let start = Instant::now();
        let mut check = IdleCheck::new(Duration::MAX);
        assert_eq!(check.due(start), start + IdleCheck::LONGEST);
        for _ in 0..5 {
            check.fired_early(start);
        }
        assert_eq!(check.due(start), start + IdleCheck::LONGEST * 8);
    }
}
