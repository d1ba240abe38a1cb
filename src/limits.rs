//! Memory: what a preset will allocate, estimated from its fields and the
//! dataset's shape before anything is built, and what the machine can give.
//! A preset that would not fit is refused (exit 2, with the estimate) rather
//! than aborting on a failed allocation or pushing the machine into swap.
//!
//! The estimate follows the engine's buffers (see `nn::step`, `nn::network`,
//! `nn::conv`, `nn::optim` and `train`):
//! - weights: the network, the divergence guard's known-good copy (and the
//!   fresh one that replaces it, briefly both alive), the statistics' copy
//!   of the previous step, and the best epoch's copy when early stopping is
//!   on;
//! - gradients: one set per part of a batch (each replica of the
//!   data-parallel step, `nn::step::PARTS`, whatever the thread count);
//! - optimizer state: 0 (plain SGD), 1 (momentum, RMSProp, Adagrad) or 2
//!   (Adam) values per parameter;
//! - workspaces: activations, gradients and dropout masks for a batch spread
//!   over the replicas (replica 0 can take a whole batch), the evaluation
//!   batch of [`EVAL_BATCH`], the convolutions' im2col buffers and pooling
//!   indices, and the input rows;
//! - data: features and labels (bytes for images, `f32` for generated sets)
//!   twice, as the dashboard keeps a loaded set beside the trainer's copy,
//!   and the split's index lists.
//!
//! The limit is, in order: `FITCHECK_MEMORY_LIMIT` (bytes, or a number with
//! K, M, G or T: `2G`, `1.5G`), else 90% of what the machine has available
//! (the smaller of `/proc/meminfo`'s `MemAvailable` and the cgroup's
//! `memory.max` less `memory.current`), else [`FALLBACK_CAP`].

use std::fmt::Write as _;
use std::path::Path;

use crate::data::{DataShape, Split};
use crate::nn::OptimizerKind;
use crate::nn::conv::ConvLayer;
use crate::preset::Preset;

/// Samples in the evaluation batch (as `train::EVAL_BATCH`).
pub const EVAL_BATCH: usize = 1000;
/// The limit when the machine's available memory cannot be read.
pub const FALLBACK_CAP: u64 = 4_000_000_000;
/// Share of the available memory a run may plan to use: the rest is for
/// the program itself, the terminal, and everything else running.
pub const AVAILABLE_SHARE: f64 = 0.9;
/// The environment variable that sets the limit outright.
pub const LIMIT_VAR: &str = "FITCHECK_MEMORY_LIMIT";

/// One kind of buffer in an estimate: what it is, the preset field that
/// sizes it most, and its bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    pub what: &'static str,
    pub field: &'static str,
    pub bytes: f64,
}

/// What a preset will allocate, part by part.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub parameters: f64,
    pub parts: Vec<Part>,
}

impl Estimate {
    pub fn total(&self) -> f64 {
        self.parts.iter().map(|p| p.bytes).sum()
    }

    /// The part that weighs most: its field is the one to change.
    pub fn largest(&self) -> Option<&Part> {
        self.parts.iter().max_by(|a, b| a.bytes.total_cmp(&b.bytes))
    }
}

/// How much memory a run may plan to use, and where that number came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    pub bytes: f64,
    pub source: LimitSource,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LimitSource {
    /// `FITCHECK_MEMORY_LIMIT`, as written.
    Env(String),
    /// A share of what the machine has available.
    Available(f64),
    /// Nothing could be read: [`FALLBACK_CAP`].
    Fallback,
}

/// Bytes as people read them: `40.0 GB`, `312.5 MB`, `4.0 KB` (decimal units).
pub fn human(bytes: f64) -> String {
    let units = [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)];
    for (unit, size) in units {
        if bytes >= size {
            return format!("{:.1} {unit}", bytes / size);
        }
    }
    format!("{bytes:.0} bytes")
}

/// Parses `FITCHECK_MEMORY_LIMIT`'s syntax: bytes, or a number with K, M, G
/// or T (decimal; `B` and `iB` suffixes allowed: `2G`, `2GB`, `1.5GiB`).
pub fn parse_size(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let digits_end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let bad = || format!("{LIMIT_VAR}={text}: not a size (bytes, or a number with K, M, G or T: 2G, 1.5G)");
    let value: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim().to_ascii_uppercase();
    let scale = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 1.0,
        "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => return Err(bad()),
    };
    let bytes = value * scale;
    if !(bytes.is_finite() && bytes > 0.0) {
        return Err(bad());
    }
    Ok(bytes)
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn meminfo_available() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// What the cgroup (v2) still lets this process allocate, if it sets a limit.
fn cgroup_available() -> Option<f64> {
    let read = |name: &str| std::fs::read_to_string(Path::new("/sys/fs/cgroup").join(name)).ok();
    let max: f64 = read("memory.max")?.trim().parse().ok()?; // "max": no limit
    let current: f64 = read("memory.current").and_then(|c| c.trim().parse().ok()).unwrap_or(0.0);
    Some((max - current).max(0.0))
}

/// The machine's available memory (the smaller of the system's and the
/// cgroup's), if it can be read.
pub fn available() -> Option<f64> {
    match (meminfo_available(), cgroup_available()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The limit a run's estimate must stay under. An invalid
/// `FITCHECK_MEMORY_LIMIT` is an error (the command line reports it).
pub fn memory_limit() -> Result<Limit, String> {
    if let Ok(text) = std::env::var(LIMIT_VAR) {
        return Ok(Limit { bytes: parse_size(&text)?, source: LimitSource::Env(text) });
    }
    Ok(match available() {
        Some(bytes) => Limit { bytes: bytes * AVAILABLE_SHARE, source: LimitSource::Available(bytes) },
        None => Limit { bytes: FALLBACK_CAP as f64, source: LimitSource::Fallback },
    })
}

/// Values a convolutional front end holds: its parameters, and per sample
/// of a workspace (outputs, their gradients, im2col rows, pooling indices).
struct ConvSizes {
    params: f64,
    per_sample: f64,
    output_len: usize,
}

/// Walks the stack over `(rows, cols)` one-channel images as `ConvStack::new`
/// builds it (zero padding k/2 keeps a convolution's map size; a pool of p
/// divides it), refusing what does not fit.
fn conv_sizes(specs: &[ConvLayer], image: (usize, usize)) -> Result<ConvSizes, String> {
    let (mut h, mut w, mut c) = (image.0 as f64, image.1 as f64, 1f64);
    let (mut params, mut per_sample) = (0f64, 0f64);
    for (i, spec) in specs.iter().enumerate() {
        match *spec {
            ConvLayer::Conv { filters, kernel } => {
                let (k, f) = (kernel as f64, filters as f64);
                params += k * k * c * f + f;
                // Output and its gradient, and the im2col of the input.
                per_sample += 2.0 * h * w * f + h * w * k * k * c;
                c = f;
            }
            ConvLayer::MaxPool(p) => {
                let (hi, wi) = (h as usize, w as usize);
                if p < 2 || hi / p == 0 || wi / p == 0 {
                    return Err(format!("layer {}: MaxPool({p}) does not fit a {hi}x{wi} map", i + 1));
                }
                (h, w) = ((hi / p) as f64, (wi / p) as f64);
                // Output, its gradient, and one u32 index per output.
                per_sample += 3.0 * h * w * c;
            }
        }
    }
    let output_len = (h * w * c).min(usize::MAX as f64) as usize;
    Ok(ConvSizes { params, per_sample, output_len })
}

/// Values of optimizer state per parameter (as `OptimizerKind::slots`).
fn optimizer_slots(kind: OptimizerKind) -> f64 {
    match kind {
        OptimizerKind::Sgd { momentum: 0.0, .. } => 0.0,
        OptimizerKind::Adam { .. } => 2.0,
        _ => 1.0,
    }
}

/// The memory `preset` will allocate on data of `shape`, with `threads`
/// replicas of the training step (`nn::step::PARTS` in a run). Errors (a pool that does not fit the
/// image) name their field.
pub fn estimate(preset: &Preset, shape: &DataShape, threads: usize) -> Result<Estimate, (&'static str, String)> {
    const F: f64 = 4.0; // bytes of an f32
    let threads = threads.max(1) as f64;
    let (conv_params, conv_per_sample, input) = match (&preset.conv, shape.image) {
        (Some(specs), Some(image)) => {
            let c = conv_sizes(specs, image).map_err(|m| ("conv", m))?;
            (c.params, c.per_sample, c.output_len)
        }
        _ => (0.0, 0.0, shape.dim),
    };
    let mut widths = vec![input as f64];
    widths.extend(preset.hidden.iter().map(|&w| w as f64));
    widths.push(shape.classes as f64);
    let dense_params: f64 = widths.windows(2).map(|p| p[0] * p[1] + p[1]).sum();
    let parameters = conv_params + dense_params;
    let outputs: f64 = widths[1..].iter().sum();
    let hidden: f64 = widths[1..widths.len() - 1].iter().sum();
    // Per sample of a workspace: activations and deltas of every layer,
    // dropout masks of the hidden ones, the convolutions' buffers, the input.
    let per_sample = 2.0 * outputs + hidden + conv_per_sample + shape.dim as f64;

    // The split's training-set size, or the whole pool when the split does
    // not fit (that error is `Preset::validate_for`'s to report).
    let train = Split::sizes(shape.train, preset.val_size, preset.train_size).unwrap_or(shape.train) as f64;
    let batch = (preset.batch_size as f64).min(train).max(1.0);
    let rows = batch + (threads - 1.0) * (batch / threads).ceil();
    let weight_copies = 4.0 + f64::from(u8::from(preset.early_stopping.is_some()));
    let net_field = if conv_params > dense_params { "conv" } else { "hidden" };
    let indices = (train + preset.val_size as f64) * 2.0 * F;
    let parts = vec![
        Part { what: "weights", field: net_field, bytes: weight_copies * parameters * F },
        Part { what: "gradients", field: net_field, bytes: threads * parameters * F },
        Part { what: "optimizer state", field: "optimizer", bytes: optimizer_slots(preset.optimizer) * parameters * F },
        Part { what: "training workspaces", field: "batch_size", bytes: rows * per_sample * F },
        Part { what: "evaluation workspace", field: net_field, bytes: EVAL_BATCH as f64 * per_sample * F },
        Part { what: "data", field: "dataset", bytes: 2.0 * shape.bytes() + indices },
    ];
    Ok(Estimate { parameters, parts })
}

/// Refuses an estimate over the limit, naming the field that weighs most.
pub fn check_memory(estimate: &Estimate, limit: &Limit) -> Result<(), (&'static str, String)> {
    let total = estimate.total();
    if total <= limit.bytes {
        return Ok(());
    }
    let field = estimate.largest().map_or("hidden", |p| p.field);
    let mut parts = estimate.parts.clone();
    parts.sort_by(|a, b| b.bytes.total_cmp(&a.bytes));
    let mut message = format!("needs ~{} (", human(total));
    for (i, p) in parts.iter().filter(|p| p.bytes >= total / 100.0).enumerate() {
        let _ = write!(message, "{}{} {}", if i > 0 { ", " } else { "" }, p.what, human(p.bytes));
    }
    let _ = write!(message, "; {:.1} million parameters), ", estimate.parameters / 1e6);
    match &limit.source {
        LimitSource::Env(text) => {
            let _ = write!(message, "over the limit {LIMIT_VAR}={text} sets");
        }
        LimitSource::Available(bytes) => {
            let _ = write!(
                message,
                "this machine has {} available; the cap is {:.0}% of that, {} ({LIMIT_VAR} sets another)",
                human(*bytes),
                AVAILABLE_SHARE * 100.0,
                human(limit.bytes)
            );
        }
        LimitSource::Fallback => {
            let _ = write!(
                message,
                "and the available memory cannot be read, so the cap is {} ({LIMIT_VAR} sets another)",
                human(limit.bytes)
            );
        }
    }
    Err((field, message))
}

/// Memory only: the estimate of `preset` on `shape` against the limit.
pub fn validate_resources(preset: &Preset, shape: &DataShape) -> Result<(), (&'static str, String)> {
    // One replica per part of a batch, whatever the thread count.
    let estimate = estimate(preset, shape, crate::nn::step::PARTS)?;
    // An invalid FITCHECK_MEMORY_LIMIT is reported by the command line at
    // start; here it falls back to the machine's own figure.
    let limit = memory_limit().unwrap_or_else(|_| match available() {
        Some(bytes) => Limit { bytes: bytes * AVAILABLE_SHARE, source: LimitSource::Available(bytes) },
        None => Limit { bytes: FALLBACK_CAP as f64, source: LimitSource::Fallback },
    });
    check_memory(&estimate, &limit)
}

/// Everything checkable about `preset` once the dataset's shape is known,
/// before anything large is read or built: the field checks of
/// [`Preset::validate_for`], then memory. `check`, `run`, `bench` and the
/// dashboard all call this, so what `check` accepts, a run can start.
pub fn preflight(preset: &Preset, shape: &DataShape) -> Result<(), (&'static str, String)> {
    preset.validate_for(shape)?;
    validate_resources(preset, shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mnist() -> DataShape {
        DataShape { train: 60_000, test: 10_000, dim: 784, classes: 10, image: Some((28, 28)), bytes_per_value: 1 }
    }

    fn preset(hidden: &[usize]) -> Preset {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/presets/mnist-mlp.ron")).unwrap();
        let mut p = Preset::parse(&text, "mnist-mlp.ron").unwrap();
        p.hidden = hidden.to_vec();
        p
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("2G"), Ok(2e9));
        assert_eq!(parse_size("1.5GiB"), Ok(1.5e9));
        assert_eq!(parse_size("512m"), Ok(512e6));
        assert_eq!(parse_size("1000"), Ok(1000.0));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("2X").is_err());
        assert_eq!(human(40e9), "40.0 GB");
        assert_eq!(human(312.5e6), "312.5 MB");
    }

    #[test]
    fn a_huge_network_is_estimated_without_being_built() {
        let e = estimate(&preset(&[100_000, 100_000]), &mnist(), 2).unwrap();
        // 784·1e5 + 1e5·1e5 + 1e5·10 weights, and the biases.
        let params = 784e5 + 1e10 + 1e6 + 2e5 + 10.0;
        assert_eq!(e.parameters, params);
        let weights = e.parts.iter().find(|p| p.what == "weights").unwrap();
        assert_eq!(weights.bytes, 4.0 * params * 4.0);
        assert!(e.total() > 200e9, "{}", human(e.total()));
        let limit = Limit { bytes: 23.4e9 * AVAILABLE_SHARE, source: LimitSource::Available(23.4e9) };
        let (field, message) = check_memory(&e, &limit).unwrap_err();
        assert_eq!(field, "hidden");
        assert!(message.starts_with("needs ~"), "{message}");
        assert!(message.contains("this machine has 23.4 GB available; the cap is 90% of that, 21.1 GB"), "{message}");
    }

    #[test]
    fn the_shipped_baseline_is_small_and_passes() {
        let e = estimate(&preset(&[256, 128]), &mnist(), 2).unwrap();
        assert!(e.total() < 300e6, "{}", human(e.total()));
        // The data: 70,000 images of 784 bytes, twice.
        let data = e.parts.iter().find(|p| p.what == "data").unwrap();
        assert!(data.bytes > 2.0 * 70_000.0 * 784.0, "{}", human(data.bytes));
        let limit = Limit { bytes: 1e9, source: LimitSource::Env("1G".into()) };
        assert!(check_memory(&e, &limit).is_ok());
        let tight = Limit { bytes: 1e6, source: LimitSource::Env("1M".into()) };
        let (_, message) = check_memory(&e, &tight).unwrap_err();
        assert!(message.contains("over the limit FITCHECK_MEMORY_LIMIT=1M sets"), "{message}");
    }

    #[test]
    fn optimizer_state_and_threads_count() {
        let mut p = preset(&[1000]);
        p.optimizer = OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 };
        let adam = estimate(&p, &mnist(), 4).unwrap();
        let part = |e: &Estimate, what: &str| e.parts.iter().find(|p| p.what == what).unwrap().bytes;
        assert_eq!(part(&adam, "optimizer state"), 2.0 * adam.parameters * 4.0);
        assert_eq!(part(&adam, "gradients"), 4.0 * adam.parameters * 4.0);
        p.optimizer = OptimizerKind::Sgd { momentum: 0.0, nesterov: false };
        assert_eq!(part(&estimate(&p, &mnist(), 4).unwrap(), "optimizer state"), 0.0);
    }

    #[test]
    fn convolutions_are_walked_and_a_pool_that_does_not_fit_is_refused() {
        let mut p = preset(&[64]);
        p.conv = Some(vec![
            ConvLayer::Conv { filters: 16, kernel: 3 },
            ConvLayer::MaxPool(2),
            ConvLayer::Conv { filters: 32, kernel: 3 },
            ConvLayer::MaxPool(2),
        ]);
        let e = estimate(&p, &mnist(), 2).unwrap();
        // 3·3·1·16+16, 3·3·16·32+32, then 7·7·32 → 64 → 10.
        assert_eq!(e.parameters, (160 + 4640 + 1568 * 64 + 64 + 650) as f64);
        p.conv = Some(vec![ConvLayer::MaxPool(4), ConvLayer::MaxPool(4), ConvLayer::MaxPool(4)]);
        let (field, message) = estimate(&p, &mnist(), 2).unwrap_err();
        assert_eq!(field, "conv");
        assert_eq!(message, "layer 3: MaxPool(4) does not fit a 1x1 map");
    }
}
