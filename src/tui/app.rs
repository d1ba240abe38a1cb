//! The dashboard's state and the only place it changes: `App::update`
//! takes a message (a key, a trainer event) and returns what to do about it
//! (a command for the trainer, quitting). Rendering reads `&App` only.

use ratatui::crossterm::event::{KeyEvent, KeyEventKind};

use super::keymap::{Action, action_for};
use crate::data::DatasetSpec;
use crate::diagnose::Remedy;
use crate::history::Series;
use crate::nn::OptimizerKind;
use crate::preset::Preset;
use crate::train::{Change, Command, DataView, EpochMetrics, Event, RunInfo, StatsReport, Stopped, Summary};
use crate::verdict::RunRecord;

/// Points kept per step-level curve (the whole run, downsampled).
const STEP_HISTORY: usize = 1000;
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

#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// No run yet: the preset picker is open.
    Idle,
    Starting,
    Running,
    Paused,
    Finished(Stopped),
    Failed(String),
}

impl Status {
    pub fn label(&self) -> String {
        match self {
            Status::Idle => "choose a preset".into(),
            Status::Starting => "… starting".into(),
            Status::Running => "▶ running".into(),
            Status::Paused => "⏸ paused".into(),
            Status::Finished(Stopped::Completed) => "■ finished".into(),
            Status::Finished(Stopped::EarlyStop) => "■ stopped early".into(),
            Status::Finished(Stopped::Diverged) => "✗ diverged".into(),
            Status::Finished(Stopped::Interrupted) => "■ interrupted".into(),
            Status::Failed(_) => "✗ failed".into(),
        }
    }

    /// Whether the trainer still takes commands.
    pub fn is_live(&self) -> bool {
        matches!(self, Status::Starting | Status::Running | Status::Paused)
    }
}

/// Messages `App::update` handles.
#[derive(Clone, Debug)]
pub enum Msg {
    Key(KeyEvent),
    Trainer(Event),
    /// The trainer's channel closed.
    TrainerGone,
}

/// What the event loop should do after an update.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Send(Command),
    /// Several commands, applied in order at the next minibatch.
    SendAll(Vec<Command>),
    /// Stop this run and start another with these settings (the current
    /// run becomes the ghost).
    Restart(Box<Preset>),
    /// Stop this run and start the named preset.
    Start(String),
    Quit,
}

/// A preset as the picker lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct PresetEntry {
    pub name: String,
    pub dataset: String,
    pub lesson: String,
}

/// The previous run, kept on the charts for comparison after a restart.
#[derive(Clone, Debug)]
pub struct Ghost {
    pub label: String,
    pub train_loss: Series,
    pub train_acc: Series,
    pub epochs: Vec<EpochMetrics>,
}

/// The preset picker's state.
#[derive(Clone, Debug, PartialEq)]
pub struct Picker {
    pub selected: usize,
}

/// The L2 strengths the `l`/`L` keys step through (0, then decades).
const L2_FIRST: f32 = 1e-4;
const L2_MAX: f32 = 1.0;
/// Patience of the early stopping `e` turns on.
const EARLY_PATIENCE: usize = 5;

/// The optimizer after `k` in the `o` cycle, with the learning rate it is
/// usually started at (keeping SGD's 0.05 would make Adam diverge).
pub fn next_optimizer(k: OptimizerKind) -> (OptimizerKind, f32) {
    match k {
        OptimizerKind::Sgd { .. } => (OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 }, 1e-3),
        OptimizerKind::Adam { .. } => (OptimizerKind::RmsProp { rho: 0.9 }, 1e-3),
        OptimizerKind::RmsProp { .. } => (OptimizerKind::Adagrad, 1e-2),
        OptimizerKind::Adagrad => (OptimizerKind::Sgd { momentum: 0.9, nesterov: false }, 0.05),
    }
}

#[derive(Debug)]
pub struct App {
    pub preset: Preset,
    pub info: Option<RunInfo>,
    pub status: Status,
    pub step: u64,
    pub epoch: usize,
    /// Samples/s of the latest step window.
    pub samples_per_s: f32,
    /// The learning rate as the trainer last confirmed it.
    pub lr: f32,
    /// The learning rate asked for by the last key press (may be ahead of `lr`).
    pub lr_requested: f32,
    /// Training loss and accuracy as trained, over steps, smoothed; x is in epochs.
    pub train_loss: Series,
    pub train_acc: Series,
    smooth_loss: Ema,
    smooth_acc: Ema,
    pub epochs: Vec<EpochMetrics>,
    pub changes: Vec<Change>,
    pub summary: Option<Summary>,
    /// The latest layer statistics.
    pub stats: Option<StatsReport>,
    /// The latest thing the trainer did on its own (rollback, early stop,
    /// checkpoint), in words.
    pub notice: Option<String>,
    /// Rollbacks of the divergence guard so far.
    pub rollbacks: usize,
    pub show_help: bool,
    /// The previous run, faded, after `r`.
    pub ghost: Option<Ghost>,
    pub picker: Option<Picker>,
    /// Every shipped preset, for the picker (read by the event loop).
    pub presets: Vec<PresetEntry>,
    /// The loss axis is logarithmic.
    pub log_scale: bool,
    /// The charts show only the last few epochs.
    pub recent_only: bool,
    /// The layer the weights panel shows.
    pub layer: usize,
    /// Per layer, over steps (x in epochs): weight norm and gradient norm.
    pub layer_norms: Vec<(Series, Series)>,
    /// The latest confusion matrix, misclassified samples, boundary.
    pub data_view: Option<DataView>,
    /// The middle row shows the data view instead of weights and dropout.
    pub show_data: bool,
    /// The panel shown alone over the whole body (1-based, screen order), if any.
    pub zoom: Option<u8>,
    /// What the checklist reads: the run as its events describe it.
    pub record: RunRecord,
    /// The highlighted remedy while the checklist is open.
    pub remedy: Option<usize>,
    /// The last remedy applied from the checklist, to report its effect.
    pub applied: Option<Applied>,
}

/// A remedy applied from the checklist, and where the run stood then.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    pub label: &'static str,
    pub epoch: usize,
    pub val_loss: f32,
    pub val_acc: f32,
}

/// Panels that can be zoomed, in screen order (keys 1-7).
pub const PANELS: [&str; 7] = ["loss", "accuracy", "weights", "dropout", "data", "controls", "checklist"];

/// Epochs the recent-window view shows.
pub const RECENT_EPOCHS: f64 = 5.0;

impl App {
    pub fn new(preset: Preset) -> App {
        let record = RunRecord::new(preset.clone());
        // A 2-D set's decision boundary is the point of it: shown at once.
        let show_data = matches!(
            preset.dataset,
            DatasetSpec::Spirals { .. }
                | DatasetSpec::Moons { .. }
                | DatasetSpec::Circles { .. }
                | DatasetSpec::Xor
                | DatasetSpec::Blobs { .. }
        );
        App {
            lr: preset.lr,
            lr_requested: preset.lr,
            preset,
            info: None,
            status: Status::Starting,
            step: 0,
            epoch: 0,
            samples_per_s: 0.0,
            train_loss: Series::new(STEP_HISTORY),
            train_acc: Series::new(STEP_HISTORY),
            smooth_loss: Ema::default(),
            smooth_acc: Ema::default(),
            epochs: Vec::new(),
            changes: Vec::new(),
            summary: None,
            stats: None,
            notice: None,
            rollbacks: 0,
            show_help: false,
            ghost: None,
            picker: None,
            presets: Vec::new(),
            log_scale: false,
            recent_only: false,
            layer: 0,
            layer_norms: Vec::new(),
            data_view: None,
            show_data,
            zoom: None,
            record,
            remedy: None,
            applied: None,
        }
    }

    /// No run yet: the picker over `presets` is open.
    pub fn idle(preset: Preset, presets: Vec<PresetEntry>) -> App {
        let mut app = App::new(preset);
        app.status = Status::Idle;
        // The healthy baseline first: Enter starts it.
        let selected = presets.iter().position(|e| e.name == "mnist-mlp").unwrap_or(0);
        app.picker = Some(Picker { selected });
        app.presets = presets;
        app
    }

    /// A new run with `preset` begins: the curves start empty; with `keep`
    /// the finished one stays as the ghost.
    pub fn begin_run(&mut self, preset: Preset, keep: bool) {
        let ghost = keep.then(|| Ghost {
            label: format!("before, {}", self.run_label()),
            train_loss: self.train_loss.clone(),
            train_acc: self.train_acc.clone(),
            epochs: self.epochs.clone(),
        });
        let presets = std::mem::take(&mut self.presets);
        let (log_scale, recent_only) = (self.log_scale, self.recent_only);
        *self = App::new(preset);
        self.presets = presets;
        self.ghost = ghost.filter(|g| !g.epochs.is_empty() || !g.train_loss.is_empty());
        (self.log_scale, self.recent_only) = (log_scale, recent_only);
    }

    /// A few words naming this run's settings (for the ghost's legend).
    fn run_label(&self) -> String {
        let p = &self.preset;
        format!("{} {:?} lr {} drop {} l2 {}", p.activation.label(), p.hidden, p.lr, p.dropout, p.l2)
    }
    /// Steps in one epoch (1 until the trainer says).
    pub fn steps_per_epoch(&self) -> u64 {
        self.info.as_ref().map_or(1, |i| i.steps_per_epoch.max(1))
    }

    /// A step count as a position on the epoch axis.
    pub fn step_to_x(&self, step: u64) -> f64 {
        step as f64 / self.steps_per_epoch() as f64
    }

    pub fn total_epochs(&self) -> usize {
        self.info.as_ref().map_or(self.preset.epochs, |i| i.epochs)
    }

    /// Fraction of the run done, 0..=1.
    pub fn progress(&self) -> f64 {
        let total = self.total_epochs() as f64 * self.steps_per_epoch() as f64;
        (self.step as f64 / total.max(1.0)).clamp(0.0, 1.0)
    }

    pub fn update(&mut self, msg: Msg) -> Option<Effect> {
        match msg {
            Msg::Key(key) if key.kind == KeyEventKind::Press && self.picker.is_some() => self.on_picker_key(key),
            Msg::Key(key) if key.kind == KeyEventKind::Press && self.remedy.is_some() => self.on_checklist_key(key),
            Msg::Key(key) if key.kind == KeyEventKind::Press => self.on_action(action_for(&key)?),
            Msg::Key(_) => None,
            Msg::Trainer(event) => {
                self.on_event(event);
                None
            }
            Msg::TrainerGone => {
                if self.status.is_live() {
                    self.status = Status::Failed("the trainer stopped without a summary".into());
                }
                None
            }
        }
    }

    fn on_picker_key(&mut self, key: KeyEvent) -> Option<Effect> {
        use ratatui::crossterm::event::{KeyCode, KeyModifiers};
        let n = self.presets.len();
        let picker = self.picker.as_mut()?;
        match key.code {
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => return Some(Effect::Quit),
            KeyCode::Char('q') => return Some(Effect::Quit),
            KeyCode::Up | KeyCode::Char('k') => picker.selected = picker.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => picker.selected = (picker.selected + 1).min(n.saturating_sub(1)),
            KeyCode::Enter => {
                let name = self.presets.get(picker.selected)?.name.clone();
                self.picker = None;
                return Some(Effect::Start(name));
            }
            // Closing needs a run to go back to.
            KeyCode::Esc | KeyCode::Char('p') if self.status != Status::Idle => self.picker = None,
            _ => {}
        }
        None
    }

    /// The remedies the checklist offers now, in order.
    pub fn remedies(&self) -> Vec<Remedy> {
        self.record.diagnosis().findings.into_iter().flat_map(|f| f.remedies).collect()
    }

    fn on_checklist_key(&mut self, key: KeyEvent) -> Option<Effect> {
        use ratatui::crossterm::event::{KeyCode, KeyModifiers};
        let remedies = self.remedies();
        let sel = self.remedy?;
        match key.code {
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => return Some(Effect::Quit),
            KeyCode::Up | KeyCode::Char('k') => self.remedy = Some(sel.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => self.remedy = Some((sel + 1).min(remedies.len().saturating_sub(1))),
            KeyCode::Enter => {
                let remedy = remedies.get(sel)?.clone();
                self.remedy = None;
                self.zoom = None;
                return self.apply_remedy(&remedy);
            }
            KeyCode::Esc | KeyCode::Char('c') | KeyCode::Char('q') => {
                self.remedy = None;
                self.zoom = None;
            }
            _ => {}
        }
        None
    }

    /// What a remedy does: commands at the next minibatch, or a restart for
    /// what only a fresh start can change (the data's normalization or size).
    fn apply_remedy(&mut self, r: &Remedy) -> Option<Effect> {
        use crate::diagnose::Action as A;
        use crate::nn::Activation;
        if let Some(last) = self.epochs.last() {
            self.applied =
                Some(Applied { label: r.label, epoch: last.epoch, val_loss: last.val_loss, val_acc: last.val_acc });
        }
        let p = &self.preset;
        let send = |c: Command| Some(Effect::Send(c));
        match r.action {
            A::HalveLr => {
                self.lr_requested = p.lr / 2.0;
                send(Command::SetLearningRate(p.lr / 2.0))
            }
            A::DoubleLr => {
                self.lr_requested = p.lr * 2.0;
                send(Command::SetLearningRate(p.lr * 2.0))
            }
            A::UseRelu => send(Command::SetActivation(Activation::Relu)),
            A::UseSelu => send(Command::SetActivation(Activation::Selu)),
            A::UseAdam => {
                self.lr_requested = 1e-3;
                Some(Effect::SendAll(vec![
                    Command::SetOptimizer(OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 }),
                    Command::SetLearningRate(1e-3),
                ]))
            }
            A::AddLayer => send(Command::AddLayer),
            A::EarlyStopping => send(Command::SetEarlyStopping(Some(crate::preset::EarlyStopping {
                patience: EARLY_PATIENCE,
                min_delta: 0.0,
            }))),
            A::Dropout(rate) => send(Command::SetDropout(rate)),
            A::AddL2 => send(Command::SetL2(if p.l2 == 0.0 { 1e-3 } else { (p.l2 * 10.0).min(L2_MAX) })),
            A::LessDropout => send(Command::SetDropout(((p.dropout - 0.2) * 10.0).round().max(0.0) / 10.0)),
            // diag: the remedies of issue 11.
            A::ScaleLr(factor) => {
                self.lr_requested = p.lr * factor;
                send(Command::SetLearningRate(p.lr * factor))
            }
            A::LessL2 => send(Command::SetL2(if p.l2 > 1e-6 { p.l2 / 10.0 } else { 0.0 })),
            A::LessL1 => send(Command::SetL1(if p.l1 > 1e-6 { p.l1 / 10.0 } else { 0.0 })),
            A::Wider => {
                let mut next = p.clone();
                next.hidden = p.hidden.iter().map(|w| w * 2).collect();
                self.applied = None;
                Some(Effect::Restart(Box::new(next)))
            }
            A::Normalize => {
                let mut next = p.clone();
                // Pixels scale to [0, 1]; real-valued features standardize.
                let images = matches!(p.dataset, DatasetSpec::Mnist | DatasetSpec::Idx { .. });
                next.normalize =
                    if images { crate::data::Normalize::Scale255 } else { crate::data::Normalize::Standardize };
                self.applied = None;
                Some(Effect::Restart(Box::new(next)))
            }
            A::Augment => {
                let mut next = p.clone();
                next.augment = crate::preset::Augment::Shift { pixels: 2 };
                self.applied = None;
                Some(Effect::Restart(Box::new(next)))
            }
        }
    }

    fn on_action(&mut self, action: Action) -> Option<Effect> {
        let live = self.status.is_live();
        let p = &self.preset;
        let send = |c: Command| Some(Effect::Send(c));
        match action {
            Action::Quit => Some(Effect::Quit),
            Action::ToggleHelp => {
                self.show_help = !self.show_help;
                None
            }
            Action::Presets => {
                self.picker =
                    Some(Picker { selected: self.presets.iter().position(|e| e.name == p.name).unwrap_or(0) });
                None
            }
            Action::ToggleLogScale => {
                self.log_scale = !self.log_scale;
                None
            }
            Action::ToggleWindow => {
                self.recent_only = !self.recent_only;
                None
            }
            Action::ToggleDataView => {
                self.show_data = !self.show_data;
                None
            }
            Action::Checklist if self.status != Status::Idle => {
                self.remedy = Some(0);
                self.zoom = Some(PANELS.len() as u8);
                None
            }
            Action::Checklist => None,
            Action::Zoom(n) => {
                self.zoom = if n == 0 || self.zoom == Some(n) { None } else { Some(n) };
                None
            }
            Action::ZoomNext => {
                self.zoom = match self.zoom {
                    None => Some(1),
                    Some(n) if (n as usize) < PANELS.len() => Some(n + 1),
                    Some(_) => None,
                };
                None
            }
            Action::LayerNext => {
                self.layer = (self.layer + 1).min(self.preset.hidden.len());
                None
            }
            Action::LayerPrev => {
                self.layer = self.layer.saturating_sub(1);
                None
            }
            Action::Restart if self.status != Status::Idle => Some(Effect::Restart(Box::new(self.preset.clone()))),
            Action::TogglePause if live => {
                send(if self.status == Status::Paused { Command::Resume } else { Command::Pause })
            }
            Action::StepOnce if self.status == Status::Paused => send(Command::Step),
            Action::LrUp | Action::LrDown if live => {
                let factor = if action == Action::LrUp { 2.0 } else { 0.5 };
                let (lo, hi) = Preset::LR_RANGE;
                let to = (self.lr_requested * factor).clamp(lo, hi);
                if to == self.lr_requested {
                    return None;
                }
                self.lr_requested = to;
                send(Command::SetLearningRate(to))
            }
            Action::AddLayer if live => send(Command::AddLayer),
            Action::RemoveLayer if live && !p.hidden.is_empty() => send(Command::RemoveLayer),
            Action::NextActivation if live => send(Command::SetActivation(p.activation.next())),
            Action::DropoutUp | Action::DropoutDown if live => {
                let step = if action == Action::DropoutUp { 0.1 } else { -0.1 };
                // Rounded to tenths, so repeated presses land on 0.1, 0.2, ...
                let to = ((p.dropout + step) * 10.0).round() / 10.0;
                let to = to.clamp(0.0, crate::train::MAX_DROPOUT);
                (to != p.dropout).then_some(Effect::Send(Command::SetDropout(to)))
            }
            Action::L2Up if live => {
                // Whole decades (1e-4, 1e-3, ...), not repeated ×10 drifting in f32.
                let to = if p.l2 == 0.0 { L2_FIRST } else { 10f32.powi(p.l2.log10().round() as i32 + 1).min(L2_MAX) };
                (to != p.l2).then_some(Effect::Send(Command::SetL2(to)))
            }
            Action::L2Down if live && p.l2 > 0.0 => {
                let to = if p.l2 <= L2_FIRST * 1.01 { 0.0 } else { 10f32.powi(p.l2.log10().round() as i32 - 1) };
                send(Command::SetL2(to))
            }
            Action::NextOptimizer if live => {
                let (kind, lr) = next_optimizer(p.optimizer);
                self.lr_requested = lr;
                Some(Effect::SendAll(vec![Command::SetOptimizer(kind), Command::SetLearningRate(lr)]))
            }
            Action::ToggleEarlyStopping if live => {
                let to = match p.early_stopping {
                    Some(_) => None,
                    None => Some(crate::preset::EarlyStopping { patience: EARLY_PATIENCE, min_delta: 0.0 }),
                };
                send(Command::SetEarlyStopping(to))
            }
            Action::SaveCheckpoint if live => send(Command::SaveCheckpoint),
            Action::TogglePause
            | Action::StepOnce
            | Action::LrUp
            | Action::LrDown
            | Action::AddLayer
            | Action::RemoveLayer
            | Action::NextActivation
            | Action::DropoutUp
            | Action::DropoutDown
            | Action::L2Up
            | Action::L2Down
            | Action::NextOptimizer
            | Action::ToggleEarlyStopping
            | Action::SaveCheckpoint
            | Action::Restart => None,
        }
    }

    /// Keeps the live settings in step with a change the trainer applied.
    fn apply_change(&mut self, c: &Change) {
        crate::verdict::apply_change(&mut self.preset, c);
        if c.key == "lr" {
            self.lr = self.preset.lr;
            // A change the trainer made itself (the guard) resets the request.
            self.lr_requested = self.preset.lr;
        }
        self.layer = self.layer.min(self.preset.hidden.len());
    }

    fn on_event(&mut self, event: Event) {
        self.record.record(&event);
        match event {
            Event::Start(info) => {
                self.lr = info.lr;
                self.lr_requested = info.lr;
                self.info = Some(info);
                self.status = Status::Running;
            }
            Event::Step(m) => {
                self.step = m.step;
                self.epoch = m.epoch;
                self.samples_per_s = m.samples_per_s;
                let x = self.step_to_x(m.step);
                self.train_loss.push(x, self.smooth_loss.next(m.loss as f64));
                self.train_acc.push(x, self.smooth_acc.next(m.acc as f64));
            }
            Event::Epoch(m) => {
                self.step = m.step;
                self.epoch = m.epoch;
                self.epochs.push(m);
            }
            Event::Change(c) => {
                self.apply_change(&c);
                self.changes.push(c);
            }
            Event::DataView(view) => self.data_view = Some(view),
            Event::Stats(report) => {
                let x = self.step_to_x(report.step);
                if self.layer_norms.len() != report.layers.len() {
                    // The architecture changed: the old curves no longer match.
                    self.layer_norms = report.layers.iter().map(|_| (Series::new(300), Series::new(300))).collect();
                }
                for ((w, g), l) in self.layer_norms.iter_mut().zip(&report.layers) {
                    w.push(x, l.weight_norm as f64);
                    g.push(x, l.grad_norm as f64);
                }
                self.layer = self.layer.min(report.layers.len().saturating_sub(1));
                self.stats = Some(report);
            }
            Event::Diverged { step, loss, rolled_back_to, lr_from, lr_to } => {
                self.rollbacks += 1;
                let loss = loss.map_or("not finite".to_string(), |l| format!("{l:.3e}"));
                self.notice = Some(format!(
                    "diverged at step {step} (loss {loss}): rolled back to step {rolled_back_to}, lr {lr_from}→{lr_to}"
                ));
            }
            Event::EarlyStop { epoch, best_epoch, best_val_loss, patience, .. } => {
                self.notice = Some(format!(
                    "early stop at epoch {epoch}: no better validation loss for {patience} epochs; \
                     keeping epoch {best_epoch} ({best_val_loss:.4})"
                ));
            }
            Event::Checkpoint { path, error, .. } => {
                self.notice = Some(match error {
                    None => format!("checkpoint saved: {path}"),
                    Some(e) => format!("checkpoint {path} failed: {e}"),
                });
            }
            Event::Paused { step } => {
                self.step = step;
                self.status = Status::Paused;
            }
            Event::Resumed { step } => {
                self.step = step;
                self.status = Status::Running;
            }
            Event::Summary(s) => {
                self.status = Status::Finished(s.stopped);
                self.summary = Some(s);
            }
            Event::Failed { message } => self.status = Status::Failed(message),
            // The run record keeps them for the checklist (diag).
            Event::Preflight(_) | Event::Probe(_) | Event::Verdict { .. } => {}
        }
    }

    /// The best validation accuracy so far and its epoch.
    pub fn best_epoch(&self) -> Option<&EpochMetrics> {
        self.epochs.iter().max_by(|a, b| a.val_acc.total_cmp(&b.val_acc))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::train::json_f32;
    use ratatui::crossterm::event::{KeyCode, KeyModifiers};

    pub(crate) fn preset() -> Preset {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/presets/mnist-mlp.ron")).unwrap();
        Preset::parse(&text, "mnist-mlp.ron").unwrap()
    }

    pub(crate) fn info() -> RunInfo {
        RunInfo {
            preset: "mnist-mlp".into(),
            dataset: "MNIST".into(),
            epochs: 10,
            steps_per_epoch: 100,
            train_size: 6400,
            val_size: 1000,
            test_size: 1000,
            parameters: 235_146,
            hidden: vec![256, 128],
            activation: "ReLU".into(),
            optimizer: "SGD+m 0.9".into(),
            lr: 0.05,
            batch_size: 64,
            threads: 2,
            classes: 10,
            input_scale: 1.0,
        }
    }

    fn step_event(step: u64, loss: f32, acc: f32) -> Msg {
        Msg::Trainer(Event::Step(crate::train::StepMetrics { epoch: 1, step, loss, acc, samples_per_s: 9000.0 }))
    }

    fn key(c: char) -> Msg {
        Msg::Key(KeyEvent::from(KeyCode::Char(c)))
    }

    #[test]
    fn plus_asks_the_trainer_to_double_the_learning_rate() {
        let mut app = App::new(preset());
        app.update(Msg::Trainer(Event::Start(info())));
        assert_eq!(app.update(key('+')), Some(Effect::Send(Command::SetLearningRate(0.1))));
        assert_eq!(app.update(key('+')), Some(Effect::Send(Command::SetLearningRate(0.2))));
        assert_eq!(app.update(key('-')), Some(Effect::Send(Command::SetLearningRate(0.1))));
        // The shown rate follows the trainer's confirmation, not the key.
        assert_eq!(app.lr, 0.05);
        app.update(Msg::Trainer(Event::Change(Change {
            step: 3,
            key: "lr".into(),
            from: json_f32(0.05),
            to: json_f32(0.1),
            note: None,
        })));
        assert_eq!(app.lr, 0.1);
        assert_eq!(app.changes.len(), 1);
    }

    #[test]
    fn space_pauses_and_resumes_and_n_steps_only_while_paused() {
        let mut app = App::new(preset());
        app.update(Msg::Trainer(Event::Start(info())));
        assert_eq!(app.update(key('n')), None);
        assert_eq!(app.update(key(' ')), Some(Effect::Send(Command::Pause)));
        app.update(Msg::Trainer(Event::Paused { step: 7 }));
        assert_eq!(app.status, Status::Paused);
        assert_eq!(app.update(key('n')), Some(Effect::Send(Command::Step)));
        assert_eq!(app.update(key(' ')), Some(Effect::Send(Command::Resume)));
    }

    #[test]
    fn q_and_ctrl_c_quit_even_before_the_first_metric() {
        let mut app = App::new(preset());
        assert_eq!(app.update(key('q')), Some(Effect::Quit));
        let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(app.update(ctrl_c), Some(Effect::Quit));
        // Keys that need a live run do nothing harmful before it starts... or after it ends.
        app.update(Msg::TrainerGone);
        assert!(matches!(app.status, Status::Failed(_)));
        assert_eq!(app.update(key('+')), None);
        assert_eq!(app.update(key(' ')), None);
    }

    #[test]
    fn step_metrics_feed_the_curves_on_an_epoch_axis() {
        let mut app = App::new(preset());
        app.update(Msg::Trainer(Event::Start(info())));
        app.update(step_event(50, 0.7, 0.8));
        assert_eq!(app.train_loss.last(), Some((0.5, 0.699999988079071)));
        app.update(step_event(60, 0.2, 0.9));
        // Smoothed: 0.6 of the previous point, 0.4 of the new one.
        let (x, y) = app.train_loss.last().unwrap();
        assert!((x - 0.6).abs() < 1e-12 && (y - (0.6 * 0.7 + 0.4 * 0.2)).abs() < 1e-6, "{y}");
        assert_eq!(app.samples_per_s, 9000.0);
        assert!((app.progress() - 0.06).abs() < 1e-9);
    }

    fn live() -> App {
        let mut app = App::new(preset());
        app.update(Msg::Trainer(Event::Start(info())));
        app
    }

    fn change(app: &mut App, key: &str, from: serde_json::Value, to: serde_json::Value) {
        app.update(Msg::Trainer(Event::Change(Change { step: 10, key: key.into(), from, to, note: None })));
    }

    #[test]
    fn every_live_edit_key_sends_its_command() {
        use crate::nn::Activation;
        let mut app = live();
        assert_eq!(app.update(key('>')), Some(Effect::Send(Command::AddLayer)));
        assert_eq!(app.update(key('<')), Some(Effect::Send(Command::RemoveLayer)));
        assert_eq!(app.update(key('a')), Some(Effect::Send(Command::SetActivation(Activation::LeakyRelu))));
        assert_eq!(app.update(key('d')), Some(Effect::Send(Command::SetDropout(0.1))));
        assert_eq!(app.update(key('D')), None, "dropout is already 0");
        assert_eq!(app.update(key('l')), Some(Effect::Send(Command::SetL2(1e-4))));
        assert_eq!(app.update(key('L')), None, "L2 is already 0");
        assert_eq!(
            app.update(key('o')),
            Some(Effect::SendAll(vec![
                Command::SetOptimizer(OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 }),
                Command::SetLearningRate(1e-3)
            ]))
        );
        assert!(matches!(app.update(key('e')), Some(Effect::Send(Command::SetEarlyStopping(Some(_))))));
        assert_eq!(app.update(key('s')), Some(Effect::Send(Command::SaveCheckpoint)));
        assert!(matches!(app.update(key('r')), Some(Effect::Restart(_))));
    }

    #[test]
    fn the_settings_follow_the_changes_the_trainer_reports() {
        let mut app = live();
        change(&mut app, "dropout", json_f32(0.0), json_f32(0.2));
        change(&mut app, "l2", json_f32(0.0), json_f32(1e-4));
        change(&mut app, "activation", "Relu".into(), "Tanh".into());
        change(&mut app, "hidden", serde_json::json!([512, 512]), serde_json::json!([512, 512, 512]));
        change(&mut app, "optimizer", "Sgd(momentum:0.9,nesterov:false)".into(), "Adagrad".into());
        change(&mut app, "early_stopping", "None".into(), "Some((patience:5,min_delta:0.0))".into());
        let p = &app.preset;
        assert_eq!((p.dropout, p.l2, p.hidden.len()), (0.2, 1e-4, 3));
        assert_eq!(p.activation, crate::nn::Activation::Tanh);
        assert_eq!(p.optimizer, OptimizerKind::Adagrad);
        assert_eq!(p.early_stopping.map(|e| e.patience), Some(5));
        // The next presses build on the confirmed values.
        assert_eq!(app.update(key('d')), Some(Effect::Send(Command::SetDropout(0.3))));
        assert_eq!(app.update(key('D')), Some(Effect::Send(Command::SetDropout(0.1))));
        assert_eq!(app.update(key('l')), Some(Effect::Send(Command::SetL2(1e-3))));
        assert_eq!(app.update(key('L')), Some(Effect::Send(Command::SetL2(0.0))));
        assert_eq!(app.update(key('e')), Some(Effect::Send(Command::SetEarlyStopping(None))));
    }

    #[test]
    fn restart_keeps_the_old_run_as_a_ghost() {
        let mut app = live();
        app.update(step_event(50, 0.7, 0.8));
        let Some(Effect::Restart(p)) = app.update(key('r')) else { panic!("r restarts") };
        app.begin_run(*p, true);
        assert!(app.train_loss.is_empty() && app.epochs.is_empty());
        let ghost = app.ghost.as_ref().expect("a ghost");
        assert_eq!(ghost.train_loss.points().len(), 1);
        assert!(ghost.label.contains("ReLU"));
        assert_eq!(app.status, Status::Starting);
    }

    #[test]
    fn the_picker_moves_starts_and_closes() {
        let entries: Vec<PresetEntry> = ["a-preset", "mnist-mlp", "z-preset"]
            .iter()
            .map(|n| PresetEntry { name: n.to_string(), dataset: "MNIST".into(), lesson: "x".into() })
            .collect();
        let mut app = App::idle(preset(), entries);
        assert_eq!(app.picker, Some(Picker { selected: 1 }), "the baseline is preselected");
        let code = |c: KeyCode| Msg::Key(KeyEvent::from(c));
        app.update(code(KeyCode::Down));
        app.update(code(KeyCode::Down));
        assert_eq!(app.picker, Some(Picker { selected: 2 }));
        assert_eq!(app.update(code(KeyCode::Esc)), None);
        assert!(app.picker.is_some(), "with no run yet the picker stays");
        assert_eq!(app.update(code(KeyCode::Enter)), Some(Effect::Start("z-preset".into())));
        assert!(app.picker.is_none());
        // Keys meant for a run do nothing before it starts.
        assert_eq!(app.update(key('+')), None);
        assert_eq!(app.update(key('r')), None);
    }

    #[test]
    fn number_keys_and_tab_zoom_panels() {
        let mut app = live();
        app.update(key('3'));
        assert_eq!(app.zoom, Some(3));
        app.update(key('3'));
        assert_eq!(app.zoom, None, "the same key goes back");
        app.update(key('5'));
        app.update(Msg::Key(KeyEvent::from(KeyCode::Esc)));
        assert_eq!(app.zoom, None);
        for want in [Some(1), Some(2), Some(3), Some(4), Some(5), Some(6), Some(7), None] {
            app.update(Msg::Key(KeyEvent::from(KeyCode::Tab)));
            assert_eq!(app.zoom, want);
        }
    }

    fn epoch_event(epoch: usize, train_acc: f32, val_acc: f32, val_loss: f32) -> Msg {
        Msg::Trainer(Event::Epoch(EpochMetrics {
            epoch,
            step: 100 * epoch as u64,
            train_loss: 0.01,
            train_acc,
            train_loss_eval: 0.01,
            train_acc_eval: train_acc,
            val_loss,
            val_acc,
            lr: 0.05,
            penalty: 0.0,
            samples_per_s: 1.0,
            elapsed_s: 1.0,
        }))
    }

    #[test]
    fn two_keys_take_an_overfitting_run_to_a_remedy() {
        let mut app = live();
        for (e, vl) in [(1, 0.30), (2, 0.32), (3, 0.36), (4, 0.40), (5, 0.45)] {
            app.update(epoch_event(e, 1.0, 0.90, vl));
        }
        assert_eq!(app.record.diagnosis().verdict, crate::diagnose::Verdict::Overfitting);
        assert_eq!(app.update(key('c')), None);
        assert_eq!(app.remedy, Some(0));
        assert_eq!(app.zoom, Some(7), "the checklist opens over the body");
        // The first remedy of the worst finding: early stopping.
        let effect = app.update(Msg::Key(KeyEvent::from(KeyCode::Enter)));
        assert!(matches!(effect, Some(Effect::Send(Command::SetEarlyStopping(Some(_))))), "{effect:?}");
        let applied = app.applied.clone().expect("the remedy is remembered");
        assert_eq!((applied.label, applied.epoch, applied.val_loss), ("early stopping", 5, 0.45));
        assert_eq!((app.remedy, app.zoom), (None, None));
        // Arrows pick another remedy; Esc closes without applying.
        app.update(key('c'));
        app.update(Msg::Key(KeyEvent::from(KeyCode::Down)));
        assert_eq!(app.remedy, Some(1));
        assert_eq!(app.update(Msg::Key(KeyEvent::from(KeyCode::Esc))), None);
        assert_eq!(app.remedy, None);
    }
}
