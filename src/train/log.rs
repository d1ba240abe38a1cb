//! The run log (`--metrics FILE`): every event as one JSON line, appended,
//! flushed after each event that is not a step metric, so a crash loses at
//! most a few step lines. The TUI and the headless runner both write it.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::Event;

pub struct RunLog {
    out: BufWriter<File>,
}

impl RunLog {
    /// Opens `path` for appending (created if missing).
    pub fn open(path: &Path) -> io::Result<RunLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(RunLog { out: BufWriter::new(file) })
    }

    pub fn record(&mut self, event: &Event) -> io::Result<()> {
        self.record_line(event, !event.is_coalescable())
    }

    /// Writes any serializable line (the summary with its diagnosis),
    /// flushing when `flush`.
    pub fn record_line(&mut self, line: &impl serde::Serialize, flush: bool) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, line)?;
        self.out.write_all(b"\n")?;
        if flush {
            self.out.flush()?;
        }
        Ok(())
    }
}

impl Drop for RunLog {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}
