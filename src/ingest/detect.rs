//! Which format a file is, from its first bytes (never from its name), and
//! what a folder holds.
//!
//! - TensorBoard: the first 12 bytes are a TFRecord header whose length CRC
//!   checks (a random file passes with odds of 1 in 2^32).
//! - The Hugging Face Trainer's `trainer_state.json`: a JSON object with a
//!   top-level `"log_history"` key, on one line or pretty-printed over many
//!   (the first line alone is then `{`, not JSON).
//! - JSON lines: the first non-blank line is a JSON object. With a string
//!   `"type"` field it is fitcheck's own run log instead.
//! - CSV: the first non-blank line is a header: split by `,` `;` or tab into
//!   at least two cells, at least one of them a name (not a number).
//! - MLflow's SQLite store: the 16-byte SQLite header (whether it holds
//!   MLflow's tables is for [`super::mlflow`] to say). MLflow's file store is
//!   a folder, recognised by [`super::logdir`].

use std::io::Read;
use std::path::{Path, PathBuf};

use super::csv::{separator, split_fields};
use super::error::IngestError;
use super::jsonl::quote_non_finite;
use super::tfrecord::masked_crc32c;

/// How much of a file is looked at to recognise it.
const SNIFF_BYTES: u64 = 64 * 1024;

/// The formats an external run comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// TensorBoard event files (one file, or a run folder of them).
    TensorBoard,
    /// CSV with a header (Keras, Lightning CSVLogger).
    Csv,
    /// The minimal JSON-lines schema.
    JsonLines,
    /// The Hugging Face Trainer's `trainer_state.json` (a file, or an
    /// output folder with its checkpoints).
    HfTrainerState,
    /// fitcheck's own run log: recognised here, read by the replay code.
    FitcheckLog,
    /// MLflow's SQLite tracking store (`mlflow.db`), or one run of it.
    MlflowSqlite,
    /// A run folder of MLflow's file store (`mlruns/<experiment>/<run>`).
    MlflowFiles,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::TensorBoard => "TensorBoard event files",
            Format::Csv => "CSV",
            Format::JsonLines => "JSON lines",
            Format::HfTrainerState => "Hugging Face trainer_state.json",
            Format::FitcheckLog => "fitcheck run log",
            Format::MlflowSqlite => "MLflow SQLite store",
            Format::MlflowFiles => "MLflow file store",
        })
    }
}

/// What the first bytes of a file say.
#[derive(Debug, Clone, PartialEq)]
pub enum Sniff {
    Format(Format),
    /// Nothing complete to judge yet (empty, a partial first line or record).
    NotYet,
    Unknown(String),
}

/// Judges a file from its first bytes. `complete` says the bytes are the
/// whole file (a last line without newline then counts).
pub fn sniff(bytes: &[u8], complete: bool) -> Sniff {
    if super::mlflow::is_sqlite(bytes) {
        return Sniff::Format(Format::MlflowSqlite);
    }
    if bytes.len() >= 12 {
        let len_crc = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if masked_crc32c(&bytes[..8]) == len_crc {
            return Sniff::Format(Format::TensorBoard);
        }
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    // The first non-blank line.
    let mut rest = bytes;
    let line = loop {
        match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => {
                let line = &rest[..nl];
                rest = &rest[nl + 1..];
                if !line.iter().all(u8::is_ascii_whitespace) {
                    break line;
                }
            }
            None if complete && !rest.iter().all(u8::is_ascii_whitespace) => break rest,
            None => {
                // A first line longer than what was read is judged on what
                // there is; otherwise wait for its newline.
                if bytes.len() as u64 >= SNIFF_BYTES {
                    break rest;
                }
                // Binary data shorter than a TFRecord header may be one
                // still arriving (a stream's first chunk): wait for 12 bytes.
                return if bytes.len() >= 12 && !looks_like_text(rest) && !rest.is_empty() {
                    Sniff::Unknown("binary data that is not TFRecord framing".into())
                } else {
                    Sniff::NotYet
                };
            }
        }
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !looks_like_text(line) {
        return Sniff::Unknown(if bytes.len() >= 12 {
            "binary data that is not TFRecord framing (the first record's length CRC fails)".into()
        } else {
            "binary data".into()
        });
    }
    let text = String::from_utf8_lossy(line);
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        // Python's json writes bare NaN / Infinity: a first line with a
        // diverged value is still JSON lines.
        let parsed = serde_json::from_str::<serde_json::Value>(trimmed)
            .or_else(|e| quote_non_finite(trimmed.as_bytes()).ok_or(e).and_then(|l| serde_json::from_slice(&l)));
        return match parsed {
            Ok(serde_json::Value::Object(obj)) => {
                if obj.contains_key("log_history") {
                    Sniff::Format(Format::HfTrainerState)
                } else if obj.get("type").is_some_and(serde_json::Value::is_string) {
                    Sniff::Format(Format::FitcheckLog)
                } else {
                    Sniff::Format(Format::JsonLines)
                }
            }
            Ok(_) => Sniff::Unknown("the first line is JSON but not an object".into()),
            // A pretty-printed object: the Trainer's state when a top-level
            // key is `log_history` (the Trainer sorts its keys, so it comes
            // early); wait for more of a file still being written.
            Err(_) if super::hf::has_log_history(bytes) => Sniff::Format(Format::HfTrainerState),
            Err(_) if !complete && (bytes.len() as u64) < SNIFF_BYTES => Sniff::NotYet,
            Err(e) => Sniff::Unknown(format!("the first line starts like JSON but is not ({e})")),
        };
    }
    if let Some(sep) = separator(trimmed) {
        let cells = split_fields(trimmed, sep);
        let named = cells.iter().any(|c| {
            let c = c.trim();
            !c.is_empty() && c.parse::<f64>().is_err()
        });
        if cells.len() >= 2 && named {
            return Sniff::Format(Format::Csv);
        }
        return Sniff::Unknown("the first line looks like CSV data without a header".into());
    }
    let shown: String = trimmed.chars().take(60).collect();
    Sniff::Unknown(format!("the first line ({shown:?}) is neither a CSV header nor a JSON object"))
}

fn looks_like_text(b: &[u8]) -> bool {
    std::str::from_utf8(b).is_ok_and(|s| !s.chars().any(|c| c.is_control() && c != '\t' && c != '\r'))
}

/// Reads the first bytes of a file and judges them.
pub fn sniff_file(path: &Path) -> Result<Sniff, IngestError> {
    // Opening a FIFO blocks until a writer comes, and a device never ends:
    // only regular files are read by path (a pipe goes through `-`).
    let meta = std::fs::metadata(path).map_err(|e| IngestError::unreadable(path, e))?;
    if !meta.is_file() && !meta.is_dir() {
        return Err(IngestError::unreadable(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file (a FIFO, device or socket); pipe a stream into `fitcheck watch -` instead",
            ),
        ));
    }
    let mut f = std::fs::File::open(path).map_err(|e| IngestError::unreadable(path, e))?;
    let len = f.metadata().map_err(|e| IngestError::unreadable(path, e))?.len();
    let mut buf = Vec::new();
    (&mut f).take(SNIFF_BYTES).read_to_end(&mut buf).map_err(|e| IngestError::unreadable(path, e))?;
    Ok(sniff(&buf, len <= SNIFF_BYTES))
}

/// True for names TensorBoard writers give event files.
pub fn is_event_file_name(name: &str) -> bool {
    name.contains("tfevents")
}

/// Event files directly in `dir`, sorted by name (writers put a timestamp
/// in the name, so this is the order they were written in).
pub fn event_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| is_event_file_name(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// Sub-folders that one run is split into: Keras' TensorBoard callback
/// writes `train/` and `validation/`, a custom TF2 loop (one
/// `tf.summary.create_file_writer` per folder) often `train/` and `test/`;
/// also `val`, `eval`, ... Each holds event files. Their names prefix the
/// tags (`validation/epoch_loss`, `test/v_loss`).
pub fn split_dirs(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(PathBuf, String)> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let split = matches!(
                name.to_lowercase().as_str(),
                "train" | "training" | "validation" | "val" | "valid" | "eval" | "evaluation" | "test" | "testing"
            );
            (split && !event_files(&e.path()).is_empty()).then(|| (e.path(), name))
        })
        .collect();
    out.sort();
    out
}

/// The split folder whose tags count as validation although its name says
/// test: a `test/` (or `testing/`) folder in a run with no validation
/// folder (`validation/`, `val/`, `eval/`, ...). A loop that writes only
/// train and test evaluates its held-out set while it trains, which is what
/// the checklist compares with training; beside a real validation folder a
/// test folder is the test set and stays unmapped. Returns the folder's
/// name as written (its tag prefix without the `/`).
pub fn held_out_as_validation(splits: &[(PathBuf, String)]) -> Option<String> {
    let is = |names: &[&str], n: &str| names.contains(&n.to_lowercase().as_str());
    if splits.iter().any(|(_, n)| is(&["validation", "val", "valid", "eval", "evaluation"], n)) {
        return None;
    }
    splits.iter().find(|(_, n)| is(&["test", "testing"], n)).map(|(_, n)| n.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::tfrecord::frame_record;

    #[test]
    fn formats_are_told_apart_by_content() {
        assert_eq!(sniff(&frame_record(b"x"), true), Sniff::Format(Format::TensorBoard));
        assert_eq!(sniff(b"epoch,accuracy,loss\n0,0.5,1.0\n", true), Sniff::Format(Format::Csv));
        assert_eq!(sniff(b"\xef\xbb\xbfepoch;loss\n", true), Sniff::Format(Format::Csv));
        assert_eq!(sniff(b"\n{\"step\":1,\"val_loss\":2}\n", true), Sniff::Format(Format::JsonLines));
        assert_eq!(sniff(b"{\"type\":\"epoch\",\"epoch\":1}\n", true), Sniff::Format(Format::FitcheckLog));
        // Python's bare NaN on the first line (a diverged first value).
        assert_eq!(sniff(b"{\"step\":1,\"loss\":NaN}\n", true), Sniff::Format(Format::JsonLines));
        let state = b"{\n  \"best_metric\": null,\n  \"log_history\": [\n    {\n      \"loss\": NaN\n";
        assert_eq!(sniff(state, false), Sniff::Format(Format::HfTrainerState));
        assert_eq!(sniff(b"{\"log_history\": []}", true), Sniff::Format(Format::HfTrainerState));
        assert_eq!(sniff(b"{\n  \"best_metric\": null,\n", false), Sniff::NotYet);
        assert!(matches!(sniff(b"{\n  \"a\": 1\n}\n", true), Sniff::Unknown(_)));
        assert_eq!(sniff(b"SQLite format 3\0\x10\0", true), Sniff::Format(Format::MlflowSqlite));
        assert_eq!(sniff(b"", true), Sniff::NotYet);
        assert_eq!(sniff(b"{\"step\":1,\"val_lo", false), Sniff::NotYet);
        assert!(matches!(sniff(b"1,2,3\n", true), Sniff::Unknown(_)));
        assert!(matches!(sniff(b"hello world\n", true), Sniff::Unknown(_)));
        assert!(matches!(sniff(&[0u8, 159, 146, 150, 7, 7, 7, 7, 7, 7, 7, 7, 7], true), Sniff::Unknown(_)));
        assert!(matches!(sniff(&[0u8, 159, 146, 150, 7, 7, 7, 7, 7, 7, 7, 7, 7], false), Sniff::Unknown(_)));
        // The start of a TFRecord header, still arriving.
        let header = frame_record(b"x");
        assert_eq!(sniff(&header[..5], false), Sniff::NotYet);
        assert!(matches!(sniff(&header[..5], true), Sniff::Unknown(_)));
    }

    #[test]
    fn a_test_folder_is_the_validation_one_only_without_a_validation_folder() {
        let dir = tempfile::tempdir().unwrap();
        let run = |names: &[&str]| {
            for n in names {
                let d = dir.path().join(n);
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join("events.out.tfevents.1.host"), frame_record(b"x")).unwrap();
            }
            held_out_as_validation(&split_dirs(dir.path()))
        };
        assert_eq!(run(&["train"]), None);
        assert_eq!(run(&["test"]), Some("test".into()));
        assert_eq!(split_dirs(dir.path()).len(), 2, "train/ and test/ are one run's folders");
        assert_eq!(run(&["validation"]), None, "beside a validation folder, test is the test set");
        // A test folder without event files is not a split at all.
        let other = tempfile::tempdir().unwrap();
        std::fs::create_dir(other.path().join("test")).unwrap();
        assert!(split_dirs(other.path()).is_empty());
    }
}
