//! The messages between a source of runs (the trainer thread, a followed
//! log, a replay) and whoever reads it (the run model, the dashboard, the
//! headless runner, the run log): `Command` in, `Event` out. Events
//! serialize to the run log's JSON lines (`{"type":"epoch",...}`, see
//! `docs/architecture.md`). The trainer, the run model and the views all
//! speak these types, so none of them imports another just to talk.

use serde::{Deserialize, Serialize};

use crate::nn::stats::LayerStats;
pub use crate::settings::{Change, Setting, json_f32};

/// What the driver asks of the trainer; applied between two minibatches.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Change one live setting. The activation changes in place (weights
    /// kept); a new optimizer starts with fresh state; `Hidden` is changed
    /// only through `AddLayer` / `RemoveLayer`.
    Set(Setting),
    /// Insert an identity hidden layer before the output layer.
    AddLayer,
    /// Remove the last hidden layer (folded into the output layer).
    RemoveLayer,
    /// Write the current weights to a safetensors file (also after the end).
    SaveCheckpoint,
    Pause,
    Resume,
    /// One training step while paused.
    Step,
    /// Train this many more epochs after the run finished (the model, the
    /// optimizer state and the history are kept).
    Continue {
        epochs: usize,
    },
    /// At most this many training steps a second (`None`: as fast as it goes).
    SetPace(Option<f32>),
    /// Fork the run: a branch named `branch` starts from a copy of the
    /// model and the optimizer state, `changes` (settings, `AddLayer`,
    /// `RemoveLayer`; other commands are ignored) are applied to it alone,
    /// and both train in lockstep on the same minibatches. After `epochs`
    /// epochs the trainer pauses for the decision. Refused (a notice) while
    /// a fork is running.
    Fork {
        branch: String,
        changes: Vec<Command>,
        epochs: usize,
    },
    /// Fork from a fresh start, for what only a new run can change (the
    /// data's normalization, shifted copies, wider layers): a branch with
    /// `preset`'s settings is built from its seed (the run's), as the run
    /// itself was, and both train in lockstep from here on. Sent before the
    /// first step of a run just started with the current settings, it
    /// makes two fresh runs from one seed, one change apart.
    ForkFresh {
        branch: String,
        preset: Box<crate::preset::Preset>,
        epochs: usize,
    },
    /// The branch becomes the run (its model and optimizer state continue);
    /// the other model is dropped.
    KeepBranch,
    /// The branch is dropped; the run continues as it was.
    DropBranch,
    /// The learning-rate range test on a copy of the model, over at most
    /// `steps` steps (see `lr_find`): the run pauses (while it trains) and
    /// its weights, optimizer state, batch order and dropout stream are as
    /// before when the test ends. `RangeTest*` events report it.
    RangeTest {
        steps: usize,
    },
    /// Ends a range test early (its curve so far is reported).
    CancelRangeTest,
    Stop,
}

/// What the trainer reports. Step metrics may be coalesced when the
/// channel is full; every other event is always delivered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
        /// A fork's branch, when it was the branch that diverged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
    },
    /// The run forked: a branch with one change trains beside it in
    /// lockstep (see `Command::Fork`).
    Fork(ForkInfo),
    /// The fork ended: the branch was kept (it is the run from here on) or
    /// dropped; `reason` says why in words.
    ForkEnd {
        step: u64,
        epoch: usize,
        branch: String,
        kept: bool,
        reason: String,
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
    /// The run continues after its summary for `epochs` more epochs.
    Continued {
        step: u64,
        epochs: usize,
    },
    /// The user started a new run; the previous one ended above (written by
    /// the session into the run log, never sent by a trainer).
    Restart {
        preset: String,
        seed: u64,
    },
    /// A followed log was read again from its start with its epochs
    /// regrouped (a Trainer state whose first evaluation shows where its
    /// epochs end): the epochs that follow replace every epoch shown. Sent
    /// by `watch` only, never written to a run log.
    Rebuilt,
    /// What a loop steered through the Python bridge says of itself (its
    /// framework, the keys it obeys, paused or stopped), whenever that
    /// changes. Sent by `watch` only, never written to a run log.
    Bridge(crate::ingest::BridgeStatus),
    /// The checklist's verdict changed (written by the run model).
    Verdict {
        epoch: usize,
        verdict: crate::diagnose::Verdict,
        findings: Vec<String>,
    },
    /// The trainer hit an error it cannot recover from.
    Failed {
        message: String,
    },
    /// Step 0 of the checklist, measured once before the first step.
    Preflight(Preflight),
    /// The "overfit one batch" probe, run at an epoch's end when the
    /// training data is not learned.
    Probe(ProbeResult),
    /// One step of a range test on a copy of the model, `of` at most
    /// (the run itself does not move; `null` losses were not finite).
    RangeTestPoint {
        step: usize,
        of: usize,
        lr: f32,
        loss: Option<f32>,
        smoothed: Option<f32>,
    },
    /// The range test ended: `stopped` is `diverged` (the loss passed 4x
    /// its minimum), `end` (the last rate reached) or `cancelled`; the
    /// rates are `None` when the curve was too short to suggest one.
    RangeTestEnd {
        steps: usize,
        stopped: String,
        steepest: Option<f32>,
        min_over_10: Option<f32>,
        suggested: Option<f32>,
    },
}

impl Event {
    /// Whether the event may be dropped (coalesced) when the channel is full.
    pub fn is_coalescable(&self) -> bool {
        matches!(self, Event::Step(_) | Event::Stats(_))
    }
}

/// What is being trained, sent once at the start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Every setting the run starts with, so a recorded log can be replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Box<crate::preset::Preset>>,
    /// A run trained elsewhere: the hyperparameters its log recorded (key →
    /// value as written), the only settings the checklist reads for it.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub hparams: std::collections::BTreeMap<String, String>,
}

/// Where a fork began and what its branch changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForkInfo {
    pub step: u64,
    /// The epochs finished when it forked.
    pub epoch: usize,
    /// The branch's name: its change in words ("dropout 0.5").
    pub branch: String,
    /// What changed on the branch, as the trainer applied it.
    pub changes: Vec<Change>,
    /// Epochs the branch trains before the trainer pauses for the decision.
    pub epochs: usize,
    /// A fork from a fresh start (`Command::ForkFresh`): the branch's
    /// whole settings, which `changes` alone cannot say (normalization,
    /// augmentation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Box<crate::preset::Preset>>,
    /// A fresh fork's step 0, measured on its own inputs and network: a
    /// kept branch's checklist reads it, not the run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<Box<Preflight>>,
}

/// Training metrics averaged over the steps since the previous `Step` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub epoch: usize,
    pub step: u64,
    pub loss: f32,
    pub acc: f32,
    pub samples_per_s: f32,
    /// Mean threads per step over the window (see [`EpochMetrics::threads`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<f32>,
    /// A fork's branch, when these are the branch's steps (absent: the run's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

/// The end of an epoch: training as trained, training in eval mode, validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// With `label_noise`: the share of the relabelled training samples the
    /// net predicts as their replaced (wrong) label — memorized noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_memorized: Option<f32>,
    pub samples_per_s: f32,
    /// Mean threads per training step over the epoch (1 to the team's
    /// size): below the team's size when the step governor ran steps on one
    /// thread because two were slower. Absent on one thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<f32>,
    pub elapsed_s: f64,
    /// The gradient norm a run trained elsewhere logged (the largest of the
    /// epoch; infinity when a logged one was not finite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_norm: Option<f32>,
    /// A fork's branch, when this is the branch's epoch (absent: the run's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

/// Statistics of every layer (input side first) after step `step`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    pub step: u64,
    pub layers: Vec<LayerStats>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    Completed,
    EarlyStop,
    Diverged,
    Interrupted,
}

/// The validation confusion matrix, a few misclassified samples, and for
/// two-dimensional sets the decision boundary over the input plane.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataView {
    pub epoch: usize,
    /// `confusion[true][predicted]` over the validation split.
    pub confusion: Vec<Vec<u32>>,
    pub misclassified: Vec<Misclassified>,
    /// `(rows, cols)` of the images in `misclassified`, when they are images.
    pub image: Option<(usize, usize)>,
    pub boundary: Option<Boundary>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Misclassified {
    pub label: u8,
    pub predicted: u8,
    /// The raw pixels (row-major), for image datasets.
    pub pixels: Vec<u8>,
}

/// The predicted class on a `cols × rows` grid over `x` × `y` (row 0 at the
/// top, i.e. the largest y), and a sample of validation points `(x, y, label)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Boundary {
    pub x: (f32, f32),
    pub y: (f32, f32),
    pub cols: usize,
    pub rows: usize,
    pub classes: Vec<u8>,
    pub points: Vec<(f32, f32, u8)>,
}

/// The last event of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub epochs: usize,
    pub best_epoch: usize,
    pub best_val_acc: f32,
    /// `None` when the run was interrupted: the test set is not evaluated then.
    pub test_acc: Option<f32>,
    pub test_loss: Option<f32>,
    pub stopped: Stopped,
}

/// Step 0 of the checklist, measured by `train::preflight` before the first step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preflight {
    /// Training samples the feature statistics cover.
    pub samples: usize,
    /// The largest absolute network input over those samples.
    pub input_max_abs: f32,
    /// The smallest and largest per-feature mean and standard deviation.
    pub mean_range: (f32, f32),
    pub std_range: (f32, f32),
    /// Share of the features with |mean| > `FEATURE_SCALE` or std > `FEATURE_SCALE`.
    pub off_scale_share: f32,
    pub features: usize,
    /// The mean data loss of the untrained network (eval mode) on up to
    /// `LOSS_SAMPLES` training samples, and ln(classes) beside it.
    pub init_loss: f32,
    pub chance_loss: f32,
    /// Training labels per class (over the whole training split).
    pub class_counts: Vec<usize>,
    /// ‖W‖ of every dense layer (input side first) at initialisation.
    pub weight_norms: Vec<f32>,
}

/// One fit of the batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeFit {
    /// `OptimizerKind::label` of the optimizer used, and its learning rate.
    pub optimizer: String,
    pub lr: f32,
    pub steps: usize,
    pub millis: u64,
    /// Mean loss and accuracy on the batch, eval mode, before and after.
    pub loss_before: f32,
    pub loss_after: f32,
    pub acc_after: f32,
    /// The batch was memorized (`FIT_ACC` and `FIT_LOSS`).
    pub fits: bool,
    /// The wall-time budget ended the fit before it memorized the batch or
    /// used its steps: a "no" that says little.
    pub timed_out: bool,
    /// The largest per-layer ‖ΔW‖/‖W‖ of a step, averaged over the first steps.
    pub update_ratio: f32,
}

/// Both fits, at the end of epoch `epoch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub epoch: usize,
    pub batch: usize,
    pub configured: ProbeFit,
    pub reference: ProbeFit,
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
            noise_memorized: None,
            samples_per_s: 41000.0,
            threads: None,
            elapsed_s: 4.2,
            grad_norm: None,
            branch: None,
        });
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"epoch","epoch":3,"step":1170,"train_loss":0.081,"train_acc":0.975,"train_loss_eval":0.07,"train_acc_eval":0.98,"val_loss":0.094,"val_acc":0.971,"lr":0.1,"penalty":0.0,"samples_per_s":41000.0,"elapsed_s":4.2}"#
        );
        let c = Event::Change(Change {
            step: 5,
            from: Setting::LearningRate(0.1),
            to: Setting::LearningRate(0.2),
            note: None,
            by_trainer: false,
        });
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"type":"change","step":5,"key":"lr","from":0.1,"to":0.2}"#);
    }

    #[test]
    fn verdict_event_serializes_as_the_design_says() {
        let v = Event::Verdict {
            epoch: 7,
            verdict: crate::diagnose::Verdict::Overfitting,
            findings: vec!["overfitting_gap".into(), "val_loss_rising".into()],
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"type":"verdict","epoch":7,"verdict":"overfitting","findings":["overfitting_gap","val_loss_rising"]}"#
        );
        assert!(!v.is_coalescable());
    }
}
