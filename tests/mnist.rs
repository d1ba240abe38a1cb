//! The bundled MNIST against the published facts in its README.

mod common;

use common::mnist;
use fitcheck::data::Features;

#[test]
fn label_counts_match_the_published_ones() {
    let data = mnist();
    let count = |labels: &[u8]| {
        let mut c = [0usize; 10];
        labels.iter().for_each(|&y| c[y as usize] += 1);
        c
    };
    assert_eq!(count(&data.train.labels), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert_eq!(count(&data.test.labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    assert_eq!((data.train.len(), data.test.len(), data.train.dim), (60_000, 10_000, 784));
}

#[test]
fn mean_training_pixel_is_33_318() {
    let data = mnist();
    let Features::U8(pixels) = &data.train.features else { panic!("MNIST keeps its pixels as u8") };
    let sum: u64 = pixels.iter().map(|&p| p as u64).sum();
    let mean = sum as f64 / pixels.len() as f64;
    assert!((mean - 33.318).abs() < 0.001, "{mean}");
    assert_eq!(pixels.iter().max(), Some(&255));
}
