//! The checklist's verdicts on real runs: every lesson's preset gets the
//! verdict its lesson teaches, and variations the thresholds were not tuned
//! on get the verdict that follows from them.

mod common;

use fitcheck::diagnose::{Diagnosis, Verdict};
use fitcheck::verdict::RunRecord;

fn diagnose(name: &str, sets: &[&str]) -> Diagnosis {
    let r = common::run(name, sets);
    let mut record = RunRecord::new(common::preset(name, sets));
    r.events.iter().for_each(|e| record.record(e));
    record.diagnosis()
}

fn check(name: &str, sets: &[&str], verdict: Verdict, finding: &str) {
    let d = diagnose(name, sets);
    let ids: Vec<&str> = d.findings.iter().map(|f| f.id).collect();
    assert_eq!(d.verdict, verdict, "{name} {sets:?}: {ids:?}");
    assert!(ids.contains(&finding), "{name} {sets:?}: {finding} not in {ids:?}");
    for f in &d.findings {
        assert!(f.evidence.chars().any(|c| c.is_ascii_digit()), "evidence in numbers: {}", f.evidence);
    }
}

#[test]
fn each_lesson_gets_the_verdict_it_teaches() {
    check("mnist-mlp", &["epochs=2"], Verdict::Healthy, "healthy");
    check("mnist-raw-pixels", &["epochs=2"], Verdict::Stalled, "unnormalized_inputs");
    check("fizzbuzz-shallow", &[], Verdict::Underfitting, "capacity_too_small");
    check("fizzbuzz-deep", &[], Verdict::Healthy, "healthy");
    check("mnist-deep-sigmoid", &["epochs=2"], Verdict::Stalled, "vanishing_gradients");
    check("mnist-lr-too-high", &["epochs=2"], Verdict::Diverging, "lr_too_high");
    let over = diagnose("mnist-overfit", &["epochs=20"]);
    assert_eq!(over.verdict, Verdict::Overfitting);
    let ids: Vec<&str> = over.findings.iter().map(|f| f.id).collect();
    assert!(ids.contains(&"overfitting_gap") && ids.contains(&"val_loss_rising"), "{ids:?}");
    assert!(ids.contains(&"early_stop_recommended"), "{ids:?}");
    check("mnist-early-stop", &[], Verdict::Overfitting, "overfitting_gap");
    check("spirals", &[], Verdict::Healthy, "healthy");
}

#[test]
fn a_deep_selu_net_is_healthy() {
    check("mnist-selu", &["epochs=2"], Verdict::Healthy, "healthy");
}

/// Scenarios the thresholds were not tuned on: the verdict follows the change.
#[test]
fn the_verdict_follows_the_scenario() {
    // A learning rate 250 times smaller: still learning, slowly.
    check(
        "mnist-mlp",
        &["epochs=2", "lr=0.0002", "optimizer=Sgd(momentum: 0.0, nesterov: false)"],
        Verdict::Underfitting,
        "lr_too_low",
    );
    // Tanh instead of sigmoid in the same eight layers: it learns.
    check("mnist-deep-sigmoid", &["epochs=2", "activation=Tanh"], Verdict::Healthy, "healthy");
    // Two hidden units cannot wind around three spiral arms.
    let d = diagnose("spirals", &["hidden=[2]"]);
    assert!(matches!(d.verdict, Verdict::Stalled | Verdict::Underfitting), "{:?}", d.verdict);
    assert!(d.findings.iter().any(|f| f.id == "capacity_too_small"));
    // Twenty times the data closes the gap.
    check("mnist-overfit", &["train_size=20000", "epochs=5"], Verdict::Healthy, "healthy");
    // 30% noisy labels cap training accuracy near 70%: that is not underfitting.
    check("mnist-mlp", &["epochs=3", "label_noise=0.3"], Verdict::Healthy, "healthy");
    // One epoch is not enough evidence for anything.
    assert_eq!(diagnose("mnist-mlp", &["epochs=1"]).verdict, Verdict::TooEarly);
}
