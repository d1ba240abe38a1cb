//! The generated datasets, seeded and deterministic: FizzBuzz (the
//! lecture's "bigger network" story) and the two-dimensional sets of
//! TensorFlow Playground (spirals, moons, circles, XOR, gaussian blobs).
//! Each comes with a training pool and a test set of its own; validation is
//! carved from the training pool like any other dataset. The 2-D sets keep
//! their raw coordinates as features, so the decision-boundary view can
//! draw them; normalization happens when a batch is gathered.

use std::f32::consts::PI;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use super::{Dataset, Features, TrainTest};

/// Points in a generated 2-D training pool, and in its test set.
pub const POINTS_TRAIN: usize = 3000;
pub const POINTS_TEST: usize = 1000;
/// FizzBuzz trains on 101..=1023 and tests on 1..=100 (the classic setup).
pub const FIZZBUZZ_TRAIN: std::ops::RangeInclusive<u32> = 101..=1023;
pub const FIZZBUZZ_TEST: std::ops::RangeInclusive<u32> = 1..=100;
/// Binary digits FizzBuzz encodes n in.
pub const FIZZBUZZ_BITS: usize = 10;

/// 0: the number itself, 1: Fizz, 2: Buzz, 3: FizzBuzz.
pub fn fizzbuzz_label(n: u32) -> u8 {
    match (n.is_multiple_of(3), n.is_multiple_of(5)) {
        (true, true) => 3,
        (true, false) => 1,
        (false, true) => 2,
        (false, false) => 0,
    }
}

fn fizzbuzz_set(range: std::ops::RangeInclusive<u32>) -> Dataset {
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for n in range {
        features.extend((0..FIZZBUZZ_BITS).map(|b| ((n >> b) & 1) as f32));
        labels.push(fizzbuzz_label(n));
    }
    Dataset { features: Features::F32(features), labels, dim: FIZZBUZZ_BITS, classes: 4, image: None }
}

/// FizzBuzz: n in 10 binary digits (least significant first), 4 classes.
pub fn fizzbuzz() -> TrainTest {
    TrainTest { name: "FizzBuzz".into(), train: fizzbuzz_set(FIZZBUZZ_TRAIN), test: fizzbuzz_set(FIZZBUZZ_TEST) }
}

/// A 2-D set: `point(i, rng)` gives the i-th point and its class.
fn two_d(
    name: &str,
    classes: usize,
    seed: u64,
    mut point: impl FnMut(usize, usize, &mut StdRng) -> ((f32, f32), u8),
) -> TrainTest {
    let mut make = |n: usize, seed: u64| {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut features = Vec::with_capacity(2 * n);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let ((x, y), c) = point(i, n, &mut rng);
            features.extend([x, y]);
            labels.push(c);
        }
        Dataset { features: Features::F32(features), labels, dim: 2, classes, image: None }
    };
    let train = make(POINTS_TRAIN, seed);
    let test = make(POINTS_TEST, seed ^ 0x7E57);
    TrainTest { name: name.into(), train, test }
}

fn gaussian(noise: f32) -> Normal<f32> {
    Normal::new(0.0, noise.max(0.0)).expect("a non-negative spread")
}

/// `arms` interleaved spiral arms, one class each, radius up to 1. The
/// count is the caller's to check ([`super::DatasetSpec::check`]: 2 to
/// 255); outside that, the set is still made, with no wrapped labels.
pub fn spirals(arms: u32, noise: f32, seed: u64) -> TrainTest {
    let arms = (arms as usize).clamp(1, super::MAX_CLASSES);
    let g = gaussian(noise);
    two_d("spirals", arms, seed, |i, _, rng| {
        let c = i % arms;
        let t: f32 = rng.random_range(0.0..1.0);
        // 1.75 turns per arm, as TensorFlow Playground's spiral.
        let theta = 1.75 * 2.0 * PI * t + c as f32 * 2.0 * PI / arms as f32;
        ((t * theta.sin() + g.sample(rng), t * theta.cos() + g.sample(rng)), c as u8)
    })
}

/// Two interleaving half circles (as scikit-learn's `make_moons`).
pub fn moons(noise: f32, seed: u64) -> TrainTest {
    let g = gaussian(noise);
    two_d("moons", 2, seed, |i, _, rng| {
        let t: f32 = rng.random_range(0.0..PI);
        let c = i % 2;
        let (x, y) = if c == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
        ((x - 0.5 + g.sample(rng), y - 0.25 + g.sample(rng)), c as u8)
    })
}

/// A circle inside a ring: radius 0.5 (class 1) within radius 1 (class 0).
pub fn circles(noise: f32, seed: u64) -> TrainTest {
    let g = gaussian(noise);
    two_d("circles", 2, seed, |i, _, rng| {
        let c = i % 2;
        let r = if c == 0 { 1.0 } else { 0.5 };
        let t: f32 = rng.random_range(0.0..2.0 * PI);
        ((r * t.cos() + g.sample(rng), r * t.sin() + g.sample(rng)), c as u8)
    })
}

/// XOR: points in [-1, 1]², class 1 where x and y have different signs.
pub fn xor(seed: u64) -> TrainTest {
    two_d("XOR", 2, seed, |_, _, rng| {
        let x: f32 = rng.random_range(-1.0..1.0);
        let y: f32 = rng.random_range(-1.0..1.0);
        ((x, y), u8::from((x > 0.0) != (y > 0.0)))
    })
}

/// Gaussian blobs of spread `noise` around `centers` points on the unit
/// circle. The count is the caller's to check, as for [`spirals`].
pub fn blobs(centers: u32, noise: f32, seed: u64) -> TrainTest {
    let k = (centers as usize).clamp(1, super::MAX_CLASSES);
    let g = gaussian(noise);
    two_d("blobs", k, seed, |i, _, rng| {
        let c = i % k;
        let a = 2.0 * PI * c as f32 / k as f32;
        ((a.cos() + g.sample(rng), a.sin() + g.sample(rng)), c as u8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fizzbuzz_labels_for_1_to_100() {
        let t = fizzbuzz();
        assert_eq!(t.test.len(), 100);
        assert_eq!(t.train.len(), 923);
        let labels = &t.test.labels;
        assert_eq!(&labels[..15], &[0, 0, 1, 0, 2, 1, 0, 0, 1, 2, 0, 1, 0, 0, 3]);
        assert_eq!(labels.iter().filter(|&&l| l == 3).count(), 6); // 15 30 45 60 75 90
        assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 27); // multiples of 3 but not 15
        assert_eq!(labels.iter().filter(|&&l| l == 2).count(), 14);
        // n = 6 is 0b0000000110, least significant bit first.
        let Features::F32(f) = &t.test.features else { panic!("f32 features") };
        assert_eq!(&f[50..60], &[0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn two_d_sets_are_seeded_balanced_and_in_range() {
        for set in [spirals(3, 0.05, 1), moons(0.1, 1), circles(0.05, 1), xor(1), blobs(4, 0.2, 1)] {
            assert_eq!(set.train.dim, 2);
            assert_eq!(set.train.len(), POINTS_TRAIN);
            assert_eq!(set.test.len(), POINTS_TEST);
            let Features::F32(f) = &set.train.features else { panic!("f32 features") };
            assert!(f.iter().all(|v| v.is_finite() && v.abs() < 3.0), "{}", set.name);
            let mut counts = vec![0usize; set.train.classes];
            set.train.labels.iter().for_each(|&c| counts[c as usize] += 1);
            let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(hi - lo <= POINTS_TRAIN / 5, "{} classes {counts:?}", set.name);
        }
        assert_eq!(spirals(3, 0.1, 5).train.features, spirals(3, 0.1, 5).train.features);
        assert_ne!(spirals(3, 0.1, 5).train.features, spirals(3, 0.1, 6).train.features);
    }
}
