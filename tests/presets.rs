//! Presets are checked data: every shipped preset loads and trains a few
//! steps, and each broken fixture in `tests/fixtures/invalid/` fails with
//! its exact message and exit code 2.

mod common;

use std::process::Command;

use fitcheck::preset::{self, Preset};

#[test]
fn every_shipped_preset_loads_and_trains_a_few_steps() {
    let presets = preset::list();
    assert!(presets.len() >= 14, "{presets:?}");
    for (name, path) in presets {
        let p = Preset::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.name, name, "a preset's name is its file name");
        assert!(!p.lesson.is_empty());
        let small = if matches!(p.dataset, fitcheck::data::DatasetSpec::FizzBuzz) {
            "train_size=300"
        } else {
            "train_size=200"
        };
        let r = common::run(&name, &["epochs=1", small, "val_size=100"]);
        assert_eq!(r.epochs.len(), 1, "{name}");
        assert!(r.epochs[0].val_loss.is_finite(), "{name}");
    }
}

#[test]
fn each_invalid_fixture_fails_with_its_own_message() {
    let cases = [
        ("dropout-one.ron", "14:5: field `dropout`: must be in [0, 1), got 1"),
        ("missing-field.ron", "23:1: Unexpected missing field named `epochs` in `Preset`"),
        ("negative-lr.ron", "18:5: field `lr`: the learning rate must be > 0 and finite, got -0.5"),
        (
            "too-many-samples.ron",
            "6:5: field `train_size`: train_size 70000 is more than the 50000 samples left after val_size 10000",
        ),
        ("unknown-activation.ron", "13:17: field `activation`: Unexpected variant named `Swish` in enum `Activation`"),
        ("unknown-field.ron", "24:5: Unexpected field named `colour` in `Preset`"),
        ("wrong-type.ron", "18:8: field `lr`: Expected float"),
        ("zero-batch.ron", "19:5: field `batch_size`: must be at least 1"),
        ("zero-width.ron", "11:5: field `hidden`: hidden layer 2 has width 0"),
    ];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/invalid");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), cases.len(), "a case for every fixture");
    for (file, want) in cases {
        let path = format!("tests/fixtures/invalid/{file}");
        for cmd in ["check", "run"] {
            let out = Command::new(env!("CARGO_BIN_EXE_fitcheck"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args([cmd, &path])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{cmd} {file}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.starts_with(&format!("fitcheck: {path}:{want}")), "{cmd} {file}: {err}");
            assert!(!err.contains("panicked"));
        }
    }
}
