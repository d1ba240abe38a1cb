//! Applying the driver's commands between two minibatches: live settings,
//! structural edits (snapshotted first, so a rollback can undo them),
//! checkpoints, pause/step/resume and the pace.

use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::{Change, Command, Event, Halt, MAX_DROPOUT, Setting, Trainer, checkpoint};
use crate::nn::{Fidelity, Optimizer};
use crate::preset::Preset;

/// What the loop should do after the pending commands were applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Next {
    /// Take the next step.
    Step,
    /// Train this many more epochs (after the end of the run).
    Continue(usize),
}

impl Trainer {
    /// Sends an event that must not be dropped; `Err` when nobody listens.
    pub(super) fn emit(events: &Sender<Event>, e: Event) -> Result<(), Halt> {
        events.send(e).map_err(|_| Halt)
    }

    /// Reports a change the user asked for.
    fn changed(&self, events: &Sender<Event>, from: Setting, to: Setting, note: Option<String>) -> Result<(), Halt> {
        Self::emit(events, Event::Change(Change { step: self.step, from, to, note, by_trainer: false }))
    }

    /// New buffers and a fresh optimizer after the architecture changed;
    /// early stopping's best starts over from here.
    fn rebuild(&mut self) {
        self.refresh_buffers();
        self.opt = Optimizer::new(self.opt.kind(), self.opt.learning_rate(), &self.net.tensor_sizes());
        self.preset.hidden = self.net.hidden();
        self.best = None;
    }

    /// Sets the learning rate. It is kept once, as the optimizer's rate (the
    /// one the steps use); `preset.lr`, what the settings a checkpoint, a
    /// fork or the log report say, is written from it here and nowhere
    /// else (a user's change, the guard's halving).
    pub(super) fn set_lr(&mut self, lr: f32) {
        self.opt.set_learning_rate(lr);
        self.preset.lr = self.opt.learning_rate();
    }

    /// Applies one setting; reports it when the value really changed.
    fn set(&mut self, setting: Setting, events: &Sender<Event>) -> Result<(), Halt> {
        // `preset.lr` is the optimizer's rate (see `set_lr`).
        let from = setting.key().read(&self.preset);
        let mut note = None;
        let to = match setting {
            Setting::LearningRate(lr) => {
                let (lo, hi) = Preset::LR_RANGE;
                let to = if lr.is_finite() { lr.clamp(lo, hi) } else { self.opt.learning_rate() };
                Setting::LearningRate(to)
            }
            Setting::Activation(act) => {
                if act != self.net.activation() {
                    self.net.set_activation(act);
                    note = Some("weights kept; training continues from them".to_string());
                }
                Setting::Activation(act)
            }
            Setting::Dropout(p) => {
                let to = if p.is_finite() { p.clamp(0.0, MAX_DROPOUT) } else { self.preset.dropout };
                self.net.set_dropout(to);
                Setting::Dropout(to)
            }
            Setting::L1(v) => {
                let to = if v.is_finite() { v.max(0.0) } else { self.penalty.l1 };
                self.penalty.l1 = to;
                Setting::L1(to)
            }
            Setting::L2(v) => {
                let to = if v.is_finite() { v.max(0.0) } else { self.penalty.l2 };
                self.penalty.l2 = to;
                Setting::L2(to)
            }
            Setting::Optimizer(kind) => {
                if kind != self.opt.kind() {
                    self.opt = Optimizer::new(kind, self.opt.learning_rate(), &self.net.tensor_sizes());
                    note = Some("the new optimizer's state starts fresh".to_string());
                }
                Setting::Optimizer(kind)
            }
            Setting::EarlyStopping(es) => {
                if es.is_none() {
                    self.best = None;
                }
                Setting::EarlyStopping(es)
            }
            Setting::BatchSize(b) => {
                let to = b.clamp(1, self.split.train.len().max(1));
                if to != self.runner.batch() {
                    self.runner = self.runner.rebuilt(&self.net, to, self.preset.seed ^ self.step);
                    self.before.clear();
                }
                Setting::BatchSize(to)
            }
            // Widths change only through AddLayer / RemoveLayer.
            Setting::Hidden(_) => from.clone(),
        };
        if to == from {
            return Ok(());
        }
        match &to {
            Setting::LearningRate(lr) => self.set_lr(*lr),
            _ => to.apply_to(&mut self.preset),
        }
        self.changed(events, from, to, note)
    }

    pub(super) fn apply(&mut self, cmd: Command, events: &Sender<Event>) -> Result<Option<Next>, Halt> {
        match cmd {
            Command::Set(setting) => self.set(setting, events)?,
            Command::AddLayer => {
                // The weights before the edit are the guard's good copy: a
                // rollback after it returns to them.
                self.mark_good();
                let from = Setting::Hidden(self.net.hidden());
                let fidelity = self.net.insert_identity_layer();
                self.rebuild();
                let note = match fidelity {
                    Fidelity::Exact => "identity layer inserted: the network computes the same function",
                    Fidelity::Approximate => {
                        "identity layer inserted, but this activation bends its input: the function changed"
                    }
                };
                let note = format!("{note}; optimizer state starts fresh");
                self.changed(events, from, Setting::Hidden(self.net.hidden()), Some(note))?;
            }
            Command::RemoveLayer => {
                let from = Setting::Hidden(self.net.hidden());
                let before = self.net.clone();
                if let Some(fidelity) = self.net.remove_last_hidden_layer() {
                    self.guard_mark(before);
                    self.rebuild();
                    let note = match fidelity {
                        Fidelity::Exact => "last hidden layer folded into the output layer exactly",
                        Fidelity::Approximate => {
                            "last hidden layer folded into the output layer as if linear: the function changed"
                        }
                    };
                    let note = format!("{note}; optimizer state starts fresh");
                    self.changed(events, from, Setting::Hidden(self.net.hidden()), Some(note))?;
                }
            }
            Command::SaveCheckpoint => {
                let path = checkpoint::path_in(&self.checkpoint_dir, &self.preset.name, self.step);
                self.save_weights(&path, events)?;
            }
            Command::Pause if !self.paused => {
                self.paused = true;
                Self::emit(events, Event::Paused { step: self.step })?;
            }
            Command::Resume if self.paused => {
                self.paused = false;
                Self::emit(events, Event::Resumed { step: self.step })?;
            }
            Command::Step if self.paused => return Ok(Some(Next::Step)),
            Command::Continue { epochs } => return Ok(Some(Next::Continue(epochs.max(1)))),
            Command::SetPace(pace) => self.pace = pace.filter(|p| p.is_finite() && *p > 0.0),
            Command::Fork { branch, changes, epochs } => self.fork(branch, changes, epochs, events)?,
            Command::ForkFresh { branch, preset, epochs } => self.fork_fresh(branch, *preset, epochs, events)?,
            Command::KeepBranch => {
                self.end_fork(true, "kept; it is the run now, with its own optimizer state", events)?
            }
            Command::DropBranch => self.end_fork(false, "dropped; the run goes on as it was", events)?,
            Command::Pause | Command::Resume | Command::Step => {}
            // Run by `take`, which has the command channel (a cancel comes
            // through it); a cancel with no test running does nothing.
            Command::RangeTest { .. } | Command::CancelRangeTest => {}
            Command::Stop => return Err(Halt),
        }
        Ok(None)
    }

    /// Applies `cmd`, running a range test here (it reads the command
    /// channel for a cancel). `training`: between two steps of an epoch
    /// (the run pauses for the test), not after the run's end.
    fn take(
        &mut self,
        cmd: Command,
        training: bool,
        commands: &Receiver<Command>,
        events: &Sender<Event>,
    ) -> Result<Option<Next>, Halt> {
        match cmd {
            Command::RangeTest { steps } => {
                self.range_test(steps, training, commands, events)?;
                Ok(None)
            }
            cmd => self.apply(cmd, events),
        }
    }

    /// Writes the current weights with what rebuilds the net and its input
    /// pipeline (the whole preset as RON, the shapes, the classes) and
    /// reports it.
    pub(super) fn save_weights(&self, path: &std::path::Path, events: &Sender<Event>) -> Result<(), Halt> {
        let meta = std::collections::BTreeMap::from([
            ("format".to_string(), "fitcheck".to_string()),
            ("preset".to_string(), self.preset.name.clone()),
            ("settings".to_string(), ron::to_string(&self.preset).unwrap_or_default()),
            ("step".to_string(), self.step.to_string()),
            ("activation".to_string(), ron::to_string(&self.net.activation()).unwrap_or_default()),
            ("hidden".to_string(), format!("{:?}", self.net.hidden())),
            ("input_size".to_string(), self.net.input_size().to_string()),
            ("classes".to_string(), self.net.output_size().to_string()),
            ("class_list".to_string(), format!("{:?}", self.preset.classes)),
            ("normalize".to_string(), ron::to_string(&self.preset.normalize).unwrap_or_default()),
            ("normalizer_offset".to_string(), format!("{:?}", self.norm.offset)),
            ("normalizer_scale".to_string(), format!("{:?}", self.norm.scale)),
        ]);
        let error = checkpoint::save(&self.net, &meta, path).err().map(|e| e.to_string());
        let path = path.display().to_string();
        Self::emit(events, Event::Checkpoint { step: self.step, path, error })
    }

    /// The guard's good copy becomes `net` (the weights before an edit).
    fn guard_mark(&mut self, net: crate::nn::Network) {
        let current = std::mem::replace(&mut self.net, net);
        self.mark_good();
        self.net = current;
    }

    /// Applies every pending command before the next step. While paused it
    /// waits for the next command (a `Step` lets exactly one minibatch
    /// through); with a pace set it waits until `next_at`, applying
    /// commands as they come.
    pub(super) fn between_steps(
        &mut self,
        commands: &Receiver<Command>,
        events: &Sender<Event>,
        next_at: Option<Instant>,
    ) -> Result<(), Halt> {
        loop {
            let cmd = if self.paused {
                commands.recv().map_err(|_| Halt)?
            } else {
                let deadline = next_at.filter(|_| self.pace.is_some());
                match deadline {
                    Some(at) => match commands.recv_deadline(at) {
                        Ok(cmd) => cmd,
                        Err(RecvTimeoutError::Timeout) => return Ok(()),
                        // A closed command channel only means no more commands.
                        Err(RecvTimeoutError::Disconnected) => {
                            std::thread::sleep(at.saturating_duration_since(Instant::now()));
                            return Ok(());
                        }
                    },
                    None => match commands.try_recv() {
                        Ok(cmd) => cmd,
                        Err(_) => return Ok(()),
                    },
                }
            };
            // Continuing only means something after the end.
            if let Some(Next::Step) = self.take(cmd, true, commands, events)? {
                return Ok(());
            }
        }
    }

    /// After the run's end: applies commands (settings, checkpoints) until
    /// one asks for more epochs (`Some(n)`) or the driver stops or leaves.
    pub(super) fn after_end(&mut self, commands: &Receiver<Command>, events: &Sender<Event>) -> Option<usize> {
        loop {
            let cmd = commands.recv().ok()?;
            match self.take(cmd, false, commands, events) {
                Ok(Some(Next::Continue(n))) => return Some(n),
                Ok(_) => {}
                Err(Halt) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The learning rate is kept once: the optimizer's, with `preset.lr`
    /// written from it by a user's change and by the guard's halving alike.
    #[test]
    fn the_learning_rate_is_the_optimizers_after_a_change_and_a_rollback() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/presets/spirals.ron")).unwrap();
        let preset = Preset::parse(&text, "spirals.ron").unwrap();
        let mut t = Trainer::new(&preset, super::super::load_data(&preset).unwrap()).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        let same = |t: &Trainer| (t.opt.learning_rate(), t.preset.lr);
        assert!(t.apply(Command::Set(Setting::LearningRate(0.2)), &tx).is_ok());
        assert_eq!(same(&t), (0.2, 0.2));
        t.mark_good();
        assert!(matches!(t.recover(&tx, f32::NAN), Ok(true)));
        assert_eq!(same(&t), (0.1, 0.1), "halved by the guard, kept once");
        let changes: Vec<_> =
            rx.try_iter().filter_map(|e| if let Event::Change(c) = e { Some(c.to) } else { None }).collect();
        assert_eq!(changes, [Setting::LearningRate(0.2), Setting::LearningRate(0.1)]);
    }
}
