//! Hibernation: an idle plain-TCP connection gives up its task.
//!
//! A waiting connection's task (tokio's task cell with the driver's future) is most of what
//! an idle connection costs, and most connections of an IoT gateway wait nearly all the time.
//! A connection that has had nothing to do for its listener's `hibernate_after` is put to
//! sleep here instead and its task ends, and its handler waits in a slot until the socket
//! turns readable (data, or the peer closing), its doorbell rings, its handler's deadline
//! passes or its listener shuts down. Then it gets a new task. (EMQX hibernates an idle
//! connection process for the same reason.)
//!
//! A sleeping socket leaves tokio's reactor, whose registration of a socket (some 270 bytes,
//! cache-padded) would be the biggest part of a sleeper; it waits in an epoll set of its
//! listener's instead ([`SleeperPoll`]), which tokio watches as one file descriptor: a task
//! of the listener takes the ready sockets out of it and wakes their sleepers. That is two
//! `epoll_ctl` calls on falling asleep and two on waking.
//!
//! The slots are one table per process, as the doorbell of a sleeping connection finds its
//! sleeper by slot number alone (four bytes per doorbell, not a pointer and a waker); a
//! thread wakes the sleepers whose deadline passed.

use std::collections::BTreeSet;
use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Once};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Token};
use parking_lot::{Condvar, Mutex};
use tokio::io::unix::AsyncFd;

use crate::bus::Doorbell;
use crate::shutdown::Shutdown;

/// What it takes to give a sleeping connection a task again.
pub(crate) trait Resume: Send + 'static {
    /// The epoll set the connection's socket waits in while it sleeps.
    fn sleeper_poll(&self) -> Option<&SleeperPoll>;

    /// Starts a task for the connection on `socket`, which is in no reactor.
    fn resume(self, socket: TcpStream, cause: WakeCause);
}

/// What woke a sleeping connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WakeCause {
    /// Its socket turned readable: input, or the peer closing.
    Input,
    /// Its doorbell rang: deliveries, or a kick.
    Doorbell,
    /// Its handler's deadline passed.
    Deadline,
    /// Its listener is shutting down (or it could not be put to sleep).
    Shutdown,
}

/// A connection asleep: one allocation with everything it needs, so that a slot is two
/// words and a generation.
struct Sleeper<R> {
    socket: TcpStream,
    doorbell: Arc<Doorbell>,
    deadline: Deadline,
    resume: R,
}

/// [`Sleeper`] without its type parameter.
trait Sleeping: Send {
    fn doorbell(&self) -> &Arc<Doorbell>;
    fn deadline(&self) -> Deadline;
    fn wake(self: Box<Self>, cause: WakeCause);
}

impl<R: Resume> Sleeping for Sleeper<R> {
    fn doorbell(&self) -> &Arc<Doorbell> {
        &self.doorbell
    }

    fn deadline(&self) -> Deadline {
        self.deadline
    }

    fn wake(self: Box<Self>, cause: WakeCause) {
        let Self { socket, resume, .. } = *self;
        // Out of the epoll set before tokio's reactor takes the socket: it would otherwise
        // report the socket's input to both. A failure leaves nothing to undo.
        if let Some(poll) = resume.sleeper_poll() {
            let _ = poll.registry.deregister(&mut SourceFd(&socket.as_raw_fd()));
        }
        resume.resume(socket, cause);
    }
}

/// A sleeper's deadline as nanoseconds since the first one was taken (`u64::MAX`: none):
/// 8 bytes in every sleeper and in every entry of the deadline set, not an `Instant`'s 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Deadline(u64);

impl Deadline {
    const NONE: Self = Self(u64::MAX);

    fn epoch() -> Instant {
        static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
        *EPOCH
    }

    fn new(at: Option<Instant>) -> Self {
        at.map_or(Self::NONE, |at| {
            let nanos = at.saturating_duration_since(Self::epoch()).as_nanos();
            Self(u64::try_from(nanos).unwrap_or(u64::MAX - 1).min(u64::MAX - 1))
        })
    }

    fn at(self) -> Option<Instant> {
        (self != Self::NONE).then(|| Self::epoch() + Duration::from_nanos(self.0))
    }
}

struct Slot {
    /// Tells a late waker of an earlier sleeper in this slot from one of the current sleeper.
    generation: u32,
    sleeper: Option<Box<dyn Sleeping>>,
}

/// Slots per chunk of the table.
const CHUNK: usize = 1024;

struct Slots {
    /// The table, in chunks of [`CHUNK`] slots: it grows without moving what it holds, and
    /// without the spare half (and the freed old copies) of a doubling `Vec`.
    chunks: Vec<Vec<Slot>>,
    /// Slots in the table.
    len: u32,
    vacant: Vec<u32>,
    /// Sleepers with a deadline, earliest first.
    deadlines: BTreeSet<(Deadline, u32)>,
}

static SLOTS: Mutex<Slots> =
    Mutex::new(Slots { chunks: Vec::new(), len: 0, vacant: Vec::new(), deadlines: BTreeSet::new() });

/// Rung when a sleeper's deadline is earlier than the deadline thread waits for.
static DEADLINE_CHANGED: Condvar = Condvar::new();

impl Slots {
    fn get_mut(&mut self, slot: u32) -> Option<&mut Slot> {
        let slot = slot as usize;
        self.chunks.get_mut(slot / CHUNK)?.get_mut(slot % CHUNK)
    }

    /// The slot (and its generation) the next [`Slots::insert`] fills.
    fn next(&mut self) -> (u32, u32) {
        match self.vacant.last() {
            Some(&slot) => (slot, self.get_mut(slot).map_or(0, |e| e.generation)),
            None => (self.len, 0),
        }
    }

    fn insert(&mut self, slot: u32, sleeper: Box<dyn Sleeping>) {
        debug_assert_eq!(slot, self.next().0);
        let deadline = sleeper.deadline();
        if deadline != Deadline::NONE {
            self.deadlines.insert((deadline, slot));
        }
        if self.vacant.pop().is_some() {
            if let Some(entry) = self.get_mut(slot) {
                entry.sleeper = Some(sleeper);
            }
        } else {
            if self.chunks.len() * CHUNK == self.len as usize {
                self.chunks.push(Vec::with_capacity(CHUNK));
            }
            if let Some(chunk) = self.chunks.last_mut() {
                chunk.push(Slot { generation: 0, sleeper: Some(sleeper) });
            }
            self.len += 1;
        }
    }

    /// Empties `slot` if it holds a sleeper for which `is_ours` holds.
    fn take_if(&mut self, slot: u32, is_ours: impl FnOnce(&Slot) -> bool) -> Option<Box<dyn Sleeping>> {
        let entry = self.get_mut(slot).filter(|e| e.sleeper.is_some() && is_ours(e))?;
        let sleeper = entry.sleeper.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.vacant.push(slot);
        let deadline = sleeper.deadline();
        if deadline != Deadline::NONE {
            self.deadlines.remove(&(deadline, slot));
        }
        sleeper.doorbell().set_sleeping(None);
        Some(sleeper)
    }
}

/// Wakes the sleeper in `slot` if `is_ours` says it is the one meant.
fn wake_if(slot: u32, cause: WakeCause, is_ours: impl FnOnce(&Slot) -> bool) {
    // The lock is released before the sleeper gets its task.
    let sleeper = SLOTS.lock().take_if(slot, is_ours);
    if let Some(sleeper) = sleeper {
        sleeper.wake(cause);
    }
}

// A token packs a slot and its generation.
const _: () = assert!(usize::BITS >= 64, "epoll tokens of 64 bits");

/// A sleeper's token in its listener's epoll set: its slot and the slot's generation.
fn token(slot: u32, generation: u32) -> Token {
    Token(((generation as usize) << 32) | slot as usize)
}

/// Wakes the sleeper a token names, unless it woke for another reason already.
fn wake_token(Token(token): Token) {
    let (slot, generation) = (token as u32, (token >> 32) as u32);
    wake_if(slot, WakeCause::Input, |e| e.generation == generation);
}

/// The epoll set in which the sockets of one listener's sleeping connections wait for input.
pub(crate) struct SleeperPoll {
    registry: mio::Registry,
    /// Set if the task draining the set stopped on an error: input would wake no sleeper.
    failed: Arc<AtomicBool>,
}

impl SleeperPoll {
    /// Makes the set and starts the task (on the current runtime) that wakes its sleepers
    /// until `shutdown`. The listener's `wake_all` wakes those left at shutdown.
    pub(crate) fn start(shutdown: Shutdown) -> io::Result<Self> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        // SAFETY: the `AsyncFd` owns the `Poll`, which owns its epoll fd until dropped and
        // always answers `as_raw_fd` with it.
        #[allow(unsafe_code)]
        let poll = unsafe { AsyncFd::register_with_interest(poll, tokio::io::Interest::READABLE) }?;
        let failed = Arc::new(AtomicBool::new(false));
        let failed_in_task = failed.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                e = wake_readable(poll) => {
                    // The listener's connections stay awake from now on; those asleep are
                    // woken (with every other listener's, which go back to sleep).
                    tracing::error!(error = %e, "hibernation_poll_failed");
                    failed_in_task.store(true, Ordering::Release);
                    wake_all();
                }
            }
        });
        Ok(Self { registry, failed })
    }

    /// Whether connections can sleep here: the task draining the set has not failed.
    pub(crate) fn is_working(&self) -> bool {
        !self.failed.load(Ordering::Acquire)
    }
}

/// Wakes the sleepers whose sockets turn ready, until the epoll set fails.
async fn wake_readable(mut poll: AsyncFd<mio::Poll>) -> io::Error {
    const BATCH: usize = 256;
    let mut events = Events::with_capacity(BATCH);
    loop {
        let mut ready = match poll.readable_mut().await {
            Ok(ready) => ready,
            Err(e) => return e,
        };
        loop {
            if let Err(e) = ready.get_inner_mut().poll(&mut events, Some(Duration::ZERO)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return e;
                }
            }
            let count = events.iter().map(|event| wake_token(event.token())).count();
            if count < BATCH {
                break;
            }
        }
        // Tokio clears the set's readiness only if no new event came since it reported it.
        ready.clear_ready();
    }
}

/// Puts a connection to sleep until its socket turns readable, its doorbell rings,
/// `deadline` passes or `shutdown` is cancelled. The socket leaves tokio's reactor: on an
/// error doing so, it is closed and `resume` comes back with the error.
pub(crate) fn sleep<R: Resume>(
    socket: tokio::net::TcpStream,
    doorbell: Arc<Doorbell>,
    deadline: Option<Instant>,
    shutdown: &Shutdown,
    resume: R,
) -> Result<(), (io::Error, R)> {
    let socket = match socket.into_std() {
        Ok(socket) => socket,
        Err(e) => return Err((e, resume)),
    };
    let mut slots = SLOTS.lock();
    let (slot, generation) = slots.next();
    // Registered before the slot is filled: a readiness event that comes meanwhile (or that
    // the socket has already; epoll reports it at once) waits for the lock, then finds the
    // sleeper.
    let registered = match resume.sleeper_poll() {
        Some(poll) => {
            poll.registry.register(&mut SourceFd(&socket.as_raw_fd()), token(slot, generation), Interest::READABLE)
        }
        None => Err(io::Error::other("no epoll set for sleepers")),
    };
    let deadline = Deadline::new(deadline);
    slots.insert(slot, Box::new(Sleeper { socket, doorbell: doorbell.clone(), deadline, resume }));
    doorbell.set_sleeping(Some(slot));
    let earliest = slots.deadlines.first().is_some_and(|&(_, first)| first == slot);
    drop(slots);
    if earliest {
        start_deadline_thread();
        DEADLINE_CHANGED.notify_one();
    }
    if let Err(e) = registered {
        // Awake again at once; it tries to sleep after the next `hibernate_after`.
        tracing::warn!(error = %e, "hibernation_register_failed");
        wake_if(slot, WakeCause::Shutdown, |e| e.generation == generation);
    } else if shutdown.is_cancelled() {
        // The listener's `wake_all` may have run before this sleeper was in.
        wake_if(slot, WakeCause::Shutdown, |e| e.generation == generation);
    } else if doorbell.take_ring() {
        // A ring between the task's last look at the doorbell and `set_sleeping` found no
        // sleeper to wake. Rung again: it wakes the sleeper and leaves the new task a permit.
        doorbell.ring();
    }
    Ok(())
}

/// The doorbell of the connection asleep in `slot` rang: give it a task.
pub(crate) fn wake(slot: u32, doorbell: &Doorbell) {
    // The slot may hold another connection by now (this one woke for another reason).
    wake_if(slot, WakeCause::Doorbell, |e| e.sleeper.as_ref().is_some_and(|s| std::ptr::eq(&**s.doorbell(), doorbell)));
}

/// Gives every sleeping connection its task back; listeners call this when they shut down,
/// so their connections see the shutdown. (Connections of other listeners woken with them go
/// back to sleep after their `hibernate_after`.)
pub fn wake_all() {
    let sleepers: Vec<Box<dyn Sleeping>> = {
        let mut slots = SLOTS.lock();
        (0..slots.len).filter_map(|slot| slots.take_if(slot, |_| true)).collect()
    };
    sleepers.into_iter().for_each(|s| s.wake(WakeCause::Shutdown));
}

/// How many connections sleep right now.
pub fn sleeping() -> usize {
    let slots = SLOTS.lock();
    slots.len as usize - slots.vacant.len()
}

fn start_deadline_thread() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new().name("gw-hibernate".into()).spawn(wake_at_deadlines);
        if let Err(e) = spawned {
            // Sleepers still wake for input, deliveries and shutdown; a dead peer is then
            // only noticed by TCP.
            tracing::error!(error = %e, "hibernation_deadline_thread_failed");
        }
    });
}

/// The deadline thread: wakes each sleeper whose deadline passed.
fn wake_at_deadlines() {
    let mut slots = SLOTS.lock();
    loop {
        let now = Deadline::new(Some(Instant::now()));
        let mut due = Vec::new();
        while let Some(&(_, slot)) = slots.deadlines.first().filter(|&&(at, _)| at <= now) {
            due.extend(slots.take_if(slot, |_| true));
        }
        if !due.is_empty() {
            drop(slots);
            due.into_iter().for_each(|s| s.wake(WakeCause::Deadline));
            slots = SLOTS.lock();
            continue;
        }
        match slots.deadlines.first().and_then(|&(at, _)| at.at()) {
            Some(at) => {
                DEADLINE_CHANGED.wait_until(&mut slots, at);
            }
            None => DEADLINE_CHANGED.wait(&mut slots),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sleeper that only has a doorbell and a deadline.
    struct Dummy(Arc<Doorbell>, Deadline);

    impl Sleeping for Dummy {
        fn doorbell(&self) -> &Arc<Doorbell> {
            &self.0
        }

        fn deadline(&self) -> Deadline {
            self.1
        }

        fn wake(self: Box<Self>, _: WakeCause) {}
    }

    fn empty() -> Slots {
        Slots { chunks: Vec::new(), len: 0, vacant: Vec::new(), deadlines: BTreeSet::new() }
    }

    #[test]
    fn the_slot_table_grows_by_chunks_and_reuses_vacant_slots_with_a_new_generation() {
        let mut slots = empty();
        let soon = Instant::now() + Duration::from_secs(1);
        let count = 2 * CHUNK as u32 + 5;
        for n in 0..count {
            let (slot, generation) = slots.next();
            assert_eq!((slot, generation), (n, 0));
            let deadline = Deadline::new((n % 2 == 0).then(|| soon + Duration::from_millis(u64::from(n))));
            slots.insert(slot, Box::new(Dummy(Arc::new(Doorbell::new()), deadline)));
        }
        assert_eq!(slots.chunks.len(), 3);
        assert!(slots.chunks.iter().all(|chunk| chunk.capacity() == CHUNK), "no chunk ever moved");
        assert_eq!(slots.deadlines.len(), CHUNK + 3);
        assert_eq!(slots.deadlines.first().map(|&(_, slot)| slot), Some(0));

        // Taken across a chunk boundary: the slot is vacant, its deadline gone.
        let taken = CHUNK as u32;
        assert!(slots.take_if(taken, |e| e.generation == 1).is_none(), "not that generation");
        assert!(slots.take_if(taken, |e| e.generation == 0).is_some());
        assert!(slots.take_if(taken, |_| true).is_none(), "already empty");
        assert_eq!(slots.deadlines.len(), CHUNK + 2);
        assert!(slots.take_if(count, |_| true).is_none(), "beyond the table");

        // Filled again, with the next generation.
        assert_eq!(slots.next(), (taken, 1));
        slots.insert(taken, Box::new(Dummy(Arc::new(Doorbell::new()), Deadline::NONE)));
        assert_eq!(slots.next(), (count, 0));
        assert_eq!(slots.len, count);
    }

    #[test]
    fn a_deadline_keeps_nanoseconds_and_none() {
        assert_eq!(Deadline::new(None), Deadline::NONE);
        assert_eq!(Deadline::NONE.at(), None);
        let at = Instant::now() + Duration::from_millis(1500);
        assert_eq!(Deadline::new(Some(at)).at(), Some(at));
        assert!(Deadline::new(Some(at)) < Deadline::new(Some(at + Duration::from_nanos(1))));
    }
}
