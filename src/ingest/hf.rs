//! The Hugging Face Trainer's `trainer_state.json`: where it is and what its
//! `log_history` says.
//!
//! The Trainer writes the whole file at each save (`json.dumps(indent=2,
//! sort_keys=True)`, bare `NaN`/`Infinity` for non-finite values), as
//! `output_dir/checkpoint-<global_step>/trainer_state.json` and, with
//! `trainer.save_state()`, `output_dir/trainer_state.json`. So a state is
//! read whole, never appended to: [`parse_state`] turns the bytes into rows
//! and hyperparameters, or an error with the line and column, and the
//! follower re-reads the file when it changes. [`newest_state`] picks, in an
//! output folder, the state with the highest `global_step`.
//!
//! `log_history` rows:
//! - training rows (`loss`, `grad_norm`, `learning_rate`, fractional
//!   `epoch`, `step`);
//! - evaluation rows (any `eval_*` key: `eval_loss`, `eval_accuracy`, ...);
//! - the final summary row (`train_runtime`, `train_loss`, ...): not a
//!   training point, left out.
//!
//! Epochs: when every evaluation row sits on a whole epoch (eval_strategy
//! "epoch": 1.0, 2.0, ...), an evaluation row at epoch e is epoch round(e);
//! otherwise (eval by steps) the evaluation rows are numbered 1..n in step
//! order. A training row belongs to the epoch of the first evaluation row at
//! or after its step (so, for the training rows after the last evaluation,
//! an epoch without validation, which makes no epoch). With no evaluation
//! row at all the rows carry no epoch number and the assembly windows the
//! logged steps (the Trainer's fractional epochs are not epoch numbers).
//!
//! Every other numeric key of a row is a tag (`--map` can name
//! `eval_f1`); `epoch` and `step` place the row. Top-level keys become
//! hyperparameters (see [`hparams_of`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use super::assemble::{Store, step_number};
use super::jsonl::{non_finite, quote_non_finite};

/// The file name the Trainer gives its state.
pub const STATE_FILE: &str = "trainer_state.json";

/// Top-level keys that are not hyperparameters: the history itself, the
/// callbacks' internal state and which process wrote the file.
const NOT_HPARAMS: &[&str] = &["log_history", "stateful_callbacks", "is_local_process_zero", "is_world_process_zero"];

/// Keys that mark the final summary row.
const SUMMARY_KEYS: &[&str] = &["train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos"];

/// Nesting deeper than this is not flattened into hyperparameters.
const MAX_DEPTH: usize = 4;

/// One `log_history` row, placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub step: Option<u64>,
    /// 1-based epoch number, when the run has evaluation rows.
    pub epoch: Option<u32>,
    pub values: Vec<(String, f32)>,
}

/// A parsed state file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub rows: Vec<Row>,
    pub hparams: BTreeMap<String, String>,
    /// `global_step` at the top level, when there.
    pub global_step: Option<u64>,
    pub warnings: Vec<String>,
}

impl State {
    /// Puts the rows into `store` as coming from `source`.
    pub fn push_into(&self, store: &mut Store, source: u32) {
        for r in &self.rows {
            let row = store.row(source, r.step, r.epoch, None);
            for (tag, v) in &r.values {
                store.push(&row, tag, *v);
            }
        }
    }
}

/// Parses a whole `trainer_state.json`. The error says what is wrong, with
/// the line and column when the JSON itself is broken (a file still being
/// written, or damaged).
pub fn parse_state(bytes: &[u8], path: &Path) -> Result<State, String> {
    let parsed = serde_json::from_slice::<Value>(bytes)
        .or_else(|e| quote_non_finite(bytes).ok_or(e).and_then(|b| serde_json::from_slice::<Value>(&b)));
    let top = match parsed {
        Ok(Value::Object(top)) => top,
        Ok(_) => return Err("not a JSON object".into()),
        Err(e) => return Err(format!("not valid JSON ({e})")),
    };
    let history = match top.get("log_history") {
        Some(Value::Array(h)) => h,
        Some(_) => return Err("\"log_history\" is not a list".into()),
        None => return Err("no \"log_history\" at the top level".into()),
    };
    let mut state = State {
        hparams: hparams_of(&top),
        global_step: top.get("global_step").and_then(Value::as_f64).and_then(step_number),
        ..State::default()
    };

    // (index, row object, step, fractional epoch, is eval)
    let mut rows = Vec::new();
    for (i, item) in history.iter().enumerate() {
        let Value::Object(obj) = item else {
            state.warnings.push(format!("{}: log_history[{i}] is not an object; skipped", path.display()));
            continue;
        };
        if SUMMARY_KEYS.iter().any(|k| obj.contains_key(*k)) {
            continue;
        }
        let step = obj.get("step").and_then(Value::as_f64).and_then(step_number);
        let epoch = obj.get("epoch").and_then(Value::as_f64).filter(|e| e.is_finite() && *e >= 0.0);
        let eval = obj.keys().any(|k| k.starts_with("eval_"));
        rows.push((obj, step, epoch, eval));
    }

    // Epoch numbers of the evaluation rows: round(e) when all sit on whole,
    // increasing epochs; else 1..n in step order.
    let evals: Vec<(Option<u64>, Option<f64>)> = rows.iter().filter(|r| r.3).map(|r| (r.1, r.2)).collect();
    let whole = |e: f64| (e - e.round()).abs() < 1e-3 && e.round() >= 1.0 && e.round() < f64::from(u32::MAX);
    let by_epoch = !evals.is_empty()
        && evals.iter().all(|(_, e)| e.is_some_and(whole))
        && evals.windows(2).all(|w| w[0].1.unwrap_or(0.0).round() < w[1].1.unwrap_or(0.0).round());
    // Evaluation steps with their epoch number, in step order.
    let mut eval_epochs: Vec<(u64, u32)> = Vec::new();
    let mut n_evals = 0u32;
    let mut eval_number = |epoch: Option<f64>| -> u32 {
        n_evals += 1;
        if by_epoch { epoch.map_or(n_evals, |e| e.round() as u32) } else { n_evals }
    };
    let mut numbers = Vec::with_capacity(rows.len());
    for r in &rows {
        numbers.push(if r.3 { Some(eval_number(r.2)) } else { None });
    }
    for (r, n) in rows.iter().zip(&numbers) {
        if let (Some(step), Some(n)) = (r.1, n) {
            eval_epochs.push((step, *n));
        }
    }
    eval_epochs.sort_unstable();
    let last_eval = eval_epochs.last().map(|&(_, n)| n);

    for ((obj, step, _, eval), number) in rows.iter().zip(numbers) {
        let epoch = if *eval {
            number
        } else if eval_epochs.is_empty() {
            None
        } else {
            // The first evaluation at or after this step; after the last
            // one, the epoch being trained (no validation yet).
            let s = step.unwrap_or(u64::MAX);
            let i = eval_epochs.partition_point(|&(es, _)| es < s);
            eval_epochs.get(i).map(|&(_, n)| n).or(last_eval.map(|n| n.saturating_add(1)))
        };
        let mut values = Vec::new();
        for (k, v) in obj.iter() {
            if k == "epoch" || k == "step" {
                continue;
            }
            let x = match v {
                Value::Number(n) => n.as_f64().map(|x| x as f32),
                Value::String(t) => non_finite(t),
                _ => None,
            };
            if let Some(x) = x {
                values.push((k.clone(), x));
            }
        }
        if !values.is_empty() {
            state.rows.push(Row { step: *step, epoch, values });
        }
    }
    Ok(state)
}

/// The top-level settings of a state, as text: every key but the history,
/// the callbacks' state and the process flags; `null` left out; nested
/// objects flattened with `/`; lists as JSON text.
pub fn hparams_of(top: &serde_json::Map<String, Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in top {
        if !NOT_HPARAMS.contains(&k.as_str()) {
            flatten(&mut out, k, v, 0);
        }
    }
    out
}

fn flatten(out: &mut BTreeMap<String, String>, key: &str, v: &Value, depth: usize) {
    match v {
        Value::Null => {}
        Value::String(s) => {
            out.insert(key.to_string(), s.clone());
        }
        Value::Object(m) if depth < MAX_DEPTH => {
            for (k, v) in m {
                flatten(out, &format!("{key}/{k}"), v, depth + 1);
            }
        }
        other => {
            out.insert(key.to_string(), other.to_string());
        }
    }
}

/// A file's identity for "has it changed": length and modification time.
pub type Signature = (u64, Option<SystemTime>);

pub fn signature(path: &Path) -> Option<Signature> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()))
}

/// True when `dir` is a Trainer output folder: it holds `trainer_state.json`
/// or `checkpoint-*/trainer_state.json`.
pub fn is_output_dir(dir: &Path) -> bool {
    !candidates(dir).is_empty()
}

/// True for the Trainer's checkpoint folder names (`checkpoint-500`).
pub fn is_checkpoint_name(name: &str) -> bool {
    name.strip_prefix("checkpoint-").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The state files of an output folder, with the global step their place
/// says (`checkpoint-<global_step>`; `None` for the folder's own file).
fn candidates(dir: &Path) -> Vec<(PathBuf, Option<u64>)> {
    let mut out = Vec::new();
    let own = dir.join(STATE_FILE);
    if own.is_file() {
        out.push((own, None));
    }
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if is_checkpoint_name(&name) && e.file_type().is_ok_and(|t| t.is_dir()) {
            let f = e.path().join(STATE_FILE);
            if f.is_file() {
                out.push((f, name["checkpoint-".len()..].parse().ok()));
            }
        }
    }
    out
}

/// Remembers the global step of each state file read, so that choosing the
/// newest state does not parse unchanged files again.
#[derive(Debug, Default)]
pub struct StepCache {
    known: BTreeMap<PathBuf, (Signature, Option<u64>)>,
}

impl StepCache {
    fn global_step(&mut self, path: &Path) -> Option<u64> {
        let sig = signature(path)?;
        if let Some((s, step)) = self.known.get(path)
            && *s == sig
        {
            return *step;
        }
        let step = super::bounded::read_file(path, super::bounded::MAX_STATE, "trainer state")
            .ok()
            .and_then(|b| parse_state(&b, path).ok())
            .and_then(|s| s.global_step);
        self.known.insert(path.to_path_buf(), (sig, step));
        step
    }
}

/// The newest state in an output folder: the highest `global_step` (read
/// from the file; a checkpoint's folder name when the file cannot be read
/// yet). On a tie the folder's own `trainer_state.json` (written by
/// `save_state()` after the last checkpoint) wins.
pub fn newest_state(dir: &Path, cache: &mut StepCache) -> Option<PathBuf> {
    let mut best: Option<(u64, bool, PathBuf)> = None;
    for (path, named) in candidates(dir) {
        let own = named.is_none();
        let Some(step) = cache.global_step(&path).or(named) else { continue };
        let better = match &best {
            None => true,
            Some((s, o, _)) => (step, own) > (*s, *o),
        };
        if better {
            best = Some((step, own, path));
        }
    }
    best.map(|(_, _, p)| p).or_else(|| {
        let own = dir.join(STATE_FILE);
        own.is_file().then_some(own)
    })
}

/// True when `bytes` (the start of a file) is a JSON object with a
/// top-level `"log_history"` key: the Trainer's state, one line or
/// pretty-printed. Looks only at the keys at depth 1, skipping strings.
pub fn has_log_history(bytes: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                if j >= bytes.len() {
                    return false;
                }
                if depth == 1 && &bytes[start..j] == b"log_history" {
                    let rest = bytes[j + 1..].iter().find(|b| !b.is_ascii_whitespace());
                    if rest == Some(&b':') {
                        return true;
                    }
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"{
  "best_metric": null,
  "epoch": 2.0,
  "global_step": 8,
  "is_world_process_zero": true,
  "log_history": [
    {"epoch": 0.5, "grad_norm": 1.5, "learning_rate": 0.01, "loss": 1.2, "step": 2},
    {"epoch": 1.0, "grad_norm": 0.5, "learning_rate": 0.005, "loss": 0.8, "step": 4},
    {"epoch": 1.0, "eval_accuracy": 0.75, "eval_loss": 0.9, "eval_runtime": 0.1, "step": 4},
    {"epoch": 1.5, "grad_norm": NaN, "learning_rate": 0.002, "loss": 0.0, "step": 6},
    {"epoch": 2.0, "eval_accuracy": 0.25, "eval_loss": NaN, "step": 8},
    {"epoch": 2.0, "step": 8, "total_flos": 0.0, "train_loss": 0.5, "train_runtime": 1.0},
    "junk"
  ],
  "logging_steps": 2,
  "stateful_callbacks": {"TrainerControl": {"args": {"should_save": true}}},
  "train_batch_size": 32,
  "trial_params": {"lr": 0.01, "name": "a"}
}"#;

    #[test]
    fn rows_are_placed_by_the_evaluation_that_follows_them() {
        let s = parse_state(STATE.as_bytes(), Path::new("t.json")).expect("parses");
        assert_eq!(s.global_step, Some(8));
        let placed: Vec<_> = s.rows.iter().map(|r| (r.step, r.epoch, r.values.len())).collect();
        // The summary row is left out; the eval row keeps eval_runtime as a tag.
        assert_eq!(
            placed,
            vec![
                (Some(2), Some(1), 3),
                (Some(4), Some(1), 3),
                (Some(4), Some(1), 3),
                (Some(6), Some(2), 3),
                (Some(8), Some(2), 2)
            ]
        );
        let grad = s.rows[3].values.iter().find(|(k, _)| k == "grad_norm").expect("grad_norm");
        assert!(grad.1.is_nan());
        assert_eq!(s.warnings, vec!["t.json: log_history[6] is not an object; skipped".to_string()]);
        let hp: Vec<(&str, &str)> = s.hparams.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            hp,
            vec![
                ("epoch", "2.0"),
                ("global_step", "8"),
                ("logging_steps", "2"),
                ("train_batch_size", "32"),
                ("trial_params/lr", "0.01"),
                ("trial_params/name", "a"),
            ]
        );
    }

    #[test]
    fn evaluations_by_steps_are_numbered_in_order() {
        let text = r#"{"log_history": [
            {"epoch": 0.3, "loss": 2.0, "step": 10},
            {"epoch": 0.3, "eval_loss": 1.0, "step": 10},
            {"epoch": 0.6, "loss": 1.0, "step": 20},
            {"epoch": 0.6, "eval_loss": 0.9, "step": 20},
            {"epoch": 0.9, "loss": 0.5, "step": 30}]}"#;
        let s = parse_state(text.as_bytes(), Path::new("t.json")).expect("parses");
        let epochs: Vec<_> = s.rows.iter().map(|r| r.epoch).collect();
        assert_eq!(epochs, vec![Some(1), Some(1), Some(2), Some(2), Some(3)]);
        // Without any evaluation the rows carry no epoch number.
        let text = r#"{"log_history": [{"epoch": 0.3, "loss": 2.0, "step": 10}]}"#;
        let s = parse_state(text.as_bytes(), Path::new("t.json")).expect("parses");
        assert_eq!(s.rows[0].epoch, None);
    }

    #[test]
    fn broken_states_say_where() {
        let e = parse_state(b"{\n  \"log_history\": [\n    {\"loss\": 1.0,", Path::new("t.json")).expect_err("cut");
        assert!(e.contains("line 3"), "{e}");
        assert!(
            parse_state(b"{\"log_history\": 3}", Path::new("t.json")).expect_err("not a list").contains("not a list")
        );
        assert!(parse_state(b"[1]", Path::new("t.json")).is_err());
        assert!(parse_state(b"{\"a\": 1}", Path::new("t.json")).expect_err("no history").contains("log_history"));
    }

    #[test]
    fn the_log_history_key_is_found_at_the_top_level_only() {
        assert!(has_log_history(b"{\n  \"best_metric\": null,\n  \"log_history\": [\n"));
        assert!(has_log_history(b"{\"a\": \"x\\\"y\", \"log_history\" : []}"));
        assert!(!has_log_history(b"{\"a\": {\"log_history\": []}}"));
        assert!(!has_log_history(b"{\"a\": \"log_history\"}"));
        assert!(!has_log_history(b"{\"a\": \"log_hi"));
    }

    #[test]
    fn checkpoint_names_are_recognised() {
        assert!(is_checkpoint_name("checkpoint-500"));
        assert!(!is_checkpoint_name("checkpoint-"));
        assert!(!is_checkpoint_name("checkpoint-best"));
    }
}
