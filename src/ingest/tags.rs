//! Which tag (TensorBoard), column (CSV) or key (JSON lines) means which
//! metric: the common names of PyTorch tutorials, Keras, Lightning and
//! tensorboardX, plus the user's `--map TAG=FIELD` overrides.
//!
//! A name is split into lower-case words (at `/`, `_`, `-`, `.`, spaces and
//! camelCase humps): `Loss/train` -> [loss, train], `val_accuracy` -> [val,
//! accuracy], `lr-Adam` -> [lr, adam]. It maps when its words are one metric
//! (loss | acc, accuracy | lr, learning rate), at most one split (train,
//! training | val, valid, validation, eval, evaluation, dev; none means
//! train) and otherwise only harmless words (epoch, step, batch, iter, mean,
//! avg, ...). Any other word leaves the tag unmapped, on purpose: `grad_norm/
//! loss_scale` or `test/loss` must not pass for a training loss. The words
//! epoch / step, batch, iter say whether a value is one per epoch or one per
//! step (Lightning's `train_loss_epoch` and `train_loss_step`, Keras'
//! `epoch_loss` and `batch_loss`).

use super::error::IngestError;

/// The canonical metrics of an external epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    TrainLoss,
    ValLoss,
    TrainAcc,
    ValAcc,
    Lr,
    /// The gradient norm (the Hugging Face Trainer's `grad_norm`).
    GradNorm,
}

impl Field {
    pub const ALL: [Field; 6] =
        [Field::TrainLoss, Field::ValLoss, Field::TrainAcc, Field::ValAcc, Field::Lr, Field::GradNorm];

    /// The name used by `--map`, the JSON-lines schema and messages.
    pub fn name(self) -> &'static str {
        match self {
            Field::TrainLoss => "train_loss",
            Field::ValLoss => "val_loss",
            Field::TrainAcc => "train_acc",
            Field::ValAcc => "val_acc",
            Field::Lr => "lr",
            Field::GradNorm => "grad_norm",
        }
    }

    pub fn from_name(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == s)
    }

    /// A validation metric: its points close epochs.
    pub fn is_validation(self) -> bool {
        matches!(self, Field::ValLoss | Field::ValAcc)
    }

    /// A training metric (loss or accuracy): without validation, its points
    /// make the epochs.
    pub fn is_training(self) -> bool {
        matches!(self, Field::TrainLoss | Field::TrainAcc)
    }

    pub fn is_accuracy(self) -> bool {
        matches!(self, Field::TrainAcc | Field::ValAcc)
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How often a tag is written, as far as its name tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Once per epoch (`epoch_loss`, `train_loss_epoch`).
    Epoch,
    /// Once per step or batch (`batch_loss`, `train_loss_step`).
    Step,
    /// The name does not say (`loss`, `Loss/train`): the assembly decides
    /// from where its points fall.
    Unknown,
}

/// What a tag is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagRole {
    Metric {
        field: Field,
        level: Level,
    },
    /// The epoch counter (Lightning logs a scalar `epoch` at every step it
    /// logs anything; CSV and JSON lines have an `epoch` column or key).
    Epoch,
    Ignored,
}

/// The user's `--map` overrides on top of the built-in names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagMap {
    /// Exact tag -> role, later entries win.
    overrides: Vec<(String, TagRole)>,
    /// A split folder whose tags are read as validation ones (`test` in a
    /// `train/` + `test/` run without a validation folder, see
    /// [`super::detect::held_out_as_validation`]); set by the follower.
    validation_folder: Option<String>,
}

impl TagMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `--map` arguments, each `TAG=FIELD` with FIELD one of
    /// train_loss, val_loss, train_acc, val_acc, lr, or `ignore` to drop a
    /// tag the built-in names would map. TAG is matched exactly (case and
    /// all); it may itself contain `=` (the last `=` splits).
    pub fn parse_args<I, S>(args: I) -> Result<TagMap, IngestError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut map = TagMap::new();
        for arg in args {
            let arg = arg.as_ref();
            let Some((tag, field)) = arg.rsplit_once('=') else {
                return Err(IngestError::BadMap { arg: arg.to_string(), reason: "expected TAG=FIELD".into() });
            };
            if tag.is_empty() {
                return Err(IngestError::BadMap { arg: arg.to_string(), reason: "the tag is empty".into() });
            }
            let role = if field == "ignore" {
                TagRole::Ignored
            } else if let Some(f) = Field::from_name(field) {
                TagRole::Metric { field: f, level: level_of(&words(tag)) }
            } else {
                return Err(IngestError::BadMap {
                    arg: arg.to_string(),
                    reason: format!(
                        "unknown field {field:?}: use train_loss, val_loss, train_acc, val_acc, lr, grad_norm or ignore"
                    ),
                });
            };
            map.overrides.push((tag.to_string(), role));
        }
        Ok(map)
    }

    /// Maps `tag` to `field` (as `--map tag=field` would).
    pub fn insert(&mut self, tag: &str, field: Field) {
        self.overrides.push((tag.to_string(), TagRole::Metric { field, level: level_of(&words(tag)) }));
    }

    /// The role of a tag: an override if there is one, else the built-in
    /// names (a tag of the validation folder named as if it said `val/`).
    pub fn classify(&self, tag: &str) -> TagRole {
        if let Some((_, role)) = self.overrides.iter().rev().find(|(t, _)| t == tag) {
            return *role;
        }
        if let Some(folder) = &self.validation_folder
            && let Some(rest) = tag.strip_prefix(folder.as_str()).and_then(|r| r.strip_prefix('/'))
        {
            return classify_builtin(&format!("val/{rest}"));
        }
        classify_builtin(tag)
    }

    /// Reads the tags under `folder/` as validation tags (or none with
    /// `None`). True when this changed the map.
    pub fn set_validation_folder(&mut self, folder: Option<String>) -> bool {
        let changed = self.validation_folder != folder;
        self.validation_folder = folder;
        changed
    }
}

/// Splits a tag into lower-case words.
fn words(tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in tag.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        // camelCase: a capital after a lower-case letter starts a word.
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn level_of(words: &[String]) -> Level {
    let epoch = words.iter().any(|w| w == "epoch" || w == "epochs");
    let step = words.iter().any(|w| matches!(w.as_str(), "step" | "steps" | "batch" | "iter" | "iteration" | "it"));
    match (epoch, step) {
        (true, false) => Level::Epoch,
        (false, true) => Level::Step,
        _ => Level::Unknown,
    }
}

const TRAIN: &[&str] = &["train", "training"];
/// `v` as in `v_loss`, `v_accuracy` (course notebooks' custom loops).
const VAL: &[&str] = &["val", "valid", "validation", "eval", "evaluation", "dev", "v"];
const FILLER: &[&str] = &[
    "epoch",
    "epochs",
    "step",
    "steps",
    "batch",
    "iter",
    "iteration",
    "it",
    "avg",
    "average",
    "mean",
    "total",
    "overall",
    "running",
    "per",
    "on",
    "set",
    "data",
];
const OPTIMIZERS: &[&str] = &[
    "sgd",
    "adam",
    "adamw",
    "rmsprop",
    "adagrad",
    "adadelta",
    "adamax",
    "nadam",
    "radam",
    "lamb",
    "lion",
    "adafactor",
    "lbfgs",
    "optimizer",
    "opt",
    "group",
    "param",
    "pg",
];

fn classify_builtin(tag: &str) -> TagRole {
    let w = words(tag);
    if w.is_empty() {
        return TagRole::Ignored;
    }
    if w.len() == 1 && (w[0] == "epoch" || w[0] == "epochs") {
        return TagRole::Epoch;
    }
    // The gradient norm: `grad_norm` (the Hugging Face Trainer),
    // `train/grad_norm`, `gradient_norm`; `grad_norm/loss_scale` is not.
    let core: Vec<&str> = w.iter().map(String::as_str).filter(|s| !TRAIN.contains(s) && !FILLER.contains(s)).collect();
    if matches!(core.as_slice(), ["grad" | "gradient", "norm"]) {
        return TagRole::Metric { field: Field::GradNorm, level: level_of(&w) };
    }
    let (mut loss, mut acc, mut lr, mut train, mut val) = (false, false, false, false, false);
    let mut learning = false;
    let mut rate = false;
    let mut others: Vec<&str> = Vec::new();
    for word in &w {
        match word.as_str() {
            "loss" | "nll" => loss = true,
            "acc" | "accuracy" => acc = true,
            "lr" => lr = true,
            "learning" => learning = true,
            "rate" => rate = true,
            s if TRAIN.contains(&s) => train = true,
            s if VAL.contains(&s) => val = true,
            s if FILLER.contains(&s) => {}
            s => others.push(s),
        }
    }
    if learning && rate {
        lr = true;
    } else if learning || rate {
        return TagRole::Ignored;
    }
    if usize::from(loss) + usize::from(acc) + usize::from(lr) != 1 || (train && val) {
        return TagRole::Ignored;
    }
    let level = level_of(&w);
    if lr {
        // Lightning's LearningRateMonitor: lr-SGD, lr-Adam/pg1 (param groups).
        let optimizer_word = |s: &&str| {
            OPTIMIZERS.contains(s)
                || s.strip_prefix("pg").is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()))
                || s.chars().all(|c| c.is_ascii_digit())
        };
        if val || !others.iter().all(optimizer_word) {
            return TagRole::Ignored;
        }
        return TagRole::Metric { field: Field::Lr, level };
    }
    if !others.is_empty() {
        return TagRole::Ignored;
    }
    let field = match (loss, val) {
        (true, false) => Field::TrainLoss,
        (true, true) => Field::ValLoss,
        (false, false) => Field::TrainAcc,
        (false, true) => Field::ValAcc,
    };
    TagRole::Metric { field, level }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(tag: &str) -> Option<Field> {
        match TagMap::new().classify(tag) {
            TagRole::Metric { field, .. } => Some(field),
            _ => None,
        }
    }

    #[test]
    fn common_names_map_to_their_fields() {
        use Field::*;
        let cases = [
            ("loss", TrainLoss),
            ("train/loss", TrainLoss),
            ("train_loss", TrainLoss),
            ("Loss/train", TrainLoss),
            ("loss/train", TrainLoss),
            ("epoch_loss", TrainLoss),
            ("train/epoch_loss", TrainLoss),
            ("train_loss_step", TrainLoss),
            ("trainLoss", TrainLoss),
            ("val_loss", ValLoss),
            ("val/loss", ValLoss),
            ("Loss/val", ValLoss),
            ("validation/loss", ValLoss),
            ("validation/epoch_loss", ValLoss),
            ("valid_loss", ValLoss),
            ("eval/loss", ValLoss),
            ("accuracy", TrainAcc),
            ("acc", TrainAcc),
            ("train_acc", TrainAcc),
            ("train/acc", TrainAcc),
            ("Accuracy/train", TrainAcc),
            ("epoch_accuracy", TrainAcc),
            ("val_accuracy", ValAcc),
            ("val_acc", ValAcc),
            ("val/acc", ValAcc),
            ("Accuracy/val", ValAcc),
            ("validation/epoch_accuracy", ValAcc),
            ("v_loss", ValLoss),
            ("v_accuracy", ValAcc),
            ("lr", Lr),
            ("learning_rate", Lr),
            ("lr-SGD", Lr),
            ("lr-Adam/pg1", Lr),
            ("train/epoch_learning_rate", Lr),
        ];
        for (tag, want) in cases {
            assert_eq!(field(tag), Some(want), "{tag}");
        }
    }

    #[test]
    fn other_names_are_left_alone() {
        for tag in [
            "test/loss",
            "grad_norm/loss_scale",
            "hp_metric",
            "validation/evaluation_loss_vs_iterations",
            "train/epoch_steps_per_second",
            "lr-SGD-momentum",
            "train_val_loss_gap",
            "top5_accuracy",
            "step",
            "",
        ] {
            assert_eq!(field(tag), None, "{tag}");
        }
        assert_eq!(TagMap::new().classify("epoch"), TagRole::Epoch);
    }

    #[test]
    fn a_test_folder_reads_as_validation_only_when_told() {
        let mut m = TagMap::new();
        assert_eq!(field_in(&m, "test/loss"), None, "a test set is not validation by default");
        assert!(m.set_validation_folder(Some("test".into())));
        assert!(!m.set_validation_folder(Some("test".into())), "unchanged");
        assert_eq!(field_in(&m, "test/v_loss"), Some(Field::ValLoss));
        assert_eq!(field_in(&m, "test/loss"), Some(Field::ValLoss));
        assert_eq!(field_in(&m, "test/accuracy"), Some(Field::ValAcc));
        assert_eq!(field_in(&m, "test/epoch_accuracy"), Some(Field::ValAcc));
        // Only the folder prefix: not a tag that merely starts with it.
        assert_eq!(field_in(&m, "testing/loss"), None);
        assert_eq!(field_in(&m, "train/loss"), Some(Field::TrainLoss));
        assert_eq!(field_in(&m, "test/train_loss"), None, "train and val at once");
        // A --map still wins, by the exact prefixed name.
        let mut m = TagMap::parse_args(["test/v_loss=ignore"]).unwrap();
        m.set_validation_folder(Some("test".into()));
        assert_eq!(m.classify("test/v_loss"), TagRole::Ignored);
    }

    fn field_in(m: &TagMap, tag: &str) -> Option<Field> {
        match m.classify(tag) {
            TagRole::Metric { field, .. } => Some(field),
            _ => None,
        }
    }

    #[test]
    fn levels_come_from_the_words_epoch_and_step() {
        let m = TagMap::new();
        assert_eq!(m.classify("train_loss_epoch"), TagRole::Metric { field: Field::TrainLoss, level: Level::Epoch });
        assert_eq!(m.classify("train/batch_loss"), TagRole::Metric { field: Field::TrainLoss, level: Level::Step });
        assert_eq!(m.classify("Loss/train"), TagRole::Metric { field: Field::TrainLoss, level: Level::Unknown });
    }

    #[test]
    fn map_arguments_override_and_reject_bad_fields() {
        let m = TagMap::parse_args(["objective=train_loss", "holdout/xent=val_loss", "loss=ignore"]).expect("parses");
        assert_eq!(m.classify("objective"), TagRole::Metric { field: Field::TrainLoss, level: Level::Unknown });
        assert_eq!(m.classify("holdout/xent"), TagRole::Metric { field: Field::ValLoss, level: Level::Unknown });
        assert_eq!(m.classify("loss"), TagRole::Ignored);
        let err = TagMap::parse_args(["a=val_lossy"]).expect_err("bad field");
        assert!(err.to_string().contains("unknown field \"val_lossy\""), "{err}");
        assert!(TagMap::parse_args(["noequals"]).is_err());
        assert!(TagMap::parse_args(["=lr"]).is_err());
    }
}
