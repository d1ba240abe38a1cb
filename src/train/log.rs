//! The run log (`--metrics FILE`): every event as one JSON line, appended.
//! The TUI and the headless runner both write it.
//!
//! Each line is serialized whole, then handed to the file in one
//! `write_all` (no user-space buffer), so a killed process leaves whole
//! lines. If a write fails part-way (a full disk, a file-size limit), the
//! file is cut back to the last whole line. A write error never stops the
//! run: the log keeps the error, reports it once ([`RunLog::append`] or
//! [`RunLog::take_failure`], for a notice), writes nothing more, and says so
//! on stderr when it is dropped (after the dashboard has restored the
//! terminal).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Why the log stopped: the error and how many lines it holds.
#[derive(Debug)]
pub struct LogFailure {
    pub path: PathBuf,
    pub lines: u64,
    pub error: io::Error,
}

impl std::fmt::Display for LogFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: the run log stopped after {} lines: {}; the run goes on",
            self.path.display(),
            self.lines,
            self.error
        )
    }
}

/// An error opening the run log: its path and the cause.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot write the run log: {source}", path.display())]
pub struct OpenError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

pub struct RunLog {
    file: File,
    path: PathBuf,
    /// The file's length after the last whole line: where a failed write is cut back to.
    len: u64,
    lines: u64,
    /// Set on the first failed write; from then on nothing is written.
    failure: Option<LogFailure>,
    /// The failure was handed out by `append` or `take_failure`.
    reported: bool,
    line: Vec<u8>,
}

impl RunLog {
    /// Opens `path` for appending (created if missing). A path that cannot
    /// take a line is refused here, before the run starts: a directory, a
    /// read-only file, or a device that refuses every write (`/dev/full`).
    pub fn open(path: &Path) -> io::Result<RunLog> {
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        // An empty write reaches the device: /dev/full answers ENOSPC.
        let _empty: usize = file.write(&[])?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(RunLog { file, path: path.to_path_buf(), len, lines: 0, failure: None, reported: false, line: Vec::new() })
    }

    /// [`RunLog::open`] with the path in the error.
    pub fn open_named(path: &Path) -> Result<RunLog, OpenError> {
        RunLog::open(path).map_err(|source| OpenError { path: path.to_path_buf(), source })
    }

    /// Appends one line (an event, or the summary with its diagnosis).
    /// Returns the failure the first time a write fails (show it to the
    /// user); after that, and otherwise, `None`.
    pub fn append(&mut self, line: &impl serde::Serialize) -> Option<&LogFailure> {
        if self.write(line) {
            self.reported = true;
            return self.failure.as_ref();
        }
        None
    }

    /// The failure, once, if [`RunLog::append`] has not handed it out.
    pub fn take_failure(&mut self) -> Option<&LogFailure> {
        if self.reported {
            return None;
        }
        self.reported = true;
        self.failure.as_ref()
    }

    /// Writes one line unless logging stopped; true when this write failed.
    fn write(&mut self, event: &impl serde::Serialize) -> bool {
        if self.failure.is_some() {
            return false;
        }
        self.line.clear();
        let written = serde_json::to_writer(&mut self.line, event)
            .map_err(io::Error::from)
            .and_then(|()| {
                self.line.push(b'\n');
                self.file.write_all(&self.line)
            })
            .and_then(|()| self.file.flush());
        match written {
            Ok(()) => {
                self.len += self.line.len() as u64;
                self.lines += 1;
                false
            }
            Err(error) => {
                // A partial line is cut off, so the log stays whole lines.
                if let Ok(now) = self.file.metadata().map(|m| m.len())
                    && now > self.len
                {
                    let _ = self.file.set_len(self.len);
                }
                self.failure = Some(LogFailure { path: self.path.clone(), lines: self.lines, error });
                true
            }
        }
    }

    /// Whether logging stopped on an error.
    pub fn failed(&self) -> Option<&LogFailure> {
        self.failure.as_ref()
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }
}

impl Drop for RunLog {
    fn drop(&mut self) {
        if let Some(f) = &self.failure {
            let _ = writeln!(io::stderr(), "fitcheck: {f}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize) -> crate::train::Event {
        crate::train::Event::Paused { step: i as u64 }
    }

    #[test]
    fn lines_are_whole_and_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, "{\"type\":\"earlier\"}\n").unwrap();
        let mut log = RunLog::open(&path).unwrap();
        for i in 0..3 {
            assert!(log.append(&event(i)).is_none());
        }
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[3]["step"], 2);
    }

    #[test]
    fn a_directory_or_dev_full_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let err = RunLog::open_named(dir.path()).err().expect("a directory is refused");
        assert!(err.to_string().starts_with(&format!("{}: cannot write the run log", dir.path().display())), "{err}");
        if Path::new("/dev/full").exists() {
            let err = RunLog::open(Path::new("/dev/full")).err().expect("/dev/full is refused");
            assert_eq!(err.raw_os_error(), Some(28), "ENOSPC: {err}");
        }
    }
}
