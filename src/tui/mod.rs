//! The dashboard: terminal setup and restore, the event loop, `App` and its
//! `update`, the keymap, and one file per panel under `panels/`.
//!
//! The loop waits on three sources with `crossbeam_channel::select!` — key
//! presses (read on an `input` thread), trainer events, and a frame tick —
//! and redraws at most ~30 times a second, only when something changed. It
//! never waits on the trainer.

pub mod app;
pub mod keymap;
pub mod panels;
pub mod terminal;
pub mod ui;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, bounded, never, select, tick};
use ratatui::crossterm::event::{self, Event as TermEvent};

use crate::preset::{self, Preset, PresetError};
use crate::train::log::RunLog;
use crate::train::{Command, SetupError, Trainer, load_data, spawn};
use app::{App, Effect, Msg, Status};

/// At most this many frames a second.
const FRAME: Duration = Duration::from_millis(33);
/// How long quitting waits for the trainer's last events for the run log.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error(transparent)]
    Preset(#[from] PresetError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("{path}: cannot write the run log: {source}")]
    Log { path: String, source: std::io::Error },
    #[error("terminal: {0}")]
    Terminal(std::io::Error),
    #[error("{0}")]
    Failed(String),
}

impl TuiError {
    /// Bad input (exit code 2) rather than a failure of the run.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, TuiError::Preset(_) | TuiError::Setup(_))
    }
}

/// Reads terminal events on their own thread until `stop` is set.
fn spawn_input(stop: Arc<AtomicBool>) -> std::io::Result<Receiver<TermEvent>> {
    let (tx, rx) = bounded(64);
    thread::Builder::new().name("input".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(50)) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if tx.send(ev).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                },
                Ok(false) => {}
                Err(_) => break,
            }
        }
    })?;
    Ok(rx)
}

/// Loads the preset (with overrides) and its data, then runs the dashboard
/// until the user quits. Errors in the input come back before the terminal
/// changes mode.
pub fn run(preset_name: &str, sets: &[String], metrics: Option<&Path>) -> Result<(), TuiError> {
    let path = preset::resolve(preset_name)?;
    let mut preset = Preset::load(&path)?;
    for s in sets {
        preset.set(s)?;
    }
    let log_err = |source| TuiError::Log { path: metrics.map(|p| p.display().to_string()).unwrap_or_default(), source };
    let mut log = metrics.map(RunLog::open).transpose().map_err(log_err)?;
    let located = |e: SetupError| match e {
        SetupError::Field { field, message, .. } => TuiError::Preset(preset::field_error(&path, sets, field, message)),
        other => TuiError::Setup(other),
    };
    let trainer = Trainer::new(&preset, load_data(&preset).map_err(located)?).map_err(located)?;
    let handle = spawn(trainer).map_err(|e| TuiError::Failed(format!("cannot start the trainer: {e}")))?;

    let mut guard = terminal::TerminalGuard::enter().map_err(TuiError::Terminal)?;
    let stop_input = Arc::new(AtomicBool::new(false));
    let input = spawn_input(stop_input.clone()).map_err(TuiError::Terminal)?;
    let ticks = tick(FRAME);
    let mut app = App::new(preset);
    let mut events = handle.events.clone();
    // `dirty`: redraw now (a key, a resize). `stale`: trainer events arrived;
    // redraw at the next tick, so bursts of events cost one frame.
    let mut dirty = true;
    let mut stale = false;
    let mut outcome = Ok(());
    loop {
        if dirty {
            guard.terminal.draw(|f| ui::draw(&app, f)).map_err(TuiError::Terminal)?;
            dirty = false;
        }
        let effect = select! {
            recv(input) -> ev => match ev {
                Ok(TermEvent::Key(key)) => { dirty = true; app.update(Msg::Key(key)) }
                Ok(TermEvent::Resize(..)) => { dirty = true; None }
                Ok(_) => None,
                Err(_) => Some(Effect::Quit),
            },
            recv(events) -> ev => match ev {
                Ok(event) => {
                    stale = true;
                    if let Some(log) = log.as_mut()
                        && let Err(e) = log.record(&event) {
                        outcome = Err(log_err(e));
                        Some(Effect::Quit)
                    } else {
                        app.update(Msg::Trainer(event))
                    }
                }
                Err(_) => {
                    stale = true;
                    events = never();
                    app.update(Msg::TrainerGone)
                }
            },
            recv(ticks) -> _ => {
                dirty |= std::mem::take(&mut stale);
                None
            },
        };
        match effect {
            Some(Effect::Send(cmd)) => {
                let _ = handle.commands.send(cmd);
            }
            Some(Effect::Quit) => break,
            None => {}
        }
    }
    stop_input.store(true, Ordering::Relaxed);
    let _ = handle.commands.send(Command::Stop);
    drop(guard);
    // The trainer ends with an `interrupted` summary after a stop: keep it
    // (and anything still queued) in the run log, waiting a little at most.
    if let Some(log) = log.as_mut() {
        let deadline = std::time::Instant::now() + SHUTDOWN_WAIT;
        while let Ok(event) = events.recv_deadline(deadline) {
            let _ = log.record(&event);
            if matches!(event, crate::train::Event::Summary(_) | crate::train::Event::Failed { .. }) {
                break;
            }
        }
    }
    drop(events);
    drop(handle.events);
    let _ = handle.thread.join();
    if let Status::Failed(message) = &app.status {
        return Err(TuiError::Failed(message.clone()));
    }
    outcome
}
