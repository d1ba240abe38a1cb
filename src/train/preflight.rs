//! Step 0 of the checklist, measured before the first training step: what
//! the network is about to be fed (the input scale and per-feature
//! statistics after normalization), what it says at initialisation (the
//! loss on a few batches against ln(classes), the loss of a uniform guess),
//! how the training labels are spread over the classes, and the initial
//! weight norm of every layer (so the diagnosis can tell later how far a
//! penalty has shrunk them). Pure functions of the data, the split, the
//! normalizer and the network: the trainer sends the result once, as
//! `Event::Preflight`, before epoch 1.

use ndarray::Array2;

use crate::data::{Dataset, Normalizer};
use crate::nn::Network;

/// Training samples the feature statistics are taken over.
pub const SAMPLES: usize = 1000;
/// Samples (a few batches' worth) the loss at initialisation is measured on.
pub const LOSS_SAMPLES: usize = 256;
/// A feature whose mean is farther than this from 0, or whose standard
/// deviation is above this, is off the scale a network is initialised for
/// (standardized features sit at mean 0, std 1; pixels scaled to [0, 1] at
/// mean ≤ 1, std ≤ 0.5; raw pixels at means up to ~140, stds up to ~120).
pub const FEATURE_SCALE: f32 = 3.0;

pub use crate::protocol::Preflight;

/// Measures step 0 on the training samples `train` of `data`, as `norm`
/// maps them, for `net` as initialised.
pub fn measure(net: &Network, data: &Dataset, train: &[u32], norm: &Normalizer) -> Preflight {
    let dim = data.dim;
    let sample = &train[..train.len().min(SAMPLES)];
    let mut x = Array2::<f32>::zeros((sample.len().max(1), dim));
    let mut y = vec![0u8; sample.len().max(1)];
    data.gather(sample, norm, x.view_mut(), &mut y);
    let x = x.slice(ndarray::s![..sample.len(), ..]);
    let stats = feature_stats(x);

    let n = sample.len().min(LOSS_SAMPLES);
    let init_loss = if n == 0 {
        f32::NAN
    } else {
        let mut ws = net.workspace(n, 0);
        let s = net.evaluate(x.slice(ndarray::s![..n, ..]), &y[..n], &mut ws);
        (s.loss / n as f64) as f32
    };
    let mut class_counts = vec![0usize; data.classes];
    for &i in train {
        if let Some(c) = class_counts.get_mut(data.labels[i as usize] as usize) {
            *c += 1;
        }
    }
    let weight_norms = net.layers().iter().map(|l| l.w.iter().map(|v| v * v).sum::<f32>().sqrt()).collect();
    Preflight {
        samples: sample.len(),
        input_max_abs: stats.max_abs,
        mean_range: stats.mean_range,
        std_range: stats.std_range,
        off_scale_share: stats.off_scale_share,
        features: dim,
        init_loss,
        chance_loss: (data.classes.max(2) as f32).ln(),
        class_counts,
        weight_norms,
    }
}

/// Per-feature statistics of a batch of inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureStats {
    pub max_abs: f32,
    pub mean_range: (f32, f32),
    pub std_range: (f32, f32),
    pub off_scale_share: f32,
}

/// Statistics of the columns of `x` (one row per sample).
pub fn feature_stats(x: ndarray::ArrayView2<f32>) -> FeatureStats {
    let (n, d) = x.dim();
    if n == 0 || d == 0 {
        return FeatureStats { max_abs: 0.0, mean_range: (0.0, 0.0), std_range: (0.0, 0.0), off_scale_share: 0.0 };
    }
    let (mut sum, mut sq) = (vec![0f64; d], vec![0f64; d]);
    let mut max_abs = 0f32;
    for row in x.rows() {
        for ((s, q), &v) in sum.iter_mut().zip(sq.iter_mut()).zip(row) {
            *s += v as f64;
            *q += (v as f64) * (v as f64);
            max_abs = max_abs.max(v.abs());
        }
    }
    let (mut mean_range, mut std_range) = ((f32::INFINITY, f32::NEG_INFINITY), (f32::INFINITY, f32::NEG_INFINITY));
    let mut off = 0usize;
    for (s, q) in sum.iter().zip(&sq) {
        let mean = s / n as f64;
        let std = (q / n as f64 - mean * mean).max(0.0).sqrt();
        let (mean, std) = (mean as f32, std as f32);
        mean_range = (mean_range.0.min(mean), mean_range.1.max(mean));
        std_range = (std_range.0.min(std), std_range.1.max(std));
        if mean.abs() > FEATURE_SCALE || std > FEATURE_SCALE {
            off += 1;
        }
    }
    FeatureStats { max_abs, mean_range, std_range, off_scale_share: off as f32 / d as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Features, Normalize};
    use crate::nn::{Activation, Init};
    use ndarray::array;
    use rand::SeedableRng;

    fn pixels(values: Vec<u8>, labels: Vec<u8>, dim: usize) -> Dataset {
        Dataset { features: Features::U8(values), labels, dim, classes: 2, image: None }
    }

    #[test]
    fn feature_statistics_find_columns_off_the_unit_scale() {
        let s = feature_stats(array![[0.0, 100.0], [1.0, 300.0], [-1.0, 200.0]].view());
        assert_eq!(s.max_abs, 300.0);
        assert!((s.mean_range.0 - 0.0).abs() < 1e-6 && (s.mean_range.1 - 200.0).abs() < 1e-3);
        assert!(s.std_range.1 > 80.0 && s.std_range.0 < 1.0);
        assert_eq!(s.off_scale_share, 0.5);
        let empty = feature_stats(Array2::<f32>::zeros((0, 3)).view());
        assert_eq!(empty.off_scale_share, 0.0);
    }

    #[test]
    fn raw_pixels_are_off_scale_and_scaled_ones_are_not() {
        let data = pixels(vec![0, 255, 255, 0, 128, 64, 10, 200], vec![0, 1, 0, 1], 2);
        let train = [0, 1, 2, 3];
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let net = Network::new(2, &[4], 2, Activation::Relu, Init::Auto, &mut rng);
        let raw = measure(&net, &data, &train, &Normalizer::fit(Normalize::None, &data, &train).unwrap());
        assert_eq!(raw.input_max_abs, 255.0);
        assert_eq!(raw.off_scale_share, 1.0);
        assert_eq!(raw.class_counts, vec![2, 2]);
        assert_eq!(raw.weight_norms.len(), 2);
        assert!((raw.chance_loss - 2f32.ln()).abs() < 1e-6);
        let scaled = measure(&net, &data, &train, &Normalizer::fit(Normalize::Scale255, &data, &train).unwrap());
        assert!(scaled.input_max_abs <= 1.0);
        assert_eq!(scaled.off_scale_share, 0.0);
        // The same network starts far worse on raw pixels: its logits are 255 times larger.
        assert!(scaled.init_loss < 2.0, "{}", scaled.init_loss);
        assert!(raw.init_loss > scaled.init_loss, "{} vs {}", raw.init_loss, scaled.init_loss);
    }
}
