//! MLflow's two tracking stores on runs the real `mlflow` client logged
//! (`tests/fixtures/external/make_mlflow.py`: the same three torch trainings
//! in `mlflow-sqlite/mlflow.db` and `mlflow-files/mlruns/`): read, listed,
//! diagnosed through the binary, followed while rows and lines are added
//! (also while the database is locked by a writer), and damaged.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use fitcheck::ingest::{ExternalRun, Follower, Format, IngestError, TagMap, list_runs, read_bytes, read_run};
use rusqlite::Connection;

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external").join(p)
}

fn db() -> PathBuf {
    fixture("mlflow-sqlite/mlflow.db")
}

fn read(path: &Path) -> ExternalRun {
    read_run(path, &TagMap::new()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The run folder of a file-store run, by its MLflow run name.
fn file_run(name: &str) -> PathBuf {
    list_runs(&fixture("mlflow-files/mlruns"))
        .expect("lists")
        .into_iter()
        .find(|r| r.name == format!("blobs/{name}"))
        .unwrap_or_else(|| panic!("no run {name}"))
        .path
}

fn fitcheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fitcheck")).args(args).output().expect("runs fitcheck")
}

/// An epoch as comparable numbers (NaN as a marker, wall time left out:
/// the two stores were written a few seconds apart).
fn numbers(run: &ExternalRun) -> Vec<Vec<String>> {
    let f = |x: Option<f32>| x.map_or("-".to_string(), |v| format!("{v:?}"));
    run.epochs
        .iter()
        .map(|e| {
            vec![
                e.epoch.to_string(),
                format!("{:?}", e.step),
                f(e.train_loss),
                f(e.train_acc),
                f(e.val_loss),
                f(e.val_acc),
                f(e.lr),
            ]
        })
        .collect()
}

#[test]
fn both_stores_give_the_same_epochs_params_and_names() {
    for (name, epochs) in [("healthy", 8), ("overfit", 40), ("diverged", 6)] {
        let sql = read(&db().join("blobs").join(name));
        let files = read(&file_run(name));
        assert_eq!(sql.format, Format::MlflowSqlite);
        assert_eq!(files.format, Format::MlflowFiles);
        assert_eq!(sql.name, format!("blobs/{name}"));
        assert_eq!(files.name, format!("blobs/{name}"));
        assert_eq!(sql.epochs.len(), epochs, "{name}");
        assert_eq!(numbers(&sql), numbers(&files), "{name}");
        assert_eq!(sql.hparams, files.hparams, "{name}");
        assert!(sql.warnings.is_empty() && files.warnings.is_empty(), "{:?} {:?}", sql.warnings, files.warnings);
        // The run's timestamps date its epochs.
        assert!(sql.epochs.iter().all(|e| e.wall_time.is_some_and(|t| t > 1.6e9)), "{name}");
    }
    let healthy = read(&db().join("blobs/healthy"));
    let hp: Vec<(&str, &str)> = healthy.hparams.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        hp,
        vec![
            ("batch_size", "64"),
            ("epochs", "8"),
            ("hidden", "64"),
            ("lr", "0.001"),
            ("optimizer", "Adam"),
            ("weight_decay", "0.0")
        ]
    );
}

#[test]
fn each_way_of_logging_steps_makes_the_right_epochs() {
    // healthy: train_loss per batch at the global step (32 per epoch, from
    // 1), val_* at step = epoch from 0: two axes, each epoch the mean of its
    // 32 batches.
    let healthy = read(&db().join("blobs/healthy"));
    let first = &healthy.epochs[0];
    assert_eq!((first.epoch, first.step), (1, Some(0)));
    assert!((first.val_loss.unwrap() - 0.9709).abs() < 1e-3, "{first:?}");
    assert!(first.train_loss.unwrap() > first.val_loss.unwrap(), "the mean over epoch 1's batches: {first:?}");
    // overfit: one log_metrics call per epoch with an `epoch` metric: the
    // training values are the epoch's own.
    let overfit = read(&db().join("blobs/overfit"));
    assert_eq!(overfit.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), (1..=40).collect::<Vec<_>>());
    assert!((overfit.epochs[0].train_loss.unwrap() - 0.9826).abs() < 1e-3, "{:?}", overfit.epochs[0]);
    assert_eq!(overfit.epochs[39].train_acc, Some(1.0));
    // diverged: no step at all (all 0): ordered by timestamp, one epoch per
    // call, the logged NaN kept as NaN and the first epoch's huge loss kept.
    let diverged = read(&db().join("blobs/diverged"));
    assert_eq!(diverged.epochs.len(), 6);
    assert!(diverged.epochs[0].train_loss.is_some_and(|l| l.is_finite() && l > 1e20), "{:?}", diverged.epochs[0]);
    assert!(
        diverged.epochs[1..]
            .iter()
            .all(|e| e.train_loss.is_some_and(f32::is_nan) && e.val_loss.is_some_and(f32::is_nan))
    );
}

/// The verdict `fitcheck diagnose` prints for PATH (exit 0 asserted).
fn verdict(path: &Path) -> (String, String) {
    let out = fitcheck(&["diagnose", path.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}: {stderr}", path.display());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let last: serde_json::Value = serde_json::from_str(text.lines().last().expect("a summary")).expect("JSON");
    assert_eq!(last["type"], "summary");
    (last["diagnosis"]["verdict"].as_str().expect("verdict").to_string(), text)
}

#[test]
fn diagnose_reads_each_run_of_each_store() {
    for (name, expected) in [("healthy", "healthy"), ("overfit", "overfitting"), ("diverged", "diverging")] {
        for path in [db().join("blobs").join(name), db().join(name), file_run(name)] {
            let (got, text) = verdict(&path);
            assert_eq!(got, expected, "{}", path.display());
            if name == "diverged" {
                // The params reach the checklist: the logged rate and optimizer.
                assert!(text.contains("learning rate 20.00 with SGD (from the log)"), "{text}");
            }
        }
    }
    // The run id addresses a run too.
    let id = list_runs(&db()).expect("lists").into_iter().find(|r| r.name == "blobs/overfit").expect("overfit").path;
    assert_eq!(verdict(&id).0, "overfitting");
}

#[test]
fn stores_are_listed_like_a_logdir() {
    let names = |p: &Path| list_runs(p).expect("lists").into_iter().map(|r| (r.name, r.format)).collect::<Vec<_>>();
    let sql = |n: &str| (n.to_string(), Format::MlflowSqlite);
    let files = |n: &str| (n.to_string(), Format::MlflowFiles);
    assert_eq!(names(&db()), vec![sql("blobs/diverged"), sql("blobs/healthy"), sql("blobs/overfit")]);
    assert_eq!(
        names(&fixture("mlflow-sqlite")),
        vec![sql("mlflow.db/blobs/diverged"), sql("mlflow.db/blobs/healthy"), sql("mlflow.db/blobs/overfit")]
    );
    assert_eq!(
        names(&fixture("mlflow-files/mlruns")),
        vec![files("blobs/diverged"), files("blobs/healthy"), files("blobs/overfit")]
    );
    assert_eq!(
        names(&fixture("mlflow-files")),
        vec![files("mlruns/blobs/diverged"), files("mlruns/blobs/healthy"), files("mlruns/blobs/overfit")]
    );
    // A run folder lists itself, not its metric and param files.
    assert_eq!(names(&file_run("healthy")), vec![files("blobs/healthy")]);
}

#[test]
fn a_store_of_many_runs_asks_for_one_and_a_store_of_one_opens_it() {
    // Many: exit 2, the runs named.
    let out = fitcheck(&["diagnose", db().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mlflow.db holds several runs (blobs/diverged, blobs/healthy, blobs/overfit)"), "{err}");
    // A name that is no run: exit 2, the runs named.
    let out = fitcheck(&["diagnose", db().join("blobs/nope").to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no run \"blobs/nope\"; its runs: blobs/diverged"), "{err}");

    // One: a copy of the store with the other two runs deleted by MLflow
    // (lifecycle_stage 'deleted', as `mlflow.delete_run` leaves them).
    let dir = tempfile::tempdir().expect("tempdir");
    let one = dir.path().join("mlflow.db");
    std::fs::copy(db(), &one).expect("copy");
    let conn = Connection::open(&one).expect("open");
    conn.execute("UPDATE runs SET lifecycle_stage = 'deleted' WHERE name != 'healthy'", []).expect("delete");
    drop(conn);
    let run = read(&one);
    assert_eq!((run.name.as_str(), run.epochs.len()), ("blobs/healthy", 8));
    let run = read(dir.path());
    assert_eq!((run.name.as_str(), run.epochs.len()), ("blobs/healthy", 8));
    // A file-store tree with one run opens it too.
    let tree = dir.path().join("mlruns");
    copy_dir(&fixture("mlflow-files/mlruns"), &tree);
    for name in ["diverged", "overfit"] {
        let run = tree.join(file_run(name).strip_prefix(fixture("mlflow-files/mlruns")).expect("inside"));
        std::fs::remove_dir_all(run).expect("remove");
    }
    let run = read(&tree);
    assert_eq!((run.name.as_str(), run.epochs.len()), ("blobs/healthy", 8));
}

#[test]
fn run_picks_one_run_of_a_folder_or_store() {
    let files = fixture("mlflow-files");
    let files = files.to_str().expect("utf-8");
    let out = fitcheck(&["diagnose", files, "--run", "healthy"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = fitcheck(&["diagnose", db().to_str().expect("utf-8"), "--run", "blobs/overfit"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().last().is_some_and(|l| l.contains("\"verdict\":\"overfitting\"")), "{text}");
    // A name no run has, or one several runs end in: exit 2, the runs named.
    let out = fitcheck(&["diagnose", files, "--run", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no run \"nope\"; its runs: mlruns/blobs/diverged, mlruns/blobs/healthy"), "{err}");
    let root = fixture("");
    let out = fitcheck(&["diagnose", root.to_str().expect("utf-8"), "--run", "healthy"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mlflow-files/mlruns/blobs/healthy, mlflow-sqlite/mlflow.db/blobs/healthy"), "{err}");
    assert!(err.contains("pick one with --run NAME"), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// Polls until `cond` holds on the run, up to 10 s.
fn poll_until(f: &mut Follower, what: &str, cond: impl Fn(&ExternalRun) -> bool) {
    let start = Instant::now();
    loop {
        f.poll().expect("poll");
        if cond(f.run()) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}; {:?}", f.run().epochs.len());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A writer as MLflow's SQLAlchemy store writes: a new run, then rows
/// committed one `log_metrics` call at a time.
fn insert_epoch(conn: &Connection, run: &str, epoch: i64, loss: f64, val: f64) {
    let t = 1_800_000_000_000 + epoch * 1000;
    for (key, value) in [("train_loss", loss), ("val_loss", val)] {
        conn.execute(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![key, if value.is_nan() { 0.0 } else { value }, t, run, epoch, value.is_nan()],
        )
        .expect("insert");
    }
}

#[test]
fn a_run_in_a_database_being_written_is_followed_also_through_its_write_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mlflow.db");
    std::fs::copy(db(), &path).expect("copy");
    let writer = Connection::open(&path).expect("open");
    writer
        .execute(
            "INSERT INTO runs (run_uuid, name, source_type, status, start_time, lifecycle_stage, experiment_id) \
             SELECT 'live0000000000000000000000000001', 'live', 'LOCAL', 'RUNNING', 1800000000000, 'active', experiment_id \
             FROM experiments WHERE name = 'blobs'",
            [],
        )
        .expect("new run");
    writer
        .execute(
            "INSERT INTO params (key, value, run_uuid) VALUES ('lr', '0.5', 'live0000000000000000000000000001')",
            [],
        )
        .expect("param");
    let run = "live0000000000000000000000000001";
    insert_epoch(&writer, run, 0, 1.0, 1.1);
    let mut f = Follower::new(&path.join("blobs/live"), TagMap::new()).expect("opens the live run");
    poll_until(&mut f, "epoch 1", |r| r.epochs.len() == 1);
    assert_eq!(f.run().name, "blobs/live");
    assert_eq!(f.run().hparams.get("lr").map(String::as_str), Some("0.5"));

    // MLflow holds its write lock: a poll gives up quickly, nothing read.
    writer.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    insert_epoch(&writer, run, 1, 0.8, 0.9);
    let t = Instant::now();
    let update = f.poll().expect("a locked store is no error");
    assert!(t.elapsed() < Duration::from_secs(2), "a poll waited {:?}", t.elapsed());
    assert!(update.epochs.is_empty() && update.warnings.is_empty(), "{update:?}");
    assert_eq!(f.run().epochs.len(), 1);
    writer.execute_batch("COMMIT").expect("commit");
    poll_until(&mut f, "epoch 2 after the commit", |r| r.epochs.len() == 2);

    // Epochs go on arriving, a NaN among them.
    for epoch in 2..6 {
        insert_epoch(&writer, run, epoch, 0.5 / epoch as f64, if epoch == 5 { f64::NAN } else { 0.7 });
        poll_until(&mut f, "the next epoch", |r| r.epochs.len() == epoch as usize + 1);
    }
    assert!(f.run().epochs[5].val_loss.is_some_and(f32::is_nan));
    assert!(f.run().warnings.is_empty(), "{:?}", f.run().warnings);

    // The run deleted from the store: said once, not a hang or a panic.
    writer.execute("DELETE FROM metrics WHERE run_uuid = ?1", [run]).expect("delete");
    writer.execute("DELETE FROM params WHERE run_uuid = ?1", [run]).expect("delete");
    writer.execute("DELETE FROM runs WHERE run_uuid = ?1", [run]).expect("delete");
    let update = f.poll().expect("poll");
    assert!(update.warnings.iter().any(|w| w.contains("no run live0000") && w.contains("mlflow.db")), "{update:?}");
}

#[test]
fn a_file_store_run_is_followed_as_its_metric_files_grow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("exp").join("run");
    copy_dir(&file_run("overfit"), &run);
    std::fs::write(dir.path().join("exp/meta.yaml"), "name: blobs\n").expect("meta");
    // Keep the first 3 lines of every metric file; the rest arrive later.
    let mut rest = Vec::new();
    for e in std::fs::read_dir(run.join("metrics")).expect("metrics") {
        let p = e.expect("entry").path();
        let text = std::fs::read_to_string(&p).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&p, lines[..3].iter().map(|l| format!("{l}\n")).collect::<String>()).expect("write");
        rest.push((p, lines[3..].iter().map(|l| l.to_string()).collect::<Vec<_>>()));
    }
    let mut f = Follower::new(&run, TagMap::new()).expect("opens");
    poll_until(&mut f, "3 epochs", |r| r.epochs.len() == 3);
    assert_eq!(f.run().name, "blobs/overfit");
    // Epoch 4 half-written in val_loss: the epoch waits for the newline.
    for (p, lines) in &rest {
        let mut file = std::fs::OpenOptions::new().append(true).open(p).expect("append");
        let line = &lines[0];
        if p.ends_with("val_loss") {
            write!(file, "{}", &line[..line.len() / 2]).expect("write");
        } else {
            writeln!(file, "{line}").expect("write");
        }
    }
    poll_until(&mut f, "epoch 4 (by its val_accuracy)", |r| r.epochs.len() == 4);
    assert_eq!(f.run().epochs[3].val_loss, None, "a half-written line is not read");
    assert!(f.run().warnings.is_empty(), "{:?}", f.run().warnings);
    let (p, lines) = rest.iter().find(|(p, _)| p.ends_with("val_loss")).expect("val_loss");
    let mut file = std::fs::OpenOptions::new().append(true).open(p).expect("append");
    writeln!(file, "{}", &lines[0][lines[0].len() / 2..]).expect("write");
    poll_until(&mut f, "epoch 4's val_loss", |r| r.epochs[3].val_loss.is_some());
    let full: f32 = lines[0].split(' ').nth(1).and_then(|v| v.parse().ok()).expect("a value");
    assert_eq!(f.run().epochs[3].val_loss, Some(full));
    // Everything else: the whole run, as read at once.
    for (p, lines) in &rest {
        let mut file = std::fs::OpenOptions::new().append(true).open(p).expect("append");
        for l in &lines[1..] {
            writeln!(file, "{l}").expect("write");
        }
    }
    poll_until(&mut f, "40 epochs", |r| r.epochs.len() == 40);
    assert_eq!(numbers(f.run()), numbers(&read(&file_run("overfit"))));
    // The folder removed: said once, the epochs kept.
    std::fs::remove_dir_all(&run).expect("remove");
    let u = f.poll().expect("poll");
    assert!(u.warnings.iter().any(|w| w.contains("the run folder (its metrics/) is gone")), "{u:?}");
    assert!(f.poll().expect("poll").warnings.is_empty());
    assert_eq!(f.run().epochs.len(), 40);
}

#[test]
fn damaged_stores_are_clear_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(db()).expect("fixture");
    // The header intact, the pages garbage: SQLite's own check fails.
    let garbage = dir.path().join("garbage.db");
    let mut g = bytes[..100].to_vec();
    g.extend((0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&garbage, &g).expect("write");
    // Cut after the header page.
    let cut = dir.path().join("cut.db");
    std::fs::write(&cut, &bytes[..5000]).expect("write");
    // An SQLite database that is not MLflow's.
    let other = dir.path().join("other.db");
    Connection::open(&other)
        .expect("open")
        .execute_batch("CREATE TABLE study(x); INSERT INTO study VALUES (1);")
        .expect("write");
    for (path, says) in
        [(&garbage, "cannot be read"), (&cut, "cannot be read"), (&other, "not an MLflow tracking store")]
    {
        let out = fitcheck(&["diagnose", path.to_str().expect("utf-8")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
        assert!(err.contains(&path.display().to_string()) && err.contains(says), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(matches!(read_run(path, &TagMap::new()), Err(IngestError::Malformed { .. })), "{}", path.display());
    }
    // A damaged metric line in the file store: a warning with file and line.
    let run = dir.path().join("exp/run");
    copy_dir(&file_run("healthy"), &run);
    let loss = run.join("metrics/val_loss");
    let mut text = std::fs::read_to_string(&loss).expect("read");
    text.insert_str(0, "17 not-a-number 0\n");
    std::fs::write(&loss, text).expect("write");
    let got = read(&run);
    assert_eq!(got.epochs.len(), 8);
    assert!(
        got.warnings.iter().any(|w| w.contains("val_loss:1: value \"not-a-number\" is not a number")),
        "{:?}",
        got.warnings
    );
}

#[test]
fn huge_nan_and_damaged_rows_in_the_database_are_read_or_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mlflow.db");
    std::fs::copy(db(), &path).expect("copy");
    let conn = Connection::open(&path).expect("open");
    let id: String = conn.query_row("SELECT run_uuid FROM runs WHERE name = 'overfit'", [], |r| r.get(0)).expect("id");
    // As MLflow stores +inf (f64::MAX) and NaN (0, is_nan), and damage: a
    // value that is text.
    conn.execute(
        "UPDATE metrics SET value = 1.7976931348623157e308 WHERE run_uuid = ?1 AND key = 'val_loss' AND step = 1",
        [&id],
    )
    .expect("inf");
    conn.execute(
        "UPDATE metrics SET value = 0, is_nan = 1 WHERE run_uuid = ?1 AND key = 'val_loss' AND step = 2",
        [&id],
    )
    .expect("nan");
    conn.execute("UPDATE metrics SET value = 'oops' WHERE run_uuid = ?1 AND key = 'train_loss' AND step = 3", [&id])
        .expect("text");
    conn.execute("UPDATE metrics SET value = 1e300 WHERE run_uuid = ?1 AND key = 'train_loss' AND step = 4", [&id])
        .expect("huge");
    drop(conn);
    let run = read(&path.join("blobs/overfit"));
    assert_eq!(run.epochs.len(), 40);
    assert_eq!(run.epochs[1].val_loss, Some(f32::INFINITY));
    assert!(run.epochs[2].val_loss.is_some_and(f32::is_nan));
    assert_eq!(run.epochs[3].train_loss, None, "the damaged row is skipped");
    assert_eq!(run.epochs[4].train_loss, Some(f32::INFINITY), "beyond f32: infinite");
    assert!(
        run.warnings.iter().any(|w| w.contains("1 metric rows") && w.contains("not numbers")),
        "{:?}",
        run.warnings
    );
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn metric_file() -> Vec<u8> {
        std::fs::read(file_run("healthy").join("metrics/train_loss")).expect("fixture")
    }

    fn check(bytes: &[u8]) {
        let run = read_bytes(Format::MlflowFiles, bytes, "train_loss", &TagMap::new());
        let _ = run.require_metrics();
    }

    /// Opens and reads a database file; errors are fine, panics and hangs not.
    fn read_db_file(bytes: &[u8]) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mlflow.db");
        std::fs::write(&path, bytes).expect("write");
        let t = Instant::now();
        for p in [path.clone(), path.join("blobs/healthy")] {
            if let Ok(mut f) = Follower::new(&p, TagMap::new()) {
                let _ = f.poll();
                let _ = f.malformed();
                f.finish();
            }
            let _ = list_runs(&p);
        }
        assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_metric_lines_never_panic(lines in proptest::collection::vec((any::<i64>(), any::<f64>(), any::<i64>(), 0u8..4), 0..50)) {
            let mut bytes = Vec::new();
            for (t, v, s, shape) in lines {
                let line = match shape {
                    0 => format!("{t} {v} {s}\n"),
                    1 => format!("{t} {v}\n"),
                    2 => format!("{t} {v:e} {s} extra\n"),
                    _ => format!("{v} {t}"),
                };
                bytes.extend(line.into_bytes());
            }
            check(&bytes);
        }

        #[test]
        fn truncated_and_flipped_metric_files_never_panic(cut in any::<prop::sample::Index>(), flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 0..6)) {
            let mut f = metric_file();
            let n = cut.index(f.len() + 1);
            f.truncate(n);
            if !f.is_empty() {
                for (i, bit) in flips {
                    let at = i.index(f.len());
                    f[at] ^= 1 << bit;
                }
            }
            check(&f);
        }
    }

    proptest! {
        // Each case writes a 1 MB database: fewer cases.
        #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn truncated_databases_never_panic(cut in any::<prop::sample::Index>()) {
            let bytes = std::fs::read(db()).expect("fixture");
            read_db_file(&bytes[..cut.index(bytes.len() + 1)]);
        }

        #[test]
        fn bit_flipped_databases_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..20)) {
            let mut bytes = std::fs::read(db()).expect("fixture");
            // Most of the file is empty pages of tables MLflow does not fill:
            // aim half of the flips at the pages that hold the runs' data.
            let used = bytes.len();
            for (k, (i, bit)) in flips.into_iter().enumerate() {
                let at = if k % 2 == 0 { i.index(used) } else { i.index(used.min(64 * 1024)) };
                bytes[at] ^= 1 << bit;
            }
            read_db_file(&bytes);
        }
    }
}
