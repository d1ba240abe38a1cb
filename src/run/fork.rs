//! A fork as the views see it: the branch's name, its changes and
//! settings, its epochs and step curves (the run's up to the fork, then its
//! own, so a kept branch carries the whole history), and the effect of its
//! change **at equal steps**: the latest epoch both the run and the branch
//! have finished, compared against the run's own noise.
//!
//! The noise is the run's epoch-to-epoch spread: the standard deviation of
//! the changes of its validation loss (accuracy) from one epoch to the
//! next, over its last [`NOISE_EPOCHS`] epochs. A difference between the
//! branches no larger than that is "within noise": one epoch's wobble of the
//! run alone would explain it. Where runs of the same settings from other
//! seeds exist (`R`), at least [`MIN_SEEDS`] of them with the epoch compared,
//! the noise is their spread at that epoch instead ([`ForkEffect::with_seeds`]):
//! what another start alone would change.

use super::Ema;
use crate::history::Series;
use crate::preset::Preset;
use crate::protocol::{Change, EpochMetrics, ForkInfo};

/// Epochs of the run whose successive changes measure its noise.
pub const NOISE_EPOCHS: usize = 6;
/// Runs (this one and others from other seeds) needed for a seed spread.
pub const MIN_SEEDS: usize = 3;

#[derive(Clone, Debug)]
pub struct Fork {
    pub branch: String,
    pub changes: Vec<Change>,
    pub at_step: u64,
    /// Epochs finished when it forked.
    pub at_epoch: usize,
    /// Epochs the branch trains before the trainer pauses for the decision.
    pub planned: usize,
    /// The branch's settings: the run's with its changes applied.
    pub settings: Preset,
    /// The run's epochs up to the fork, then the branch's.
    pub epochs: Vec<EpochMetrics>,
    pub train_loss: Series,
    pub train_acc: Series,
    pub(super) smooth_loss: Ema,
    pub(super) smooth_acc: Ema,
    /// Rollbacks of the branch's divergence guard.
    pub rollbacks: usize,
    /// Step 0 of the branch: its own for a fresh fork, else the run's.
    pub preflight: Option<crate::protocol::Preflight>,
}

impl Fork {
    /// A fork of `run` as `info` describes it.
    pub fn new(info: &ForkInfo, run: &super::Run) -> Fork {
        // A fresh fork says its whole settings; else the run's, changed.
        let settings = info.settings.as_deref().cloned().unwrap_or_else(|| {
            let mut settings = run.settings.clone();
            for c in &info.changes {
                c.to.apply_to(&mut settings);
            }
            settings
        });
        Fork {
            branch: info.branch.clone(),
            changes: info.changes.clone(),
            at_step: info.step,
            at_epoch: info.epoch,
            planned: info.epochs,
            settings,
            epochs: run.epochs.iter().filter(|e| e.epoch <= info.epoch).cloned().collect(),
            train_loss: run.train_loss.clone(),
            train_acc: run.train_acc.clone(),
            smooth_loss: run.smooth_loss,
            smooth_acc: run.smooth_acc,
            rollbacks: 0,
            preflight: info.preflight.as_deref().cloned().or_else(|| run.preflight.clone()),
        }
    }

    /// Epochs the branch has trained since the fork.
    pub fn trained(&self) -> usize {
        self.epochs.iter().filter(|e| e.epoch > self.at_epoch).count()
    }

    /// Whether the branch has trained the epochs asked for.
    pub fn due(&self) -> bool {
        self.trained() >= self.planned
    }

    /// Takes in one of the branch's epochs (a rewritten one replaces it).
    pub fn push_epoch(&mut self, m: &EpochMetrics) {
        match self.epochs.iter().position(|e| e.epoch == m.epoch) {
            Some(i) => self.epochs[i] = m.clone(),
            None => self.epochs.push(m.clone()),
        }
    }

    /// The effect at equal steps against the run's `base` epochs, once
    /// both have an epoch after the fork.
    pub fn effect(&self, base: &[EpochMetrics]) -> Option<ForkEffect> {
        let b =
            self.epochs.iter().rev().find(|e| e.epoch > self.at_epoch && base.iter().any(|r| r.epoch == e.epoch))?;
        let r = base.iter().find(|r| r.epoch == b.epoch)?;
        Some(ForkEffect {
            epochs: b.epoch - self.at_epoch,
            epoch: b.epoch,
            val_loss: (r.val_loss, b.val_loss),
            val_acc: (r.val_acc, b.val_acc),
            loss_noise: noise(base, |e| e.val_loss),
            acc_noise: noise(base, |e| e.val_acc),
            seeds: 0,
        })
    }
}

/// The standard deviation of the epoch-to-epoch changes of `pick` over the
/// last [`NOISE_EPOCHS`] of `epochs`; `None` with fewer than two changes.
pub fn noise(epochs: &[EpochMetrics], pick: fn(&EpochMetrics) -> f32) -> Option<f32> {
    let tail = &epochs[epochs.len().saturating_sub(NOISE_EPOCHS)..];
    let d: Vec<f64> = tail.windows(2).map(|w| (pick(&w[1]) - pick(&w[0])) as f64).filter(|d| d.is_finite()).collect();
    if d.len() < 2 {
        return None;
    }
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (d.len() - 1) as f64;
    Some(var.sqrt() as f32)
}

/// The branch against the run at the same epoch (so the same steps).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForkEffect {
    /// Epochs since the fork, and the epoch compared.
    pub epochs: usize,
    pub epoch: usize,
    /// (run, branch).
    pub val_loss: (f32, f32),
    pub val_acc: (f32, f32),
    /// The run's epoch-to-epoch spread of each, or the seeds' spread.
    pub loss_noise: Option<f32>,
    pub acc_noise: Option<f32>,
    /// Runs whose spread at the epoch is the noise (0: the epoch-to-epoch one).
    pub seeds: usize,
}

/// The sample standard deviation of the finite `values`; `None` under two.
fn spread(values: &[f32]) -> Option<f32> {
    let v: Vec<f64> = values.iter().filter(|x| x.is_finite()).map(|&x| x as f64).collect();
    if v.len() < 2 {
        return None;
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    Some((v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt() as f32)
}

/// How a difference compares with the noise, in words.
fn against(diff: f32, noise: Option<f32>, seeds: usize, fmt: impl Fn(f32) -> String) -> String {
    let what = if seeds > 0 { format!("the spread of {seeds} seeds") } else { "noise".into() };
    match noise {
        _ if !diff.is_finite() => "not comparable".into(),
        Some(n) if diff.abs() > n => format!("beyond {what} ±{}", fmt(n)),
        Some(n) => format!("within {what} ±{}", fmt(n)),
        None => "noise not known yet".into(),
    }
}

impl ForkEffect {
    /// The effect with the seeds' spread as its noise: `runs` are the
    /// epochs of runs with the run's settings from distinct seeds (the run
    /// first). With fewer than [`MIN_SEEDS`] of them at the epoch compared,
    /// the epoch-to-epoch noise stays.
    pub fn with_seeds(mut self, runs: &[&[EpochMetrics]]) -> ForkEffect {
        let at: Vec<&EpochMetrics> = runs.iter().filter_map(|r| r.iter().find(|e| e.epoch == self.epoch)).collect();
        if at.len() < MIN_SEEDS {
            return self;
        }
        let loss: Vec<f32> = at.iter().map(|e| e.val_loss).collect();
        let acc: Vec<f32> = at.iter().map(|e| e.val_acc).collect();
        if let (Some(l), Some(a)) = (spread(&loss), spread(&acc)) {
            (self.loss_noise, self.acc_noise, self.seeds) = (Some(l), Some(a), at.len());
        }
        self
    }

    /// Whether the branch's validation loss differs from the run's by more
    /// than the run's noise (`None` while the noise is not known).
    pub fn loss_beyond_noise(&self) -> Option<bool> {
        let d = self.val_loss.1 - self.val_loss.0;
        self.loss_noise.map(|n| d.is_finite() && d.abs() > n)
    }

    pub fn acc_beyond_noise(&self) -> Option<bool> {
        let d = self.val_acc.1 - self.val_acc.0;
        self.acc_noise.map(|n| d.is_finite() && d.abs() > n)
    }

    /// "val loss 0.412 vs 0.463 (beyond noise ±0.010)": the branch first.
    pub fn loss_words(&self) -> String {
        let (run, branch) = self.val_loss;
        format!(
            "val loss {branch:.3} vs {run:.3} ({})",
            against(branch - run, self.loss_noise, self.seeds, |n| format!("{n:.3}"))
        )
    }

    /// "val acc +1.2 points (within noise ±1.5)".
    pub fn acc_words(&self) -> String {
        let d = self.val_acc.1 - self.val_acc.0;
        format!(
            "val acc {:+.1} points ({})",
            d * 100.0,
            against(d, self.acc_noise, self.seeds, |n| format!("{:.1}", n * 100.0))
        )
    }

    /// "dropout 0.5, 3 epochs: val loss 0.412 vs 0.463 (beyond noise
    /// ±0.010), val acc +1.2 points (within noise ±1.5)".
    pub fn words(&self, branch: &str) -> String {
        format!("{branch}, {}: {}, {}", self.epochs_words(), self.loss_words(), self.acc_words())
    }

    /// "3 epochs".
    pub fn epochs_words(&self) -> String {
        format!("{} epoch{}", self.epochs, if self.epochs == 1 { "" } else { "s" })
    }

    /// One short row (the epochs are in the long form): "dropout 0.5: val
    /// loss -0.051, acc +1.2 pts: loss beyond noise, acc within".
    pub fn brief(&self, branch: &str) -> String {
        let noise = match (self.loss_beyond_noise(), self.acc_beyond_noise()) {
            (Some(true), Some(true)) => "both beyond noise",
            (Some(false), Some(false)) => "both within noise",
            (Some(true), Some(false)) => "loss beyond noise, acc within",
            (Some(false), Some(true)) => "acc beyond noise, loss within",
            _ => "noise not known yet",
        };
        let noise = if self.seeds > 0 { format!("{noise} ({} seeds)", self.seeds) } else { noise.to_string() };
        format!(
            "{branch}: val loss {:+.3}, acc {:+.1} pts: {noise}",
            self.val_loss.1 - self.val_loss.0,
            (self.val_acc.1 - self.val_acc.0) * 100.0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: usize, val_loss: f32, val_acc: f32) -> EpochMetrics {
        EpochMetrics {
            epoch,
            step: epoch as u64 * 10,
            train_loss: 0.1,
            train_acc: 0.9,
            train_loss_eval: 0.1,
            train_acc_eval: 0.9,
            val_loss,
            val_acc,
            lr: 0.1,
            penalty: 0.0,
            noise_memorized: None,
            samples_per_s: 1.0,
            threads: None,
            elapsed_s: 1.0,
            grad_norm: None,
            branch: None,
        }
    }

    #[test]
    fn the_noise_is_the_spread_of_the_epoch_to_epoch_changes() {
        // Changes +0.02, -0.02, +0.02, -0.02: mean 0, sample std 0.0231.
        let e: Vec<_> = [0.40, 0.42, 0.40, 0.42, 0.40].iter().enumerate().map(|(i, &l)| epoch(i + 1, l, 0.9)).collect();
        let n = noise(&e, |e| e.val_loss).unwrap();
        assert!((n - 0.02309).abs() < 1e-4, "{n}");
        // A steady trend is not noise.
        let trend: Vec<_> = (1..=5).map(|i| epoch(i, 1.0 - 0.1 * i as f32, 0.9)).collect();
        assert!(noise(&trend, |e| e.val_loss).unwrap() < 1e-6);
        assert_eq!(noise(&e[..2], |e| e.val_loss), None, "one change has no spread");
    }

    #[test]
    fn the_effect_is_taken_at_the_latest_epoch_both_finished_and_said_against_the_noise() {
        let base: Vec<_> = [(0.50, 0.80), (0.46, 0.84), (0.47, 0.85), (0.463, 0.85), (0.47, 0.851)]
            .iter()
            .enumerate()
            .map(|(i, &(l, a))| epoch(i + 1, l, a))
            .collect();
        let mut fork = Fork {
            branch: "dropout 0.5".into(),
            changes: Vec::new(),
            at_step: 20,
            at_epoch: 2,
            planned: 3,
            settings: crate::tui::app::tests::preset(),
            epochs: base[..2].to_vec(),
            train_loss: Series::new(10),
            train_acc: Series::new(10),
            smooth_loss: Ema::default(),
            smooth_acc: Ema::default(),
            rollbacks: 0,
            preflight: None,
        };
        assert_eq!(fork.effect(&base), None, "no epoch after the fork yet");
        for (e, l, a) in [(3, 0.44, 0.86), (4, 0.412, 0.862)] {
            fork.push_epoch(&epoch(e, l, a));
        }
        // Epoch 5 of the run has no branch twin yet: epoch 4 is compared.
        let fx = fork.effect(&base[..5]).unwrap();
        assert_eq!((fx.epochs, fx.epoch), (2, 4));
        assert_eq!(fx.val_loss, (0.463, 0.412));
        assert!(!fork.due() && fork.trained() == 2);
        let words = fx.words(&fork.branch);
        assert!(words.starts_with("dropout 0.5, 2 epochs: val loss 0.412 vs 0.463 (beyond noise ±"), "{words}");
        assert!(words.contains("val acc +1.2 points (within noise ±"), "{words}");
        assert_eq!((fx.loss_beyond_noise(), fx.acc_beyond_noise()), (Some(true), Some(false)));
        assert_eq!(
            fx.brief("dropout 0.5"),
            "dropout 0.5: val loss -0.051, acc +1.2 pts: loss beyond noise, acc within"
        );

        // Two other seeds at epoch 4 (the run's 0.463 and 0.85 among them):
        // their spread is the noise now, and it is wider.
        let other = |l, a| vec![epoch(4, l, a)];
        let (s1, s2) = (other(0.40, 0.87), other(0.52, 0.83));
        let seeded = fx.with_seeds(&[&base, &s1, &s2]);
        assert_eq!(seeded.seeds, 3);
        let n = seeded.loss_noise.unwrap();
        assert!((n - 0.0601).abs() < 1e-3, "sample std of 0.463, 0.40, 0.52: {n}");
        assert_eq!(seeded.loss_beyond_noise(), Some(false), "0.051 is within a seed spread of 0.060");
        assert!(seeded.loss_words().contains("within the spread of 3 seeds ±0.060"), "{}", seeded.loss_words());
        assert!(seeded.brief("dropout 0.5").ends_with("both within noise (3 seeds)"), "{}", seeded.brief("d"));
        // One other seed is not a spread: the epoch-to-epoch noise stays.
        assert_eq!(fx.with_seeds(&[&base, &s1]), fx);
    }

    #[test]
    fn a_kept_fresh_branch_brings_its_own_step_0() {
        use crate::protocol::{Event, Preflight};
        let step0 = |scale: f32| Preflight {
            samples: 10,
            input_max_abs: scale,
            mean_range: (0.0, scale),
            std_range: (0.0, scale),
            off_scale_share: 0.0,
            features: 4,
            init_loss: 2.3,
            chance_loss: 2.3,
            class_counts: vec![5, 5],
            weight_norms: vec![1.0],
        };
        let mut run = super::super::Run::new(crate::tui::app::tests::preset());
        run.apply(&Event::Preflight(step0(255.0)));
        let info = ForkInfo {
            step: 0,
            epoch: 0,
            branch: "normalized inputs".into(),
            changes: Vec::new(),
            epochs: 3,
            settings: Some(Box::new(run.settings.clone())),
            preflight: Some(Box::new(step0(1.0))),
        };
        run.apply(&Event::Fork(info));
        let end =
            |kept| Event::ForkEnd { step: 9, epoch: 1, branch: "normalized inputs".into(), kept, reason: "r".into() };
        run.apply(&end(true));
        assert_eq!(run.preflight.as_ref().map(|p| p.input_max_abs), Some(1.0), "the kept branch's inputs");
    }
}
