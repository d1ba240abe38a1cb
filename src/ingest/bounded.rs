//! Size limits for what the readers hold in memory, so no input can make
//! fitcheck read until the kernel kills it (issue 22: a checkpoint from
//! `/dev/zero` did; a log of one endless line, a `trainer_state.json` of
//! gigabytes or a hostile `hparams.yaml` would have).
//!
//! - Files read whole (a Trainer state, `hparams.yaml`, MLflow params and
//!   `meta.yaml`, a preset) are refused above their limit before a byte is
//!   read, and read through `take` so a file that grows meanwhile is caught.
//! - Files read as they grow (CSV, JSON lines, event files, MLflow metric
//!   files, fitcheck's own log) are read [`READ_CHUNK`] at a time, and a
//!   line longer than [`MAX_LINE`] is skipped with a warning naming its
//!   file and line (see [`super::lines::LineBuffer`]).
//! - The points kept per run stop at [`MAX_POINTS`], with one warning.

use std::io::Read;
use std::path::Path;

/// The longest line of a CSV, JSON-lines, MLflow metric or run-log file:
/// real lines are under a kilobyte; a megabyte is a file that is not a log.
pub const MAX_LINE: usize = 1 << 20;
/// Bytes read from a growing file at a time.
pub const READ_CHUNK: usize = 16 << 20;
/// The largest `trainer_state.json` (a long run's is a few megabytes).
pub const MAX_STATE: u64 = 256 << 20;
/// The largest small settings file: `hparams.yaml`, an MLflow param or
/// `meta.yaml`, a preset, the bridge's command file tail.
pub const MAX_SMALL: u64 = 4 << 20;
/// Values kept per run (about 64 bytes each: 640 MB at most), ten million
/// steps of five metrics.
pub const MAX_POINTS: usize = 10_000_000;

/// The bytes of a regular file of at most `limit` bytes; a larger one (or
/// one that grows past it while read) is an error saying so, with `what`
/// the file is ("a trainer state").
pub fn read_file(path: &Path, limit: u64, what: &str) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let too_big = |n: u64| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{n} bytes, over the {} a {what} may be; not read", human(limit)),
        )
    };
    let len = file.metadata()?.len();
    if len > limit {
        return Err(too_big(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Reads what follows `pos` in `file`, at most [`READ_CHUNK`] bytes.
pub fn read_chunk(file: &mut std::fs::File, pos: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(pos))?;
    let mut bytes = Vec::new();
    file.take(READ_CHUNK as u64).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A limit in words: `256 MB`, `4 MB`, `1 MB`.
pub fn human(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{} GB", bytes >> 30)
    } else if bytes >= 1 << 20 {
        format!("{} MB", bytes >> 20)
    } else {
        format!("{} KB", bytes >> 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_its_limit_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trainer_state.json");
        std::fs::write(&path, vec![b' '; 2048]).unwrap();
        assert_eq!(read_file(&path, 2048, "trainer state").unwrap().len(), 2048);
        let e = read_file(&path, 1024, "trainer state").unwrap_err();
        assert_eq!(e.to_string(), "2048 bytes, over the 1 KB a trainer state may be; not read");
        // A sparse file of a terabyte costs nothing to refuse.
        std::fs::File::create(&path).unwrap().set_len(1 << 40).unwrap();
        let e = read_file(&path, MAX_STATE, "trainer state").unwrap_err();
        assert!(e.to_string().contains("over the 256 MB"), "{e}");
    }

    #[test]
    fn a_growing_file_is_read_a_chunk_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        std::fs::File::create(&path).unwrap().set_len(READ_CHUNK as u64 + 10).unwrap();
        let mut f = std::fs::File::open(&path).unwrap();
        assert_eq!(read_chunk(&mut f, 0).unwrap().len(), READ_CHUNK);
        assert_eq!(read_chunk(&mut f, READ_CHUNK as u64).unwrap().len(), 10);
    }
}
