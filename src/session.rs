//! A session: the runs one front end drives, one after another. It owns the
//! data cache, the current trainer, the trainers being stopped, and the run
//! log (with a `restart` line between runs). Starting and stopping never
//! block the caller: a new trainer loads its data on its own thread, and a
//! stopped one drains into the log in the background of later calls.
//! Both front ends (the dashboard and the headless runner) use it.
//!
//! The log keeps runs whole and in order: a stopped run still sends its
//! last epoch and its `interrupted` summary after the next one has begun,
//! so the `restart` line and the new run's lines wait until it has finished
//! (a replay once drew the old run's last epoch into the new one).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, never};

use crate::data::{DatasetSpec, TrainTest};
use crate::diagnose::Diagnosis;
use crate::preset::Preset;
use crate::protocol::{Command, Event};
use crate::run::SummaryLine;
use crate::train::log::RunLog;
use crate::train::{SetupError, Trainer, TrainerHandle, load_data, spawn, spawn_with};

/// Datasets kept for restarts: the current one, the one before (`r` back
/// and forth) and one more.
const MAX_CACHED: usize = 3;
/// Lines of a new run held while a stopped one finishes (it stops at its
/// next minibatch; a thread stuck longer than this many lines is written
/// around rather than held without bound).
const MAX_HELD: usize = 100_000;

/// The datasets loaded lately (at most `MAX_CACHED`), so a restart does not
/// read MNIST again.
#[derive(Default)]
pub struct DataCache {
    entries: Vec<(DatasetSpec, u64, Option<Vec<u8>>, TrainTest)>,
}

impl DataCache {
    pub fn get(&mut self, preset: &Preset) -> Result<TrainTest, SetupError> {
        let same = |(s, seed, classes, _): &&(DatasetSpec, u64, Option<Vec<u8>>, TrainTest)| {
            *s == preset.dataset && *seed == preset.seed && *classes == preset.classes
        };
        if let Some(i) = self.entries.iter().position(|e| same(&e)) {
            // Most recently used last: the oldest is the one evicted.
            let entry = self.entries.remove(i);
            let data = entry.3.clone();
            self.entries.push(entry);
            return Ok(data);
        }
        let data = load_data(preset)?;
        self.entries.push((preset.dataset.clone(), preset.seed, preset.classes.clone(), data.clone()));
        // Each seed draws its own split: `R` a hundred times must not keep a
        // hundred copies of MNIST (55 MB each).
        if self.entries.len() > MAX_CACHED {
            self.entries.remove(0);
        }
        Ok(data)
    }
}

/// A line held for later, as written now: its fields keep their order
/// and its floats their shortest form (a `Value` would sort and widen them).
type Held = Box<serde_json::value::RawValue>;

/// `line` as a held line.
fn hold(line: &impl serde::Serialize) -> Option<Held> {
    serde_json::value::to_raw_value(line).ok()
}

pub struct Session {
    cache: Arc<Mutex<DataCache>>,
    current: Option<TrainerHandle>,
    /// Stopped trainers whose last events (the `interrupted` summary) still
    /// go to the log, oldest first, each with the lines that come after it
    /// (the next run's `restart` line and events), held until it finishes.
    retiring: Vec<(TrainerHandle, Vec<Held>)>,
    log: Option<RunLog>,
    log_error: Option<String>,
    runs: usize,
    /// Runs stay after their end, for more epochs (the dashboard).
    interactive: bool,
}

impl Session {
    /// A session writing its run log to `log` (already opened), if any.
    pub fn new(log: Option<RunLog>) -> Session {
        Session {
            cache: Arc::default(),
            current: None,
            retiring: Vec::new(),
            log,
            log_error: None,
            runs: 0,
            interactive: false,
        }
    }

    /// A session whose runs stay after their end, taking more epochs,
    /// settings and checkpoints until stopped (the dashboard's).
    pub fn interactive(log: Option<RunLog>) -> Session {
        Session { interactive: true, ..Session::new(log) }
    }

    /// Loads data and builds a trainer now, on the caller's thread: for the
    /// first run, whose errors are bad input (exit 2) before any screen.
    pub fn prepare(&self, preset: &Preset) -> Result<Trainer, SetupError> {
        crate::train::preflight_setup(preset, &crate::train::bundled_mnist_dir())?;
        crate::train::ensure_init_weights(preset)?;
        let data = self.cache.lock().map_err(|_| poisoned())?.get(preset)?;
        Trainer::new(preset, data)
    }

    /// Starts a prepared trainer as the current run (stopping any other).
    pub fn start_trainer(&mut self, mut trainer: Trainer) -> std::io::Result<()> {
        if self.interactive {
            trainer.stay_after_end();
        }
        let restart = Event::Restart { preset: trainer.preset().name.clone(), seed: trainer.preset().seed };
        let handle = spawn(trainer)?;
        self.replace(handle, restart);
        Ok(())
    }

    /// Starts `preset` as the current run without waiting: its data loads
    /// on the trainer's thread; a setup error arrives as `Event::Failed`.
    pub fn start(&mut self, preset: Preset) -> std::io::Result<()> {
        let restart = Event::Restart { preset: preset.name.clone(), seed: preset.seed };
        let cache = self.cache.clone();
        let interactive = self.interactive;
        let handle = spawn_with(move || {
            // Nothing large is allocated before the memory estimate passes.
            crate::train::preflight_setup(&preset, &crate::train::bundled_mnist_dir()).map_err(|e| e.to_string())?;
            crate::train::ensure_init_weights(&preset).map_err(|e| e.to_string())?;
            let data = cache.lock().map_err(|_| "the data cache is unusable".to_string())?.get(&preset);
            let mut trainer = Trainer::new(&preset, data.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
            if interactive {
                trainer.stay_after_end();
            }
            Ok(trainer)
        })?;
        self.replace(handle, restart);
        Ok(())
    }

    fn replace(&mut self, handle: TrainerHandle, restart: Event) {
        self.stop();
        if self.runs > 0 {
            self.drain_retiring();
            self.write_current(&restart);
        }
        self.runs += 1;
        self.current = Some(handle);
    }

    /// The current run's events (never ready when there is none).
    pub fn events(&self) -> Receiver<Event> {
        self.current.as_ref().map_or_else(never, |h| h.events.clone())
    }

    /// Sends a command to the current run (nothing when there is none).
    pub fn send(&self, cmd: Command) {
        if let Some(h) = &self.current {
            let _ = h.commands.send(cmd);
        }
    }

    /// Writes one event of the current run (and what stopped runs left) to
    /// the log, with the `verdict` line the run model returned for it, if
    /// any; the summary carries `diagnosis` beside its fields, as the
    /// headless summary line does, and stays the last line. A write error
    /// stops logging; the run goes on.
    pub fn record(&mut self, event: &Event, verdict: Option<&Event>, diagnosis: &Diagnosis) {
        self.drain_retiring();
        match event {
            Event::Summary(_) => {
                verdict.inspect(|v| self.write_current(*v));
                self.write_current(&SummaryLine { event, diagnosis });
            }
            _ => {
                self.write_current(event);
                verdict.inspect(|v| self.write_current(*v));
            }
        }
    }

    /// Writes a line of the current run, or holds it while an earlier run
    /// has not finished writing (see the module docs).
    fn write_current(&mut self, line: &impl serde::Serialize) {
        if let Some((_, after)) = self.retiring.last_mut()
            && after.len() < MAX_HELD
            && let Some(value) = hold(line)
        {
            after.push(value);
            return;
        }
        self.write(line);
    }

    fn write(&mut self, line: &impl serde::Serialize) {
        let Some(log) = self.log.as_mut() else { return };
        // Whole lines only; a failed write stops logging (the run goes on)
        // and the log itself says so on stderr when it is dropped.
        if let Some(failure) = log.append(line) {
            self.log_error = Some(failure.to_string());
        }
    }

    /// Why logging stopped, if it did.
    pub fn log_failure(&self) -> Option<&str> {
        self.log_error.as_deref()
    }

    /// Asks the current run to stop and moves it aside, without waiting.
    pub fn stop(&mut self) {
        if let Some(h) = self.current.take() {
            let _ = h.commands.send(Command::Stop);
            self.retiring.push((h, Vec::new()));
        }
    }

    /// Logs whatever the oldest stopped run sent; once it has finished,
    /// forgets it and writes the lines held after it, and so on. A later
    /// stopped run's events join the lines held after the run before it.
    fn drain_retiring(&mut self) {
        while let Some((first, _)) = self.retiring.first() {
            // Checked before draining: what a finished thread sent is all there.
            let finished = first.thread.is_finished();
            let events: Vec<Event> = first.events.try_iter().collect();
            events.iter().for_each(|e| self.write(e));
            if !finished {
                break;
            }
            let (_, after) = self.retiring.remove(0);
            after.iter().for_each(|line| self.write(line));
        }
        for k in 1..self.retiring.len() {
            let events: Vec<Event> = self.retiring[k].0.events.try_iter().collect();
            let after = &mut self.retiring[k - 1].1;
            after.extend(events.iter().filter_map(hold));
        }
    }

    /// Ends the session: stops the current run and waits up to `wait` for
    /// every stopped run's last events (the `interrupted` summary) to reach
    /// the log.
    pub fn shutdown(mut self, wait: Duration) {
        self.stop();
        let deadline = Instant::now() + wait;
        for (h, after) in std::mem::take(&mut self.retiring) {
            while let Ok(event) = h.events.recv_deadline(deadline) {
                self.write(&event);
                if matches!(event, Event::Summary(_) | Event::Failed { .. }) {
                    break;
                }
            }
            drop(h.events);
            if h.thread.is_finished() || Instant::now() < deadline {
                let _ = h.thread.join();
            }
            after.iter().for_each(|line| self.write(line));
        }
    }
}

fn poisoned() -> SetupError {
    SetupError::Field { preset: String::new(), field: "dataset", message: "the data cache is unusable".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 22: the `restart` line was written before the stopped run's
    /// last epoch and `interrupted` summary, so a replay showed the old
    /// run's epoch in the new run.
    #[test]
    fn a_stopped_run_ends_in_the_log_before_the_restart_line() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("run.jsonl");
        let mut p = Preset::parse(include_str!("../presets/spirals.ron"), "spirals.ron").expect("spirals");
        p.epochs = 100_000;
        let run = crate::run::Run::new(p.clone());
        let mut session = Session::interactive(Some(RunLog::open(&path).expect("log")));
        let take = |session: &mut Session, epochs: usize| {
            let events = session.events();
            let mut seen = 0;
            while seen < epochs {
                let e = events.recv_timeout(Duration::from_secs(60)).expect("the trainer sends events");
                seen += matches!(e, Event::Epoch(_)) as usize;
                session.record(&e, None, run.diagnosis());
            }
        };
        for seed in [1, 2, 3] {
            p.seed = seed;
            session.start(p.clone()).expect("starts");
            take(&mut session, 2);
        }
        session.shutdown(Duration::from_secs(30));
        let text = std::fs::read_to_string(&path).expect("the log");
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
        let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap_or("?")).collect();
        let restarts: Vec<usize> = (0..kinds.len()).filter(|&i| kinds[i] == "restart").collect();
        assert_eq!(restarts.len(), 2, "{kinds:?}");
        for &i in &restarts {
            assert_eq!(kinds[i - 1], "summary", "the stopped run ends before its restart line: {kinds:?}");
            assert_eq!(lines[i - 1]["stopped"], "interrupted");
            assert_eq!(kinds[i + 1], "start", "the new run begins right after it: {kinds:?}");
        }
        // Each run's lines stay together: one start and one summary per run, in order.
        assert_eq!(kinds.iter().filter(|k| **k == "start").count(), 3, "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == "summary").count(), 3, "{kinds:?}");
        assert_eq!(kinds.last(), Some(&"summary"));
        // Held lines are written as they were made: the type first, the
        // floats short (a held start line's lr is 0.05, not 0.05000000074505806).
        for line in text.lines() {
            assert!(line.starts_with(r#"{"type":""#), "{line}");
            assert!(!line.contains("0000000"), "{line}");
        }
    }

    #[test]
    fn the_data_cache_keeps_the_latest_few_datasets() {
        let mut p = Preset::parse(include_str!("../presets/spirals.ron"), "spirals.ron").expect("spirals");
        let mut cache = DataCache::default();
        for seed in 0..8 {
            p.seed = seed;
            cache.get(&p).expect("data");
            assert!(cache.entries.len() <= MAX_CACHED, "seed {seed}: {}", cache.entries.len());
        }
        // A hit moves to the end: the next new seed evicts another.
        p.seed = 5;
        cache.get(&p).expect("data");
        p.seed = 100;
        cache.get(&p).expect("data");
        let seeds: Vec<u64> = cache.entries.iter().map(|e| e.1).collect();
        assert_eq!(seeds, [7, 5, 100]);
    }
}
