//! Losses over a batch of logits `[batch, classes]` and integer labels.
//!
//! Softmax cross-entropy is fused and numerically stable: with
//! `m = max_j z_j`, `log Σ e^{z_j} = m + log Σ e^{z_j - m}`, so no exponent
//! overflows, and its gradient with respect to the logits is simply
//! `softmax(z) - onehot(y)` (scaled by the caller, usually by `1 / batch`).

use ndarray::{ArrayView2, ArrayViewMut2};

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

    /// d loss / d z_j = softmax(z)_j - [j == y], checked by central differences in f64.
    #[test]
    fn gradcheck_softmax_cross_entropy_matches_finite_differences() {
        let z = array![[0.3f32, -1.2, 2.0, 0.5], [1.0, 1.1, -0.3, 0.0]];
        let labels = [2u8, 0];
        let mut g = Array2::zeros(z.dim());
        softmax_cross_entropy(z.view(), &labels, Some(g.view_mut()), 1.0);
        let eps = 1e-2f32;
        for i in 0..2 {
            for j in 0..4 {
                let mut zp = z.clone();
                zp[[i, j]] += eps;
                let mut zm = z.clone();
                zm[[i, j]] -= eps;
                let lp = softmax_cross_entropy(zp.view(), &labels, None, 1.0).loss;
                let lm = softmax_cross_entropy(zm.view(), &labels, None, 1.0).loss;
                let numerical = (lp - lm) / (2.0 * eps as f64);
                let theoretical = g[[i, j]] as f64;
                assert!((numerical - theoretical).abs() < 1e-3, "numerical={numerical}, theoretical={theoretical}");
            }
        }
    }
}
