//! Reading a recorded run log (`--metrics FILE`) back into events and runs:
//! the log is the run's events as JSON lines, so a [`Run`] rebuilt from it
//! is the run as it was shown live. A `restart` line, or a second `start`
//! (a later `fitcheck run` appending to the same file), starts the next run.
//! [`LogTail`] follows a log that a run in progress is still writing.

use std::path::Path;

use super::Run;
use crate::preset::Preset;
use crate::protocol::Event;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{path}: cannot read the run log: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}:{line}: not a fitcheck run-log line: {message}")]
    Line { path: String, line: usize, message: String },
    #[error("{path}: no run in this log (no `start` line)")]
    Empty { path: String },
}

/// The events of every run in a log, split at `restart` lines. A last line
/// cut mid-write (not valid JSON) is left for later, not an error. Read a
/// chunk at a time; a line over `bounded::MAX_LINE` (or not UTF-8, or not
/// an event) is an error naming the file and line.
pub fn read_log(path: &Path) -> Result<Vec<Vec<Event>>, ReplayError> {
    use crate::ingest::bounded::{MAX_LINE, READ_CHUNK, human, read_chunk};
    let name = path.display().to_string();
    let read_err = |source| ReplayError::Read { path: name.clone(), source };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    let mut runs: Vec<Vec<Event>> = vec![Vec::new()];
    let mut buffer = crate::ingest::lines::LineBuffer::new();
    // A line that failed: an error only if another line follows it.
    let mut failed: Option<(usize, String)> = None;
    let mut pos = 0;
    loop {
        let bytes = read_chunk(&mut file, pos).map_err(read_err)?;
        pos += bytes.len() as u64;
        let end = bytes.len() < READ_CHUNK;
        let mut lines = buffer.feed(&bytes);
        if let Some(n) = buffer.take_overlong().first() {
            let message = format!("a line longer than {}; not a run log", human(MAX_LINE as u64));
            return Err(ReplayError::Line { path: name, line: *n, message });
        }
        lines.extend(end.then(|| buffer.take_partial()).flatten());
        for (n, line) in lines {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Some((line, message)) = failed.take() {
                return Err(ReplayError::Line { path: name, line, message });
            }
            match serde_json::from_slice::<Event>(&line) {
                Ok(event) => place(&mut runs, event),
                Err(e) => failed = Some((n, e.to_string())),
            }
        }
        if end {
            break;
        }
    }
    runs.retain(|r| r.iter().any(|e| matches!(e, Event::Start(_))));
    if runs.is_empty() {
        return Err(ReplayError::Empty { path: name });
    }
    Ok(runs)
}

/// Puts the next event of a log in its run (`runs`, oldest first, never
/// empty): a new run at [`starts_next_run`], else the newest one. Logs
/// written before the session held a new run's lines back (issue 22) have
/// the stopped run's last epoch and `interrupted` summary after the
/// `restart` line: a line between a `restart` and the new run's `start`
/// belongs to the run before.
pub fn place(runs: &mut Vec<Vec<Event>>, event: Event) {
    let n = runs.len();
    let current = &runs[n - 1];
    if starts_next_run(current, &event) {
        runs.push(vec![event]);
        return;
    }
    let awaiting_start = matches!(current.as_slice(), [Event::Restart { .. }]);
    let to = if awaiting_start && !matches!(event, Event::Start(_)) && n > 1 { n - 2 } else { n - 1 };
    runs[to].push(event);
}

/// True when `event` begins a run after the events of `current`: a
/// `restart` line, or a `start` when `current` has one already (each
/// `fitcheck run --metrics FILE` appends its run to the same file).
pub fn starts_next_run(current: &[Event], event: &Event) -> bool {
    match event {
        Event::Restart { .. } => true,
        Event::Start(_) => current.iter().any(|e| matches!(e, Event::Start(_))),
        _ => false,
    }
}

/// What one [`LogTail::poll`] read.
#[derive(Debug, Default)]
pub struct TailRead {
    /// Events of the lines completed since the last poll, in order.
    pub events: Vec<Event>,
    /// The file was replaced or cut shorter: `events` start again from its
    /// first line.
    pub reset: bool,
    /// Lines that are not run-log lines (with file and line number), a
    /// file that went away or was replaced.
    pub warnings: Vec<String>,
}

/// Follows a run log as `fitcheck run --metrics FILE` (or the dashboard)
/// appends to it. Each poll reads only the bytes added since the last one;
/// a last line without its newline waits for the next poll (the writer
/// appends a line in one write, but a reader can still land in the middle).
/// A file that shrinks or is replaced (another inode) is read again from
/// the start; a file that disappears is said once, and the tail waits for it
/// to come back.
#[derive(Debug)]
pub struct LogTail {
    path: std::path::PathBuf,
    pos: u64,
    lines: crate::ingest::lines::LineBuffer,
    /// The file's identity (device, inode) on Unix, to notice a replacement.
    id: Option<(u64, u64)>,
    missing: bool,
}

impl LogTail {
    pub fn new(path: &Path) -> LogTail {
        LogTail {
            path: path.to_path_buf(),
            pos: 0,
            lines: crate::ingest::lines::LineBuffer::new(),
            id: None,
            missing: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads what was appended since the last poll. Never fails: problems
    /// are warnings (once each), and the next poll tries again.
    pub fn poll(&mut self) -> TailRead {
        let mut out = TailRead::default();
        let name = self.path.display().to_string();
        let opened = std::fs::File::open(&self.path).and_then(|f| f.metadata().map(|m| (f, m)));
        let (mut file, meta) = match opened {
            Ok(x) => x,
            Err(e) => {
                if !self.missing {
                    self.missing = true;
                    out.warnings.push(format!("{name}: {e}; showing what was read before, waiting for it to return"));
                }
                return out;
            }
        };
        let id = file_id(&meta);
        let replaced = self.missing || (self.id.is_some() && id != self.id) || meta.len() < self.pos;
        self.missing = false;
        self.id = id;
        if replaced {
            out.warnings.push(format!("{name} was replaced or cut shorter; reading it again from the start"));
            out.reset = true;
            self.pos = 0;
            self.lines = crate::ingest::lines::LineBuffer::new();
        }
        // A chunk at a time, so a huge append is never one buffer.
        loop {
            let bytes = match crate::ingest::bounded::read_chunk(&mut file, self.pos) {
                Ok(b) => b,
                Err(e) => {
                    out.warnings.push(format!("{name}: cannot read: {e}"));
                    return out;
                }
            };
            self.pos += bytes.len() as u64;
            for (n, line) in self.lines.feed(&bytes) {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<Event>(&line) {
                    Ok(e) => out.events.push(e),
                    Err(e) => out.warnings.push(format!("{name}:{n}: not a fitcheck run-log line ({e}); skipped")),
                }
            }
            self.lines.overlong_warnings(&self.path, &mut out.warnings);
            if bytes.len() < crate::ingest::bounded::READ_CHUNK {
                return out;
            }
        }
    }
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The settings a run started with, from its `start` event (or `fallback`).
pub fn settings_of(events: &[Event], fallback: &Preset) -> Preset {
    events
        .iter()
        .find_map(|e| match e {
            Event::Start(info) => info.settings.as_deref().cloned(),
            _ => None,
        })
        .unwrap_or_else(|| fallback.clone())
}

impl Run {
    /// The run as the first `n` events left it (all of them with `usize::MAX`).
    pub fn from_events(settings: Preset, events: &[Event], n: usize) -> Run {
        let mut run = Run::new(settings);
        for e in events.iter().take(n) {
            run.apply(e);
        }
        run.settle();
        run
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn restart(seed: u64) -> String {
        format!("{{\"type\":\"restart\",\"preset\":\"p\",\"seed\":{seed}}}\n")
    }

    fn seeds(read: &TailRead) -> Vec<u64> {
        read.events
            .iter()
            .filter_map(|e| match e {
                Event::Restart { seed, .. } => Some(*seed),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_tail_reads_appended_lines_and_waits_for_a_half_written_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        std::fs::write(&path, restart(1)).unwrap();
        let mut tail = LogTail::new(&path);
        assert_eq!(seeds(&tail.poll()), [1]);
        assert!(tail.poll().events.is_empty(), "nothing new");
        let line = restart(2);
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&line.as_bytes()[..10]).unwrap();
        let half = tail.poll();
        assert!(half.events.is_empty() && half.warnings.is_empty(), "{half:?}");
        f.write_all(&line.as_bytes()[10..]).unwrap();
        f.write_all(b"{\"type\":\"nonsense\"}\n").unwrap();
        let rest = tail.poll();
        assert_eq!(seeds(&rest), [2]);
        assert_eq!(rest.warnings.len(), 1);
        assert!(rest.warnings[0].contains("run.jsonl:3: not a fitcheck run-log line"), "{:?}", rest.warnings);
    }

    #[test]
    fn a_tail_notices_a_deleted_replaced_or_shortened_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        std::fs::write(&path, restart(1) + &restart(2)).unwrap();
        let mut tail = LogTail::new(&path);
        assert_eq!(seeds(&tail.poll()), [1, 2]);
        std::fs::remove_file(&path).unwrap();
        let gone = tail.poll();
        assert!(gone.warnings[0].contains("waiting for it to return"), "{:?}", gone.warnings);
        assert!(tail.poll().warnings.is_empty(), "said once");
        // Back, as another file that is longer than what was read.
        std::fs::write(&path, restart(3) + &restart(4) + &restart(5)).unwrap();
        let back = tail.poll();
        assert!(back.reset);
        assert_eq!(seeds(&back), [3, 4, 5]);
        // Replaced by rename (another inode), same length.
        let other = dir.path().join("new.jsonl");
        std::fs::write(&other, restart(6) + &restart(7) + &restart(8)).unwrap();
        std::fs::rename(&other, &path).unwrap();
        let replaced = tail.poll();
        assert!(replaced.reset && replaced.warnings[0].contains("replaced"), "{replaced:?}");
        assert_eq!(seeds(&replaced), [6, 7, 8]);
        // Cut shorter in place.
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(restart(9).as_bytes()).unwrap();
        let cut = tail.poll();
        assert!(cut.reset);
        assert_eq!(seeds(&cut), [9]);
    }

    #[test]
    fn a_second_start_or_a_restart_begins_the_next_run() {
        let restart = Event::Restart { preset: "p".into(), seed: 0 };
        let start = Event::Start(crate::tui::app::tests::info());
        assert!(starts_next_run(&[], &restart));
        assert!(!starts_next_run(std::slice::from_ref(&restart), &start), "a restart line precedes its run's start");
        assert!(!starts_next_run(&[], &start));
        assert!(starts_next_run(&[restart, start.clone()], &start), "a second start: the next run");
        let summary: Event =
            serde_json::from_str(r#"{"type":"verdict","epoch":1,"verdict":"too_early","findings":[]}"#)
                .expect("a verdict line");
        assert!(!starts_next_run(&[start], &summary));
    }
}
