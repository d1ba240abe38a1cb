//! The command line as a user runs it: the headless JSON lines, the run
//! log, and bad input (exit code 2, a message naming the file and field,
//! never a panic).

use std::process::{Command, Output};

/// Runs the binary. A seeded run follows the same trajectory bit for bit
/// however busy the machine is (tested below), so accuracy thresholds do
/// not depend on the load.
fn fitcheck(args: &[&str]) -> Output {
    fitcheck_with(args, &[])
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
    // Field order as the run log has always written it, and short numbers (f32, not f64 noise).
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

/// A seeded run prints the same epoch lines (timing fields aside) run after
/// run while another thread keeps a core busy — the step governor then moves
/// steps between one thread and two at its own pace — and on one thread
/// (`RAYON_NUM_THREADS=1`). Before every batch was cut into the same parts,
/// a step on one thread summed its gradients in another order, and the last
/// bits of the losses differed.
#[test]
fn a_seeded_run_repeats_bit_for_bit_under_load_and_on_one_thread() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let metrics = |out: &Output| -> Vec<serde_json::Value> {
        assert!(out.status.success(), "{}", stderr(out));
        let mut epochs: Vec<serde_json::Value> = lines(out).into_iter().filter(|l| l["type"] == "epoch").collect();
        for e in &mut epochs {
            let e = e.as_object_mut().unwrap();
            for timing in ["samples_per_s", "threads", "elapsed_s"] {
                e.remove(timing);
            }
        }
        epochs
    };
    /// Stops the busy loop however the scope ends (a failed assertion too:
    /// the scope waits for the loop's thread).
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let _stop = Stop(&stop);
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        for args in [
            &["run", "mnist-cnn", "--seed", "3", "--epochs", "1"][..],
            &["run", "mnist-mlp", "--seed", "3", "--epochs", "1", "--set", "train_size=Some(5000)"],
        ] {
            let a = metrics(&fitcheck(args));
            let b = metrics(&fitcheck(args));
            let one = metrics(&fitcheck_with(args, &[("RAYON_NUM_THREADS", "1")]));
            assert_eq!(a.len(), 1, "{args:?}: one epoch line");
            assert_eq!(a, b, "{args:?}: two runs under load");
            assert_eq!(a, one, "{args:?}: one thread");
        }
    });
}

#[test]
fn tui_with_bad_input_exits_2_before_touching_the_terminal() {
    let out = fitcheck(&["tui", "mnist-mlp", "--set", "dropout=2"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).trim(), "fitcheck: --set dropout=2: field `dropout`: must be in [0, 1), got 2");
    // No escape sequences: raw mode and the alternate screen were never entered.
    assert!(!out.stdout.contains(&0x1b), "{:?}", String::from_utf8_lossy(&out.stdout));
}

// ---- Faults (issue 12): every bad input is exit 2 naming where, the same
// ---- for `check` and `run`; nothing large is allocated to find out.

/// As [`fitcheck`], with more environment.
fn fitcheck_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fitcheck"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run fitcheck")
}

/// A fixed limit, so the memory messages do not depend on the machine.
const LIMIT: (&str, &str) = ("FITCHECK_MEMORY_LIMIT", "16G");

#[test]
fn check_and_run_refuse_each_fault_fixture_alike_and_at_once() {
    let cases = [
        ("blobs-300.ron", "6:5: field `dataset`: centers must be at most 255 (labels are bytes), got 300"),
        ("blobs-one.ron", "6:5: field `dataset`: centers must be at least 2 (one class per center), got 1"),
        ("conv-empty.ron", "12:5: field `conv`: conv needs at least one layer (or None for a dense network)"),
        ("escape-name.ron", "4:5: field `name`: must not contain '/': the name is part of checkpoint file names"),
        ("huge-hidden.ron", "11:5: field `hidden`: needs ~285.0 GB (weights 161.3 GB, gradients"),
        ("pool-too-big.ron", "12:5: field `conv`: layer 2: MaxPool(8) does not fit a 3x3 map"),
        ("spirals-zero.ron", "6:5: field `dataset`: arms must be at least 2 (one class per arm), got 0"),
        ("wide-hidden.ron", "11:5: field `hidden`: needs ~26.8 GB (weights 14.8 GB, gradients 7.4 GB"),
    ];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/faults");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), cases.len(), "a case for every fixture");
    for (file, want) in cases {
        let path = format!("tests/fixtures/faults/{file}");
        let mut messages = Vec::new();
        for cmd in ["check", "run"] {
            let started = std::time::Instant::now();
            // Two threads: the gradients' share of the estimate is per thread.
            let out = fitcheck_with(&[cmd, &path], &[LIMIT, ("RAYON_NUM_THREADS", "2")]);
            let took = started.elapsed();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{cmd} {file}: {err}");
            assert!(err.starts_with(&format!("fitcheck: {path}:{want}")), "{cmd} {file}: {err}");
            assert!(!err.contains("panicked") && !err.contains("memory allocation"), "{err}");
            // Refused from the preset and the dataset's headers alone.
            assert!(took < std::time::Duration::from_secs(1), "{cmd} {file} took {took:?}");
            messages.push(err);
        }
        assert_eq!(messages[0], messages[1], "check and run say the same for {file}");
    }
    let err = stderr(&fitcheck_with(&["check", "tests/fixtures/faults/wide-hidden.ron"], &[LIMIT]));
    assert!(err.trim_end().ends_with("over the limit FITCHECK_MEMORY_LIMIT=16G sets"), "{err}");
}

#[test]
fn memory_faults_from_the_command_line_name_the_set_and_the_limit() {
    let out = fitcheck_with(&["run", "spirals", "--set", "hidden=[100000, 100000]"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.starts_with("fitcheck: --set hidden=[100000, 100000]: field `hidden`: needs ~"), "{err}");
    // The machine's own figure, or the fallback cap when it cannot be read.
    assert!(err.contains("available; the cap is 90% of that") || err.contains("cannot be read"), "{err}");
    // The field named is the one that weighs most: here the batch's workspaces.
    let out = fitcheck_with(
        &["run", "mnist-mlp", "--set", "hidden=[4096]", "--set", "batch_size=50000"],
        &[("FITCHECK_MEMORY_LIMIT", "2G")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.starts_with("fitcheck: --set batch_size=50000: field `batch_size`: needs ~"), "{err}");
    assert!(err.contains("training workspaces"), "{err}");
    // The dashboard refuses it before touching the terminal.
    let out = fitcheck_with(&["tui", "spirals", "--set", "hidden=[100000, 100000]"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("fitcheck: --set hidden=[100000, 100000]: field `hidden`: needs ~"));
    assert!(!out.stdout.contains(&0x1b), "no escape sequences: the terminal was never touched");
    let out = fitcheck_with(&["check", "presets/mnist-mlp.ron"], &[("FITCHECK_MEMORY_LIMIT", "100M")]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("presets/mnist-mlp.ron:5:5: field `dataset`: needs ~"), "{err}");
    let out = fitcheck_with(&["check", "presets/mnist-mlp.ron"], &[("FITCHECK_MEMORY_LIMIT", "lots")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        "fitcheck: FITCHECK_MEMORY_LIMIT=lots: not a size (bytes, or a number with K, M, G or T: 2G, 1.5G)"
    );
}

#[test]
fn generated_set_counts_are_refused_not_changed() {
    for (set, want) in [
        ("dataset=Blobs(centers: 256, noise: 0.1)", "centers must be at most 255 (labels are bytes), got 256"),
        ("dataset=Blobs(centers: 0, noise: 0.1)", "centers must be at least 2 (one class per center), got 0"),
        ("dataset=Spirals(arms: 1, noise: 0.1)", "arms must be at least 2 (one class per arm), got 1"),
        ("conv=Some([])", "conv needs at least one layer (or None for a dense network)"),
    ] {
        for cmd in ["run", "tui"] {
            let out = fitcheck(&[cmd, "spirals", "--set", set]);
            assert_eq!(out.status.code(), Some(2), "{cmd} {set}");
            let err = stderr(&out);
            assert!(err.starts_with(&format!("fitcheck: --set {set}: field `")) && err.contains(want), "{err}");
        }
    }
    // 255 classes is the most a byte label holds: it trains.
    let out = fitcheck(&["run", "spirals", "--set", "dataset=Blobs(centers: 255, noise: 0.01)", "--epochs", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn zero_epochs_are_reported_as_the_flag() {
    for args in [&["run", "spirals", "--epochs", "0"][..], &["bench", "spirals", "--epochs", "0"]] {
        let out = fitcheck(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&out).trim(), "fitcheck: --epochs 0: must be at least 1", "{args:?}");
    }
}

#[test]
fn an_idx_folder_of_zero_pixel_images_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    for (prefix, n) in [("train", 20u32), ("t10k", 5)] {
        let mut images = vec![0, 0, 8, 3];
        for d in [n, 0, 28] {
            images.extend_from_slice(&d.to_be_bytes());
        }
        std::fs::write(dir.path().join(format!("{prefix}-images-idx3-ubyte")), &images).unwrap();
        let mut labels = vec![0, 0, 8, 1];
        labels.extend_from_slice(&n.to_be_bytes());
        labels.extend((0..n).map(|i| (i % 10) as u8));
        std::fs::write(dir.path().join(format!("{prefix}-labels-idx1-ubyte")), &labels).unwrap();
    }
    let set = format!("dataset=Idx(dir: \"{}\")", dir.path().display());
    let file = dir.path().join("zero.ron");
    let preset = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/presets/mnist-mlp.ron")).unwrap();
    let preset = preset.replace("dataset: Mnist", &format!("dataset: Idx(dir: \"{}\")", dir.path().display()));
    std::fs::write(&file, preset.replace("val_size: 10000", "val_size: 5")).unwrap();
    for args in [vec!["run", "mnist-mlp", "--set", &set, "--set", "val_size=5"], vec!["check", file.to_str().unwrap()]]
    {
        let out = fitcheck(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("train-images-idx3-ubyte: expected images of at least 1x1 pixels"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn an_unwritable_run_log_is_bad_input_before_anything_loads() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().to_str().unwrap();
    for (cmd, path, cause) in [
        ("run", dir_path, "Is a directory"),
        ("tui", dir_path, "Is a directory"),
        ("run", "/dev/full", "No space left on device"),
        ("tui", "/dev/full", "No space left on device"),
    ] {
        let out = fitcheck(&[cmd, "spirals", "--metrics", path]);
        assert_eq!(out.status.code(), Some(2), "{cmd} {path}");
        let err = stderr(&out);
        assert!(err.starts_with(&format!("fitcheck: {path}: cannot write the run log: {cause}")), "{err}");
        assert!(!out.stdout.contains(&0x1b), "the terminal was never touched");
    }
    // A good path is probed without leaving a file behind when the run then
    // does not start.
    let fresh = dir.path().join("fresh.jsonl");
    let out = fitcheck(&["run", "spirals", "--set", "lr=-1", "--metrics", fresh.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = fitcheck(&["run", "spirals", "--set", "train_size=100000", "--metrics", fresh.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!fresh.exists(), "no empty run log left by a run that never started");
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_fitcheck"))
        .args(["run", "spirals", "--epochs", "200"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("{\"type\":\"epoch\""), "{first}");
    // The reader is gone (as `| head -1` exits): the next write breaks the pipe.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "no 'Broken pipe' message");
}

/// The run log's lines, each checked to be whole JSON.
fn log_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "the log ends with a whole line: {:?}", &text[text.len() - 80..]);
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("cut line ({e}): {l}"))).collect()
}

#[test]
fn a_full_disk_stops_the_log_not_the_run() {
    // A file-size limit makes the log's writes fail part-way (EFBIG), as a
    // full disk does (ENOSPC), on any machine and without root.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl");
    let script = format!(
        "ulimit -f 16 && trap '' XFSZ && exec '{}' run spirals --epochs 20 --metrics '{}'",
        env!("CARGO_BIN_EXE_fitcheck"),
        log.display()
    );
    let out = Command::new("sh").args(["-c", &script]).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap())
        .expect("the run reached its summary");
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["epochs"], 20);
    let lines = log_lines(&log);
    assert!(!lines.is_empty() && lines.len() < 1000, "{} lines", lines.len());
    assert!(lines.last().unwrap()["type"] != "summary", "the limit cut the log before the end");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}: the run log stopped after {} lines: File too large", log.display(), lines.len())),
        "{err}"
    );
}

/// Starts `fitcheck run` with a run log and waits until it has trained a while.
fn start_logged_run(log: &std::path::Path) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_fitcheck"))
        .args(["run", "mnist-mlp", "--set", "train_size=20000", "--metrics", log.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_to_string(log).map_or(true, |t| !t.contains("\"type\":\"step\"")) {
        assert!(std::time::Instant::now() < deadline, "no step event within 20 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child
}

fn kill(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_signal_ends_a_headless_run_with_its_code_and_whole_log_lines() {
    for (signal, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run.jsonl");
        let child = start_logged_run(&log);
        kill(&child, signal);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "SIG{signal}: {}", stderr(&out));
        assert!(!log_lines(&log).is_empty());
    }
}

#[test]
fn signal_wiring_a_signal_ends_a_headless_run_with_an_interrupted_summary() {
    for (signal, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run.jsonl");
        let child = start_logged_run(&log);
        kill(&child, signal);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "SIG{signal}: {}", stderr(&out));
        let last = log_lines(&log).pop().unwrap();
        assert_eq!(last["type"], "summary", "SIG{signal}");
        assert_eq!(last["stopped"], "interrupted", "SIG{signal}");
        let stdout = lines(&out);
        assert_eq!(stdout.last().unwrap()["stopped"], "interrupted", "SIG{signal}");
    }
}

/// `fitcheck diagnose -` with `input` written to its standard input in
/// `chunks`, a pause between them (as a pipe from a run in progress).
fn diagnose_stdin(chunks: &[&[u8]], pause: std::time::Duration) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fitcheck"))
        .args(["diagnose", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run fitcheck");
    let mut stdin = child.stdin.take().unwrap();
    for c in chunks {
        stdin.write_all(c).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(pause);
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// `diagnose -` reads the pipe to its end, by content (JSON lines or CSV),
/// and gives the epochs and the verdict that the same bytes give as a file;
/// lines split across writes are whole lines.
#[test]
fn diagnose_reads_json_lines_or_csv_from_a_pipe_as_from_the_file() {
    for file in ["tests/fixtures/external/jsonl/overfit.jsonl", "tests/fixtures/external/keras-csv/overfit.csv"] {
        let bytes = std::fs::read(file).unwrap();
        let from_file = fitcheck(&["diagnose", file]);
        assert!(from_file.status.success());
        // Chunks that cut lines anywhere.
        let chunks: Vec<&[u8]> = bytes.chunks(bytes.len() / 5 + 7).collect();
        let piped = diagnose_stdin(&chunks, std::time::Duration::from_millis(50));
        assert!(piped.status.success(), "{file}: {}", stderr(&piped));
        assert_eq!(lines(&piped), lines(&from_file), "{file}");
    }
}

/// A pipe that ends in the middle of a CSV line leaves that line out (a
/// cell cut short would still read as a number); a JSON line cut short is
/// not JSON and is left out too. Bad input is exit 2 naming standard input.
#[test]
fn diagnose_of_a_pipe_never_misreads_a_cut_last_line_and_refuses_bad_input() {
    let csv: &[&[u8]] = &[b"epoch,loss,val_loss\n0,1.0,1.2\n1,0.5,0.9\n", b"2,0.3,0.8\n3,0.2,0.7", b"5\n4,0.1,0.6"];
    let out = diagnose_stdin(csv, std::time::Duration::from_millis(30));
    assert!(out.status.success(), "{}", stderr(&out));
    let epochs: Vec<serde_json::Value> = lines(&out).into_iter().filter(|l| l["type"] == "epoch").collect();
    assert_eq!(epochs.len(), 4, "the cut last line is left out");
    assert_eq!(epochs[3]["val_loss"], 0.75, "a line split across writes is read whole");
    for (input, says) in [
        (&b"hello\n"[..], "standard input is not a run fitcheck can read"),
        (&b""[..], "standard input cannot be read: the stream ended before its first complete line"),
        (&b"{\"type\":\"start\"}\n"[..], "fitcheck run log; give its path instead"),
        (&b"epoch,speed\n0,1\n"[..], "found tags: speed"),
    ] {
        let out = diagnose_stdin(&[input], std::time::Duration::ZERO);
        assert_eq!(out.status.code(), Some(2), "{:?}", String::from_utf8_lossy(input));
        let err = stderr(&out);
        assert!(err.contains(says), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"));
    }
}

/// `--seeds 1` is still a request for the seeds line (a spread of zero).
#[test]
fn one_seed_asked_for_prints_its_seeds_line() {
    let out = fitcheck(&["run", "spirals", "--epochs", "1", "--seeds", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let last = lines(&out).pop().expect("lines");
    assert_eq!(last["type"], "seeds", "{last}");
    assert_eq!(last["seeds"], 1);
    assert_eq!(last["best_val_acc"]["std"], 0.0);
}

/// Early stopping keeps its best weights: the summary's best epoch and best
/// validation accuracy are that epoch's, not the highest accuracy of another.
#[test]
fn an_early_stopped_summary_names_the_kept_epoch_and_its_accuracy() {
    let out = fitcheck(&["run", "mnist-early-stop", "--set", "train_size=3000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = lines(&out);
    let summary = lines.last().expect("summary");
    assert_eq!(summary["stopped"], "early_stop", "{summary}");
    let kept = lines
        .iter()
        .find(|l| l["type"] == "epoch" && l["epoch"] == summary["best_epoch"])
        .expect("the kept epoch's line");
    assert_eq!(kept["val_acc"], summary["best_val_acc"]);
}
