//! Datasets: features kept as `u8` (images) with integer labels, the IDX
//! reader, the bundled MNIST, validation splits, and turning a batch of
//! indices into the `f32` matrix the engine trains on. No threads, no
//! knowledge of the rest of the program.

pub mod idx;

use std::path::{Path, PathBuf};

use ndarray::ArrayViewMut2;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

pub use idx::{DataError, IdxFile, read_idx};

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

/// A labelled set of `n` samples of `dim` `u8` features each.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// `n * dim` values, sample after sample.
    pub features: Vec<u8>,
    pub labels: Vec<u8>,
    pub dim: usize,
    pub classes: usize,
    /// `(rows, cols)` when the features are an image.
    pub image: Option<(usize, usize)>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Fills the first `indices.len()` rows of `out` with the samples at
    /// `indices`, each value multiplied by `scale`, and `labels` with their
    /// labels. This is where `u8` becomes `f32`, one batch at a time.
    pub fn gather(&self, indices: &[u32], scale: f32, mut out: ArrayViewMut2<f32>, labels: &mut [u8]) {
        debug_assert_eq!(out.ncols(), self.dim);
        debug_assert!(out.nrows() >= indices.len() && labels.len() >= indices.len());
        for (k, &i) in indices.iter().enumerate() {
            let i = i as usize;
            let src = &self.features[i * self.dim..(i + 1) * self.dim];
            let mut row = out.row_mut(k);
            let dst = row.as_slice_mut().expect("batch rows are contiguous");
            dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s as f32 * scale);
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

impl Split {
    /// A seeded random split: `val_size` samples for validation, then up to
    /// `train_size` (all the rest when `None`) for training. Disjoint by
    /// construction; the test set is never touched.
    pub fn new(n: usize, val_size: usize, train_size: Option<usize>, seed: u64) -> Result<Split, String> {
        if val_size >= n {
            return Err(format!("val_size {val_size} leaves no training data out of {n} samples"));
        }
        let available = n - val_size;
        let train_size = train_size.unwrap_or(available);
        if train_size > available {
            return Err(format!(
                "train_size {train_size} is more than the {available} samples left after val_size {val_size}"
            ));
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x5EED_5B17));
        let val = order[..val_size].to_vec();
        let train = order[val_size..val_size + train_size].to_vec();
        Ok(Split { train, val })
    }
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
    if let Some(index) = lbl.data.iter().position(|&y| y as usize >= classes) {
        return Err(DataError::LabelOutOfRange { path: lbl_path, index, label: lbl.data[index], classes });
    }
    let (rows, cols) = (img.dims[1], img.dims[2]);
    Ok(Dataset { features: img.data, labels: lbl.data, dim: rows * cols, classes, image: Some((rows, cols)) })
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

    #[test]
    fn split_is_disjoint_sized_and_seeded() {
        let s = Split::new(100, 20, Some(50), 1).unwrap();
        assert_eq!((s.train.len(), s.val.len()), (50, 20));
        assert!(s.train.iter().all(|i| !s.val.contains(i)));
        assert_eq!(s, Split::new(100, 20, Some(50), 1).unwrap());
        assert_ne!(s, Split::new(100, 20, Some(50), 2).unwrap());
        assert!(Split::new(100, 20, Some(81), 1).is_err());
        assert!(Split::new(100, 100, None, 1).is_err());
    }

    #[test]
    fn gather_scales_pixels_into_the_unit_interval() {
        let ds = Dataset { features: vec![0, 255, 51, 102], labels: vec![3, 4], dim: 2, classes: 10, image: None };
        let mut out = ndarray::Array2::zeros((3, 2));
        let mut labels = [0u8; 3];
        ds.gather(&[1, 0], 1.0 / 255.0, out.view_mut(), &mut labels);
        assert_eq!(out.row(0).to_vec(), vec![51.0 * (1.0f32 / 255.0), 102.0 * (1.0f32 / 255.0)]);
        assert_eq!(out.row(1).to_vec(), vec![0.0, 1.0]);
        assert_eq!(&labels[..2], &[4, 3]);
    }
}
