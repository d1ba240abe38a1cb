//! The dashboard's state and the only place it changes: `App::update`
//! takes a message (a key, a trainer event) and returns what to do about it
//! (a command for the trainer, quitting). Rendering reads `&App` only.

use ratatui::crossterm::event::{KeyEvent, KeyEventKind};

use super::keymap::{Action, action_for};
use crate::history::Series;
use crate::preset::Preset;
use crate::train::{Change, Command, EpochMetrics, Event, RunInfo, StatsReport, Stopped, Summary};

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
    Starting,
    Running,
    Paused,
    Finished(Stopped),
    Failed(String),
}

impl Status {
    pub fn label(&self) -> String {
        match self {
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
    Quit,
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
}

impl App {
    pub fn new(preset: Preset) -> App {
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
        }
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

    fn on_action(&mut self, action: Action) -> Option<Effect> {
        let live = self.status.is_live();
        match action {
            Action::Quit => Some(Effect::Quit),
            Action::ToggleHelp => {
                self.show_help = !self.show_help;
                None
            }
            Action::TogglePause if live => {
                Some(Effect::Send(if self.status == Status::Paused { Command::Resume } else { Command::Pause }))
            }
            Action::StepOnce if self.status == Status::Paused => Some(Effect::Send(Command::Step)),
            Action::LrUp | Action::LrDown if live => {
                let factor = if action == Action::LrUp { 2.0 } else { 0.5 };
                let (lo, hi) = Preset::LR_RANGE;
                let to = (self.lr_requested * factor).clamp(lo, hi);
                if to == self.lr_requested {
                    return None;
                }
                self.lr_requested = to;
                Some(Effect::Send(Command::SetLearningRate(to)))
            }
            Action::TogglePause | Action::StepOnce | Action::LrUp | Action::LrDown => None,
        }
    }

    fn on_event(&mut self, event: Event) {
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
                if c.key == "lr"
                    && let Some(to) = c.to.as_f64()
                {
                    self.lr = to as f32;
                }
                self.changes.push(c);
            }
            Event::Stats(report) => self.stats = Some(report),
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
        }
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
        app.update(Msg::Trainer(Event::Step(crate::train::StepMetrics {
            epoch: 1,
            step: 50,
            loss: 0.7,
            acc: 0.8,
            samples_per_s: 9000.0,
        })));
        assert_eq!(app.train_loss.last(), Some((0.5, 0.699999988079071)));
        app.update(Msg::Trainer(Event::Step(crate::train::StepMetrics {
            epoch: 1,
            step: 60,
            loss: 0.2,
            acc: 0.9,
            samples_per_s: 9000.0,
        })));
        // Smoothed: 0.6 of the previous point, 0.4 of the new one.
        let (x, y) = app.train_loss.last().unwrap();
        assert!((x - 0.6).abs() < 1e-12 && (y - (0.6 * 0.7 + 0.4 * 0.2)).abs() < 1e-6, "{y}");
        assert_eq!(app.samples_per_s, 9000.0);
        assert!((app.progress() - 0.06).abs() < 1e-9);
    }
}
