//! The command line as a user runs it: the headless JSON lines, the run
//! log, and bad input (exit code 2, a message naming the file and field,
//! never a panic).

use std::process::{Command, Output};

fn fitcheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fitcheck"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run fitcheck")
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The walking skeleton's bar: the baseline reaches 97% validation accuracy
/// in two epochs on the full MNIST, an epoch line per epoch, then a summary.
#[test]
fn mnist_mlp_reaches_97_percent_in_two_epochs() {
    let out = fitcheck(&["run", "mnist-mlp", "--epochs", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = lines(&out);
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (i, l) in lines[..2].iter().enumerate() {
        assert_eq!(l["type"], "epoch");
        assert_eq!(l["epoch"], i + 1);
        for key in [
            "step",
            "train_loss",
            "train_acc",
            "train_loss_eval",
            "val_loss",
            "val_acc",
            "lr",
            "samples_per_s",
            "elapsed_s",
        ] {
            assert!(l[key].is_number(), "{key} missing in {l}");
        }
    }
    let summary = &lines[2];
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["stopped"], "completed");
    let best = summary["best_val_acc"].as_f64().unwrap();
    assert!(best >= 0.97, "best validation accuracy {best}");
    assert!(summary["test_acc"].as_f64().unwrap() > 0.96);
    assert_eq!(summary["diagnosis"]["verdict"], "healthy", "{summary}");
    assert_eq!(summary["diagnosis"]["findings"][0]["id"], "healthy");
    // Field order as DESIGN.md writes it, and short numbers (f32, not f64 noise).
    let raw = String::from_utf8_lossy(&out.stdout);
    let last = raw.lines().last().unwrap();
    assert!(last.starts_with(r#"{"type":"summary","epochs":2,"best_epoch":"#), "{last}");
    assert!(!last.contains("00000"), "{last}");
}

#[test]
fn metrics_log_holds_every_event_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl");
    let out = fitcheck(&[
        "run",
        "mnist-mlp",
        "--epochs",
        "1",
        "--set",
        "train_size=3000",
        "--set",
        "val_size=1000",
        "--set",
        "hidden=[32]",
        "--metrics",
        log.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    let types: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("start"));
    assert!(types.iter().any(|t| t == "epoch"));
    assert_eq!(types.last().map(String::as_str), Some("summary"));
}

#[test]
fn unknown_preset_exits_2_and_lists_the_presets() {
    let out = fitcheck(&["run", "no-such-preset"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("no-such-preset: no such preset") && err.contains("mnist-mlp"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_set_exits_2_naming_the_field() {
    let out = fitcheck(&["run", "mnist-mlp", "--set", "lr=-0.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        "fitcheck: --set lr=-0.5: field `lr`: the learning rate must be > 0 and finite, got -0.5"
    );
    let out = fitcheck(&["run", "mnist-mlp", "--set", "hidden=[64,"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("field `hidden`"), "{}", stderr(&out));
    let out = fitcheck(&["run", "mnist-mlp", "--set", "train_size=60000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("field `train_size`"), "{}", stderr(&out));
}

#[test]
fn check_reports_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/presets/mnist-mlp.ron")).unwrap();
    let ok = dir.path().join("ok.ron");
    std::fs::write(&ok, &good).unwrap();
    let out = fitcheck(&["check", ok.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let bad = dir.path().join("bad.ron");
    std::fs::write(&bad, good.replace("    seed: 7,", "    seed: 7,\n    sead: 8,")).unwrap();
    let out = fitcheck(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:24:", bad.display())) && err.contains("sead"), "{err}");

    let range = dir.path().join("range.ron");
    std::fs::write(&range, good.replace("batch_size: 64", "batch_size: 0")).unwrap();
    let out = fitcheck(&["check", range.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("range.ron:19:5: field `batch_size`: must be at least 1"), "{err}");

    let unsupported = dir.path().join("later.ron");
    std::fs::write(
        &unsupported,
        good.replace("early_stopping: None", "early_stopping: Some(EarlyStopping(patience: 0, min_delta: 0.0))"),
    )
    .unwrap();
    let out = fitcheck(&["check", unsupported.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("field `early_stopping`: patience must be at least 1"), "{}", stderr(&out));
}

#[test]
fn broken_dataset_folder_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // A truncated training image file: the header promises 10 images of 28x28.
    let mut images = vec![0, 0, 8, 3];
    for d in [10u32, 28, 28] {
        images.extend_from_slice(&d.to_be_bytes());
    }
    images.extend_from_slice(&[0; 100]);
    std::fs::write(dir.path().join("train-images-idx3-ubyte"), &images).unwrap();
    std::fs::write(dir.path().join("train-labels-idx1-ubyte"), [0, 0, 8, 1, 0, 0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0])
        .unwrap();
    let set = format!("dataset=Idx(dir: \"{}\")", dir.path().display());
    let out = fitcheck(&["run", "mnist-mlp", "--set", &set]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("train-images-idx3-ubyte: truncated: the header says 7840 bytes"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let set = format!("dataset=Idx(dir: \"{}\")", empty.path().display());
    let out = fitcheck(&["run", "mnist-mlp", "--set", &set]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing train-images-idx3-ubyte"), "{}", stderr(&out));
}

#[test]
fn presets_lists_name_dataset_and_lesson() {
    let out = fitcheck(&["presets"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("mnist-mlp") && l.contains("MNIST") && l.contains("baseline")),
        "{text}"
    );
}

#[test]
fn bench_prints_one_json_line() {
    let out = fitcheck(&["bench", "mnist-mlp", "--set", "hidden=[32]", "--set", "train_size=2000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["type"], "bench");
    assert!(lines[0]["train_samples_per_s"].as_f64().unwrap() > 0.0);
    assert!(lines[0]["eval_samples_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn tui_with_bad_input_exits_2_before_touching_the_terminal() {
    let out = fitcheck(&["tui", "mnist-mlp", "--set", "dropout=2"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).trim(), "fitcheck: --set dropout=2: field `dropout`: must be in [0, 1), got 2");
    // No escape sequences: raw mode and the alternate screen were never entered.
    assert!(!out.stdout.contains(&0x1b), "{:?}", String::from_utf8_lossy(&out.stdout));
}
