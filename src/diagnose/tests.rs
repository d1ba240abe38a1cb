//! The checklist on hand-made histories: one test per verdict and per
//! finding, each with the evidence that must (and must not) produce it.

use super::*;
use crate::nn::{Activation, OptimizerKind};

fn settings() -> Settings {
    Settings {
        lr: 0.05,
        hidden: vec![64],
        activation: Activation::Relu,
        optimizer: OptimizerKind::Sgd { momentum: 0.0, nesterov: false },
        images: true,
        normalized: true,
        ..Settings::default()
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
            ..EpochPoint::default()
        })
        .collect()
}

fn inputs<'a>(e: &'a [EpochPoint], s: Settings) -> Inputs<'a> {
    Inputs { epochs: e, classes: 10, settings: Some(s), input_scale: 1.0, ..Inputs::default() }
}

fn run(rows: &[(f32, f32, f32, f32)]) -> Diagnosis {
    diagnose(&inputs(&epochs(rows), settings()))
}

fn ids(d: &Diagnosis) -> Vec<FindingId> {
    d.findings.iter().map(|f| f.id).collect()
}

fn actions(d: &Diagnosis, id: FindingId) -> Vec<Action> {
    d.findings.iter().filter(|f| f.id == id).flat_map(|f| f.remedies.iter().map(|r| r.action)).collect()
}

/// A layer with an update ratio and a gradient norm.
fn layer(units: usize, ratio: f32, grad: f32) -> LayerPoint {
    LayerPoint { units, grad_norm: grad, weight_norm: 1.0, update_ratio: ratio, ..LayerPoint::default() }
}

/// The same layers at the end of every epoch of `e`.
fn history(e: &[EpochPoint], layers: &[LayerPoint]) -> Vec<LayerSnapshot> {
    e.iter().map(|p| LayerSnapshot { epoch: p.epoch, layers: layers.to_vec() }).collect()
}

/// A run that does not learn: near chance and flat.
const STUCK: [(f32, f32, f32, f32); 3] = [(0.12, 0.11, 2.30, 2.30), (0.12, 0.11, 2.29, 2.30), (0.12, 0.11, 2.29, 2.30)];
/// A run that learns some, then levels off well short of the fit.
const LEVELS_OFF: [(f32, f32, f32, f32); 3] =
    [(0.55, 0.54, 1.20, 1.21), (0.56, 0.55, 1.19, 1.20), (0.56, 0.55, 1.19, 1.20)];

fn fit(fits: bool, steps: usize) -> ProbeFitPoint {
    ProbeFitPoint {
        optimizer: "SGD".into(),
        lr: 0.05,
        steps,
        loss_before: 2.3,
        loss_after: if fits { 0.01 } else { 2.2 },
        acc_after: if fits { 1.0 } else { 0.2 },
        fits,
        timed_out: false,
        update_ratio: 1e-3,
    }
}

fn probe(epoch: usize, configured: bool, reference: bool) -> ProbePoint {
    ProbePoint { epoch, batch: 32, configured: fit(configured, 40), reference: fit(reference, 30) }
}

#[test]
fn one_epoch_is_too_early_to_tell() {
    assert_eq!(run(&[(0.99, 0.80, 0.05, 0.9)]).verdict, Verdict::TooEarly);
    assert_eq!(run(&[]).verdict, Verdict::TooEarly);
    assert_eq!(run(&[]).since, None);
}

#[test]
fn a_fitted_net_with_a_small_gap_is_healthy() {
    let d = run(&[(0.95, 0.94, 0.2, 0.22), (0.98, 0.97, 0.08, 0.1)]);
    assert_eq!(d.verdict, Verdict::Healthy);
    assert_eq!(d.steps[0].0, Mark::Pass);
    assert_eq!(d.steps[1].0, Mark::Pass);
    assert_eq!(d.preflight.mark, Mark::Pending, "no pre-flight, nothing to judge");
}

#[test]
fn a_wide_gap_or_a_rising_validation_loss_is_overfitting() {
    let d = run(&[(0.95, 0.90, 0.2, 0.3), (0.99, 0.90, 0.05, 0.35), (1.0, 0.90, 0.01, 0.4)]);
    assert_eq!(d.verdict, Verdict::Overfitting);
    assert!(d.findings.iter().any(|f| f.id == FindingId::OverfittingGap && f.evidence.contains("10.0-point gap")));
    // A small gap but a validation loss 30% above its best, four epochs on.
    let d = run(&[
        (0.97, 0.96, 0.1, 0.10),
        (0.98, 0.965, 0.05, 0.11),
        (0.99, 0.96, 0.03, 0.12),
        (0.99, 0.96, 0.02, 0.12),
        (0.995, 0.96, 0.01, 0.13),
    ]);
    assert_eq!(d.verdict, Verdict::Overfitting);
    assert!(ids(&d).contains(&FindingId::ValLossRising));
    assert!(ids(&d).contains(&FindingId::EarlyStopRecommended));
    assert_eq!(d.steps[1].0, Mark::Fail);
}

#[test]
fn the_verdict_says_since_when_it_has_held() {
    // Healthy for three epochs, then the gap opens at epoch 4 and stays.
    let d = run(&[
        (0.95, 0.94, 0.2, 0.22),
        (0.97, 0.95, 0.1, 0.2),
        (0.98, 0.955, 0.07, 0.2),
        (0.99, 0.93, 0.04, 0.25),
        (1.0, 0.92, 0.01, 0.3),
        (1.0, 0.92, 0.01, 0.32),
    ]);
    assert_eq!(d.verdict, Verdict::Overfitting);
    assert_eq!(d.since, Some(4));
    assert!(d.steps[1].1.ends_with("overfitting since epoch 4"), "{}", d.steps[1].1);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["since_epoch"], 4);
    // Healthy from the first epoch a verdict is possible.
    assert_eq!(run(&[(0.95, 0.94, 0.2, 0.22), (0.98, 0.97, 0.08, 0.1)]).since, Some(2));
}

#[test]
fn a_net_that_cannot_fit_is_never_called_overfitting() {
    // A big gap, but training accuracy itself is poor: step 1 fails first.
    let d = run(&[(0.60, 0.40, 1.2, 1.8), (0.61, 0.40, 1.19, 1.9), (0.61, 0.40, 1.19, 2.0)]);
    assert_eq!(d.verdict, Verdict::Underfitting);
    assert!(d.findings.iter().all(|f| f.id != FindingId::OverfittingGap));
    assert_eq!(d.steps[0].0, Mark::Fail);
    assert_eq!(d.steps[1].0, Mark::Pending);
}

#[test]
fn chance_accuracy_and_a_flat_loss_is_stalled() {
    assert_eq!(run(&STUCK).verdict, Verdict::Stalled);
}

#[test]
fn a_run_that_gave_up_is_diverging() {
    let e = epochs(&[]);
    let d = diagnose(&Inputs { rollbacks: 7, recent_rollbacks: 7, gave_up: true, ..inputs(&e, settings()) });
    assert_eq!(d.verdict, Verdict::Diverging);
    assert!(d.findings.iter().any(|f| f.id == FindingId::Diverged && f.severity == Severity::Bad));
}

fn preflight(max_abs: f32, off_scale: f32, init_loss: f32, counts: Vec<usize>) -> PreflightPoint {
    PreflightPoint {
        input_max_abs: max_abs,
        mean_range: (0.0, max_abs / 2.0),
        std_range: (0.0, max_abs / 3.0),
        off_scale_share: off_scale,
        init_loss,
        chance_loss: 10f32.ln(),
        class_counts: counts,
        weight_norms: vec![],
    }
}

#[test]
fn step_zero_flags_raw_inputs_whether_or_not_it_trains() {
    let raw = preflight(255.0, 0.7, 120.0, vec![100; 10]);
    let s = Settings { normalized: false, ..settings() };
    // It trains anyway: a warning, and step 0 fails with its evidence.
    let e = epochs(&[(0.95, 0.94, 0.2, 0.22), (0.98, 0.97, 0.08, 0.1)]);
    let d = diagnose(&Inputs { preflight: Some(&raw), ..inputs(&e, s.clone()) });
    assert_eq!(d.verdict, Verdict::Healthy);
    let f = d.findings.iter().find(|f| f.id == FindingId::UnnormalizedInputs).expect("flagged when it trains");
    assert_eq!(f.severity, Severity::Warn);
    assert_eq!(actions(&d, FindingId::UnnormalizedInputs), vec![Action::Normalize]);
    assert_eq!(d.preflight.mark, Mark::Fail);
    assert!(d.preflight.evidence.contains("a far-off start"), "{}", d.preflight.evidence);
    // It fails: bad.
    let e = epochs(&STUCK);
    let d = diagnose(&Inputs { preflight: Some(&raw), ..inputs(&e, s) });
    assert!(d.findings.iter().any(|f| f.id == FindingId::UnnormalizedInputs && f.severity == Severity::Bad));
    // Scaled inputs, a loss at ln(10), balanced classes: step 0 passes.
    let ok = preflight(1.0, 0.0, 2.31, vec![100; 10]);
    let e = epochs(&[(0.95, 0.94, 0.2, 0.22), (0.98, 0.97, 0.08, 0.1)]);
    let d = diagnose(&Inputs { preflight: Some(&ok), ..inputs(&e, settings()) });
    assert_eq!(d.preflight.mark, Mark::Pass, "{}", d.preflight.evidence);
    assert!(!ids(&d).contains(&FindingId::UnnormalizedInputs));
    // One class almost absent: step 0 fails on the balance.
    let skewed = preflight(1.0, 0.0, 2.31, vec![500, 5, 100, 100, 100, 100, 100, 100, 100, 100]);
    let d = diagnose(&Inputs { preflight: Some(&skewed), ..inputs(&e, settings()) });
    assert_eq!(d.preflight.mark, Mark::Fail);
    assert!(d.preflight.evidence.contains("imbalanced"));
    // Standardized features reach large values on rare samples: the
    // per-feature statistics decide, not the largest value.
    let standardized = preflight(40.0, 0.0, 2.4, vec![100; 10]);
    let d = diagnose(&Inputs { preflight: Some(&standardized), ..inputs(&e, settings()) });
    assert!(!ids(&d).contains(&FindingId::UnnormalizedInputs), "{:?}", ids(&d));
}

#[test]
fn a_tiny_update_ratio_is_lr_too_low_whatever_the_loss_did() {
    // The loss falls, slowly; the weights move 1e-7 of their norm a step.
    let e = epochs(&[(0.30, 0.30, 2.0, 2.0), (0.40, 0.40, 1.8, 1.8), (0.50, 0.50, 1.6, 1.6)]);
    let h = history(&e, &[layer(64, 1e-7, 0.1), layer(10, 2e-7, 0.2)]);
    let s = Settings { lr: 1e-5, ..settings() };
    let d = diagnose(&Inputs { layer_history: &h, ..inputs(&e, s) });
    assert_eq!(d.verdict, Verdict::Underfitting);
    assert_eq!(ids(&d)[0], FindingId::LrTooLow, "{:?}", ids(&d));
    assert!(!ids(&d).contains(&FindingId::CapacityTooSmall));
    assert!(actions(&d, FindingId::LrTooLow).contains(&Action::ScaleLr(10.0)));
    // Measured before guessed: the range test comes first.
    assert_eq!(actions(&d, FindingId::LrTooLow)[0], Action::RangeTest);
    // Flat instead of falling: the same cause.
    let e = epochs(&STUCK);
    let h = history(&e, &[layer(64, 1e-7, 0.1), layer(10, 2e-7, 0.2)]);
    let d = diagnose(&Inputs { layer_history: &h, ..inputs(&e, Settings { lr: 1e-5, ..settings() }) });
    assert_eq!(ids(&d)[0], FindingId::LrTooLow);
    // Adam already: no "switch to Adam".
    let s = Settings { lr: 1e-7, optimizer: OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 }, ..settings() };
    let d = diagnose(&Inputs { layer_history: &h, ..inputs(&e, s) });
    assert!(!actions(&d, FindingId::LrTooLow).contains(&Action::UseAdam));
}

#[test]
fn a_huge_update_ratio_is_lr_too_high_before_anything_explodes() {
    let e = epochs(&LEVELS_OFF);
    let h = history(&e, &[layer(64, 0.4, 5.0), layer(10, 0.3, 5.0)]);
    let d = diagnose(&Inputs { layer_history: &h, ..inputs(&e, Settings { lr: 1.0, ..settings() }) });
    assert_eq!(d.verdict, Verdict::Underfitting, "no rollback: not diverging");
    assert!(ids(&d).contains(&FindingId::LrTooHigh));
    let a = actions(&d, FindingId::LrTooHigh);
    assert!(a.contains(&Action::ScaleLr(0.1)) && !a.contains(&Action::DoubleLr));
    assert_eq!(a[0], Action::RangeTest);
    // In the band, the ratio is no cause.
    let h = history(&e, &[layer(64, 1e-3, 0.5), layer(10, 2e-3, 0.5)]);
    let d = diagnose(&Inputs { layer_history: &h, ..inputs(&e, settings()) });
    assert!(!ids(&d).contains(&FindingId::LrTooHigh) && !ids(&d).contains(&FindingId::LrTooLow), "{:?}", ids(&d));
}

#[test]
fn a_penalty_that_crushes_the_weights_is_regularization_too_strong() {
    let e: Vec<EpochPoint> = epochs(&STUCK).into_iter().map(|p| EpochPoint { penalty: 0.05, ..p }).collect();
    let mut pre = preflight(1.0, 0.0, 2.3, vec![100; 10]);
    pre.weight_norms = vec![20.0, 3.0];
    let crushed = [layer(64, 2e-2, 1e-4), layer(10, 2e-2, 1e-2)];
    let h = history(&e, &crushed);
    let s = Settings { l2: 1.0, hidden: vec![512, 512, 512, 512], ..settings() };
    let d = diagnose(&Inputs { layer_history: &h, preflight: Some(&pre), ..inputs(&e, s.clone()) });
    assert_eq!(ids(&d)[0], FindingId::RegularizationTooStrong, "{:?}", ids(&d));
    let f = &d.findings[0];
    assert!(f.evidence.contains("hidden layer 1's weights are at 5.0% of their initial norm"), "{}", f.evidence);
    assert_eq!(actions(&d, FindingId::RegularizationTooStrong), vec![Action::LessL2]);
    // Never "switch to ReLU" (it is ReLU), never "add L2", no vanishing gradients claimed.
    for finding in &d.findings {
        for r in &finding.remedies {
            assert!(!matches!(r.action, Action::UseRelu | Action::AddL2 | Action::Dropout(_)), "{finding:?}");
        }
    }
    assert!(!ids(&d).contains(&FindingId::VanishingGradients));
    // The penalty's share alone is evidence too (no pre-flight).
    let e: Vec<EpochPoint> = epochs(&LEVELS_OFF).into_iter().map(|p| EpochPoint { penalty: 1.0, ..p }).collect();
    let s = Settings { l1: 1e-2, ..settings() };
    let d = diagnose(&inputs(&e, s));
    assert!(d.findings.iter().any(|f| f.id == FindingId::RegularizationTooStrong && f.evidence.contains("45.7%")));
    assert_eq!(actions(&d, FindingId::RegularizationTooStrong), vec![Action::LessL1]);
    // Without L1 or L2, never.
    let d = diagnose(&inputs(&e, settings()));
    assert!(!ids(&d).contains(&FindingId::RegularizationTooStrong));
}

#[test]
fn vanishing_gradients_only_where_saturation_or_depth_explain_them() {
    let e = epochs(&STUCK);
    let layers: Vec<LayerPoint> = [1e-6, 1e-5, 1e-4, 1e-2].iter().map(|&g| layer(128, 1e-3, g)).collect();
    let h = history(&e, &layers);
    let sigmoid = Settings { activation: Activation::Sigmoid, hidden: vec![128; 3], ..settings() };
    let d = diagnose(&Inputs { layer_history: &h, ..inputs(&e, sigmoid) });
    assert!(ids(&d).contains(&FindingId::VanishingGradients));
    assert_eq!(actions(&d, FindingId::VanishingGradients), vec![Action::UseRelu, Action::UseSelu]);
    // The same ratio in a shallow ReLU net is not vanishing gradients.
    let relu = Settings { hidden: vec![128; 3], ..settings() };
    let d = diagnose(&Inputs { layer_history: &h, ..inputs(&e, relu) });
    assert!(!ids(&d).contains(&FindingId::VanishingGradients), "{:?}", ids(&d));
    // A deep ReLU net: vanishing, but never "switch to ReLU".
    let deep = Settings { hidden: vec![128; 8], ..settings() };
    let d = diagnose(&Inputs { layer_history: &h, ..inputs(&e, deep) });
    assert!(ids(&d).contains(&FindingId::VanishingGradients));
    assert!(!actions(&d, FindingId::VanishingGradients).contains(&Action::UseRelu));
    assert!(!actions(&d, FindingId::VanishingGradients).contains(&Action::AddLayer));
}

#[test]
fn dead_units_say_where_and_since_when() {
    let e = epochs(&STUCK);
    let alive = |d: f32| LayerPoint { dead_fraction: Some(d), ..layer(64, 1e-3, 0.1) };
    let h = vec![
        LayerSnapshot { epoch: 1, layers: vec![alive(0.1), alive(0.2), layer(10, 1e-3, 0.1)] },
        LayerSnapshot { epoch: 2, layers: vec![alive(0.1), alive(0.8), layer(10, 1e-3, 0.1)] },
        LayerSnapshot { epoch: 3, layers: vec![alive(0.2), alive(0.9), layer(10, 1e-3, 0.1)] },
    ];
    let d = diagnose(&Inputs { layer_history: &h, ..inputs(&e, Settings { hidden: vec![64, 64], ..settings() }) });
    let f = d.findings.iter().find(|f| f.id == FindingId::DeadUnits).expect("dead units");
    assert!(f.evidence.contains("90.0% of hidden layer 2 (64 units)"), "{}", f.evidence);
    assert!(f.evidence.contains("since epoch 2"), "{}", f.evidence);
    assert!(!actions(&d, FindingId::DeadUnits).contains(&Action::DoubleLr));
    let selu = Settings { activation: Activation::Selu, hidden: vec![64, 64], ..settings() };
    let d = diagnose(&Inputs { layer_history: &h, ..inputs(&e, selu) });
    assert_eq!(actions(&d, FindingId::DeadUnits), vec![Action::HalveLr]);
}

#[test]
fn the_probe_separates_capacity_from_optimization() {
    let e = epochs(&LEVELS_OFF);
    let healthy = history(&e, &[layer(16, 2e-3, 0.5), layer(12, 3e-3, 0.5), layer(10, 3e-3, 0.5)]);
    let s = Settings { hidden: vec![16, 12], ..settings() };
    // The run's own settings memorize a batch: capacity, naming the narrowest layer.
    let probes = [probe(2, true, true)];
    let d = diagnose(&Inputs { layer_history: &healthy, probes: &probes, ..inputs(&e, s.clone()) });
    assert_eq!(ids(&d), vec![FindingId::CapacityTooSmall]);
    assert!(d.findings[0].evidence.contains("hidden layer 2 (12 units)"), "{}", d.findings[0].evidence);
    assert_eq!(actions(&d, FindingId::CapacityTooSmall), vec![Action::Wider, Action::AddLayer]);
    assert_eq!(d.probe.as_ref().map(|c| c.mark), Some(Mark::Pass));
    // Only the reference memorizes it: the settings fail, not the size.
    let probes = [probe(2, false, true)];
    let d = diagnose(&Inputs { layer_history: &healthy, probes: &probes, ..inputs(&e, s.clone()) });
    assert_eq!(ids(&d), vec![FindingId::LrTooLow], "{:?}", ids(&d));
    assert_eq!(d.probe.as_ref().map(|c| c.mark), Some(Mark::Fail));
    // ... or the dropout, when it is high.
    let dropout = Settings { dropout: 0.5, ..s.clone() };
    let d = diagnose(&Inputs { layer_history: &healthy, probes: &probes, ..inputs(&e, dropout) });
    assert_eq!(ids(&d), vec![FindingId::DropoutCost]);
    // A layer narrower than the classes is a bottleneck, whatever the probe says.
    let narrow = Settings { hidden: vec![16, 3], ..settings() };
    let d = diagnose(&Inputs { layer_history: &healthy, probes: &probes, ..inputs(&e, narrow) });
    assert_eq!(ids(&d), vec![FindingId::CapacityTooSmall]);
    assert!(d.findings[0].evidence.contains("hidden layer 2 (3 units)"), "{}", d.findings[0].evidence);
    // Neither memorizes 32 samples: the net is too small for even that.
    let probes = [probe(2, false, false)];
    let d = diagnose(&Inputs { layer_history: &healthy, probes: &probes, ..inputs(&e, s.clone()) });
    assert_eq!(ids(&d), vec![FindingId::CapacityTooSmall]);
    assert!(d.findings[0].evidence.contains("not even"), "{}", d.findings[0].evidence);
    // ... unless the reference ran out of time: that rules out nothing.
    let mut cut = probe(2, false, false);
    cut.reference.timed_out = true;
    let d = diagnose(&Inputs { layer_history: &healthy, probes: &[cut], ..inputs(&e, s.clone()) });
    assert!(d.findings.iter().all(|f| !f.evidence.contains("not even")), "{:?}", d.findings);
    assert!(d.findings[0].evidence.contains("no conclusive probe"), "{}", d.findings[0].evidence);
    // Updates far out of band: never capacity, whatever the probe says.
    let slow = history(&e, &[layer(16, 1e-8, 0.5), layer(12, 1e-8, 0.5), layer(10, 1e-8, 0.5)]);
    let probes = [probe(2, true, true)];
    let d = diagnose(&Inputs { layer_history: &slow, probes: &probes, ..inputs(&e, s.clone()) });
    assert!(!ids(&d).contains(&FindingId::CapacityTooSmall));
    // Still falling fast with a fitting probe: it learns, slowly; no capacity claim.
    let falling = epochs(&[(0.3, 0.3, 2.0, 2.0), (0.4, 0.4, 1.6, 1.6), (0.5, 0.5, 1.2, 1.2)]);
    let d = diagnose(&Inputs { layer_history: &healthy, probes: &probes, ..inputs(&falling, s) });
    assert_eq!(ids(&d), vec![FindingId::LrTooLow]);
    assert_eq!(d.verdict, Verdict::Underfitting);
}

#[test]
fn dropout_that_leaves_fewer_units_than_classes_is_the_cost() {
    // Dropout 0.9 on 16 units: 1.6 on at a step for 10 classes.
    let e = epochs(&LEVELS_OFF);
    let s = Settings { hidden: vec![16], dropout: 0.9, ..settings() };
    let d = diagnose(&inputs(&e, s));
    let f = d.findings.iter().find(|f| f.id == FindingId::DropoutCost).expect("dropout cost");
    assert!(f.evidence.contains("1.6 are on"), "{}", f.evidence);
    assert_eq!(actions(&d, FindingId::DropoutCost), vec![Action::LessDropout]);
}

#[test]
fn a_run_the_guard_rescued_names_the_learning_rate_without_a_remedy() {
    let e: Vec<EpochPoint> = epochs(&[(0.95, 0.94, 0.2, 0.22), (0.98, 0.97, 0.08, 0.1), (0.98, 0.97, 0.07, 0.1)])
        .into_iter()
        .enumerate()
        .map(|(i, p)| EpochPoint { rollbacks: usize::from(i == 0) * 3, ..p })
        .collect();
    let d = diagnose(&Inputs { rollbacks: 3, recent_rollbacks: 0, ..inputs(&e, settings()) });
    assert_eq!(d.verdict, Verdict::Healthy);
    let f = d.findings.iter().find(|f| f.id == FindingId::LrTooHigh).expect("named");
    assert_eq!(f.severity, Severity::Warn);
    assert!(f.remedies.is_empty());
    // It blew up before the first epoch ended: still named.
    let none = epochs(&[]);
    let d = diagnose(&Inputs { rollbacks: 7, recent_rollbacks: 7, gave_up: true, ..inputs(&none, settings()) });
    assert!(ids(&d).contains(&FindingId::LrTooHigh));
}

#[test]
fn without_measurements_the_loss_trend_decides_and_says_so() {
    let d = run(&LEVELS_OFF);
    let f = d.findings.iter().find(|f| f.id == FindingId::CapacityTooSmall).expect("capacity");
    assert!(f.evidence.contains("no conclusive probe"), "{}", f.evidence);
    let d = run(&[(0.3, 0.3, 2.0, 2.0), (0.4, 0.4, 1.8, 1.8), (0.5, 0.5, 1.6, 1.6)]);
    assert_eq!(ids(&d), vec![FindingId::LrTooLow]);
}

#[test]
fn overfitting_remedies_respect_the_settings() {
    let rows = [(0.95, 0.90, 0.2, 0.3), (0.99, 0.90, 0.05, 0.35), (1.0, 0.90, 0.01, 0.4)];
    let e = epochs(&rows);
    let s = Settings { early_stopping: true, dropout: 0.5, l2: 0.1, augmenting: true, ..settings() };
    let d = diagnose(&inputs(&e, s));
    assert_eq!(d.verdict, Verdict::Overfitting);
    assert!(actions(&d, FindingId::OverfittingGap).is_empty(), "{:?}", actions(&d, FindingId::OverfittingGap));
    let d = diagnose(&inputs(&e, settings()));
    assert_eq!(
        actions(&d, FindingId::OverfittingGap),
        vec![Action::EarlyStopping, Action::Dropout(0.5), Action::AddL2, Action::Augment]
    );
}
