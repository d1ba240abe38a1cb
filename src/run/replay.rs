//! Reading a recorded run log (`--metrics FILE`) back into events and runs:
//! the log is the run's events as JSON lines, so a [`Run`] rebuilt from it
//! is the run as it was shown live. A `restart` line starts the next run.

use std::io::BufRead;
use std::path::Path;

use super::Run;
use crate::preset::Preset;
use crate::train::Event;

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
/// cut mid-write (no newline, not valid JSON) is left for later, not an error.
pub fn read_log(path: &Path) -> Result<Vec<Vec<Event>>, ReplayError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ReplayError::Read { path: name.clone(), source })?;
    let mut runs: Vec<Vec<Event>> = vec![Vec::new()];
    let mut lines = std::io::BufReader::new(file).lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let line = line.map_err(|source| ReplayError::Read { path: name.clone(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = match serde_json::from_str(&line) {
            Ok(e) => e,
            Err(_) if lines.peek().is_none() => break,
            Err(e) => return Err(ReplayError::Line { path: name, line: i + 1, message: e.to_string() }),
        };
        match event {
            Event::Restart { .. } => runs.push(vec![event]),
            e => runs.last_mut().expect("starts with one").push(e),
        }
    }
    runs.retain(|r| r.iter().any(|e| matches!(e, Event::Start(_))));
    if runs.is_empty() {
        return Err(ReplayError::Empty { path: name });
    }
    Ok(runs)
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
