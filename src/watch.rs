//! Runs trained elsewhere, and recorded runs, through the same run model:
//! `fitcheck diagnose PATH` (headless: the epochs understood, then the
//! summary with the diagnosis) and the sources `fitcheck watch PATH` feeds
//! the dashboard from — a follower thread that polls a growing log and
//! sends its epochs as events, or a recorded fitcheck run log to replay,
//! tailed while a run in progress still appends to it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::headless::SummaryLine;
use crate::ingest::{self, ExternalRun, Follower, Format, IngestError, TagMap};
use crate::run::{Run, external, replay};
use crate::train::Event;

/// How often a followed run's files are polled.
pub const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Replay(#[from] replay::ReplayError),
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
}

impl WatchError {
    /// Bad input (exit code 2): everything but a failing stdout.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, WatchError::Output(_))
    }
}

/// What PATH holds.
pub enum Source {
    /// fitcheck's own run log: the events of its last run (replay).
    Recorded { path: PathBuf, events: Vec<Event> },
    /// A run trained elsewhere.
    External(ExternalRun),
}

/// Reads PATH whole: a recorded fitcheck log, or an external run.
pub fn load(path: &Path, maps: &TagMap) -> Result<Source, WatchError> {
    match ingest::read_run(path, maps) {
        Ok(run) => Ok(Source::External(run)),
        Err(IngestError::FitcheckLog { .. }) => {
            let mut runs = replay::read_log(path)?;
            let events = runs.pop().unwrap_or_default();
            Ok(Source::Recorded { path: path.to_path_buf(), events })
        }
        Err(e) => Err(e.into()),
    }
}

/// The settings a recorded run started with (its `start` line carries
/// them), or placeholders named after the file.
pub fn recorded_settings(path: &Path, events: &[Event]) -> crate::preset::Preset {
    let name = path.file_stem().map_or("run".into(), |s| s.to_string_lossy().into_owned());
    replay::settings_of(events, &external::placeholder_settings(&name))
}

impl Source {
    /// The run model, fed every event.
    pub fn run(&self) -> Run {
        match self {
            Source::Recorded { path, events } => Run::from_events(recorded_settings(path, events), events, usize::MAX),
            Source::External(run) => {
                let mut model = Run::external(&run.name);
                for e in external::events(run) {
                    model.apply(&e);
                }
                model
            }
        }
    }
}

/// `fitcheck diagnose PATH`: DESIGN's epoch lines for every epoch
/// understood, then the summary line with the diagnosis.
pub fn diagnose(path: &Path, maps: &TagMap, out: &mut impl Write) -> Result<(), WatchError> {
    let source = load(path, maps)?;
    let run = source.run();
    let mut write = |line: &dyn erased_serialize::Line| -> Result<(), WatchError> {
        line.write_to(out).and_then(|()| out.write_all(b"\n")).map_err(WatchError::Output)
    };
    for e in &run.epochs {
        write(&Event::Epoch(e.clone()))?;
    }
    let summary = match &run.summary {
        Some(s) if !run.external => s.clone(),
        _ => external::summary(&run),
    };
    let event = Event::Summary(summary);
    write(&SummaryLine { event: &event, diagnosis: run.diagnosis() })?;
    out.flush().map_err(WatchError::Output)
}

mod erased_serialize {
    /// A JSON line of anything serializable.
    pub trait Line {
        fn write_to(&self, out: &mut dyn std::io::Write) -> std::io::Result<()>;
    }
    impl<T: serde::Serialize> Line for T {
        fn write_to(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
            serde_json::to_writer(out, self).map_err(std::io::Error::from)
        }
    }
}

/// A recorded fitcheck run log that a run in progress may still be writing:
/// the events of its last run so far, then each event appended, in order
/// (a `start` or `restart` among them begins the next run).
pub struct FollowingLog {
    pub events: Vec<Event>,
    pub appended: Receiver<Event>,
    /// Lines that are not run-log lines, a file replaced or deleted.
    pub warnings: Receiver<String>,
}

/// Reads a fitcheck run log and starts a thread that polls it every
/// [`POLL`] for appended lines, until the receivers are dropped.
pub fn follow_log(path: &Path) -> Result<FollowingLog, WatchError> {
    let mut tail = replay::LogTail::new(path);
    let first = tail.poll();
    let mut runs: Vec<Vec<Event>> = vec![Vec::new()];
    for e in first.events {
        if replay::starts_next_run(runs.last().expect("one"), &e) {
            runs.push(Vec::new());
        }
        runs.last_mut().expect("one").push(e);
    }
    let Some(events) = runs.into_iter().rev().find(|r| r.iter().any(|e| matches!(e, Event::Start(_)))) else {
        return Err(replay::ReplayError::Empty { path: path.display().to_string() }.into());
    };
    let (tx, rx) = bounded(1024);
    let (wtx, wrx) = bounded(256);
    for w in first.warnings {
        let _ = wtx.try_send(w);
    }
    thread::Builder::new()
        .name("watch-log".into())
        .spawn(move || {
            loop {
                thread::sleep(POLL);
                let read = tail.poll();
                for w in read.warnings {
                    let _ = wtx.try_send(w);
                }
                // The dashboard gone, the thread ends at its next event (or
                // with the process).
                for e in read.events {
                    if tx.send(e).is_err() {
                        return;
                    }
                }
            }
        })
        .map_err(|source| IngestError::Unreadable { path: path.to_path_buf(), source })?;
    Ok(FollowingLog { events, appended: rx, warnings: wrx })
}

/// A followed external run: its events arrive on `events` as the files
/// grow (the first batch holds the `start` event and every epoch so far).
pub struct Following {
    pub events: Receiver<Event>,
    /// Warnings from the reader (a corrupt record, a rewritten file).
    pub warnings: Receiver<String>,
    pub format: Format,
    pub name: String,
}

/// Starts a thread that polls `path` every [`POLL`] and sends new or
/// changed epochs as events until the receiver is dropped.
pub fn follow(path: &Path, maps: TagMap) -> Result<Following, WatchError> {
    let mut follower = Follower::new(path, maps)?;
    let first = follower.poll()?;
    let run = follower.run().clone();
    let (tx, rx) = bounded(1024);
    let (wtx, wrx) = bounded(256);
    let (format, name) = (run.format, run.name.clone());
    thread::Builder::new()
        .name("watch".into())
        .spawn(move || follow_loop(follower, first, &tx, &wtx))
        .map_err(|source| IngestError::Unreadable { path: path.to_path_buf(), source })?;
    Ok(Following { events: rx, warnings: wrx, format, name })
}

fn follow_loop(mut follower: Follower, first: ingest::Update, tx: &Sender<Event>, warnings: &Sender<String>) {
    let run = follower.run().clone();
    let start = external::start_event(&run);
    let spe = external::steps_per_epoch(&run);
    let mut first_wall = run.epochs.iter().find_map(|e| e.wall_time);
    if tx.send(start).is_err() {
        return;
    }
    let mut update = first;
    loop {
        for w in update.warnings.drain(..) {
            let _ = warnings.try_send(w);
        }
        // Weight histograms feed the Weights panel, the latest per tag.
        if !update.histograms.is_empty()
            && let Some(stats) = external::stats_event(&follower.run().histograms)
            && tx.send(stats).is_err()
        {
            return;
        }
        let epochs = if update.reset { follower.run().epochs.clone() } else { std::mem::take(&mut update.epochs) };
        for e in &epochs {
            first_wall = first_wall.or(e.wall_time);
            if tx.send(external::epoch_event(e, spe, first_wall)).is_err() {
                return;
            }
        }
        thread::sleep(POLL);
        update = match follower.poll() {
            Ok(u) => u,
            // The file may be mid-rewrite: say so and keep polling.
            Err(e) => {
                let _ = warnings.try_send(e.to_string());
                ingest::Update::default()
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external").join(rel)
    }

    #[test]
    fn a_followed_csv_sends_its_epochs_as_they_are_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        std::fs::write(&path, "epoch,loss,accuracy,val_loss,val_accuracy\n0,1.0,0.5,1.1,0.45\n").unwrap();
        let f = follow(&path, TagMap::new()).unwrap();
        assert!(matches!(f.events.recv_timeout(Duration::from_secs(5)), Ok(Event::Start(_))));
        assert!(matches!(f.events.recv_timeout(Duration::from_secs(5)), Ok(Event::Epoch(e)) if e.epoch == 1));
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        writeln!(file, "1,0.5,0.8,0.7,0.75").unwrap();
        drop(file);
        match f.events.recv_timeout(Duration::from_secs(5)) {
            Ok(Event::Epoch(e)) => assert_eq!((e.epoch, e.val_acc), (2, 0.75)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn diagnose_reads_a_keras_csv_fixture() {
        let dir = fixture("keras-csv");
        let Some(file) = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains("overfit")))
        else {
            panic!("no overfit fixture in {}", dir.display())
        };
        let mut out = Vec::new();
        diagnose(&file, &TagMap::new(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["type"], "summary");
        assert!(text.lines().count() > 5);
    }
}
