//! The data view sent after each epoch: the validation confusion matrix,
//! misclassified samples (their pixels, for images) and, for 2-D sets, the
//! decision boundary over the input plane.

use ndarray::Array2;

use super::eval::EpochEval;
use super::{Boundary, DataView, Misclassified, Trainer};
use crate::nn::loss::argmax;

/// The decision-boundary grid of 2-D sets: cells across and down.
const BOUNDARY_GRID: (usize, usize) = (72, 36);
/// Validation points drawn over the boundary.
const BOUNDARY_POINTS: usize = 300;

impl Trainer {
    /// The data view of the validation split after an epoch, from the
    /// epoch's validation pass (validation is evaluated once an epoch).
    pub(super) fn data_view(&mut self, epoch: usize, eval: &mut EpochEval) -> DataView {
        let val = std::mem::take(&mut self.split.val);
        let train = &self.data.train;
        let misclassified = eval
            .wrong
            .iter()
            .map(|&(i, label, predicted)| {
                let pixels = match (&train.features, train.image) {
                    (crate::data::Features::U8(f), Some(_)) => {
                        f[i as usize * train.dim..(i as usize + 1) * train.dim].to_vec()
                    }
                    _ => Vec::new(),
                };
                Misclassified { label, predicted, pixels }
            })
            .collect();
        let boundary = (train.dim == 2).then(|| self.boundary(&val));
        self.split.val = val;
        let confusion = std::mem::take(&mut eval.confusion);
        DataView { epoch, confusion, misclassified, image: self.data.train.image, boundary }
    }

    /// Predictions over a grid covering the 2-D training data, and a
    /// sample of validation points in raw coordinates.
    fn boundary(&mut self, val: &[u32]) -> Boundary {
        let d = &self.data.train;
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for i in 0..d.len() {
            for j in 0..2 {
                lo[j] = lo[j].min(d.value(i, j));
                hi[j] = hi[j].max(d.value(i, j));
            }
        }
        let pad = |j: usize| 0.05 * (hi[j] - lo[j]).max(1e-3);
        let (x, y) = ((lo[0] - pad(0), hi[0] + pad(0)), (lo[1] - pad(1), hi[1] + pad(1)));
        let (cols, rows) = (BOUNDARY_GRID.0, BOUNDARY_GRID.1);
        let mut classes = Vec::with_capacity(cols * rows);
        let mut grid = Array2::zeros((cols, 2));
        for r in 0..rows {
            let gy = y.1 - (y.1 - y.0) * (r as f32 + 0.5) / rows as f32;
            for c in 0..cols {
                let gx = x.0 + (x.1 - x.0) * (c as f32 + 0.5) / cols as f32;
                grid[[c, 0]] = (gx - self.norm.offset[0]) * self.norm.scale[0];
                grid[[c, 1]] = (gy - self.norm.offset[1]) * self.norm.scale[1];
            }
            let logits = self.net.forward(grid.view(), &mut self.ws_eval);
            classes.extend(logits.rows().into_iter().map(|row| argmax(row) as u8));
        }
        let step = (val.len() / BOUNDARY_POINTS).max(1);
        let points = val
            .iter()
            .step_by(step)
            .map(|&i| (d.value(i as usize, 0), d.value(i as usize, 1), d.labels[i as usize]))
            .collect();
        Boundary { x, y, cols, rows, classes, points }
    }
}
