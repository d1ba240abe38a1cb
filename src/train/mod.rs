//! The training loop. A [`Trainer`] owns the network, the data and the
//! optimizer; [`spawn`] moves it onto a thread named `trainer` that applies
//! pending [`Command`]s between two minibatches and reports [`Event`]s over a
//! bounded channel (step metrics coalesced when it is full, every other event
//! always delivered).

pub mod checkpoint;
pub mod log;
pub mod preflight;
pub mod probe;
pub mod protocol;

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, unbounded};
use ndarray::{Array2, s};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::data::{Augment, DataError, Normalizer, Split, TrainTest, add_label_noise};
use crate::nn::loss::{LossSum, argmax};
use crate::nn::optim::Penalty;
use crate::nn::stats::layer_stats;
use crate::nn::{Fidelity, Network, Optimizer, StepRunner, Workspace};
use crate::preset::Preset;
pub use protocol::{
    Boundary, Change, Command, DataView, EpochMetrics, Event, Misclassified, RunInfo, StatsReport, StepMetrics,
    Stopped, Summary, json_f32,
};

/// Capacity of the event channel: a slow reader makes step events coalesce
/// long before it could slow training.
pub const EVENT_CAPACITY: usize = 256;
/// How often step metrics are sent: often enough for a smooth live curve.
const STEP_EVENT_INTERVAL: Duration = Duration::from_millis(50);
/// Evaluation batch: large products use both cores well.
const EVAL_BATCH: usize = 1000;
/// At most this many training samples are re-evaluated in eval mode each epoch.
const TRAIN_PROBE_SIZE: usize = 10_000;
/// Misclassified validation samples sent per epoch.
const DATA_VIEW_WRONG: usize = 12;
/// The decision-boundary grid of 2-D sets: cells across and down.
const BOUNDARY_GRID: (usize, usize) = (72, 36);
/// Validation points drawn over the boundary.
const BOUNDARY_POINTS: usize = 300;
/// How often layer statistics are computed and sent.
const STATS_INTERVAL: Duration = Duration::from_millis(500);
/// Training samples run forward for the activation statistics.
const STATS_PROBE: usize = 256;
/// The dropout rate a user may set stays at or below this.
pub const MAX_DROPOUT: f32 = 0.9;
/// The divergence guard trips when a minibatch's mean loss is not finite or
/// exceeds this many times the larger of the best smoothed loss so far and
/// the loss of a uniform guess (ln classes): healthy noise stays far below,
/// a run blowing up passes it within a few steps.
pub const DIVERGENCE_FACTOR: f32 = 8.0;
/// Smoothing of the loss the guard compares against.
const GUARD_SMOOTHING: f32 = 0.9;
/// A fresh known-good copy of the weights is kept this often (steps), and at
/// every epoch start, while the loss is healthy.
const GOOD_SNAPSHOT_STEPS: u64 = 100;
/// After this many rollbacks in one run the trainer gives up (`diverged`).
pub const MAX_ROLLBACKS: usize = 6;

/// A preset value in RON, as the change events report enums (`"Relu"`,
/// `"Adam(beta1:0.9,beta2:0.999)"`): the same syntax `--set` takes.
fn ron<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::Value::String(ron::to_string(value).unwrap_or_default())
}

/// Anything that stops a run from being set up; all of it is bad input.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("preset {preset}: field `{field}`: {message}")]
    Field { preset: String, field: &'static str, message: String },
}

/// The folder of the bundled MNIST: `./datasets/mnist`, else the source tree's.
pub fn bundled_mnist_dir() -> PathBuf {
    let local = PathBuf::from("datasets/mnist");
    if local.is_dir() { local } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist") }
}

/// Loads (or generates) the dataset a preset names.
pub fn load_data(preset: &Preset) -> Result<TrainTest, SetupError> {
    Ok(preset.dataset.load(&bundled_mnist_dir(), preset.seed)?)
}

pub struct Trainer {
    preset: Preset,
    data: TrainTest,
    split: Split,
    /// Training samples re-evaluated in eval mode at each epoch end.
    probe: Vec<u32>,
    norm: Normalizer,
    net: Network,
    opt: Optimizer,
    penalty: Penalty,
    runner: StepRunner,
    ws_eval: Workspace,
    eval_x: Array2<f32>,
    eval_y: Vec<u8>,
    rng: StdRng,
    /// The weights before the last step, when statistics are due (update ratio).
    before: Vec<Array2<f32>>,
    order: Vec<u32>,
    step: u64,
    paused: bool,
    early: Option<crate::preset::EarlyStopping>,
    /// Where `SaveCheckpoint` writes (default `./checkpoints`).
    checkpoint_dir: PathBuf,
    guard: Guard,
    /// The best weights by validation loss (kept while early stopping is on).
    best: Option<Best>,
}

/// The divergence guard's state.
struct Guard {
    /// Known-good weights and the step they are from.
    good: Option<(Network, u64)>,
    smoothed: Option<f32>,
    best_smoothed: f32,
    /// The loss of a uniform guess: the guard's floor.
    chance: f32,
    rollbacks: usize,
}

struct Best {
    net: Network,
    epoch: usize,
    val_loss: f32,
    /// Epochs since the last improvement.
    stale: usize,
}

/// Why the loop ends early.
enum Halt {
    /// `Command::Stop`, or the driver went away.
    Stop,
}

/// Running sums of a stretch of training steps.
#[derive(Default)]
struct Tally {
    loss: f64,
    correct: usize,
    samples: usize,
    time: Duration,
}

impl Tally {
    fn add(&mut self, s: LossSum, samples: usize, time: Duration) {
        self.loss += s.loss;
        self.correct += s.correct;
        self.samples += samples;
        self.time += time;
    }
    fn mean_loss(&self) -> f32 {
        (self.loss / self.samples.max(1) as f64) as f32
    }
    fn acc(&self) -> f32 {
        self.correct as f32 / self.samples.max(1) as f32
    }
    fn per_s(&self) -> f32 {
        self.samples as f32 / self.time.as_secs_f32().max(1e-9)
    }
}

impl Trainer {
    /// Builds the split, the network and the optimizer for `preset` on `data`.
    pub fn new(preset: &Preset, mut data: TrainTest) -> Result<Trainer, SetupError> {
        let field = |field, message| SetupError::Field { preset: preset.name.clone(), field, message };
        let split = Split::new(&data.train, preset.val_size, preset.train_size, preset.seed)
            .map_err(|m| field(if m.starts_with("val_size") { "val_size" } else { "train_size" }, m))?;
        add_label_noise(&mut data.train, &split.train, preset.label_noise, preset.seed);
        let norm = Normalizer::fit(preset.normalize, &data.train, &split.train).map_err(|m| field("normalize", m))?;
        if matches!(preset.augment, Augment::Shift { .. }) && data.train.image.is_none() {
            return Err(field("augment", format!("shifting needs images; {} has none", data.name)));
        }
        let mut rng = StdRng::seed_from_u64(preset.seed);
        let dim = data.train.dim;
        let classes = data.train.classes;
        let mut net = match (&preset.conv, data.train.image) {
            (None, _) => Network::new(dim, &preset.hidden, classes, preset.activation, preset.init, &mut rng),
            (Some(conv), Some((h, w))) => {
                Network::with_conv((h, w, 1), conv, &preset.hidden, classes, preset.activation, preset.init, &mut rng)
                    .map_err(|m| field("conv", m))?
            }
            (Some(_), None) => return Err(field("conv", "a convolutional front end needs an image dataset".into())),
        };
        net.set_dropout(preset.dropout);
        let opt = Optimizer::new(preset.optimizer, preset.lr, &net.tensor_sizes());
        let batch = preset.batch_size.min(split.train.len());
        let probe = split.train[..split.train.len().min(TRAIN_PROBE_SIZE)].to_vec();
        Ok(Trainer {
            runner: StepRunner::new(&net, batch, preset.seed),
            ws_eval: net.workspace(EVAL_BATCH, 0),
            eval_x: Array2::zeros((EVAL_BATCH, dim)),
            eval_y: vec![0; EVAL_BATCH],
            penalty: Penalty { l1: preset.l1, l2: preset.l2 },
            order: split.train.clone(),
            preset: preset.clone(),
            data,
            split,
            probe,
            norm,
            net,
            opt,
            rng,
            before: Vec::new(),
            step: 0,
            paused: false,
            early: preset.early_stopping,
            checkpoint_dir: PathBuf::from("checkpoints"),
            guard: Guard {
                good: None,
                smoothed: None,
                best_smoothed: f32::INFINITY,
                chance: (classes.max(2) as f32).ln(),
                rollbacks: 0,
            },
            best: None,
        })
    }

    /// The settings the run starts with.
    pub fn preset(&self) -> &Preset {
        &self.preset
    }

    /// Where checkpoints go (the folder is created when the first is saved).
    pub fn set_checkpoint_dir(&mut self, dir: PathBuf) {
        self.checkpoint_dir = dir;
    }

    pub fn steps_per_epoch(&self) -> u64 {
        self.split.train.len().div_ceil(self.runner.batch()) as u64
    }

    pub fn info(&self) -> RunInfo {
        RunInfo {
            preset: self.preset.name.clone(),
            dataset: self.data.name.clone(),
            epochs: self.preset.epochs,
            steps_per_epoch: self.steps_per_epoch(),
            train_size: self.split.train.len(),
            val_size: self.split.val.len(),
            test_size: self.data.test.len(),
            parameters: self.net.parameter_count(),
            hidden: self.net.hidden(),
            activation: self.net.activation().label().to_string(),
            optimizer: self.opt.kind().label(),
            lr: self.opt.learning_rate(),
            batch_size: self.runner.batch(),
            threads: rayon::current_num_threads(),
            classes: self.data.train.classes,
            input_scale: self.norm.max_abs(&self.data.train, &self.probe[..self.probe.len().min(1000)]),
        }
    }

    /// One optimizer step on the training samples `idx`.
    fn train_batch(&mut self, idx: &[u32]) -> LossSum {
        let (data, norm) = (&self.data.train, &self.norm);
        // Shifts are drawn from the step and the position in the batch.
        let seed = self.preset.seed ^ self.step.wrapping_mul(0xA24B_AED4_963E_E407);
        let augment = self.preset.augment;
        self.runner.step(&mut self.net, &mut self.opt, self.penalty, idx.len(), |range, x, y| match augment {
            Augment::None => data.gather(&idx[range], norm, x, y),
            Augment::Shift { pixels } => data.gather_shifted(&idx[range.clone()], range, norm, pixels, seed, x, y),
        })
    }

    /// Mean loss and accuracy in eval mode over `indices` of the training set
    /// (`test == false`) or of the test set.
    fn evaluate(&mut self, indices: &[u32], test: bool) -> (f32, f32) {
        self.evaluate_with(indices, test, |_, _, _| {})
    }

    /// [`Trainer::evaluate`], also calling `seen(sample, label, predicted)`
    /// for every sample.
    fn evaluate_with(&mut self, indices: &[u32], test: bool, mut seen: impl FnMut(u32, u8, u8)) -> (f32, f32) {
        let set = if test { &self.data.test } else { &self.data.train };
        let mut total = LossSum::default();
        for chunk in indices.chunks(EVAL_BATCH) {
            let n = chunk.len();
            set.gather(chunk, &self.norm, self.eval_x.view_mut(), &mut self.eval_y);
            let labels = &self.eval_y[..n];
            let logits = self.net.forward(self.eval_x.slice(s![..n, ..]), &mut self.ws_eval);
            let s = self.net.loss().compute(logits.view(), labels, None, 1.0);
            for ((&i, &y), row) in chunk.iter().zip(labels).zip(logits.rows()) {
                seen(i, y, argmax(row) as u8);
            }
            total.loss += s.loss;
            total.correct += s.correct;
        }
        let n = indices.len().max(1);
        ((total.loss / n as f64) as f32, total.correct as f32 / n as f32)
    }

    /// The data view of the validation split after an epoch: confusion,
    /// misclassified samples, and the decision boundary of 2-D sets.
    /// `confusion` and `wrong` (sample, label, prediction) come from the
    /// epoch's validation pass, so validation is evaluated once an epoch.
    fn data_view(&mut self, epoch: usize, confusion: Vec<Vec<u32>>, wrong: &[(u32, u8, u8)]) -> DataView {
        let val = std::mem::take(&mut self.split.val);
        let train = &self.data.train;
        let misclassified = wrong
            .iter()
            .map(|&(i, label, predicted)| {
                let pixels = match (&train.features, train.image) {
                    (crate::data::Features::U8(f), Some(_)) => {
                        f[i as usize * train.dim..(i as usize + 1) * train.dim].to_vec()
                    }
                    _ => Vec::new(),
                };
                Misclassified { label, predicted, pixels }
            })
            .collect();
        let boundary = (train.dim == 2).then(|| self.boundary(&val));
        self.split.val = val;
        DataView { epoch, confusion, misclassified, image: self.data.train.image, boundary }
    }

    /// Predictions over a grid covering the 2-D training data, and a
    /// sample of validation points in raw coordinates.
    fn boundary(&mut self, val: &[u32]) -> Boundary {
        let d = &self.data.train;
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for i in 0..d.len() {
            for j in 0..2 {
                lo[j] = lo[j].min(d.value(i, j));
                hi[j] = hi[j].max(d.value(i, j));
            }
        }
        let pad = |j: usize| 0.05 * (hi[j] - lo[j]).max(1e-3);
        let (x, y) = ((lo[0] - pad(0), hi[0] + pad(0)), (lo[1] - pad(1), hi[1] + pad(1)));
        let (cols, rows) = (BOUNDARY_GRID.0, BOUNDARY_GRID.1);
        let mut classes = Vec::with_capacity(cols * rows);
        let mut grid = Array2::zeros((cols, 2));
        for r in 0..rows {
            let gy = y.1 - (y.1 - y.0) * (r as f32 + 0.5) / rows as f32;
            for c in 0..cols {
                let gx = x.0 + (x.1 - x.0) * (c as f32 + 0.5) / cols as f32;
                grid[[c, 0]] = (gx - self.norm.offset[0]) * self.norm.scale[0];
                grid[[c, 1]] = (gy - self.norm.offset[1]) * self.norm.scale[1];
            }
            let logits = self.net.forward(grid.view(), &mut self.ws_eval);
            classes.extend(logits.rows().into_iter().map(|row| argmax(row) as u8));
        }
        let step = (val.len() / BOUNDARY_POINTS).max(1);
        let points = val
            .iter()
            .step_by(step)
            .map(|&i| (d.value(i as usize, 0), d.value(i as usize, 1), d.labels[i as usize]))
            .collect();
        Boundary { x, y, cols, rows, classes, points }
    }

    /// Sends an event that must not be dropped; `Err` when nobody listens.
    fn emit(events: &Sender<Event>, e: Event) -> Result<(), Halt> {
        events.send(e).map_err(|_| Halt::Stop)
    }

    /// Reports a change of preset field `key`.
    fn changed(
        &self,
        events: &Sender<Event>,
        key: &str,
        from: serde_json::Value,
        to: serde_json::Value,
        note: Option<String>,
    ) -> Result<(), Halt> {
        Self::emit(events, Event::Change(Change { step: self.step, key: key.into(), from, to, note }))
    }

    /// New buffers and a fresh optimizer after the architecture changed;
    /// the guard's good copy and early stopping's best start over from here.
    fn rebuild(&mut self) {
        self.refresh_buffers();
        self.opt = Optimizer::new(self.opt.kind(), self.opt.learning_rate(), &self.net.tensor_sizes());
        self.preset.hidden = self.net.hidden();
        self.best = None;
        self.mark_good();
    }

    fn apply(&mut self, cmd: Command, events: &Sender<Event>) -> Result<(), Halt> {
        match cmd {
            Command::SetLearningRate(lr) => {
                let (lo, hi) = Preset::LR_RANGE;
                let from = self.opt.learning_rate();
                let to = if lr.is_finite() { lr.clamp(lo, hi) } else { from };
                if to != from {
                    self.opt.set_learning_rate(to);
                    self.preset.lr = to;
                    self.changed(events, "lr", json_f32(from), json_f32(to), None)?;
                }
            }
            Command::SetActivation(act) => {
                let from = self.net.activation();
                if act != from {
                    self.net.set_activation(act);
                    self.preset.activation = act;
                    let note = "weights kept; training continues from them".to_string();
                    self.changed(events, "activation", ron(&from), ron(&act), Some(note))?;
                }
            }
            Command::AddLayer => {
                let from = serde_json::json!(self.net.hidden());
                let fidelity = self.net.insert_identity_layer();
                self.rebuild();
                let note = match fidelity {
                    Fidelity::Exact => "identity layer inserted: the network computes the same function",
                    Fidelity::Approximate => {
                        "identity layer inserted, but this activation bends its input: the function changed"
                    }
                };
                let note = format!("{note}; optimizer state starts fresh");
                self.changed(events, "hidden", from, serde_json::json!(self.net.hidden()), Some(note))?;
            }
            Command::RemoveLayer => {
                let from = serde_json::json!(self.net.hidden());
                if let Some(fidelity) = self.net.remove_last_hidden_layer() {
                    self.rebuild();
                    let note = match fidelity {
                        Fidelity::Exact => "last hidden layer folded into the output layer exactly",
                        Fidelity::Approximate => {
                            "last hidden layer folded into the output layer as if linear: the function changed"
                        }
                    };
                    let note = format!("{note}; optimizer state starts fresh");
                    self.changed(events, "hidden", from, serde_json::json!(self.net.hidden()), Some(note))?;
                }
            }
            Command::SetDropout(p) => {
                let from = self.net.dropout();
                let to = if p.is_finite() { p.clamp(0.0, MAX_DROPOUT) } else { from };
                if to != from {
                    self.net.set_dropout(to);
                    self.preset.dropout = to;
                    self.changed(events, "dropout", json_f32(from), json_f32(to), None)?;
                }
            }
            Command::SetL1(v) | Command::SetL2(v) => {
                let is_l1 = matches!(cmd, Command::SetL1(_));
                let slot = if is_l1 { &mut self.penalty.l1 } else { &mut self.penalty.l2 };
                let from = *slot;
                let to = if v.is_finite() { v.max(0.0) } else { from };
                if to != from {
                    *slot = to;
                    if is_l1 {
                        self.preset.l1 = to
                    } else {
                        self.preset.l2 = to
                    }
                    self.changed(events, if is_l1 { "l1" } else { "l2" }, json_f32(from), json_f32(to), None)?;
                }
            }
            Command::SetOptimizer(kind) => {
                let from = self.opt.kind();
                if kind != from {
                    self.opt = Optimizer::new(kind, self.opt.learning_rate(), &self.net.tensor_sizes());
                    self.preset.optimizer = kind;
                    let note = "the new optimizer's state starts fresh".to_string();
                    self.changed(events, "optimizer", ron(&from), ron(&kind), Some(note))?;
                }
            }
            Command::SetEarlyStopping(setting) => {
                let from = self.early;
                if setting != from {
                    self.early = setting;
                    self.preset.early_stopping = setting;
                    if setting.is_none() {
                        self.best = None;
                    }
                    self.changed(events, "early_stopping", ron(&from), ron(&setting), None)?;
                }
            }
            Command::SaveCheckpoint => {
                let path = self.checkpoint_dir.join(format!("{}-step{}.safetensors", self.preset.name, self.step));
                let meta = std::collections::BTreeMap::from([
                    ("preset".to_string(), self.preset.name.clone()),
                    ("step".to_string(), self.step.to_string()),
                    ("activation".to_string(), ron::to_string(&self.net.activation()).unwrap_or_default()),
                    ("hidden".to_string(), format!("{:?}", self.net.hidden())),
                ]);
                let error = checkpoint::save(&self.net, &meta, &path).err().map(|e| e.to_string());
                let path = path.display().to_string();
                Self::emit(events, Event::Checkpoint { step: self.step, path, error })?;
            }
            Command::Pause if !self.paused => {
                self.paused = true;
                Self::emit(events, Event::Paused { step: self.step })?;
            }
            Command::Resume if self.paused => {
                self.paused = false;
                Self::emit(events, Event::Resumed { step: self.step })?;
            }
            Command::Pause | Command::Resume | Command::Step => {}
            Command::Stop => return Err(Halt::Stop),
        }
        Ok(())
    }

    /// Statistics of every layer after the step just taken (weights before
    /// it in `self.before`).
    fn stats(&mut self) -> StatsReport {
        let n = self.probe.len().min(STATS_PROBE);
        self.data.train.gather(&self.probe[..n], &self.norm, self.eval_x.view_mut(), &mut self.eval_y);
        let probe = self.eval_x.slice(s![..n, ..]);
        let before = (!self.before.is_empty()).then_some(self.before.as_slice());
        let layers = layer_stats(&self.net, self.runner.grads(), before, probe, &mut self.ws_eval);
        StatsReport { step: self.step, layers }
    }

    /// Keeps a copy of the weights before the next step.
    fn snapshot_weights(&mut self) {
        let layers = self.net.layers();
        if self.before.len() != layers.len() || self.before.iter().zip(layers).any(|(b, l)| b.dim() != l.w.dim()) {
            self.before = layers.iter().map(|l| l.w.clone()).collect();
        } else {
            self.before.iter_mut().zip(layers).for_each(|(b, l)| b.assign(&l.w));
        }
    }

    /// Applies every pending command; while paused, waits for the next one
    /// (a `Step` lets exactly one minibatch through).
    fn between_steps(&mut self, commands: &Receiver<Command>, events: &Sender<Event>) -> Result<(), Halt> {
        loop {
            let cmd = if self.paused {
                commands.recv().map_err(|_| Halt::Stop)?
            } else {
                match commands.try_recv() {
                    Ok(cmd) => cmd,
                    // A closed command channel only means no more commands.
                    Err(_) => return Ok(()),
                }
            };
            if cmd == Command::Step && self.paused {
                return Ok(());
            }
            self.apply(cmd, events)?;
        }
    }

    /// Trains every epoch of the preset, reporting as it goes; ends with a
    /// `Summary` (or returns early if the driver stops it or goes away).
    pub fn run(mut self, commands: &Receiver<Command>, events: &Sender<Event>) {
        let _ = self.run_inner(commands, events);
    }

    /// Whether a minibatch's mean loss trips the divergence guard; updates
    /// the smoothed loss otherwise.
    fn guard_trips(&mut self, loss: f32) -> bool {
        if !loss.is_finite() {
            return true;
        }
        let g = &mut self.guard;
        let smoothed = g.smoothed.map_or(loss, |s| GUARD_SMOOTHING * s + (1.0 - GUARD_SMOOTHING) * loss);
        // The first loss after a (re)start sets the reference: a net that
        // starts badly (raw pixels) is not "diverging", it is stuck.
        let reference = g.best_smoothed.min(g.smoothed.map_or(loss, |_| f32::INFINITY)).max(g.chance);
        if g.smoothed.is_some() && loss > DIVERGENCE_FACTOR * reference {
            return true;
        }
        g.smoothed = Some(smoothed);
        g.best_smoothed = g.best_smoothed.min(smoothed);
        false
    }

    /// Keeps the current weights as the guard's known-good copy.
    fn mark_good(&mut self) {
        self.guard.good = Some((self.net.clone(), self.step));
    }

    /// Rolls back to the last good weights with half the learning rate and
    /// a fresh optimizer, and reports it. `Ok(false)` when the guard has
    /// rolled back too often and the run should end as diverged.
    fn recover(&mut self, events: &Sender<Event>, loss: f32) -> Result<bool, Halt> {
        self.guard.rollbacks += 1;
        let Some((good, at)) = self.guard.good.clone() else { return Ok(false) };
        let lr_from = self.opt.learning_rate();
        let lr_to = (lr_from / 2.0).max(Preset::LR_RANGE.0);
        self.net = good;
        self.opt = Optimizer::new(self.opt.kind(), lr_to, &self.net.tensor_sizes());
        self.preset.lr = lr_to;
        self.refresh_buffers();
        self.guard.smoothed = None;
        let loss = loss.is_finite().then_some(loss);
        Self::emit(events, Event::Diverged { step: self.step, loss, rolled_back_to: at, lr_from, lr_to })?;
        let note = "halved by the divergence guard after rolling back; optimizer state starts fresh".to_string();
        self.changed(events, "lr", json_f32(lr_from), json_f32(lr_to), Some(note))?;
        Ok(self.guard.rollbacks <= MAX_ROLLBACKS)
    }

    /// Buffers that follow the network's shape.
    fn refresh_buffers(&mut self) {
        self.runner = StepRunner::new(&self.net, self.runner.batch(), self.preset.seed ^ self.step);
        self.ws_eval = self.net.workspace(EVAL_BATCH, 0);
        self.before.clear();
    }

    /// Evaluation of the training probe and the validation split, with the
    /// guard applied: non-finite results roll back and evaluate again.
    /// Also returns the validation confusion matrix and the first few
    /// misclassified samples, for the data view.
    #[allow(clippy::type_complexity)]
    fn evaluate_epoch(
        &mut self,
        events: &Sender<Event>,
    ) -> Result<Option<([f32; 4], Vec<Vec<u32>>, Vec<(u32, u8, u8)>)>, Halt> {
        loop {
            let probe = std::mem::take(&mut self.probe);
            let (train_loss_eval, train_acc_eval) = self.evaluate(&probe, false);
            self.probe = probe;
            let classes = self.data.train.classes;
            let mut confusion = vec![vec![0u32; classes]; classes];
            let mut wrong: Vec<(u32, u8, u8)> = Vec::new();
            let val = std::mem::take(&mut self.split.val);
            let (val_loss, val_acc) = self.evaluate_with(&val, false, |i, y, p| {
                confusion[y as usize][p as usize] += 1;
                if y != p && wrong.len() < DATA_VIEW_WRONG {
                    wrong.push((i, y, p));
                }
            });
            self.split.val = val;
            if train_loss_eval.is_finite() && val_loss.is_finite() {
                return Ok(Some(([train_loss_eval, train_acc_eval, val_loss, val_acc], confusion, wrong)));
            }
            if !self.recover(events, val_loss)? {
                return Ok(None);
            }
        }
    }

    fn run_inner(&mut self, commands: &Receiver<Command>, events: &Sender<Event>) -> Result<(), Halt> {
        let started = Instant::now();
        Self::emit(events, Event::Start(self.info()))?;
        // diag hook: step 0 of the checklist, before the first step.
        Self::emit(
            events,
            Event::Preflight(preflight::measure(&self.net, &self.data.train, &self.split.train, &self.norm)),
        )?;
        let (mut best_epoch, mut best_val_acc) = (0, f32::NEG_INFINITY);
        let mut epochs_done = 0;
        let mut stopped = Stopped::Completed;
        let batch = self.runner.batch();
        'epochs: for epoch in 1..=self.preset.epochs {
            let mut order = std::mem::take(&mut self.order);
            order.shuffle(&mut self.rng);
            self.mark_good();
            let mut whole = Tally::default();
            let mut window = Tally::default();
            let mut last_sent = Instant::now();
            let mut last_stats: Option<Instant> = None;
            for idx in order.chunks(batch) {
                if self.between_steps(commands, events).is_err() {
                    stopped = Stopped::Interrupted;
                    self.order = order;
                    break 'epochs;
                }
                let want_stats = last_stats.is_none_or(|t| t.elapsed() >= STATS_INTERVAL);
                if want_stats {
                    self.snapshot_weights();
                }
                let t0 = Instant::now();
                let sum = self.train_batch(idx);
                let dt = t0.elapsed();
                self.step += 1;
                if self.guard_trips((sum.loss / idx.len() as f64) as f32) {
                    // Nothing of this batch is reported: no NaN reaches a curve.
                    if !self.recover(events, (sum.loss / idx.len() as f64) as f32)? {
                        stopped = Stopped::Diverged;
                        self.order = order;
                        break 'epochs;
                    }
                    continue;
                }
                if self.step.is_multiple_of(GOOD_SNAPSHOT_STEPS) {
                    self.mark_good();
                }
                if want_stats {
                    last_stats = Some(Instant::now());
                    let report = self.stats();
                    if let Err(TrySendError::Disconnected(_)) = events.try_send(Event::Stats(report)) {
                        return Err(Halt::Stop);
                    }
                }
                whole.add(sum, idx.len(), dt);
                window.add(sum, idx.len(), dt);
                if last_sent.elapsed() >= STEP_EVENT_INTERVAL {
                    let m = StepMetrics {
                        epoch,
                        step: self.step,
                        loss: window.mean_loss(),
                        acc: window.acc(),
                        samples_per_s: window.per_s(),
                    };
                    match events.try_send(Event::Step(m)) {
                        Ok(()) => {
                            window = Tally::default();
                            last_sent = Instant::now();
                        }
                        // Full: keep summing, so the next event covers these steps too.
                        Err(TrySendError::Full(_)) => {}
                        Err(TrySendError::Disconnected(_)) => return Err(Halt::Stop),
                    }
                }
            }
            self.order = order;
            let Some(([train_loss_eval, train_acc_eval, val_loss, val_acc], confusion, wrong)) =
                self.evaluate_epoch(events)?
            else {
                stopped = Stopped::Diverged;
                break 'epochs;
            };
            epochs_done = epoch;
            if val_acc > best_val_acc {
                (best_epoch, best_val_acc) = (epoch, val_acc);
            }
            // An epoch whose every batch tripped the guard has no training
            // numbers of its own: report the eval-mode ones.
            let (train_loss, train_acc) =
                if whole.samples > 0 { (whole.mean_loss(), whole.acc()) } else { (train_loss_eval, train_acc_eval) };
            Self::emit(
                events,
                Event::Epoch(EpochMetrics {
                    epoch,
                    step: self.step,
                    train_loss,
                    train_acc,
                    train_loss_eval,
                    train_acc_eval,
                    val_loss,
                    val_acc,
                    lr: self.opt.learning_rate(),
                    penalty: self.net.penalty_value(self.penalty) as f32,
                    samples_per_s: whole.per_s(),
                    elapsed_s: started.elapsed().as_secs_f64(),
                }),
            )?;
            // diag hook: the overfit-one-batch probe when the training data is not learned.
            if probe::due(epoch, train_acc_eval, self.preset.label_noise) {
                let (kind, lr) = (self.opt.kind(), self.opt.learning_rate());
                let r = probe::run(epoch, &self.net, &self.data.train, &self.probe, &self.norm, kind, lr, self.penalty);
                Self::emit(events, Event::Probe(r))?;
            }
            let view = self.data_view(epoch, confusion, &wrong);
            Self::emit(events, Event::DataView(view))?;
            if self.early_stopping_says_stop(epoch, val_loss, events)? {
                stopped = Stopped::EarlyStop;
                break 'epochs;
            }
        }
        // With early stopping on, the run keeps its best weights.
        if let Some(best) = self.best.take() {
            self.net = best.net;
            self.refresh_buffers();
        }
        // The held-out test set, evaluated once, with the weights the run keeps.
        let test: Vec<u32> = (0..self.data.test.len() as u32).collect();
        let (test_loss, test_acc) = self.evaluate(&test, true);
        Self::emit(
            events,
            Event::Summary(Summary {
                epochs: epochs_done,
                best_epoch,
                best_val_acc: best_val_acc.max(0.0),
                test_acc: if test_acc.is_finite() { test_acc } else { 0.0 },
                test_loss: if test_loss.is_finite() { test_loss } else { f32::MAX },
                stopped,
            }),
        )
    }

    /// Tracks the best validation loss while early stopping is on; true
    /// (after an `early_stop` event) when it has not improved by
    /// `min_delta` for `patience` epochs.
    fn early_stopping_says_stop(&mut self, epoch: usize, val_loss: f32, events: &Sender<Event>) -> Result<bool, Halt> {
        let Some(es) = self.early else { return Ok(false) };
        match &mut self.best {
            Some(b) if val_loss >= b.val_loss - es.min_delta => b.stale += 1,
            _ => {
                self.best = Some(Best { net: self.net.clone(), epoch, val_loss, stale: 0 });
                return Ok(false);
            }
        }
        let b = self.best.as_ref().expect("set above");
        if b.stale < es.patience.max(1) {
            return Ok(false);
        }
        Self::emit(
            events,
            Event::EarlyStop {
                step: self.step,
                epoch,
                best_epoch: b.epoch,
                best_val_loss: b.val_loss,
                patience: es.patience,
            },
        )?;
        Ok(true)
    }

    /// Throughput without events or commands: one untimed warm-up step, then
    /// `epochs` timed epochs of training, then one timed pass over the
    /// validation split in eval mode. Returns (train, eval) samples/s.
    pub fn bench(&mut self, epochs: usize) -> (f64, f64) {
        let batch = self.runner.batch();
        let mut order = std::mem::take(&mut self.order);
        self.train_batch(&order[..batch]);
        let t0 = Instant::now();
        let mut samples = 0usize;
        for _ in 0..epochs {
            order.shuffle(&mut self.rng);
            for idx in order.chunks(batch) {
                self.train_batch(idx);
                samples += idx.len();
            }
        }
        let train = samples as f64 / t0.elapsed().as_secs_f64();
        self.order = order;
        let val = std::mem::take(&mut self.split.val);
        let t1 = Instant::now();
        self.evaluate(&val, false);
        let eval = val.len() as f64 / t1.elapsed().as_secs_f64();
        self.split.val = val;
        (train, eval)
    }
}

/// The driver's ends of a running trainer.
pub struct TrainerHandle {
    pub commands: Sender<Command>,
    pub events: Receiver<Event>,
    pub thread: JoinHandle<()>,
}

/// Starts `trainer` on its own thread, named `trainer`. A panic in it is
/// caught and reported as `Event::Failed`, so the driver never waits on a
/// dead run.
pub fn spawn(trainer: Trainer) -> std::io::Result<TrainerHandle> {
    let (cmd_tx, cmd_rx) = unbounded();
    let (ev_tx, ev_rx) = bounded(EVENT_CAPACITY);
    let thread = thread::Builder::new().name("trainer".into()).spawn(move || {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| trainer.run(&cmd_rx, &ev_tx)));
        if let Err(payload) = outcome {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let _ = ev_tx.send(Event::Failed { message: format!("the trainer panicked: {message}") });
        }
    })?;
    Ok(TrainerHandle { commands: cmd_tx, events: ev_rx, thread })
}
