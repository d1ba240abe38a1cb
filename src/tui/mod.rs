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

use crate::data::{DatasetSpec, TrainTest};
use crate::preset::{self, Preset, PresetError};
use crate::train::log::RunLog;
use crate::train::{Command, Event, SetupError, Trainer, TrainerHandle, load_data, spawn};
use app::{App, Effect, Msg, PresetEntry, Status};

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

/// Every shipped preset for the picker: name, dataset, lesson.
fn preset_entries() -> Vec<PresetEntry> {
    preset::list()
        .into_iter()
        .filter_map(|(name, path)| {
            let p = Preset::load(&path).ok()?;
            Some(PresetEntry { name, dataset: p.dataset.label(), lesson: p.lesson })
        })
        .collect()
}

/// The datasets loaded so far, so a restart does not read MNIST again.
#[derive(Default)]
struct DataCache {
    entries: Vec<(DatasetSpec, u64, TrainTest)>,
}

impl DataCache {
    fn get(&mut self, preset: &Preset) -> Result<TrainTest, SetupError> {
        if let Some((_, _, d)) = self.entries.iter().find(|(s, seed, _)| *s == preset.dataset && *seed == preset.seed) {
            return Ok(d.clone());
        }
        let data = load_data(preset)?;
        self.entries.push((preset.dataset.clone(), preset.seed, data.clone()));
        Ok(data)
    }
}

/// Stops a run: asks the trainer to stop, keeps its last events (the
/// `interrupted` summary) in the run log, and waits for the thread.
fn stop(handle: TrainerHandle, log: &mut Option<RunLog>) {
    let _ = handle.commands.send(Command::Stop);
    let deadline = std::time::Instant::now() + SHUTDOWN_WAIT;
    while let Ok(event) = handle.events.recv_deadline(deadline) {
        if let Some(log) = log.as_mut() {
            let _ = log.record(&event);
        }
        if matches!(event, Event::Summary(_) | Event::Failed { .. }) {
            break;
        }
    }
    drop(handle.events);
    let _ = handle.thread.join();
}

fn start(preset: &Preset, cache: &mut DataCache) -> Result<TrainerHandle, String> {
    let data = cache.get(preset).map_err(|e| e.to_string())?;
    let trainer = Trainer::new(preset, data).map_err(|e| e.to_string())?;
    spawn(trainer).map_err(|e| format!("cannot start the trainer: {e}"))
}

/// Runs the dashboard on `preset_name` (with overrides), or on the preset
/// picker when there is none, until the user quits. Errors in the input
/// come back before the terminal changes mode.
pub fn run(preset_name: Option<&str>, sets: &[String], metrics: Option<&Path>) -> Result<(), TuiError> {
    let log_err = |source| TuiError::Log { path: metrics.map(|p| p.display().to_string()).unwrap_or_default(), source };
    let mut log = metrics.map(RunLog::open).transpose().map_err(log_err)?;
    let mut cache = DataCache::default();
    let entries = preset_entries();
    let (mut app, mut current) = match preset_name {
        Some(name) => {
            let path = preset::resolve(name)?;
            let mut preset = Preset::load(&path)?;
            for s in sets {
                preset.set(s)?;
            }
            let located = |e: SetupError| match e {
                SetupError::Field { field, message, .. } => {
                    TuiError::Preset(preset::field_error(&path, sets, field, message))
                }
                other => TuiError::Setup(other),
            };
            let trainer = Trainer::new(&preset, cache.get(&preset).map_err(located)?).map_err(located)?;
            let handle = spawn(trainer).map_err(|e| TuiError::Failed(format!("cannot start the trainer: {e}")))?;
            let mut app = App::new(preset);
            app.presets = entries;
            (app, Some(handle))
        }
        None => {
            let first = entries.first().map(|e| e.name.clone()).unwrap_or_else(|| "mnist-mlp".into());
            let preset = Preset::load(&preset::resolve(&first)?)?;
            (App::idle(preset, entries), None)
        }
    };

    let mut guard = terminal::TerminalGuard::enter().map_err(TuiError::Terminal)?;
    let stop_input = Arc::new(AtomicBool::new(false));
    let input = spawn_input(stop_input.clone()).map_err(TuiError::Terminal)?;
    let ticks = tick(FRAME);
    let mut events = current.as_ref().map_or_else(never, |h| h.events.clone());
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
                if let Some(h) = &current {
                    let _ = h.commands.send(cmd);
                }
            }
            Some(Effect::SendAll(cmds)) => {
                if let Some(h) = &current {
                    cmds.into_iter().for_each(|c| drop(h.commands.send(c)));
                }
            }
            Some(Effect::Restart(preset)) => {
                if let Some(h) = current.take() {
                    stop(h, &mut log);
                }
                match start(&preset, &mut cache) {
                    Ok(h) => {
                        events = h.events.clone();
                        current = Some(h);
                        app.begin_run(*preset, true);
                    }
                    Err(message) => app.notice = Some(message),
                }
                dirty = true;
            }
            Some(Effect::Start(name)) => {
                let loaded = preset::resolve(&name).and_then(|p| Preset::load(&p));
                match loaded.map_err(|e| e.to_string()).and_then(|p| start(&p, &mut cache).map(|h| (p, h))) {
                    Ok((preset, h)) => {
                        if let Some(old) = current.take() {
                            stop(old, &mut log);
                        }
                        events = h.events.clone();
                        current = Some(h);
                        app.begin_run(preset, false);
                    }
                    Err(message) => app.notice = Some(message),
                }
                dirty = true;
            }
            Some(Effect::Quit) => break,
            None => {}
        }
    }
    stop_input.store(true, Ordering::Relaxed);
    drop(guard);
    drop(events);
    if let Some(h) = current.take() {
        stop(h, &mut log);
    }
    if let Status::Failed(message) = &app.status {
        return Err(TuiError::Failed(message.clone()));
    }
    outcome
}
