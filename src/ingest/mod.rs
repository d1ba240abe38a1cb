//! Reading runs that someone else trains: TensorBoard event files, CSV
//! (Keras' and Lightning's CSVLogger layouts), a minimal JSON-lines schema,
//! the Hugging Face Trainer's `trainer_state.json` and MLflow's tracking
//! stores (SQLite and files, [`mlflow`]), followed as they
//! grow, plus the command file through which the
//! Python bridge (`integrations/python/` (the `fitcheck_bridge` package)) takes keys.
//!
//! The model here is neutral: it knows nothing of the trainer, the history or
//! the diagnosis. An [`ExternalRun`] is a list of [`ExternalEpoch`]s (one per
//! validation point, or of training points when the run has no validation),
//! the weight histograms found, every tag seen and the
//! warnings met while reading. The `watch` and `diagnose` commands turn it into
//! the run model the checklist reads.
//!
//! Pipeline, per file: format by content ([`detect`]) -> bytes -> complete
//! records or lines ([`tfrecord`] + [`proto`] + [`events`], [`csv`],
//! [`jsonl`], over [`lines`]; [`hf`] reads a whole state) -> raw points (tag, value, step, epoch) -> tag
//! mapping ([`tags`]) -> epoch assembly ([`assemble`]), driven by
//! [`follow`]; [`stream`] reads standard input the same way, [`logdir`]
//! finds the runs in a folder ([`twins`]: Lightning's two logs of one run), [`command`] writes the bridge's command file. The assembly is redone from all points kept so far
//! whenever points arrive: it is cheap (200,000 step points in ~0.1 s) and
//! makes the result independent of the order in which files and records
//! arrived. See `docs/watch.md` for the rules.

pub mod assemble;
pub mod bounded;
pub mod bridge;
pub mod command;
pub mod csv;
pub mod detect;
pub mod error;
pub mod events;
pub mod follow;
pub mod hf;
pub mod hparams;
pub mod jsonl;
pub mod lines;
pub mod logdir;
pub mod mlflow;
pub mod proto;
pub mod stream;
pub mod tags;
pub mod tfrecord;
pub mod twins;

use std::path::{Path, PathBuf};

pub use bridge::{BridgeStatus, LoopState};
pub use command::{BridgeCommand, CommandWriter, command_file_for};
pub use detect::Format;
pub use error::IngestError;
pub use follow::{Follower, Update, read_bytes};
pub use logdir::{RunEntry, RunLister, detect_format, list_runs, pick_run};
pub use stream::{STDIN_NAME, StreamReader, read_stream};
pub use tags::{Field, TagMap};

/// One epoch of an external run, as understood from its logs.
///
/// An epoch exists when validation metrics exist for it (or, in a run with
/// training metrics only, where the training points are: see
/// [`assemble`]); every metric is optional because logs carry any subset of
/// them. Accuracies are fractions
/// in 0..1 (percent values are scaled when read).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ExternalEpoch {
    /// 1-based epoch number (see `docs/watch.md` for how it is derived).
    pub epoch: usize,
    /// The writer's global step at the validation point (at the epoch's last
    /// training point in a run without validation), when it logs steps.
    pub step: Option<u64>,
    pub train_loss: Option<f32>,
    pub train_acc: Option<f32>,
    pub val_loss: Option<f32>,
    pub val_acc: Option<f32>,
    /// The learning rate in effect (the last one logged up to this epoch).
    pub lr: Option<f32>,
    /// The gradient norm the writer logged during this epoch (the Hugging
    /// Face Trainer's `grad_norm`): the largest value, or a non-finite one
    /// if any was non-finite (a NaN loss the writer filtered out shows here).
    pub grad_norm: Option<f32>,
    /// Seconds since the Unix epoch at the validation point (or the last
    /// training point, as for `step`) (TensorBoard's
    /// wall_time, or a `wall_time` column/key), when the log has it.
    pub wall_time: Option<f64>,
}

/// One weight (or activation) histogram from a TensorBoard file.
///
/// `bucket_limits[i]` is the right edge of bucket `i` and `bucket_counts[i]`
/// its count (TensorBoard's `HistogramProto` convention; the left edge of
/// bucket 0 is `min`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TagHistogram {
    pub tag: String,
    pub step: u64,
    pub wall_time: f64,
    pub min: f64,
    pub max: f64,
    pub num: f64,
    /// Sum and sum of squares of the values: present in TF1/torch histograms,
    /// absent in TF2 tensor histograms (which only keep buckets).
    pub sum: Option<f64>,
    pub sum_squares: Option<f64>,
    pub bucket_limits: Vec<f64>,
    pub bucket_counts: Vec<f64>,
}

/// A run read from files written by another program.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExternalRun {
    /// A short name: the run folder or file name.
    pub name: String,
    /// The file or folder it was read from.
    pub source: PathBuf,
    pub format: Format,
    pub epochs: Vec<ExternalEpoch>,
    pub histograms: Vec<TagHistogram>,
    /// Every scalar tag (or column, or key) met, in the order first seen,
    /// mapped or not: what a `--map` can name.
    pub tags_seen: Vec<String>,
    /// Tags that were mapped, and to which field: shown to the user so a
    /// surprising mapping can be spotted and overridden.
    pub mapped: Vec<(String, Field)>,
    /// Hyperparameters the writer recorded (Lightning's `hparams.yaml`,
    /// TensorBoard's hparams plugin, the Trainer's state, MLflow params), as
    /// written: nested keys joined with `/`, values as text. Empty when the
    /// log records none; the checklist only ever reads settings from here.
    pub hparams: std::collections::BTreeMap<String, String>,
    /// Problems met and skipped (corrupt records with their byte offset,
    /// malformed lines with their line number, ...), oldest first.
    pub warnings: Vec<String>,
    /// How many problems were met in all: `warnings` keeps the first ones
    /// only (`diagnose`'s summary says this number).
    pub skipped: usize,
    /// A JSON-lines log written through the Python bridge: its framework,
    /// the keys its loop obeys and what the loop last reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    // Boxed: most runs have none, and `watch::Source` holds a run by value.
    pub bridge: Option<Box<BridgeStatus>>,
}

impl ExternalRun {
    /// A run with nothing read yet, from `source` in `format`.
    pub fn empty(name: String, source: PathBuf, format: Format) -> ExternalRun {
        ExternalRun {
            name,
            source,
            format,
            epochs: Vec::new(),
            histograms: Vec::new(),
            tags_seen: Vec::new(),
            mapped: Vec::new(),
            hparams: Default::default(),
            warnings: Vec::new(),
            skipped: 0,
            bridge: None,
        }
    }

    /// Ok when at least one epoch has a loss or an accuracy (training or
    /// validation): a run with training metrics only is read too, and the
    /// checklist says what it cannot judge without validation. Otherwise the
    /// error lists the tags that were found, so the user can `--map` them.
    pub fn require_metrics(&self) -> Result<(), IngestError> {
        let usable = self
            .epochs
            .iter()
            .any(|e| e.val_loss.is_some() || e.val_acc.is_some() || e.train_loss.is_some() || e.train_acc.is_some());
        if usable {
            Ok(())
        } else {
            Err(IngestError::NoMetrics {
                path: self.source.clone(),
                tags: self.tags_seen.clone(),
                // Only a loss or an accuracy makes an epoch: a mapped
                // learning rate alone still needs a --map.
                mapped: self
                    .mapped
                    .iter()
                    .filter(|(_, f)| matches!(f, Field::TrainLoss | Field::ValLoss | Field::TrainAcc | Field::ValAcc))
                    .map(|(tag, field)| format!("{tag} → {field}"))
                    .collect(),
                skipped: self.warnings.clone(),
            })
        }
    }
}

/// Reads a whole run at once (a file, or a folder holding one run): the
/// one-shot twin of [`Follower`], for `diagnose`.
///
/// A truncated last record or line is not an error (the writer may be
/// mid-write): it is left out with a warning. Errors: unreadable path,
/// unknown format, a `trainer_state.json` that is not valid JSON
/// ([`IngestError::Malformed`], with line and column), fitcheck's own log
/// (the caller replays it instead), and no loss or accuracy at all.
pub fn read_run(path: &Path, maps: &TagMap) -> Result<ExternalRun, IngestError> {
    let mut follower = Follower::new(path, maps.clone())?;
    follower.poll()?;
    if let Some(e) = follower.malformed() {
        return Err(e);
    }
    follower.finish();
    let run = follower.run().clone();
    run.require_metrics()?;
    Ok(run)
}
