//! `fitcheck compare`: a preset and the same preset with a change, trained
//! headless from the same seeds (seed, seed+1, ...), each run through the
//! headless runner as `fitcheck run` trains it. This module owns the
//! pairing, the per-branch mean and spread of the best validation accuracy
//! and the final validation loss, the paired difference with its spread,
//! and the plain-words verdict ("within noise" when the difference is not
//! larger than its spread).
//!
//! Output, as JSON lines: one `compare_run` per run, one `compare_branch`
//! per branch, then one `compare`.

use std::io::{self, Write};

use crossbeam_channel::Receiver;
use serde_json::{Value, json};

use crate::headless::{self, HeadlessError, Spread};
use crate::preset::Preset;
use crate::protocol::{Stopped, json_f32};
use crate::session::Session;
use crate::train::Trainer;

#[derive(Debug, thiserror::Error)]
pub enum CompareError<E> {
    /// A branch could not be set up (bad input).
    #[error("{0}")]
    Setup(E),
    #[error(transparent)]
    Run(#[from] HeadlessError),
}

/// What one run ended with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    pub seed: u64,
    pub best_val_acc: f32,
    /// The last epoch's validation loss (not finite when it diverged).
    pub final_val_loss: f32,
    /// Rollbacks of the divergence guard.
    pub rollbacks: usize,
    /// Stopped by the driver (a signal) before its end.
    pub interrupted: bool,
}

/// The runs' lines, kept to read the epochs and rollbacks from (stdout
/// gets only the comparison's own lines).
#[derive(Default)]
struct Capture(Vec<u8>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Trains one run through the headless runner and reads its outcome.
pub fn train_one<T>(trainer: Trainer, stop: &Receiver<T>) -> Result<Outcome, HeadlessError> {
    let seed = trainer.preset().seed;
    let mut capture = Capture::default();
    let summary = headless::run_until(trainer, Session::new(None), &mut capture, stop)?;
    let text = String::from_utf8_lossy(&capture.0);
    let lines = text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok());
    let (mut final_val_loss, mut rollbacks) = (f32::NAN, 0);
    for line in lines {
        match line["type"].as_str() {
            Some("epoch") => final_val_loss = line["val_loss"].as_f64().map_or(f32::NAN, |v| v as f32),
            Some("diverged") => rollbacks += 1,
            _ => {}
        }
    }
    let interrupted = summary.stopped == Stopped::Interrupted;
    Ok(Outcome { seed, best_val_acc: summary.best_val_acc, final_val_loss, rollbacks, interrupted })
}

/// The paired difference (changed − base) of one measure over the seeds
/// both branches finished, and whether it is larger than its spread
/// (`None` with one seed: there is no spread to judge against).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Difference {
    pub mean: f32,
    pub std: f32,
    pub beyond_noise: Option<bool>,
}

impl Difference {
    pub fn of(base: &[f32], changed: &[f32]) -> Option<Difference> {
        let d: Vec<f32> = base.iter().zip(changed).map(|(a, b)| b - a).collect();
        let s = Spread::of(&d)?;
        let beyond_noise = (d.len() > 1).then(|| s.mean.abs() > s.std);
        Some(Difference { mean: s.mean, std: s.std, beyond_noise })
    }

    fn json(&self) -> Value {
        json!({ "mean": json_f32(self.mean), "std": json_f32(self.std) })
    }

    fn words(&self) -> &'static str {
        match self.beyond_noise {
            Some(true) => "larger than the spread",
            Some(false) => "within noise",
            None => "one seed: no spread to judge against",
        }
    }
}

/// `{"type":"compare_run","branch":..,"seed":..,"best_val_acc":..,"final_val_loss":..,"rollbacks":..}`
#[derive(serde::Serialize)]
#[serde(tag = "type", rename = "compare_run")]
struct RunLine<'a> {
    branch: &'a str,
    seed: u64,
    best_val_acc: Value,
    final_val_loss: Value,
    rollbacks: usize,
}

/// `{"type":"compare_branch","branch":..,"seeds":[..],"best_val_acc":{mean,std,min,max},"final_val_loss":{..}}`
#[derive(serde::Serialize)]
#[serde(tag = "type", rename = "compare_branch")]
struct BranchLine<'a> {
    branch: &'a str,
    seeds: Vec<u64>,
    best_val_acc: Value,
    final_val_loss: Value,
}

/// The last line: the paired differences and the verdict.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename = "compare")]
pub struct CompareLine<'a> {
    pub change: &'a str,
    pub seeds: usize,
    pub best_val_acc_diff: Value,
    pub final_val_loss_diff: Value,
    pub acc_beyond_noise: Option<bool>,
    pub loss_beyond_noise: Option<bool>,
    pub verdict: String,
}

fn spread_json(values: &[f32]) -> Value {
    Spread::of(values).map_or(
        Value::Null,
        |s| json!({ "mean": json_f32(s.mean), "std": json_f32(s.std), "min": json_f32(s.min), "max": json_f32(s.max) }),
    )
}

fn write_line(out: &mut impl Write, line: &impl serde::Serialize) -> Result<(), HeadlessError> {
    let text = serde_json::to_string(line).map_err(|e| HeadlessError::Output(e.into()))?;
    writeln!(out, "{text}").and_then(|()| out.flush()).map_err(HeadlessError::Output)
}

/// The comparison line of two branches' outcomes (paired by seed).
pub fn verdict<'a>(change: &'a str, base: &[Outcome], changed: &[Outcome]) -> CompareLine<'a> {
    let n = base.len().min(changed.len());
    let acc = |o: &[Outcome]| o[..n].iter().map(|o| o.best_val_acc).collect::<Vec<_>>();
    let loss = |o: &[Outcome]| o[..n].iter().map(|o| o.final_val_loss).collect::<Vec<_>>();
    let d_acc = Difference::of(&acc(base), &acc(changed));
    let d_loss = Difference::of(&loss(base), &loss(changed));
    let words = match (d_acc, d_loss) {
        (Some(a), Some(l)) => format!(
            "{change}, {n} seed{}: best val acc {:+.2} ± {:.2} points ({}), final val loss {:+.4} ± {:.4} ({})",
            if n == 1 { "" } else { "s" },
            a.mean * 100.0,
            a.std * 100.0,
            a.words(),
            l.mean,
            l.std,
            l.words()
        ),
        _ => format!("{change}: no seed finished in both branches"),
    };
    CompareLine {
        change,
        seeds: n,
        best_val_acc_diff: d_acc.map_or(Value::Null, |d| d.json()),
        final_val_loss_diff: d_loss.map_or(Value::Null, |d| d.json()),
        acc_beyond_noise: d_acc.and_then(|d| d.beyond_noise),
        loss_beyond_noise: d_loss.and_then(|d| d.beyond_noise),
        verdict: words,
    }
}

/// Trains `base` and `changed` (named by `change`) from seeds `base.seed`,
/// `+1`, … `seeds` times each, interleaved so an interruption leaves pairs;
/// `setup(changed?, preset)` builds each run's trainer. Writes the lines
/// described in the module docs to `out`; stops early (with the pairs
/// finished so far) when `stop` delivers anything.
pub fn compare<T, E>(
    base: &Preset,
    changed: &Preset,
    change: &str,
    seeds: usize,
    mut setup: impl FnMut(bool, &Preset) -> Result<Trainer, E>,
    out: &mut impl Write,
    stop: &Receiver<T>,
) -> Result<(), CompareError<E>> {
    let mut outcomes: [Vec<Outcome>; 2] = [Vec::new(), Vec::new()];
    'seeds: for k in 0..seeds as u64 {
        for (i, preset) in [base, changed].into_iter().enumerate() {
            let mut p = preset.clone();
            p.seed = p.seed.wrapping_add(k);
            let trainer = setup(i == 1, &p).map_err(CompareError::Setup)?;
            let o = train_one(trainer, stop)?;
            if o.interrupted {
                // Half a run is no measure: compare the pairs finished so far.
                break 'seeds;
            }
            let branch = if i == 0 { "base" } else { change };
            let line = RunLine {
                branch,
                seed: o.seed,
                best_val_acc: json_f32(o.best_val_acc),
                final_val_loss: json_f32(o.final_val_loss),
                rollbacks: o.rollbacks,
            };
            write_line(out, &line)?;
            outcomes[i].push(o);
        }
    }
    for (i, o) in outcomes.iter().enumerate() {
        let acc: Vec<f32> = o.iter().map(|o| o.best_val_acc).collect();
        let loss: Vec<f32> = o.iter().map(|o| o.final_val_loss).collect();
        let line = BranchLine {
            branch: if i == 0 { "base" } else { change },
            seeds: o.iter().map(|o| o.seed).collect(),
            best_val_acc: spread_json(&acc),
            final_val_loss: spread_json(&loss),
        };
        write_line(out, &line)?;
    }
    Ok(write_line(out, &verdict(change, &outcomes[0], &outcomes[1]))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(seed: u64, acc: f32, loss: f32) -> Outcome {
        Outcome { seed, best_val_acc: acc, final_val_loss: loss, rollbacks: 0, interrupted: false }
    }

    #[test]
    fn the_difference_is_paired_by_seed() {
        // Seeds differ a lot, the change adds 0.02 to each: far beyond the paired spread.
        let base = [o(1, 0.80, 0.5), o(2, 0.90, 0.4), o(3, 0.85, 0.45)];
        let changed = [o(1, 0.82, 0.45), o(2, 0.921, 0.35), o(3, 0.869, 0.41)];
        let v = serde_json::to_value(verdict("dropout=0.5", &base, &changed)).unwrap();
        assert_eq!(v["seeds"], 3);
        assert!((v["best_val_acc_diff"]["mean"].as_f64().unwrap() - 0.02).abs() < 1e-3);
        assert_eq!(v["acc_beyond_noise"], true);
        assert_eq!(v["loss_beyond_noise"], true);
        assert!(v["verdict"].as_str().unwrap().contains("+2.00 ± 0.10 points (larger than the spread)"), "{v}");
    }

    #[test]
    fn a_difference_smaller_than_its_spread_is_within_noise() {
        let base = [o(1, 0.80, 0.5), o(2, 0.90, 0.4)];
        let changed = [o(1, 0.83, 0.52), o(2, 0.88, 0.41)];
        let v = serde_json::to_value(verdict("l2=0.0001", &base, &changed)).unwrap();
        assert_eq!(v["acc_beyond_noise"], false);
        assert!(v["verdict"].as_str().unwrap().contains("within noise"));
        let one = serde_json::to_value(verdict("x=1", &base[..1], &changed[..1])).unwrap();
        assert_eq!(one["acc_beyond_noise"], Value::Null);
        assert!(one["verdict"].as_str().unwrap().contains("one seed"));
        let none = serde_json::to_value(verdict("x=1", &[], &changed)).unwrap();
        assert_eq!(none["best_val_acc_diff"], Value::Null);
    }
}
