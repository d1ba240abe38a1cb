//! The lessons issue 14 added, each asserted on a real headless run: weights
//! saved and loaded back, transfer learning beating the same small data from
//! scratch, different seeds ending apart, and a net memorizing noisy labels
//! while validation falls (and dropout slowing it).

mod common;

use std::process::Command;

use common::{mnist, preset, run};
use fitcheck::train::{Event, Summary, Trainer, spawn};

/// Trains `trainer` to its summary.
fn finish(trainer: Trainer) -> Summary {
    let handle = spawn(trainer).unwrap();
    let summary = handle.events.iter().find_map(|e| match e {
        Event::Summary(s) => Some(s),
        Event::Failed { message } => panic!("{message}"),
        _ => None,
    });
    handle.thread.join().unwrap();
    summary.expect("a summary")
}

#[test]
fn saved_weights_load_back_to_the_same_test_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.safetensors");
    let p = common::small(&[]);
    let mut trainer = common::trainer(&p, mnist());
    trainer.save_at_end(file.clone());
    let trained = finish(trainer).test_acc.unwrap();
    assert!(trained > 0.8, "{trained}");
    let mut q = p.clone();
    q.init_from = Some(file.display().to_string());
    q.seed = 99; // another start, overwritten by the file
    let mut loaded = Trainer::new(&q, mnist()).unwrap();
    assert_eq!(loaded.test_accuracy(), trained, "the loaded net is the saved one");
    // A net of another shape is refused, naming the first mismatch.
    let mut wide = q.clone();
    wide.hidden = vec![32];
    let e = Trainer::new(&wide, mnist()).err().expect("refused").to_string();
    assert!(e.contains("init_from") && e.contains("dense.0.weight"), "{e}");
}

#[test]
fn transfer_from_digits_0_to_4_beats_500_digits_of_5_to_9_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pre.safetensors");
    let pre = preset("mnist-pretrain-0to4", &[]);
    let data = mnist().keep_classes(pre.classes.as_deref().unwrap()).unwrap();
    let mut trainer = common::trainer(&pre, data);
    trainer.save_at_end(file.clone());
    let pre_summary = finish(trainer);
    assert!(pre_summary.best_val_acc > 0.97, "{pre_summary:?}");
    let from = format!("init_from={:?}", file.display().to_string());
    let transfer = run("mnist-transfer-5to9", &[&from, "epochs=15"]);
    let scratch = run("mnist-scratch-5to9", &["epochs=15"]);
    let (t, s) = (transfer.summary.best_val_acc, scratch.summary.best_val_acc);
    eprintln!("transfer {t:.4}, scratch {s:.4}");
    assert!(t >= s + 0.01, "transfer {t} vs scratch {s}");
    // It also starts far ahead: features, not just more epochs.
    assert!(transfer.epochs[0].val_acc > scratch.epochs[0].val_acc + 0.03);
}

#[test]
fn different_seeds_end_apart_and_the_spread_is_reported() {
    let out = Command::new(env!("CARGO_BIN_EXE_fitcheck"))
        .args(["run", "spirals", "--epochs", "8", "--seeds", "3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().filter(|l| l["type"] == "summary").count(), 3);
    let spread = lines.last().unwrap();
    assert_eq!(spread["type"], "seeds");
    assert_eq!(spread["seeds"], 3);
    let best = &spread["best_val_acc"];
    assert!(best["max"].as_f64().unwrap() > best["min"].as_f64().unwrap(), "{spread}");
    assert!(best["std"].as_f64().unwrap() > 0.0);
    assert!(spread["test_acc"]["mean"].as_f64().unwrap() > 0.3);
}

#[test]
fn a_net_memorizes_noisy_labels_as_validation_falls_and_dropout_slows_it() {
    let noisy = run("mnist-noisy-labels", &["epochs=30"]);
    let memo: Vec<f32> = noisy.epochs.iter().map(|e| e.noise_memorized.expect("measured with label noise")).collect();
    let best_val = noisy.epochs.iter().map(|e| e.val_acc).fold(0.0, f32::max);
    let last = noisy.epochs.last().unwrap();
    eprintln!(
        "memorized {:.3} -> {:.3}; val best {best_val:.3}, last {:.3}",
        memo[0],
        memo[memo.len() - 1],
        last.val_acc
    );
    assert!(memo[memo.len() - 1] > memo[0] + 0.3, "{memo:?}");
    assert!(last.val_acc < best_val - 0.02, "validation falls from {best_val} to {}", last.val_acc);
    let dropout = run("mnist-noisy-labels", &["epochs=30", "dropout=0.5"]);
    let memo_dropout = dropout.epochs.last().unwrap().noise_memorized.unwrap();
    eprintln!("with dropout 0.5: memorized {memo_dropout:.3}");
    assert!(memo_dropout < memo[memo.len() - 1] - 0.1, "dropout {memo_dropout} vs {}", memo[memo.len() - 1]);
    // Without label noise there is nothing to memorize, and nothing is reported.
    assert!(run("mnist-mlp", &["epochs=1", "train_size=1000"]).epochs[0].noise_memorized.is_none());
}
