//! The checklist's verdicts on real runs the thresholds were not tuned on:
//! the verdict follows the change. (Each lesson's own verdict is asserted
//! beside its numbers in `tests/lessons.rs`.)

mod common;

use fitcheck::diagnose::{Diagnosis, Verdict};

fn diagnose(name: &str, sets: &[&str]) -> Diagnosis {
    common::run(name, sets).diagnosis()
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

/// The lessons' own verdicts are asserted beside their numbers in
/// `tests/lessons.rs` (the same runs); spirals has no lesson test.
#[test]
fn spirals_is_healthy() {
    check("spirals", &[], Verdict::Healthy, "healthy");
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
