//! Evaluation passes in eval mode (no dropout): over training samples,
//! validation and test, in batches of `EVAL_BATCH`; and the epoch's
//! evaluation with the divergence guard applied.

use crossbeam_channel::Sender;
use ndarray::s;

use super::{EVAL_BATCH, Event, Halt, Trainer};
use crate::nn::loss::{LossSum, argmax};

/// Misclassified validation samples kept per epoch for the data view.
const DATA_VIEW_WRONG: usize = 12;

/// Mean loss and accuracy of one pass.
#[derive(Clone, Copy, Debug)]
pub(super) struct Score {
    pub loss: f32,
    pub acc: f32,
}

/// What one epoch's evaluation found.
pub(super) struct EpochEval {
    /// The training probe in eval mode.
    pub train: Score,
    pub val: Score,
    /// The share of relabelled training samples predicted as their new label.
    pub noise_memorized: Option<f32>,
    /// `confusion[true][predicted]` over validation.
    pub confusion: Vec<Vec<u32>>,
    /// The first misclassified validation samples: (sample, label, predicted).
    pub wrong: Vec<(u32, u8, u8)>,
}

impl Trainer {
    /// Mean loss and accuracy in eval mode over `indices` of the training set
    /// (`test == false`) or of the test set.
    pub(super) fn evaluate(&mut self, indices: &[u32], test: bool) -> Score {
        self.evaluate_with(indices, test, |_, _, _| {})
    }

    /// [`Trainer::evaluate`], also calling `seen(sample, label, predicted)`
    /// for every sample.
    pub(super) fn evaluate_with(&mut self, indices: &[u32], test: bool, mut seen: impl FnMut(u32, u8, u8)) -> Score {
        let set = if test { &self.data.test } else { &self.data.train };
        let mut total = LossSum::default();
        for chunk in indices.chunks(EVAL_BATCH) {
            let n = chunk.len();
            set.gather(chunk, &self.norm, self.eval_x.view_mut(), &mut self.eval_y);
            let labels = &self.eval_y[..n];
            let logits = self.net.forward(self.eval_x.slice(s![..n, ..]), &mut self.ws_eval);
            let s = self.net.loss().compute(logits.view(), labels, None, 1.0);
            for ((&i, &y), row) in chunk.iter().zip(labels).zip(logits.rows()) {
                seen(i, y, argmax(row) as u8);
            }
            total.loss += s.loss;
            total.correct += s.correct;
        }
        let n = indices.len().max(1);
        Score { loss: (total.loss / n as f64) as f32, acc: total.correct as f32 / n as f32 }
    }

    /// Evaluation of the training probe and the validation split, with the
    /// guard applied: non-finite results roll back and evaluate again.
    /// `None` when the guard gave up.
    pub(super) fn evaluate_epoch(&mut self, events: &Sender<Event>) -> Result<Option<EpochEval>, Halt> {
        loop {
            let probe = std::mem::take(&mut self.probe);
            let train = self.evaluate(&probe, false);
            self.probe = probe;
            let classes = self.data.train.classes;
            let mut confusion = vec![vec![0u32; classes]; classes];
            let mut wrong: Vec<(u32, u8, u8)> = Vec::new();
            let val_idx = std::mem::take(&mut self.split.val);
            let val = self.evaluate_with(&val_idx, false, |i, y, p| {
                confusion[y as usize][p as usize] += 1;
                if y != p && wrong.len() < DATA_VIEW_WRONG {
                    wrong.push((i, y, p));
                }
            });
            self.split.val = val_idx;
            if train.loss.is_finite() && val.loss.is_finite() {
                let noisy = std::mem::take(&mut self.noisy);
                let noise_memorized = (!noisy.is_empty()).then(|| self.evaluate(&noisy, false).acc);
                self.noisy = noisy;
                return Ok(Some(EpochEval { train, val, noise_memorized, confusion, wrong }));
            }
            if !self.recover(events, val.loss)? {
                return Ok(None);
            }
        }
    }

    /// Test-set accuracy of the network as it is now (a loaded one, say).
    pub fn test_accuracy(&mut self) -> f32 {
        self.evaluate_test().acc
    }

    /// The held-out test set, evaluated once, with the weights the run keeps.
    pub(super) fn evaluate_test(&mut self) -> Score {
        let test: Vec<u32> = (0..self.data.test.len() as u32).collect();
        self.evaluate(&test, true)
    }
}
