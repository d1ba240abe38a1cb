//! Presets: one RON file per lesson with every hyperparameter, `--set K=V`
//! overrides (V in RON syntax, `implicit_some` on), and validation. Every
//! error names the file (or the `--set`), the line and column where known,
//! and the field.

use std::fmt;
use std::path::{Path, PathBuf};

use ron::extensions::Extensions;
use serde::{Deserialize, Serialize};

pub use crate::data::{Augment, DataShape, DatasetSpec, Normalize, Split};
use crate::nn::{Activation, Init, OptimizerKind};

pub use crate::nn::conv::ConvLayer;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    pub patience: usize,
    pub min_delta: f32,
}

/// One lesson's dataset and hyperparameters (the preset format: `docs/architecture.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    pub lesson: String,
    pub dataset: DatasetSpec,
    pub train_size: Option<usize>,
    pub val_size: usize,
    pub normalize: Normalize,
    pub label_noise: f32,
    pub augment: Augment,
    pub hidden: Vec<usize>,
    pub conv: Option<Vec<ConvLayer>>,
    pub activation: Activation,
    pub dropout: f32,
    pub l1: f32,
    pub l2: f32,
    pub optimizer: OptimizerKind,
    pub lr: f32,
    pub batch_size: usize,
    pub epochs: usize,
    pub early_stopping: Option<EarlyStopping>,
    pub init: Init,
    pub seed: u64,
    /// Keep only these classes (relabelled 0..k-1 in this order), e.g.
    /// `Some([5, 6, 7, 8, 9])`: transfer learning trains on some digits and
    /// fine-tunes on others.
    #[serde(default)]
    pub classes: Option<Vec<u8>>,
    /// Start from the weights of this safetensors file (a `--save`d run):
    /// every layer must match but the output layer, which may have other
    /// classes and then starts fresh.
    #[serde(default)]
    pub init_from: Option<String>,
}

/// A bad preset or override: where, which field, what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct PresetError {
    /// The file, or `--set K=V`.
    pub origin: String,
    /// 1-based line and column, when the error has a place in a file.
    pub position: Option<(usize, usize)>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for PresetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for PresetError {}

fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME)
}

/// Every top-level field name, in file order: also the `--set` keys.
pub const FIELDS: [&str; 23] = [
    "name",
    "lesson",
    "dataset",
    "train_size",
    "val_size",
    "normalize",
    "label_noise",
    "augment",
    "hidden",
    "conv",
    "activation",
    "dropout",
    "l1",
    "l2",
    "optimizer",
    "lr",
    "batch_size",
    "epochs",
    "early_stopping",
    "init",
    "seed",
    "classes",
    "init_from",
];

/// The line and column of `field:` at the start of a line of `text`.
fn locate_field(text: &str, field: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let trimmed = line.trim_start();
        let rest = trimmed.strip_prefix(field)?;
        rest.trim_start().starts_with(':').then(|| (i + 1, line.len() - trimmed.len() + 1))
    })
}

/// The preset field whose value contains line `line` of `text`: the last
/// `field:` that starts a line at or before it.
fn field_at_line(text: &str, line: usize) -> Option<String> {
    text.lines()
        .take(line)
        .filter_map(|l| {
            let t = l.trim_start();
            FIELDS.iter().find(|f| t.strip_prefix(**f).is_some_and(|r| r.trim_start().starts_with(':')))
        })
        .last()
        .map(|f| f.to_string())
}

/// The largest preset file: a real one is a kilobyte; `fitcheck check
/// /dev/zero` or a log given by mistake must not be read whole.
pub const MAX_PRESET_BYTES: u64 = 1 << 20;

/// The text of a preset file of at most [`MAX_PRESET_BYTES`].
fn read_preset_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?.take(MAX_PRESET_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_PRESET_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("more than {} KB; a preset is a short RON file", MAX_PRESET_BYTES >> 10),
        ));
    }
    Ok(text)
}

impl Preset {
    /// Parses preset text; `origin` names it in errors. Does not validate ranges.
    pub fn parse(text: &str, origin: &str) -> Result<Preset, PresetError> {
        ron_options().from_str::<Preset>(text).map_err(|e| {
            let (line, col) = (e.span.start.line, e.span.start.col);
            let field = match &e.code {
                ron::Error::NoSuchStructField { .. } | ron::Error::MissingStructField { .. } => None,
                _ => field_at_line(text, line),
            };
            PresetError { origin: origin.to_string(), position: Some((line, col)), field, message: e.code.to_string() }
        })
    }

    /// Reads, parses and validates a preset file.
    pub fn load(path: &Path) -> Result<Preset, PresetError> {
        let origin = path.display().to_string();
        let text = read_preset_text(path).map_err(|e| PresetError {
            origin: origin.clone(),
            position: None,
            field: None,
            message: format!("cannot read: {e}"),
        })?;
        let preset = Preset::parse(&text, &origin)?;
        preset.validate().map_err(|(field, message)| PresetError {
            origin,
            position: locate_field(&text, field),
            field: Some(field.to_string()),
            message,
        })?;
        Ok(preset)
    }

    /// Applies one `K=V` override (V in RON syntax) and re-validates.
    pub fn set(&mut self, assignment: &str) -> Result<(), PresetError> {
        let origin = format!("--set {assignment}");
        let err = |field: Option<&str>, message: String| PresetError {
            origin: origin.clone(),
            position: None,
            field: field.map(str::to_string),
            message,
        };
        let Some((key, value)) = assignment.split_once('=') else {
            return Err(err(None, "expected K=V, for example lr=0.01".into()));
        };
        let key = key.trim();
        fn parse<T: serde::de::DeserializeOwned>(v: &str) -> Result<T, String> {
            ron_options().from_str(v).map_err(|e| e.code.to_string())
        }
        macro_rules! assign {
            ($($f:ident),*) => {
                match key {
                    $(stringify!($f) => parse(value).map(|v| self.$f = v),)*
                    _ => {
                        return Err(err(None, format!("unknown field `{key}`; the fields are: {}", FIELDS.join(", "))));
                    }
                }
            };
        }
        assign!(
            name,
            lesson,
            dataset,
            train_size,
            val_size,
            normalize,
            label_noise,
            augment,
            hidden,
            conv,
            activation,
            dropout,
            l1,
            l2,
            optimizer,
            lr,
            batch_size,
            epochs,
            early_stopping,
            init,
            seed,
            classes,
            init_from
        )
        .map_err(|m| err(Some(key), m))?;
        self.validate().map_err(|(field, message)| err(Some(field), message))
    }

    /// Range checks, and the features this version cannot honour yet (an
    /// error, never silently ignored). Returns the field and the message.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let finite_nonneg = |field: &'static str, v: f32| {
            if v.is_finite() && v >= 0.0 { Ok(()) } else { Err((field, format!("must be >= 0 and finite, got {v}"))) }
        };
        if let Some(c) = self.name.chars().find(|c| matches!(c, '/' | '\\') || c.is_control()) {
            return Err(("name", format!("must not contain {c:?}: the name is part of checkpoint file names")));
        }
        self.dataset.check().map_err(|m| ("dataset", m))?;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(("lr", format!("the learning rate must be > 0 and finite, got {}", self.lr)));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(("dropout", format!("must be in [0, 1), got {}", self.dropout)));
        }
        if !(0.0..1.0).contains(&self.label_noise) {
            return Err(("label_noise", format!("must be in [0, 1), got {}", self.label_noise)));
        }
        finite_nonneg("l1", self.l1)?;
        finite_nonneg("l2", self.l2)?;
        if self.batch_size == 0 {
            return Err(("batch_size", "must be at least 1".into()));
        }
        if self.epochs == 0 {
            return Err(("epochs", "must be at least 1".into()));
        }
        if self.val_size == 0 {
            return Err(("val_size", "must be at least 1: validation is how fitcheck judges the run".into()));
        }
        if self.train_size == Some(0) {
            return Err(("train_size", "must be at least 1 (or None for all the training data)".into()));
        }
        if let Some(i) = self.hidden.iter().position(|&w| w == 0) {
            return Err(("hidden", format!("hidden layer {} has width 0", i + 1)));
        }
        match self.optimizer {
            OptimizerKind::Sgd { momentum, .. } if !(0.0..1.0).contains(&momentum) => {
                return Err(("optimizer", format!("momentum must be in [0, 1), got {momentum}")));
            }
            OptimizerKind::Adam { beta1, beta2 } if !((0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2)) => {
                return Err(("optimizer", format!("Adam betas must be in [0, 1), got {beta1}, {beta2}")));
            }
            OptimizerKind::RmsProp { rho } if !(0.0..1.0).contains(&rho) => {
                return Err(("optimizer", format!("rho must be in [0, 1), got {rho}")));
            }
            _ => {}
        }
        match self.dataset {
            DatasetSpec::Spirals { noise, .. }
            | DatasetSpec::Moons { noise }
            | DatasetSpec::Circles { noise }
            | DatasetSpec::Blobs { noise, .. }
                if !(noise.is_finite() && noise >= 0.0) =>
            {
                return Err(("dataset", format!("noise must be >= 0 and finite, got {noise}")));
            }
            _ => {}
        }
        if let Augment::Shift { pixels } = self.augment
            && pixels > 8
        {
            return Err(("augment", format!("a shift of {pixels} pixels is more than the 8 allowed")));
        }
        if let Some(es) = self.early_stopping {
            if es.patience == 0 {
                return Err(("early_stopping", "patience must be at least 1 epoch".into()));
            }
            if !(es.min_delta.is_finite() && es.min_delta >= 0.0) {
                return Err(("early_stopping", format!("min_delta must be >= 0 and finite, got {}", es.min_delta)));
            }
        }
        if let Some(classes) = &self.classes {
            if classes.len() < 2 {
                return Err(("classes", "keep at least 2 classes".into()));
            }
            let mut seen = classes.clone();
            seen.sort_unstable();
            seen.dedup();
            if seen.len() != classes.len() {
                return Err(("classes", format!("a class is listed twice in {classes:?}")));
            }
        }
        if let Some(layers) = &self.conv {
            if layers.is_empty() {
                return Err(("conv", "conv needs at least one layer (or None for a dense network)".into()));
            }
            for (i, l) in layers.iter().enumerate() {
                match *l {
                    ConvLayer::Conv { filters, kernel } if filters == 0 || kernel.is_multiple_of(2) => {
                        return Err(("conv", format!("layer {}: needs filters >= 1 and an odd kernel", i + 1)));
                    }
                    ConvLayer::MaxPool(p) if p < 2 => {
                        return Err(("conv", format!("layer {}: MaxPool needs a window of at least 2", i + 1)));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The checks that need the dataset's sizes (known before it is loaded,
    /// [`DatasetSpec::shape`]): the split, the normalization, augmentation
    /// and a convolutional front end against the features. Memory is
    /// checked apart ([`crate::limits::preflight`] runs both). Returns the
    /// field and the message, like [`Preset::validate`].
    pub fn validate_for(&self, shape: &DataShape) -> Result<(), (&'static str, String)> {
        let mut pool = shape.train;
        if let Some(classes) = &self.classes {
            if let Some(&c) = classes.iter().find(|&&c| c as usize >= shape.classes) {
                return Err((
                    "classes",
                    format!("class {c} is not in {} ({} classes)", self.dataset.label(), shape.classes),
                ));
            }
            // Roughly balanced classes, counted low (MNIST's rarest digit has
            // 90% of the mean): the exact count is checked on the data.
            pool = shape.train * classes.len() * 9 / (10 * shape.classes.max(1));
        }
        Split::sizes(pool, self.val_size, self.train_size)?;
        self.normalize.check(shape.bytes_per_value == 1).map_err(|m| ("normalize", m))?;
        if matches!(self.augment, Augment::Shift { .. }) && shape.image.is_none() {
            return Err(("augment", format!("shifting needs images; {} has none", self.dataset.label())));
        }
        if self.conv.is_some() && shape.image.is_none() {
            return Err(("conv", "a convolutional front end needs an image dataset".into()));
        }
        Ok(())
    }

    /// The learning rate a user may set from the keyboard stays in this range.
    pub const LR_RANGE: (f32, f32) = (1e-6, 10.0);
}

/// An error about `field` of the preset loaded from `path` with the
/// overrides `sets`: it names the last `--set` of that field if there was
/// one, else the file, line and column where the field is written.
pub fn field_error(path: &Path, sets: &[String], field: &str, message: String) -> PresetError {
    if let Some(set) = sets.iter().rev().find(|s| s.split_once('=').is_some_and(|(k, _)| k.trim() == field)) {
        return PresetError { origin: format!("--set {set}"), position: None, field: Some(field.into()), message };
    }
    let position = read_preset_text(path).ok().and_then(|text| locate_field(&text, field));
    PresetError { origin: path.display().to_string(), position, field: Some(field.into()), message }
}

/// Folders searched for named presets: `./presets`, then the source tree's.
pub fn preset_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("presets")];
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
    if built.canonicalize().ok() != Path::new("presets").canonicalize().ok() {
        dirs.push(built);
    }
    dirs
}

/// A preset name (`mnist-mlp`) or a path to a `.ron` file.
pub fn resolve(name_or_path: &str) -> Result<PathBuf, PresetError> {
    let as_path = Path::new(name_or_path);
    if name_or_path.ends_with(".ron") || name_or_path.contains(std::path::MAIN_SEPARATOR) {
        return Ok(as_path.to_path_buf());
    }
    for dir in preset_dirs() {
        let candidate = dir.join(format!("{name_or_path}.ron"));
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let known: Vec<String> = list().into_iter().map(|(name, _)| name).collect();
    Err(PresetError {
        origin: name_or_path.to_string(),
        position: None,
        field: None,
        message: format!("no such preset; the presets are: {}", known.join(", ")),
    })
}

/// Every preset found in the preset folders: its name and path, sorted.
pub fn list() -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for dir in preset_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "ron")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                && !found.iter().any(|(n, _)| n == stem)
            {
                found.push((stem.to_string(), path));
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"Preset(
    name: "t",
    lesson: "a test",
    dataset: Mnist,
    train_size: Some(1000),
    val_size: 500,
    normalize: Scale255,
    label_noise: 0.0,
    augment: None,
    hidden: [32],
    conv: None,
    activation: Relu,
    dropout: 0.0,
    l1: 0.0,
    l2: 0.0,
    optimizer: Sgd(momentum: 0.9, nesterov: false),
    lr: 0.05,
    batch_size: 64,
    epochs: 2,
    early_stopping: None,
    init: Auto,
    seed: 7,
)"#;

    #[test]
    fn parses_a_complete_preset() {
        let p = Preset::parse(GOOD, "t.ron").unwrap();
        assert_eq!(p.hidden, vec![32]);
        assert_eq!(p.train_size, Some(1000));
        assert!(p.validate().is_ok());
    }

    #[test]
    fn unknown_field_names_file_line_and_column() {
        let text = GOOD.replace("    seed: 7,", "    seed: 7,\n    colour: 3,");
        let err = Preset::parse(&text, "t.ron").unwrap_err();
        assert_eq!(err.position.map(|p| p.0), Some(23));
        assert!(err.to_string().starts_with("t.ron:23:"), "{err}");
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn bad_value_names_its_field() {
        let text = GOOD.replace("lr: 0.05", "lr: \"fast\"");
        let err = Preset::parse(&text, "t.ron").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("lr"), "{err}");
        assert!(err.to_string().starts_with("t.ron:17:"), "{err}");
    }

    #[test]
    fn every_field_can_be_set_and_ranges_are_checked() {
        let mut p = Preset::parse(GOOD, "t.ron").unwrap();
        p.set("lr=0.2").unwrap();
        p.set("hidden=[8, 9]").unwrap();
        p.set("train_size=200").unwrap(); // implicit_some
        p.set("optimizer=Adam(beta1: 0.9, beta2: 0.999)").unwrap();
        assert_eq!((p.lr, p.hidden.clone(), p.train_size), (0.2, vec![8, 9], Some(200)));
        // Each field accepts its own current value written back as RON.
        for field in FIELDS {
            let full = ron::to_string(&p).unwrap();
            let start = full.find(&format!("{field}:")).expect(field) + field.len() + 1;
            let rest = &full[start..];
            // The value runs to the next top-level comma.
            let mut depth = 0i32;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' | '[' => depth += 1,
                        ')' | ']' => depth -= 1,
                        _ => {}
                    }
                    (c == ',' && depth == 0) || depth < 0
                })
                .map(|(i, _)| i)
                .unwrap_or(rest.len());
            p.set(&format!("{field}={}", &rest[..end])).unwrap_or_else(|e| panic!("{field}: {e}"));
        }
        let err = p.set("lr=-1").unwrap_err().to_string();
        assert_eq!(err, "--set lr=-1: field `lr`: the learning rate must be > 0 and finite, got -1");
        assert!(p.set("batch_size=0").is_err());
        assert!(p.set("hidden=[8, 0]").is_err());
        assert!(p.set("dropout=1.0").is_err());
        assert!(p.set("nope=1").unwrap_err().to_string().contains("unknown field `nope`"));
        assert!(p.set("lr").is_err());
    }
}
