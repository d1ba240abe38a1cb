//! The divergence guard: a loss that is not finite, or that explodes far
//! above the best smoothed loss so far, rolls the network back to its last
//! known-good weights with half the learning rate and a fresh optimizer —
//! so no NaN ever reaches a curve. After `MAX_ROLLBACKS` it gives up and the
//! run ends as `diverged` (on the good weights).
//!
//! The guard judges windows of at least `GUARD_WINDOW` samples, not single
//! minibatches: at batch size 1 one hard sample's loss is routinely 10–40x
//! the mean, which is noise, not divergence.

use crossbeam_channel::Sender;

use super::{Change, Event, Halt, Setting, Trainer};
use crate::nn::{Network, Optimizer};
use crate::preset::Preset;

/// The guard trips when a window's mean loss is not finite or exceeds this
/// many times the larger of the best smoothed loss so far and the loss of a
/// uniform guess (ln classes): healthy noise stays far below, a run blowing
/// up passes it within a few steps.
pub const DIVERGENCE_FACTOR: f32 = 8.0;
/// Smoothing of the loss the guard compares against.
const GUARD_SMOOTHING: f32 = 0.9;
/// The guard averages minibatches until it has seen this many samples.
const GUARD_WINDOW: usize = 64;
/// A fresh known-good copy of the weights is kept this often (steps), and at
/// every epoch start, while the loss is healthy.
pub const GOOD_SNAPSHOT_STEPS: u64 = 100;
/// After this many rollbacks in one run the trainer gives up (`diverged`).
pub const MAX_ROLLBACKS: usize = 6;

#[derive(Clone)]
pub(super) struct Guard {
    /// Known-good weights and the step they are from (taken before a
    /// structural edit too, so a rollback may undo it).
    good: Option<(Network, u64)>,
    smoothed: Option<f32>,
    best_smoothed: f32,
    /// The loss of a uniform guess: the guard's floor.
    chance: f32,
    /// Loss sum and samples of the window not judged yet.
    window: (f64, usize),
    pub rollbacks: usize,
}

impl Guard {
    pub fn new(classes: usize) -> Guard {
        Guard {
            good: None,
            smoothed: None,
            best_smoothed: f32::INFINITY,
            chance: (classes.max(2) as f32).ln(),
            window: (0.0, 0),
            rollbacks: 0,
        }
    }

    /// Whether a minibatch (loss sum over `n` samples) trips the guard;
    /// updates the smoothed loss when a window is complete.
    pub fn trips(&mut self, loss_sum: f64, n: usize) -> bool {
        if !loss_sum.is_finite() {
            self.window = (0.0, 0);
            return true;
        }
        self.window.0 += loss_sum;
        self.window.1 += n;
        if self.window.1 < GUARD_WINDOW {
            return false;
        }
        let loss = (self.window.0 / self.window.1 as f64) as f32;
        self.window = (0.0, 0);
        let smoothed = self.smoothed.map_or(loss, |s| GUARD_SMOOTHING * s + (1.0 - GUARD_SMOOTHING) * loss);
        // The first loss after a (re)start sets the reference: a net that
        // starts badly (raw pixels) is not "diverging", it is stuck.
        let reference = self.best_smoothed.min(self.smoothed.map_or(loss, |_| f32::INFINITY)).max(self.chance);
        if self.smoothed.is_some() && loss > DIVERGENCE_FACTOR * reference {
            return true;
        }
        self.smoothed = Some(smoothed);
        self.best_smoothed = self.best_smoothed.min(smoothed);
        false
    }
}

impl Trainer {
    /// Keeps the current weights as the guard's known-good copy.
    pub(super) fn mark_good(&mut self) {
        self.guard.good = Some((self.net.clone(), self.step));
    }

    /// Rolls back to the last good weights with half the learning rate and
    /// a fresh optimizer, and reports it. `Ok(false)` when the guard has
    /// rolled back too often: the run ends as diverged, on the good weights,
    /// and no further halving is announced.
    pub(super) fn recover(&mut self, events: &Sender<Event>, loss: f32) -> Result<bool, Halt> {
        let Some((good, at)) = self.guard.good.clone() else { return Ok(false) };
        let hidden_before = self.net.hidden();
        self.net = good;
        self.guard.smoothed = None;
        self.guard.window = (0.0, 0);
        if self.guard.rollbacks >= MAX_ROLLBACKS {
            self.refresh_buffers();
            return Ok(false);
        }
        self.guard.rollbacks += 1;
        let lr_from = self.opt.learning_rate();
        let lr_to = (lr_from / 2.0).max(Preset::LR_RANGE.0);
        self.opt = Optimizer::new(self.opt.kind(), lr_from, &self.net.tensor_sizes());
        self.set_lr(lr_to);
        self.refresh_buffers();
        let loss = loss.is_finite().then_some(loss);
        Self::emit(
            events,
            Event::Diverged { step: self.step, loss, rolled_back_to: at, lr_from, lr_to, branch: None },
        )?;
        let hidden_after = self.net.hidden();
        if hidden_after != hidden_before {
            // The good copy predates a structural edit: the edit is undone.
            self.preset.hidden = hidden_after.clone();
            self.best = None;
            let note = "rolled back to the weights before the edit".to_string();
            self.trainer_changed(events, Setting::Hidden(hidden_before), Setting::Hidden(hidden_after), note)?;
        }
        let note = "halved by the divergence guard after rolling back; optimizer state starts fresh".to_string();
        self.trainer_changed(events, Setting::LearningRate(lr_from), Setting::LearningRate(lr_to), note)?;
        Ok(true)
    }

    /// Reports a change the trainer made on its own.
    fn trainer_changed(&self, events: &Sender<Event>, from: Setting, to: Setting, note: String) -> Result<(), Halt> {
        Self::emit(events, Event::Change(Change { step: self.step, from, to, note: Some(note), by_trainer: true }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_sample_noise_does_not_trip_the_guard() {
        let mut g = Guard::new(10);
        // Batch size 1: losses around 0.3 with an occasional sample at 30.
        let mut tripped = false;
        for i in 0..2000 {
            let loss = if i % 97 == 50 { 30.0 } else { 0.3 };
            tripped |= g.trips(loss, 1);
        }
        assert!(!tripped);
    }

    #[test]
    fn an_exploding_loss_trips_it_and_a_nan_at_once() {
        let mut g = Guard::new(10);
        for _ in 0..20 {
            assert!(!g.trips(0.5 * 64.0, 64));
        }
        assert!(g.trips(1e4 * 64.0, 64));
        let mut g = Guard::new(10);
        assert!(g.trips(f64::NAN, 64));
    }
}
