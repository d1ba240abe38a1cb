//! The live settings: one typed enum for every hyperparameter that can
//! change while a run trains. `Command::Set` carries one to the trainer, the
//! `Change` event reports one back, the run model keeps them, and every
//! label on screen comes from here. JSON is written only at the edge (the
//! run log keeps its shape, `docs/architecture.md`: numbers for numbers, RON
//! text for enums).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::nn::{Activation, OptimizerKind};
use crate::preset::{EarlyStopping, Preset};

/// One live setting with its value.
#[derive(Clone, Debug, PartialEq)]
pub enum Setting {
    LearningRate(f32),
    /// Hidden layer widths (changed by adding or removing a layer).
    Hidden(Vec<usize>),
    Activation(Activation),
    Dropout(f32),
    L1(f32),
    L2(f32),
    Optimizer(OptimizerKind),
    EarlyStopping(Option<EarlyStopping>),
    BatchSize(usize),
}

/// Which setting, without a value: the preset field it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SettingKey {
    LearningRate,
    Hidden,
    Activation,
    Dropout,
    L1,
    L2,
    Optimizer,
    EarlyStopping,
    BatchSize,
}

impl SettingKey {
    pub const ALL: [SettingKey; 9] = [
        SettingKey::LearningRate,
        SettingKey::Hidden,
        SettingKey::Activation,
        SettingKey::Dropout,
        SettingKey::L1,
        SettingKey::L2,
        SettingKey::Optimizer,
        SettingKey::EarlyStopping,
        SettingKey::BatchSize,
    ];

    /// The preset field (and run-log `key`) this setting is.
    pub fn field(self) -> &'static str {
        match self {
            SettingKey::LearningRate => "lr",
            SettingKey::Hidden => "hidden",
            SettingKey::Activation => "activation",
            SettingKey::Dropout => "dropout",
            SettingKey::L1 => "l1",
            SettingKey::L2 => "l2",
            SettingKey::Optimizer => "optimizer",
            SettingKey::EarlyStopping => "early_stopping",
            SettingKey::BatchSize => "batch_size",
        }
    }

    pub fn from_field(field: &str) -> Option<SettingKey> {
        SettingKey::ALL.into_iter().find(|k| k.field() == field)
    }

    /// What people call it ("learning rate", "early stopping").
    pub fn name(self) -> &'static str {
        match self {
            SettingKey::LearningRate => "learning rate",
            SettingKey::Hidden => "hidden layers",
            SettingKey::Activation => "activation",
            SettingKey::Dropout => "dropout",
            SettingKey::L1 => "L1",
            SettingKey::L2 => "L2",
            SettingKey::Optimizer => "optimizer",
            SettingKey::EarlyStopping => "early stopping",
            SettingKey::BatchSize => "batch size",
        }
    }

    /// The setting's current value in `p`.
    pub fn read(self, p: &Preset) -> Setting {
        match self {
            SettingKey::LearningRate => Setting::LearningRate(p.lr),
            SettingKey::Hidden => Setting::Hidden(p.hidden.clone()),
            SettingKey::Activation => Setting::Activation(p.activation),
            SettingKey::Dropout => Setting::Dropout(p.dropout),
            SettingKey::L1 => Setting::L1(p.l1),
            SettingKey::L2 => Setting::L2(p.l2),
            SettingKey::Optimizer => Setting::Optimizer(p.optimizer),
            SettingKey::EarlyStopping => Setting::EarlyStopping(p.early_stopping),
            SettingKey::BatchSize => Setting::BatchSize(p.batch_size),
        }
    }
}

/// A float as people read it: `0.05`, `1e-4`, `0.001` — short, never `0.05000000074505806`.
pub fn short_float(x: f32) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if (1e-3..1e4).contains(&a) { format!("{}", (x as f64 * 1e6).round() / 1e6) } else { format!("{x:.0e}") }
}

/// Display name of an optimizer, with its settings where they matter.
pub fn optimizer_name(k: OptimizerKind) -> String {
    match k {
        OptimizerKind::Sgd { momentum, nesterov } if momentum > 0.0 => {
            format!("SGD, {}momentum {}", if nesterov { "Nesterov " } else { "" }, short_float(momentum))
        }
        OptimizerKind::Sgd { .. } => "SGD".into(),
        OptimizerKind::Adam { .. } => "Adam".into(),
        OptimizerKind::RmsProp { .. } => "RMSProp".into(),
        OptimizerKind::Adagrad => "Adagrad".into(),
    }
}

/// "early stopping on, patience 5" / "early stopping off".
pub fn early_stopping_name(e: Option<EarlyStopping>) -> String {
    match e {
        Some(e) if e.min_delta > 0.0 => {
            format!("early stopping on, patience {}, min delta {}", e.patience, short_float(e.min_delta))
        }
        Some(e) => format!("early stopping on, patience {}", e.patience),
        None => "early stopping off".into(),
    }
}

/// Hidden widths as `[512, 512]`, or `none` for a net without hidden layers.
pub fn hidden_name(h: &[usize]) -> String {
    if h.is_empty() { "none".into() } else { format!("{h:?}") }
}

impl Setting {
    pub fn key(&self) -> SettingKey {
        match self {
            Setting::LearningRate(_) => SettingKey::LearningRate,
            Setting::Hidden(_) => SettingKey::Hidden,
            Setting::Activation(_) => SettingKey::Activation,
            Setting::Dropout(_) => SettingKey::Dropout,
            Setting::L1(_) => SettingKey::L1,
            Setting::L2(_) => SettingKey::L2,
            Setting::Optimizer(_) => SettingKey::Optimizer,
            Setting::EarlyStopping(_) => SettingKey::EarlyStopping,
            Setting::BatchSize(_) => SettingKey::BatchSize,
        }
    }

    /// The value alone as people read it ("ReLU", "0.05", "[512, 512]",
    /// "early stopping on, patience 5").
    pub fn value_label(&self) -> String {
        match self {
            Setting::LearningRate(x) | Setting::Dropout(x) | Setting::L1(x) | Setting::L2(x) => short_float(*x),
            Setting::Hidden(h) => hidden_name(h),
            Setting::Activation(a) => a.label().to_string(),
            Setting::Optimizer(o) => optimizer_name(*o),
            Setting::EarlyStopping(e) => early_stopping_name(*e),
            Setting::BatchSize(b) => b.to_string(),
        }
    }

    /// The value compact enough for a chart label ("lr 0.05→0.1" uses
    /// "0.1"; early stopping reads "on"/"off").
    pub fn compact_label(&self) -> String {
        match self {
            Setting::EarlyStopping(Some(_)) => "on".into(),
            Setting::EarlyStopping(None) => "off".into(),
            Setting::Optimizer(o) => o.label(),
            other => other.value_label(),
        }
    }

    /// Writes the value into `p`.
    pub fn apply_to(&self, p: &mut Preset) {
        match self {
            Setting::LearningRate(x) => p.lr = *x,
            Setting::Hidden(h) => p.hidden = h.clone(),
            Setting::Activation(a) => p.activation = *a,
            Setting::Dropout(x) => p.dropout = *x,
            Setting::L1(x) => p.l1 = *x,
            Setting::L2(x) => p.l2 = *x,
            Setting::Optimizer(o) => p.optimizer = *o,
            Setting::EarlyStopping(e) => p.early_stopping = *e,
            Setting::BatchSize(b) => p.batch_size = *b,
        }
    }

    /// The value in the run log: a number, an array, or the RON text `--set` takes.
    pub fn to_json(&self) -> Value {
        let ron = |v: &dyn erased::Ron| Value::String(v.ron());
        match self {
            Setting::LearningRate(x) | Setting::Dropout(x) | Setting::L1(x) | Setting::L2(x) => json_f32(*x),
            Setting::Hidden(h) => Value::from(h.clone()),
            Setting::BatchSize(b) => Value::from(*b),
            Setting::Activation(a) => ron(a),
            Setting::Optimizer(o) => ron(o),
            Setting::EarlyStopping(e) => ron(e),
        }
    }

    /// Reads a run-log value back; `None` when it does not fit the key.
    pub fn from_json(key: SettingKey, v: &Value) -> Option<Setting> {
        let num = || v.as_f64().map(|x| x as f32);
        let ron_text = || v.as_str();
        Some(match key {
            SettingKey::LearningRate => Setting::LearningRate(num()?),
            SettingKey::Dropout => Setting::Dropout(num()?),
            SettingKey::L1 => Setting::L1(num()?),
            SettingKey::L2 => Setting::L2(num()?),
            SettingKey::Hidden => Setting::Hidden(serde_json::from_value(v.clone()).ok()?),
            SettingKey::BatchSize => Setting::BatchSize(v.as_u64()? as usize),
            SettingKey::Activation => Setting::Activation(ron::from_str(ron_text()?).ok()?),
            SettingKey::Optimizer => Setting::Optimizer(ron::from_str(ron_text()?).ok()?),
            SettingKey::EarlyStopping => Setting::EarlyStopping(
                ron::Options::default()
                    .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
                    .from_str(ron_text()?)
                    .ok()?,
            ),
        })
    }
}

mod erased {
    /// RON text of a serializable value (what `--set` takes).
    pub trait Ron {
        fn ron(&self) -> String;
    }
    impl<T: serde::Serialize> Ron for T {
        fn ron(&self) -> String {
            ron::to_string(self).unwrap_or_default()
        }
    }
}

/// An `f32` as a JSON number with its shortest decimal form (0.1, not
/// 0.10000000149011612); non-finite values become `null`.
pub fn json_f32(x: f32) -> Value {
    format!("{x}").parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
}

/// A setting changed (by the user or the trainer) at `step`. In the run
/// log: `{"type":"change","step":..,"key":"lr","from":0.05,"to":0.1}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub step: u64,
    pub from: Setting,
    pub to: Setting,
    /// What the change did beyond the value, when that matters ("optimizer
    /// state starts fresh", "the function changed").
    pub note: Option<String>,
    /// The trainer made it on its own (the divergence guard), not the user.
    pub by_trainer: bool,
}

impl Change {
    pub fn key(&self) -> SettingKey {
        self.to.key()
    }

    /// "learning rate 0.05 → 0.1", "activation ReLU → tanh".
    pub fn label(&self) -> String {
        format!("{} {} → {}", self.key().name(), self.from.value_label(), self.to.value_label())
    }

    /// Short enough for a chart: "lr 0.05→0.1", "early stopping off→on".
    pub fn chart_label(&self) -> String {
        let name = match self.key() {
            SettingKey::LearningRate => "lr",
            SettingKey::Activation => "act",
            SettingKey::Optimizer => "opt",
            SettingKey::EarlyStopping => "early stop",
            SettingKey::BatchSize => "batch",
            other => other.name(),
        };
        format!("{name} {}→{}", self.from.compact_label(), self.to.compact_label())
    }
}

#[derive(Serialize, Deserialize)]
struct ChangeLine {
    step: u64,
    key: String,
    from: Value,
    to: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    by_trainer: bool,
}

impl Serialize for Change {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ChangeLine {
            step: self.step,
            key: self.key().field().into(),
            from: self.from.to_json(),
            to: self.to.to_json(),
            note: self.note.clone(),
            by_trainer: self.by_trainer,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Change, D::Error> {
        let line = ChangeLine::deserialize(d)?;
        let key = SettingKey::from_field(&line.key)
            .ok_or_else(|| D::Error::custom(format!("unknown setting `{}`", line.key)))?;
        let read = |v: &Value| {
            Setting::from_json(key, v).ok_or_else(|| D::Error::custom(format!("bad value {v} for `{}`", line.key)))
        };
        Ok(Change {
            step: line.step,
            from: read(&line.from)?,
            to: read(&line.to)?,
            note: line.note,
            by_trainer: line.by_trainer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_serialize_in_the_run_log_shape_and_read_back() {
        let c = Change {
            step: 5,
            from: Setting::LearningRate(0.1),
            to: Setting::LearningRate(0.2),
            note: None,
            by_trainer: false,
        };
        let line = serde_json::to_string(&c).unwrap();
        assert_eq!(line, r#"{"step":5,"key":"lr","from":0.1,"to":0.2}"#);
        assert_eq!(serde_json::from_str::<Change>(&line).unwrap(), c);
        let es = Change {
            step: 9,
            from: Setting::EarlyStopping(None),
            to: Setting::EarlyStopping(Some(EarlyStopping { patience: 5, min_delta: 0.0 })),
            note: Some("n".into()),
            by_trainer: true,
        };
        let line = serde_json::to_string(&es).unwrap();
        assert_eq!(serde_json::from_str::<Change>(&line).unwrap(), es);
        let opt = Change {
            step: 1,
            from: Setting::Optimizer(OptimizerKind::Sgd { momentum: 0.9, nesterov: false }),
            to: Setting::Optimizer(OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 }),
            note: None,
            by_trainer: false,
        };
        assert_eq!(serde_json::from_str::<Change>(&serde_json::to_string(&opt).unwrap()).unwrap(), opt);
    }

    #[test]
    fn labels_use_the_names_people_use() {
        assert_eq!(Setting::Activation(Activation::Relu).value_label(), "ReLU");
        assert_eq!(
            Setting::EarlyStopping(Some(EarlyStopping { patience: 5, min_delta: 0.0 })).value_label(),
            "early stopping on, patience 5"
        );
        assert_eq!(Setting::LearningRate(0.05).value_label(), "0.05");
        assert_eq!(Setting::L2(1e-4).value_label(), "1e-4");
        let c = Change {
            step: 0,
            from: Setting::Activation(Activation::Relu),
            to: Setting::Activation(Activation::LeakyRelu),
            note: None,
            by_trainer: false,
        };
        assert_eq!(c.label(), "activation ReLU → LeakyReLU");
        assert_eq!(c.chart_label(), "act ReLU→LeakyReLU");
    }

    #[test]
    fn every_key_reads_and_writes_its_preset_field() {
        let mut p: Preset = crate::preset::Preset::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/presets/mnist-mlp.ron"
        )))
        .unwrap();
        for key in SettingKey::ALL {
            let s = key.read(&p);
            assert_eq!(s.key(), key);
            assert_eq!(Setting::from_json(key, &s.to_json()), Some(s.clone()), "{}", key.field());
            s.apply_to(&mut p);
            assert_eq!(key.read(&p), s);
        }
    }
}
