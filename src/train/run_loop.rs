//! The training loop: epochs of shuffled minibatches with the pending
//! commands applied between two of them, step metrics and layer
//! statistics sent as it goes, the epoch's evaluation, early stopping, the
//! summary — and after the end, waiting for more epochs or a checkpoint
//! until the driver stops it.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use ndarray::s;
use rand::seq::SliceRandom;

use super::{
    Command, EpochMetrics, Event, Halt, STATS_INTERVAL, STATS_PROBE, STEP_EVENT_INTERVAL, StatsReport, StepMetrics,
    Stopped, Summary, Trainer, guard,
};
use crate::data::Augment;
use crate::nn::loss::LossSum;
use crate::nn::stats::{conv_layer_stats, layer_stats};

/// Running sums of a stretch of training steps.
#[derive(Default)]
pub(super) struct Tally {
    loss: f64,
    correct: usize,
    pub samples: usize,
    time: Duration,
    /// Steps, and the sum of the threads each ran on.
    steps: usize,
    thread_steps: usize,
}

impl Tally {
    pub fn add(&mut self, s: LossSum, samples: usize, time: Duration, threads: usize) {
        self.loss += s.loss;
        self.correct += s.correct;
        self.samples += samples;
        self.time += time;
        self.steps += 1;
        self.thread_steps += threads;
    }
    pub fn mean_loss(&self) -> f32 {
        (self.loss / self.samples.max(1) as f64) as f32
    }
    pub fn acc(&self) -> f32 {
        self.correct as f32 / self.samples.max(1) as f32
    }
    pub fn per_s(&self) -> f32 {
        self.samples as f32 / self.time.as_secs_f32().max(1e-9)
    }
    /// Mean threads per step, when the step's team has more than one
    /// (two decimals: enough to see the governor's hand-over).
    pub fn threads(&self, team: usize) -> Option<f32> {
        (team > 1 && self.steps > 0).then(|| (self.thread_steps as f32 / self.steps as f32 * 100.0).round() / 100.0)
    }
}

/// How a stretch of epochs ended.
enum Ended {
    Completed,
    EarlyStop,
    Diverged,
    Interrupted,
}

/// The best validation accuracy so far and its epoch.
struct Best {
    epoch: usize,
    val_acc: f32,
}

impl Trainer {
    /// Trains every epoch of the preset, reporting as it goes, and sends a
    /// `Summary`; then waits: `Continue` trains more epochs (and sends
    /// another summary), `Stop` or a closed channel ends the thread.
    pub fn run(mut self, commands: &Receiver<Command>, events: &Sender<Event>) {
        let started = Instant::now();
        if Self::emit(events, Event::Start(self.info())).is_err() {
            return;
        }
        // Step 0 of the checklist, before the first step.
        let preflight = super::preflight::measure(&self.net, &self.data.train, &self.split.train, &self.norm);
        if Self::emit(events, Event::Preflight(preflight)).is_err() {
            return;
        }
        for cmd in std::mem::take(&mut self.queued) {
            if self.apply(cmd, events).is_err() {
                return;
            }
        }
        let mut best = Best { epoch: 0, val_acc: f32::NEG_INFINITY };
        let (mut done, mut until) = (0, self.preset.epochs);
        loop {
            let ended = self.epochs(done + 1..=until, &mut done, &mut best, started, commands, events);
            let stopped = match ended {
                Ok(Ended::Completed) => Stopped::Completed,
                Ok(Ended::EarlyStop) => Stopped::EarlyStop,
                Ok(Ended::Diverged) => Stopped::Diverged,
                Ok(Ended::Interrupted) | Err(Halt) => Stopped::Interrupted,
            };
            // Early stopping keeps its best weights: the summary names their
            // epoch and their accuracy, not another epoch's.
            let kept = self.kept_epoch();
            self.restore_best();
            if let Some(path) = self.save_to.clone()
                && stopped != Stopped::Interrupted
                && self.save_weights(&path, events).is_err()
            {
                return;
            }
            // An interrupted run skips the test pass: stopping is immediate.
            // The test set is looked at once per run: a continued run
            // reports the score it had then, not a new look each time.
            if stopped != Stopped::Interrupted && self.tested.is_none() {
                self.tested = Some(self.evaluate_test());
            }
            let test = if stopped == Stopped::Interrupted { None } else { self.tested };
            let summary = Summary {
                epochs: done,
                best_epoch: kept.map_or(best.epoch, |k| k.0),
                best_val_acc: kept.map_or(best.val_acc, |k| k.1).max(0.0),
                test_acc: test.map(|t| if t.acc.is_finite() { t.acc } else { 0.0 }),
                test_loss: test.and_then(|t| t.loss.is_finite().then_some(t.loss)),
                stopped,
            };
            if Self::emit(events, Event::Summary(summary)).is_err()
                || stopped == Stopped::Interrupted
                || !self.stay_after_end
            {
                return;
            }
            match self.after_end(commands, events) {
                Some(more) => {
                    until = done + more;
                    if Self::emit(events, Event::Continued { step: self.step, epochs: until }).is_err() {
                        return;
                    }
                }
                None => return,
            }
        }
    }

    /// Trains the epochs `range`, counting finished ones in `done`.
    fn epochs(
        &mut self,
        range: std::ops::RangeInclusive<usize>,
        done: &mut usize,
        best: &mut Best,
        started: Instant,
        commands: &Receiver<Command>,
        events: &Sender<Event>,
    ) -> Result<Ended, Halt> {
        for epoch in range.clone() {
            let Some(whole) = self.train_epoch(epoch, commands, events)? else {
                return Ok(Ended::Interrupted);
            };
            let Some(whole) = whole else { return Ok(Ended::Diverged) };
            let Some(mut eval) = self.evaluate_epoch(events)? else { return Ok(Ended::Diverged) };
            *done = epoch;
            self.epochs_done = epoch;
            if eval.val.acc > best.val_acc {
                (best.epoch, best.val_acc) = (epoch, eval.val.acc);
            }
            // An epoch whose every batch tripped the guard has no training
            // numbers of its own: report the eval-mode ones.
            let (train_loss, train_acc) =
                if whole.samples > 0 { (whole.mean_loss(), whole.acc()) } else { (eval.train.loss, eval.train.acc) };
            Self::emit(
                events,
                Event::Epoch(EpochMetrics {
                    epoch,
                    step: self.step,
                    train_loss,
                    train_acc,
                    train_loss_eval: eval.train.loss,
                    train_acc_eval: eval.train.acc,
                    val_loss: eval.val.loss,
                    val_acc: eval.val.acc,
                    lr: self.opt.learning_rate(),
                    penalty: self.net.penalty_value(self.penalty) as f32,
                    noise_memorized: eval.noise_memorized,
                    samples_per_s: whole.per_s(),
                    threads: whole.threads(self.runner.threads()),
                    elapsed_s: started.elapsed().as_secs_f64(),
                    grad_norm: None,
                    branch: None,
                }),
            )?;
            // The fork's branch, at the same step; after the epochs asked
            // for, the trainer pauses for the decision (not after the
            // stretch's last epoch: the run ends there anyway).
            if self.branch_epoch(epoch, started.elapsed().as_secs_f64(), events)?
                && epoch < *range.end()
                && !self.paused
            {
                self.paused = true;
                Self::emit(events, Event::Paused { step: self.step })?;
            }
            // The overfit-one-batch probe when the training data is not learned.
            if super::probe::due(epoch, eval.train.acc, self.preset.label_noise) {
                let (kind, lr) = (self.opt.kind(), self.opt.learning_rate());
                let r = super::probe::run(
                    epoch,
                    &self.net,
                    &self.data.train,
                    &self.probe,
                    &self.norm,
                    kind,
                    lr,
                    self.penalty,
                );
                Self::emit(events, Event::Probe(r))?;
            }
            let view = self.data_view(epoch, &mut eval);
            Self::emit(events, Event::DataView(view))?;
            if self.early_stopping_says_stop(epoch, (eval.val.loss, eval.val.acc), events)? {
                return Ok(Ended::EarlyStop);
            }
        }
        Ok(Ended::Completed)
    }

    /// One epoch of minibatches. `Ok(None)`: stopped by the driver;
    /// `Ok(Some(None))`: the guard gave up; else the epoch's tally.
    fn train_epoch(
        &mut self,
        epoch: usize,
        commands: &Receiver<Command>,
        events: &Sender<Event>,
    ) -> Result<Option<Option<Tally>>, Halt> {
        let mut order = std::mem::take(&mut self.order);
        order.shuffle(&mut self.rng);
        self.mark_good();
        self.on_branch(|t| t.mark_good());
        let mut whole = Tally::default();
        let mut window = Tally::default();
        let mut last_sent = Instant::now();
        let mut last_stats: Option<Instant> = None;
        let mut next_at: Option<Instant> = None;
        let mut start = 0;
        while start < order.len() {
            if self.between_steps(commands, events, next_at).is_err() {
                self.order = order;
                return Ok(None);
            }
            // A branch kept between two steps: its epoch so far is the run's.
            if let Some((w, win)) = self.adopted.take() {
                (whole, window) = (w, win);
            }
            // The batch size may have changed between two steps.
            let idx = &order[start..(start + self.runner.batch().max(1)).min(order.len())];
            start += idx.len();
            let want_stats = last_stats.is_none_or(|t| t.elapsed() >= STATS_INTERVAL);
            if want_stats {
                self.snapshot_weights();
            }
            let t0 = Instant::now();
            next_at = self.pace.map(|p| t0 + Duration::from_secs_f32(1.0 / p));
            let sum = self.train_batch(idx);
            let dt = t0.elapsed();
            // The fork's branch takes the same minibatch at the same step.
            let branch = self.step_branch(idx);
            self.step += 1;
            if let Some(b) = branch {
                self.after_branch_step(b, idx.len(), events)?;
            }
            if self.guard.trips(sum.loss, idx.len()) {
                // Nothing of this batch is reported: no NaN reaches a curve.
                if !self.recover(events, (sum.loss / idx.len() as f64) as f32)? {
                    self.order = order;
                    return Ok(Some(None));
                }
                continue;
            }
            if self.step.is_multiple_of(guard::GOOD_SNAPSHOT_STEPS) {
                self.mark_good();
            }
            if want_stats {
                last_stats = Some(Instant::now());
                let report = self.stats();
                if let Err(TrySendError::Disconnected(_)) = events.try_send(Event::Stats(report)) {
                    return Err(Halt);
                }
            }
            let threads = self.runner.last_threads();
            whole.add(sum, idx.len(), dt, threads);
            window.add(sum, idx.len(), dt, threads);
            let last = start >= order.len();
            // Short epochs (spirals, FizzBuzz) end before the interval: their
            // last window is sent too, so every epoch has a step curve.
            if last_sent.elapsed() >= STEP_EVENT_INTERVAL || last || self.paused || self.pace.is_some() {
                let m = StepMetrics {
                    epoch,
                    step: self.step,
                    loss: window.mean_loss(),
                    acc: window.acc(),
                    samples_per_s: window.per_s(),
                    threads: window.threads(self.runner.threads()),
                    branch: None,
                };
                match events.try_send(Event::Step(m)) {
                    Ok(()) => {
                        window = Tally::default();
                        last_sent = Instant::now();
                        self.send_branch_steps(epoch, events)?;
                    }
                    // Full: keep summing, so the next event covers these steps too.
                    Err(TrySendError::Full(_)) => {}
                    Err(TrySendError::Disconnected(_)) => return Err(Halt),
                }
            }
        }
        self.order = order;
        Ok(Some(Some(whole)))
    }

    /// One optimizer step on the training samples `idx`.
    pub(super) fn train_batch(&mut self, idx: &[u32]) -> LossSum {
        let (data, norm) = (&self.data.train, &self.norm);
        // Shifts are drawn from the step and the position in the batch.
        let seed = self.preset.seed ^ self.step.wrapping_mul(0xA24B_AED4_963E_E407);
        let augment = self.preset.augment;
        self.runner.step(&mut self.net, &mut self.opt, self.penalty, idx.len(), |range, x, y| match augment {
            Augment::None => data.gather(&idx[range], norm, x, y),
            Augment::Shift { pixels } => data.gather_shifted(&idx[range.clone()], range, norm, pixels, seed, x, y),
        })
    }

    /// Statistics of every layer after the step just taken (weights before
    /// it in `self.before`).
    fn stats(&mut self) -> StatsReport {
        let n = self.probe.len().min(STATS_PROBE);
        self.data.train.gather(&self.probe[..n], &self.norm, self.eval_x.view_mut(), &mut self.eval_y);
        let probe = self.eval_x.slice(s![..n, ..]);
        let before = (!self.before.is_empty()).then_some(self.before.as_slice());
        let dense = layer_stats(&self.net, self.runner.grads(), before, probe, &mut self.ws_eval);
        // The convolutions' filters, from the same probe pass, input side first.
        let before_conv = (!self.before_conv.is_empty()).then_some(self.before_conv.as_slice());
        let mut layers = conv_layer_stats(&self.net, self.runner.grads(), before_conv, &self.ws_eval, n);
        layers.extend(dense);
        StatsReport { step: self.step, layers }
    }

    /// Keeps a copy of the weights before the next step.
    fn snapshot_weights(&mut self) {
        let filters: Vec<&ndarray::Array2<f32>> =
            self.net.conv().map_or_else(Vec::new, |c| c.params().iter().map(|p| &p.w).collect());
        if self.before_conv.len() != filters.len()
            || self.before_conv.iter().zip(&filters).any(|(b, w)| b.dim() != w.dim())
        {
            self.before_conv = filters.iter().map(|w| (*w).clone()).collect();
        } else {
            self.before_conv.iter_mut().zip(&filters).for_each(|(b, w)| b.assign(*w));
        }
        let layers = self.net.layers();
        if self.before.len() != layers.len() || self.before.iter().zip(layers).any(|(b, l)| b.dim() != l.w.dim()) {
            self.before = layers.iter().map(|l| l.w.clone()).collect();
        } else {
            self.before.iter_mut().zip(layers).for_each(|(b, l)| b.assign(&l.w));
        }
    }
}
