//! Throughput without events or commands (`fitcheck bench`).

use rand::seq::SliceRandom;
use std::time::Instant;

use super::Trainer;

/// Samples per second of training and of evaluation.
#[derive(Clone, Copy, Debug)]
pub struct Throughput {
    pub train: f64,
    pub eval: f64,
}

impl Trainer {
    /// One untimed warm-up step, then `epochs` timed epochs of training,
    /// then one timed pass over the validation split in eval mode.
    pub fn bench(&mut self, epochs: usize) -> Throughput {
        let batch = self.runner.batch();
        let mut order = std::mem::take(&mut self.order);
        self.train_batch(&order[..batch]);
        let t0 = Instant::now();
        let mut samples = 0usize;
        for _ in 0..epochs {
            order.shuffle(&mut self.rng);
            for idx in order.chunks(batch) {
                self.train_batch(idx);
                samples += idx.len();
            }
        }
        let train = samples as f64 / t0.elapsed().as_secs_f64();
        self.order = order;
        let val = std::mem::take(&mut self.split.val);
        let t1 = Instant::now();
        self.evaluate(&val, false);
        let eval = val.len() as f64 / t1.elapsed().as_secs_f64();
        self.split.val = val;
        Throughput { train, eval }
    }
}
