//! The command file: how `fitcheck watch` talks to a training loop it does
//! not own, through `integrations/python/` (the `fitcheck_bridge` package).
//!
//! Beside the run's JSON-lines log `run.jsonl` lies `run.jsonl.commands`,
//! one JSON object per line, appended by fitcheck and read by the bridge:
//! `{"id":1,"command":"scale_lr","factor":2.0}`, `{"id":2,"command":"pause"}`,
//! `resume`, `stop`, `save`. Ids increase by one; the bridge acts on each id
//! once. Each line goes out in one `write` on a file opened for appending, so
//! a reader never sees half a line from us (it still keeps an unfinished
//! last line for later, as any follower must).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::IngestError;

/// What the user asked the external loop to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum BridgeCommand {
    /// Multiply the learning rate by `factor` (2.0 for ×2, 0.5 for ÷2).
    ScaleLr {
        factor: f64,
    },
    Pause,
    Resume,
    Stop,
    /// Save a checkpoint (the loop decides where).
    Save,
}

#[derive(Serialize, Deserialize)]
struct Line {
    id: u64,
    #[serde(flatten)]
    command: BridgeCommand,
}

/// The command file that goes with a log: `<log>.commands`.
pub fn command_file_for(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".commands");
    PathBuf::from(name)
}

/// Appends commands, with increasing ids, to a command file.
#[derive(Debug)]
pub struct CommandWriter {
    path: PathBuf,
    next_id: Option<u64>,
}

impl CommandWriter {
    /// A writer for the commands of the run logged to `log`. Ids continue
    /// after the largest id already in the file, so a restarted `watch`
    /// never reuses one.
    pub fn for_log(log: &Path) -> CommandWriter {
        CommandWriter::at(&command_file_for(log))
    }

    /// A writer for the command file at `path` itself.
    pub fn at(path: &Path) -> CommandWriter {
        let last = tail(path)
            .map(|bytes| {
                bytes
                    .split(|&b| b == b'\n')
                    .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
                    .filter_map(|v| v.get("id").and_then(serde_json::Value::as_u64))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        // An id of u64::MAX already in the file leaves none to give: `send`
        // says so instead of wrapping to 0, which the bridge would ignore
        // as already done.
        CommandWriter { path: path.to_path_buf(), next_id: last.checked_add(1) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one command line; returns its id.
    pub fn send(&mut self, command: &BridgeCommand) -> Result<u64, IngestError> {
        let Some(id) = self.next_id else {
            let why = "its command ids reached the largest number (18446744073709551615); \
                       delete the file to start the ids again";
            return Err(IngestError::CommandWrite { path: self.path.clone(), source: std::io::Error::other(why) });
        };
        let mut line = serde_json::to_vec(&Line { id, command: command.clone() })
            .map_err(|e| IngestError::CommandWrite { path: self.path.clone(), source: std::io::Error::other(e) })?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| IngestError::CommandWrite { path: self.path.clone(), source: e })?;
        f.write_all(&line).map_err(|e| IngestError::CommandWrite { path: self.path.clone(), source: e })?;
        self.next_id = id.checked_add(1);
        Ok(id)
    }
}

/// The last bytes of a command file (ids only grow, so the largest is
/// near its end): at most `bounded::MAX_SMALL` of them, whatever its size.
fn tail(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(super::bounded::MAX_SMALL)))?;
    let mut bytes = Vec::new();
    f.take(super::bounded::MAX_SMALL).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Parses one command line (as the bridge reads it); for tests and tools.
pub fn parse_command_line(line: &str) -> Option<(u64, BridgeCommand)> {
    let l: Line = serde_json::from_str(line).ok()?;
    Some((l.id, l.command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_whole_lines_with_increasing_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("run.jsonl");
        let mut w = CommandWriter::for_log(&log);
        assert_eq!(w.send(&BridgeCommand::ScaleLr { factor: 2.0 }).expect("send"), 1);
        assert_eq!(w.send(&BridgeCommand::Pause).expect("send"), 2);
        let text = std::fs::read_to_string(dir.path().join("run.jsonl.commands")).expect("read");
        assert_eq!(text, "{\"id\":1,\"command\":\"scale_lr\",\"factor\":2.0}\n{\"id\":2,\"command\":\"pause\"}\n");
        // A new writer continues the ids.
        let mut again = CommandWriter::for_log(&log);
        assert_eq!(again.send(&BridgeCommand::Stop).expect("send"), 3);
        let last = text.lines().next().and_then(parse_command_line);
        assert_eq!(last, Some((1, BridgeCommand::ScaleLr { factor: 2.0 })));
    }

    /// Issue 22: the next id after u64::MAX wrapped to 0, an id the bridge
    /// takes for one it has done, so every later key was ignored unseen.
    #[test]
    fn the_last_possible_id_is_an_error_not_a_wrap_to_zero() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("run.jsonl.commands");
        std::fs::write(&file, format!("{{\"id\":{},\"command\":\"pause\"}}\n", u64::MAX - 1)).expect("write");
        let mut w = CommandWriter::at(&file);
        assert_eq!(w.send(&BridgeCommand::Resume).expect("the last id"), u64::MAX);
        let err = w.send(&BridgeCommand::Stop).expect_err("no id left");
        assert!(err.to_string().contains("run.jsonl.commands") && err.to_string().contains("delete the file"), "{err}");
        let err = CommandWriter::at(&file).send(&BridgeCommand::Stop).expect_err("a new writer too");
        assert!(err.to_string().contains("reached the largest number"), "{err}");
        let text = std::fs::read_to_string(&file).expect("read");
        assert_eq!(text.lines().count(), 2, "nothing written after the last id: {text}");
    }
}
