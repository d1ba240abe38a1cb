//! Fuzzing in the normal suite (proptest): the preset parser, `--set`, the
//! shared preflight, the IDX reader, the Hugging Face trainer-state reader
//! and the hparams.yaml parser take arbitrary and mutated input and answer
//! `Ok` or their own error — never a panic, never an allocation sized by
//! what the input claims. The seed corpus is every preset in `presets/` and
//! `tests/fixtures/`, small IDX files, raw and gzipped, the Trainer
//! states of `tests/fixtures/external/hf/`, the JSON-lines, CSV and event
//! files a pipe may carry to `watch -` (read in pieces cut anywhere), and a
//! recorded fitcheck run log, tailed as it is written. (The other
//! external-run readers are fuzzed in `tests/ingest.rs`.)
//!
//! Bounded: the case counts below (214,200 inputs in all: 30,000 for each
//! preset property, 20,000 for each IDX property in memory, 2,000 IDX files
//! on disk, 300 mutated presets of which ~60 get as far as building their
//! trainer, 5,000 for each trainer-state and hparams.yaml property in memory,
//! 300 Trainer output folders on disk, 2,000 for each stream property and
//! 300 run logs on disk) take about 22 s in release.
//! `PROPTEST_CASES=N` runs N cases of every property instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::Config;

use fitcheck::data::idx::parse_idx;
use fitcheck::data::{DataError, DataShape, read_idx, read_idx_dims};
use fitcheck::limits;
use fitcheck::preset::{FIELDS, Preset};

/// The per-property case count: `PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Every `.ron` under `presets/` and `tests/fixtures/`: the seed corpus.
fn corpus() -> &'static [String] {
    static CORPUS: OnceLock<Vec<String>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        let mut dirs = vec![root.join("presets"), root.join("tests/fixtures")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "ron") {
                    files.push(std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        assert!(files.len() >= 25, "the corpus holds the presets and the fixtures: {}", files.len());
        files
    })
}

/// One edit of a byte string: flip a bit, delete, duplicate or insert a
/// range, or truncate. Positions are fractions of the length, so an edit
/// applies to any input.
#[derive(Clone, Debug)]
enum Edit {
    Flip(f64, u8),
    Delete(f64, usize),
    Duplicate(f64, usize),
    Insert(f64, Vec<u8>),
    Truncate(f64),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to RON and to IDX headers, and anything else.
    let interesting = prop_oneof![
        Just(b"(".to_vec()),
        Just(b")".to_vec()),
        Just(b"[".to_vec()),
        Just(b"]".to_vec()),
        Just(b",".to_vec()),
        Just(b":".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"Some(".to_vec()),
        Just(b"None".to_vec()),
        Just(b"-1".to_vec()),
        Just(b"1e39".to_vec()),
        Just(b"NaN".to_vec()),
        Just(b"4294967295".to_vec()),
        Just(b"18446744073709551616".to_vec()),
        Just(b"/*".to_vec()),
        Just(b"//".to_vec()),
        Just(b"r#\"".to_vec()),
        Just(vec![0xff, 0xff, 0xff, 0xff]),
        Just(vec![0, 0, 8, 3]),
        proptest::collection::vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        (0.0..1.0f64, 0u8..8).prop_map(|(p, b)| Edit::Flip(p, b)),
        (0.0..1.0f64, 1usize..40).prop_map(|(p, n)| Edit::Delete(p, n)),
        (0.0..1.0f64, 1usize..40).prop_map(|(p, n)| Edit::Duplicate(p, n)),
        (0.0..1.0f64, interesting).prop_map(|(p, b)| Edit::Insert(p, b)),
        (0.0..1.0f64).prop_map(Edit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    let at = |p: f64, len: usize| ((p * len as f64) as usize).min(len);
    match *edit {
        Edit::Flip(p, bit) if !bytes.is_empty() => {
            let i = at(p, bytes.len() - 1);
            bytes[i] ^= 1 << bit;
        }
        Edit::Flip(..) => {}
        Edit::Delete(p, n) => {
            let i = at(p, bytes.len());
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
        Edit::Duplicate(p, n) => {
            let i = at(p, bytes.len());
            let piece = bytes[i..(i + n).min(bytes.len())].to_vec();
            bytes.splice(i..i, piece);
        }
        Edit::Insert(p, ref b) => {
            let i = at(p, bytes.len());
            bytes.splice(i..i, b.iter().copied());
        }
        Edit::Truncate(p) => {
            let n = at(p, bytes.len());
            bytes.truncate(n);
        }
    }
}

fn mutated(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    edits.iter().for_each(|e| apply(&mut bytes, e));
    bytes
}

/// The bundled MNIST's folder, for presets that name it.
fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist")
}

/// A preset that parsed: validation and the preflight answer without
/// panicking, and a preset that validates keeps validating.
fn exercise(preset: &Preset) {
    if preset.validate().is_err() {
        return;
    }
    // The shape of the data is read from headers only (or is a constant);
    // the preflight is arithmetic on it: no panic, no overflow, no allocation.
    let shape = match preset.dataset.shape(&mnist_dir()) {
        Ok(shape) => shape,
        // A fixed MNIST-like shape for the rest when the folder is unreadable.
        Err(_) => {
            DataShape { train: 60_000, test: 10_000, dim: 784, classes: 10, image: Some((28, 28)), bytes_per_value: 1 }
        }
    };
    let _ = limits::preflight(preset, &shape);
    let _ = limits::estimate(preset, &shape, 2);
}

proptest! {
    #![proptest_config(cases(30_000))]

    /// Arbitrary text: an error with a position, or a preset.
    #[test]
    fn preset_parser_takes_any_text(text in any::<String>()) {
        match Preset::parse(&text, "fuzz.ron") {
            Ok(p) => exercise(&p),
            Err(e) => prop_assert!(e.to_string().starts_with("fuzz.ron")),
        }
    }

    /// RON-shaped text from the grammar's own tokens reaches deeper.
    #[test]
    fn preset_parser_takes_ron_shaped_text(tokens in proptest::collection::vec(prop_oneof![
        Just("Preset(".to_string()), Just(")".to_string()), Just("[".to_string()), Just("]".to_string()),
        Just(",".to_string()), Just(":".to_string()), Just("Some(".to_string()), Just("None".to_string()),
        Just("Conv(filters: 1, kernel: 3)".to_string()), Just("MaxPool(2)".to_string()),
        Just("Spirals(arms: 3, noise: 0.1)".to_string()), Just("Mnist".to_string()),
        proptest::sample::select(FIELDS.to_vec()).prop_map(|f| format!("{f}:")),
        "-?[0-9]{1,12}(\\.[0-9]{0,4})?".prop_map(|s| s),
        "\"[a-z./]{0,8}\"".prop_map(|s| s),
    ], 0..60)) {
        let text = tokens.join(" ");
        if let Ok(p) = Preset::parse(&text, "fuzz.ron") {
            exercise(&p);
        }
    }

    /// Every preset and fixture, mutated a few times over.
    #[test]
    fn mutated_presets_parse_or_fail_cleanly(which in any::<prop::sample::Index>(),
                                            edits in proptest::collection::vec(edit(), 1..4)) {
        let seed = &corpus()[which.index(corpus().len())];
        let bytes = mutated(seed.as_bytes(), &edits);
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(p) = Preset::parse(&text, "fuzz.ron") {
            exercise(&p);
        }
    }

    /// `--set` with any key and value: the preset is changed and still
    /// valid, or it is refused with an error naming the `--set`.
    #[test]
    fn set_takes_any_assignment(key in prop_oneof![
            9 => proptest::sample::select(FIELDS.to_vec()).prop_map(str::to_string),
            1 => any::<String>(),
        ],
        value in prop_oneof![
            1 => any::<String>(),
            2 => "-?[0-9]{1,25}(\\.[0-9]{0,6})?(e-?[0-9]{1,3})?".prop_map(|s| s),
            4 => "([0-9]{1,4}|0\\.[0-9]{1,3})".prop_map(|s| s),
            1 => "(Some\\()?\\[[0-9, ]{0,30}\\]\\)?".prop_map(|s| s),
            1 => "Some\\(\\[((Conv\\(filters: [0-9]{1,3}, kernel: [0-9]{1,2}\\)|MaxPool\\([0-9]{1,2}\\)), ){0,4}\\]\\)".prop_map(|s| s),
            1 => "(Spirals\\(arms: [0-9]{1,6}, noise: [0-9.]{1,4}\\)|Blobs\\(centers: [0-9]{1,6}, noise: 0.1\\)|Idx\\(dir: \"[a-z/]{0,10}\"\\))".prop_map(|s| s),
            1 => "(Sgd\\(momentum: -?[0-9.]{1,4}, nesterov: (true|false)\\)|Adam\\(beta1: [0-9.]{1,4}, beta2: [0-9.]{1,5}\\)|RmsProp\\(rho: [0-9.]{1,4}\\)|Adagrad)".prop_map(|s| s),
            1 => "(Some\\()?(EarlyStopping\\()?\\(patience: [0-9]{1,3}, min_delta: -?[0-9.]{1,5}\\)\\)?".prop_map(|s| s),
            1 => "\"[ -~]{0,12}\"".prop_map(|s| s),
        ],
        which in any::<prop::sample::Index>()) {
        let presets: Vec<&String> = corpus().iter().filter(|t| t.contains("seed: 7")).collect();
        let Ok(mut p) = Preset::parse(presets[which.index(presets.len())], "base.ron") else { return Ok(()) };
        if p.validate().is_err() {
            return Ok(());
        }
        let assignment = format!("{key}={value}");
        match p.set(&assignment) {
            Ok(()) => {
                prop_assert!(p.validate().is_ok(), "{assignment} left an invalid preset");
                exercise(&p);
            }
            Err(e) => prop_assert!(e.to_string().starts_with(&format!("--set {assignment}")), "{e}"),
        }
    }
}

fn idx_bytes(dims: &[u32], fill: impl Fn(usize) -> u8) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    dims.iter().for_each(|d| v.extend_from_slice(&d.to_be_bytes()));
    let n: usize = dims.iter().map(|&d| d as usize).product();
    v.extend((0..n).map(fill));
    v
}

/// Small real-shaped IDX files: a labels file, a few images, the first
/// 100 test digits of the bundled MNIST.
fn idx_corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mnist = read_idx(&mnist_dir().join("t10k-images-idx3-ubyte.gz")).unwrap();
        let mut digits = idx_bytes(&[100, 28, 28], |_| 0);
        let header = digits.len() - 100 * 784;
        digits[header..].copy_from_slice(&mnist.data[..100 * 784]);
        vec![
            idx_bytes(&[10], |i| (i % 10) as u8),
            idx_bytes(&[3, 4, 4], |i| i as u8),
            idx_bytes(&[2, 3, 2, 2], |i| (i * 7) as u8),
            digits,
        ]
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// `parse_idx`'s answer is consistent: data exactly as long as the dims say.
fn check_idx(result: Result<fitcheck::data::IdxFile, DataError>) -> Result<(), TestCaseError> {
    if let Ok(f) = result {
        let n = f.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        prop_assert_eq!(n, Some(f.data.len()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(20_000))]

    #[test]
    fn idx_parser_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        check_idx(parse_idx(Path::new("fuzz"), bytes))?;
    }

    #[test]
    fn idx_parser_takes_any_header(ndims in 0u8..6, dims in proptest::collection::vec(any::<u32>(), 0..6),
                                   data in proptest::collection::vec(any::<u8>(), 0..48)) {
        let mut bytes = vec![0, 0, 8, ndims];
        dims.iter().for_each(|d| bytes.extend_from_slice(&d.to_be_bytes()));
        bytes.extend(data);
        check_idx(parse_idx(Path::new("fuzz"), bytes))?;
    }

    #[test]
    fn mutated_idx_files_parse_or_fail_cleanly(which in any::<prop::sample::Index>(),
                                              edits in proptest::collection::vec(edit(), 1..5)) {
        let seed = &idx_corpus()[which.index(idx_corpus().len())];
        check_idx(parse_idx(Path::new("fuzz"), mutated(seed, &edits)))?;
    }
}

proptest! {
    #![proptest_config(cases(2_000))]

    /// Through the file reader, raw and gzipped (the gzip stream mutated
    /// too): the full read and the header-only read agree.
    #[test]
    fn mutated_idx_files_on_disk_read_or_fail_cleanly(which in any::<prop::sample::Index>(),
                                                      edits in proptest::collection::vec(edit(), 0..4),
                                                      zipped in any::<bool>(),
                                                      mutate_zip in any::<bool>()) {
        let seed = &idx_corpus()[which.index(idx_corpus().len())];
        let bytes = if zipped && mutate_zip {
            mutated(&gzip(seed), &edits)
        } else if zipped {
            gzip(&mutated(seed, &edits))
        } else {
            mutated(seed, &edits)
        };
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&bytes).unwrap();
        let full = read_idx(file.path());
        let dims = read_idx_dims(file.path());
        if let (Ok(f), Ok(d)) = (&full, &dims) {
            prop_assert_eq!(&f.dims, d);
        }
        if full.is_ok() {
            prop_assert!(dims.is_ok(), "a file the full read takes has a readable header");
        }
        check_idx(full)?;
    }
}

/// The bundled MNIST, read once for the property below.
fn mnist() -> &'static fitcheck::data::TrainTest {
    static DATA: OnceLock<fitcheck::data::TrainTest> = OnceLock::new();
    DATA.get_or_init(|| fitcheck::data::DatasetSpec::Mnist.load(&mnist_dir(), 7).unwrap())
}

proptest! {
    #![proptest_config(cases(300))]

    /// What `check` accepts, a run can start: a mutated preset that passes
    /// validation and the preflight builds its trainer (small ones only,
    /// so the property allocates little).
    #[test]
    fn what_the_preflight_accepts_the_trainer_builds(which in any::<prop::sample::Index>(),
                                                    edits in proptest::collection::vec(edit(), 0..3)) {
        let seed = &corpus()[which.index(corpus().len())];
        let text = String::from_utf8_lossy(&mutated(seed.as_bytes(), &edits)).into_owned();
        let Ok(preset) = Preset::parse(&text, "fuzz.ron") else { return Ok(()) };
        if preset.validate().is_err() {
            return Ok(());
        }
        let Ok(shape) = preset.dataset.shape(&mnist_dir()) else { return Ok(()) };
        if limits::preflight(&preset, &shape).is_err() {
            return Ok(());
        }
        // The network's part (the data are loaded once, or tiny).
        let network = |e: limits::Estimate| e.parts.iter().filter(|p| p.what != "data").map(|p| p.bytes).sum::<f64>();
        let small = limits::estimate(&preset, &shape, 2).is_ok_and(|e| network(e) < 64e6);
        // Saved weights are a file the property cannot have.
        if !small || matches!(preset.dataset, fitcheck::data::DatasetSpec::Idx { .. }) || preset.init_from.is_some() {
            return Ok(());
        }
        let data = match preset.dataset {
            fitcheck::data::DatasetSpec::Mnist => mnist().clone(),
            ref spec => spec.load(&mnist_dir(), preset.seed).unwrap(),
        };
        let data = match &preset.classes {
            Some(c) => data.keep_classes(c).unwrap(),
            None => data,
        };
        if let Err(e) = fitcheck::train::Trainer::new(&preset, data) {
            prop_assert!(false, "the preflight accepted what the trainer refuses: {e}\n{text}");
        }
    }
}

// ---- The Hugging Face trainer-state reader and the hparams.yaml parser ----

use fitcheck::ingest::hparams::parse_yaml;
use fitcheck::ingest::{Format, TagMap, read_bytes, read_run};

/// The Trainer states and Lightning's hparams.yaml of
/// `tests/fixtures/external/` (made by the real writers).
fn state_corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external");
        [
            "hf/healthy/trainer_state.json",
            "hf/diverged/trainer_state.json",
            "hf/diverged/checkpoint-64/trainer_state.json",
        ]
        .iter()
        .map(|p| std::fs::read(dir.join(p)).unwrap())
        .collect()
    })
}

/// What every read of a state must give, whatever the bytes: epochs
/// numbered from 1, increasing.
fn check_state_run(bytes: &[u8]) -> Result<(), TestCaseError> {
    let run = read_bytes(Format::HfTrainerState, bytes, "trainer_state.json", &TagMap::new());
    let _ = run.require_metrics();
    let _ = fitcheck::ingest::detect::sniff(bytes, true);
    let _ = fitcheck::ingest::detect::sniff(bytes, false);
    prop_assert!(run.epochs.iter().all(|e| e.epoch >= 1));
    prop_assert!(run.epochs.windows(2).all(|w| w[0].epoch < w[1].epoch), "{:?}", run.epochs);
    Ok(())
}

/// A number as Python's json writes it (bare NaN / Infinity).
fn py_number(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity".into() } else { "-Infinity".into() }
    } else {
        format!("{x:?}")
    }
}

fn any_number() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(1e39),
        Just(-1e308),
        Just(-1.0),
        Just(u64::MAX as f64),
        Just(4294967296.0),
        0.0..10.0f64,
        (0u32..20).prop_map(f64::from),
    ]
}

proptest! {
    #![proptest_config(cases(5_000))]

    #[test]
    fn mutated_trainer_states_read_or_fail_cleanly(which in any::<prop::sample::Index>(),
                                                    edits in proptest::collection::vec(edit(), 1..6)) {
        let seed = &state_corpus()[which.index(state_corpus().len())];
        check_state_run(&mutated(seed, &edits))?;
    }

    #[test]
    fn truncated_trainer_states_read_or_fail_cleanly(which in any::<prop::sample::Index>(),
                                                      cut in any::<prop::sample::Index>()) {
        let seed = &state_corpus()[which.index(state_corpus().len())];
        check_state_run(&seed[..cut.index(seed.len() + 1)])?;
    }

    /// Rows of any kind with any numbers (NaN, infinities, huge, negative
    /// and fractional steps and epochs), as Python writes them.
    #[test]
    fn trainer_states_take_any_numbers(rows in proptest::collection::vec(
                                           (0u8..4, any_number(), any_number(), any_number(), any_number()), 0..40),
                                       top in any_number()) {
        let rows: Vec<String> = rows
            .iter()
            .map(|&(kind, step, epoch, a, b)| {
                let (step, epoch, a, b) = (py_number(step), py_number(epoch), py_number(a), py_number(b));
                match kind {
                    0 => format!("{{\"epoch\": {epoch}, \"grad_norm\": {b}, \"learning_rate\": {b}, \"loss\": {a}, \"step\": {step}}}"),
                    1 => format!("{{\"epoch\": {epoch}, \"eval_accuracy\": {b}, \"eval_loss\": {a}, \"step\": {step}}}"),
                    2 => format!("{{\"epoch\": {epoch}, \"step\": {step}, \"train_loss\": {a}, \"train_runtime\": {b}}}"),
                    _ => format!("{{\"loss\": \"{a}\", \"step\": \"{step}\", \"epoch\": null, \"x\": [{b}]}}"),
                }
            })
            .collect();
        let text = format!(
            "{{\n  \"global_step\": {},\n  \"log_history\": [\n{}\n  ],\n  \"train_batch_size\": {}\n}}\n",
            py_number(top),
            rows.join(",\n"),
            py_number(top)
        );
        check_state_run(text.as_bytes())?;
    }

    #[test]
    fn hparams_yaml_takes_any_text(text in any::<String>()) {
        let mut w = Vec::new();
        let _ = parse_yaml(&text, Path::new("hparams.yaml"), &mut w);
    }

    #[test]
    fn hparams_yaml_takes_yaml_shaped_text(lines in proptest::collection::vec(
                                               (0usize..8, prop_oneof![
                                                   Just("a:"), Just("b: 1"), Just("- x"), Just("-"), Just("- k: v"),
                                                   Just("c: !!python/tuple"), Just("d: |"), Just("'q': 'it''s'"),
                                                   Just("e: \"x"), Just(": v"), Just("\tf: 2"), Just("g: {}"),
                                                   Just("# note"), Just("---"), Just("h: ~"),
                                               ]), 0..30)) {
        let text: String = lines.iter().map(|(indent, l)| format!("{}{l}\n", " ".repeat(*indent))).collect();
        let mut w = Vec::new();
        let hp = parse_yaml(&text, Path::new("hparams.yaml"), &mut w);
        prop_assert!(hp.keys().all(|k| !k.is_empty()));
    }
}

proptest! {
    #![proptest_config(cases(300))]

    /// Through the files: a mutated state as an output folder's newest
    /// checkpoint, read whole or refused with an error naming the file.
    #[test]
    fn mutated_trainer_output_folders_read_or_fail_cleanly(which in any::<prop::sample::Index>(),
                                                            edits in proptest::collection::vec(edit(), 0..4)) {
        let seed = &state_corpus()[which.index(state_corpus().len())];
        let dir = tempfile::tempdir().unwrap();
        let ckpt = dir.path().join("checkpoint-9");
        std::fs::create_dir(&ckpt).unwrap();
        std::fs::write(ckpt.join("trainer_state.json"), mutated(seed, &edits)).unwrap();
        if let Err(e) = read_run(dir.path(), &TagMap::new()) {
            let msg = e.to_string();
            prop_assert!(msg.contains(&*dir.path().to_string_lossy()), "{}", msg);
        }
    }
}

// ---- Standard input (the stream reader) and the run-log tail ----

use fitcheck::ingest::{STDIN_NAME, StreamReader};
use fitcheck::run::replay::LogTail;

/// Logs as a pipe carries them: JSON lines, CSV (Keras' and Lightning's)
/// and TensorBoard records, written by the real writers.
fn stream_corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external");
        let event_file = |d: &str| {
            let d = dir.join(d);
            std::fs::read_dir(&d).unwrap().flatten().map(|e| e.path()).find(|p| p.is_file()).unwrap()
        };
        [
            dir.join("jsonl/overfit.jsonl"),
            dir.join("keras-csv/overfit.csv"),
            dir.join("lightning/healthy/metrics.csv"),
            event_file("tf2/custom-loop/test"),
            event_file("tbx/overfit"),
        ]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
    })
}

/// Pushes `bytes` in pieces cut at the given fractions, then ends the
/// stream. Whatever the bytes: no panic, epochs numbered from 1 and
/// increasing, and errors name standard input.
fn stream_run(bytes: &[u8], cuts: &[f64]) -> Result<Option<fitcheck::ingest::ExternalRun>, TestCaseError> {
    let mut points: Vec<usize> = cuts.iter().map(|c| ((c * bytes.len() as f64) as usize).min(bytes.len())).collect();
    points.sort_unstable();
    let mut reader = StreamReader::new(Path::new(STDIN_NAME), TagMap::new());
    let mut from = 0;
    let mut result = Ok(());
    for to in points.into_iter().chain([bytes.len()]) {
        if let Err(e) = reader.push(&bytes[from..to]) {
            result = Err(e);
            break;
        }
        from = to;
    }
    let result = result.and_then(|()| reader.end().map(drop));
    match result {
        Err(e) => {
            prop_assert!(e.to_string().starts_with(STDIN_NAME), "{}", e);
            Ok(None)
        }
        Ok(()) => {
            let run = reader.run().expect("ended with a format").clone();
            prop_assert!(run.epochs.iter().all(|e| e.epoch >= 1));
            prop_assert!(run.epochs.windows(2).all(|w| w[0].epoch < w[1].epoch), "{:?}", run.epochs);
            Ok(Some(run))
        }
    }
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn mutated_streams_read_or_fail_cleanly(which in any::<prop::sample::Index>(),
                                            edits in proptest::collection::vec(edit(), 1..6),
                                            cuts in proptest::collection::vec(0.0..1.0f64, 0..6)) {
        let seed = &stream_corpus()[which.index(stream_corpus().len())];
        stream_run(&mutated(seed, &edits), &cuts)?;
    }

    /// Where the pipe's writes fall does not change what is read; a stream
    /// cut anywhere (the writer killed) reads cleanly too.
    #[test]
    fn a_stream_reads_the_same_in_any_pieces(which in any::<prop::sample::Index>(),
                                             cuts in proptest::collection::vec(0.0..1.0f64, 1..8),
                                             end in 0.0..1.0f64) {
        let seed = &stream_corpus()[which.index(stream_corpus().len())];
        let whole = stream_run(seed, &[])?;
        let pieces = stream_run(seed, &cuts)?;
        prop_assert_eq!(whole.map(|r| r.epochs), pieces.map(|r| r.epochs));
        stream_run(&seed[..(end * seed.len() as f64) as usize], &cuts)?;
    }

    /// Any numbers, as Python's json writes them (NaN, infinities, huge,
    /// negative steps and epochs), in JSON lines and CSV on a pipe.
    #[test]
    fn streams_take_any_numbers(rows in proptest::collection::vec((any_number(), any_number(), any_number()), 1..30),
                                cuts in proptest::collection::vec(0.0..1.0f64, 0..4)) {
        let json: String = rows
            .iter()
            .map(|&(e, a, b)| format!("{{\"epoch\": {}, \"train_loss\": {}, \"val_loss\": {}}}\n", py_number(e), py_number(a), py_number(b)))
            .collect();
        let csv: String = std::iter::once("epoch,loss,val_loss\n".to_string())
            .chain(rows.iter().map(|&(e, a, b)| format!("{},{},{}\n", py_number(e), py_number(a), py_number(b))))
            .collect();
        stream_run(json.as_bytes(), &cuts)?;
        stream_run(csv.as_bytes(), &cuts)?;
    }
}

/// fitcheck's own run log as the dashboard recorded it.
fn run_log() -> &'static [u8] {
    static LOG: OnceLock<Vec<u8>> = OnceLock::new();
    LOG.get_or_init(|| {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs/mnist-overfit-tui.jsonl"))
            .unwrap()
    })
}

proptest! {
    #![proptest_config(cases(300))]

    /// A mutated run log, tailed as it is written in two parts: events or
    /// warnings naming the file and line, never a panic; the first part's
    /// events are never taken back.
    #[test]
    fn mutated_run_logs_are_tailed_cleanly(edits in proptest::collection::vec(edit(), 1..6), cut in 0.0..1.0f64) {
        let bytes = mutated(run_log(), &edits);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        let at = (cut * bytes.len() as f64) as usize;
        std::fs::write(&path, &bytes[..at]).unwrap();
        let mut tail = LogTail::new(&path);
        let first = tail.poll();
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&bytes[at..]).unwrap();
        let second = tail.poll();
        prop_assert!(!second.reset);
        for w in first.warnings.iter().chain(&second.warnings) {
            prop_assert!(w.contains("run.jsonl:"), "{}", w);
        }
        // The same events as reading the whole file at once, but for a last
        // line without newline, which waits.
        let mut once = LogTail::new(&path);
        let all = once.poll();
        prop_assert_eq!(first.events.len() + second.events.len(), all.events.len());
    }
}
