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
    // The summary says that something was skipped (issue 22), not just stderr.
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(summary["skipped"], err.lines().filter(|l| l.starts_with("fitcheck: warning:")).count());
    assert!(summary["skipped"].as_u64().unwrap() >= 1, "{summary}");
    let clean: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&diagnose("tests/fixtures/external/keras-csv/overfit.csv").stdout)
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(clean["skipped"], 0, "{clean}");
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

fn diagnose_with(path: &str, maps: &[&str]) -> Output {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fitcheck"));
    cmd.arg("diagnose").arg(full);
    for m in maps {
        cmd.args(["--map", m]);
    }
    cmd.output().unwrap()
}

fn epoch_lines(out: &Output) -> Vec<serde_json::Value> {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["type"] == "epoch")
        .collect()
}

/// The TF2 fixtures were written by TensorFlow 2.21 itself
/// (`tests/fixtures/external/make_tf2.py`).
#[test]
fn a_custom_tf2_loop_with_train_and_test_folders_reads_test_as_validation() {
    let path = "tests/fixtures/external/tf2/custom-loop";
    assert_eq!(verdict(path), ("overfitting".to_string(), 25));
    let out = diagnose(path);
    let epochs = epoch_lines(&out);
    assert!(
        epochs.iter().all(|e| e["val_loss"].is_number() && e["val_acc"].is_number() && e["train_loss"].is_number())
    );
    // The test loss bottoms out at epoch 3 (0-based 2) while training keeps falling.
    let val: Vec<f64> = epochs.iter().map(|e| e["val_loss"].as_f64().unwrap()).collect();
    let best = val.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    assert_eq!(best + 1, 3, "{val:?}");
}

#[test]
fn a_keras_fit_without_validation_is_a_training_only_run() {
    let path = "tests/fixtures/external/tf2/keras-fit";
    let out = diagnose(path);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let epochs = epoch_lines(&out);
    assert_eq!(epochs.len(), 6);
    assert!(epochs.iter().all(|e| e["val_loss"].is_null() && e["train_acc"].is_number()));
    assert_eq!(epochs[0]["lr"], 0.05, "Keras' own epoch_learning_rate");
    let text = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let ids: Vec<&str> =
        summary["diagnosis"]["findings"].as_array().unwrap().iter().filter_map(|f| f["id"].as_str()).collect();
    assert!(ids.contains(&"no_validation"), "{ids:?}");
}

/// The error lists every tag of every folder, prefixed by the folder, and
/// exactly those names work with --map.
#[test]
fn tf2_folder_tags_are_listed_by_the_error_and_mapped_by_those_names() {
    for (path, want_tags) in [
        (
            "tests/fixtures/external/tf2/custom-loop",
            vec!["train/loss", "train/accuracy", "test/v_loss", "test/v_accuracy"],
        ),
        ("tests/fixtures/external/tf2/keras-fit", vec!["train/epoch_loss", "train/epoch_accuracy"]),
    ] {
        let ignore: Vec<String> = want_tags.iter().map(|t| format!("{t}=ignore")).collect();
        let ignore: Vec<&str> = ignore.iter().map(String::as_str).collect();
        let out = diagnose_with(path, &ignore);
        assert_eq!(out.status.code(), Some(2), "{path}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let listed: Vec<&str> = err
            .split("found tags: ")
            .nth(1)
            .and_then(|rest| rest.split(". Name them").next())
            .unwrap_or_else(|| panic!("{err}"))
            .split(", ")
            .collect();
        for t in &want_tags {
            assert!(listed.contains(t), "{t} missing from {listed:?}");
        }
        // Each listed loss/accuracy name, fed back to --map, gives its field.
        let mut maps = Vec::new();
        for t in &listed {
            let field = match (t.contains("loss"), t.starts_with("test/")) {
                _ if t.contains("learning_rate") => continue,
                (true, true) => "val_loss",
                (true, false) => "train_loss",
                (false, true) => "val_acc",
                (false, false) => "train_acc",
            };
            maps.push(format!("{t}=ignore"));
            maps.push(format!("{t}={field}"));
        }
        let maps: Vec<&str> = maps.iter().map(String::as_str).collect();
        let out = diagnose_with(path, &maps);
        assert!(out.status.success(), "{path}: {}", String::from_utf8_lossy(&out.stderr));
        let epochs = epoch_lines(&out);
        assert!(!epochs.is_empty());
        assert!(epochs.iter().all(|e| e["train_loss"].is_number() && e["train_acc"].is_number()), "{path}");
        let has_val = path.ends_with("custom-loop");
        assert!(epochs.iter().all(|e| e["val_loss"].is_number() == has_val), "{path}");
    }
}

/// `watch` on the `--metrics` log of a run in progress: a real log, written
/// again line by line (the last line in two halves) while `follow_log`
/// tails it, reaches the dashboard's run model within 2 s of each write,
/// and ends as the whole log replayed at once.
#[test]
fn a_growing_fitcheck_log_is_followed_to_its_newest_epoch() {
    use fitcheck::train::Event;
    use fitcheck::tui::app::{App, Mode, Msg};
    use std::io::Write;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    let run = Command::new(env!("CARGO_BIN_EXE_fitcheck"))
        .args(["run", "spirals", "--epochs", "4", "--metrics"])
        .arg(&full)
        .output()
        .unwrap();
    assert!(run.status.success());
    let text = std::fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let first_epoch = lines.iter().position(|l| l.contains(r#""type":"epoch""#)).unwrap();
    let grow = dir.path().join("grow.jsonl");
    std::fs::write(&grow, lines[..=first_epoch].iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();

    let log = fitcheck::watch::follow_log(&grow).unwrap();
    let settings = fitcheck::watch::recorded_settings(&grow, &log.events);
    let mut app = App::replaying(settings.clone(), log.events, true);
    assert_eq!(app.run.epochs.len(), 1);
    let mut file = std::fs::OpenOptions::new().append(true).open(&grow).unwrap();
    for (i, line) in lines[first_epoch + 1..].iter().enumerate() {
        let last = i + first_epoch + 2 == lines.len();
        if last {
            // Half a line first: waited for, never misread.
            let (a, b) = line.split_at(line.len() / 2);
            file.write_all(a.as_bytes()).unwrap();
            file.flush().unwrap();
            std::thread::sleep(Duration::from_millis(1200));
            assert!(log.appended.try_recv().is_err(), "half a line is not an event");
            file.write_all(format!("{b}\n").as_bytes()).unwrap();
        } else {
            writeln!(file, "{line}").unwrap();
        }
        let written = Instant::now();
        let event = log.appended.recv_timeout(Duration::from_secs(2)).expect("the line arrives within 2 s");
        assert!(written.elapsed() < Duration::from_secs(2));
        let is_epoch = matches!(event, Event::Epoch(_));
        app.update(Msg::Trainer(event));
        if is_epoch {
            assert_eq!(app.run.epochs.last().map(|e| e.epoch), Some(app.run.epochs.len()));
            assert!(matches!(&app.mode, Mode::Replay(r) if r.following()), "following while it grows");
        }
    }
    assert!(log.warnings.try_recv().is_err(), "nothing to warn about");
    let whole = App::replaying(settings, fitcheck::watch::follow_log(&full).unwrap().events, false);
    assert_eq!(app.run.epochs.len(), 4);
    assert_eq!(app.run.epochs, whole.run.epochs);
    assert_eq!(app.run.diagnosis().verdict, whole.run.diagnosis().verdict);
    assert!(!matches!(&app.mode, Mode::Replay(r) if r.following()), "the run ended: nothing to follow");
}

/// A FIFO given as PATH, or sitting in a folder, is refused or skipped at
/// once (opening it would wait for a writer forever).
#[test]
fn a_fifo_is_refused_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("train.jsonl");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let run = |path: &Path| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fitcheck"))
            .arg("diagnose")
            .arg(path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("diagnose {} hangs", path.display());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    };
    let out = run(&fifo);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
    // Beside a real log in a folder: the log is the run.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external/jsonl/healthy.jsonl"),
        dir.path().join("real.jsonl"),
    )
    .unwrap();
    let out = run(dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A followed log truncated and written again (a script restarted with a
/// fresh log) is a new run: a `restart` event, then only the new epochs.
#[test]
fn a_followed_log_rewritten_from_its_start_starts_a_new_run() {
    use fitcheck::train::Event;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.jsonl");
    let line = |e: u32, loss: f64| format!("{{\"epoch\":{e},\"train_loss\":{loss},\"val_loss\":{}}}\n", loss * 1.1);
    std::fs::write(&path, (1..=5).map(|e| line(e, 1.0 / f64::from(e))).collect::<String>()).unwrap();
    let f = fitcheck::watch::follow(&path, fitcheck::ingest::TagMap::new()).unwrap();
    let mut epochs = 0;
    while epochs < 5 {
        if let Event::Epoch(_) = f.events.recv_timeout(Duration::from_secs(5)).expect("the first epochs") {
            epochs += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&path, (1..=2).map(|e| line(e, 3.0 / f64::from(e))).collect::<String>()).unwrap();
    let mut after = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while after.iter().filter(|e| matches!(e, Event::Epoch(_))).count() < 2 && std::time::Instant::now() < deadline {
        if let Ok(e) = f.events.recv_timeout(Duration::from_millis(200)) {
            after.push(e);
        }
    }
    assert!(matches!(after.first(), Some(Event::Restart { .. })), "{:?}", after.first());
    let new: Vec<f32> =
        after.iter().filter_map(|e| if let Event::Epoch(m) = e { Some(m.train_loss) } else { None }).collect();
    assert_eq!(new, [3.0, 1.5]);
}

/// The recorded dashboard run's lines, up to and including the `n`th epoch
/// line (all of them with `usize::MAX`).
fn recorded_through(n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs/mnist-overfit-tui.jsonl"),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut epochs = 0;
    for line in text.lines() {
        if epochs == n {
            break;
        }
        epochs += line.contains(r#""type":"epoch""#) as usize;
        out.push(line.to_string());
    }
    out
}

fn diagnose_lines(log: &Path) -> (Output, Vec<serde_json::Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_fitcheck")).arg("diagnose").arg(log).output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (out, lines)
}

/// Issue 22: a run log cut mid-run was replayed as `"stopped":"completed"`.
#[test]
fn a_run_log_cut_mid_run_is_not_reported_as_completed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("cut.jsonl");
    std::fs::write(&log, recorded_through(3).join("\n") + "\n").unwrap();
    let (out, lines) = diagnose_lines(&log);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["epochs"], 3);
    assert_eq!(summary["stopped"], "interrupted", "{summary}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.jsonl") && err.contains("after epoch 3 without the run's summary"), "{err}");
    // The whole log still says how it ended.
    std::fs::write(&log, recorded_through(usize::MAX).join("\n") + "\n").unwrap();
    let (out, lines) = diagnose_lines(&log);
    assert_eq!(lines.last().unwrap()["stopped"], "completed");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Issue 22: logs written before the fix hold a stopped run's last epoch and
/// summary after the `restart` line; the replay once put that epoch into the
/// new run. (The session now writes them before it: `session.rs` tests.)
#[test]
fn a_stopped_runs_late_lines_after_a_restart_stay_with_that_run() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("restarted.jsonl");
    let first = recorded_through(4);
    let all = recorded_through(usize::MAX);
    let fifth = all.iter().filter(|l| l.contains(r#""type":"epoch""#)).nth(4).unwrap().clone();
    let mut summary: serde_json::Value = serde_json::from_str(all.last().unwrap()).unwrap();
    summary["stopped"] = "interrupted".into();
    summary["epochs"] = 5.into();
    let mut lines = first;
    lines.push(r#"{"type":"restart","preset":"mnist-overfit","seed":8}"#.into());
    lines.push(fifth);
    lines.push(summary.to_string());
    lines.extend(recorded_through(2));
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let (out, lines) = diagnose_lines(&log);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let epochs: Vec<u64> =
        lines.iter().filter(|l| l["type"] == "epoch").map(|l| l["epoch"].as_u64().unwrap()).collect();
    assert_eq!(epochs, [1, 2], "the new run has its own two epochs, not the old run's fifth");
}

/// Issue 22: "Name them with --map" when the names already mapped but the
/// file had no rows; "no scalar tags" for an event file whose first byte
/// was flipped. The error now says what the reader understood or skipped.
#[test]
fn an_input_without_values_says_why_instead_of_asking_for_a_map() {
    let dir = tempfile::tempdir().unwrap();
    let header_only = dir.path().join("metrics.csv");
    std::fs::write(&header_only, "epoch,loss,val_loss,val_accuracy\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fitcheck")).arg("diagnose").arg(&header_only).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("metrics.csv") && err.contains("val_loss → val_loss"), "{err}");
    assert!(err.contains("no row or record holds a value"), "{err}");
    assert!(!err.contains("--map"), "the names map already: {err}");

    let tb = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external/torch-tb/overfit");
    let event = std::fs::read_dir(&tb).unwrap().flatten().map(|e| e.path()).find(|p| p.is_file()).unwrap();
    let mut bytes = std::fs::read(&event).unwrap();
    bytes[0] ^= 0xff;
    let flipped = dir.path().join(event.file_name().unwrap());
    std::fs::write(&flipped, &bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fitcheck")).arg("diagnose").arg(&flipped).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // (Told by content since the same session: the framing is named, not "no scalar tags".)
    assert!(err.contains("length CRC fails") && !err.contains("no scalar tags"), "{err}");
}
