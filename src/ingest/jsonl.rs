//! The minimal JSON-lines schema: one object per line, any subset of
//! `{"step":..,"epoch":..,"train_loss":..,"val_loss":..,"train_acc":..,
//! "val_acc":..,"lr":..,"wall_time":..}`.
//!
//! Every other numeric key is a tag for the mapping too (so `{"loss":..,
//! "val_accuracy":..}` works), and nested objects are flattened with `/`
//! (`{"train":{"loss":0.3}}` is the tag `train/loss`). `null`, strings and
//! booleans are ignored. A line that is not a JSON object is reported with
//! its number and skipped.

use std::path::Path;

use serde_json::Value;

use super::assemble::{Store, epoch_number, step_number};
use super::lines::LineBuffer;

/// Keys that place a line rather than measure something.
const STEP_KEYS: &[&str] = &["step", "global_step"];
const EPOCH_KEYS: &[&str] = &["epoch"];
const WALL_KEYS: &[&str] = &["wall_time", "time", "timestamp"];
/// Nesting deeper than this is not flattened (and not read).
const MAX_DEPTH: usize = 4;

/// Incremental reader of one JSON-lines file.
#[derive(Debug, Default)]
pub struct JsonlReader {
    lines: LineBuffer,
    /// What the Python bridge's own lines said, if the log has any.
    pub bridge: Option<super::bridge::BridgeStatus>,
}

impl JsonlReader {
    pub fn new() -> Self {
        JsonlReader { lines: LineBuffer::new(), bridge: None }
    }

    /// Reads the complete lines among `bytes` into `store`.
    pub fn feed(&mut self, bytes: &[u8], file: &Path, store: &mut Store, source: u32, warnings: &mut Vec<String>) {
        for (n, line) in self.lines.feed(bytes) {
            read_line(n, &line, file, store, source, warnings, &mut self.bridge);
        }
        self.lines.overlong_warnings(file, warnings);
    }

    /// The end of a finished file: a last line without newline is read if
    /// it is a whole object.
    pub fn finish(&mut self, file: &Path, store: &mut Store, source: u32, warnings: &mut Vec<String>) {
        if let Some((n, line)) = self.lines.take_partial() {
            read_line(n, &line, file, store, source, warnings, &mut self.bridge);
        }
    }
}

fn read_line(
    n: usize,
    line: &[u8],
    file: &Path,
    store: &mut Store,
    source: u32,
    warnings: &mut Vec<String>,
    bridge: &mut Option<super::bridge::BridgeStatus>,
) {
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    // A byte that is not UTF-8 (a name in Latin-1) once cost the whole
    // line, numbers and all: it is replaced, and said.
    let lossy;
    let line = if std::str::from_utf8(line).is_err() {
        warnings.push(format!("{}:{n}: bytes that are not UTF-8, read as U+FFFD", file.display()));
        lossy = String::from_utf8_lossy(line).into_owned();
        lossy.as_bytes()
    } else {
        line
    };
    let parsed = serde_json::from_slice::<Value>(line)
        .or_else(|e| quote_non_finite(line).ok_or(e).and_then(|l| serde_json::from_slice::<Value>(&l)));
    let obj = match parsed {
        Ok(Value::Object(obj)) => obj,
        Ok(_) => {
            warnings.push(format!("{}:{n}: not a JSON object; line skipped", file.display()));
            return;
        }
        Err(e) => {
            warnings.push(format!("{}:{n}: not JSON ({e}); line skipped", file.display()));
            return;
        }
    };
    // The bridge's start and event lines hold no metric.
    if super::bridge::BridgeStatus::read(bridge, &obj) {
        return;
    }
    let num = |keys: &[&str]| keys.iter().find_map(|k| obj.get(*k).and_then(Value::as_f64));
    let step = num(STEP_KEYS).and_then(step_number);
    let epoch = num(EPOCH_KEYS).and_then(epoch_number);
    let row = store.row(source, step, epoch, num(WALL_KEYS));
    for (k, v) in &obj {
        if STEP_KEYS.contains(&k.as_str()) || EPOCH_KEYS.contains(&k.as_str()) || WALL_KEYS.contains(&k.as_str()) {
            continue;
        }
        push_value(store, &row, k, v, 0);
    }
}

fn push_value(store: &mut Store, row: &super::assemble::Row, key: &str, v: &Value, depth: usize) {
    match v {
        Value::Number(x) => {
            if let Some(x) = x.as_f64() {
                store.push(row, key, x as f32);
            }
        }
        Value::String(t) => {
            if let Some(x) = non_finite(t) {
                store.push(row, key, x);
            }
        }
        Value::Object(m) if depth < MAX_DEPTH => {
            for (k, v) in m {
                push_value(store, row, &format!("{key}/{k}"), v, depth + 1);
            }
        }
        _ => {}
    }
}

/// The non-finite numbers written as text.
pub(crate) fn non_finite(s: &str) -> Option<f32> {
    match s.to_ascii_lowercase().as_str() {
        "nan" | "-nan" => Some(f32::NAN),
        "inf" | "infinity" | "+inf" => Some(f32::INFINITY),
        "-inf" | "-infinity" => Some(f32::NEG_INFINITY),
        _ => None,
    }
}

/// The text with bare `NaN`, `-NaN`, `Infinity` and `-Infinity` (outside
/// strings) put in quotes, or None when there are none. Works on any JSON
/// text, one line or a whole pretty-printed file (the Trainer's state).
pub(crate) fn quote_non_finite(line: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(line.len() + 8);
    let mut in_string = false;
    let mut escaped = false;
    let mut changed = false;
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if c == b'"' {
            in_string = true;
        }
        // A number too large for a double (`1e400`): serde_json refuses the
        // whole line; it is an overflow, read as the infinity it is.
        let after_value_start = out.iter().rev().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| b":,[".contains(b));
        let digit_at = |k: usize| line.get(k).is_some_and(u8::is_ascii_digit);
        if (digit_at(i) || c == b'-' && digit_at(i + 1)) && after_value_start {
            let end = line[i..]
                .iter()
                .position(|b| !(b.is_ascii_digit() || b"+-.eE".contains(b)))
                .map_or(line.len(), |n| i + n);
            let number = std::str::from_utf8(&line[i..end]).ok().and_then(|t| t.parse::<f64>().ok());
            if let Some(x) = number.filter(|x| x.is_infinite()) {
                out.extend_from_slice(if x > 0.0 { b"\"Infinity\"" } else { b"\"-Infinity\"" });
                changed = true;
            } else {
                out.extend_from_slice(&line[i..end]);
            }
            i = end;
            continue;
        }
        let token = [&b"-Infinity"[..], b"Infinity", b"-NaN", b"NaN"].into_iter().find(|t| line[i..].starts_with(t));
        if let Some(t) = token {
            out.push(b'"');
            out.extend_from_slice(t);
            out.push(b'"');
            i += t.len();
            changed = true;
        } else {
            out.push(c);
            i += 1;
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_too_large_for_a_double_is_an_overflow_not_a_broken_line() {
        let q = quote_non_finite(br#"{"a":1e400,"b":[-2e999, 3],"c":"1e400","d":-1}"#).expect("changed");
        assert_eq!(q, br#"{"a":"Infinity","b":["-Infinity", 3],"c":"1e400","d":-1}"#.to_vec());
        assert_eq!(quote_non_finite(br#"{"a":1.5e3,"b":-0.25}"#), None);
    }

    #[test]
    fn a_byte_that_is_not_utf8_costs_a_warning_not_the_line() {
        let text = b"{\"epoch\":1,\"val_loss\":0.5,\"note\":\"caf\xe9\"}\n{\"epoch\":2,\"val_loss\":0.4}\n";
        let run = crate::ingest::read_bytes(crate::ingest::Format::JsonLines, text, "log.jsonl", &Default::default());
        let losses: Vec<Option<f32>> = run.epochs.iter().map(|e| e.val_loss).collect();
        assert_eq!(losses, [Some(0.5), Some(0.4)]);
        assert_eq!(run.warnings, ["log.jsonl:1: bytes that are not UTF-8, read as U+FFFD"]);
    }

    #[test]
    fn non_finite_losses_are_kept() {
        let mut store = Store::default();
        let mut w = Vec::new();
        let text = "{\"train_loss\":NaN,\"val_loss\":-Infinity,\"note\":\"NaN here\"}\n{\"train_loss\":\"inf\"}\n\
                    {\"train_loss\":-NaN,\"val_loss\":Infinity,\"val_acc\":\"NaN\"}\n";
        JsonlReader::new().feed(text.as_bytes(), Path::new("d.jsonl"), &mut store, 0, &mut w);
        assert!(w.is_empty(), "{w:?}");
        let v: Vec<f32> = store.points().iter().map(|p| p.value).collect();
        assert_eq!(v.len(), 6);
        assert!(v[0].is_nan());
        assert_eq!(v[1], f32::NEG_INFINITY);
        assert_eq!(v[2], f32::INFINITY);
        // Keys come sorted: train_loss, val_acc, val_loss.
        assert!(v[3].is_nan());
        assert!(v[4].is_nan());
        assert_eq!(v[5], f32::INFINITY);
    }

    #[test]
    fn lines_give_points_and_bad_lines_warnings() {
        let mut store = Store::default();
        let mut w = Vec::new();
        let mut r = JsonlReader::new();
        let text = "{\"step\":3,\"epoch\":1,\"train_loss\":0.5,\"note\":\"x\",\"val\":{\"loss\":0.75}}\n[1]\n{oops\n\n{\"lr\":0.1}";
        r.feed(text.as_bytes(), Path::new("l.jsonl"), &mut store, 0, &mut w);
        assert_eq!(store.points().len(), 2);
        assert_eq!(store.tags(), &["train_loss".to_string(), "val/loss".to_string()]);
        assert_eq!(store.points()[0].step, Some(3));
        assert_eq!(store.points()[0].epoch, Some(1));
        assert_eq!(w.len(), 2);
        assert!(w[0].starts_with("l.jsonl:2: not a JSON object"), "{}", w[0]);
        assert!(w[1].starts_with("l.jsonl:3: not JSON"), "{}", w[1]);
        // The unfinished last line is read only at the end.
        r.finish(Path::new("l.jsonl"), &mut store, 0, &mut w);
        assert_eq!(store.points().len(), 3);
    }

    #[test]
    fn the_bridges_start_and_event_lines_hold_no_metric_but_say_what_the_loop_is() {
        let mut store = Store::default();
        let mut w = Vec::new();
        let mut r = JsonlReader::new();
        let text = "{\"bridge\":\"fitcheck_bridge\",\"bridge_version\":\"0.3.0\",\"framework\":\"hf\",\
                    \"keys\":\"scale_lr,pause,save,stop\",\"hparams\":\"{}\"}\n\
                    {\"step\":1,\"train_loss\":0.5}\n{\"bridge_event\":\"paused\"}\n";
        r.feed(text.as_bytes(), Path::new("b.jsonl"), &mut store, 0, &mut w);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(store.points().len(), 1);
        let b = r.bridge.as_ref().expect("a bridged log");
        assert_eq!((b.framework.as_deref(), b.state), (Some("hf"), crate::ingest::LoopState::Paused));
    }
}
