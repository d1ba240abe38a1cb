//! The training loop. A [`Trainer`] owns the network, the data and the
//! optimizer; [`spawn`] moves it onto a thread named `trainer` that applies
//! pending [`Command`]s between two minibatches and reports [`Event`]s over a
//! bounded channel (step metrics coalesced when it is full, every other event
//! always delivered).

pub mod log;
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
use crate::nn::loss::LossSum;
use crate::nn::optim::Penalty;
use crate::nn::stats::layer_stats;
use crate::nn::{Fidelity, Network, Optimizer, StepRunner, Workspace};
use crate::preset::Preset;
pub use protocol::{
    Change, Command, EpochMetrics, Event, RunInfo, StatsReport, StepMetrics, Stopped, Summary, json_f32,
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
/// How often layer statistics are computed and sent.
const STATS_INTERVAL: Duration = Duration::from_millis(500);
/// Training samples run forward for the activation statistics.
const STATS_PROBE: usize = 256;
/// The dropout rate a user may set stays at or below this.
pub const MAX_DROPOUT: f32 = 0.9;

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
        })
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
        let set = if test { &self.data.test } else { &self.data.train };
        let mut total = LossSum::default();
        for chunk in indices.chunks(EVAL_BATCH) {
            let n = chunk.len();
            set.gather(chunk, &self.norm, self.eval_x.view_mut(), &mut self.eval_y);
            let s = self.net.evaluate(self.eval_x.slice(s![..n, ..]), &self.eval_y[..n], &mut self.ws_eval);
            total.loss += s.loss;
            total.correct += s.correct;
        }
        let n = indices.len().max(1);
        ((total.loss / n as f64) as f32, total.correct as f32 / n as f32)
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

    /// New buffers and a fresh optimizer after the architecture changed.
    fn rebuild(&mut self) {
        self.runner = StepRunner::new(&self.net, self.runner.batch(), self.preset.seed ^ self.step);
        self.ws_eval = self.net.workspace(EVAL_BATCH, 0);
        self.opt = Optimizer::new(self.opt.kind(), self.opt.learning_rate(), &self.net.tensor_sizes());
        self.before.clear();
        self.preset.hidden = self.net.hidden();
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

    fn run_inner(&mut self, commands: &Receiver<Command>, events: &Sender<Event>) -> Result<(), Halt> {
        let started = Instant::now();
        Self::emit(events, Event::Start(self.info()))?;
        let (mut best_epoch, mut best_val_acc) = (0, f32::NEG_INFINITY);
        let mut epochs_done = 0;
        let mut stopped = Stopped::Completed;
        let batch = self.runner.batch();
        'epochs: for epoch in 1..=self.preset.epochs {
            let mut order = std::mem::take(&mut self.order);
            order.shuffle(&mut self.rng);
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
            let probe = std::mem::take(&mut self.probe);
            let (train_loss_eval, train_acc_eval) = self.evaluate(&probe, false);
            self.probe = probe;
            let val = std::mem::take(&mut self.split.val);
            let (val_loss, val_acc) = self.evaluate(&val, false);
            self.split.val = val;
            epochs_done = epoch;
            if val_acc > best_val_acc {
                (best_epoch, best_val_acc) = (epoch, val_acc);
            }
            Self::emit(
                events,
                Event::Epoch(EpochMetrics {
                    epoch,
                    step: self.step,
                    train_loss: whole.mean_loss(),
                    train_acc: whole.acc(),
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
                test_acc,
                test_loss,
                stopped,
            }),
        )
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
