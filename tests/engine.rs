//! The engine on the real MNIST: every activation and optimizer learns in
//! one epoch, the convolutional front end learns, and a function-preserving
//! layer insert keeps the outputs on real digits.

mod common;

use common::{mnist, preset};
use fitcheck::data::{Normalize, Normalizer};
use fitcheck::nn::{Activation, Fidelity, Init, Network};
use fitcheck::train::{Event, spawn};
use ndarray::Array2;
use rand::SeedableRng;

/// Trains a preset to the end headless and returns the best validation accuracy.
fn best_val_acc(p: &fitcheck::preset::Preset) -> f32 {
    let handle = spawn(common::trainer(p, mnist())).unwrap();
    let mut best = None;
    for e in handle.events.iter() {
        match e {
            Event::Summary(s) => best = Some(s.best_val_acc),
            Event::Failed { message } => panic!("{message}"),
            _ => {}
        }
    }
    handle.thread.join().unwrap();
    best.expect("a summary")
}

/// Each setting's learning rate is the one it needs (sigmoid a larger one,
/// the adaptive optimizers their usual 1e-3); all on the full training
/// split, one epoch, a 128-unit hidden layer to keep the suite quick.
/// `every_activation_and_optimizer_on_the_full_preset` runs mnist-mlp itself.
const SETTINGS: [&[&str]; 12] = [
    &["activation=Sigmoid", "lr=0.1"],
    &["activation=Tanh"],
    &["activation=Relu"],
    &["activation=LeakyRelu"],
    &["activation=Elu"],
    &["activation=Selu", "lr=0.02"],
    &["activation=Linear", "lr=0.01"],
    &["optimizer=Sgd(momentum: 0.0, nesterov: false)", "lr=0.1"],
    &["optimizer=Sgd(momentum: 0.9, nesterov: true)"],
    &["optimizer=Adam(beta1: 0.9, beta2: 0.999)", "lr=0.001"],
    &["optimizer=RmsProp(rho: 0.9)", "lr=0.001"],
    &["optimizer=Adagrad", "lr=0.05"],
];

fn check_all(extra: &[&str]) {
    let mut failures = Vec::new();
    for setting in SETTINGS {
        let mut sets = vec!["epochs=1"];
        sets.extend_from_slice(extra);
        sets.extend_from_slice(setting);
        let acc = best_val_acc(&preset("mnist-mlp", &sets));
        eprintln!("{setting:?}: {acc}");
        if acc <= 0.90 {
            failures.push(format!("{setting:?}: {acc}"));
        }
    }
    assert!(failures.is_empty(), "below 90% after one epoch: {failures:?}");
}

#[test]
fn every_activation_and_optimizer_learns_mnist_in_one_epoch() {
    check_all(&["hidden=[128]"]);
}

#[test]
#[ignore = "the full 784-512-512-10 preset, 12 epochs of MNIST: run with --ignored"]
fn every_activation_and_optimizer_on_the_full_preset() {
    check_all(&[]);
}

#[test]
fn a_small_convolutional_net_learns_digits() {
    let p = preset(
        "mnist-mlp",
        &[
            "conv=Some([Conv(filters: 8, kernel: 3), MaxPool(2)])",
            "hidden=[32]",
            "train_size=3000",
            "val_size=1000",
            "epochs=2",
        ],
    );
    let acc = best_val_acc(&p);
    assert!(acc > 0.88, "{acc}");
}

#[test]
fn inserting_an_identity_layer_keeps_the_outputs_on_real_digits() {
    let data = mnist();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut net = Network::new(784, &[64, 32], 10, Activation::Relu, Init::Auto, &mut rng);
    let idx: Vec<u32> = (0..200).collect();
    let mut x = Array2::zeros((200, 784));
    let mut y = vec![0u8; 200];
    let norm = Normalizer::fit(Normalize::Scale255, &data.train, &idx).unwrap();
    data.train.gather(&idx, &norm, x.view_mut(), &mut y);
    let before = net.forward(x.view(), &mut net.workspace(200, 0)).to_owned();
    assert_eq!(net.insert_identity_layer(), Fidelity::Exact);
    let after = net.forward(x.view(), &mut net.workspace(200, 0)).to_owned();
    let worst = (&after - &before).iter().fold(0.0f32, |m, d| m.max(d.abs()));
    assert!(worst < 1e-5, "outputs moved by {worst}");
}
