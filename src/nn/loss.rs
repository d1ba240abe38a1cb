//! Losses over a batch of logits `[batch, classes]` and integer labels.
//!
//! Softmax cross-entropy is fused and numerically stable: with
//! `m = max_j z_j`, `log Σ e^{z_j} = m + log Σ e^{z_j - m}`, so no exponent
//! overflows, and its gradient with respect to the logits is simply
//! `softmax(z) - onehot(y)` (scaled by the caller, usually by `1 / batch`).
//!
//! Mean squared error is taken between the softmax probabilities `p` and the
//! one-hot target `y` (the lecture's "square error" against cross-entropy):
//! `L = Σ_j (p_j - y_j)²`, and through the softmax Jacobian
//! `∂L/∂z_i = 2 p_i ((p_i - y_i) - Σ_j (p_j - y_j) p_j)`. Its gradient
//! vanishes when `p` is confidently wrong, which is why it trains slower.

use ndarray::{ArrayView2, ArrayViewMut2};
use serde::{Deserialize, Serialize};

/// Which loss the network trains on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Loss {
    #[default]
    CrossEntropy,
    Mse,
}

impl Loss {
    /// The loss of each row of `logits`, summed, with its gradient when asked.
    pub fn compute(
        self,
        logits: ArrayView2<f32>,
        labels: &[u8],
        grad: Option<ArrayViewMut2<f32>>,
        grad_scale: f32,
    ) -> LossSum {
        match self {
            Loss::CrossEntropy => softmax_cross_entropy(logits, labels, grad, grad_scale),
            Loss::Mse => softmax_mse(logits, labels, grad, grad_scale),
        }
    }
}

/// The index of the largest value (the first of ties): a row's predicted class.
pub fn argmax(row: ndarray::ArrayView1<f32>) -> usize {
    row.iter().enumerate().fold(0, |best, (j, &v)| if v > row[best] { j } else { best })
}

/// Sum of the per-sample losses and the number of correct argmax predictions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossSum {
    pub loss: f64,
    pub correct: usize,
}

/// Softmax cross-entropy of each row of `logits` against `labels`.
///
/// When `grad` is given, writes `grad_scale * (softmax(z) - onehot(y))` into it.
pub fn softmax_cross_entropy(
    logits: ArrayView2<f32>,
    labels: &[u8],
    mut grad: Option<ArrayViewMut2<f32>>,
    grad_scale: f32,
) -> LossSum {
    debug_assert_eq!(logits.nrows(), labels.len());
    let mut sum = LossSum::default();
    for (i, row) in logits.rows().into_iter().enumerate() {
        let y = labels[i] as usize;
        let (mut max, mut arg) = (f32::NEG_INFINITY, 0);
        for (j, &z) in row.iter().enumerate() {
            if z > max {
                max = z;
                arg = j;
            }
        }
        let denom: f32 = row.iter().map(|&z| (z - max).exp()).sum();
        let log_denom = denom.ln();
        sum.loss += (log_denom + max - row[y]) as f64;
        sum.correct += usize::from(arg == y);
        if let Some(g) = grad.as_mut() {
            let inv = grad_scale / denom;
            for (j, (gj, &z)) in g.row_mut(i).iter_mut().zip(row.iter()).enumerate() {
                let p = (z - max).exp() * inv;
                *gj = if j == y { p - grad_scale } else { p };
            }
        }
    }
    sum
}

/// Squared error between `softmax(z)` and the one-hot labels, per row, summed.
pub fn softmax_mse(
    logits: ArrayView2<f32>,
    labels: &[u8],
    mut grad: Option<ArrayViewMut2<f32>>,
    grad_scale: f32,
) -> LossSum {
    let mut sum = LossSum::default();
    // Labels are u8, so there are at most 256 classes: no allocation per call.
    let mut buf = [0f32; 256];
    assert!(logits.ncols() <= buf.len(), "softmax_mse: more than 256 classes");
    let p = &mut buf[..logits.ncols()];
    for (i, row) in logits.rows().into_iter().enumerate() {
        let y = labels[i] as usize;
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &z| m.max(z));
        p.iter_mut().zip(row.iter()).for_each(|(v, &z)| *v = (z - max).exp());
        let denom: f32 = p.iter().sum();
        p.iter_mut().for_each(|v| *v /= denom);
        let arg = argmax(ndarray::ArrayView1::from(&*p));
        sum.correct += usize::from(arg == y);
        let err = |j: usize| p[j] - f32::from(u8::from(j == y));
        sum.loss += (0..p.len()).map(|j| (err(j) * err(j)) as f64).sum::<f64>();
        if let Some(g) = grad.as_mut() {
            let dot: f32 = (0..p.len()).map(|j| err(j) * p[j]).sum();
            for (j, gj) in g.row_mut(i).iter_mut().enumerate() {
                *gj = grad_scale * 2.0 * p[j] * (err(j) - dot);
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn stable_for_huge_logits() {
        let z = array![[1000.0f32, 0.0, -1000.0], [0.0, 0.0, 0.0]];
        let s = softmax_cross_entropy(z.view(), &[0, 2], None, 1.0);
        // Row 0: loss ~0; row 1: ln 3.
        assert!((s.loss - 3f64.ln()).abs() < 1e-5, "{}", s.loss);
        // Row 1 is a three-way tie: the first index wins, which is not label 2.
        assert_eq!(s.correct, 1);
    }

    /// Every logit's gradient of `loss` against central differences (f64 sums).
    fn gradcheck(loss: Loss, labels: [u8; 2]) {
        let z = array![[0.3f32, -1.2, 2.0, 0.5], [1.0, 1.1, -0.3, 0.0]];
        let mut g = Array2::zeros(z.dim());
        loss.compute(z.view(), &labels, Some(g.view_mut()), 1.0);
        let eps = 1e-2f32;
        for ((i, j), &theoretical) in g.indexed_iter() {
            let at = |d: f32| {
                let mut zd = z.clone();
                zd[[i, j]] += d;
                loss.compute(zd.view(), &labels, None, 1.0).loss
            };
            let numerical = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            let theoretical = theoretical as f64;
            assert!(
                (numerical - theoretical).abs() < 1e-3,
                "{loss:?}: numerical={numerical}, theoretical={theoretical}"
            );
        }
    }

    /// d loss / d z_j = softmax(z)_j - [j == y].
    #[test]
    fn gradcheck_softmax_cross_entropy_matches_finite_differences() {
        gradcheck(Loss::CrossEntropy, [2, 0]);
    }

    /// d loss / d z_i = 2 p_i ((p_i - y_i) - Σ_j (p_j - y_j) p_j).
    #[test]
    fn gradcheck_softmax_mse_matches_finite_differences() {
        gradcheck(Loss::Mse, [1, 0]);
        // A perfect prediction has no loss.
        let sure = array![[50.0f32, 0.0]];
        assert!(softmax_mse(sure.view(), &[0], None, 1.0).loss < 1e-12);
    }
}
