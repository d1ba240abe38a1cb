//! The dashboard: terminal setup and restore, the event loop, `App` and its
//! `update`, the keymap, and one file per panel under `panels/`.
//!
//! The loop waits on three sources with `crossbeam_channel::select!` — key
//! presses (read on an `input` thread), trainer events, and a frame tick —
//! and redraws at most ~30 times a second, only when something changed. It
//! never waits on the trainer.

pub mod app;
pub mod keymap;
pub mod modes;
pub mod panels;
pub mod range_test;
pub mod runs;
pub mod terminal;
pub mod ui;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, bounded, never, select, tick};
use ratatui::crossterm::event::{self, Event as TermEvent};

use crate::preset::{self, Preset, PresetError};
use crate::run::RunState;
use crate::session::Session;
use crate::source::{Followed, Replayed, Reply, Source};
use crate::train::SetupError;
use app::{App, Effect, Msg, PresetEntry};

/// At most this many frames a second.
const FRAME: Duration = Duration::from_millis(33);

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error(transparent)]
    Preset(#[from] PresetError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("terminal: {0}")]
    Terminal(std::io::Error),
    #[error(transparent)]
    Watch(#[from] crate::watch::WatchError),
    #[error("{0}")]
    Failed(String),
}

impl TuiError {
    /// Bad input (exit code 2) rather than a failure of the run.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, TuiError::Preset(_) | TuiError::Setup(_))
            || matches!(self, TuiError::Watch(e) if e.is_bad_input())
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

/// The terminal while a dashboard runs: raw mode and the alternate screen
/// (restored on drop, as on a panic), the input thread and the frame tick.
struct Screen {
    guard: terminal::TerminalGuard,
    stop_input: Arc<AtomicBool>,
    input: Receiver<TermEvent>,
    ticks: Receiver<std::time::Instant>,
}

impl Screen {
    fn open() -> Result<Screen, TuiError> {
        let guard = terminal::TerminalGuard::enter().map_err(TuiError::Terminal)?;
        let stop_input = Arc::new(AtomicBool::new(false));
        let input = spawn_input(stop_input.clone()).map_err(TuiError::Terminal)?;
        Ok(Screen { guard, stop_input, input, ticks: tick(FRAME) })
    }

    fn draw(&mut self, app: &App) -> Result<(), TuiError> {
        self.guard.terminal().draw(|f| ui::draw(app, f)).map(drop).map_err(TuiError::Terminal)
    }

    /// What a terminal event does: a key goes to `update`, a resize only
    /// redraws, a closed input quits. Sets `dirty` when the screen must redraw.
    fn on_input(
        app: &mut App,
        ev: Result<TermEvent, crossbeam_channel::RecvError>,
        dirty: &mut bool,
    ) -> Option<Effect> {
        match ev {
            Ok(TermEvent::Key(key)) => {
                *dirty = true;
                app.update(Msg::Key(key))
            }
            Ok(TermEvent::Resize(..)) => {
                *dirty = true;
                None
            }
            Ok(_) => None,
            // The input thread ends when the terminal cannot be read: it is
            // gone (window closed, pty master shut). End as on SIGHUP.
            Err(_) => {
                crate::signals::terminal_lost();
                Some(Effect::Quit)
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.stop_input.store(true, Ordering::Relaxed);
    }
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

/// Runs the dashboard on `preset_name` (with overrides), or on the preset
/// picker when there is none, until the user quits or `stop` delivers
/// anything (a signal). Errors in the input come back before the terminal
/// changes mode. Returns how the last run ended.
pub fn run<T>(
    preset_name: Option<&str>,
    sets: &[String],
    mut session: Session,
    stop: &Receiver<T>,
) -> Result<(), TuiError> {
    let entries = preset_entries();
    let app = match preset_name {
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
            let trainer = session.prepare(&preset).map_err(located)?;
            session.start_trainer(trainer).map_err(|e| TuiError::Failed(format!("cannot start the trainer: {e}")))?;
            let mut app = App::new(preset);
            app.presets = entries;
            app
        }
        None => {
            let first = entries.first().map(|e| e.name.clone()).unwrap_or_else(|| "mnist-mlp".into());
            let preset = Preset::load(&preset::resolve(&first)?)?;
            App::idle(preset, entries)
        }
    };

    let app = dashboard(app, Box::new(session), never(), &crate::ingest::TagMap::default(), stop)?;
    if let RunState::Failed(message) = &app.run.state {
        return Err(TuiError::Failed(message.clone()));
    }
    Ok(())
}

/// The dashboard on `source` until the user quits or `stop` delivers
/// anything: live, watch and replay alike. Keys go to `app`; the source's
/// events go through [`App::take_event`] (the run model, then the
/// source's log); what the keys ask goes back to the source. `runs` feeds
/// the run picker of a watched folder, whose runs open with `maps`.
/// Returns the app as it ended.
fn dashboard<T>(
    mut app: App,
    mut source: Box<dyn Source>,
    runs: Receiver<Vec<runs::RunRow>>,
    maps: &crate::ingest::TagMap,
    stop: &Receiver<T>,
) -> Result<App, TuiError> {
    let mut screen = Screen::open()?;
    let (mut events, mut warnings) = (source.events(), source.warnings());
    // `dirty`: redraw now (a key, a resize). `stale`: events arrived;
    // redraw at the next tick, so bursts of events cost one frame.
    let (mut dirty, mut stale, mut log_noticed) = (true, false, false);
    loop {
        if dirty {
            // A frame that cannot be written: the terminal is gone. End as
            // on SIGHUP (the trainer stopped, the run log closed), not with
            // an error that skips the shutdown.
            if screen.draw(&app).is_err() {
                crate::signals::terminal_lost();
                break;
            }
            dirty = false;
        }
        let effect = select! {
            recv(screen.input) -> ev => Screen::on_input(&mut app, ev, &mut dirty),
            recv(events) -> ev => {
                stale = true;
                match ev {
                    Ok(event) => {
                        let effect = app.take_event(event, source.as_mut());
                        if !log_noticed && let Some(message) = source.log_failure() {
                            log_noticed = true;
                            app.update(Msg::Notice(message));
                        }
                        effect
                    }
                    // The source ended (the trainer's thread, `watch -` at
                    // the end of its stream): stop listening (a closed
                    // channel is always ready).
                    Err(_) => {
                        events = never();
                        app.update(Msg::TrainerGone)
                    }
                }
            },
            recv(warnings) -> w => {
                stale = true;
                match w {
                    Ok(w) => { app.update(Msg::Notice(w)); }
                    Err(_) => warnings = never(),
                }
                None
            },
            recv(runs) -> rows => {
                stale = true;
                if let Ok(rows) = rows { app.update(Msg::Runs(rows)); }
                None
            },
            recv(stop) -> _ => Some(Effect::Quit),
            recv(screen.ticks) -> _ => {
                dirty |= std::mem::take(&mut stale);
                None
            },
        };
        match effect.map(Effect::into_request) {
            None => {}
            Some(Ok(request)) => {
                if let Some(reply) = source.request(request) {
                    let started = matches!(reply, Reply::Started { .. });
                    app.update(reply.into());
                    if started {
                        // A new run: its own events.
                        events = source.events();
                    }
                    dirty = true;
                }
            }
            Some(Err(Effect::Watch(run))) => {
                // The run picker chose a run: the old follower stops (its
                // `alive` dropped with the source), the new one starts.
                match open_run(&run, maps) {
                    Ok((next, next_source)) => {
                        app.start_watching(next, &run);
                        std::mem::replace(&mut source, next_source).close();
                        (events, warnings) = (source.events(), source.warnings());
                    }
                    Err(e) => {
                        app.update(Msg::Notice(e.to_string()));
                        app.open_run_picker();
                    }
                }
                dirty = true;
            }
            Some(Err(_)) => break,
        }
    }
    drop(screen);
    drop(events);
    source.close();
    Ok(app)
}

/// `fitcheck watch PATH`: the dashboard on a run trained elsewhere,
/// followed as its files grow (keys reach its loop through the bridge when
/// it logs JSON lines), or on a recorded fitcheck run log (replay with a
/// time cursor, following the newest epoch while the log grows). A folder of many runs opens on the run picker (`runs`):
/// Enter watches one, `p` comes back. Runs until the user quits or `stop`
/// delivers anything.
pub fn watch<T>(path: &std::path::Path, maps: crate::ingest::TagMap, stop: &Receiver<T>) -> Result<(), TuiError> {
    // A folder of many runs: the picker, fed by a scanner thread.
    let (app, source, runs) = if runs::holds_many_runs(path) {
        let scanner = runs::spawn_scanner(path, maps.clone()).map_err(TuiError::Terminal)?;
        (App::picking_run(path), Box::new(crate::source::Nothing) as Box<dyn Source>, scanner)
    } else {
        let (app, source) = open_run(path, &maps)?;
        (app, source, never())
    };
    dashboard(app, source, runs, &maps, stop)?;
    Ok(())
}

/// Opens one run for `watch`: followed as it grows, or a recorded fitcheck
/// run log replayed.
fn open_run(path: &std::path::Path, maps: &crate::ingest::TagMap) -> Result<(App, Box<dyn Source>), TuiError> {
    use crate::ingest::{CommandWriter, Format};
    use crate::watch::WatchError;
    // A recorded fitcheck log is replayed; anything else is followed.
    Ok(match crate::watch::follow(path, maps.clone()) {
        Ok(f) => {
            let bridge = f.format == Format::JsonLines && path.is_file();
            let writer = bridge.then(|| CommandWriter::for_log(path));
            let app = App::watching(crate::run::Run::external(&f.name), bridge);
            (app, Box::new(Followed { events: f.events, warnings: f.warnings, writer, alive: f.alive }))
        }
        // Replayed, and tailed: a run in progress may still be writing it.
        Err(WatchError::Ingest(crate::ingest::IngestError::FitcheckLog { .. })) => {
            let log = crate::watch::follow_log(path)?;
            let settings = crate::watch::recorded_settings(path, &log.events);
            let source = Replayed { appended: log.appended, warnings: log.warnings };
            (App::replaying(settings, log.events, true), Box::new(source))
        }
        Err(e) => return Err(e.into()),
    })
}
