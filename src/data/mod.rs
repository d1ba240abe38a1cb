//! Datasets: features kept as `u8` (images) with integer labels, the IDX
//! reader, the bundled MNIST, validation splits, and turning a batch of
//! indices into the `f32` matrix the engine trains on. No threads, no
//! knowledge of the rest of the program.

pub mod generated;
pub mod idx;
pub mod subset;

use std::path::{Path, PathBuf};

use ndarray::ArrayViewMut2;
use rand::rngs::{SmallRng, StdRng};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

pub use idx::{DataError, IdxFile, read_idx, read_idx_dims};

/// Labels are bytes: a dataset has at most this many classes (255, not
/// 256, so a class count itself also fits a byte).
pub const MAX_CLASSES: usize = 255;

/// Where the samples come from (a preset's `dataset`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DatasetSpec {
    /// The bundled `datasets/mnist/`.
    Mnist,
    /// Any MNIST-layout IDX folder (Fashion-MNIST, KMNIST, ...).
    Idx {
        dir: String,
    },
    FizzBuzz,
    Spirals {
        arms: u32,
        noise: f32,
    },
    Moons {
        noise: f32,
    },
    Circles {
        noise: f32,
    },
    Xor,
    Blobs {
        centers: u32,
        noise: f32,
    },
}

impl DatasetSpec {
    pub fn label(&self) -> String {
        match self {
            DatasetSpec::Mnist => "MNIST".into(),
            DatasetSpec::Idx { dir } => format!("IDX {dir}"),
            DatasetSpec::FizzBuzz => "FizzBuzz".into(),
            DatasetSpec::Spirals { arms, .. } => format!("spirals ({arms} arms)"),
            DatasetSpec::Moons { .. } => "moons".into(),
            DatasetSpec::Circles { .. } => "circles".into(),
            DatasetSpec::Xor => "XOR".into(),
            DatasetSpec::Blobs { centers, .. } => format!("blobs ({centers})"),
        }
    }

    /// What a generated set's parameters allow: at least 2 classes (one
    /// class is nothing to learn) and at most [`MAX_CLASSES`] (labels are
    /// bytes). Refused rather than silently changed.
    pub fn check(&self) -> Result<(), String> {
        let (what, one, n) = match *self {
            DatasetSpec::Spirals { arms, .. } => ("arms", "arm", arms),
            DatasetSpec::Blobs { centers, .. } => ("centers", "center", centers),
            _ => return Ok(()),
        };
        if n < 2 {
            return Err(format!("{what} must be at least 2 (one class per {one}), got {n}"));
        }
        if n as usize > MAX_CLASSES {
            return Err(format!("{what} must be at most {MAX_CLASSES} (labels are bytes), got {n}"));
        }
        Ok(())
    }

    /// The set's sizes without loading it: constants for the generated sets,
    /// the headers alone for IDX folders. Cheap, so sizes can be checked
    /// before anything large is read or allocated.
    pub fn shape(&self, mnist_dir: &Path) -> Result<DataShape, DataError> {
        self.check().map_err(DataError::Spec)?;
        let two_d = |classes| DataShape {
            train: generated::POINTS_TRAIN,
            test: generated::POINTS_TEST,
            dim: 2,
            classes,
            image: None,
            bytes_per_value: 4,
        };
        Ok(match *self {
            DatasetSpec::Mnist => idx_dir_shape(mnist_dir)?,
            DatasetSpec::Idx { ref dir } => idx_dir_shape(Path::new(dir))?,
            DatasetSpec::FizzBuzz => DataShape {
                train: generated::FIZZBUZZ_TRAIN.count(),
                test: generated::FIZZBUZZ_TEST.count(),
                dim: generated::FIZZBUZZ_BITS,
                classes: 4,
                image: None,
                bytes_per_value: 4,
            },
            DatasetSpec::Spirals { arms: n, .. } | DatasetSpec::Blobs { centers: n, .. } => two_d(n as usize),
            DatasetSpec::Moons { .. } | DatasetSpec::Circles { .. } | DatasetSpec::Xor => two_d(2),
        })
    }

    /// Loads or generates the set; `mnist_dir` is where `Mnist` lives and
    /// `seed` seeds the generated sets.
    pub fn load(&self, mnist_dir: &Path, seed: u64) -> Result<TrainTest, DataError> {
        self.check().map_err(DataError::Spec)?;
        Ok(match *self {
            DatasetSpec::Mnist => load_idx_dir(mnist_dir, "MNIST")?,
            DatasetSpec::Idx { ref dir } => load_idx_dir(Path::new(dir), dir)?,
            DatasetSpec::FizzBuzz => generated::fizzbuzz(),
            DatasetSpec::Spirals { arms, noise } => generated::spirals(arms, noise, seed),
            DatasetSpec::Moons { noise } => generated::moons(noise, seed),
            DatasetSpec::Circles { noise } => generated::circles(noise, seed),
            DatasetSpec::Xor => generated::xor(seed),
            DatasetSpec::Blobs { centers, noise } => generated::blobs(centers, noise, seed),
        })
    }
}

/// Data augmentation of training samples, drawn afresh for every batch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Augment {
    None,
    /// Each training image shifted by up to `pixels` in x and y (uniform,
    /// independently), the uncovered border filled with background 0.
    Shift {
        pixels: u32,
    },
}

/// How raw feature values become network inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Normalize {
    /// Raw values (0..255 pixels): the lesson's first, failing attempt.
    None,
    /// Divide by 255, so pixels lie in [0, 1].
    Scale255,
    /// Per-feature mean 0 and std 1, statistics from the training split only.
    Standardize,
}

impl Normalize {
    /// Whether this map suits the features: `Scale255` is for bytes only.
    pub fn check(self, byte_features: bool) -> Result<(), String> {
        if self == Normalize::Scale255 && !byte_features {
            return Err("Scale255 is for 0..255 pixel data; this dataset has real-valued features: use None or \
                        Standardize"
                .into());
        }
        Ok(())
    }
}

/// The features of a dataset: bytes (images) or real values (generated sets).
#[derive(Clone, Debug, PartialEq)]
pub enum Features {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

/// A dataset's sizes, known before it is loaded ([`DatasetSpec::shape`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataShape {
    /// Samples in the training pool (validation is carved from it) and the test set.
    pub train: usize,
    pub test: usize,
    /// Features per sample.
    pub dim: usize,
    pub classes: usize,
    /// `(rows, cols)` when the features are an image.
    pub image: Option<(usize, usize)>,
    /// 1 for byte features (images), 4 for `f32` (generated sets).
    pub bytes_per_value: usize,
}

impl DataShape {
    /// Bytes the loaded features and labels take.
    pub fn bytes(&self) -> f64 {
        let samples = (self.train + self.test) as f64;
        samples * (self.dim as f64 * self.bytes_per_value as f64 + 1.0)
    }
}

/// A labelled set of samples of `dim` features each.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// `len() * dim` values, sample after sample.
    pub features: Features,
    pub labels: Vec<u8>,
    pub dim: usize,
    pub classes: usize,
    /// `(rows, cols)` when the features are an image.
    pub image: Option<(usize, usize)>,
}

/// The affine map from raw features to inputs: `(x - offset_j) * scale_j`.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalizer {
    pub offset: Vec<f32>,
    pub scale: Vec<f32>,
}

/// A standard deviation below this counts as a constant feature (MNIST's
/// always-blank border pixels): it is centred but not scaled.
const MIN_STD: f64 = 1e-6;

impl Normalizer {
    /// The map for `kind`, with `Standardize`'s statistics from the samples
    /// `train` only (never validation or test).
    pub fn fit(kind: Normalize, data: &Dataset, train: &[u32]) -> Result<Normalizer, String> {
        let d = data.dim;
        match kind {
            Normalize::None => Ok(Normalizer { offset: vec![0.0; d], scale: vec![1.0; d] }),
            Normalize::Scale255 => match data.features {
                Features::U8(_) => Ok(Normalizer { offset: vec![0.0; d], scale: vec![1.0 / 255.0; d] }),
                Features::F32(_) => Err(kind.check(false).err().unwrap_or_default()),
            },
            Normalize::Standardize => {
                let (mut sum, mut sq) = (vec![0f64; d], vec![0f64; d]);
                for &i in train {
                    for (j, (s, q)) in sum.iter_mut().zip(sq.iter_mut()).enumerate() {
                        let v = data.value(i as usize, j) as f64;
                        *s += v;
                        *q += v * v;
                    }
                }
                let n = train.len().max(1) as f64;
                let mut offset = Vec::with_capacity(d);
                let mut scale = Vec::with_capacity(d);
                for (s, q) in sum.iter().zip(&sq) {
                    let mean = s / n;
                    let std = (q / n - mean * mean).max(0.0).sqrt();
                    offset.push(mean as f32);
                    scale.push(if std < MIN_STD { 1.0 } else { (1.0 / std) as f32 });
                }
                Ok(Normalizer { offset, scale })
            }
        }
    }

    /// The largest absolute input this map produces on `data`'s samples
    /// `indices` (the diagnosis's "feature scale").
    pub fn max_abs(&self, data: &Dataset, indices: &[u32]) -> f32 {
        let mut m = 0f32;
        for &i in indices {
            for j in 0..data.dim {
                m = m.max(((data.value(i as usize, j) - self.offset[j]) * self.scale[j]).abs());
            }
        }
        m
    }
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Raw feature `j` of sample `i`.
    pub fn value(&self, i: usize, j: usize) -> f32 {
        match &self.features {
            Features::U8(v) => v[i * self.dim + j] as f32,
            Features::F32(v) => v[i * self.dim + j],
        }
    }

    /// Fills the first `indices.len()` rows of `out` with the samples at
    /// `indices`, normalised, and `labels` with their labels. This is where
    /// `u8` becomes `f32`, one batch at a time.
    pub fn gather(&self, indices: &[u32], norm: &Normalizer, mut out: ArrayViewMut2<f32>, labels: &mut [u8]) {
        debug_assert_eq!(out.ncols(), self.dim);
        debug_assert!(out.nrows() >= indices.len() && labels.len() >= indices.len());
        let (off, sc) = (&norm.offset[..], &norm.scale[..]);
        for (k, &i) in indices.iter().enumerate() {
            let i = i as usize;
            let mut row = out.row_mut(k);
            let dst = row.as_slice_mut().expect("batch rows are contiguous");
            let range = i * self.dim..(i + 1) * self.dim;
            match &self.features {
                Features::U8(v) => {
                    for (((d, &s), &o), &c) in dst.iter_mut().zip(&v[range]).zip(off).zip(sc) {
                        *d = (s as f32 - o) * c;
                    }
                }
                Features::F32(v) => {
                    for (((d, &s), &o), &c) in dst.iter_mut().zip(&v[range]).zip(off).zip(sc) {
                        *d = (s - o) * c;
                    }
                }
            }
            labels[k] = self.labels[i];
        }
    }

    /// [`Dataset::gather`] with each image shifted by up to `pixels` in x
    /// and y. The shift of the sample at batch position `k` is drawn from
    /// `seed` and `k` alone, so it does not depend on how the batch is
    /// split across threads. Images only (`image` is set).
    #[allow(clippy::too_many_arguments)]
    pub fn gather_shifted(
        &self,
        indices: &[u32],
        positions: std::ops::Range<usize>,
        norm: &Normalizer,
        pixels: u32,
        seed: u64,
        mut out: ArrayViewMut2<f32>,
        labels: &mut [u8],
    ) {
        let (h, w) = self.image.expect("shift augmentation needs images");
        let p = pixels as i64;
        for ((k, &i), pos) in indices.iter().enumerate().zip(positions) {
            let mut rng = SmallRng::seed_from_u64(seed ^ (pos as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let dy = rng.random_range(-p..=p);
            let dx = rng.random_range(-p..=p);
            let i = i as usize;
            let mut row = out.row_mut(k);
            let dst = row.as_slice_mut().expect("batch rows are contiguous");
            for y in 0..h as i64 {
                for x in 0..w as i64 {
                    let j = (y * w as i64 + x) as usize;
                    let (sy, sx) = (y - dy, x - dx);
                    let raw = if sy < 0 || sx < 0 || sy >= h as i64 || sx >= w as i64 {
                        0.0
                    } else {
                        self.value(i, (sy * w as i64 + sx) as usize)
                    };
                    dst[j] = (raw - norm.offset[j]) * norm.scale[j];
                }
            }
            labels[k] = self.labels[i];
        }
    }
}

/// A training set with its held-out test set.
#[derive(Clone, Debug)]
pub struct TrainTest {
    pub name: String,
    pub train: Dataset,
    pub test: Dataset,
}

/// Which samples of the training set train and which validate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<u32>,
    pub val: Vec<u32>,
}

/// Takes `n` of `pool` (already shuffled) keeping each class's share
/// (largest remainders): returns (taken, the rest), each in pool order.
fn stratified_take(pool: &[u32], labels: &[u8], classes: usize, n: usize) -> (Vec<u32>, Vec<u32>) {
    let mut counts = vec![0usize; classes];
    pool.iter().for_each(|&i| counts[labels[i as usize] as usize] += 1);
    let total = pool.len().max(1);
    let exact: Vec<f64> = counts.iter().map(|&c| c as f64 * n as f64 / total as f64).collect();
    let mut quota: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..classes).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    let mut missing = n.saturating_sub(quota.iter().sum());
    for &c in order.iter().cycle().take(classes * 2) {
        if missing == 0 {
            break;
        }
        if quota[c] < counts[c] {
            quota[c] += 1;
            missing -= 1;
        }
    }
    let (mut taken, mut rest) = (Vec::with_capacity(n), Vec::with_capacity(pool.len() - n.min(pool.len())));
    for &i in pool {
        let c = labels[i as usize] as usize;
        if quota[c] > 0 {
            quota[c] -= 1;
            taken.push(i);
        } else {
            rest.push(i);
        }
    }
    (taken, rest)
}

impl Split {
    /// The training samples a split of a pool of `n` takes, or the field
    /// (`val_size` or `train_size`) that asks for more than there is.
    pub fn sizes(n: usize, val_size: usize, train_size: Option<usize>) -> Result<usize, (&'static str, String)> {
        if val_size >= n {
            return Err(("val_size", format!("val_size {val_size} leaves no training data out of {n} samples")));
        }
        let available = n - val_size;
        let train_size = train_size.unwrap_or(available);
        if train_size > available {
            return Err((
                "train_size",
                format!("train_size {train_size} is more than the {available} samples left after val_size {val_size}"),
            ));
        }
        Ok(train_size)
    }

    /// A seeded split of a training set: `val_size` samples for validation,
    /// then `train_size` (all the rest when `None`) for training, each
    /// stratified (every class keeps its share). Disjoint by construction;
    /// the test set is never touched.
    pub fn new(data: &Dataset, val_size: usize, train_size: Option<usize>, seed: u64) -> Result<Split, String> {
        let n = data.len();
        let train_size = Split::sizes(n, val_size, train_size).map_err(|(_, m)| m)?;
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x5EED_5B17));
        let (val, rest) = stratified_take(&order, &data.labels, data.classes, val_size);
        let (train, _) = stratified_take(&rest, &data.labels, data.classes, train_size);
        Ok(Split { train, val })
    }
}

/// Replaces the labels of `round(rate × train.len())` of the training
/// samples, chosen at random, by a random *other* class. Returns the
/// indices changed. Validation and test labels are never touched.
pub fn add_label_noise(data: &mut Dataset, train: &[u32], rate: f32, seed: u64) -> Vec<u32> {
    let count = (rate as f64 * train.len() as f64).round() as usize;
    if count == 0 || data.classes < 2 {
        return Vec::new();
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x0015_E000);
    let mut chosen = train.to_vec();
    chosen.shuffle(&mut rng);
    chosen.truncate(count);
    for &i in &chosen {
        let old = data.labels[i as usize];
        let other = rng.random_range(0..data.classes as u8 - 1);
        data.labels[i as usize] = if other >= old { other + 1 } else { other };
    }
    chosen
}

/// The four MNIST-style files of an IDX folder, each raw or gzipped.
pub const IDX_FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// Finds `name` or `name.gz` in `dir`.
fn find_file(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    for candidate in [dir.join(name), dir.join(format!("{name}.gz"))] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(DataError::Missing { dir: dir.to_path_buf(), name: name.to_string() })
}

/// Reads an image file and its label file into a [`Dataset`], checking that they agree.
fn load_pair(dir: &Path, images: &str, labels: &str, classes: usize) -> Result<Dataset, DataError> {
    let img_path = find_file(dir, images)?;
    let lbl_path = find_file(dir, labels)?;
    let img = read_idx(&img_path)?;
    let lbl = read_idx(&lbl_path)?;
    if img.dims.len() != 3 {
        return Err(DataError::Shape { path: img_path, want: "3 dimensions (count, rows, cols)", dims: img.dims });
    }
    if lbl.dims.len() != 1 {
        return Err(DataError::Shape { path: lbl_path, want: "1 dimension (count)", dims: lbl.dims });
    }
    if img.dims[0] != lbl.dims[0] {
        return Err(DataError::CountMismatch {
            images: img_path,
            image_count: img.dims[0],
            labels: lbl_path,
            label_count: lbl.dims[0],
        });
    }
    if img.dims[0] == 0 {
        return Err(DataError::Empty { path: img_path });
    }
    if img.dims[1] == 0 || img.dims[2] == 0 {
        return Err(DataError::Shape { path: img_path, want: IMAGE_SIZE, dims: img.dims });
    }
    if let Some(index) = lbl.data.iter().position(|&y| y as usize >= classes) {
        return Err(DataError::LabelOutOfRange { path: lbl_path, index, label: lbl.data[index], classes });
    }
    let (rows, cols) = (img.dims[1], img.dims[2]);
    Ok(Dataset {
        features: Features::U8(img.data),
        labels: lbl.data,
        dim: rows * cols,
        classes,
        image: Some((rows, cols)),
    })
}

const IMAGE_SIZE: &str = "images of at least 1x1 pixels";

/// The shape of an MNIST-layout IDX folder from its four headers, checked
/// as [`load_idx_dir`] checks the files (except the data's length).
fn idx_dir_shape(dir: &Path) -> Result<DataShape, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NoFolder { dir: dir.to_path_buf() });
    }
    let mut counts = [0usize; 2];
    let mut sizes = [(0usize, 0usize); 2];
    for (k, (images, labels)) in [(IDX_FILES[0], IDX_FILES[1]), (IDX_FILES[2], IDX_FILES[3])].into_iter().enumerate() {
        let (img_path, lbl_path) = (find_file(dir, images)?, find_file(dir, labels)?);
        let img = read_idx_dims(&img_path)?;
        let lbl = read_idx_dims(&lbl_path)?;
        if img.len() != 3 {
            return Err(DataError::Shape { path: img_path, want: "3 dimensions (count, rows, cols)", dims: img });
        }
        if lbl.len() != 1 {
            return Err(DataError::Shape { path: lbl_path, want: "1 dimension (count)", dims: lbl });
        }
        if img[0] != lbl[0] {
            return Err(DataError::CountMismatch {
                images: img_path,
                image_count: img[0],
                labels: lbl_path,
                label_count: lbl[0],
            });
        }
        if img[0] == 0 {
            return Err(DataError::Empty { path: img_path });
        }
        if img[1] == 0 || img[2] == 0 {
            return Err(DataError::Shape { path: img_path, want: IMAGE_SIZE, dims: img });
        }
        counts[k] = img[0];
        sizes[k] = (img[1], img[2]);
    }
    if sizes[0].0.checked_mul(sizes[0].1) != sizes[1].0.checked_mul(sizes[1].1) {
        return Err(DataError::Shape {
            path: find_file(dir, IDX_FILES[2])?,
            want: "the same image size as the training images",
            dims: vec![counts[1], sizes[1].0, sizes[1].1],
        });
    }
    Ok(DataShape {
        train: counts[0],
        test: counts[1],
        dim: sizes[0].0.saturating_mul(sizes[0].1),
        classes: 10,
        image: Some(sizes[0]),
        bytes_per_value: 1,
    })
}

/// Loads an MNIST-layout IDX folder (MNIST, Fashion-MNIST, KMNIST: 10 classes).
pub fn load_idx_dir(dir: &Path, name: &str) -> Result<TrainTest, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NoFolder { dir: dir.to_path_buf() });
    }
    let train = load_pair(dir, IDX_FILES[0], IDX_FILES[1], 10)?;
    let test = load_pair(dir, IDX_FILES[2], IDX_FILES[3], 10)?;
    if train.dim != test.dim {
        return Err(DataError::Shape {
            path: find_file(dir, IDX_FILES[2])?,
            want: "the same image size as the training images",
            dims: vec![test.dim],
        });
    }
    Ok(TrainTest { name: name.to_string(), train, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize, classes: usize) -> Dataset {
        Dataset {
            features: Features::U8((0..n * 2).map(|v| (v % 256) as u8).collect()),
            labels: (0..n).map(|i| (i % classes) as u8).collect(),
            dim: 2,
            classes,
            image: None,
        }
    }

    #[test]
    fn split_is_disjoint_sized_stratified_and_seeded() {
        let data = toy(1000, 4);
        let s = Split::new(&data, 200, Some(500), 1).unwrap();
        assert_eq!((s.train.len(), s.val.len()), (500, 200));
        let val: std::collections::HashSet<u32> = s.val.iter().copied().collect();
        assert!(s.train.iter().all(|i| !val.contains(i)));
        for part in [&s.train, &s.val] {
            let mut counts = [0usize; 4];
            part.iter().for_each(|&i| counts[data.labels[i as usize] as usize] += 1);
            let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(hi - lo <= 1, "{counts:?}");
        }
        assert_eq!(s, Split::new(&data, 200, Some(500), 1).unwrap());
        assert_ne!(s, Split::new(&data, 200, Some(500), 2).unwrap());
        assert!(Split::new(&data, 200, Some(801), 1).is_err());
        assert!(Split::new(&data, 1000, None, 1).is_err());
    }

    #[test]
    fn gather_scales_pixels_into_the_unit_interval() {
        let ds = Dataset {
            features: Features::U8(vec![0, 255, 51, 102]),
            labels: vec![3, 4],
            dim: 2,
            classes: 10,
            image: None,
        };
        let norm = Normalizer::fit(Normalize::Scale255, &ds, &[0, 1]).unwrap();
        let mut out = ndarray::Array2::zeros((3, 2));
        let mut labels = [0u8; 3];
        ds.gather(&[1, 0], &norm, out.view_mut(), &mut labels);
        assert_eq!(out.row(0).to_vec(), vec![51.0 * (1.0f32 / 255.0), 102.0 * (1.0f32 / 255.0)]);
        assert_eq!(out.row(1).to_vec(), vec![0.0, 1.0]);
        assert_eq!(&labels[..2], &[4, 3]);
    }

    #[test]
    fn standardization_uses_the_training_split_only() {
        let ds = Dataset {
            features: Features::F32(vec![1.0, 5.0, 3.0, 5.0, 100.0, 5.0]),
            labels: vec![0, 1, 0],
            dim: 2,
            classes: 2,
            image: None,
        };
        let norm = Normalizer::fit(Normalize::Standardize, &ds, &[0, 1]).unwrap();
        // Feature 0 over samples 0 and 1 only: mean 2, std 1; sample 2's 100 ignored.
        assert_eq!(norm.offset, vec![2.0, 5.0]);
        assert_eq!(norm.scale, vec![1.0, 1.0], "a constant feature is centred, not scaled");
        let mut out = ndarray::Array2::zeros((2, 2));
        ds.gather(&[0, 1], &norm, out.view_mut(), &mut [0; 2]);
        assert_eq!(out.as_slice().unwrap(), &[-1.0, 0.0, 1.0, 0.0]);
        assert!(Normalizer::fit(Normalize::Scale255, &ds, &[0]).is_err());
    }

    #[test]
    fn label_noise_changes_the_requested_share_to_other_classes() {
        let mut data = toy(1000, 10);
        let before = data.labels.clone();
        let split = Split::new(&data, 100, None, 3).unwrap();
        let changed = add_label_noise(&mut data, &split.train, 0.2, 3);
        assert_eq!(changed.len(), 180);
        let differ = (0..1000).filter(|&i| data.labels[i] != before[i]).count();
        assert_eq!(differ, 180, "every chosen label moves to another class");
        assert!(split.val.iter().all(|&i| data.labels[i as usize] == before[i as usize]));
        assert!(data.labels.iter().all(|&l| l < 10));
    }

    #[test]
    fn shifts_keep_the_image_size_and_move_the_content() {
        // A 5x5 image with one bright pixel in the middle.
        let mut px = vec![0u8; 25];
        px[12] = 255;
        let ds = Dataset { features: Features::U8(px), labels: vec![7], dim: 25, classes: 10, image: Some((5, 5)) };
        let norm = Normalizer::fit(Normalize::Scale255, &ds, &[0]).unwrap();
        let mut seen = std::collections::HashSet::new();
        for seed in 0..200 {
            let mut out = ndarray::Array2::zeros((1, 25));
            let mut y = [0u8];
            ds.gather_shifted(&[0], 0..1, &norm, 2, seed, out.view_mut(), &mut y);
            assert_eq!(y[0], 7);
            let lit: Vec<usize> = out.iter().enumerate().filter(|(_, v)| **v > 0.5).map(|(i, _)| i).collect();
            assert_eq!(lit.len(), 1, "a shift by up to 2 keeps the centre pixel inside");
            let (r, c) = (lit[0] / 5, lit[0] % 5);
            assert!(r.abs_diff(2) <= 2 && c.abs_diff(2) <= 2);
            seen.insert(lit[0]);
        }
        assert_eq!(seen.len(), 25, "every shift in [-2, 2]² occurs");
    }
}
