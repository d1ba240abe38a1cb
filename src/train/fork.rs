//! A fork of the live run ("try before you keep", README: side by side):
//! the trainer owns at most one [`Branch`] beside the run — a copy of the
//! model, the optimizer state, the penalty, the guard and early stopping's
//! best, with one change applied to it alone — and steps it in lockstep:
//! every minibatch the run takes, the branch takes next, before the step
//! count moves on, so both see the same samples in the same order, the
//! same augmentation shifts and (through [`StepRunner::twin`]) the same
//! dropout masks. With no change, the two stay bit-identical.
//!
//! The branch runs the trainer's own code: [`Trainer::on_branch`] swaps the
//! branch's model, optimizer and settings into the trainer, runs a step,
//! an evaluation or a command there, and swaps them back (moves, no
//! copies). Its events are tagged with its name (`branch`) on the way out;
//! what its divergence guard does is reported as a tagged `diverged` line
//! (which carries the halved rate). Memory: two models at most (plus each
//! one's guard copy and early-stopping best, as a run has).
//!
//! A fresh fork ([`Trainer::fork_fresh`]) is for what a run cannot change
//! in place (normalization, shifted copies, wider layers): its branch is
//! built from the seed with its own settings, normalizer included, beside
//! a run that has just started from the same seed, so the two are fresh
//! runs one change apart on the same minibatches.
//!
//! Early stopping on the branch keeps its best weights but never ends the
//! run: the comparison runs for the epochs asked, and a kept branch stops
//! at its next epoch end if its patience has run out.

use crossbeam_channel::{Sender, TrySendError, unbounded};

use super::run_loop::Tally;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{
    Change, Command, EVAL_BATCH, EpochMetrics, Event, ForkInfo, Halt, Setting, StepMetrics, Trainer, early, guard,
};
use crate::data::Normalizer;
use crate::nn::loss::LossSum;
use crate::nn::optim::Penalty;
use crate::nn::{Network, Optimizer, StepRunner, Workspace};
use crate::preset::Preset;

/// The model a fork trains beside the run, and what the trainer swaps in
/// to train it.
pub(super) struct Branch {
    /// Its change in words ("dropout 0.5"): the `branch` tag of its events.
    pub name: String,
    net: Network,
    opt: Optimizer,
    penalty: Penalty,
    runner: StepRunner,
    ws_eval: Workspace,
    /// The inputs' scaling: the run's, or a fresh fork's own.
    norm: Normalizer,
    preset: Preset,
    guard: guard::Guard,
    best: Option<early::Best>,
    /// Epochs finished since the fork, and after how many the trainer pauses.
    pub epochs: usize,
    pub until: usize,
    /// This epoch's steps, and those since the branch's last step event.
    pub whole: Tally,
    pub window: Tally,
}

impl Trainer {
    /// Exchanges the run's model, optimizer and settings with the branch's.
    fn swap_branch(&mut self, b: &mut Branch) {
        std::mem::swap(&mut self.net, &mut b.net);
        std::mem::swap(&mut self.opt, &mut b.opt);
        std::mem::swap(&mut self.penalty, &mut b.penalty);
        std::mem::swap(&mut self.runner, &mut b.runner);
        std::mem::swap(&mut self.ws_eval, &mut b.ws_eval);
        std::mem::swap(&mut self.norm, &mut b.norm);
        std::mem::swap(&mut self.preset, &mut b.preset);
        std::mem::swap(&mut self.guard, &mut b.guard);
        std::mem::swap(&mut self.best, &mut b.best);
    }

    /// Runs `f` with the branch's model in place of the run's; `None`
    /// without a fork. Inside `f` there is no fork (`self.fork` is `None`).
    pub(super) fn on_branch<R>(&mut self, f: impl FnOnce(&mut Trainer) -> R) -> Option<R> {
        let mut b = self.fork.take()?;
        self.swap_branch(&mut b);
        let r = f(self);
        self.swap_branch(&mut b);
        self.fork = Some(b);
        Some(r)
    }

    /// Whether a fork is running.
    pub fn is_forked(&self) -> bool {
        self.fork.is_some()
    }

    /// Starts a fork named `name`: the branch is a copy of the run with
    /// `changes` applied to it alone; reports a `fork` event with the
    /// changes as applied. A second fork while one runs is ignored.
    pub(super) fn fork(
        &mut self,
        name: String,
        changes: Vec<Command>,
        epochs: usize,
        events: &Sender<Event>,
    ) -> Result<(), Halt> {
        if self.fork.is_some() {
            return Ok(());
        }
        self.fork = Some(Box::new(Branch {
            name: name.clone(),
            net: self.net.clone(),
            opt: self.opt.clone(),
            penalty: self.penalty,
            runner: self.runner.twin(&self.net),
            ws_eval: self.net.workspace(EVAL_BATCH, 0),
            norm: self.norm.clone(),
            preset: self.preset.clone(),
            guard: self.guard.clone(),
            best: self.best.clone(),
            epochs: 0,
            until: epochs.max(1),
            whole: Tally::default(),
            window: Tally::default(),
        }));
        // The branch's changes go through the same code as the run's; their
        // `change` events become the fork's list (they are not the run's).
        let (tx, rx) = unbounded();
        self.on_branch(|t| {
            for cmd in changes {
                if matches!(cmd, Command::Set(_) | Command::AddLayer | Command::RemoveLayer) {
                    // The receiver is here: sending cannot fail.
                    let _ = t.apply(cmd, &tx);
                }
            }
        });
        let changes: Vec<Change> = rx
            .try_iter()
            .filter_map(|e| match e {
                Event::Change(c) => Some(c),
                _ => None,
            })
            .collect();
        Self::emit(events, Event::Fork(self.fork_info(name, changes, epochs)))
    }

    /// The `fork` event of a branch named `branch` starting now, with
    /// `changes`, for `epochs` epochs (no whole settings: a copy's are the
    /// run's, changed).
    fn fork_info(&self, branch: String, changes: Vec<Change>, epochs: usize) -> ForkInfo {
        let (step, epoch, epochs) = (self.step, self.epochs_done, epochs.max(1));
        ForkInfo { step, epoch, branch, changes, epochs, settings: None, preflight: None }
    }

    /// Starts a fork whose branch is built fresh from `preset` (its own
    /// network from the seed, normalization, augmentation and widths; a
    /// fresh optimizer and guard) on the run's data, split and batch
    /// order. Its `fork` event carries the whole settings, and the hidden
    /// widths as a change when they differ. A preset the data cannot take
    /// (shifting a dataset without images) ends the fork at once, saying why.
    pub(super) fn fork_fresh(
        &mut self,
        name: String,
        preset: Preset,
        epochs: usize,
        events: &Sender<Event>,
    ) -> Result<(), Halt> {
        if self.fork.is_some() {
            return Ok(());
        }
        let mut rng = StdRng::seed_from_u64(preset.seed);
        let built = super::build_model(&preset, &self.data, &self.split.train, &mut rng);
        let info = ForkInfo {
            settings: Some(Box::new(preset.clone())),
            ..self.fork_info(name.clone(), self.fresh_changes(&preset), epochs)
        };
        let (net, norm) = match built {
            Ok(b) => b,
            Err(e) => {
                Self::emit(events, Event::Fork(info))?;
                let reason = format!("the branch cannot start: {e}");
                let end =
                    Event::ForkEnd { step: self.step, epoch: self.epochs_done, branch: name, kept: false, reason };
                return Self::emit(events, end);
            }
        };
        let step0 = super::preflight::measure(&net, &self.data.train, &self.split.train, &norm);
        let info = ForkInfo { preflight: Some(Box::new(step0)), ..info };
        self.fork = Some(Box::new(Branch {
            name,
            opt: Optimizer::new(preset.optimizer, preset.lr, &net.tensor_sizes()),
            penalty: Penalty { l1: preset.l1, l2: preset.l2 },
            runner: self.runner.twin(&net),
            ws_eval: net.workspace(EVAL_BATCH, 0),
            norm,
            guard: guard::Guard::new(self.data.train.classes),
            best: None,
            preset,
            net,
            epochs: 0,
            until: epochs.max(1),
            whole: Tally::default(),
            window: Tally::default(),
        }));
        Self::emit(events, Event::Fork(info))
    }

    /// What a fresh branch's settings change that a `change` line can
    /// say: the hidden widths.
    fn fresh_changes(&self, preset: &Preset) -> Vec<Change> {
        let (from, to) = (&self.preset.hidden, &preset.hidden);
        if from == to {
            return Vec::new();
        }
        let (from, to) = (Setting::Hidden(from.clone()), Setting::Hidden(to.clone()));
        vec![Change { step: self.step, from, to, note: Some("a fresh start".into()), by_trainer: false }]
    }

    /// Ends the fork: `keep` makes the branch the run (its model, optimizer
    /// state and settings continue; the run's are dropped), else the branch
    /// is dropped. Nothing without a fork.
    pub(super) fn end_fork(&mut self, keep: bool, reason: &str, events: &Sender<Event>) -> Result<(), Halt> {
        let Some(mut b) = self.fork.take() else { return Ok(()) };
        if keep {
            self.swap_branch(&mut b);
            // The epoch in progress goes on with the branch's numbers.
            self.adopted = Some((std::mem::take(&mut b.whole), std::mem::take(&mut b.window)));
            // Another model: the update ratios start over, and the test
            // set's one look is this model's.
            self.before.clear();
            self.before_conv.clear();
            self.tested = None;
        }
        let end = Event::ForkEnd {
            step: self.step,
            epoch: self.epochs_done,
            branch: b.name,
            kept: keep,
            reason: reason.into(),
        };
        Self::emit(events, end)
    }

    /// The branch's step on the minibatch `idx` the run just took: call it
    /// before the step count moves on (the shifts and masks follow it).
    /// The loss sum, the time and the threads it took.
    pub(super) fn step_branch(&mut self, idx: &[u32]) -> Option<(LossSum, std::time::Duration, usize)> {
        self.on_branch(|t| {
            let t0 = std::time::Instant::now();
            let sum = t.train_batch(idx);
            (sum, t0.elapsed(), t.runner.last_threads())
        })
    }

    /// After the step count moved on: the branch's guard judges its step
    /// (a rollback is reported as a tagged `diverged`; when the guard gives
    /// up, the fork ends with the branch dropped), and a healthy step is
    /// counted.
    pub(super) fn after_branch_step(
        &mut self,
        (sum, dt, threads): (LossSum, std::time::Duration, usize),
        n: usize,
        events: &Sender<Event>,
    ) -> Result<(), Halt> {
        let (tx, rx) = unbounded();
        let judged = self.on_branch(|t| {
            if t.guard.trips(sum.loss, n) {
                // The receiver is here: only `false` (given up) can come back.
                Some(t.recover(&tx, (sum.loss / n.max(1) as f64) as f32).unwrap_or(false))
            } else {
                if t.step.is_multiple_of(guard::GOOD_SNAPSHOT_STEPS) {
                    t.mark_good();
                }
                None
            }
        });
        let Some(judged) = judged else { return Ok(()) };
        let name = self.fork.as_ref().map(|b| b.name.clone());
        for e in rx.try_iter() {
            // The rollback's halved rate is in the `diverged` line; its
            // `change` lines would read as the run's.
            if let Event::Diverged { step, loss, rolled_back_to, lr_from, lr_to, .. } = e {
                let branch = name.clone();
                Self::emit(events, Event::Diverged { step, loss, rolled_back_to, lr_from, lr_to, branch })?;
            }
        }
        match judged {
            Some(true) => Ok(()),
            Some(false) => self.end_fork(false, "the branch diverged: the guard gave up on it", events),
            None => {
                if let Some(b) = self.fork.as_mut() {
                    b.whole.add(sum, n, dt, threads);
                    b.window.add(sum, n, dt, threads);
                }
                Ok(())
            }
        }
    }

    /// The branch's step metrics since its last step event (sent beside
    /// the run's; coalesced the same way when the channel is full).
    pub(super) fn send_branch_steps(&mut self, epoch: usize, events: &Sender<Event>) -> Result<(), Halt> {
        let step = self.step;
        let Some(b) = self.fork.as_mut() else { return Ok(()) };
        if b.window.samples == 0 {
            return Ok(());
        }
        let m = StepMetrics {
            epoch,
            step,
            loss: b.window.mean_loss(),
            acc: b.window.acc(),
            samples_per_s: b.window.per_s(),
            threads: b.window.threads(b.runner.threads()),
            branch: Some(b.name.clone()),
        };
        match events.try_send(Event::Step(m)) {
            Ok(()) => b.window = Tally::default(),
            Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => return Err(Halt),
        }
        Ok(())
    }

    /// The branch's end of epoch `epoch`: its evaluation (with its guard),
    /// its tagged epoch line, early stopping's best kept. Returns whether
    /// the fork has just now trained the epochs it was asked for.
    pub(super) fn branch_epoch(&mut self, epoch: usize, elapsed_s: f64, events: &Sender<Event>) -> Result<bool, Halt> {
        let Some(name) = self.fork.as_ref().map(|b| b.name.clone()) else { return Ok(false) };
        let (tx, rx) = unbounded();
        let measured = self.on_branch(|t| {
            let eval = t.evaluate_epoch(&tx).unwrap_or(None)?;
            // Tracked for a kept branch; a stop is not acted on here (see the module docs).
            let _ = t.early_stopping_says_stop(epoch, (eval.val.loss, eval.val.acc), &tx);
            Some((eval, t.opt.learning_rate(), t.net.penalty_value(t.penalty) as f32, t.runner.threads()))
        });
        for e in rx.try_iter() {
            if let Event::Diverged { step, loss, rolled_back_to, lr_from, lr_to, .. } = e {
                let branch = Some(name.clone());
                Self::emit(events, Event::Diverged { step, loss, rolled_back_to, lr_from, lr_to, branch })?;
            }
        }
        let Some(Some((eval, lr, penalty, team))) = measured else {
            self.end_fork(false, "the branch diverged: the guard gave up on it", events)?;
            return Ok(false);
        };
        let Some(b) = self.fork.as_mut() else { return Ok(false) };
        let whole = std::mem::take(&mut b.whole);
        b.epochs += 1;
        let (train_loss, train_acc) =
            if whole.samples > 0 { (whole.mean_loss(), whole.acc()) } else { (eval.train.loss, eval.train.acc) };
        let m = EpochMetrics {
            epoch,
            step: self.step,
            train_loss,
            train_acc,
            train_loss_eval: eval.train.loss,
            train_acc_eval: eval.train.acc,
            val_loss: eval.val.loss,
            val_acc: eval.val.acc,
            lr,
            penalty,
            noise_memorized: eval.noise_memorized,
            samples_per_s: whole.per_s(),
            threads: whole.threads(team),
            elapsed_s,
            grad_norm: None,
            branch: Some(name),
        };
        // Once: after the pause, `space` goes on with both until the user decides.
        let done = b.epochs == b.until;
        Self::emit(events, Event::Epoch(m))?;
        Ok(done)
    }
}
