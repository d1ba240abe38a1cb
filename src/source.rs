//! Sources: where a front end's events come from, and where the user's
//! requests go. A trainer [`Session`], a run trained elsewhere and followed
//! as its files grow ([`Followed`]), and a recorded fitcheck log replayed
//! ([`Replayed`]) are all a [`Source`]. One dashboard loop (`tui::dashboard`)
//! and the headless runner read events from one and pass each through
//! [`take`], the one step from an event to the run model and the run log;
//! the user's requests go back to the source, which does what it can: a
//! trainer takes settings, forks and restarts, a bridged loop takes the
//! bridge's keys, a replay takes none (its time cursor is the dashboard's).
//!
//! A new source (another log format, another framework's live feed) is one
//! more `impl Source`; the loop does not change.

use crossbeam_channel::{Receiver, never};

use crate::diagnose::Diagnosis;
use crate::ingest::{BridgeCommand, CommandWriter};
use crate::preset::{self, Preset};
use crate::protocol::{Command, Event};
use crate::run::Run;
use crate::session::Session;

/// What the user asked of the source (from the dashboard's keys).
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Commands to the trainer, applied in order at its next minibatch.
    Send(Vec<Command>),
    /// Stop this run and start one with `preset` (the old one stays as a
    /// ghost); `fork` goes to the new run before its first step.
    Restart { preset: Box<Preset>, fork: Option<Command> },
    /// Stop this run and start the shipped preset named so.
    Start(String),
    /// A key for a loop trained elsewhere, through the bridge's command file.
    Bridge(BridgeCommand),
}

/// What came of a request, for the dashboard to show.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A new run with these settings began (`keep`: the old one stays as a ghost).
    Started { preset: Box<Preset>, keep: bool },
    /// A run could not be started.
    StartFailed(String),
    /// Something to say (a bridge command that could not be written).
    Notice(String),
}

/// Where a run's events come from and where its requests go.
pub trait Source {
    /// The events of the current run (never ready when there is none).
    /// Asked again after a request started a new run.
    fn events(&self) -> Receiver<Event>;

    /// Warnings about the input (a follower's skipped lines).
    fn warnings(&self) -> Receiver<String> {
        never()
    }

    /// Keeps `event` after the run model took it, with the `verdict` line
    /// the model returned for it: the trainer session writes its run log;
    /// the others have none.
    fn record(&mut self, _event: &Event, _verdict: Option<&Event>, _diagnosis: &Diagnosis) {}

    /// Why recording stopped, if it did.
    fn log_failure(&self) -> Option<String> {
        None
    }

    /// Does what `request` asks, when this source can.
    fn request(&mut self, request: Request) -> Option<Reply>;

    /// Ends the source: a trainer is stopped and its last events logged.
    fn close(self: Box<Self>) {}
}

/// The one step every front end takes for each event: the run model takes
/// it, the source records it beside the verdict line the model returned.
pub fn take(run: &mut Run, event: &Event, source: &mut (impl Source + ?Sized)) -> Option<Event> {
    let verdict = run.apply(event);
    source.record(event, verdict.as_ref(), run.diagnosis());
    verdict
}

/// No source: for a dashboard driven by hand (tests) or before one opens.
pub struct Nothing;

impl Source for Nothing {
    fn events(&self) -> Receiver<Event> {
        never()
    }

    fn request(&mut self, _: Request) -> Option<Reply> {
        None
    }
}

/// How long closing waits for a stopped trainer's last events.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

impl Source for Session {
    fn events(&self) -> Receiver<Event> {
        Session::events(self)
    }

    fn record(&mut self, event: &Event, verdict: Option<&Event>, diagnosis: &Diagnosis) {
        Session::record(self, event, verdict, diagnosis);
    }

    fn log_failure(&self) -> Option<String> {
        Session::log_failure(self).map(str::to_string)
    }

    fn request(&mut self, request: Request) -> Option<Reply> {
        let started = |r: std::io::Result<()>, preset: Preset, keep| match r {
            Ok(()) => Reply::Started { preset: Box::new(preset), keep },
            Err(e) => Reply::StartFailed(format!("cannot start the trainer: {e}")),
        };
        match request {
            Request::Send(commands) => {
                commands.into_iter().for_each(|c| self.send(c));
                None
            }
            Request::Restart { preset, fork } => {
                let r = self.start((*preset).clone());
                if r.is_ok()
                    && let Some(fork) = fork
                {
                    // Sent before the trainer takes its first step: it forks at step 0.
                    self.send(fork);
                }
                Some(started(r, *preset, true))
            }
            Request::Start(name) => Some(match preset::resolve(&name).and_then(|p| Preset::load(&p)) {
                Ok(preset) => started(self.start(preset.clone()), preset, false),
                Err(e) => Reply::StartFailed(e.to_string()),
            }),
            // Nothing here is trained elsewhere.
            Request::Bridge(_) => None,
        }
    }

    fn close(self: Box<Self>) {
        self.shutdown(CLOSE_WAIT);
    }
}

/// A run trained elsewhere, followed as its files grow; keys reach its
/// loop through the bridge when it logs JSON lines (`writer`).
pub struct Followed {
    pub events: Receiver<Event>,
    pub warnings: Receiver<String>,
    pub writer: Option<CommandWriter>,
    /// Keeps the follower thread going; dropped, it stops.
    pub alive: crossbeam_channel::Sender<()>,
}

impl Source for Followed {
    fn events(&self) -> Receiver<Event> {
        self.events.clone()
    }

    fn warnings(&self) -> Receiver<String> {
        self.warnings.clone()
    }

    fn request(&mut self, request: Request) -> Option<Reply> {
        let Request::Bridge(command) = request else { return None };
        let writer = self.writer.as_mut()?;
        writer.send(&command).err().map(|e| Reply::Notice(e.to_string()))
    }
}

/// A recorded fitcheck run log: its lines appended while a run still
/// writes it (the lines already there are the dashboard's, for its cursor).
pub struct Replayed {
    pub appended: Receiver<Event>,
    pub warnings: Receiver<String>,
}

impl Source for Replayed {
    fn events(&self) -> Receiver<Event> {
        self.appended.clone()
    }

    fn warnings(&self) -> Receiver<String> {
        self.warnings.clone()
    }

    fn request(&mut self, _: Request) -> Option<Reply> {
        None
    }
}
