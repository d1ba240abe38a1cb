//! A run read from a stream rather than a file (`fitcheck watch -`:
//! standard input, typically `ssh gpu-box tail -f train.jsonl | ...`).
//!
//! The format is judged by content, as for a file, once the first line (or
//! TFRecord header) is complete: JSON lines, CSV or TensorBoard records. The
//! bytes then go to a [`Follower`] in stream mode, which parses and
//! assembles them as it would a growing file. A stream cannot be read again,
//! so the formats that are rewritten rather than appended (a Hugging Face
//! `trainer_state.json`) and fitcheck's own log (replayed from its path) are
//! refused with an error that says what to do.
//!
//! At the end of the stream a last JSON line without its newline is read if
//! it is a whole JSON object (a cut one cannot parse); a last CSV line
//! without its newline is left out with a warning, since a cell cut short
//! (`0.41` of `0.4123`) would still read as a number.

use std::path::{Path, PathBuf};

use super::ExternalRun;
use super::detect::{Format, Sniff, sniff};
use super::error::IngestError;
use super::follow::{Follower, Update};
use super::tags::TagMap;

/// The name a stream goes by in messages and as the run's source.
pub const STDIN_NAME: &str = "standard input";

/// Reads one run from pushed chunks of a stream.
#[derive(Debug)]
pub struct StreamReader {
    name: PathBuf,
    maps: TagMap,
    /// Bytes before the format is known.
    head: Vec<u8>,
    follower: Option<Follower>,
}

impl StreamReader {
    /// `name` names the stream in messages (see [`STDIN_NAME`]).
    pub fn new(name: &Path, maps: TagMap) -> StreamReader {
        StreamReader { name: name.to_path_buf(), maps, head: Vec::new(), follower: None }
    }

    /// The format, once the first line has come.
    pub fn format(&self) -> Option<Format> {
        self.follower.as_ref().map(Follower::format)
    }

    /// Everything understood so far (nothing before the format is known).
    pub fn run(&self) -> Option<&ExternalRun> {
        self.follower.as_ref().map(Follower::run)
    }

    /// Takes the next bytes of the stream. Errors: the first line is not a
    /// format a stream can carry.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Update, IngestError> {
        if let Some(f) = &mut self.follower {
            return Ok(f.push(bytes));
        }
        self.head.extend_from_slice(bytes);
        self.start(false)
    }

    /// The stream has ended: what was waiting is read (see the module
    /// docs). Errors: it ended before the format could be told, or in a
    /// format a stream cannot carry.
    pub fn end(&mut self) -> Result<Update, IngestError> {
        if self.follower.is_none() {
            let mut update = self.start(true)?;
            if self.follower.is_none() {
                return Err(IngestError::Malformed {
                    path: self.name.clone(),
                    detail: "the stream ended before its first complete line".into(),
                });
            }
            let end = self.follower.as_mut().expect("started").end_stream();
            update.epochs = self.run().map(|r| r.epochs.clone()).unwrap_or_default();
            update.reset = true;
            update.warnings.extend(end.warnings);
            return Ok(update);
        }
        Ok(self.follower.as_mut().expect("started").end_stream())
    }

    /// Judges the first bytes; once a format is known, the follower starts
    /// with every byte kept so far.
    fn start(&mut self, complete: bool) -> Result<Update, IngestError> {
        let format = match sniff(&self.head, complete) {
            Sniff::NotYet => return Ok(Update::default()),
            Sniff::Unknown(detail) => return Err(IngestError::UnknownFormat { path: self.name.clone(), detail }),
            Sniff::Format(f @ (Format::JsonLines | Format::Csv | Format::TensorBoard)) => f,
            Sniff::Format(Format::FitcheckLog) => {
                return Err(IngestError::Malformed {
                    path: self.name.clone(),
                    detail: "it is a fitcheck run log; give its path instead (fitcheck watch FILE) to replay it".into(),
                });
            }
            Sniff::Format(other) => {
                return Err(IngestError::Malformed {
                    path: self.name.clone(),
                    detail: format!(
                        "it holds a {other}, which its writer rewrites whole rather than appends to; give its path instead"
                    ),
                });
            }
        };
        let mut follower = Follower::from_stream(&self.name, format, self.maps.clone());
        let update = follower.push(&std::mem::take(&mut self.head));
        self.follower = Some(follower);
        Ok(update)
    }
}

/// Reads a whole stream (to its end) as one run, for `diagnose -`.
/// Errors as [`StreamReader`], a read error, or no loss or accuracy at all.
pub fn read_stream(mut input: impl std::io::Read, name: &Path, maps: &TagMap) -> Result<ExternalRun, IngestError> {
    let mut reader = StreamReader::new(name, maps.clone());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(IngestError::unreadable(name, e)),
        };
        reader.push(&buf[..n])?;
    }
    reader.end()?;
    let run = reader.run().cloned().expect("ended with a format");
    run.require_metrics()?;
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> PathBuf {
        PathBuf::from(STDIN_NAME)
    }

    #[test]
    fn the_format_is_told_once_the_first_line_is_whole() {
        let mut r = StreamReader::new(&name(), TagMap::new());
        assert_eq!(r.push(b"epoch,loss,val_lo").unwrap(), Update::default());
        assert_eq!(r.format(), None);
        let u = r.push(b"ss\n0,1.0,1.2\n1,0.5,0.9\n2,0.3,0.").unwrap();
        assert_eq!(r.format(), Some(Format::Csv));
        assert_eq!(u.epochs.len(), 2);
        // The cut last line is not read as 0.
        let end = r.end().unwrap();
        assert!(end.epochs.is_empty());
        assert!(end.warnings.iter().any(|w| w.contains("standard input:4") && w.contains("left out")), "{end:?}");
        assert_eq!(r.run().unwrap().epochs.len(), 2);
    }

    #[test]
    fn a_whole_last_json_line_without_newline_is_read_and_a_cut_one_is_not() {
        let mut r = StreamReader::new(&name(), TagMap::new());
        r.push(b"{\"step\":1,\"train_loss\":1.0,\"val_loss\":1.1}\n{\"step\":2,\"train_loss\":0.5,\"val_loss\":0.9}")
            .unwrap();
        assert_eq!(r.run().unwrap().epochs.len(), 1, "the second line waits for its newline");
        r.end().unwrap();
        assert_eq!(r.run().unwrap().epochs.len(), 2);
        let mut cut = StreamReader::new(&name(), TagMap::new());
        cut.push(b"{\"step\":1,\"train_loss\":1.0,\"val_loss\":1.1}\n{\"step\":2,\"val_loss\":0.9").unwrap();
        let end = cut.end().unwrap();
        assert_eq!(cut.run().unwrap().epochs.len(), 1);
        assert!(end.warnings.iter().any(|w| w.contains("standard input:2: not JSON")), "{end:?}");
    }

    #[test]
    fn a_stream_too_short_or_in_another_format_is_a_clear_error() {
        let cases: [(&[u8], &str); 5] = [
            (b"", "ended before its first complete line"),
            (b"{\"type\":\"start\"}\n", "fitcheck run log"),
            (b"{\n  \"log_history\": []\n}\n", "trainer_state.json"),
            (b"1,2,3\n", "without a header"),
            (b"hello\n", "neither a CSV header nor a JSON object"),
        ];
        for (bytes, says) in cases {
            let err = read_stream(bytes, &name(), &TagMap::new()).expect_err("refused");
            let msg = err.to_string();
            assert!(msg.starts_with("standard input"), "{msg}");
            assert!(msg.contains(says), "{msg}");
        }
        let err = read_stream(&b"epoch,speed\n0,1\n"[..], &name(), &TagMap::new()).expect_err("no metrics");
        assert!(err.to_string().contains("found tags: speed"), "{err}");
    }

    #[test]
    fn a_stream_of_tensorboard_records_reads_as_a_file_would() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/external/tbx/overfit");
        let file = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).next().unwrap();
        let bytes = std::fs::read(&file).unwrap();
        let whole = crate::ingest::read_run(&file, &TagMap::new()).unwrap();
        let mut r = StreamReader::new(&name(), TagMap::new());
        // In chunks that cut records anywhere.
        for chunk in bytes.chunks(97) {
            r.push(chunk).unwrap();
        }
        r.end().unwrap();
        assert_eq!(r.run().unwrap().epochs, whole.epochs);
    }
}
