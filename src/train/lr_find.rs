//! The learning-rate range test (`fitcheck lr-find`): on a fresh trainer
//! (never a live run), the learning rate grows exponentially from
//! [`LR_START`] to [`LR_END`] over a number of real training steps — the
//! trainer's own minibatches, augmentation, penalty, dropout and
//! `StepRunner` — while the loss is recorded and smoothed (an exponential
//! moving average, debiased, as fastai's `LRFinder` does). The test stops
//! when the smoothed loss exceeds [`STOP_FACTOR`] times its minimum or is
//! not finite; the divergence guard is not consulted (diverging is the
//! point). It reports the rate of the steepest fall of the smoothed loss
//! and the rate of its minimum divided by ten, and suggests the rate
//! halfway between the steepest fall and the minimum on the log axis (their
//! geometric mean): on mnist-mlp the steepest fall alone sat a factor of
//! ~3 below the best rate of a measured grid (see the README).
//!
//! This module owns the schedule, the smoothing, the stopping rule and the
//! suggestion; the command line only prints what [`Trainer::lr_find`]
//! reports. The dashboard's key (`m`) runs the same test on the live
//! trainer's thread through `Command::RangeTest`: the run pauses, the test
//! trains the model in place with the divergence guard left out, and then
//! the weights, optimizer state, batch order, step count and dropout
//! stream are put back as they were — a copy in effect, and the guard
//! (whose rollbacks belong to the run) never sees the test's divergence.

use crossbeam_channel::{Receiver, Sender};
use rand::seq::SliceRandom;

use super::{Command, Event, Halt, Trainer, json_f32};

/// An `f32` in its shortest decimal form, `null` when not finite.
fn num<S: serde::Serializer>(x: &f32, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&json_f32(*x), s)
}

/// The first learning rate of the test.
pub const LR_START: f32 = 1e-6;
/// The learning rate the last step would reach.
pub const LR_END: f32 = 10.0;
/// Steps of the test unless told otherwise.
pub const DEFAULT_STEPS: usize = 200;
/// The test stops when the smoothed loss exceeds this many times its minimum.
pub const STOP_FACTOR: f32 = 4.0;
/// Smoothing of the recorded loss (fastai's and Lightning's 0.98).
pub const SMOOTHING: f64 = 0.98;
/// A curve whose minimum stays above this share of its start did not fall.
pub const NO_FALL: f64 = 0.9;
/// A loss this many times its minimum has begun to rise.
const RISE: f64 = 1.25;
/// The first steps are left out of the steepest-fall search: the smoothed
/// loss rests on a handful of batches there (Lightning skips 10 too).
const SKIP_BEGIN: usize = 10;

/// One step of the test: `{"type":"lr_find","step":..,"lr":..,"loss":..,"smoothed":..}`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename = "lr_find")]
pub struct LrPoint {
    pub step: usize,
    #[serde(serialize_with = "num")]
    pub lr: f32,
    /// The minibatch's mean loss (`null` when not finite).
    #[serde(serialize_with = "num")]
    pub loss: f32,
    #[serde(serialize_with = "num")]
    pub smoothed: f32,
}

/// The outcome: `{"type":"lr_suggestion","steepest":..,"min_over_10":..,"suggested":..}`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename = "lr_suggestion")]
pub struct LrSuggestion {
    /// The rate where the smoothed loss falls fastest (per log-rate).
    #[serde(serialize_with = "num")]
    pub steepest: f32,
    /// The rate of the smoothed loss's minimum, divided by ten.
    #[serde(serialize_with = "num")]
    pub min_over_10: f32,
    /// The rate to use: the steepest fall (see [`suggest`]).
    #[serde(serialize_with = "num")]
    pub suggested: f32,
    /// Steps taken before the test stopped.
    pub steps: usize,
    /// Why it stopped: `diverged` (4x the minimum or not finite) or `end`.
    pub stopped: &'static str,
}

/// The rate of step `i` of `steps`: exponential from [`LR_START`] to [`LR_END`].
pub fn rate(i: usize, steps: usize) -> f32 {
    let t = i as f64 / (steps.max(2) - 1) as f64;
    (LR_START as f64 * (LR_END as f64 / LR_START as f64).powf(t)) as f32
}

/// The debiased exponential moving average of the losses, and when it
/// stops: feeds a loss, returns the smoothed value and whether to stop.
#[derive(Debug, Default)]
pub struct Smoother {
    avg: f64,
    n: i32,
    min: f64,
}

impl Smoother {
    pub fn new() -> Smoother {
        Smoother { avg: 0.0, n: 0, min: f64::INFINITY }
    }

    /// The smoothed loss after `loss`, and whether the test should stop there.
    pub fn push(&mut self, loss: f64) -> (f64, bool) {
        self.n += 1;
        self.avg = SMOOTHING * self.avg + (1.0 - SMOOTHING) * loss;
        let smoothed = self.avg / (1.0 - SMOOTHING.powi(self.n));
        let stop = !smoothed.is_finite() || (self.n > 1 && smoothed > STOP_FACTOR as f64 * self.min);
        if smoothed.is_finite() {
            self.min = self.min.min(smoothed);
        }
        (smoothed, stop)
    }
}

/// The suggestion from a curve: the steepest fall of the smoothed loss
/// against log(lr) (central differences, as `np.gradient`), leaving out
/// the first [`SKIP_BEGIN`] points and the point that stopped the test;
/// and the minimum's rate / 10; and the suggestion, the geometric mean of
/// the steepest fall's rate and the minimum's: `(steepest, min_over_10,
/// suggested)`. `None` when the curve is too short.
pub fn suggest(points: &[LrPoint], diverged: bool) -> Option<(f32, f32, f32)> {
    // The point that stopped the test is beyond the curve proper.
    let end = if diverged { points.len().saturating_sub(1) } else { points.len() };
    let curve: Vec<(f64, f64)> = points[..end]
        .iter()
        .filter(|p| p.smoothed.is_finite())
        .map(|p| ((p.lr as f64).ln(), p.smoothed as f64))
        .collect();
    let min = curve.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    let min_over_10 = (min.0.exp() / 10.0) as f32;
    let skip = SKIP_BEGIN.min(curve.len().saturating_sub(3));
    let searched = &curve[skip..];
    if searched.len() < 3 {
        return None;
    }
    let slope = |i: usize| {
        let (a, b) = (searched[i.saturating_sub(1)], searched[(i + 1).min(searched.len() - 1)]);
        (b.1 - a.1) / (b.0 - a.0)
    };
    let steepest = searched[(0..searched.len()).min_by(|&i, &j| slope(i).total_cmp(&slope(j)))?].0;
    // The steepest fall precedes the minimum on any curve that falls then
    // rises; on one that only falls both are near its end.
    let mut suggested = ((steepest + min.0) / 2.0).exp() as f32;
    // A curve that never falls by a tenth (a model already trained, as the
    // dashboard's test mid-run meets it) has no fall to measure: its
    // "steepest fall" is noise. The rate where the loss has clearly begun
    // to rise (a quarter above its minimum) is the edge; a tenth of it
    // stays clear of it.
    let start = curve[0].1;
    if min.1 > NO_FALL * start {
        let at = curve.iter().position(|p| p == min).unwrap_or(0);
        let rise = curve[at..].iter().find(|p| p.1 > RISE * min.1).or(curve.last()).map_or(min.0, |p| p.0);
        suggested = (rise.exp() / 10.0) as f32;
    }
    Some((steepest.exp() as f32, min_over_10, suggested))
}

impl Trainer {
    /// Runs the range test on this trainer's model (build a fresh one: the
    /// weights are changed), over at most `steps` steps, calling `each`
    /// with every point as it is measured. The batches cycle through the
    /// training set, reshuffled each pass, as the run would take them.
    pub fn lr_find(
        &mut self,
        steps: usize,
        mut each: impl FnMut(&LrPoint) -> std::io::Result<()>,
    ) -> std::io::Result<Option<LrSuggestion>> {
        // Mid-epoch (the dashboard's test) the epoch holds the run's order:
        // the test draws its own from the training split.
        let mut order = std::mem::take(&mut self.order);
        if order.is_empty() {
            order = self.split.train.clone();
        }
        let mut smoother = Smoother::new();
        let mut points = Vec::with_capacity(steps);
        let mut start = order.len();
        let mut diverged = false;
        for i in 0..steps {
            if start >= order.len() {
                order.shuffle(&mut self.rng);
                start = 0;
            }
            let idx = &order[start..(start + self.runner.batch().max(1)).min(order.len())];
            start += idx.len();
            let lr = rate(i, steps);
            self.opt.set_learning_rate(lr);
            let sum = self.train_batch(idx);
            self.step += 1;
            let loss = sum.loss / idx.len() as f64;
            let (smoothed, stop) = smoother.push(loss);
            let point = LrPoint { step: i + 1, lr, loss: loss as f32, smoothed: smoothed as f32 };
            each(&point)?;
            points.push(point);
            if stop {
                diverged = true;
                break;
            }
        }
        self.order = order;
        Ok(suggest(&points, diverged).map(|(steepest, min_over_10, suggested)| LrSuggestion {
            steepest,
            min_over_10,
            suggested,
            steps: points.len(),
            stopped: if diverged { "diverged" } else { "end" },
        }))
    }
}

/// How a range test on the live trainer stopped before its end.
enum Interrupted {
    /// The user left the test (`CancelRangeTest`).
    Cancelled,
    /// The driver stopped the run or went away.
    Halt,
}

impl Trainer {
    /// The dashboard's range test: [`Trainer::lr_find`] on the live model,
    /// which is put back afterwards. `training`: between two steps of an
    /// epoch, where the run pauses for the test and stays paused (the
    /// driver resumes it); after the run's end nothing trains anyway.
    /// Commands other than a cancel or a stop that arrive meanwhile are
    /// applied after the test, in order.
    pub(super) fn range_test(
        &mut self,
        steps: usize,
        training: bool,
        commands: &Receiver<Command>,
        events: &Sender<Event>,
    ) -> Result<(), Halt> {
        let steps = steps.clamp(3, 10_000);
        if training && !self.paused {
            self.paused = true;
            Self::emit(events, Event::Paused { step: self.step })?;
        }
        // What the test changes, kept to put back: two models at most.
        let net = self.net.clone();
        let opt = self.opt.clone();
        let (step, rng, order) = (self.step, self.rng.clone(), self.order.clone());
        let masks = self.runner.steps_taken();
        let mut pending = Vec::new();
        let mut interrupted = None;
        let mut taken = 0;
        let found = self.lr_find(steps, |p| {
            taken = p.step;
            let finite = |x: f32| x.is_finite().then_some(x);
            let point = Event::RangeTestPoint {
                step: p.step,
                of: steps,
                lr: p.lr,
                loss: finite(p.loss),
                smoothed: finite(p.smoothed),
            };
            if Self::emit(events, point).is_err() {
                interrupted = Some(Interrupted::Halt);
            }
            while interrupted.is_none()
                && let Ok(cmd) = commands.try_recv()
            {
                match cmd {
                    Command::CancelRangeTest => interrupted = Some(Interrupted::Cancelled),
                    Command::Stop => interrupted = Some(Interrupted::Halt),
                    other => pending.push(other),
                }
            }
            match interrupted {
                Some(_) => Err(std::io::Error::other("range test interrupted")),
                None => Ok(()),
            }
        });
        (self.net, self.opt, self.step, self.rng, self.order) = (net, opt, step, rng, order);
        self.runner.rewind(masks);
        // The update ratios would compare against the test's weights.
        self.before.clear();
        self.before_conv.clear();
        let (stopped, s) = match (&interrupted, found) {
            (Some(Interrupted::Halt), _) => return Err(Halt),
            (Some(Interrupted::Cancelled), _) => ("cancelled", None),
            (None, Ok(Some(s))) => (s.stopped, Some(s)),
            (None, Ok(None) | Err(_)) => ("end", None),
        };
        Self::emit(
            events,
            Event::RangeTestEnd {
                steps: s.map_or(taken, |s| s.steps),
                stopped: stopped.to_string(),
                steepest: s.map(|s| s.steepest),
                min_over_10: s.map(|s| s.min_over_10),
                suggested: s.map(|s| s.suggested),
            },
        )?;
        for cmd in pending {
            self.apply(cmd, events)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_grows_exponentially_from_start_to_end() {
        assert!((rate(0, 200) - LR_START).abs() < 1e-12);
        assert!((rate(199, 200) / LR_END - 1.0).abs() < 1e-5);
        let (a, b, c) = (rate(10, 200), rate(11, 200), rate(12, 200));
        assert!((b / a - c / b).abs() < 1e-4);
    }

    #[test]
    fn the_smoothed_loss_is_debiased_and_stops_at_four_times_its_minimum() {
        let mut s = Smoother::new();
        // Debiased: a constant loss is smoothed to itself from the first step.
        let (first, stop) = s.push(2.0);
        assert!((first - 2.0).abs() < 1e-12 && !stop);
        assert!((s.push(2.0).0 - 2.0).abs() < 1e-12);
        let mut stopped = false;
        for _ in 0..500 {
            let (v, stop) = s.push(100.0);
            if stop {
                assert!(v > 8.0);
                stopped = true;
                break;
            }
        }
        assert!(stopped);
        let mut s = Smoother::new();
        s.push(1.0);
        assert!(s.push(f64::NAN).1, "a loss that is not finite stops the test");
    }

    #[test]
    fn the_suggestion_lies_between_the_steepest_fall_and_the_minimum() {
        // A loss flat at 2.3, falling fastest around lr 1e-2, lowest at 1e-1, then rising.
        let steps = 100;
        let points: Vec<LrPoint> = (0..steps)
            .map(|i| {
                let lr = rate(i, steps);
                let x = (lr as f64).log10();
                let fall = 2.0 / (1.0 + (-(x + 2.0) * 3.0).exp());
                let rise = if x > -1.0 { (x + 1.0).powi(2) * 3.0 } else { 0.0 };
                let smoothed = (2.3 - fall + rise) as f32;
                LrPoint { step: i + 1, lr, loss: smoothed, smoothed }
            })
            .collect();
        let (steepest, min_over_10, suggested) = suggest(&points, false).unwrap();
        assert!((steepest.log10() + 2.0).abs() < 0.1, "steepest {steepest}");
        assert!((min_over_10.log10() + 2.0).abs() < 0.3, "min/10 {min_over_10}");
        let halfway = (steepest.log10() + (min_over_10 * 10.0).log10()) / 2.0;
        assert!((suggested.log10() - halfway).abs() < 1e-3, "suggested {suggested}");
        assert_eq!(suggest(&points[..2], false), None);
    }

    #[test]
    fn a_curve_that_never_falls_suggests_a_tenth_of_where_it_rises() {
        // Flat at 0.35 (a trained model) up to lr 1e-2, then rising.
        let steps = 100;
        let points: Vec<LrPoint> = (0..steps)
            .map(|i| {
                let lr = rate(i, steps);
                let x = (lr as f64).log10();
                let smoothed = (0.35 + if x > -2.0 { (x + 2.0) * 0.5 } else { 0.0 }) as f32;
                LrPoint { step: i + 1, lr, loss: smoothed, smoothed }
            })
            .collect();
        let (_, _, suggested) = suggest(&points, false).unwrap();
        // 1.25 x 0.35 is reached where (x + 2) * 0.5 = 0.0875: x = -1.825.
        assert!((suggested.log10() - (-2.825)).abs() < 0.1, "suggested {suggested}");
    }
}
