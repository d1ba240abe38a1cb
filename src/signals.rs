//! Process signals: SIGINT, SIGTERM and SIGHUP become messages on a
//! channel, so a run can end the way `q` ends it — the trainer stopped, the
//! run log closed with a summary marked `interrupted`, the terminal
//! restored — instead of dying mid-line.
//!
//! [`install`] starts a thread named `signals` that reads signal-hook's
//! iterator. Each signal goes to the newest live [`Subscription`] (the
//! dashboard's loop, or [`stop_on_signal`]'s forwarder in the headless
//! runner). With no subscriber, or when a signal already went to one (a
//! second Ctrl-C while shutting down), the process exits at once with the
//! signal's code after running the hook of [`on_forced_exit`]: never worse
//! than the default action, and the run log is still whole lines.
//!
//! Exit codes, as a shell reports a process killed by the signal: 130 for
//! SIGINT, 143 for SIGTERM, 129 for SIGHUP ([`Signal::exit_code`]). The
//! command line asks [`received`] after a run to choose it.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender, bounded, select, unbounded};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::protocol::Command;

/// A signal asking the program to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C in a terminal that is not in raw mode.
    Interrupt,
    /// SIGTERM: `kill`, a service manager, a container stopping.
    Terminate,
    /// SIGHUP: the terminal went away.
    Hangup,
}

impl Signal {
    pub fn number(self) -> i32 {
        match self {
            Signal::Interrupt => SIGINT,
            Signal::Terminate => SIGTERM,
            Signal::Hangup => SIGHUP,
        }
    }

    pub fn from_number(n: i32) -> Option<Signal> {
        [Signal::Interrupt, Signal::Terminate, Signal::Hangup].into_iter().find(|s| s.number() == n)
    }

    /// 128 + the signal number: 130, 143, 129.
    pub fn exit_code(self) -> u8 {
        128 + self.number() as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }
}

struct Registry {
    /// Live subscriptions, oldest first; signals go to the last.
    subscribers: Vec<(u64, Sender<Signal>)>,
    next_id: u64,
    /// A signal went to a subscriber: the next one forces the exit.
    delivered: bool,
    hook: Option<fn()>,
}

static REGISTRY: Mutex<Registry> =
    Mutex::new(Registry { subscribers: Vec::new(), next_id: 0, delivered: false, hook: None });
/// The first signal received (its number), 0 before any.
static FIRST: AtomicI32 = AtomicI32::new(0);
static INSTALLED: OnceLock<()> = OnceLock::new();

/// The registry, even if a thread panicked holding it: its state stays valid.
fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Installs the handlers for SIGINT, SIGTERM and SIGHUP and starts the
/// `signals` thread. Idempotent. Call it once the program knows it will
/// run something that must end cleanly (`run`, `tui`).
pub fn install() -> io::Result<()> {
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    thread::Builder::new().name("signals".into()).spawn(move || {
        for n in signals.forever() {
            if let Some(signal) = Signal::from_number(n) {
                dispatch(signal);
            }
        }
    })?;
    let _ = INSTALLED.set(());
    Ok(())
}

/// Delivers `signal` to the newest live subscriber, or exits.
fn dispatch(signal: Signal) {
    let _ = FIRST.compare_exchange(0, signal.number(), Ordering::SeqCst, Ordering::SeqCst);
    let mut reg = registry();
    if !reg.delivered {
        while let Some((_, tx)) = reg.subscribers.last() {
            if tx.send(signal).is_ok() {
                reg.delivered = true;
                return;
            }
            reg.subscribers.pop();
        }
    }
    let hook = reg.hook;
    drop(reg);
    if let Some(hook) = hook {
        hook();
    }
    std::process::exit(i32::from(signal.exit_code()));
}

/// The terminal went away without a SIGHUP reaching us first (its reads
/// fail: the pty master closed): recorded as a hangup, so the exit code
/// and the run log say what a SIGHUP would.
pub fn terminal_lost() {
    let _ = FIRST.compare_exchange(0, Signal::Hangup.number(), Ordering::SeqCst, Ordering::SeqCst);
}

/// The first signal the process received, if any: the command line's exit
/// code after a run that a signal ended.
pub fn received() -> Option<Signal> {
    Signal::from_number(FIRST.load(Ordering::SeqCst))
}

/// Runs `hook` before a forced exit (a signal with no subscriber, or a
/// second signal): the dashboard restores the terminal there.
pub fn on_forced_exit(hook: fn()) {
    registry().hook = Some(hook);
}

/// Signals for one consumer while it lives; dropping it gives them back to
/// the previous one (or to the forced exit).
pub struct Subscription {
    id: u64,
    rx: Receiver<Signal>,
}

impl Subscription {
    /// Select on this in an event loop.
    pub fn receiver(&self) -> &Receiver<Signal> {
        &self.rx
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        registry().subscribers.retain(|(id, _)| *id != self.id);
    }
}

/// Takes the signals from now on (see the module's documentation). Works
/// whether or not [`install`] ran: without it nothing arrives.
pub fn subscribe() -> Subscription {
    let (tx, rx) = unbounded();
    let mut reg = registry();
    let id = reg.next_id;
    reg.next_id += 1;
    reg.subscribers.push((id, tx));
    Subscription { id, rx }
}

/// A thread that turns the first signal into `Command::Stop` for a trainer;
/// it ends when dropped.
pub struct StopOnSignal {
    done: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for StopOnSignal {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// For the headless runner: while the returned guard lives, a signal sends
/// `Command::Stop` on `commands`, so the trainer ends between two steps with
/// its `interrupted` summary, which the runner writes as usual. Keep the
/// guard until the event stream ends.
pub fn stop_on_signal(commands: Sender<Command>) -> io::Result<StopOnSignal> {
    let subscription = subscribe();
    let (done, done_rx) = bounded::<()>(0);
    let thread = thread::Builder::new().name("signal-stop".into()).spawn(move || {
        let signals = subscription.receiver();
        loop {
            select! {
                recv(signals) -> s => if s.is_ok() {
                    let _ = commands.send(Command::Stop);
                },
                recv(done_rx) -> _ => return,
            }
        }
    })?;
    Ok(StopOnSignal { done: Some(done), thread: Some(thread) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_128_plus_the_number() {
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
        assert_eq!(Signal::Hangup.exit_code(), 129);
        assert_eq!(Signal::from_number(15), Some(Signal::Terminate));
        assert_eq!(Signal::from_number(9), None);
    }

    /// The only test in this binary that raises a signal: a second one
    /// would (rightly) exit the test process.
    #[test]
    fn a_raised_signal_reaches_the_newest_subscriber_and_stops_a_trainer() {
        install().unwrap();
        let older = subscribe();
        let (tx, rx) = unbounded();
        let guard = stop_on_signal(tx).unwrap();
        signal_hook::low_level::raise(SIGHUP).unwrap();
        let got = rx.recv_timeout(std::time::Duration::from_secs(5));
        assert!(matches!(got, Ok(Command::Stop)), "{got:?}");
        assert!(older.receiver().try_recv().is_err(), "only the newest subscriber hears it");
        assert_eq!(received(), Some(Signal::Hangup));
        drop(guard);
        assert_eq!(registry().subscribers.len(), 1, "the forwarder's subscription ends with it");
    }
}
