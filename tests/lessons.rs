//! The lessons of LESSONS.md, each shown by its preset on real data. The
//! quick checks run in `cargo test`; `cargo test --release -- --ignored`
//! runs every preset in full and prints the table of the closing notes.

mod common;

use common::run;
use fitcheck::diagnose::Verdict;
use fitcheck::train::{Event, Stopped};

#[test]
fn raw_pixels_fail_and_normalizing_fixes_them() {
    let raw = run("mnist-raw-pixels", &["epochs=2"]);
    assert!(raw.summary.best_val_acc < 0.5, "raw pixels: {}", raw.summary.best_val_acc);
    raw.assert_verdict(Verdict::Stalled, "unnormalized_inputs");
    let scaled = run("mnist-raw-pixels", &["epochs=2", "normalize=Scale255"]);
    assert!(scaled.summary.best_val_acc >= 0.95, "scaled: {}", scaled.summary.best_val_acc);
    scaled.assert_verdict(Verdict::Healthy, "healthy");
}

#[test]
fn a_bigger_network_learns_fizzbuzz() {
    let shallow = run("fizzbuzz-shallow", &[]);
    assert!(shallow.summary.test_acc.unwrap() <= 0.8, "shallow on 1..100: {:?}", shallow.summary.test_acc);
    shallow.assert_verdict(Verdict::Underfitting, "capacity_too_small");
    let deep = run("fizzbuzz-deep", &[]);
    assert!(deep.summary.test_acc.unwrap() >= 0.95, "deep on 1..100: {:?}", deep.summary.test_acc);
    deep.assert_verdict(Verdict::Healthy, "healthy");
}

#[test]
fn deep_sigmoid_stalls_and_relu_learns() {
    let sigmoid = run("mnist-deep-sigmoid", &["epochs=2"]);
    assert!(sigmoid.summary.best_val_acc < 0.5, "sigmoid: {}", sigmoid.summary.best_val_acc);
    sigmoid.assert_verdict(Verdict::Stalled, "vanishing_gradients");
    let relu = run("mnist-deep-sigmoid", &["epochs=2", "activation=Relu"]);
    assert!(relu.summary.best_val_acc >= 0.9, "relu: {}", relu.summary.best_val_acc);
    relu.assert_verdict(Verdict::Healthy, "healthy");
}

#[test]
fn a_deep_selu_net_trains_well() {
    let selu = run("mnist-selu", &["epochs=3"]);
    assert!(selu.summary.best_val_acc >= 0.95, "{}", selu.summary.best_val_acc);
    selu.assert_verdict(Verdict::Healthy, "healthy");
}

#[test]
fn a_learning_rate_too_high_is_caught_and_rolled_back() {
    let r = run("mnist-lr-too-high", &["epochs=2"]);
    r.assert_verdict(Verdict::Diverging, "lr_too_high");
    assert!(r.count(|e| matches!(e, Event::Diverged { .. })) >= 1);
    common::assert_all_finite(&r.events);
    assert!(r.summary.best_val_acc > 0.5, "it trains after the rollbacks: {}", r.summary.best_val_acc);
}

#[test]
fn small_data_and_a_wide_net_overfit_and_early_stopping_stops() {
    let over = run("mnist-overfit", &["epochs=20"]);
    let gap = over.best_train_acc() - over.summary.best_val_acc;
    assert!(over.best_train_acc() >= 0.99 && gap >= 0.05, "train {} gap {gap}", over.best_train_acc());
    over.assert_verdict(Verdict::Overfitting, "overfitting_gap");
    over.assert_verdict(Verdict::Overfitting, "val_loss_rising");
    over.assert_verdict(Verdict::Overfitting, "early_stop_recommended");
    let early = run("mnist-early-stop", &[]);
    early.assert_verdict(Verdict::Overfitting, "overfitting_gap");
    assert_eq!(early.summary.stopped, Stopped::EarlyStop);
    assert!(early.summary.epochs < 60);
}

/// Every preset in full; prints the lessons' numbers.
#[test]
#[ignore = "every preset in full (a few minutes): cargo test --release -- --ignored --nocapture"]
fn every_remedy_beats_overfitting_in_full() {
    let over = run("mnist-overfit", &[]);
    let gap = over.best_train_acc() - over.summary.best_val_acc;
    println!(
        "mnist-overfit: train {:.4}, best val {:.4}, gap {gap:.4}, min val loss {:.4}",
        over.best_train_acc(),
        over.summary.best_val_acc,
        over.min_val_loss()
    );
    assert!(over.best_train_acc() >= 0.99 && gap >= 0.05);
    let mut worse = Vec::new();
    for name in ["mnist-dropout", "mnist-l2", "mnist-augment", "mnist-cnn", "mnist-early-stop"] {
        let r = run(name, &[]);
        println!(
            "{name}: best val {:.4} (overfit {:.4}), min val loss {:.4} (overfit {:.4}), epochs {}, {:?}",
            r.summary.best_val_acc,
            over.summary.best_val_acc,
            r.min_val_loss(),
            over.min_val_loss(),
            r.summary.epochs,
            r.summary.stopped
        );
        // L2 on this set lowers the validation *loss* (no more overconfident
        // mistakes) but its best accuracy stays within ±0.2 points of the
        // unregularized run's across seeds: measured, so that is what it must show.
        let better = match name {
            "mnist-early-stop" => r.summary.stopped == Stopped::EarlyStop,
            "mnist-l2" => r.min_val_loss() < over.min_val_loss() - 0.02,
            _ => r.summary.best_val_acc > over.summary.best_val_acc,
        };
        println!(
            "  verdict {:?}: {:?}",
            r.diagnosis().verdict,
            r.diagnosis().findings.iter().map(|f| f.id.as_str()).collect::<Vec<_>>()
        );
        if !better {
            worse.push(name);
        }
    }
    assert!(worse.is_empty(), "no better than mnist-overfit: {worse:?}");
}

/// "L2 helps" measured as `fitcheck compare` measures a change: the same
/// seeds with and without it, the difference paired by seed and stated
/// against its spread. On mnist-overfit L2 lowers the validation loss (no
/// more overconfident mistakes) rather than raising the accuracy, so the
/// loss is what is asserted. (`tests/lr_find.rs` does dropout the same way,
/// through the command line.)
#[test]
fn l2_lowers_the_validation_loss_of_mnist_overfit_over_seeds() {
    let base = common::preset("mnist-overfit", &["epochs=12", "val_size=2000"]);
    let changed = fitcheck::preset::Preset { l2: 0.003, ..base.clone() };
    let mut out = Vec::new();
    let setup = |_: bool, p: &fitcheck::preset::Preset| fitcheck::train::Trainer::new(p, common::mnist());
    fitcheck::compare::compare(&base, &changed, "l2=0.003", 2, setup, &mut out, &crossbeam_channel::never::<()>())
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    println!("{text}");
    assert_eq!(last["type"], "compare", "{text}");
    let diff = last["final_val_loss_diff"]["mean"].as_f64().unwrap();
    assert!(diff < -0.02, "L2 leaves the final validation loss where it was: {text}");
    assert_eq!(last["loss_beyond_noise"], true, "{text}");
}
