//! The "is it overfitting?" checklist in Hung-yi Lee's order, as a pure
//! function of the run's history, its current settings and the latest
//! layer statistics. The headless runner and the dashboard call the same
//! `diagnose`; neither the trainer nor the terminal is involved.
//!
//! 1. Does it learn the training data? If not it is not overfitting: look
//!    for divergence, unnormalized inputs, vanishing gradients, saturated or
//!    dead units, a learning rate too low, a network too small.
//! 2. Only when training is good: is validation good? A gap that opens and
//!    a validation loss that climbs is overfitting.
//! 3. Both good: healthy.

use serde::Serialize;

/// Epochs needed before any verdict but "too early": one epoch is noise.
pub const MIN_EPOCHS: usize = 2;
/// Training accuracy (eval mode) at which the net "learns the training
/// data": every healthy preset passes 90% within its first epochs, every
/// failing one stays far below.
pub const TRAIN_FIT_ACC: f32 = 0.90;
/// A train−validation accuracy gap from this many points on is overfitting
/// (mnist-mlp's healthy gap is ~1 point, mnist-overfit's ~10).
pub const GAP_OVERFIT: f32 = 0.05;
/// Validation loss this far above its best, with the best at least
/// `RISING_EPOCHS` back, is rising.
pub const VAL_RISE: f32 = 0.10;
pub const RISING_EPOCHS: usize = 3;
/// Inputs larger than this in absolute value are not normalized (pixels at
/// 0..255 reach 255; scaled or standardized inputs stay within a few units).
pub const INPUT_SCALE_MAX: f32 = 10.0;
/// First-layer gradient norm below this share of the last layer's: the
/// gradient vanishes on its way down (the deep sigmoid preset: ~1e-4).
pub const VANISHING_RATIO: f32 = 1e-2;
/// Mean share of dead (ReLU) or saturated (sigmoid/tanh) units that is a finding.
pub const DEAD_SHARE: f32 = 0.5;
pub const SATURATED_SHARE: f32 = 0.5;
/// Relative fall of the training loss over the last epochs below which it is flat.
pub const FLAT_LOSS: f32 = 0.02;
/// Accuracy within this factor of chance (1/classes) counts as stalled.
pub const CHANCE_FACTOR: f32 = 1.5;
/// Dropout at or above this, with training still short of the fit, may be what slows it.
pub const HIGH_DROPOUT: f32 = 0.3;

/// One epoch as the diagnosis reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochPoint {
    pub epoch: usize,
    /// As trained (dropout on).
    pub train_loss: f32,
    pub train_loss_eval: f32,
    pub train_acc_eval: f32,
    pub val_loss: f32,
    pub val_acc: f32,
}

/// The current settings that matter to the checklist.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub lr: f32,
    pub hidden: Vec<usize>,
    /// "ReLU", "sigmoid", ... as `Activation::label` writes them.
    pub activation: String,
    /// "SGD", "Adam", ... as `OptimizerKind::label` writes them.
    pub optimizer: String,
    pub dropout: f32,
    pub l2: f32,
    pub early_stopping: bool,
    /// The share of training labels replaced at random: it caps what the
    /// training data allows.
    pub label_noise: f32,
    pub augmenting: bool,
    pub convolutional: bool,
    pub images: bool,
}

/// One layer's latest statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerPoint {
    pub grad_norm: f32,
    pub dead_fraction: Option<f32>,
    pub saturated_fraction: Option<f32>,
}

/// Everything the checklist looks at.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs<'a> {
    pub epochs: &'a [EpochPoint],
    pub classes: usize,
    pub settings: Settings,
    /// The largest absolute network input on training samples.
    pub input_scale: f32,
    pub layers: &'a [LayerPoint],
    /// Rollbacks of the divergence guard, and how many in the last epoch.
    pub rollbacks: usize,
    pub recent_rollbacks: usize,
    /// The run ended as `diverged`.
    pub gave_up: bool,
    pub stopped_early: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Healthy,
    Underfitting,
    Overfitting,
    Diverging,
    Stalled,
    TooEarly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warn,
    Bad,
}

/// What a remedy does, for the dashboard to apply with one key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    HalveLr,
    DoubleLr,
    /// Switch the hidden activation ("ReLU" or "SELU").
    UseRelu,
    UseSelu,
    UseAdam,
    /// Restart with `normalize: Scale255` (images) or `Standardize`.
    Normalize,
    AddLayer,
    EarlyStopping,
    Dropout(f32),
    AddL2,
    LessDropout,
    /// Restart with `augment: Shift(pixels: 2)`.
    Augment,
}

/// A remedy in Lee's terms, and what applying it does.
#[derive(Clone, Debug, PartialEq)]
pub struct Remedy {
    pub label: &'static str,
    pub action: Action,
}

impl Serialize for Remedy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub evidence: String,
    pub remedies: Vec<Remedy>,
}

/// A step of the checklist: passed, failed, or not decided yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Pass,
    Fail,
    Pending,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnosis {
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    /// Step 1 (training) and step 2 (validation) of the checklist.
    #[serde(skip)]
    pub steps: [(Mark, String); 2],
}

const fn remedy(label: &'static str, action: Action) -> Remedy {
    Remedy { label, action }
}

fn pct(x: f32) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The relative fall of `f` over the last `k` epochs (positive: falling).
fn fall(epochs: &[EpochPoint], k: usize, f: fn(&EpochPoint) -> f32) -> Option<f32> {
    let n = epochs.len();
    (n > k).then(|| {
        let (old, new) = (f(&epochs[n - 1 - k]), f(&epochs[n - 1]));
        (old - new) / old.abs().max(1e-6)
    })
}

/// The checklist for a run so far.
pub fn diagnose(inp: &Inputs<'_>) -> Diagnosis {
    let mut findings = Vec::new();
    let s = &inp.settings;
    let chance = 1.0 / inp.classes.max(2) as f32;
    let unnormalized = inp.input_scale > INPUT_SCALE_MAX;

    // Divergence first: it makes every other number meaningless.
    if inp.rollbacks > 0 {
        let cause = if unnormalized { "; the inputs are not normalized, so every step is huge" } else { "" };
        findings.push(Finding {
            id: "diverged",
            severity: if inp.recent_rollbacks > 0 || inp.gave_up { Severity::Bad } else { Severity::Warn },
            evidence: format!(
                "the loss exploded {} time(s) ({} in the last epoch); rolled back and halved the learning rate to {:.2e}{cause}",
                inp.rollbacks, inp.recent_rollbacks, s.lr
            ),
            remedies: vec![remedy("halve the learning rate", Action::HalveLr)],
        });
    }
    let Some(last) = inp.epochs.last() else {
        return Diagnosis {
            verdict: if inp.gave_up { Verdict::Diverging } else { Verdict::TooEarly },
            findings,
            steps: [(Mark::Pending, "after the first epoch".into()), (Mark::Pending, "after step 1".into())],
        };
    };
    let diverging = inp.gave_up || (inp.recent_rollbacks > 0 && !unnormalized);
    if diverging || (inp.rollbacks > 0 && !unnormalized && last.train_acc_eval < TRAIN_FIT_ACC * (1.0 - s.label_noise))
    {
        findings.push(Finding {
            id: "lr_too_high",
            severity: Severity::Bad,
            evidence: format!("the loss blew up at learning rate {:.2e} and above", s.lr * 2.0),
            remedies: vec![
                remedy("halve the learning rate", Action::HalveLr),
                remedy("switch to Adam", Action::UseAdam),
            ],
        });
    }
    if inp.epochs.len() < MIN_EPOCHS && !diverging {
        return Diagnosis {
            verdict: Verdict::TooEarly,
            findings,
            steps: [
                (Mark::Pending, format!("train acc {} after one epoch", pct(last.train_acc_eval))),
                (Mark::Pending, "after step 1".into()),
            ],
        };
    }

    // Step 1: does it learn the training data, as far as the data allows
    // (noisy labels cannot all be learned without memorizing them)?
    let fit = TRAIN_FIT_ACC * (1.0 - s.label_noise);
    let learned = last.train_acc_eval >= fit;
    let loss_fall = fall(inp.epochs, 2.min(inp.epochs.len() - 1), |e| e.train_loss_eval).unwrap_or(0.0);
    let step1 = format!(
        "train acc {} (eval mode), loss {:.3}, {} over the last epochs",
        pct(last.train_acc_eval),
        last.train_loss_eval,
        if loss_fall > FLAT_LOSS { format!("falling {:.0}%", loss_fall * 100.0) } else { "flat".into() }
    );
    if !learned {
        let stalled = last.train_acc_eval <= CHANCE_FACTOR * chance && loss_fall <= FLAT_LOSS;
        if unnormalized {
            findings.push(Finding {
                id: "unnormalized_inputs",
                severity: Severity::Bad,
                evidence: format!("inputs reach {:.0} (features on a scale ≫ 1)", inp.input_scale),
                remedies: vec![remedy("normalize the inputs (restart)", Action::Normalize)],
            });
        }
        let grads: Vec<f32> = inp.layers.iter().map(|l| l.grad_norm).collect();
        if let (Some(&first), Some(&lastg)) = (grads.first(), grads.last())
            && grads.len() >= 3
            && first < VANISHING_RATIO * lastg
        {
            findings.push(Finding {
                id: "vanishing_gradients",
                severity: Severity::Bad,
                evidence: format!(
                    "first layer's gradient norm {first:.1e} is {:.0}x below the last's {lastg:.1e} ({} layers of {})",
                    lastg / first.max(1e-30),
                    s.hidden.len(),
                    s.activation
                ),
                remedies: vec![remedy("switch to ReLU", Action::UseRelu), remedy("switch to SELU", Action::UseSelu)],
            });
        }
        let hidden_layers = &inp.layers[..inp.layers.len().saturating_sub(1)];
        let mean = |f: fn(&LayerPoint) -> Option<f32>| {
            let v: Vec<f32> = hidden_layers.iter().filter_map(f).collect();
            (!v.is_empty()).then(|| v.iter().sum::<f32>() / v.len() as f32)
        };
        if let Some(sat) = mean(|l| l.saturated_fraction).filter(|&v| v > SATURATED_SHARE) {
            findings.push(Finding {
                id: "saturated_units",
                severity: Severity::Warn,
                evidence: format!("{} of {} activations sit in the flat tails", pct(sat), s.activation),
                remedies: vec![remedy("switch to ReLU", Action::UseRelu)],
            });
        }
        if let Some(dead) = mean(|l| l.dead_fraction).filter(|&v| v > DEAD_SHARE) {
            findings.push(Finding {
                id: "dead_units",
                severity: Severity::Warn,
                evidence: format!("{} of the hidden units never fire on the probe", pct(dead)),
                remedies: vec![
                    remedy("halve the learning rate", Action::HalveLr),
                    remedy("switch to SELU", Action::UseSelu),
                ],
            });
        }
        if s.dropout >= HIGH_DROPOUT && last.train_loss > 1.5 * last.train_loss_eval {
            findings.push(Finding {
                id: "dropout_cost",
                severity: Severity::Warn,
                evidence: format!(
                    "dropout {:.1}: training loss {:.3} with it, {:.3} without",
                    s.dropout, last.train_loss, last.train_loss_eval
                ),
                remedies: vec![remedy("less dropout", Action::LessDropout)],
            });
        }
        let explained = findings.iter().any(|f| f.severity == Severity::Bad || f.id == "saturated_units");
        // Still falling: it learns, slowly (more epochs or a larger step);
        // flat: it has learned what it can (a bigger network).
        if !explained && loss_fall > FLAT_LOSS {
            findings.push(Finding {
                id: "lr_too_low",
                severity: Severity::Warn,
                evidence: format!(
                    "the training loss is still falling ({:.1}% over the last epochs) at learning rate {:.1e}: it learns, slowly",
                    loss_fall * 100.0,
                    s.lr
                ),
                remedies: vec![remedy("double the learning rate", Action::DoubleLr), remedy("switch to Adam", Action::UseAdam)],
            });
        } else if !explained {
            let units: usize = s.hidden.iter().sum();
            findings.push(Finding {
                id: "capacity_too_small",
                severity: Severity::Warn,
                evidence: format!(
                    "training accuracy levels off at {} with {} hidden unit(s) in {} layer(s)",
                    pct(last.train_acc_eval),
                    units,
                    s.hidden.len()
                ),
                remedies: vec![remedy("add a layer", Action::AddLayer)],
            });
        }
        // A run that blew up and has not learned since is still diverging,
        // unless the blow-ups came from unnormalized inputs (the cause to fix).
        let verdict = if diverging || (inp.rollbacks > 0 && !unnormalized) {
            Verdict::Diverging
        } else if stalled {
            Verdict::Stalled
        } else {
            Verdict::Underfitting
        };
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        return Diagnosis {
            verdict,
            findings,
            steps: [(Mark::Fail, step1), (Mark::Pending, "not before the training data is learned".into())],
        };
    }

    // Step 2: only now, is validation good?
    let gap = last.train_acc_eval - last.val_acc;
    let best = inp.epochs.iter().min_by(|a, b| a.val_loss.total_cmp(&b.val_loss)).expect("non-empty");
    let rising = last.val_loss > best.val_loss * (1.0 + VAL_RISE) && last.epoch >= best.epoch + RISING_EPOCHS;
    let step2 = format!(
        "val acc {}, {:.1} points below training; val loss {:.3} (best {:.3} at epoch {})",
        pct(last.val_acc),
        gap * 100.0,
        last.val_loss,
        best.val_loss,
        best.epoch
    );
    let mut regularize = vec![];
    if !s.early_stopping {
        regularize.push(remedy("early stopping", Action::EarlyStopping));
    }
    if s.dropout < 0.5 {
        regularize.push(remedy("dropout 0.5", Action::Dropout(0.5)));
    }
    regularize.push(remedy("add L2", Action::AddL2));
    if s.images && !s.augmenting {
        regularize.push(remedy("more data: shifted copies (restart)", Action::Augment));
    }
    let overfitting = gap >= GAP_OVERFIT || rising;
    if gap >= GAP_OVERFIT {
        let earlier = inp.epochs.len().checked_sub(1 + RISING_EPOCHS).map(|i| &inp.epochs[i]);
        let trend = earlier.map_or(String::new(), |e| {
            let was = e.train_acc_eval - e.val_acc;
            format!(
                ", {} {:.1} points in {} epochs",
                if gap > was { "up" } else { "down" },
                (gap - was).abs() * 100.0,
                RISING_EPOCHS
            )
        });
        findings.push(Finding {
            id: "overfitting_gap",
            severity: Severity::Bad,
            evidence: format!(
                "train acc {}, val {}: a {:.1}-point gap{trend}",
                pct(last.train_acc_eval),
                pct(last.val_acc),
                gap * 100.0
            ),
            remedies: regularize.clone(),
        });
    }
    if rising {
        findings.push(Finding {
            id: "val_loss_rising",
            severity: Severity::Bad,
            evidence: format!(
                "validation loss {:.3}, up {:.0}% from its best {:.3} at epoch {}",
                last.val_loss,
                (last.val_loss / best.val_loss - 1.0) * 100.0,
                best.val_loss,
                best.epoch
            ),
            remedies: regularize.clone(),
        });
        if !s.early_stopping && !inp.stopped_early {
            findings.push(Finding {
                id: "early_stop_recommended",
                severity: Severity::Warn,
                evidence: format!(
                    "the best weights were at epoch {}; every epoch since made validation worse",
                    best.epoch
                ),
                remedies: vec![remedy("early stopping", Action::EarlyStopping)],
            });
        }
    }
    if overfitting {
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        return Diagnosis {
            verdict: Verdict::Overfitting,
            findings,
            steps: [(Mark::Pass, step1), (Mark::Fail, step2)],
        };
    }
    // Step 3: both good.
    findings.push(Finding {
        id: "healthy",
        severity: Severity::Info,
        evidence: format!(
            "train {}, validation {}: it learns and generalizes",
            pct(last.train_acc_eval),
            pct(last.val_acc)
        ),
        remedies: vec![],
    });
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Diagnosis {
        verdict: if diverging { Verdict::Diverging } else { Verdict::Healthy },
        findings,
        steps: [(Mark::Pass, step1), (Mark::Pass, step2)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            lr: 0.05,
            hidden: vec![64],
            activation: "ReLU".into(),
            optimizer: "SGD".into(),
            dropout: 0.0,
            l2: 0.0,
            early_stopping: false,
            label_noise: 0.0,
            augmenting: false,
            convolutional: false,
            images: true,
        }
    }

    /// Epochs from (train acc, val acc, train loss, val loss) rows.
    fn epochs(rows: &[(f32, f32, f32, f32)]) -> Vec<EpochPoint> {
        rows.iter()
            .enumerate()
            .map(|(i, &(ta, va, tl, vl))| EpochPoint {
                epoch: i + 1,
                train_loss: tl,
                train_loss_eval: tl,
                train_acc_eval: ta,
                val_loss: vl,
                val_acc: va,
            })
            .collect()
    }

    fn run(rows: &[(f32, f32, f32, f32)]) -> Diagnosis {
        let e = epochs(rows);
        diagnose(&Inputs {
            epochs: &e,
            classes: 10,
            settings: settings(),
            input_scale: 1.0,
            layers: &[],
            rollbacks: 0,
            recent_rollbacks: 0,
            gave_up: false,
            stopped_early: false,
        })
    }

    #[test]
    fn one_epoch_is_too_early_to_tell() {
        assert_eq!(run(&[(0.99, 0.80, 0.05, 0.9)]).verdict, Verdict::TooEarly);
        assert_eq!(run(&[]).verdict, Verdict::TooEarly);
    }

    #[test]
    fn a_fitted_net_with_a_small_gap_is_healthy() {
        let d = run(&[(0.95, 0.94, 0.2, 0.22), (0.98, 0.97, 0.08, 0.1)]);
        assert_eq!(d.verdict, Verdict::Healthy);
        assert_eq!(d.steps[0].0, Mark::Pass);
        assert_eq!(d.steps[1].0, Mark::Pass);
    }

    #[test]
    fn a_wide_gap_or_a_rising_validation_loss_is_overfitting() {
        let d = run(&[(0.95, 0.90, 0.2, 0.3), (0.99, 0.90, 0.05, 0.35), (1.0, 0.90, 0.01, 0.4)]);
        assert_eq!(d.verdict, Verdict::Overfitting);
        assert!(d.findings.iter().any(|f| f.id == "overfitting_gap" && f.evidence.contains("10.0-point gap")));
        // A small gap but a validation loss 30% above its best, four epochs on.
        let d = run(&[
            (0.97, 0.96, 0.1, 0.10),
            (0.98, 0.965, 0.05, 0.11),
            (0.99, 0.96, 0.03, 0.12),
            (0.99, 0.96, 0.02, 0.12),
            (0.995, 0.96, 0.01, 0.13),
        ]);
        assert_eq!(d.verdict, Verdict::Overfitting);
        assert!(d.findings.iter().any(|f| f.id == "val_loss_rising"));
        assert!(d.findings.iter().any(|f| f.id == "early_stop_recommended"));
        assert_eq!(d.steps[1].0, Mark::Fail);
    }

    #[test]
    fn a_net_that_cannot_fit_is_never_called_overfitting() {
        // A big gap, but training accuracy itself is poor: step 1 fails first.
        let d = run(&[(0.60, 0.40, 1.2, 1.8), (0.61, 0.40, 1.19, 1.9), (0.61, 0.40, 1.19, 2.0)]);
        assert_eq!(d.verdict, Verdict::Underfitting);
        assert!(d.findings.iter().all(|f| f.id != "overfitting_gap"));
        assert_eq!(d.steps[0].0, Mark::Fail);
        assert_eq!(d.steps[1].0, Mark::Pending);
    }

    #[test]
    fn chance_accuracy_and_a_flat_loss_is_stalled() {
        let d = run(&[(0.11, 0.10, 2.30, 2.30), (0.11, 0.10, 2.30, 2.30)]);
        assert_eq!(d.verdict, Verdict::Stalled);
    }

    #[test]
    fn a_run_that_gave_up_is_diverging() {
        let e = epochs(&[]);
        let d = diagnose(&Inputs {
            epochs: &e,
            classes: 10,
            settings: settings(),
            input_scale: 1.0,
            layers: &[],
            rollbacks: 7,
            recent_rollbacks: 7,
            gave_up: true,
            stopped_early: false,
        });
        assert_eq!(d.verdict, Verdict::Diverging);
        assert!(d.findings.iter().any(|f| f.id == "diverged" && f.severity == Severity::Bad));
    }
}
