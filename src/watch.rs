//! Runs trained elsewhere, and recorded runs, through the same run model:
//! `fitcheck diagnose PATH` (headless: the epochs understood, then the
//! summary with the diagnosis) and the sources `fitcheck watch PATH` feeds
//! the dashboard from — a follower thread that polls a growing log and
//! sends its epochs as events, or a recorded fitcheck run log to replay,
//! tailed while a run in progress still appends to it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use crate::ingest::{self, ExternalRun, Follower, Format, IngestError, StreamReader, TagMap};
use crate::protocol::{Event, Stopped, Summary};
use crate::run::SummaryLine;
use crate::run::{Run, external, replay};

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

/// Reads PATH whole: a recorded fitcheck log, or an external run (`-`:
/// standard input, read to its end).
pub fn load(path: &Path, maps: &TagMap) -> Result<Source, WatchError> {
    if is_stdin(path) {
        let run = ingest::read_stream(std::io::stdin().lock(), Path::new(ingest::STDIN_NAME), maps)?;
        return Ok(Source::External(run));
    }
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
                model.settle();
                model
            }
        }
    }
}

/// `fitcheck diagnose PATH`: DESIGN's epoch lines for every epoch
/// understood, then the summary line with the diagnosis.
pub fn diagnose(path: &Path, maps: &TagMap, out: &mut impl Write) -> Result<(), WatchError> {
    let source = load(path, maps)?;
    // What the reader skipped or could not trust goes to stderr, one line
    // each with its file and offset or line: the summary alone would hide
    // that half a file was not read.
    let skipped = match &source {
        Source::External(ext) => {
            for w in &ext.warnings {
                eprintln!("fitcheck: warning: {w}");
            }
            ext.skipped
        }
        Source::Recorded { .. } => 0,
    };
    let run = source.run();
    let mut write = |line: &dyn erased_serialize::Line| -> Result<(), WatchError> {
        line.write_to(out).and_then(|()| out.write_all(b"\n")).map_err(WatchError::Output)
    };
    for e in &run.epochs {
        write(&Event::Epoch(e.clone()))?;
    }
    let summary = match (&run.summary, &source) {
        (Some(s), _) if !run.external => s.clone(),
        // A recorded log that ends without its summary was cut mid-run (or
        // is still being written): the run did not complete as far as the
        // log knows, and it once said "completed".
        (None, Source::Recorded { path, .. }) => {
            eprintln!(
                "fitcheck: warning: {}: the log ends after epoch {} without the run's summary \
                 (cut mid-run, or still being written); reported as interrupted",
                path.display(),
                run.epochs.last().map_or(0, |e| e.epoch)
            );
            Summary { stopped: Stopped::Interrupted, ..external::summary(&run) }
        }
        _ => external::summary(&run),
    };
    let event = Event::Summary(summary);
    // How much of the input was skipped (corrupt records, bad lines: each
    // said on stderr above), so a summary is never read as the whole file.
    #[derive(serde::Serialize)]
    struct DiagnoseSummary<'a> {
        #[serde(flatten)]
        line: SummaryLine<'a>,
        skipped: usize,
    }
    write(&DiagnoseSummary { line: SummaryLine { event: &event, diagnosis: run.diagnosis() }, skipped })?;
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
        replay::place(&mut runs, e);
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
    /// Dropping it ends the follower thread at its next poll (the run
    /// picker switches runs; a quiet run would otherwise never notice
    /// that nobody listens).
    pub alive: Sender<()>,
}

/// Starts a thread that polls `path` every [`POLL`] and sends new or
/// changed epochs as events until the receiver is dropped. PATH `-` is
/// standard input ([`follow_stream`]).
pub fn follow(path: &Path, maps: TagMap) -> Result<Following, WatchError> {
    if is_stdin(path) {
        use std::io::IsTerminal;
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Err(IngestError::Malformed {
                path: ingest::STDIN_NAME.into(),
                detail: "it is a terminal, not a pipe; pipe a log into it (tail -f train.jsonl | fitcheck watch -)"
                    .into(),
            }
            .into());
        }
        return follow_stream(stdin, maps);
    }
    let mut follower = Follower::new(path, maps)?;
    let first = follower.poll()?;
    let run = follower.run().clone();
    let (tx, rx) = bounded(1024);
    let (wtx, wrx) = bounded(256);
    let (format, name) = (run.format, run.name.clone());
    let (alive, alive_rx) = bounded(0);
    thread::Builder::new()
        .name("watch".into())
        .spawn(move || follow_loop(follower, first, &tx, &wtx, &alive_rx))
        .map_err(|source| IngestError::Unreadable { path: path.to_path_buf(), source })?;
    Ok(Following { events: rx, warnings: wrx, format, name, alive })
}

/// PATH `-`: standard input, not a file (`./-` names a file called `-`).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Turns a follower's updates into the dashboard's events: the `start`
/// event first, then new or changed epochs and the latest weight histograms.
struct EpochSender {
    /// The bridge status last sent (a change is sent after the epochs).
    bridge: Option<Box<ingest::BridgeStatus>>,
    steps_per_epoch: u64,
    first_wall: Option<f64>,
    tx: Sender<Event>,
    warnings: Sender<String>,
}

impl EpochSender {
    /// Sends the `start` event of `run`; `None` when nobody listens.
    fn start(run: &ExternalRun, tx: Sender<Event>, warnings: Sender<String>) -> Option<EpochSender> {
        tx.send(external::start_event(run)).ok()?;
        let first_wall = run.epochs.iter().find_map(|e| e.wall_time);
        Some(EpochSender { bridge: None, steps_per_epoch: external::steps_per_epoch(run), first_wall, tx, warnings })
    }

    /// False when nobody listens any more.
    fn send(&mut self, run: &ExternalRun, update: &mut ingest::Update) -> bool {
        for w in update.warnings.drain(..) {
            let _ = self.warnings.try_send(w);
        }
        // Weight histograms feed the Weights panel, the latest per tag.
        if !update.histograms.is_empty()
            && let Some(stats) = external::stats_event(&run.histograms)
            && self.tx.send(stats).is_err()
        {
            return false;
        }
        // Rebuilt from the start (a file truncated, replaced or recreated:
        // a restarted script, a shorter run in its place): a new run on
        // screen, the old one kept as a ghost, rather than the new epochs
        // written over the old ones.
        if update.restarted {
            let restart = Event::Restart { preset: run.name.clone(), seed: 0 };
            if self.tx.send(restart).is_err() || self.tx.send(external::start_event(run)).is_err() {
                return false;
            }
            self.first_wall = run.epochs.iter().find_map(|e| e.wall_time);
        }
        if update.reset && !update.restarted && self.tx.send(Event::Rebuilt).is_err() {
            return false;
        }
        let epochs = if update.reset { run.epochs.clone() } else { std::mem::take(&mut update.epochs) };
        for e in &epochs {
            self.first_wall = self.first_wall.or(e.wall_time);
            if self.tx.send(external::epoch_event(e, self.steps_per_epoch, self.first_wall)).is_err() {
                return false;
            }
        }
        // After the epochs: a loop that paused did so after its last line.
        if run.bridge != self.bridge {
            self.bridge = run.bridge.clone();
            if let Some(status) = &run.bridge
                && self.tx.send(Event::Bridge(status.as_ref().clone())).is_err()
            {
                return false;
            }
        }
        true
    }
}

fn follow_loop(
    mut follower: Follower,
    first: ingest::Update,
    tx: &Sender<Event>,
    warnings: &Sender<String>,
    alive: &Receiver<()>,
) {
    let Some(mut sender) = EpochSender::start(follower.run(), tx.clone(), warnings.clone()) else { return };
    let mut update = first;
    loop {
        if !sender.send(follower.run(), &mut update) {
            return;
        }
        thread::sleep(POLL);
        if matches!(alive.try_recv(), Err(crossbeam_channel::TryRecvError::Disconnected)) {
            return;
        }
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

/// Reads `input` on a thread of its own, in chunks as they come; an empty
/// chunk is the end of the stream.
fn spawn_chunks<R: Read + Send + 'static>(mut input: R) -> Result<Receiver<std::io::Result<Vec<u8>>>, WatchError> {
    let (tx, rx) = bounded(64);
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let chunk = match input.read(&mut buf) {
                    Ok(n) => Ok(buf[..n].to_vec()),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let last = !matches!(&chunk, Ok(c) if !c.is_empty());
                if tx.send(chunk).is_err() || last {
                    return;
                }
            }
        })
        .map_err(|e| WatchError::Ingest(IngestError::unreadable(ingest::STDIN_NAME, e)))?;
    Ok(rx)
}

/// Follows a stream (`watch -`: standard input) until it ends: waits for
/// its first complete line (the format, by content: JSON lines, CSV or
/// TensorBoard records; a wrong one is an error here, before the dashboard
/// opens), then a thread sends its epochs as they come and, at the end of
/// the stream, closes `events` (the dashboard then says "stream ended").
pub fn follow_stream<R: Read + Send + 'static>(input: R, maps: TagMap) -> Result<Following, WatchError> {
    let name = Path::new(ingest::STDIN_NAME);
    let chunks = spawn_chunks(input)?;
    let mut reader = StreamReader::new(name, maps);
    let mut said_waiting = false;
    let mut first = ingest::Update::default();
    let mut ended = false;
    while reader.format().is_none() {
        match chunks.recv_timeout(Duration::from_secs(1)) {
            Ok(Ok(bytes)) if !bytes.is_empty() => first = reader.push(&bytes)?,
            Ok(Ok(_)) | Err(RecvTimeoutError::Disconnected) => {
                first = reader.end()?;
                ended = true;
            }
            Ok(Err(e)) => return Err(IngestError::unreadable(name, e).into()),
            Err(RecvTimeoutError::Timeout) => {
                if !said_waiting {
                    said_waiting = true;
                    eprintln!("fitcheck: waiting for the first line on standard input");
                }
            }
        }
    }
    let run = reader.run().expect("the format is known").clone();
    let (tx, rx) = bounded(1024);
    let (wtx, wrx) = bounded(256);
    let (format, run_name) = (run.format, run.name.clone());
    thread::Builder::new()
        .name("watch".into())
        .spawn(move || stream_loop(reader, first, ended, &chunks, tx, wtx))
        .map_err(|e| WatchError::Ingest(IngestError::unreadable(name, e)))?;
    // A stream ends by itself; nothing to stop.
    let (alive, _) = bounded(0);
    Ok(Following { events: rx, warnings: wrx, format, name: run_name, alive })
}

fn stream_loop(
    mut reader: StreamReader,
    first: ingest::Update,
    mut ended: bool,
    chunks: &Receiver<std::io::Result<Vec<u8>>>,
    tx: Sender<Event>,
    warnings: Sender<String>,
) {
    let run = |r: &StreamReader| r.run().expect("started").clone();
    let Some(mut sender) = EpochSender::start(&run(&reader), tx, warnings.clone()) else { return };
    let mut update = first;
    loop {
        if !sender.send(&run(&reader), &mut update) || ended {
            // Dropping the sender closes `events`: the stream has ended.
            return;
        }
        // Everything that has come, read at once: a burst (`cat big.csv |`)
        // is assembled once, not once per chunk.
        let mut batch = Vec::new();
        let mut next = chunks.recv().map_err(|_| ());
        loop {
            match next {
                Ok(Ok(bytes)) if !bytes.is_empty() => batch.extend_from_slice(&bytes),
                Ok(Ok(_)) | Err(()) => ended = true,
                Ok(Err(e)) => {
                    let _ =
                        warnings.try_send(format!("{}: cannot read: {e}; the stream ends here", ingest::STDIN_NAME));
                    ended = true;
                }
            }
            if ended || batch.len() >= 16 << 20 {
                break;
            }
            match chunks.try_recv() {
                Ok(c) => next = Ok(c),
                Err(_) => break,
            }
        }
        update = reader.push(&batch).unwrap_or_default();
        if ended {
            let mut end = reader.end().unwrap_or_default();
            merge(&mut update, &mut end);
        }
    }
}

/// Appends `later` to `update` (two reads sent as one).
fn merge(update: &mut ingest::Update, later: &mut ingest::Update) {
    update.reset |= later.reset;
    update.restarted |= later.restarted;
    for e in later.epochs.drain(..) {
        match update.epochs.iter_mut().find(|u| u.epoch == e.epoch) {
            Some(u) => *u = e,
            None => update.epochs.push(e),
        }
    }
    update.histograms.append(&mut later.histograms);
    update.warnings.append(&mut later.warnings);
    update.new_tags.append(&mut later.new_tags);
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
