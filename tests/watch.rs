//! `fitcheck diagnose` and the replay source on real runs: the PyTorch runs
//! of `tests/fixtures/external/` (written by the real writers, see
//! `docs/watch.md`) from their TensorBoard event files and as CSV, and a
//! fitcheck run log read back.

use std::path::Path;
use std::process::{Command, Output};

fn diagnose(path: &str) -> Output {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    Command::new(env!("CARGO_BIN_EXE_fitcheck")).arg("diagnose").arg(full).output().unwrap()
}

fn verdict(path: &str) -> (String, usize) {
    let out = diagnose(path);
    assert!(out.status.success(), "{path}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    let epochs = lines.iter().filter(|l| l["type"] == "epoch").count();
    (summary["diagnosis"]["verdict"].as_str().unwrap().to_string(), epochs)
}

#[test]
fn a_pytorch_run_that_overfits_is_overfitting_and_a_healthy_one_healthy_from_event_files_and_csv() {
    for (path, want, epochs) in [
        ("tests/fixtures/external/torch-tb/overfit", "overfitting", 30),
        ("tests/fixtures/external/keras-csv/overfit.csv", "overfitting", 30),
        ("tests/fixtures/external/lightning/overfit", "overfitting", 30),
        ("tests/fixtures/external/torch-tb/healthy", "healthy", 5),
        ("tests/fixtures/external/keras-csv/healthy.csv", "healthy", 5),
        ("tests/fixtures/external/lightning/healthy", "healthy", 5),
    ] {
        assert_eq!(verdict(path), (want.to_string(), epochs), "{path}");
    }
}

#[test]
fn unreadable_or_unknown_input_is_exit_2_with_one_message() {
    for path in ["Cargo.toml", "tests/fixtures/nothing-here", "src"] {
        let out = diagnose(path);
        assert_eq!(out.status.code(), Some(2), "{path}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn a_fitcheck_run_log_is_replayed_through_the_same_run_model() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl");
    let run = Command::new(env!("CARGO_BIN_EXE_fitcheck"))
        .args(["run", "spirals", "--epochs", "3", "--metrics"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(run.status.success());
    let live: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&run.stdout).lines().last().unwrap()).unwrap();
    let (verdict, epochs) = verdict(log.to_str().unwrap());
    assert_eq!(epochs, 3);
    assert_eq!(verdict, live["diagnosis"]["verdict"].as_str().unwrap(), "the replay reaches the live verdict");
    // The log's verdict lines say when the verdict changed.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().any(|l| l.contains(r#""type":"verdict""#)));
}

/// A record length near 2^64 with a valid CRC (the fixture's generator is
/// beside it) once overflowed the reader's arithmetic and panicked: now the
/// epochs before it are diagnosed and the damage is a warning on stderr.
#[test]
fn a_record_length_near_the_integer_limit_is_a_warning_not_a_crash() {
    let out = diagnose("tests/fixtures/damaged/huge-length");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("bytes long") && err.contains("the rest of this file is not read"), "{err}");
    assert_eq!(verdict("tests/fixtures/damaged/huge-length").1, 5, "the epochs before the damage");
}

/// The diagnosis is linear in the number of epochs: 100,000 epochs of a
/// JSON-lines log diagnose in seconds (the bound is generous on purpose; the
/// quadratic version took over two minutes for 10,000).
#[test]
fn a_hundred_thousand_epochs_diagnose_in_seconds() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for e in 1..=100_000u32 {
        let t = 2.3 * (-(e as f64) / 20_000.0).exp() + 0.1 + f64::from(e % 7) * 1e-3;
        writeln!(f, "{{\"epoch\":{e},\"train_loss\":{t},\"val_loss\":{}}}", t * 1.1).unwrap();
    }
    drop(f);
    let start = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_fitcheck")).arg("diagnose").arg(&path).output().unwrap();
    let took = start.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 100_001, "every epoch and the summary");
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
}
