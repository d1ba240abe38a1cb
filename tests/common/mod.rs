//! Helpers shared by the integration tests: presets from the shipped files
//! with overrides, and the bundled MNIST loaded once per test binary.

#![allow(dead_code)]

use std::sync::OnceLock;

use fitcheck::data::TrainTest;
use fitcheck::preset::{self, Preset};
use fitcheck::train::load_data;

/// A shipped preset with `--set` style overrides applied.
pub fn preset(name: &str, sets: &[&str]) -> Preset {
    let mut p = Preset::load(&preset::resolve(name).unwrap()).unwrap();
    for s in sets {
        p.set(s).unwrap();
    }
    p
}

/// The bundled MNIST, decoded once.
pub fn mnist() -> TrainTest {
    static DATA: OnceLock<TrainTest> = OnceLock::new();
    DATA.get_or_init(|| load_data(&preset("mnist-mlp", &[])).unwrap()).clone()
}

/// A small, quick MNIST run: 2,000 training and 500 validation digits.
pub fn small(sets: &[&str]) -> Preset {
    let mut all = vec!["train_size=2000", "val_size=500", "hidden=[64]", "epochs=2", "batch_size=50"];
    all.extend_from_slice(sets);
    preset("mnist-mlp", &all)
}
