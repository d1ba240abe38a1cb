//! The external-run readers on files written by the real writers
//! (`tests/fixtures/external/`, made by `make_fixtures.py` there), on damaged
//! and growing copies of them, and the Python bridge on a real training loop.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fitcheck::ingest::proto::{ValueKind, decode_event};
use fitcheck::ingest::tfrecord::{Frame, RecordReader};
use fitcheck::ingest::{
    CommandWriter, ExternalEpoch, ExternalRun, Field, Follower, Format, IngestError, RunLister, TagMap, detect_format,
    list_runs, read_bytes, read_run,
};
use fitcheck::run::Run;
use fitcheck::tui::app::{App, Effect, Msg};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external").join(p)
}

fn read(p: &str) -> ExternalRun {
    read_run(&fixture(p), &TagMap::new()).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The only event file in a fixture folder.
fn event_file(dir: &str) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture(dir))
        .expect("fixture folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains("tfevents")))
        .collect();
    assert_eq!(files.len(), 1, "{dir}");
    files.remove(0)
}

fn last(run: &ExternalRun) -> &ExternalEpoch {
    run.epochs.last().expect("at least one epoch")
}

/// Training accuracy minus validation accuracy at the last epoch.
fn final_gap(run: &ExternalRun) -> f32 {
    let e = last(run);
    e.train_acc.expect("train_acc") - e.val_acc.expect("val_acc")
}

fn best_val_loss(run: &ExternalRun) -> f32 {
    run.epochs.iter().filter_map(|e| e.val_loss).fold(f32::INFINITY, f32::min)
}

fn assert_overfits(name: &str, run: &ExternalRun) {
    assert_eq!(run.epochs.len(), 30, "{name}: {:?}", run.epochs);
    let last_val = last(run).val_loss.expect("val_loss");
    assert!(last_val > best_val_loss(run) * 1.2, "{name}: last val loss {last_val} vs best {}", best_val_loss(run));
    assert!(final_gap(run) > 0.10, "{name}: gap {}", final_gap(run));
    assert!(run.epochs.iter().all(|e| e.train_loss.is_some() && e.val_acc.is_some()), "{name}");
    assert!(run.warnings.is_empty(), "{name}: {:?}", run.warnings);
}

fn assert_healthy(name: &str, run: &ExternalRun) {
    assert_eq!(run.epochs.len(), 5, "{name}");
    assert!(final_gap(run).abs() < 0.05, "{name}: gap {}", final_gap(run));
    assert!(last(run).val_acc.expect("val_acc") > 0.93, "{name}");
    let first = run.epochs[0].train_loss.expect("train_loss");
    assert!(last(run).train_loss.expect("train_loss") < first / 2.0, "{name}");
    assert!(run.warnings.is_empty(), "{name}: {:?}", run.warnings);
}

#[test]
fn every_writer_of_the_overfitting_run_reads_as_overfitting() {
    for p in [
        "torch-tb/overfit",
        "tbx/overfit",
        "keras-tb/overfit",
        "keras-csv/overfit.csv",
        "jsonl/overfit.jsonl",
        "lightning/overfit",
        "lightning/overfit/metrics.csv",
    ] {
        assert_overfits(p, &read(p));
    }
}

#[test]
fn every_writer_of_the_healthy_run_reads_as_healthy() {
    for p in [
        "torch-tb/healthy",
        "keras-csv/healthy.csv",
        "jsonl/healthy.jsonl",
        "lightning/healthy",
        "lightning/healthy/metrics.csv",
    ] {
        assert_healthy(p, &read(p));
    }
}

#[test]
fn one_run_through_five_writers_gives_the_same_epochs() {
    // torch SummaryWriter, tensorboardX, the Keras TB layout, Keras'
    // CSVLogger and JSON lines all carry the same PyTorch run.
    let reference = read("keras-csv/overfit.csv");
    for p in ["torch-tb/overfit", "tbx/overfit", "keras-tb/overfit", "jsonl/overfit.jsonl"] {
        let run = read(p);
        for (a, b) in reference.epochs.iter().zip(&run.epochs) {
            assert_eq!(a.epoch, b.epoch, "{p}");
            for (x, y, what) in [
                (a.val_loss, b.val_loss, "val_loss"),
                (a.val_acc, b.val_acc, "val_acc"),
                (a.train_loss, b.train_loss, "train_loss"),
                (a.train_acc, b.train_acc, "train_acc"),
            ] {
                let (x, y) = (x.expect(what), y.unwrap_or_else(|| panic!("{p} {what}")));
                assert!((x - y).abs() < 1e-5, "{p} epoch {} {what}: {x} vs {y}", a.epoch);
            }
        }
    }
    // Lightning's two loggers of one Lightning run agree with each other.
    let (csv, tb) = (read("lightning/overfit/metrics.csv"), read("lightning/overfit"));
    assert_eq!(csv.epochs.len(), tb.epochs.len());
    for (a, b) in csv.epochs.iter().zip(&tb.epochs) {
        assert_eq!(
            (a.epoch, a.step, a.val_loss, a.train_loss, a.lr),
            (b.epoch, b.step, b.val_loss, b.train_loss, b.lr)
        );
    }
}

#[test]
fn tags_are_mapped_by_their_common_names() {
    let torch = read("torch-tb/overfit");
    assert!(torch.mapped.contains(&("Loss/val".to_string(), Field::ValLoss)), "{:?}", torch.mapped);
    assert!(torch.mapped.contains(&("Accuracy/train".to_string(), Field::TrainAcc)));
    // Per-epoch `Loss/train` beats the mean of the per-step `train/loss`.
    let csv = read("keras-csv/overfit.csv");
    assert_eq!(torch.epochs[0].train_loss, csv.epochs[0].train_loss);
    // The healthy run logs training loss per step only: the epoch's mean.
    let healthy = read("torch-tb/healthy");
    let healthy_csv = read("keras-csv/healthy.csv");
    let (mean, eval) = (healthy.epochs[0].train_loss.expect("mean"), healthy_csv.epochs[0].train_loss.expect("eval"));
    assert!(mean > eval * 1.5, "the as-trained mean ({mean}) is above the end-of-epoch loss ({eval})");
    let keras = read("keras-tb/overfit");
    assert!(keras.mapped.contains(&("validation/epoch_loss".to_string(), Field::ValLoss)), "{:?}", keras.mapped);
    assert_eq!(last(&keras).lr, Some(0.001));
    let lightning = read("lightning/healthy/metrics.csv");
    assert!(lightning.mapped.contains(&("lr-SGD".to_string(), Field::Lr)));
    assert_eq!(last(&lightning).lr, Some(0.05));
}

#[test]
fn percent_accuracies_are_scaled_to_fractions() {
    // make_fixtures.py logs torch's Accuracy/* in percent, the CSV in 0..1.
    let (torch, csv) = (read("torch-tb/overfit"), read("keras-csv/overfit.csv"));
    for (a, b) in torch.epochs.iter().zip(&csv.epochs) {
        assert!(a.val_acc.expect("val_acc") <= 1.0);
        assert!((a.val_acc.expect("val_acc") - b.val_acc.expect("val_acc")).abs() < 1e-5);
    }
}

#[test]
fn histograms_are_read_from_torch_and_tf2_tensors() {
    let torch = read("torch-tb/overfit");
    assert_eq!(torch.histograms.len(), 4, "two layers, first and last epoch");
    let h = &torch.histograms[0];
    assert_eq!(h.tag, "weights/0.weight");
    assert_eq!(h.num, (784 * 512) as f64);
    assert_eq!(h.bucket_limits.len(), h.bucket_counts.len());
    assert!((h.bucket_counts.iter().sum::<f64>() - h.num).abs() < 1e-6);
    assert!(h.sum.is_some());
    let keras = read("keras-tb/overfit");
    assert_eq!(keras.histograms.len(), 4);
    let k = &keras.histograms[0];
    assert!(k.tag.starts_with("train/dense_0_kernel"), "{}", k.tag);
    assert_eq!(k.num, (784 * 512) as f64);
    assert_eq!(k.sum, None, "TF2 histograms keep only buckets");
    assert!(k.min < 0.0 && k.max > 0.0);
}

/// Offsets of the records of an event file, and which of them hold a tag.
fn records(bytes: &[u8]) -> Vec<(u64, Vec<String>)> {
    RecordReader::new()
        .feed(bytes)
        .into_iter()
        .map(|f| match f {
            Frame::Record { offset, data } => {
                let ev = decode_event(&data).expect("fixture events decode");
                (
                    offset,
                    ev.values.into_iter().filter(|v| matches!(v.kind, ValueKind::Simple(_))).map(|v| v.tag).collect(),
                )
            }
            other => panic!("fixture frame {other:?}"),
        })
        .collect()
}

#[test]
fn a_corrupt_record_is_reported_with_its_offset_and_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = event_file("torch-tb/overfit");
    let mut bytes = std::fs::read(&src).expect("read");
    let recs = records(&bytes);
    // The 5th validation record: flip a byte inside its data.
    let (offset, _) =
        recs.iter().filter(|(_, tags)| tags.iter().any(|t| t == "Loss/val")).nth(4).expect("record").clone();
    bytes[offset as usize + 14] ^= 0x20;
    let path = dir.path().join("events.out.tfevents.corrupt");
    std::fs::write(&path, &bytes).expect("write");
    let run = read_run(&path, &TagMap::new()).expect("still readable");
    assert_eq!(run.warnings.len(), 1, "{:?}", run.warnings);
    let w = &run.warnings[0];
    assert!(w.contains(&format!("byte {offset}")) && w.contains("fails its CRC") && w.contains("corrupt"), "{w}");
    // One validation loss lost; its epoch stands on its validation accuracy.
    let clean = read("torch-tb/overfit");
    assert_eq!(run.epochs.len(), 30);
    assert_eq!(run.epochs[4].val_loss, None);
    assert_eq!(run.epochs[4].val_acc, clean.epochs[4].val_acc);
    assert_eq!(run.epochs[5..], clean.epochs[5..]);

    // A corrupt length cannot be skipped: the file ends there.
    let mut bytes = std::fs::read(&src).expect("read");
    let (offset, _) =
        recs.iter().filter(|(_, tags)| tags.iter().any(|t| t == "Loss/val")).nth(9).expect("record").clone();
    bytes[offset as usize + 1] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    let run = read_run(&path, &TagMap::new()).expect("still readable");
    assert!(
        run.warnings.iter().any(|w| w.contains(&format!("length at byte {offset}")) && w.contains("not read")),
        "{:?}",
        run.warnings
    );
    assert_eq!(run.epochs.len(), 9);
}

#[test]
fn a_truncated_last_record_waits_for_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = std::fs::read(event_file("torch-tb/overfit")).expect("read");
    let recs = records(&full);
    let (offset, _) =
        recs.iter().rev().find(|(_, tags)| tags.iter().any(|t| t == "Loss/val")).expect("last val").clone();
    let cut = offset as usize + 9; // inside the length header of the last validation record
    let path = dir.path().join("events.out.tfevents.growing");
    std::fs::write(&path, &full[..cut]).expect("write");
    let mut f = Follower::new(&path, TagMap::new()).expect("opens");
    let first = f.poll().expect("a cut record is not an error");
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    assert_eq!(f.run().epochs.len(), 29);
    // The writer finishes the record: it appears.
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
    file.write_all(&full[cut..]).expect("append");
    drop(file);
    let second = f.poll().expect("poll");
    assert_eq!(second.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![30]);
    assert!(!second.reset);
    assert_eq!(f.run().epochs, read("torch-tb/overfit").epochs);

    // Read once, a cut file is not an error either: a warning says so.
    let cut_mid_data = offset as usize + 20;
    std::fs::write(&path, &full[..cut_mid_data]).expect("write");
    let run = read_run(&path, &TagMap::new()).expect("readable");
    assert_eq!(run.epochs.len(), 29);
    assert!(
        run.warnings.iter().any(|w| w.contains(&format!("from byte {offset}")) && w.contains("incomplete")),
        "{:?}",
        run.warnings
    );
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open");
    f.write_all(text.as_bytes()).expect("append");
}

#[test]
fn a_csv_followed_as_it_grows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.csv");
    let lines: Vec<String> =
        std::fs::read_to_string(fixture("keras-csv/overfit.csv")).expect("read").lines().map(str::to_string).collect();
    append(&path, &format!("{}\n{}\n{}\n", lines[0], lines[1], lines[2]));
    let mut f = Follower::new(&path, TagMap::new()).expect("opens");
    assert_eq!(f.format(), Format::Csv);
    let u = f.poll().expect("poll");
    assert_eq!(u.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(u.new_tags, vec!["accuracy", "loss", "val_accuracy", "val_loss"]);
    // Half a line: nothing new until its end arrives.
    let (head, tail) = lines[3].split_at(10);
    append(&path, head);
    assert!(f.poll().expect("poll").epochs.is_empty());
    append(&path, &format!("{tail}\n{}\n", lines[4]));
    let u = f.poll().expect("poll");
    assert_eq!(u.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![3, 4]);
    assert_eq!(f.run().epochs, read("keras-csv/overfit.csv").epochs[..4].to_vec());
    assert!(f.poll().expect("poll").is_empty());
}

#[test]
fn a_lightning_csv_rewritten_with_a_wider_header_is_read_again() {
    // Lightning's CSVLogger rewrites metrics.csv when a new metric appears.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("metrics.csv");
    std::fs::write(&path, "epoch,step,train_loss_step,val_loss\n0,4,2.0,\n0,9,,1.5\n").expect("write");
    let mut f = Follower::new(&path, TagMap::new()).expect("opens");
    let u = f.poll().expect("poll");
    assert_eq!(u.epochs.len(), 1);
    assert_eq!(u.epochs[0].train_loss, Some(2.0));
    std::fs::write(&path, "epoch,step,train_loss_epoch,train_loss_step,val_loss\n0,4,,2.0,\n0,9,,,1.5\n0,9,1.75,,\n1,14,,1.0,\n1,19,,,1.25\n")
        .expect("rewrite");
    let u = f.poll().expect("poll");
    assert!(u.warnings.iter().any(|w| w.contains("rewritten")), "{:?}", u.warnings);
    let got: Vec<_> = f.run().epochs.iter().map(|e| (e.epoch, e.train_loss, e.val_loss)).collect();
    assert_eq!(got, vec![(1, Some(1.75), Some(1.5)), (2, Some(1.0), Some(1.25))]);
    assert_eq!(u.epochs.len(), 2, "epoch 1 revised, epoch 2 new");
}

#[test]
fn a_jsonl_followed_as_it_grows_and_a_lightning_epoch_is_revised() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("run.jsonl");
    append(
        &path,
        "{\"step\":10,\"epoch\":0,\"train_loss\":1.0}\n{\"step\":20,\"epoch\":0,\"val_loss\":0.9,\"val_acc\":0.7}\n{\"step\":25,",
    );
    let mut f = Follower::new(&path, TagMap::new()).expect("opens");
    let u = f.poll().expect("poll");
    assert_eq!(u.epochs.len(), 1);
    assert_eq!((u.epochs[0].epoch, u.epochs[0].train_loss), (1, Some(1.0)));
    // The rest of the line, then the epoch's own training value: epoch 1
    // is sent again, revised.
    append(&path, "\"epoch\":0,\"train_loss\":0.5}\n{\"step\":20,\"epoch\":0,\"train_acc\":0.8}\n");
    let u = f.poll().expect("poll");
    assert_eq!(u.epochs.len(), 1);
    assert_eq!((u.epochs[0].epoch, u.epochs[0].train_loss, u.epochs[0].train_acc), (1, Some(0.75), Some(0.8)));
    append(&path, "{\"step\":30,\"epoch\":1,\"train_loss\":0.4}\n{\"step\":40,\"epoch\":1,\"val_loss\":0.8}\n");
    let u = f.poll().expect("poll");
    assert_eq!(u.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![2]);
}

#[test]
fn map_arguments_name_tags_the_built_in_names_miss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("custom.jsonl");
    std::fs::write(&path, "{\"it\":1,\"objective\":2.0,\"holdout_xent\":2.5,\"holdout_top1\":40.0}\n{\"it\":2,\"objective\":1.0,\"holdout_xent\":2.0,\"holdout_top1\":60.0}\n").expect("write");
    let err = read_run(&path, &TagMap::new()).expect_err("nothing maps");
    let msg = err.to_string();
    assert!(matches!(err, IngestError::NoMetrics { .. }));
    assert!(
        msg.contains("custom.jsonl") && msg.contains("found tags: holdout_top1, holdout_xent, it, objective"),
        "{msg}"
    );
    assert!(msg.contains("--map"), "{msg}");
    let maps =
        TagMap::parse_args(["objective=train_loss", "holdout_xent=val_loss", "holdout_top1=val_acc"]).expect("maps");
    let run = read_run(&path, &maps).expect("mapped");
    let got: Vec<_> = run.epochs.iter().map(|e| (e.epoch, e.train_loss, e.val_loss, e.val_acc)).collect();
    assert_eq!(got, vec![(1, Some(2.0), Some(2.5), Some(0.4)), (2, Some(1.0), Some(2.0), Some(0.6))]);
    // `ignore` drops a tag the built-in names would take.
    let maps = TagMap::parse_args(["Loss/train=ignore", "train/loss=ignore"]).expect("maps");
    let run = read_run(&fixture("torch-tb/overfit"), &maps).expect("still val and acc");
    assert!(run.epochs.iter().all(|e| e.train_loss.is_none() && e.train_acc.is_some()));
}

#[test]
fn unusable_inputs_give_one_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unknown2 = dir.path().join("notes2.txt");
    std::fs::write(&unknown2, "just some words\n").expect("write");
    let err = read_run(&unknown2, &TagMap::new()).expect_err("unknown");
    assert!(matches!(err, IngestError::UnknownFormat { .. }), "{err}");
    assert!(err.to_string().contains("notes2.txt") && err.to_string().contains("not a run fitcheck can read"), "{err}");

    let csv = dir.path().join("other.csv");
    std::fs::write(&csv, "epoch,foo,bar\n0,1,2\n1,3,4\n").expect("write");
    let err = read_run(&csv, &TagMap::new()).expect_err("no metrics");
    assert!(err.to_string().contains("other.csv") && err.to_string().contains("found tags: foo, bar"), "{err}");

    let no_loss = dir.path().join("no_loss.jsonl");
    std::fs::write(&no_loss, "{\"step\":1,\"lr\":0.1,\"grad_scale\":2}\n{\"step\":2,\"lr\":0.05}\n").expect("write");
    let err = read_run(&no_loss, &TagMap::new()).expect_err("no loss or accuracy");
    assert!(
        err.to_string().contains("no usable loss or accuracy metrics")
            && err.to_string().contains("no_loss.jsonl")
            && err.to_string().contains("found tags: grad_scale, lr"),
        "{err}"
    );

    let log = dir.path().join("fitcheck.jsonl");
    std::fs::write(&log, "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":0.5,\"val_loss\":0.6}\n").expect("write");
    assert_eq!(detect_format(&log).expect("detects"), Format::FitcheckLog);
    assert!(matches!(read_run(&log, &TagMap::new()), Err(IngestError::FitcheckLog { .. })));

    let missing = dir.path().join("missing.csv");
    let err = read_run(&missing, &TagMap::new()).expect_err("missing");
    assert!(err.to_string().contains("cannot read") && err.to_string().contains("missing.csv"), "{err}");

    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").expect("write");
    assert!(matches!(Follower::new(&empty, TagMap::new()), Err(IngestError::NotYetWritten { .. })));

    // A folder with several runs asks to pick one and names them.
    let err = read_run(&fixture("keras-csv"), &TagMap::new()).expect_err("two runs");
    assert!(err.to_string().contains("healthy.csv") && err.to_string().contains("overfit.csv"), "{err}");
}

#[test]
fn runs_in_a_logdir_are_listed_and_new_ones_noticed() {
    let runs = list_runs(&fixture("")).expect("lists");
    let names: Vec<(&str, Format)> = runs.iter().map(|r| (r.name.as_str(), r.format)).collect();
    assert_eq!(
        names,
        vec![
            ("hf/diverged", Format::HfTrainerState),
            ("hf/healthy", Format::HfTrainerState),
            ("jsonl/healthy.jsonl", Format::JsonLines),
            ("jsonl/overfit.jsonl", Format::JsonLines),
            ("keras-csv/healthy.csv", Format::Csv),
            ("keras-csv/overfit.csv", Format::Csv),
            ("keras-tb/overfit", Format::TensorBoard),
            ("lightning-hparams/run", Format::TensorBoard),
            ("lightning-hparams/run/metrics.csv", Format::Csv),
            // Two loggers, two version folders, one run each: listed once.
            ("lightning-twins/lightning_logs/version_1", Format::TensorBoard),
            ("lightning-twins/lightning_logs/version_3", Format::TensorBoard),
            ("lightning/healthy", Format::TensorBoard),
            ("lightning/healthy/metrics.csv", Format::Csv),
            ("lightning/overfit", Format::TensorBoard),
            ("lightning/overfit/metrics.csv", Format::Csv),
            ("mlflow-files/mlruns/blobs/diverged", Format::MlflowFiles),
            ("mlflow-files/mlruns/blobs/healthy", Format::MlflowFiles),
            ("mlflow-files/mlruns/blobs/overfit", Format::MlflowFiles),
            ("mlflow-sqlite/mlflow.db/blobs/diverged", Format::MlflowSqlite),
            ("mlflow-sqlite/mlflow.db/blobs/healthy", Format::MlflowSqlite),
            ("mlflow-sqlite/mlflow.db/blobs/overfit", Format::MlflowSqlite),
            ("tbx/overfit", Format::TensorBoard),
            // train/ + test/: one run of their parent.
            ("tf2/custom-loop", Format::TensorBoard),
            ("tf2/keras-fit", Format::TensorBoard),
            ("torch-tb/healthy", Format::TensorBoard),
            ("torch-tb/overfit", Format::TensorBoard),
        ]
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let mut lister = RunLister::new(dir.path());
    assert!(lister.poll().expect("poll").is_empty());
    let run_a = dir.path().join("run_a");
    std::fs::create_dir(&run_a).expect("mkdir");
    let src = event_file("tbx/overfit");
    let full = std::fs::read(&src).expect("read");
    // A writer starts: the first half of its file.
    let first_file = run_a.join("events.out.tfevents.1.host");
    std::fs::write(&first_file, &full[..full.len() / 2]).expect("write");
    let new = lister.poll().expect("poll");
    assert_eq!(new.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["run_a"]);
    assert!(lister.poll().expect("poll").is_empty());

    // Following the run folder: a second event file (a restarted writer)
    // is picked up.
    let mut f = Follower::new(&run_a, TagMap::new()).expect("opens");
    let u = f.poll().expect("poll");
    assert_eq!(u.new_files, vec![first_file]);
    let before = f.run().epochs.len();
    assert!(before > 5 && before < 30, "{before}");
    let rest = write_rest_as_new_file(&full, full.len() / 2, &run_a);
    let u = f.poll().expect("poll");
    assert_eq!(u.new_files, vec![rest]);
    assert_eq!(f.run().epochs.len(), 30);
}

/// A restarted writer: a new event file with the file's first record and
/// every record from the one the first file's end cut in two.
fn write_rest_as_new_file(full: &[u8], first_len: usize, dir: &Path) -> PathBuf {
    let mut r = RecordReader::new();
    r.feed(&full[..first_len]);
    let cut = r.pending_offset();
    let mut out = Vec::new();
    for f in RecordReader::new().feed(full) {
        if let Frame::Record { offset, data } = f
            && (offset == 0 || offset >= cut)
        {
            out.extend(fitcheck::ingest::tfrecord::frame_record(&data));
        }
    }
    let path = dir.join("events.out.tfevents.2.host");
    std::fs::write(&path, out).expect("write");
    path
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn all_formats(bytes: &[u8]) {
        for format in [Format::TensorBoard, Format::Csv, Format::JsonLines, Format::HfTrainerState] {
            let run = read_bytes(format, bytes, "fuzz", &TagMap::new());
            let _ = run.require_metrics();
        }
        let _ = fitcheck::ingest::detect::sniff(bytes, true);
    }

    fn fixture_bytes() -> Vec<Vec<u8>> {
        [
            event_file("torch-tb/overfit"),
            event_file("keras-tb/overfit/validation"),
            fixture("lightning/overfit/metrics.csv"),
            fixture("jsonl/overfit.jsonl"),
            // Written by TensorFlow itself: tensor scalars, and Keras' graph.
            event_file("tf2/custom-loop/test"),
            event_file("tf2/keras-fit/train"),
        ]
        .iter()
        .map(|p| std::fs::read(p).expect("fixture"))
        .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            all_formats(&bytes);
        }

        #[test]
        fn arbitrary_framed_records_never_panic(records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..8)) {
            // Valid framing around random protobuf: the decoder is reached.
            let mut bytes = Vec::new();
            for r in &records {
                bytes.extend(fitcheck::ingest::tfrecord::frame_record(r));
            }
            all_formats(&bytes);
        }

        #[test]
        fn truncated_fixtures_never_panic(which in 0usize..6, cut in any::<prop::sample::Index>()) {
            let files = fixture_bytes();
            let f = &files[which];
            let n = cut.index(f.len() + 1);
            all_formats(&f[..n]);
        }

        #[test]
        fn bit_flipped_fixtures_never_panic(which in 0usize..6, flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..6)) {
            let files = fixture_bytes();
            let mut f = files[which].clone();
            for (i, bit) in flips {
                let at = i.index(f.len());
                f[at] ^= 1 << bit;
            }
            all_formats(&f);
        }
    }
}

/// Waits for `cond` on the follower's run, polling, up to `limit`.
fn poll_until(f: &mut Follower, limit: Duration, what: &str, cond: impl Fn(&ExternalRun) -> bool) {
    let start = Instant::now();
    loop {
        f.poll().expect("poll");
        if cond(f.run()) {
            return;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}; epochs so far: {}", f.run().epochs.len());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_python_bridge_takes_keys_from_fitcheck() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("logreg.jsonl");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("integrations/python/examples/logreg.py");
    let mut child = match Command::new("python3")
        .arg(&script)
        .arg(&log)
        .args(["--epochs", "2000", "--sleep", "0.01", "--lr", "0.01"])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("python3 is needed for the bridge test: {e}"),
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let limit = Duration::from_secs(10);
        let start = Instant::now();
        let mut f = loop {
            match Follower::new(&log, TagMap::new()) {
                Ok(f) => break f,
                Err(IngestError::NotYetWritten { .. } | IngestError::Unreadable { .. }) if start.elapsed() < limit => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("{e}"),
            }
        };
        poll_until(&mut f, limit, "the first epochs", |r| r.epochs.len() >= 3);
        let lr0 = f.run().epochs[0].lr.expect("lr logged");
        assert!((lr0 - 0.01).abs() < 1e-9);

        // The keys go through the dashboard's own update, as in `fitcheck watch`.
        let mut commands = CommandWriter::for_log(&log);
        let mut app = App::watching(Run::external("logreg"), true);
        let mut press =
            |c: char, commands: &mut CommandWriter| match app.update(Msg::Key(KeyEvent::from(KeyCode::Char(c)))) {
                Some(Effect::Bridge(cmd)) => drop(commands.send(&cmd).expect("send")),
                other => panic!("{c} gave {other:?}"),
            };
        press('+', &mut commands);
        let sent_at = f.run().epochs.len();
        poll_until(&mut f, limit, "the doubled learning rate", |r| r.epochs.iter().any(|e| e.lr == Some(0.02)));
        let first_doubled = f.run().epochs.iter().position(|e| e.lr == Some(0.02)).expect("doubled");
        assert!(first_doubled >= sent_at, "the change came after the key");
        assert!(f.run().epochs[..first_doubled].iter().all(|e| e.lr == Some(0.01)));

        // Pause: epochs stop coming (the loop sees the key after its
        // current epoch), and stay stopped; resume goes on.
        press(' ', &mut commands);
        let start = Instant::now();
        let mut seen = f.run().epochs.len();
        let paused_at = loop {
            std::thread::sleep(Duration::from_millis(300));
            f.poll().expect("poll");
            let now = f.run().epochs.len();
            if now == seen {
                break now;
            }
            assert!(start.elapsed() < limit, "epochs kept coming after pause");
            seen = now;
        };
        std::thread::sleep(Duration::from_millis(300));
        f.poll().expect("poll");
        assert_eq!(f.run().epochs.len(), paused_at, "no epochs while paused");
        press(' ', &mut commands);
        poll_until(&mut f, limit, "epochs after resume", |r| r.epochs.len() > paused_at + 2);

        press('X', &mut commands);
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(start.elapsed() < limit, "the loop did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success());
        f.poll().expect("poll");
        f.finish();
        let n = f.run().epochs.len();
        assert!(n < 2000, "stopped early, after {n} epochs");
        assert!(f.run().epochs.iter().all(|e| e.train_loss.is_some() && e.val_acc.is_some()));
        assert!(last(f.run()).lr == Some(0.02));
    }));
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    if let Err(p) = result {
        eprintln!(
            "python stdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::panic::resume_unwind(p);
    }
    assert!(String::from_utf8_lossy(&out.stdout).contains("stopped after epoch"));
}

#[test]
fn a_keras_validation_folder_appearing_later_joins_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("fit");
    let copy_split = |split: &str| {
        let to = run.join(split);
        std::fs::create_dir_all(&to).expect("mkdir");
        let src = event_file(&format!("keras-tb/overfit/{split}"));
        std::fs::copy(&src, to.join(src.file_name().expect("name"))).expect("copy");
    };
    copy_split("train");
    let mut f = Follower::new(&run, TagMap::new()).expect("a train/ folder is a run");
    assert_eq!(f.format(), Format::TensorBoard);
    let u = f.poll().expect("poll");
    assert_eq!(u.new_files.len(), 1);
    // No validation yet: the training epochs alone (Keras logs them at
    // step = epoch), rebuilt once validation arrives.
    assert_eq!(f.run().epochs.len(), 30, "training epochs before validation");
    assert!(f.run().epochs.iter().all(|e| e.val_loss.is_none() && e.train_loss.is_some()));
    f.run().require_metrics().expect("a training-only run is usable");
    copy_split("validation");
    let u = f.poll().expect("poll");
    assert_eq!(u.new_files.len(), 1);
    assert_eq!(u.epochs.len(), 30);
    assert_eq!(f.run().epochs, read("keras-tb/overfit").epochs);
}

/// A NaN or infinite value a writer logged arrives as `Some(non-finite)`
/// through every reader: never `None` (not logged), never dropped.
#[test]
fn non_finite_values_stay_non_finite_in_every_format() {
    use fitcheck::ingest::proto::encode;
    let dir = tempfile::tempdir().expect("tempdir");
    let is_nan = |v: Option<f32>| v.is_some_and(f32::is_nan);

    // Keras' CSVLogger writes `nan`; pandas `NaN`; `inf` / `-inf` / `Infinity`.
    let csv = dir.path().join("keras.csv");
    std::fs::write(
        &csv,
        "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.0,0.5,1.1\n1,0.6,nan,NaN,inf\n2,0.6,-inf,0.5,Infinity\n",
    )
    .expect("write");
    let run = read_run(&csv, &TagMap::new()).expect("csv");
    assert_eq!(run.epochs.len(), 3);
    assert!(is_nan(run.epochs[1].train_loss) && is_nan(run.epochs[1].val_acc), "{:?}", run.epochs[1]);
    assert_eq!(run.epochs[1].val_loss, Some(f32::INFINITY));
    assert_eq!((run.epochs[2].train_loss, run.epochs[2].val_loss), (Some(f32::NEG_INFINITY), Some(f32::INFINITY)));

    // Lightning's sparse rows: a NaN step loss makes its epoch's mean NaN.
    let lightning = dir.path().join("metrics.csv");
    std::fs::write(
        &lightning,
        "epoch,step,train_loss_step,val_loss\n0,1,1.0,\n0,2,nan,\n0,2,,0.9\n1,3,0.5,\n1,4,0.4,\n1,4,,nan\n",
    )
    .expect("write");
    let run = read_run(&lightning, &TagMap::new()).expect("lightning csv");
    assert_eq!(run.epochs.len(), 2);
    assert!(is_nan(run.epochs[0].train_loss), "{:?}", run.epochs[0]);
    assert_eq!(run.epochs[1].train_loss, Some(0.45));
    assert!(is_nan(run.epochs[1].val_loss));

    // JSON lines: Python's bare NaN / Infinity, and strings.
    let jsonl = dir.path().join("run.jsonl");
    std::fs::write(
        &jsonl,
        "{\"step\":1,\"train_loss\":NaN}\n{\"step\":2,\"train_loss\":0.5}\n{\"step\":2,\"epoch\":0,\"val_loss\":-Infinity}\n\
         {\"step\":3,\"epoch\":1,\"train_loss\":\"inf\",\"val_loss\":\"nan\",\"val_acc\":Infinity}\n",
    )
    .expect("write");
    let run = read_run(&jsonl, &TagMap::new()).expect("jsonl");
    assert_eq!(run.epochs.len(), 2, "{:?}", run.epochs);
    assert!(is_nan(run.epochs[0].train_loss), "{:?}", run.epochs[0]);
    assert_eq!(run.epochs[0].val_loss, Some(f32::NEG_INFINITY));
    assert_eq!(run.epochs[1].train_loss, Some(f32::INFINITY));
    assert!(is_nan(run.epochs[1].val_loss));
    assert_eq!(run.epochs[1].val_acc, Some(f32::INFINITY));

    // TensorBoard: simple_value (torch) and TF2 tensor scalars.
    let tb = dir.path().join("events.out.tfevents.1.host");
    let mut bytes = fitcheck::ingest::tfrecord::frame_record(&encode::file_version_event(1.0));
    for (step, values) in [
        (1, vec![encode::simple_value("train/loss", f32::NAN)]),
        (2, vec![encode::simple_value("train/loss", 1.0)]),
        (2, vec![encode::simple_value("val/loss", f32::INFINITY)]),
        (3, vec![encode::tensor_scalar("train/loss", 0.5, Some("scalars"))]),
        (4, vec![encode::tensor_scalar("val/loss", f32::NAN, Some("scalars"))]),
    ] {
        bytes.extend(fitcheck::ingest::tfrecord::frame_record(&encode::event(1.0, step, &values)));
    }
    std::fs::write(&tb, bytes).expect("write");
    let run = read_run(&tb, &TagMap::new()).expect("tb");
    assert_eq!(run.epochs.len(), 2);
    assert!(is_nan(run.epochs[0].train_loss));
    assert_eq!(run.epochs[0].val_loss, Some(f32::INFINITY));
    assert_eq!(run.epochs[1].train_loss, Some(0.5));
    assert!(is_nan(run.epochs[1].val_loss));
}

/// A run logged without validation still reads: its epochs come from the
/// writer's epoch numbers, else from its logged steps.
#[test]
fn runs_with_training_metrics_only_make_epochs() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Per-step JSON lines without epochs: one epoch per logged step.
    let only_train = dir.path().join("train_only.jsonl");
    std::fs::write(&only_train, "{\"step\":1,\"loss\":1.0}\n{\"step\":2,\"loss\":0.5}\n").expect("write");
    let run = read_run(&only_train, &TagMap::new()).expect("training only reads");
    let got: Vec<_> = run.epochs.iter().map(|e| (e.epoch, e.step, e.train_loss, e.val_loss)).collect();
    assert_eq!(got, vec![(1, Some(1), Some(1.0), None), (2, Some(2), Some(0.5), None)]);

    // Keras' CSVLogger without validation_data: one row per epoch.
    let keras = dir.path().join("keras.csv");
    std::fs::write(&keras, "epoch,accuracy,loss\n0,0.5,1.2\n1,0.7,0.8\n2,0.8,0.6\n").expect("write");
    let run = read_run(&keras, &TagMap::new()).expect("keras reads");
    let got: Vec<_> = run.epochs.iter().map(|e| (e.epoch, e.train_acc, e.train_loss)).collect();
    assert_eq!(got, vec![(1, Some(0.5), Some(1.2)), (2, Some(0.7), Some(0.8)), (3, Some(0.8), Some(0.6))]);

    // The Lightning fixture with its validation columns dropped: epochs by
    // Lightning's epoch numbers, as many as with validation.
    let text = std::fs::read_to_string(fixture("lightning/healthy/metrics.csv")).expect("fixture");
    let maps = TagMap::parse_args(["val_loss=ignore", "val_acc=ignore"]).expect("maps");
    let run = read_bytes(Format::Csv, text.as_bytes(), "metrics.csv", &maps);
    run.require_metrics().expect("training only is usable");
    assert_eq!(run.epochs.len(), 5, "{:?}", run.epochs);
    assert!(run.epochs.iter().all(|e| e.train_loss.is_some() && e.val_loss.is_none()));

    // A long per-step TensorBoard run: at most 100 windows of steps.
    let torch = read_run(
        &fixture("torch-tb/healthy"),
        &TagMap::parse_args(["val_loss=ignore", "val_acc=ignore", "train_acc=ignore"]).expect("maps"),
    )
    .expect("training only reads");
    assert!(torch.epochs.len() <= 100 && torch.epochs.len() >= 50, "{}", torch.epochs.len());
    assert!(torch.epochs.windows(2).all(|w| w[0].step < w[1].step));
    assert!(torch.epochs.iter().all(|e| e.train_loss.is_some()));

    // `diagnose` reads it (exit 0); the verdict is not this reader's.
    let out = Command::new(env!("CARGO_BIN_EXE_fitcheck"))
        .args(["diagnose", only_train.to_str().expect("utf-8")])
        .output()
        .expect("runs fitcheck");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `fitcheck diagnose PATH` through the binary: exit 0 and the number of
/// epoch lines (the verdict belongs to the diagnosis, not to the reader).
fn diagnose_epochs(path: &Path) -> usize {
    let out = Command::new(env!("CARGO_BIN_EXE_fitcheck")).arg("diagnose").arg(path).output().expect("runs fitcheck");
    assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(lines.last().expect("a summary")["type"], "summary");
    lines.iter().filter(|l| l["type"] == "epoch").count()
}

#[test]
fn a_hugging_face_trainer_state_reads_as_its_epochs() {
    // make_hf.py: a real transformers.Trainer, eval_strategy="epoch",
    // 16 steps per epoch, logging every 4 steps, 5 epochs.
    let run = read("hf/healthy");
    assert_eq!(run.format, Format::HfTrainerState);
    assert_eq!(run.name, "healthy");
    assert_eq!(run.source, fixture("hf/healthy"));
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    let got: Vec<(usize, Option<u64>)> = run.epochs.iter().map(|e| (e.epoch, e.step)).collect();
    assert_eq!(got, vec![(1, Some(16)), (2, Some(32)), (3, Some(48)), (4, Some(64)), (5, Some(80))]);
    for e in &run.epochs {
        for (v, what) in [(e.train_loss, "train_loss"), (e.val_loss, "val_loss"), (e.val_acc, "val_acc"), (e.lr, "lr")]
        {
            assert!(v.is_some_and(f32::is_finite), "epoch {} {what}: {v:?}", e.epoch);
        }
        assert!(e.grad_norm.is_some_and(|g| g.is_finite() && g > 0.0), "{e:?}");
        assert_eq!(e.train_acc, None, "the Trainer logs no training accuracy");
        assert!(e.val_acc.is_some_and(|a| (0.0..=1.0).contains(&a)));
    }
    assert!(run.epochs[4].val_loss < run.epochs[0].val_loss);
    assert!(run.epochs[4].lr < run.epochs[0].lr, "a linear schedule");
    // The epoch's training loss is the mean of its four logged losses; the
    // summary row's train_loss is not a training point.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("hf/healthy/trainer_state.json")).expect("fixture"))
            .expect("the healthy state has no NaN");
    let losses: Vec<f64> = state["log_history"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|r| r["step"].as_u64().is_some_and(|s| s <= 16))
        .filter_map(|r| r["loss"].as_f64())
        .collect();
    assert_eq!(losses.len(), 4);
    let mean = (losses.iter().sum::<f64>() / 4.0) as f32;
    assert!((run.epochs[0].train_loss.expect("train_loss") - mean).abs() < 1e-6);
    for (k, v) in [("train_batch_size", "32"), ("num_train_epochs", "5"), ("max_steps", "80"), ("logging_steps", "4")] {
        assert_eq!(run.hparams.get(k).map(String::as_str), Some(v), "{k}: {:?}", run.hparams);
    }
    assert!(!run.hparams.contains_key("log_history") && !run.hparams.contains_key("best_metric"));
    assert!(run.mapped.contains(&("grad_norm".to_string(), Field::GradNorm)), "{:?}", run.mapped);
    assert!(run.mapped.contains(&("eval_accuracy".to_string(), Field::ValAcc)), "{:?}", run.mapped);

    // The state file itself, and a checkpoint's, read the same way.
    let file = read("hf/healthy/trainer_state.json");
    assert_eq!(file.epochs, run.epochs);
    assert_eq!(file.name, "healthy");
    let ckpt = read("hf/healthy/checkpoint-64");
    assert_eq!(ckpt.epochs[..], run.epochs[..4]);
    assert_eq!(ckpt.name, "healthy/checkpoint-64");
    assert_eq!(read("hf/healthy/checkpoint-64/trainer_state.json").name, "healthy/checkpoint-64");

    // Through the CLI.
    for p in ["hf/healthy", "hf/healthy/trainer_state.json", "hf/diverged"] {
        assert_eq!(diagnose_epochs(&fixture(p)), 5, "{p}");
    }
}

#[test]
fn a_diverged_trainer_run_shows_its_nan_in_grad_norm_and_eval_loss() {
    // make_hf.py multiplies the first layer by 1e38 after step 40 (epoch 3):
    // the Trainer filters the NaN losses out of `loss` (logging_nan_inf_filter)
    // but grad_norm and eval_loss show them, as bare NaN in the JSON.
    let text = std::fs::read_to_string(fixture("hf/diverged/trainer_state.json")).expect("fixture");
    assert!(text.contains("\"grad_norm\": NaN") && text.contains("\"eval_loss\": NaN"));
    let run = read("hf/diverged");
    assert_eq!(run.epochs.len(), 5);
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    for e in &run.epochs[..2] {
        assert!(e.grad_norm.is_some_and(f32::is_finite) && e.val_loss.is_some_and(f32::is_finite), "{e:?}");
    }
    for e in &run.epochs[2..] {
        assert!(e.grad_norm.is_some_and(f32::is_nan), "epoch {}: {:?}", e.epoch, e.grad_norm);
        assert!(e.val_loss.is_some_and(f32::is_nan), "epoch {}: {:?}", e.epoch, e.val_loss);
        assert!(e.train_loss.is_some_and(f32::is_finite), "the logged loss was filtered: {e:?}");
    }
}

#[test]
fn a_trainer_output_folder_is_followed_to_its_newest_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let copy_ckpt = |n: u32| {
        let to = out.join(format!("checkpoint-{n}"));
        std::fs::create_dir_all(&to).expect("mkdir");
        std::fs::copy(fixture(&format!("hf/healthy/checkpoint-{n}/trainer_state.json")), to.join("trainer_state.json"))
            .expect("copy");
    };
    copy_ckpt(64);
    assert_eq!(detect_format(&out).expect("a Trainer folder"), Format::HfTrainerState);
    let listed = list_runs(dir.path()).expect("lists");
    assert_eq!(listed.len(), 1, "the checkpoints are one run: {listed:?}");
    assert_eq!((listed[0].name.as_str(), listed[0].format), ("out", Format::HfTrainerState));
    let mut f = Follower::new(&out, TagMap::new()).expect("opens");
    f.poll().expect("poll");
    assert_eq!(f.run().epochs.len(), 4);
    // A later checkpoint appears: the highest global_step is followed
    // (checkpoint-100 would sort before checkpoint-64 by name).
    copy_ckpt(80);
    let u = f.poll().expect("poll");
    assert_eq!(u.new_files, vec![out.join("checkpoint-80/trainer_state.json")]);
    assert_eq!(f.run().epochs, read("hf/healthy").epochs);
    assert_eq!(u.epochs.len(), 1, "only epoch 5 is new");

    // One file replaced whole, and caught half-written on the way.
    let file = dir.path().join("trainer_state.json");
    let (first, second) = (
        std::fs::read(fixture("hf/healthy/checkpoint-64/trainer_state.json")).expect("fixture"),
        std::fs::read(fixture("hf/healthy/trainer_state.json")).expect("fixture"),
    );
    std::fs::write(&file, &first).expect("write");
    let mut f = Follower::new(&file, TagMap::new()).expect("opens");
    f.poll().expect("poll");
    assert_eq!(f.run().epochs.len(), 4);
    std::fs::write(&file, &second[..second.len() / 2]).expect("write");
    let u = f.poll().expect("poll");
    assert!(u.warnings.is_empty() && f.run().epochs.len() == 4, "a half-written state waits: {u:?}");
    let u = f.poll().expect("poll");
    assert_eq!(u.warnings.len(), 1, "the same broken state twice is said once: {u:?}");
    assert!(u.warnings[0].contains("trainer_state.json") && u.warnings[0].contains("line"), "{:?}", u.warnings);
    std::fs::write(&file, &second).expect("write");
    f.poll().expect("poll");
    assert_eq!(f.run().epochs.len(), 5);
    assert_eq!(f.run().hparams.get("global_step").map(String::as_str), Some("80"));

    // diagnose on a broken state: one error naming the file, line and column.
    std::fs::write(&file, &second[..second.len() / 2]).expect("write");
    let err = read_run(&file, &TagMap::new()).expect_err("broken");
    assert!(matches!(err, IngestError::Malformed { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("trainer_state.json") && msg.contains("line") && msg.contains("column"), "{msg}");
}

#[test]
fn lightnings_recorded_hyperparameters_are_read_from_yaml_and_the_hparams_plugin() {
    // make_lightning_hparams.py: a real Lightning module calling
    // save_hyperparameters() with plain, nested and tuple arguments.
    let want = [
        ("hidden", "32"),
        ("lr", "0.05"),
        ("optimizer", "sgd"),
        ("schedule/name", "cosine"),
        ("schedule/warmup", "2"),
        ("data/train", "512"),
        ("data/source", "blobs"),
    ];
    for p in ["lightning-hparams/run/metrics.csv", "lightning-hparams/run"] {
        let run = read(p);
        assert_eq!(run.epochs.len(), 3, "{p}");
        assert!(run.warnings.is_empty(), "{p}: {:?}", run.warnings);
        for (k, v) in want {
            assert_eq!(run.hparams.get(k).map(String::as_str), Some(v), "{p} {k}: {:?}", run.hparams);
        }
        // hparams.yaml writes the tuple as a !!python/tuple list.
        assert_eq!(run.hparams.get("tags").map(String::as_str), Some("[a, b]"), "{p}");
        assert_eq!(diagnose_epochs(&fixture(p)), 3, "{p}");
    }
    // The event file alone (no hparams.yaml read): the hparams plugin's
    // session_start_info, which Lightning fills with str() of a tuple.
    let bytes = std::fs::read(event_file("lightning-hparams/run")).expect("fixture");
    let tb = read_bytes(Format::TensorBoard, &bytes, "events", &TagMap::new());
    assert!(tb.warnings.is_empty(), "{:?}", tb.warnings);
    for (k, v) in want {
        assert_eq!(tb.hparams.get(k).map(String::as_str), Some(v), "{k}: {:?}", tb.hparams);
    }
    assert_eq!(tb.hparams.get("tags").map(String::as_str), Some("('a', 'b')"));
    assert!(!tb.tags_seen.iter().any(|t| t.starts_with("_hparams_")), "{:?}", tb.tags_seen);
    // Runs without a recorded setting have none.
    assert!(read("lightning/healthy").hparams.is_empty());
}

/// A flood of `+` through the bridge (1,100 doublings, as a held key sends)
/// leaves the script's factor at the bound, said once on stderr.
#[test]
fn the_python_bridge_holds_the_learning_rate_factor_to_its_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("run.jsonl");
    let mut commands = CommandWriter::for_log(&log);
    let module = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("integrations/python");
    let script = format!(
        "import sys; sys.path.insert(0, {module:?}); import fitcheck_bridge as fb\n\
         b = fb.Bridge({log:?}, fresh=False)\n\
         b.poll(); print(b.lr_factor, b.lr_clamped)",
        module = module.display().to_string(),
        log = log.display().to_string()
    );
    for _ in 0..1100 {
        commands.send(&fitcheck::ingest::BridgeCommand::ScaleLr { factor: 2.0 }).expect("send");
    }
    let out = Command::new("python3")
        .args(["-c", &script])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 is needed for the bridge test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "1024.0 True");
    assert_eq!(stderr.matches("held at 1024").count(), 1, "{stderr}");
}

/// Lightning with both loggers and default versions (the real writer,
/// `make_lightning_twins.py`): `metrics.csv` in `version_0`, the event file
/// in `version_1`, and a second fit in `version_2` + `version_3`. Each pair
/// is one run: listed once, read the same from either half, and each half
/// says which log is shown.
#[test]
fn lightnings_two_loggers_in_two_version_folders_are_one_run() {
    let logs = fixture("lightning-twins/lightning_logs");
    let csv = read_run(&logs.join("version_0"), &TagMap::new()).expect("the CSV half");
    let tb = read_run(&logs.join("version_1"), &TagMap::new()).expect("the TensorBoard half");
    assert_eq!(csv.format, Format::Csv);
    assert_eq!(tb.format, Format::TensorBoard);
    assert_eq!(csv.epochs.len(), 4);
    assert_eq!(
        csv.epochs.iter().map(|e| e.val_loss).collect::<Vec<_>>(),
        tb.epochs.iter().map(|e| e.val_loss).collect::<Vec<_>>()
    );
    assert!(
        tb.warnings
            .iter()
            .any(|w| w.contains("two logs of one Lightning run") && w.ends_with("showing the event files")),
        "{:?}",
        tb.warnings
    );
    assert!(
        csv.warnings.iter().any(|w| w.contains("version_1") && w.ends_with("showing the CSV")),
        "{:?}",
        csv.warnings
    );
    // The second fit is another run, with its own pair.
    let second = read_run(&logs.join("version_3"), &TagMap::new()).expect("the second run");
    assert_ne!(second.epochs, tb.epochs);
    assert!(second.warnings.iter().any(|w| w.contains("version_2")), "{:?}", second.warnings);
    // The folder of both fits lists two runs, not four.
    match read_run(&logs, &TagMap::new()) {
        Err(IngestError::SeveralRuns { runs, .. }) => assert_eq!(runs, ["version_1", "version_3"]),
        other => panic!("{other:?}"),
    }
    // A folder holding one fit's two version folders is that one run.
    let dir = tempfile::tempdir().unwrap();
    for v in ["version_0", "version_1"] {
        std::fs::create_dir(dir.path().join(v)).unwrap();
        for e in std::fs::read_dir(logs.join(v)).unwrap().flatten() {
            std::fs::copy(e.path(), dir.path().join(v).join(e.file_name())).unwrap();
        }
    }
    let one = read_run(dir.path(), &TagMap::new()).expect("one run");
    assert_eq!((one.format, one.epochs.clone()), (Format::TensorBoard, tb.epochs.clone()));
    // The dashboard hears it with the first poll.
    let mut f = Follower::new(&logs.join("version_1"), TagMap::new()).unwrap();
    assert!(f.poll().unwrap().warnings.iter().any(|w| w.contains("two logs of one Lightning run")));
}
