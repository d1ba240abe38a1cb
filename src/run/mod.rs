//! One model of a run, fed by events. Whatever the source — the built-in
//! trainer live, a recorded run log, a run trained elsewhere — a [`Run`]
//! takes `Event`s one at a time and keeps what every view reads: the run's
//! info, its state, the current settings, the epochs, the step curves, the
//! changes, the layer statistics, the rollbacks, the summary, and the
//! checklist's diagnosis (recomputed once per epoch, change or end — never
//! per frame) with the history of its verdicts; and a fork's branch beside
//! it (`fork`: its curves, settings and effect; events tagged `branch` go
//! there, and a kept branch takes the run's place).
//!
//! ```text
//!   trainer ─┐                     ┌─> dashboard (App: view state only)
//!   run log ─┼─ Event ─> Run ──────┼─> headless JSON lines
//!   replay  ─┘     (apply)         └─> diagnosis, verdict events
//! ```

pub mod external;
pub mod fork;
pub mod replay;

use crate::diagnose::{
    self, Diagnosis, EpochPoint, Inputs, LayerPoint, LayerSnapshot, PreflightPoint, ProbeFitPoint, ProbePoint, Verdict,
};
use crate::history::Series;
use crate::preset::{Augment, Preset};
use crate::protocol::Preflight;
use crate::protocol::{Change, DataView, EpochMetrics, Event, RunInfo, StatsReport, Stopped, Summary};
use crate::protocol::{ProbeFit, ProbeResult};

/// The summary event with the diagnosis beside its fields, in their order:
/// the summary line of stdout, of `diagnose` and of the run log.
#[derive(serde::Serialize)]
pub struct SummaryLine<'a> {
    #[serde(flatten)]
    pub event: &'a Event,
    pub diagnosis: &'a Diagnosis,
}

/// Points kept per step-level curve (the whole run, downsampled).
const STEP_HISTORY: usize = 1000;
/// Points kept per layer-norm curve.
const LAYER_HISTORY: usize = 300;
/// Exponential smoothing of the step-level curves, TensorBoard's default
/// weight: raw minibatch losses are too noisy to read trends from.
pub const SMOOTHING: f64 = 0.6;

/// An exponential moving average, starting at the first value.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ema(Option<f64>);

impl Ema {
    pub fn next(&mut self, x: f64) -> f64 {
        let v = match self.0 {
            Some(prev) if x.is_finite() => SMOOTHING * prev + (1.0 - SMOOTHING) * x,
            _ => x,
        };
        if v.is_finite() {
            self.0 = Some(v);
        }
        v
    }
}

/// Where a run is.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    /// Nothing started yet (the preset picker is open).
    Idle,
    Starting,
    Running,
    Paused,
    Finished(Stopped),
    Failed(String),
}

impl RunState {
    /// The state in words, with its symbol.
    pub fn label(&self) -> &'static str {
        match self {
            RunState::Idle => "choose a preset",
            RunState::Starting => "… starting",
            RunState::Running => "▶ running",
            RunState::Paused => "⏸ paused",
            RunState::Finished(Stopped::Completed) => "■ finished",
            RunState::Finished(Stopped::EarlyStop) => "■ stopped early",
            RunState::Finished(Stopped::Diverged) => "✗ diverged",
            RunState::Finished(Stopped::Interrupted) => "■ interrupted",
            RunState::Failed(_) => "✗ failed",
        }
    }

    /// Whether the trainer trains (or waits paused) now.
    pub fn is_training(&self) -> bool {
        matches!(self, RunState::Starting | RunState::Running | RunState::Paused)
    }

    /// Whether the trainer still takes commands: while it trains, and after
    /// a finished run (settings, checkpoints, more epochs) until it is stopped.
    pub fn takes_commands(&self) -> bool {
        self.is_training() || matches!(self, RunState::Finished(s) if *s != Stopped::Interrupted)
    }
}

/// The verdict changed at the end of `epoch`.
#[derive(Clone, Debug, PartialEq)]
pub struct VerdictChange {
    pub epoch: usize,
    pub verdict: Verdict,
    pub findings: Vec<String>,
}

/// A rollback of the divergence guard.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollback {
    pub step: u64,
    pub loss: Option<f32>,
    pub rolled_back_to: u64,
}

#[derive(Clone, Debug)]
pub struct Run {
    /// Epochs the current diagnosis saw (behind `epochs` when
    /// `diagnosis_due` skipped the latest ones).
    diagnosed_epochs: usize,
    pub info: Option<RunInfo>,
    /// The settings as they are now: the preset with every change applied.
    pub settings: Preset,
    pub state: RunState,
    pub step: u64,
    pub epoch: usize,
    /// Samples/s of the latest step window.
    pub samples_per_s: f32,
    /// Mean threads per step of the latest window, when the step has a team.
    pub threads: Option<f32>,
    /// Training loss and accuracy as trained, over steps, smoothed; x in epochs.
    pub train_loss: Series,
    pub train_acc: Series,
    smooth_loss: Ema,
    smooth_acc: Ema,
    pub epochs: Vec<EpochMetrics>,
    pub changes: Vec<Change>,
    /// The latest layer statistics.
    pub stats: Option<StatsReport>,
    /// Per layer, over steps (x in epochs): weight norm and gradient norm.
    pub layer_norms: Vec<(Series, Series)>,
    pub rollbacks: Vec<Rollback>,
    /// The latest confusion matrix, misclassified samples, boundary.
    pub data_view: Option<DataView>,
    pub summary: Option<Summary>,
    /// The latest thing the trainer did on its own, in words.
    pub notice: Option<String>,
    /// The epochs the run is to train (grows when it continues).
    pub total_epochs: usize,
    /// Always `Some` after `new` (computed from the run as it stands).
    /// Worked out when first asked for after a change (`diagnosis_due`
    /// decides which epochs also log a verdict).
    diagnosis: std::cell::OnceCell<Diagnosis>,
    /// Every change of verdict, oldest first.
    pub verdicts: Vec<VerdictChange>,
    /// Trained elsewhere: its settings and layer statistics are unknown, and
    /// no key reaches its trainer (but the bridge's).
    pub external: bool,
    /// The layers as the checklist reads them, at the latest statistics.
    layers: Vec<LayerPoint>,
    /// The layers at each epoch's end, update ratios averaged over the epoch.
    pub layer_history: Vec<LayerSnapshot>,
    /// Per layer, the sum of ln(update ratio) and the count, this epoch so far.
    ratio_logs: Vec<(f64, usize)>,
    /// Step 0: inputs, the loss at initialisation, the class balance.
    pub preflight: Option<Preflight>,
    /// The "overfit one batch" probes run so far.
    pub probes: Vec<ProbeResult>,
    /// A fork running beside the run: its branch's curves and settings.
    pub fork: Option<fork::Fork>,
    /// The fork that just ended, holding the side that was not kept (the
    /// dropped branch, or the run before a kept branch): the dashboard
    /// takes it for a ghost.
    pub ended_fork: Option<fork::Fork>,
}

impl Run {
    pub fn new(settings: Preset) -> Run {
        Run {
            info: None,
            total_epochs: settings.epochs,
            settings,
            state: RunState::Starting,
            step: 0,
            epoch: 0,
            samples_per_s: 0.0,
            threads: None,
            train_loss: Series::new(STEP_HISTORY),
            train_acc: Series::new(STEP_HISTORY),
            smooth_loss: Ema::default(),
            smooth_acc: Ema::default(),
            epochs: Vec::new(),
            changes: Vec::new(),
            stats: None,
            layer_norms: Vec::new(),
            rollbacks: Vec::new(),
            data_view: None,
            summary: None,
            notice: None,
            diagnosis: std::cell::OnceCell::new(),
            verdicts: Vec::new(),
            diagnosed_epochs: 0,
            external: false,
            layers: Vec::new(),
            layer_history: Vec::new(),
            ratio_logs: Vec::new(),
            preflight: None,
            probes: Vec::new(),
            fork: None,
            ended_fork: None,
        }
    }

    /// A run trained elsewhere, named `name`, with unknown settings.
    pub fn external(name: &str) -> Run {
        let mut run = Run::new(external::placeholder_settings(name));
        run.external = true;
        run
    }

    /// Steps in one epoch (1 until the trainer says).
    pub fn steps_per_epoch(&self) -> u64 {
        self.info.as_ref().map_or(1, |i| i.steps_per_epoch.max(1))
    }

    /// A step count as a position on the epoch axis.
    pub fn step_to_x(&self, step: u64) -> f64 {
        step as f64 / self.steps_per_epoch() as f64
    }

    /// Fraction of the run done, 0..=1.
    pub fn progress(&self) -> f64 {
        let total = self.total_epochs as f64 * self.steps_per_epoch() as f64;
        (self.step as f64 / total.max(1.0)).clamp(0.0, 1.0)
    }

    /// The epoch with the best validation accuracy so far.
    pub fn best_epoch(&self) -> Option<&EpochMetrics> {
        self.epochs.iter().max_by(|a, b| a.val_acc.total_cmp(&b.val_acc))
    }

    /// The checklist's diagnosis as of the last epoch, change or end.
    pub fn diagnosis(&self) -> &Diagnosis {
        self.diagnosis.get_or_init(|| self.diagnose())
    }

    /// The fork's effect at equal steps, once its branch has an epoch.
    pub fn fork_effect(&self) -> Option<fork::ForkEffect> {
        self.fork.as_ref()?.effect(&self.epochs)
    }

    /// The epoch since which the current verdict holds.
    pub fn verdict_since(&self) -> Option<usize> {
        self.verdicts.last().map(|v| v.epoch)
    }

    /// Takes in one event. Returns a `Verdict` event when the checklist's
    /// verdict (or its findings) changed, for the run log.
    pub fn apply(&mut self, event: &Event) -> Option<Event> {
        let mut rediagnose = false;
        // An epoch not due for a diagnosis still makes the current one stale.
        let mut stale = false;
        match event {
            Event::Start(info) => {
                self.info = Some(info.clone());
                self.total_epochs = info.epochs;
                self.state = RunState::Running;
                rediagnose = true;
            }
            Event::Step(m) if m.branch.is_some() => {
                let x = self.step_to_x(m.step);
                if let Some(f) = self.fork.as_mut() {
                    f.train_loss.push(x, f.smooth_loss.next(m.loss as f64));
                    f.train_acc.push(x, f.smooth_acc.next(m.acc as f64));
                }
            }
            Event::Epoch(m) if m.branch.is_some() => {
                if let Some(f) = self.fork.as_mut() {
                    f.push_epoch(m);
                    if f.due() {
                        self.notice = Some(format!(
                            "{}: {} epochs side by side; keep the branch or drop it",
                            f.branch, f.planned
                        ));
                    }
                }
            }
            Event::Diverged { step, rolled_back_to, lr_to, branch: Some(b), .. } => {
                if let Some(f) = self.fork.as_mut() {
                    f.rollbacks += 1;
                    f.settings.lr = *lr_to;
                }
                self.notice = Some(format!(
                    "branch {b} diverged at step {step}: rolled back to step {rolled_back_to}, lr → {}",
                    crate::settings::short_float(*lr_to)
                ));
            }
            Event::Fork(info) => {
                self.fork = Some(fork::Fork::new(info, self));
                self.ended_fork = None;
                self.notice = Some(format!(
                    "forked at epoch {}: {} trains beside the run on the same minibatches",
                    info.epoch, info.branch
                ));
            }
            Event::ForkEnd { kept, reason, .. } => {
                if let Some(mut f) = self.fork.take() {
                    if *kept {
                        // The branch is the run now; the fork keeps the other side.
                        std::mem::swap(&mut self.epochs, &mut f.epochs);
                        std::mem::swap(&mut self.train_loss, &mut f.train_loss);
                        std::mem::swap(&mut self.train_acc, &mut f.train_acc);
                        std::mem::swap(&mut self.smooth_loss, &mut f.smooth_loss);
                        std::mem::swap(&mut self.smooth_acc, &mut f.smooth_acc);
                        std::mem::swap(&mut self.settings, &mut f.settings);
                        std::mem::swap(&mut self.preflight, &mut f.preflight);
                        self.changes.extend(f.changes.iter().cloned());
                    }
                    self.notice = Some(format!("{}: {reason}", f.branch));
                    self.ended_fork = Some(f);
                }
                rediagnose = true;
            }
            Event::Step(m) => {
                self.step = m.step;
                self.epoch = m.epoch;
                self.samples_per_s = m.samples_per_s;
                self.threads = m.threads;
                let x = self.step_to_x(m.step);
                self.train_loss.push(x, self.smooth_loss.next(m.loss as f64));
                self.train_acc.push(x, self.smooth_acc.next(m.acc as f64));
            }
            Event::Epoch(m) => {
                self.step = self.step.max(m.step);
                self.epoch = self.epoch.max(m.epoch);
                // A log that rewrites an epoch (Lightning writes its train
                // value after validation) replaces it.
                // Epochs come in order: the common case is a push, found
                // without walking the history (a 100,000-epoch log).
                let at = if self.epochs.last().is_some_and(|l| l.epoch < m.epoch) {
                    None
                } else {
                    self.epochs.iter().position(|e| e.epoch >= m.epoch)
                };
                match at {
                    Some(i) if self.epochs[i].epoch == m.epoch => self.epochs[i] = m.clone(),
                    Some(i) => self.epochs.insert(i, m.clone()),
                    None => {
                        self.epochs.push(m.clone());
                        self.snapshot_layers(m.epoch);
                    }
                }
                self.total_epochs = self.total_epochs.max(m.epoch);
                stale = true;
                rediagnose = diagnosis_due(self.epochs.len());
            }
            Event::Change(c) => {
                c.to.apply_to(&mut self.settings);
                self.changes.push(c.clone());
                rediagnose = true;
            }
            Event::Stats(report) => {
                let x = self.step_to_x(report.step);
                if self.layer_norms.len() != report.layers.len() {
                    // The architecture changed: the old curves no longer match.
                    self.layer_norms = report
                        .layers
                        .iter()
                        .map(|_| (Series::new(LAYER_HISTORY), Series::new(LAYER_HISTORY)))
                        .collect();
                }
                for ((w, g), l) in self.layer_norms.iter_mut().zip(&report.layers) {
                    w.push(x, l.weight_norm as f64);
                    g.push(x, l.grad_norm as f64);
                }
                self.stats = Some(report.clone());
                // The checklist reads the dense layers (the filters have their
                // own panel rows); an external run's histograms are not evidence.
                self.layers = if self.external {
                    Vec::new()
                } else {
                    report
                        .layers
                        .iter()
                        .filter(|l| l.kind == crate::nn::stats::LayerKind::Dense)
                        .map(|l| LayerPoint {
                            units: l.fan_out,
                            grad_norm: l.grad_norm,
                            weight_norm: l.weight_norm,
                            update_ratio: l.update_ratio,
                            dead_fraction: l.dead_fraction,
                            saturated_fraction: l.saturated_fraction,
                        })
                        .collect()
                };
                if self.ratio_logs.len() != self.layers.len() {
                    // A new architecture: its ratios start over.
                    self.ratio_logs = vec![(0.0, 0); self.layers.len()];
                }
                for (acc, l) in self.ratio_logs.iter_mut().zip(&self.layers) {
                    if l.update_ratio.is_finite() && l.update_ratio > 0.0 {
                        acc.0 += (l.update_ratio as f64).ln();
                        acc.1 += 1;
                    }
                }
            }
            Event::Preflight(p) => {
                self.preflight = Some(p.clone());
                rediagnose = true;
            }
            Event::Probe(p) => {
                self.probes.push(p.clone());
                rediagnose = true;
            }
            Event::Diverged { step, loss, rolled_back_to, lr_from, lr_to, branch: None } => {
                self.rollbacks.push(Rollback { step: *step, loss: *loss, rolled_back_to: *rolled_back_to });
                let loss = loss.map_or("not finite".to_string(), |l| format!("{l:.3e}"));
                self.notice = Some(format!(
                    "diverged at step {step} (loss {loss}): rolled back to step {rolled_back_to}, lr {} → {}",
                    crate::settings::short_float(*lr_from),
                    crate::settings::short_float(*lr_to)
                ));
                rediagnose = true;
            }
            Event::EarlyStop { epoch, best_epoch, best_val_loss, patience, .. } => {
                self.notice = Some(format!(
                    "early stop at epoch {epoch}: no better validation loss for {patience} epochs; \
                     keeping epoch {best_epoch} ({best_val_loss:.4})"
                ));
            }
            Event::DataView(view) => self.data_view = Some(view.clone()),
            Event::Checkpoint { path, error, .. } => {
                self.notice = Some(match error {
                    None => format!("checkpoint saved: {path}"),
                    Some(e) => format!("checkpoint {path} failed: {e}"),
                });
            }
            Event::Paused { step } => {
                self.step = *step;
                self.state = RunState::Paused;
            }
            Event::Resumed { step } => {
                self.step = *step;
                self.state = RunState::Running;
            }
            Event::Summary(s) => {
                self.state = RunState::Finished(s.stopped);
                // The summary says how the run ended: a notice from before
                // it (an early stop, a rollback) would hide it, and one that
                // comes after (a checkpoint saved) must show over it.
                self.notice = None;
                self.summary = Some(s.clone());
                rediagnose = true;
            }
            Event::Continued { step, epochs } => {
                self.step = *step;
                self.total_epochs = *epochs;
                self.state = RunState::Running;
                self.summary = None;
                self.notice = Some(format!("continuing to epoch {epochs}"));
                rediagnose = true;
            }
            Event::Failed { message } => self.state = RunState::Failed(message.clone()),
            Event::Rebuilt => {
                // The same run, its epochs regrouped: the old ones go, the
                // resent ones come next.
                self.epochs.clear();
                self.epoch = 0;
                self.step = 0;
                self.verdicts.clear();
                self.layer_history.clear();
                self.diagnosed_epochs = 0;
                rediagnose = true;
            }
            // The range test trains a copy: the run's own curves do not move
            // (the dashboard draws the test in its own panel).
            Event::Restart { .. }
            | Event::Verdict { .. }
            | Event::RangeTestPoint { .. }
            | Event::RangeTestEnd { .. }
            // The loop's own reports belong to the dashboard's watch mode.
            | Event::Bridge(_) => {}
        }
        if stale || rediagnose {
            self.diagnosis = std::cell::OnceCell::new();
        }
        if !rediagnose {
            return None;
        }
        self.diagnosed_epochs = self.epochs.len();
        self.note_verdict()
    }

    /// Diagnoses the run as it stands if epochs came in since the last
    /// diagnosis (`diagnosis_due` skips some on long runs). Callers that
    /// apply a batch of events call it once at the end of the batch.
    pub fn settle(&mut self) -> Option<Event> {
        if self.diagnosed_epochs == self.epochs.len() {
            return None;
        }
        self.diagnosed_epochs = self.epochs.len();
        self.note_verdict()
    }

    /// Keeps the layers of the epoch that just ended, their update ratios
    /// averaged (geometric mean) over the epoch's reports: one step's ratio
    /// is noisy.
    fn snapshot_layers(&mut self, epoch: usize) {
        let mut layers = self.layers.clone();
        for (l, &(sum, n)) in layers.iter_mut().zip(&self.ratio_logs) {
            l.update_ratio = if n > 0 { (sum / n as f64).exp() as f32 } else { 0.0 };
        }
        self.ratio_logs.iter_mut().for_each(|r| *r = (0.0, 0));
        self.layer_history.push(LayerSnapshot { epoch, layers });
    }

    /// Records a new verdict (or new findings) and returns its event.
    fn note_verdict(&mut self) -> Option<Event> {
        if self.epochs.is_empty() {
            return None;
        }
        let diagnosis = self.diagnosis();
        let verdict = diagnosis.verdict;
        let findings: Vec<String> = diagnosis.findings.iter().map(|f| f.id.to_string()).collect();
        if self.verdicts.last().is_some_and(|v| v.verdict == verdict && v.findings == findings) {
            return None;
        }
        let epoch = self.epochs.last().map_or(0, |e| e.epoch);
        // "since when" counts from the first epoch of this verdict, even
        // when only its findings changed.
        let since = match self.verdicts.last() {
            Some(v) if v.verdict == verdict => v.epoch,
            _ => epoch,
        };
        self.verdicts.push(VerdictChange { epoch: since, verdict, findings: findings.clone() });
        Some(Event::Verdict { epoch, verdict, findings })
    }

    /// The checklist's inputs from the run as it stands.
    fn diagnose(&self) -> Diagnosis {
        let p = &self.settings;
        // Rollbacks within each epoch, and since the epoch before the last one ended ("recent").
        let mut from = 0;
        let epochs: Vec<EpochPoint> = self
            .epochs
            .iter()
            .map(|m| {
                let rollbacks = self.rollbacks.iter().filter(|r| r.step > from && r.step <= m.step).count();
                from = m.step;
                EpochPoint {
                    epoch: m.epoch,
                    train_loss: m.train_loss,
                    train_loss_eval: m.train_loss_eval,
                    train_acc_eval: m.train_acc_eval,
                    val_loss: m.val_loss,
                    val_acc: m.val_acc,
                    penalty: m.penalty,
                    rollbacks,
                    lr: m.lr,
                    grad_norm: m.grad_norm.unwrap_or(f32::NAN),
                }
            })
            .collect();
        let since = self.epochs.len().checked_sub(2).map_or(0, |i| self.epochs[i].step);
        let recent = self.rollbacks.iter().filter(|r| r.step > since).count();
        let stopped = self.summary.as_ref().map(|s| s.stopped);
        let preflight = self.preflight.as_ref().map(preflight_point);
        let probes: Vec<ProbePoint> = self.probes.iter().map(probe_point).collect();
        diagnose::diagnose(&Inputs {
            epochs: &epochs,
            classes: self.info.as_ref().map_or(10, |i| i.classes),
            logged: self.logged(),
            settings: (!self.external).then(|| diagnose::Settings {
                lr: p.lr,
                hidden: p.hidden.clone(),
                activation: p.activation,
                optimizer: p.optimizer,
                dropout: p.dropout,
                l1: p.l1,
                l2: p.l2,
                early_stopping: p.early_stopping.is_some(),
                label_noise: p.label_noise,
                augmenting: p.augment != Augment::None,
                convolutional: p.conv.is_some(),
                images: matches!(p.dataset, crate::data::DatasetSpec::Mnist | crate::data::DatasetSpec::Idx { .. }),
                normalized: p.normalize != crate::data::Normalize::None,
            }),
            input_scale: self.info.as_ref().map_or(1.0, |i| i.input_scale),
            layers: &self.layers,
            rollbacks: self.rollbacks.len(),
            recent_rollbacks: recent,
            gave_up: stopped == Some(Stopped::Diverged),
            stopped_early: stopped == Some(Stopped::EarlyStop),
            layer_history: &self.layer_history,
            preflight: preflight.as_ref(),
            probes: &probes,
            previous: self.verdicts.last().map(|v| (v.verdict, v.epoch)),
        })
    }
}

/// Epochs up to which every epoch is diagnosed.
pub const DIAGNOSE_EVERY_UPTO: usize = 256;

/// Whether the checklist is worked out again when the run has `n` epochs:
/// at every epoch up to `DIAGNOSE_EVERY_UPTO`, then 128 times per doubling
/// (every 2nd epoch up to 511, every 512th near 100,000). A diagnosis reads
/// the whole history, so diagnosing every epoch of a long log costs the
/// square of its length; this keeps the total linear. `settle` diagnoses
/// the latest state at the end of a batch.
pub fn diagnosis_due(n: usize) -> bool {
    if n <= DIAGNOSE_EVERY_UPTO {
        return true;
    }
    let log2 = (usize::BITS - 1 - n.leading_zeros()) as usize;
    n.is_multiple_of(1 << (log2 - 7))
}

impl Run {
    /// What the log of a run trained elsewhere recorded of its settings
    /// (nothing for the built-in trainer's runs, whose settings are known).
    fn logged(&self) -> diagnose::Logged {
        let Some(info) = self.info.as_ref().filter(|_| self.external) else { return diagnose::Logged::default() };
        let find = |keys: &[&str]| {
            info.hparams.iter().find_map(|(k, v)| {
                let key = external::hparam_key(k);
                keys.contains(&key.as_str()).then(|| v.trim().parse::<f32>().ok().map(|x| (k.clone(), x))).flatten()
            })
        };
        diagnose::Logged {
            lr: find(&["lr", "learning_rate", "learning-rate", "base_lr"]).map(|p| p.1),
            optimizer: (info.optimizer != "unknown").then(|| info.optimizer.clone()),
            weight_decay: find(&["weight_decay", "wd", "l2", "weight-decay", "l2_reg"]),
            gradients: self.stats.as_ref().map_or_else(Vec::new, external::gradients),
        }
    }
}

fn preflight_point(p: &Preflight) -> PreflightPoint {
    PreflightPoint {
        input_max_abs: p.input_max_abs,
        mean_range: p.mean_range,
        std_range: p.std_range,
        off_scale_share: p.off_scale_share,
        init_loss: p.init_loss,
        chance_loss: p.chance_loss,
        class_counts: p.class_counts.clone(),
        weight_norms: p.weight_norms.clone(),
    }
}

fn probe_point(p: &ProbeResult) -> ProbePoint {
    let fit = |f: &ProbeFit| ProbeFitPoint {
        optimizer: f.optimizer.clone(),
        lr: f.lr,
        steps: f.steps,
        loss_before: f.loss_before,
        loss_after: f.loss_after,
        acc_after: f.acc_after,
        fits: f.fits,
        timed_out: f.timed_out,
        update_ratio: f.update_ratio,
    };
    ProbePoint { epoch: p.epoch, batch: p.batch, configured: fit(&p.configured), reference: fit(&p.reference) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebuilt_log_replaces_every_epoch_shown() {
        let mut run = Run::external("state");
        let epoch = |e: usize| {
            let ext = crate::ingest::ExternalEpoch {
                epoch: e,
                step: Some(e as u64 * 4),
                train_loss: Some(1.0 / e as f32),
                ..Default::default()
            };
            external::epoch_event(&ext, 4, None)
        };
        for e in 1..=4 {
            run.apply(&epoch(e));
        }
        run.apply(&Event::Rebuilt);
        run.apply(&epoch(1));
        assert_eq!(run.epochs.len(), 1);
        assert_eq!(run.epoch, 1);
        assert_eq!(run.diagnosis().verdict, crate::diagnose::Verdict::TooEarly);
    }

    #[test]
    fn long_runs_are_diagnosed_at_a_linear_total_cost() {
        assert!((1..=DIAGNOSE_EVERY_UPTO).all(diagnosis_due));
        assert!(diagnosis_due(258) && !diagnosis_due(257));
        // 128 per doubling: about 1,300 diagnoses over 100,000 epochs.
        let due = (1..=100_000).filter(|&n| diagnosis_due(n)).count();
        assert!(due < 1_500, "{due}");
        assert!(diagnosis_due(98_304) && !diagnosis_due(99_999));
    }
}
