//! The messages between the trainer thread and whoever drives it (the TUI
//! or the headless runner): `Command` in, `Event` out. Events serialize to
//! the JSON lines of DESIGN.md section 3 (`{"type":"epoch",...}`).

use serde::Serialize;
use serde_json::Value;

use crate::nn::stats::LayerStats;
use crate::nn::{Activation, OptimizerKind};
use crate::preset::EarlyStopping;

/// What the driver asks of the trainer; applied between two minibatches.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    SetLearningRate(f32),
    /// Change the hidden activation in place (weights kept).
    SetActivation(Activation),
    /// Insert an identity hidden layer before the output layer.
    AddLayer,
    /// Remove the last hidden layer (folded into the output layer).
    RemoveLayer,
    SetDropout(f32),
    SetL1(f32),
    SetL2(f32),
    /// Switch optimizer; the new one starts with fresh state.
    SetOptimizer(OptimizerKind),
    /// Turn early stopping on (with these settings) or off.
    SetEarlyStopping(Option<EarlyStopping>),
    /// Write the current weights to a safetensors file.
    SaveCheckpoint,
    Pause,
    Resume,
    /// One training step while paused.
    Step,
    Stop,
}

/// What the trainer reports. Step metrics may be coalesced when the
/// channel is full; every other event is always delivered.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Start(RunInfo),
    Step(StepMetrics),
    Epoch(EpochMetrics),
    Change(Change),
    /// Layer statistics, a few times a second (may be coalesced).
    Stats(StatsReport),
    /// The loss went non-finite or exploded: the trainer rolled back to the
    /// last good weights and halved the learning rate.
    Diverged {
        step: u64,
        /// The loss that tripped the guard (`null` when not finite).
        loss: Option<f32>,
        rolled_back_to: u64,
        lr_from: f32,
        lr_to: f32,
    },
    /// Validation loss stopped improving for `patience` epochs: training
    /// ends with the best weights restored.
    EarlyStop {
        step: u64,
        epoch: usize,
        best_epoch: usize,
        best_val_loss: f32,
        patience: usize,
    },
    /// What the network gets wrong on validation, at each epoch's end.
    DataView(DataView),
    Checkpoint {
        step: u64,
        path: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Paused {
        step: u64,
    },
    Resumed {
        step: u64,
    },
    Summary(Summary),
    /// The trainer hit an error it cannot recover from.
    Failed {
        message: String,
    },
    /// Step 0 of the checklist, measured once before the first step.
    Preflight(super::preflight::Preflight),
    /// The "overfit one batch" probe, run at an epoch's end when the
    /// training data is not learned.
    Probe(super::probe::ProbeResult),
    /// The diagnosis changed (emitted by the run model, not the trainer):
    /// `verdict` and the finding ids as the summary's diagnosis writes them.
    Verdict {
        epoch: usize,
        verdict: String,
        findings: Vec<String>,
    },
}

impl Event {
    /// Whether the event may be dropped (coalesced) when the channel is full.
    pub fn is_coalescable(&self) -> bool {
        matches!(self, Event::Step(_) | Event::Stats(_))
    }
}

/// What is being trained, sent once at the start.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunInfo {
    pub preset: String,
    pub dataset: String,
    pub epochs: usize,
    pub steps_per_epoch: u64,
    pub train_size: usize,
    pub val_size: usize,
    pub test_size: usize,
    pub parameters: usize,
    pub hidden: Vec<usize>,
    pub activation: String,
    pub optimizer: String,
    pub lr: f32,
    pub batch_size: usize,
    pub threads: usize,
    pub classes: usize,
    /// The largest absolute network input over (up to 1,000) training
    /// samples: how far the inputs are from normalized.
    pub input_scale: f32,
}

/// Training metrics averaged over the steps since the previous `Step` event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepMetrics {
    pub epoch: usize,
    pub step: u64,
    pub loss: f32,
    pub acc: f32,
    pub samples_per_s: f32,
}

/// The end of an epoch: training as trained, training in eval mode, validation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub step: u64,
    pub train_loss: f32,
    pub train_acc: f32,
    pub train_loss_eval: f32,
    pub train_acc_eval: f32,
    pub val_loss: f32,
    pub val_acc: f32,
    pub lr: f32,
    /// The L1/L2 penalty of the weights at the epoch's end, apart from the data loss.
    pub penalty: f32,
    pub samples_per_s: f32,
    pub elapsed_s: f64,
}

/// Statistics of every layer (input side first) after step `step`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatsReport {
    pub step: u64,
    pub layers: Vec<LayerStats>,
}

/// A hyperparameter changed (by the user or the trainer) at `step`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    pub step: u64,
    /// The preset field that changed.
    pub key: String,
    pub from: Value,
    pub to: Value,
    /// What the change did beyond the value, when that matters ("optimizer
    /// state starts fresh", "approximate: ...").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An `f32` as a JSON number with its shortest decimal form (0.1, not
/// 0.10000000149011612); non-finite values become `null`.
pub fn json_f32(x: f32) -> Value {
    format!("{x}").parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    Completed,
    EarlyStop,
    Diverged,
    Interrupted,
}

/// The validation confusion matrix, a few misclassified samples, and for
/// two-dimensional sets the decision boundary over the input plane.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataView {
    pub epoch: usize,
    /// `confusion[true][predicted]` over the validation split.
    pub confusion: Vec<Vec<u32>>,
    pub misclassified: Vec<Misclassified>,
    /// `(rows, cols)` of the images in `misclassified`, when they are images.
    pub image: Option<(usize, usize)>,
    pub boundary: Option<Boundary>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Misclassified {
    pub label: u8,
    pub predicted: u8,
    /// The raw pixels (row-major), for image datasets.
    pub pixels: Vec<u8>,
}

/// The predicted class on a `cols × rows` grid over `x` × `y` (row 0 at the
/// top, i.e. the largest y), and a sample of validation points `(x, y, label)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Boundary {
    pub x: (f32, f32),
    pub y: (f32, f32),
    pub cols: usize,
    pub rows: usize,
    pub classes: Vec<u8>,
    pub points: Vec<(f32, f32, u8)>,
}

/// The last event of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub epochs: usize,
    pub best_epoch: usize,
    pub best_val_acc: f32,
    pub test_acc: f32,
    pub test_loss: f32,
    pub stopped: Stopped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_event_serializes_as_a_flat_tagged_json_line() {
        let e = Event::Epoch(EpochMetrics {
            epoch: 3,
            step: 1170,
            train_loss: 0.081,
            train_acc: 0.975,
            train_loss_eval: 0.07,
            train_acc_eval: 0.98,
            val_loss: 0.094,
            val_acc: 0.971,
            lr: 0.1,
            penalty: 0.0,
            samples_per_s: 41000.0,
            elapsed_s: 4.2,
        });
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"epoch","epoch":3,"step":1170,"train_loss":0.081,"train_acc":0.975,"train_loss_eval":0.07,"train_acc_eval":0.98,"val_loss":0.094,"val_acc":0.971,"lr":0.1,"penalty":0.0,"samples_per_s":41000.0,"elapsed_s":4.2}"#
        );
        let c = Event::Change(Change { step: 5, key: "lr".into(), from: json_f32(0.1), to: json_f32(0.2), note: None });
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"type":"change","step":5,"key":"lr","from":0.1,"to":0.2}"#);
    }

    #[test]
    fn verdict_event_serializes_as_the_design_says() {
        let v = Event::Verdict {
            epoch: 7,
            verdict: "overfitting".into(),
            findings: vec!["overfitting_gap".into(), "val_loss_rising".into()],
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"type":"verdict","epoch":7,"verdict":"overfitting","findings":["overfitting_gap","val_loss_rising"]}"#
        );
        assert!(!v.is_coalescable());
    }
}
