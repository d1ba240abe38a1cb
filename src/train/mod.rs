//! The trainer: a [`Trainer`] owns the network, the data and the optimizer;
//! [`spawn`] moves it onto a thread named `trainer` that applies pending
//! [`Command`]s between two minibatches and reports [`Event`]s over a
//! bounded channel (step metrics coalesced when it is full, every other event
//! always delivered).
//!
//! One file per job: `run_loop` (epochs, steps, pacing, what happens after
//! the end), `commands` (applying a command), `guard` (the divergence
//! guard), `early` (early stopping), `eval` (evaluation passes), `view` (the
//! data view), `bench` (throughput), `checkpoint`, `log` (the run log),
//! `lr_find` (the learning-rate range test),
//! `fork` (a branch trained in lockstep beside the run).

pub mod bench;
pub mod checkpoint;
mod commands;
mod early;
mod eval;
mod fork;
mod guard;
pub mod log;
pub mod lr_find;
pub mod preflight;
pub mod probe;
mod run_loop;
mod view;

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use ndarray::Array2;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::data::{Augment, DataError, Normalizer, Split, TrainTest, add_label_noise};
use crate::nn::governor::Mode;
use crate::nn::optim::Penalty;
use crate::nn::{Network, Optimizer, StepRunner, Workspace};
use crate::preset::Preset;
pub use crate::protocol::{
    Boundary, Change, Command, DataView, EpochMetrics, Event, ForkInfo, Misclassified, RunInfo, Setting, StatsReport,
    StepMetrics, Stopped, Summary, json_f32,
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
/// At most this many relabelled samples are checked for memorization each epoch.
const NOISY_PROBE: usize = 5_000;
/// How often layer statistics are computed and sent.
const STATS_INTERVAL: Duration = Duration::from_millis(500);
/// Training samples run forward for the activation statistics.
const STATS_PROBE: usize = 256;
/// The dropout rate a user may set stays at or below this.
pub const MAX_DROPOUT: f32 = 0.9;
pub use guard::{DIVERGENCE_FACTOR, MAX_ROLLBACKS};

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

/// [`crate::limits::preflight`] from the preset alone: reads the dataset's shape (headers
/// only) from `mnist_dir` or the preset's folder, and returns it. Errors
/// come as the trainer's setup errors, so callers locate them the same way.
pub fn preflight_setup(preset: &Preset, mnist_dir: &Path) -> Result<crate::data::DataShape, SetupError> {
    let shape = preset.dataset.shape(mnist_dir)?;
    crate::limits::preflight(preset, &shape).map_err(|(field, message)| SetupError::Field {
        preset: preset.name.clone(),
        field,
        message,
    })?;
    Ok(shape)
}

/// Loads (or generates) the dataset a preset names, keeping only its
/// `classes` when it lists some.
pub fn load_data(preset: &Preset) -> Result<TrainTest, SetupError> {
    let data = preset.dataset.load(&bundled_mnist_dir(), preset.seed)?;
    match &preset.classes {
        Some(classes) => data.keep_classes(classes).map_err(|message| SetupError::Field {
            preset: preset.name.clone(),
            field: "classes",
            message,
        }),
        None => Ok(data),
    }
}

pub struct Trainer {
    /// The settings as they are now (live changes written back).
    preset: Preset,
    data: TrainTest,
    split: Split,
    /// Training samples re-evaluated in eval mode at each epoch end.
    probe: Vec<u32>,
    /// Training samples whose labels `label_noise` replaced (up to
    /// `NOISY_PROBE`): the share of them the net predicts as the replaced
    /// label is how much noise it has memorized.
    noisy: Vec<u32>,
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
    /// The convolutions' filters before the last step, likewise.
    before_conv: Vec<Array2<f32>>,
    order: Vec<u32>,
    step: u64,
    paused: bool,
    /// At most this many steps a second, when set.
    pace: Option<f32>,
    /// After the summary, wait for more epochs (`Continue`) or a checkpoint
    /// instead of ending the thread: the dashboard's runs do.
    stay_after_end: bool,
    /// Where `SaveCheckpoint` writes (default `./checkpoints`).
    checkpoint_dir: PathBuf,
    /// Where the kept weights go at the end of the run (`--save`).
    save_to: Option<PathBuf>,
    guard: guard::Guard,
    /// The best weights by validation loss (kept while early stopping is on).
    best: Option<early::Best>,
    /// The test set's score, taken once at the run's first end: training
    /// more epochs after it (space after the end) does not look again.
    tested: Option<eval::Score>,
    /// A fork's branch, trained in lockstep beside the run (`fork`).
    fork: Option<Box<fork::Branch>>,
    /// A branch kept between two steps: its tallies of the epoch so far,
    /// for the loop to continue with.
    adopted: Option<(run_loop::Tally, run_loop::Tally)>,
    /// Epochs finished so far.
    epochs_done: usize,
    /// Commands to apply before the first step (`queue`).
    queued: Vec<Command>,
}

/// Why the loop ends early: `Command::Stop`, or the driver went away.
struct Halt;

impl Trainer {
    /// Builds the split, the network and the optimizer for `preset` on `data`.
    pub fn new(preset: &Preset, mut data: TrainTest) -> Result<Trainer, SetupError> {
        let field = |field, message| SetupError::Field { preset: preset.name.clone(), field, message };
        let split = Split::new(&data.train, preset.val_size, preset.train_size, preset.seed)
            .map_err(|m| field(if m.starts_with("val_size") { "val_size" } else { "train_size" }, m))?;
        let mut noisy = add_label_noise(&mut data.train, &split.train, preset.label_noise, preset.seed);
        noisy.truncate(NOISY_PROBE);
        let mut rng = StdRng::seed_from_u64(preset.seed);
        let (net, norm) = build_model(preset, &data, &split.train, &mut rng)?;
        let (dim, classes) = (data.train.dim, data.train.classes);
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
            noisy,
            norm,
            net,
            opt,
            rng,
            before: Vec::new(),
            before_conv: Vec::new(),
            step: 0,
            paused: false,
            pace: None,
            stay_after_end: false,
            checkpoint_dir: PathBuf::from("checkpoints"),
            save_to: None,
            guard: guard::Guard::new(classes),
            best: None,
            tested: None,
            fork: None,
            adopted: None,
            epochs_done: 0,
            queued: Vec::new(),
        })
    }

    /// The settings the run starts with.
    pub fn preset(&self) -> &Preset {
        &self.preset
    }

    /// Applies `cmd` before the first step, as if the driver had sent it
    /// then: a fork from step 0 that does not race the first minibatch.
    pub fn queue(&mut self, cmd: Command) {
        self.queued.push(cmd);
    }

    /// Keeps the thread after the summary, taking commands (more epochs,
    /// settings, a checkpoint) until `Stop` or the driver leaves.
    pub fn stay_after_end(&mut self) {
        self.stay_after_end = true;
    }

    /// Runs every split step in `mode` (on the team, or on this thread
    /// alone) instead of as the step governor decides; the results are the
    /// same bits either way (see `nn::step`), so this is for comparisons.
    pub fn pin_steps(&mut self, mode: Mode) {
        self.runner.pin(mode);
    }

    /// Writes the weights the run keeps (the best ones when early stopping
    /// restored them) to `path` at its end, as safetensors.
    pub fn save_at_end(&mut self, path: PathBuf) {
        self.save_to = Some(path);
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
            settings: Some(Box::new(self.preset.clone())),
            hparams: Default::default(),
        }
    }

    /// Buffers that follow the network's shape (or the batch size).
    fn refresh_buffers(&mut self) {
        self.runner = self.runner.rebuilt(&self.net, self.runner.batch(), self.preset.seed ^ self.step);
        self.ws_eval = self.net.workspace(EVAL_BATCH, 0);
        self.before.clear();
        self.before_conv.clear();
    }
}

/// The network `preset` starts with on `data`, its weights drawn from
/// `rng` (seeded with the preset's seed), and the inputs' normalizer fitted
/// on the training samples `train`: the run's, and a fresh fork's.
fn build_model(
    preset: &Preset,
    data: &TrainTest,
    train: &[u32],
    rng: &mut StdRng,
) -> Result<(Network, Normalizer), SetupError> {
    let field = |field, message| SetupError::Field { preset: preset.name.clone(), field, message };
    let norm = Normalizer::fit(preset.normalize, &data.train, train).map_err(|m| field("normalize", m))?;
    if matches!(preset.augment, Augment::Shift { .. }) && data.train.image.is_none() {
        return Err(field("augment", format!("shifting needs images; {} has none", data.name)));
    }
    let (dim, classes) = (data.train.dim, data.train.classes);
    let mut net = match (&preset.conv, data.train.image) {
        (None, _) => Network::new(dim, &preset.hidden, classes, preset.activation, preset.init, rng),
        (Some(conv), Some((h, w))) => {
            Network::with_conv((h, w, 1), conv, &preset.hidden, classes, preset.activation, preset.init, rng)
                .map_err(|m| field("conv", m))?
        }
        (Some(_), None) => return Err(field("conv", "a convolutional front end needs an image dataset".into())),
    };
    net.set_dropout(preset.dropout);
    if let Some(from) = &preset.init_from {
        let classes = format!("{:?}", preset.classes);
        checkpoint::load(&mut net, Path::new(from), &classes).map_err(|e| field("init_from", e.to_string()))?;
    }
    Ok((net, norm))
}

/// When a preset starts from saved weights that are missing and the file is
/// named after a shipped preset (`checkpoints/mnist-pretrain-0to4.safetensors`),
/// trains that preset first and saves its weights there. Returns what it
/// did, in words, to tell the user.
pub fn ensure_init_weights(preset: &Preset) -> Result<Option<String>, SetupError> {
    let Some(from) = &preset.init_from else { return Ok(None) };
    let path = Path::new(from);
    let Some(stem) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else { return Ok(None) };
    if path.exists() {
        return Ok(None);
    }
    let field = |message: String| SetupError::Field { preset: preset.name.clone(), field: "init_from", message };
    // Not a shipped preset's weights: the load reports the missing file.
    let Ok(source) = crate::preset::resolve(&stem) else { return Ok(None) };
    let base = Preset::load(&source).map_err(|e| field(e.to_string()))?;
    let mut trainer = Trainer::new(&base, load_data(&base)?)?;
    trainer.save_at_end(path.to_path_buf());
    let handle = spawn(trainer).map_err(|e| field(format!("cannot start {stem}: {e}")))?;
    let mut outcome = None;
    for event in handle.events.iter() {
        match event {
            Event::Summary(s) => outcome = Some(s),
            Event::Failed { message } => return Err(field(format!("training {stem} failed: {message}"))),
            Event::Checkpoint { error: Some(e), .. } => return Err(field(format!("saving {from} failed: {e}"))),
            _ => {}
        }
    }
    let _ = handle.thread.join();
    let s = outcome.ok_or_else(|| field(format!("training {stem} ended without a summary")))?;
    Ok(Some(format!(
        "{from} was missing: trained {stem} first ({} epochs, best validation {:.1}%) and saved its weights there",
        s.epochs,
        s.best_val_acc * 100.0
    )))
}

/// The driver's ends of a running trainer.
pub struct TrainerHandle {
    pub commands: Sender<Command>,
    pub events: Receiver<Event>,
    pub thread: JoinHandle<()>,
}

/// Starts `trainer` on its own thread, named `trainer`. A panic in it (or in
/// any of its helper threads, whose names start with `trainer`) is caught and
/// reported as `Event::Failed`, so the driver never waits on a dead run.
pub fn spawn(trainer: Trainer) -> std::io::Result<TrainerHandle> {
    spawn_with(move || Ok(trainer))
}

/// Like [`spawn`], but the trainer is built on the new thread by `setup`
/// (loading data takes a while: the caller does not wait for it). A setup
/// error arrives as `Event::Failed`.
pub fn spawn_with(setup: impl FnOnce() -> Result<Trainer, String> + Send + 'static) -> std::io::Result<TrainerHandle> {
    let (cmd_tx, cmd_rx) = unbounded();
    let (ev_tx, ev_rx) = bounded(EVENT_CAPACITY);
    let thread = thread::Builder::new().name("trainer".into()).spawn(move || {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| match setup() {
            Ok(trainer) => trainer.run(&cmd_rx, &ev_tx),
            Err(message) => drop(ev_tx.send(Event::Failed { message })),
        }));
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
