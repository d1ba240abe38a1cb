//! The "is it overfitting?" checklist in Hung-yi Lee's order, as a pure
//! function of the run's history, its current settings and what the engine
//! measured (layer statistics per epoch, step 0's pre-flight, the
//! overfit-one-batch probe). The headless runner and the dashboard call the
//! same `diagnose`; neither the trainer nor the terminal is involved, and
//! nothing here imports them: every input is a plain type.
//!
//! 0. Pre-flight, before epoch 1: the input scale and per-feature
//!    statistics, the loss at initialisation against ln(classes), the
//!    class balance.
//! 1. Does it learn the training data? If not it is not overfitting: the
//!    cause comes from measurements, not from accuracy thresholds alone —
//!    divergence, unnormalized inputs, a penalty that crushes the weights,
//!    the update-to-weight ratio per layer (a learning rate too low or too
//!    high), vanishing gradients where saturating activations or depth
//!    explain them, saturated or dead units, and the probe, which separates
//!    a network too small from an optimization that fails.
//! 2. Only when training is good: is validation good? A gap that opens and
//!    a validation loss that climbs is overfitting.
//! 3. Both good: healthy.
//!
//! The verdict over time: `diagnose` also finds the epoch since which the
//! verdict has held, by diagnosing the run's prefixes.

pub mod curves;
mod evidence;
pub mod remedies;

use crate::nn::{Activation, OptimizerKind};
use serde::Serialize;

pub use remedies::{contradicts, remedies_for, worsens};

/// Epochs needed before any verdict but "too early": one epoch is noise.
pub const MIN_EPOCHS: usize = 2;
/// Training accuracy (eval mode) at which the net "learns the training
/// data": every healthy preset passes 90% within its first epochs, every
/// failing one stays far below.
pub const TRAIN_FIT_ACC: f32 = 0.90;
/// Training accuracy this close below the fit, with no measured cause and
/// validation keeping up, is borderline rather than underfitting.
pub const FIT_BORDER: f32 = 0.03;
/// A train−validation accuracy gap from this many points on is overfitting
/// (mnist-mlp's healthy gap is ~1 point, mnist-overfit's ~10).
pub const GAP_OVERFIT: f32 = 0.05;
/// Validation loss this far above its best, with the best at least
/// `RISING_EPOCHS` back, is rising.
pub const VAL_RISE: f32 = 0.10;
pub const RISING_EPOCHS: usize = 3;
/// ... and at least this much above it in absolute terms: a validation
/// loss going 0.004 → 0.006 at 100% validation accuracy is noise, not overfitting.
pub const VAL_RISE_ABS: f32 = 0.02;
/// Inputs larger than this in absolute value are not normalized (pixels at
/// 0..255 reach 255; scaled or standardized inputs stay within a few units).
pub const INPUT_SCALE_MAX: f32 = 10.0;
/// A share of features off the unit scale (|mean| or std above 3, see
/// `train::preflight`) from which the inputs count as not normalized.
pub const OFF_SCALE_SHARE: f32 = 0.25;
/// A loss at initialisation this many times ln(classes) is a far-off start:
/// an init or scale problem (raw pixels start near 100× it).
pub const INIT_LOSS_FACTOR: f32 = 3.0;
/// The most common training class this many times the rarest one (or a
/// class without samples) is an imbalance step 0 flags.
pub const IMBALANCE: f32 = 10.0;
/// First-layer gradient norm below this share of the last layer's: the
/// gradient vanishes on its way down (the deep sigmoid preset: ~1e-4).
pub const VANISHING_RATIO: f32 = 1e-2;
/// Depth (hidden layers) from which a non-saturating net's gradient may
/// vanish too; shallower ReLU nets do not explain a small first-layer ratio.
pub const DEEP: usize = 4;
/// Mean share of dead (ReLU) or saturated (sigmoid/tanh) units that is a finding.
pub const DEAD_SHARE: f32 = 0.5;
pub const SATURATED_SHARE: f32 = 0.5;
/// Relative fall of the training loss over the last epochs below which it is flat.
pub const FLAT_LOSS: f32 = 0.02;
/// Accuracy within this factor of chance (1/classes) counts as stalled.
pub const CHANCE_FACTOR: f32 = 1.5;
/// Dropout at or above this, with training still short of the fit, may be what slows it.
pub const HIGH_DROPOUT: f32 = 0.3;
/// The healthy band of the update-to-weight ratio ‖ΔW‖/‖W‖ of a step (the
/// largest over the layers, averaged over the epoch's reports): around
/// 1e-3 (Karpathy's rule of thumb). Below `RATIO_LOW`, ten times under it,
/// the weights hardly move, whatever the loss did; above `RATIO_HIGH`
/// every step rewrites a sizeable share of them, before anything explodes
/// (healthy momentum-SGD runs sit at 2e-3..1e-2, so the upper edge is
/// farther out).
pub const RATIO_LOW: f32 = 1e-4;
pub const RATIO_HIGH: f32 = 1e-1;
/// A hidden layer with this share of its units dead passes no signal.
pub const WRECKED_SHARE: f32 = 0.95;
/// An update ratio at any epoch from which a step rewrites a third of a
/// layer: spirals at Adam lr 1 measures ~1 in its first epoch, the healthy
/// Adam 1e-2 ~0.05 (its largest, also in the first epoch).
pub const RATIO_BLOWN: f32 = 0.3;
/// The penalty's share of the total training loss from which L1/L2 is
/// what training minimizes, rather than the data loss.
pub const PENALTY_SHARE: f32 = 0.2;
/// A layer's weight norm below this share of its norm at initialisation,
/// with L1/L2 on and the data not learned: the penalty crushed it.
pub const WEIGHT_SHRINK: f32 = 0.5;
/// Snapshots (epochs) the update ratio is averaged over.
pub const RECENT_SNAPSHOTS: usize = 2;

/// One epoch as the diagnosis reads it. For a run trained elsewhere a value
/// the log does not hold is NaN, and a value the log holds but that is not
/// finite (a NaN or infinite loss) is +infinity: the two never mix.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochPoint {
    pub epoch: usize,
    /// As trained (dropout on).
    pub train_loss: f32,
    pub train_loss_eval: f32,
    pub train_acc_eval: f32,
    pub val_loss: f32,
    pub val_acc: f32,
    /// The L1/L2 penalty of the weights at the epoch's end, apart from the
    /// data loss (0 without a penalty, or when the log lacks it).
    pub penalty: f32,
    /// Rollbacks of the divergence guard during this epoch.
    pub rollbacks: usize,
    /// The learning rate a log recorded for this epoch (NaN: not logged).
    pub lr: f32,
    /// The gradient norm a log recorded (NaN: not logged; infinity: not finite).
    pub grad_norm: f32,
}

/// What the log of a run trained elsewhere recorded of its settings, each
/// `None` unless the log holds it (a learning-rate tag names its
/// optimizer, writers record hyperparameters): the checklist of such a run
/// reads settings from here only, never from a preset's defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Logged {
    /// A learning rate from the recorded hyperparameters (the per-epoch
    /// one, when logged, is in `EpochPoint::lr`).
    pub lr: Option<f32>,
    /// The optimizer's name, as the log gives it ("Adam" from `lr-Adam`).
    pub optimizer: Option<String>,
    /// Weight decay or L2, with the key the log recorded it under.
    pub weight_decay: Option<(String, f32)>,
    /// Logged gradient histograms, latest of each tag: (tag, root mean
    /// square of the gradient values, step), input side first.
    pub gradients: Vec<(String, f32, u64)>,
}

/// The current settings that matter to the checklist (a run of ours:
/// a foreign run's log holds no such settings, see [`Logged`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub lr: f32,
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub optimizer: OptimizerKind,
    pub dropout: f32,
    pub l1: f32,
    pub l2: f32,
    pub early_stopping: bool,
    /// The share of training labels replaced at random: it caps what the
    /// training data allows.
    pub label_noise: f32,
    pub augmenting: bool,
    pub convolutional: bool,
    pub images: bool,
    /// The inputs go through `Scale255` or `Standardize` already.
    pub normalized: bool,
}

impl Default for Settings {
    /// A plain run: ReLU, plain SGD, nothing else on.
    fn default() -> Settings {
        Settings {
            lr: 0.0,
            hidden: Vec::new(),
            activation: Activation::Relu,
            optimizer: OptimizerKind::Sgd { momentum: 0.0, nesterov: false },
            dropout: 0.0,
            l1: 0.0,
            l2: 0.0,
            early_stopping: false,
            label_noise: 0.0,
            augmenting: false,
            convolutional: false,
            images: false,
            normalized: false,
        }
    }
}

/// One layer's statistics (input side first; the last is the output layer).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerPoint {
    /// Output units (the layer's width).
    pub units: usize,
    pub grad_norm: f32,
    pub weight_norm: f32,
    /// ‖ΔW‖/‖W‖ of a step (0: not measured).
    pub update_ratio: f32,
    pub dead_fraction: Option<f32>,
    pub saturated_fraction: Option<f32>,
}

/// The layers at the end of an epoch, the update ratios averaged over the
/// statistics reports of that epoch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerSnapshot {
    pub epoch: usize,
    pub layers: Vec<LayerPoint>,
}

/// Step 0, as `train::preflight` measured it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PreflightPoint {
    pub input_max_abs: f32,
    pub mean_range: (f32, f32),
    pub std_range: (f32, f32),
    /// Share of features with |mean| or std above 3.
    pub off_scale_share: f32,
    pub init_loss: f32,
    /// ln(classes): the loss of a uniform guess.
    pub chance_loss: f32,
    pub class_counts: Vec<usize>,
    /// ‖W‖ of every layer at initialisation.
    pub weight_norms: Vec<f32>,
}

/// One fit of the overfit-one-batch probe.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProbeFitPoint {
    pub optimizer: String,
    pub lr: f32,
    pub steps: usize,
    pub loss_before: f32,
    pub loss_after: f32,
    pub acc_after: f32,
    pub fits: bool,
    /// The time budget ended it before it fitted or used its steps.
    pub timed_out: bool,
    pub update_ratio: f32,
}

/// The probe at the end of epoch `epoch`: the run's own settings, and a
/// reference (Adam at a usual rate, no penalty, no dropout), each on one batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProbePoint {
    pub epoch: usize,
    pub batch: usize,
    pub configured: ProbeFitPoint,
    pub reference: ProbeFitPoint,
}

/// Everything the checklist looks at. `Default` leaves every measurement
/// out (a run trained elsewhere): the checks that need them say so.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inputs<'a> {
    pub epochs: &'a [EpochPoint],
    pub classes: usize,
    /// The built-in trainer's settings, all known. `None` for a run trained
    /// elsewhere: it is judged from its curves and what `logged` holds.
    pub settings: Option<Settings>,
    pub logged: Logged,
    /// The largest absolute network input on training samples (used when
    /// there is no pre-flight).
    pub input_scale: f32,
    /// The latest layer statistics.
    pub layers: &'a [LayerPoint],
    /// Rollbacks of the divergence guard, and how many in the last epoch.
    pub rollbacks: usize,
    pub recent_rollbacks: usize,
    /// The run ended as `diverged`.
    pub gave_up: bool,
    pub stopped_early: bool,
    /// The layers at each epoch's end, oldest first.
    pub layer_history: &'a [LayerSnapshot],
    pub preflight: Option<&'a PreflightPoint>,
    /// Every probe of the run, oldest first.
    pub probes: &'a [ProbePoint],
    /// The verdict of the caller's previous diagnosis of this run and the
    /// epoch it has held since. With it, "since when" costs nothing: the
    /// same verdict keeps its epoch, a new one starts at the last epoch.
    /// Without it every earlier prefix is diagnosed again (quadratic).
    pub previous: Option<(Verdict, usize)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Healthy,
    Underfitting,
    Overfitting,
    Diverging,
    Stalled,
    TooEarly,
    /// Training learns and validation gets worse from the start: training
    /// and evaluation differ (Lee's "mismatch"), not overfitting.
    Mismatch,
}

impl Verdict {
    /// The id the JSON lines use (`"overfitting"`, `"too_early"`).
    pub fn id(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Underfitting => "underfitting",
            Verdict::Overfitting => "overfitting",
            Verdict::Diverging => "diverging",
            Verdict::Stalled => "stalled",
            Verdict::TooEarly => "too_early",
            Verdict::Mismatch => "mismatch",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warn,
    Bad,
}

/// What a remedy does, for the dashboard to apply with one key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    HalveLr,
    DoubleLr,
    /// Multiply the learning rate (×10 for one far too low, ÷10 for one far too high).
    ScaleLr(f32),
    /// Switch the hidden activation ("ReLU" or "SELU").
    UseRelu,
    UseSelu,
    UseAdam,
    /// Restart with `normalize: Scale255` (images) or `Standardize`.
    Normalize,
    AddLayer,
    /// Restart with every hidden width doubled.
    Wider,
    EarlyStopping,
    Dropout(f32),
    AddL2,
    /// L2 (L1) ÷10, down to 0 below 1e-6.
    LessL2,
    LessL1,
    LessDropout,
    /// Restart with `augment: Shift(pixels: 2)`.
    Augment,
    /// Measure the learning rate: the range test on a copy of the model
    /// (the dashboard's `m`), whose suggestion `Enter` then applies.
    RangeTest,
    // What only the user's own code can do (a run trained elsewhere): the
    // dashboard shows them, applies none.
    /// Train more epochs.
    TrainLonger,
    /// The overfit-one-batch test, which tells capacity from optimization.
    OverfitOneBatch,
    ClipGradients,
    /// Evaluate in eval mode, with the same preprocessing and labels.
    CheckEvaluation,
    /// Look at the inputs and the loss for NaN, scale and label errors.
    CheckInputs,
    /// Hold out a validation set and log its loss.
    AddValidation,
}

impl Action {
    /// Whether only the user's code can do it (nothing for a key to apply).
    pub fn in_code_only(self) -> bool {
        matches!(
            self,
            Action::TrainLonger
                | Action::OverfitOneBatch
                | Action::ClipGradients
                | Action::CheckEvaluation
                | Action::CheckInputs
                | Action::AddValidation
        )
    }
}

/// A remedy in Lee's terms, and what applying it does.
#[derive(Clone, Debug, PartialEq)]
pub struct Remedy {
    pub label: &'static str,
    pub action: Action,
}

impl Serialize for Remedy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label)
    }
}

/// What a finding is about. Serialized (JSON lines, the run log) as its
/// snake_case id ("lr_too_high"), the shape the lines have always had; in
/// the code a typo is a compile error and every table over findings
/// (`remedies.rs`) matches all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingId {
    Healthy,
    Diverged,
    Unstable,
    LrTooHigh,
    LrTooLow,
    RegularizationTooStrong,
    VanishingGradients,
    SaturatedUnits,
    DeadUnits,
    UnnormalizedInputs,
    CapacityTooSmall,
    DropoutCost,
    OverfittingGap,
    ValLossRising,
    EarlyStopRecommended,
    UnderfittingPlateau,
    NotLearning,
    TrainEvalMismatch,
    TrainLonger,
    NoValidation,
    LateStart,
}

impl FindingId {
    pub const ALL: [FindingId; 21] = [
        FindingId::Healthy,
        FindingId::Diverged,
        FindingId::Unstable,
        FindingId::LrTooHigh,
        FindingId::LrTooLow,
        FindingId::RegularizationTooStrong,
        FindingId::VanishingGradients,
        FindingId::SaturatedUnits,
        FindingId::DeadUnits,
        FindingId::UnnormalizedInputs,
        FindingId::CapacityTooSmall,
        FindingId::DropoutCost,
        FindingId::OverfittingGap,
        FindingId::ValLossRising,
        FindingId::EarlyStopRecommended,
        FindingId::UnderfittingPlateau,
        FindingId::NotLearning,
        FindingId::TrainEvalMismatch,
        FindingId::TrainLonger,
        FindingId::NoValidation,
        FindingId::LateStart,
    ];

    /// The id the JSON lines use.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingId::Healthy => "healthy",
            FindingId::Diverged => "diverged",
            FindingId::Unstable => "unstable",
            FindingId::LrTooHigh => "lr_too_high",
            FindingId::LrTooLow => "lr_too_low",
            FindingId::RegularizationTooStrong => "regularization_too_strong",
            FindingId::VanishingGradients => "vanishing_gradients",
            FindingId::SaturatedUnits => "saturated_units",
            FindingId::DeadUnits => "dead_units",
            FindingId::UnnormalizedInputs => "unnormalized_inputs",
            FindingId::CapacityTooSmall => "capacity_too_small",
            FindingId::DropoutCost => "dropout_cost",
            FindingId::OverfittingGap => "overfitting_gap",
            FindingId::ValLossRising => "val_loss_rising",
            FindingId::EarlyStopRecommended => "early_stop_recommended",
            FindingId::UnderfittingPlateau => "underfitting_plateau",
            FindingId::NotLearning => "not_learning",
            FindingId::TrainEvalMismatch => "train_eval_mismatch",
            FindingId::TrainLonger => "train_longer",
            FindingId::NoValidation => "no_validation",
            FindingId::LateStart => "late_start",
        }
    }
}

impl std::fmt::Display for FindingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub id: FindingId,
    pub severity: Severity,
    pub evidence: String,
    pub remedies: Vec<Remedy>,
}

/// A step of the checklist: passed, failed, or not decided yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Pass,
    Fail,
    Pending,
}

/// A line of the checklist beside steps 1 and 2: its mark and evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub mark: Mark,
    pub evidence: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnosis {
    pub verdict: Verdict,
    /// The verdict the run is close to when it is borderline ("healthy,
    /// borderline overfitting").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub borderline: Option<Verdict>,
    /// The first epoch from which the verdict has held without a break.
    #[serde(rename = "since_epoch", skip_serializing_if = "Option::is_none")]
    pub since: Option<usize>,
    pub findings: Vec<Finding>,
    /// Step 0, the pre-flight (pending without one).
    pub preflight: Check,
    /// The latest overfit-one-batch probe, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<Check>,
    /// Step 1 (training) and step 2 (validation) of the checklist.
    #[serde(skip)]
    pub steps: [(Mark, String); 2],
}

impl Diagnosis {
    /// The verdict in words, with its borderline neighbour.
    pub fn verdict_words(&self) -> String {
        format!("{}{}", self.verdict.id().replace('_', " "), self.borderline_words())
    }

    /// ", borderline overfitting", or nothing.
    pub fn borderline_words(&self) -> String {
        self.borderline.map_or(String::new(), |b| format!(", borderline {}", b.id().replace('_', " ")))
    }

    /// The finding ids, in order (what the `verdict` log line carries).
    pub fn finding_ids(&self) -> Vec<String> {
        self.findings.iter().map(|f| f.id.to_string()).collect()
    }
}

pub(crate) fn pct(x: f32) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The relative fall of `f` over the last `k` epochs (positive: falling).
fn fall(epochs: &[EpochPoint], k: usize, f: fn(&EpochPoint) -> f32) -> Option<f32> {
    let n = epochs.len();
    (n > k).then(|| {
        let (old, new) = (f(&epochs[n - 1 - k]), f(&epochs[n - 1]));
        (old - new) / old.abs().max(1e-6)
    })
}

/// The findings being gathered, each with its remedies from the table.
struct Findings<'s> {
    list: Vec<Finding>,
    /// The built-in trainer's settings; `None` for a run trained elsewhere,
    /// whose remedies are said as changes to the user's own code.
    settings: Option<&'s Settings>,
}

impl Findings<'_> {
    fn add(&mut self, id: FindingId, severity: Severity, evidence: String) {
        let remedies = match self.settings {
            Some(s) => remedies_for(id, s),
            None => remedies::in_code(id),
        };
        self.list.push(Finding { id, severity, evidence, remedies });
    }
    fn has(&self, id: FindingId) -> bool {
        self.list.iter().any(|f| f.id == id)
    }
    /// The findings, worst first, their remedies made coherent: a learning
    /// rate named too low keeps every other finding from offering a smaller
    /// step, and one named too high (or a blow-up) from offering a larger one.
    fn done(mut self) -> Vec<Finding> {
        let named = |id: FindingId| self.list.iter().any(|f| f.id == id);
        let (low, high) = (
            named(FindingId::LrTooLow),
            named(FindingId::LrTooHigh) || named(FindingId::Diverged) || named(FindingId::Unstable),
        );
        for f in &mut self.list {
            f.remedies.retain(|r| {
                let raises = matches!(r.action, Action::DoubleLr) || matches!(r.action, Action::ScaleLr(x) if x > 1.0);
                let lowers = matches!(r.action, Action::HalveLr) || matches!(r.action, Action::ScaleLr(x) if x < 1.0);
                !(high && raises || low && lowers && f.id != FindingId::LrTooLow)
            });
        }
        self.list.sort_by_key(|f| std::cmp::Reverse(f.severity));
        self.list
    }
}

/// The checklist for a run so far, with the epoch since which its verdict holds.
pub fn diagnose(inp: &Inputs<'_>) -> Diagnosis {
    let mut d = diagnose_now(inp);
    d.since = match (inp.previous, inp.epochs.last()) {
        _ if d.verdict == Verdict::TooEarly => None,
        (Some((verdict, since)), _) if verdict == d.verdict => Some(since),
        (Some(_), Some(last)) => Some(last.epoch),
        _ => since(inp, d.verdict),
    };
    if let Some(e) = d.since {
        let what = d.verdict_words();
        let step = match d.verdict {
            Verdict::Overfitting | Verdict::Healthy | Verdict::Mismatch => 1,
            _ => 0,
        };
        if d.steps[step].0 != Mark::Pending {
            d.steps[step].1.push_str(&format!(" — {what} since epoch {e}"));
        }
    }
    d
}

/// The first epoch from which every prefix of the run gets `verdict`: the
/// run diagnosed as it stood at the end of each earlier epoch, walking back
/// until the verdict differs. `None` while it is too early.
pub fn since(inp: &Inputs<'_>, verdict: Verdict) -> Option<usize> {
    let n = inp.epochs.len();
    if verdict == Verdict::TooEarly || n == 0 {
        return None;
    }
    let mut first = n;
    for k in (1..n).rev() {
        if diagnose_now(&prefix(inp, k)).verdict != verdict {
            break;
        }
        first = k;
    }
    Some(inp.epochs[first - 1].epoch)
}

/// The run as it stood at the end of its `k`-th epoch.
fn prefix<'a>(inp: &Inputs<'a>, k: usize) -> Inputs<'a> {
    let epochs = &inp.epochs[..k];
    let last = epochs.last().map_or(0, |e| e.epoch);
    let layer_history = &inp.layer_history[..inp.layer_history.iter().take_while(|s| s.epoch <= last).count()];
    let probes = &inp.probes[..inp.probes.iter().take_while(|p| p.epoch <= last).count()];
    Inputs {
        epochs,
        layers: layer_history.last().map_or(&[][..], |s| s.layers.as_slice()),
        rollbacks: epochs.iter().map(|e| e.rollbacks).sum(),
        recent_rollbacks: epochs.last().map_or(0, |e| e.rollbacks),
        gave_up: false,
        stopped_early: false,
        layer_history,
        probes,
        previous: None,
        ..inp.clone()
    }
}

/// The checklist for the run as it stands (no look back).
fn diagnose_now(inp: &Inputs<'_>) -> Diagnosis {
    let Some(s) = inp.settings.as_ref() else { return curves::diagnose(inp, &inp.logged) };
    let mut f = Findings { list: Vec::new(), settings: Some(s) };
    let chance = 1.0 / inp.classes.max(2) as f32;
    let (preflight, unnormalized, input_evidence) = evidence::preflight(inp, s);
    let probe_check = inp.probes.last().map(evidence::probe_check);

    // Divergence first: it makes every other number meaningless.
    if inp.rollbacks > 0 {
        let cause = if unnormalized { "; the inputs are not normalized, so every step is huge" } else { "" };
        f.add(
            FindingId::Diverged,
            if inp.recent_rollbacks > 0 || inp.gave_up { Severity::Bad } else { Severity::Warn },
            format!(
                "the loss exploded {} time(s) ({} in the last epoch); rolled back and halved the learning rate to {:.2e}{cause}",
                inp.rollbacks, inp.recent_rollbacks, s.lr
            ),
        );
    }
    let finish = |verdict, f: Findings<'_>, steps| Diagnosis {
        verdict,
        borderline: None,
        since: None,
        findings: f.done(),
        preflight: preflight.clone(),
        probe: probe_check.clone(),
        steps,
    };
    let blew_up = format!("the loss blew up at learning rate {:.2e} and above", s.lr * 2.0);
    let Some(last) = inp.epochs.last() else {
        // It blew up before the first epoch ended: the cause still shows.
        if inp.rollbacks > 0 && !unnormalized {
            f.add(FindingId::LrTooHigh, Severity::Bad, blew_up);
        }
        if unnormalized {
            f.add(FindingId::UnnormalizedInputs, Severity::Bad, input_evidence);
        }
        let steps = [(Mark::Pending, "after the first epoch".into()), (Mark::Pending, "after step 1".into())];
        return finish(if inp.gave_up { Verdict::Diverging } else { Verdict::TooEarly }, f, steps);
    };
    let diverging = inp.gave_up || (inp.recent_rollbacks > 0 && !unnormalized);
    let fit = TRAIN_FIT_ACC * (1.0 - s.label_noise);
    let learned = last.train_acc_eval >= fit;
    if diverging || (inp.rollbacks > 0 && !unnormalized && !learned) {
        f.add(FindingId::LrTooHigh, Severity::Bad, blew_up);
    } else if inp.rollbacks > 0 && !unnormalized {
        // The guard rescued it: the learning rate set was too high, the one
        // it runs at now works. Nothing to apply now; the evidence says
        // where to start next time.
        f.list.push(Finding {
            id: FindingId::LrTooHigh,
            severity: Severity::Warn,
            evidence: format!(
                "the learning rate set blew up {} time(s); the guard lowered it to {:.2e}, where it trains: start there",
                inp.rollbacks, s.lr
            ),
            remedies: vec![],
        });
    }
    if inp.epochs.len() < MIN_EPOCHS && !diverging {
        let steps = [
            (Mark::Pending, format!("train acc {} after one epoch", pct(last.train_acc_eval))),
            (Mark::Pending, "after step 1".into()),
        ];
        return finish(Verdict::TooEarly, f, steps);
    }

    // Step 1: does it learn the training data, as far as the data allows
    // (noisy labels cannot all be learned without memorizing them)?
    let loss_fall = fall(inp.epochs, 2.min(inp.epochs.len() - 1), |e| e.train_loss_eval).unwrap_or(0.0);
    let step1 = format!(
        "train acc {} (eval mode), loss {:.3}, {} over the last epochs",
        pct(last.train_acc_eval),
        last.train_loss_eval,
        if loss_fall > FLAT_LOSS { format!("falling {:.0}%", loss_fall * 100.0) } else { "flat".into() }
    );
    // Just short of the fit, with no measured cause and validation keeping
    // up: the threshold, not the run, would decide (spirals ends at 88–92%
    // depending on the seed). Judged on as learned, and said to be borderline.
    let mut border = false;
    if !learned {
        // The causes, measured once: they decide the borderline case and
        // are the findings otherwise.
        // (On top of the findings so far: some causes defer to them.)
        let mut causes = Findings { list: f.list.clone(), settings: Some(s) };
        evidence::causes(inp, s, &mut causes, unnormalized, &input_evidence, loss_fall);
        // A slow fall (lr_too_low) is no cause against the border: it is
        // what a run just short of its fit looks like; nor is a share of
        // dead units a wide layer can spare (spirals seed 5: 56% of a layer
        // of 32, at 88%). A layer narrower than the classes is, and so are a
        // layer all but dead, saturated units and dropout the probe showed
        // costs the fit.
        let measured = causes.list[f.list.len()..]
            .iter()
            .any(|x| !matches!(x.id, FindingId::LrTooLow | FindingId::DeadUnits) && evidence::explains(x))
            || evidence::bottleneck(s, inp.classes)
            || evidence::wrecked(inp.layers).is_some();
        border = last.train_acc_eval >= fit - FIT_BORDER
            && !diverging
            && inp.rollbacks == 0
            && !measured
            && last.val_acc >= last.train_acc_eval - GAP_OVERFIT;
        if !border {
            f.list = causes.list;
        }
    }
    if !learned && !border {
        let stalled = last.train_acc_eval <= CHANCE_FACTOR * chance && loss_fall <= FLAT_LOSS;
        // A run that blew up and has not learned since is still diverging,
        // unless the blow-ups came from unnormalized inputs (the cause to fix).
        let verdict = if diverging || (inp.rollbacks > 0 && !unnormalized) {
            Verdict::Diverging
        } else if stalled {
            Verdict::Stalled
        } else {
            Verdict::Underfitting
        };
        let steps = [(Mark::Fail, step1), (Mark::Pending, "not before the training data is learned".into())];
        return finish(verdict, f, steps);
    }
    // It trains anyway: the scale is still worth fixing, as a warning.
    if unnormalized {
        f.add(FindingId::UnnormalizedInputs, Severity::Warn, format!("{input_evidence}; it learns anyway"));
    }

    // Step 2: only now, is validation good?
    let gap = last.train_acc_eval - last.val_acc;
    let best = inp.epochs.iter().min_by(|a, b| a.val_loss.total_cmp(&b.val_loss)).unwrap_or(last);
    let turn_up = last.val_loss > best.val_loss * (1.0 + VAL_RISE)
        && last.val_loss > best.val_loss + VAL_RISE_ABS
        && last.epoch >= best.epoch + RISING_EPOCHS;
    // The same test as for a run trained elsewhere: the turn must stand out
    // of the curve's own noise, else it is borderline.
    let val_points: Vec<(usize, f32)> = inp.epochs.iter().map(|e| (e.epoch, e.val_loss)).collect();
    let clear = curves::turn_is_clear(&val_points);
    let rising = turn_up && clear;
    let borderline_rise = turn_up && !clear;
    let step2 = format!(
        "val acc {}, {:.1} points below training; val loss {:.3} (best {:.3} at epoch {})",
        pct(last.val_acc),
        gap * 100.0,
        last.val_loss,
        best.val_loss,
        best.epoch
    );
    let overfitting = gap >= GAP_OVERFIT || rising;
    if gap >= GAP_OVERFIT {
        let earlier = inp.epochs.len().checked_sub(1 + RISING_EPOCHS).map(|i| &inp.epochs[i]);
        let trend = earlier.map_or(String::new(), |e| {
            let was = e.train_acc_eval - e.val_acc;
            format!(
                ", {} {:.1} points in {} epochs",
                if gap > was { "up" } else { "down" },
                (gap - was).abs() * 100.0,
                RISING_EPOCHS
            )
        });
        f.add(
            FindingId::OverfittingGap,
            Severity::Bad,
            format!(
                "train acc {}, val {}: a {:.1}-point gap{trend}",
                pct(last.train_acc_eval),
                pct(last.val_acc),
                gap * 100.0
            ),
        );
    }
    if rising {
        f.add(
            FindingId::ValLossRising,
            Severity::Bad,
            format!(
                "validation loss {:.3}, up {:.0}% from its best {:.3} at epoch {}",
                last.val_loss,
                (last.val_loss / best.val_loss - 1.0) * 100.0,
                best.val_loss,
                best.epoch
            ),
        );
        if !s.early_stopping && !inp.stopped_early {
            f.add(
                FindingId::EarlyStopRecommended,
                Severity::Warn,
                format!("the best weights were at epoch {}; every epoch since made validation worse", best.epoch),
            );
        }
    }
    if overfitting {
        return finish(Verdict::Overfitting, f, [(Mark::Pass, step1), (Mark::Fail, step2)]);
    }
    // Step 3: both good.
    f.add(
        FindingId::Healthy,
        Severity::Info,
        format!("train {}, validation {}: it learns and generalizes", pct(last.train_acc_eval), pct(last.val_acc)),
    );
    let mut d = finish(
        if diverging { Verdict::Diverging } else { Verdict::Healthy },
        f,
        [(Mark::Pass, step1), (Mark::Pass, step2)],
    );
    if borderline_rise && d.verdict == Verdict::Healthy {
        d.borderline = Some(Verdict::Overfitting);
        if let Some(h) = d.findings.iter_mut().find(|x| x.id == FindingId::Healthy) {
            h.evidence.push_str(&format!(
                "; borderline overfitting: validation loss {:.3} is above its best {:.3} at epoch {}, within its \
                 epoch-to-epoch noise",
                last.val_loss, best.val_loss, best.epoch
            ));
        }
    } else if border && d.verdict == Verdict::Healthy {
        d.borderline = Some(Verdict::Underfitting);
        if let Some(h) = d.findings.iter_mut().find(|x| x.id == FindingId::Healthy) {
            h.evidence.push_str(&format!(
                "; borderline underfitting: training accuracy is within {:.0} points of the {} a fit needs here",
                FIT_BORDER * 100.0,
                pct(fit)
            ));
        }
    }
    d
}

#[cfg(test)]
mod tests;
