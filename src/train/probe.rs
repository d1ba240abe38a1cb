//! The "overfit one batch" probe (Karpathy's recipe): when a run does not
//! learn its training data, can the network at least memorize one small
//! batch? It separates capacity from optimization. The probe trains a
//! CLONE of the network (the run's own weights are never touched) on one
//! batch of training samples, twice, within a bounded budget:
//!
//! - as configured: the run's optimizer kind, learning rate, L1/L2 penalty
//!   and dropout, with fresh optimizer state;
//! - as a reference: Adam at 3e-3, no penalty, no dropout.
//!
//! If the run's own settings memorize the batch, optimization works and a
//! training set still not learned points at capacity; if only the reference
//! does, the settings are what fails; if neither does, a tiny network
//! cannot even memorize 32 samples. The diagnosis reads the result
//! (`Event::Probe`); this module only measures.

use std::time::{Duration, Instant};

use ndarray::Array2;

use crate::data::{Dataset, Normalizer};
use crate::nn::optim::Penalty;
use crate::nn::{Network, Optimizer, OptimizerKind};

/// Samples in the probe's batch.
pub const BATCH: usize = 32;
/// Steps and wall time each of the two fits may take (two fits: ≲ 2 s).
pub const MAX_STEPS: usize = 500;
pub const BUDGET: Duration = Duration::from_millis(900);
/// The batch counts as memorized at this accuracy (31 of 32) in eval mode
/// with the mean loss below `FIT_LOSS`: all 32 right by a small margin
/// (loss 1.5) is not memorized, only nudged over the line.
pub const FIT_ACC: f32 = 0.97;
pub const FIT_LOSS: f32 = 0.1;
/// Accuracy (eval mode) below which the training data counts as not
/// learned, scaled by the share of clean labels: the diagnosis's
/// `TRAIN_FIT_ACC` (the trainer does not import the diagnosis).
pub const NOT_LEARNED_BELOW: f32 = 0.90;
/// The reference optimizer: Adam at its usual learning rate.
pub const REFERENCE_LR: f32 = 3e-3;
/// Steps over which the probe's update-to-weight ratio is averaged.
const RATIO_STEPS: usize = 10;

pub use crate::protocol::{ProbeFit, ProbeResult};

/// Whether the probe is due at the end of `epoch`: the training data is not
/// learned (as far as `label_noise` allows) after at least two epochs. It
/// runs at epochs 2, 4, 8, 16, ...: a few times per run at most, with fresh
/// evidence after the user changed something.
pub fn due(epoch: usize, train_acc_eval: f32, label_noise: f32) -> bool {
    epoch >= 2 && epoch.is_power_of_two() && train_acc_eval < NOT_LEARNED_BELOW * (1.0 - label_noise)
}

/// Runs both fits on the first `BATCH` samples of `train` (indices into
/// `data`, mapped by `norm`), on clones of `net`.
#[allow(clippy::too_many_arguments)]
pub fn run(
    epoch: usize,
    net: &Network,
    data: &Dataset,
    train: &[u32],
    norm: &Normalizer,
    kind: OptimizerKind,
    lr: f32,
    penalty: Penalty,
) -> ProbeResult {
    let idx = &train[..train.len().min(BATCH)];
    let n = idx.len().max(1);
    let mut x = Array2::<f32>::zeros((n, data.dim));
    let mut y = vec![0u8; n];
    data.gather(idx, norm, x.view_mut(), &mut y);
    let configured = fit(net.clone(), x.view(), &y, kind, lr, penalty);
    let mut plain = net.clone();
    plain.set_dropout(0.0);
    let adam = OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 };
    let reference = fit(plain, x.view(), &y, adam, REFERENCE_LR, Penalty::default());
    ProbeResult { epoch, batch: idx.len(), configured, reference }
}

/// Trains `net` on the batch `(x, y)` until it memorizes it, `MAX_STEPS`
/// steps or `BUDGET`, whichever comes first.
pub fn fit(
    mut net: Network,
    x: ndarray::ArrayView2<f32>,
    y: &[u8],
    kind: OptimizerKind,
    lr: f32,
    penalty: Penalty,
) -> ProbeFit {
    let n = x.nrows();
    let started = Instant::now();
    let mut ws = net.workspace(n, 0x0005_EED0_FBA7);
    let mut grads = net.grads();
    let mut opt = Optimizer::new(kind, lr, &net.tensor_sizes());
    let eval = |net: &Network, ws: &mut crate::nn::Workspace| {
        let s = net.evaluate(x, y, ws);
        ((s.loss / n.max(1) as f64) as f32, s.correct as f32 / n.max(1) as f32)
    };
    let (loss_before, acc_before) = eval(&net, &mut ws);
    let memorized = |loss: f32, acc: f32| acc >= FIT_ACC && loss < FIT_LOSS;
    let mut done = memorized(loss_before, acc_before);
    let (mut ratio_sum, mut ratio_n) = (0f64, 0usize);
    let mut steps = 0;
    while !done && steps < MAX_STEPS && started.elapsed() < BUDGET {
        let before: Option<Vec<Array2<f32>>> =
            (steps < RATIO_STEPS).then(|| net.layers().iter().map(|l| l.w.clone()).collect());
        net.train_step(x, y, &mut ws, &mut grads, &mut opt, penalty);
        steps += 1;
        if let Some(before) = before {
            let r = net
                .layers()
                .iter()
                .zip(&before)
                .map(|(l, b)| {
                    let d: f32 = l.w.iter().zip(b).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt();
                    d / b.iter().map(|v| v * v).sum::<f32>().sqrt().max(f32::MIN_POSITIVE)
                })
                .fold(0f32, f32::max);
            if r.is_finite() {
                ratio_sum += r as f64;
                ratio_n += 1;
            }
        }
        // Evaluating 32 samples costs a fraction of a step: check often.
        if steps % 5 == 0 || steps == MAX_STEPS {
            let (loss, acc) = eval(&net, &mut ws);
            if !loss.is_finite() {
                break;
            }
            done = memorized(loss, acc);
        }
    }
    let (loss_after, acc_after) = eval(&net, &mut ws);
    ProbeFit {
        optimizer: kind.label(),
        lr,
        steps,
        millis: started.elapsed().as_millis() as u64,
        loss_before,
        loss_after,
        acc_after,
        fits: memorized(loss_after, acc_after),
        timed_out: !memorized(loss_after, acc_after) && steps < MAX_STEPS && loss_after.is_finite(),
        update_ratio: if ratio_n > 0 { (ratio_sum / ratio_n as f64) as f32 } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Features, Normalize};
    use crate::nn::{Activation, Init};
    use rand::{Rng, SeedableRng};

    /// 32 random points in 8-D with random labels: only memorizing fits them.
    fn noise_batch() -> (Dataset, Vec<u32>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let values: Vec<f32> = (0..32 * 8).map(|_| rng.random_range(-1.0..1.0)).collect();
        let labels: Vec<u8> = (0..32).map(|_| rng.random_range(0..4)).collect();
        (Dataset { features: Features::F32(values), labels, dim: 8, classes: 4, image: None }, (0..32).collect())
    }

    fn net(hidden: &[usize]) -> Network {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        Network::new(8, hidden, 4, Activation::Relu, Init::Auto, &mut rng)
    }

    #[test]
    fn a_wide_net_memorizes_a_batch_and_a_one_unit_net_cannot() {
        let (data, train) = noise_batch();
        let norm = Normalizer::fit(Normalize::None, &data, &train).unwrap();
        let adam = OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 };
        let wide = run(2, &net(&[128]), &data, &train, &norm, adam, 0.01, Penalty::default());
        assert!(wide.configured.fits && wide.reference.fits, "{wide:?}");
        assert!(wide.configured.loss_after < wide.configured.loss_before);
        assert!(wide.configured.update_ratio > 0.0);
        let tiny = run(2, &net(&[1]), &data, &train, &norm, adam, 0.01, Penalty::default());
        assert!(!tiny.configured.fits && !tiny.reference.fits, "{tiny:?}");
        assert!(tiny.configured.steps <= MAX_STEPS && tiny.configured.millis <= 2 * BUDGET.as_millis() as u64);
    }

    #[test]
    fn a_tiny_learning_rate_fails_where_the_reference_fits() {
        let (data, train) = noise_batch();
        let norm = Normalizer::fit(Normalize::None, &data, &train).unwrap();
        let sgd = OptimizerKind::Sgd { momentum: 0.0, nesterov: false };
        let original = net(&[128]);
        let r = run(2, &original, &data, &train, &norm, sgd, 1e-6, Penalty::default());
        assert!(!r.configured.fits && r.reference.fits, "{r:?}");
        assert!(r.configured.update_ratio < 1e-4, "{}", r.configured.update_ratio);
        // The run's network is untouched: the probe trains a clone.
        assert_eq!(original.layers()[0].w, net(&[128]).layers()[0].w);
        // A penalty that crushes the weights keeps the batch from being fitted too.
        let crushed = run(2, &original, &data, &train, &norm, sgd, 0.5, Penalty { l1: 0.0, l2: 5.0 });
        assert!(!crushed.configured.fits && crushed.reference.fits, "{crushed:?}");
    }

    #[test]
    fn the_probe_is_due_only_when_training_fails_at_a_power_of_two_epoch() {
        assert!(due(2, 0.3, 0.0) && due(8, 0.3, 0.0));
        assert!(!due(1, 0.3, 0.0) && !due(3, 0.3, 0.0) && !due(2, 0.95, 0.0));
        // 30% noisy labels cap training accuracy near 70%: that is learned.
        assert!(!due(2, 0.70, 0.3));
    }
}
