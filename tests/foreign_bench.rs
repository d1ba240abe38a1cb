//! The foreign benchmark: runs trained by other people's code and logged by
//! the real writers (PyTorch's `SummaryWriter`, tensorboardX, Lightning's
//! CSV and TensorBoard loggers, Keras 3's `CSVLogger`, the Hugging Face
//! `Trainer`), each with one known fault or none, made by
//! `benches/foreign/make_runs.py` (and `make_third.py`) and committed as
//! small logs. Each is read and diagnosed exactly as `fitcheck diagnose`
//! does, and scored against the verdicts its manifest accepts.
//!
//! The split into a TUNE and a HELD-OUT half was written into the manifest
//! by the generator before any diagnosis was looked at (alternating within
//! each scenario); the thresholds in `src/diagnose/curves.rs` were tuned on
//! the tune half only. The third set (`benches/foreign/third/`: other data,
//! other losses) was made for scenarios not tuned for and is reported
//! untouched.
//!
//! Besides the score, three rules hold on every run: no remedy makes the
//! run's fault worse; every number in the evidence is in the log or
//! computed from it; and a run is never refused for lacking validation.
//!
//! `cargo test --release --test foreign_bench -- --nocapture` prints the
//! table and the confusion matrix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fitcheck::diagnose::{Action, Diagnosis};
use fitcheck::ingest::{ExternalRun, TagMap, read_run};
use fitcheck::watch::{Source, load};

const VERDICTS: [&str; 7] = ["healthy", "too_early", "overfitting", "mismatch", "underfitting", "stalled", "diverging"];

#[derive(Debug, Clone)]
struct Case {
    id: String,
    path: PathBuf,
    writer: String,
    scenario: String,
    split: String,
    verdicts: Vec<String>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/foreign")
}

/// CSV fields, with double-quoted cells (the notes hold commas).
fn fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn manifest(dir: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(dir.join("manifest.csv")).expect("the manifest is committed");
    let mut lines = text.lines();
    let header = fields(lines.next().expect("a header"));
    let col = |name: &str| header.iter().position(|h| h == name).expect("manifest column");
    let (id, path, writer, scenario, split, verdicts) =
        (col("id"), col("path"), col("writer"), col("scenario"), col("split"), col("verdicts"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f = fields(l);
            Case {
                id: f[id].clone(),
                // Paths are relative to benches/foreign/ in both manifests.
                path: root().join(&f[path]),
                writer: f[writer].clone(),
                scenario: f[scenario].clone(),
                split: f[split].clone(),
                verdicts: f[verdicts].split('|').map(|v| v.trim().to_string()).collect(),
            }
        })
        .collect()
}

fn diagnose(path: &Path) -> Result<Diagnosis, String> {
    match load(path, &TagMap::new()).map_err(|e| e.to_string())? {
        Source::External(run) => Ok(Source::External(run).run().diagnosis().clone()),
        Source::Recorded { .. } => Err("a fitcheck log".into()),
    }
}

/// Whether `action` makes the fault of `scenario` worse.
fn harmful(scenario: &str, a: Action) -> bool {
    let raises_lr = matches!(a, Action::DoubleLr) || matches!(a, Action::ScaleLr(f) if f > 1.0);
    let lowers_lr = matches!(a, Action::HalveLr) || matches!(a, Action::ScaleLr(f) if f < 1.0);
    let grows = matches!(a, Action::AddLayer | Action::Wider);
    let regularizes = matches!(a, Action::AddL2 | Action::Dropout(_));
    let relaxes = matches!(a, Action::LessDropout | Action::LessL2 | Action::LessL1);
    match scenario {
        "lr_too_high" | "nan" | "unnormalized" => raises_lr || matches!(a, Action::TrainLonger),
        "lr_too_low" => lowers_lr,
        "overfitting" | "label_noise" => grows || relaxes || matches!(a, Action::TrainLonger),
        "weight_decay" | "tiny_model" => regularizes,
        "deep_sigmoid" => matches!(a, Action::AddLayer) || regularizes,
        "train_eval_mismatch" => grows || regularizes,
        _ => false,
    }
}

struct Scored {
    case: Case,
    got: String,
    ok: bool,
    findings: Vec<String>,
    harms: Vec<String>,
}

fn score(cases: &[Case]) -> Vec<Scored> {
    cases
        .iter()
        .map(|c| {
            let (got, findings, harms) = match diagnose(&c.path) {
                Ok(d) => {
                    let harms = d
                        .findings
                        .iter()
                        .flat_map(|f| f.remedies.iter())
                        .filter(|r| harmful(&c.scenario, r.action))
                        .map(|r| r.label.to_string())
                        .collect();
                    (d.verdict.id().to_string(), d.finding_ids(), harms)
                }
                Err(e) => {
                    ("error".to_string(), vec![e.lines().next().unwrap_or("").chars().take(120).collect()], vec![])
                }
            };
            let ok = c.verdicts.contains(&got);
            Scored { case: c.clone(), got, ok, findings, harms }
        })
        .collect()
}

/// Prints a part's table. Only the tune half is shown run by run unless
/// `FITCHECK_FOREIGN_SHOW=all`: tuning looks at that half alone.
fn report(title: &str, scored: &[Scored]) -> f64 {
    println!("\n## {title}\n");
    let show = title.starts_with("tune") || std::env::var("FITCHECK_FOREIGN_SHOW").is_ok_and(|v| v == "all");
    for s in scored.iter().filter(|_| show) {
        println!(
            "{} {:<28} {:<14} {:<20} {:<9} want {:<28} got {:<12} {}",
            if s.ok { "ok  " } else { "MISS" },
            s.case.id,
            s.case.writer,
            s.case.scenario,
            s.case.split,
            s.case.verdicts.join("|"),
            s.got,
            s.findings.join(",")
        );
    }
    let right = scored.iter().filter(|s| s.ok).count();
    let share = right as f64 / scored.len().max(1) as f64;
    println!("{title}: {right}/{} right ({:.0}%)", scored.len(), share * 100.0);
    share
}

/// Expected (first accepted verdict) × given verdict, as a markdown table.
fn confusion(scored: &[Scored]) -> String {
    let mut counts: BTreeMap<(usize, String), usize> = BTreeMap::new();
    let mut given: Vec<String> = VERDICTS.iter().map(|v| v.to_string()).collect();
    for s in scored {
        let want = VERDICTS.iter().position(|v| *v == s.case.verdicts[0]).unwrap_or(VERDICTS.len());
        let got = if s.ok { s.case.verdicts[0].clone() } else { s.got.clone() };
        if !given.contains(&got) {
            given.push(got.clone());
        }
        *counts.entry((want, got)).or_default() += 1;
    }
    let mut out = format!("| expected ↓ / given → | {} |\n|---|{}\n", given.join(" | "), "---|".repeat(given.len()));
    for (i, v) in VERDICTS.iter().enumerate() {
        if !counts.keys().any(|(w, _)| *w == i) {
            continue;
        }
        let cells: Vec<String> =
            given.iter().map(|g| counts.get(&(i, g.clone())).map_or("·".into(), |n| n.to_string())).collect();
        out.push_str(&format!("| {v} | {} |\n", cells.join(" | ")));
    }
    out
}

#[test]
fn the_foreign_benchmark_scores_its_held_out_half_and_third_set() {
    let cases = manifest(&root());
    assert!(cases.len() >= 40, "at least 40 foreign runs, got {}", cases.len());
    let tune: Vec<Case> = cases.iter().filter(|c| c.split == "tune").cloned().collect();
    let held: Vec<Case> = cases.iter().filter(|c| c.split == "held-out").cloned().collect();
    let (tune, held) = (score(&tune), score(&held));
    report("tune half", &tune);
    let held_share = report("held-out half", &held);
    let third_dir = root().join("third");
    let third = if third_dir.join("manifest.csv").exists() { score(&manifest(&third_dir)) } else { vec![] };
    let third_share = if third.is_empty() { 1.0 } else { report("third set (untouched)", &third) };
    // The fourth set was made after the tuning of 2026-12-05 was frozen,
    // because the held-out half had been printed by every run of this test
    // since it was fixed: it is the unseen half now.
    let fourth = score(&manifest(&root().join("fourth")));
    let fourth_share = report("fourth set (made after tuning, untouched)", &fourth);
    let all: Vec<&Scored> = tune.iter().chain(&held).chain(&third).chain(&fourth).collect();
    println!("\ntune half:\n{}", confusion(&tune));
    if std::env::var("FITCHECK_FOREIGN_SHOW").is_ok_and(|v| v == "all") {
        println!("held-out half:\n{}", confusion(&held));
        println!("tune + held-out:\n{}", confusion(&tune.iter().chain(&held).map(clone_scored).collect::<Vec<_>>()));
        if !third.is_empty() {
            println!("third set:\n{}", confusion(&third));
        }
        println!("fourth set:\n{}", confusion(&fourth));
    }
    let harms: Vec<String> = all
        .iter()
        .filter(|s| !s.harms.is_empty())
        .map(|s| format!("{} ({}): {:?}", s.case.id, s.case.scenario, s.harms))
        .collect();
    assert!(harms.is_empty(), "remedies that make the fault worse: {harms:#?}");
    // The main set is read whole; the third set's unread run
    // (t05-tbx-poly-huber) counts as a miss in its score.
    let refused: Vec<&str> = tune
        .iter()
        .chain(&held)
        .chain(&fourth)
        .filter(|s| s.got.starts_with("error"))
        .map(|s| s.case.id.as_str())
        .collect();
    assert!(refused.is_empty(), "runs not read: {refused:?}");
    // Floors at what is measured (23/24 held out, 22/24 on the fourth set,
    // 13/15 third), so a change that loses ground fails. The held-out half
    // was seen while tuning; the fourth set is the unseen measure of the
    // 90% target of issue 19.
    assert!(held_share >= 23.0 / 24.0 - 1e-9, "held-out half: {:.0}% right, was 96%", held_share * 100.0);
    assert!(fourth_share >= 22.0 / 24.0 - 1e-9, "fourth set: {:.0}% right, was 92%", fourth_share * 100.0);
    assert!(third_share >= 0.8, "third set: {:.0}% right, want ≥ 80%", third_share * 100.0);
}

fn clone_scored(s: &Scored) -> Scored {
    Scored { case: s.case.clone(), got: s.got.clone(), ok: s.ok, findings: s.findings.clone(), harms: s.harms.clone() }
}

// ---- Nothing invented: every number in the evidence comes from the log ----

/// Every value a run's log holds, and what is computed from pairs of them
/// (relative changes in percent, ratios), with epoch numbers and the
/// chance levels an accuracy implies.
fn facts(run: &ExternalRun) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    let series: Vec<Vec<f64>> = {
        let get: [fn(&fitcheck::ingest::ExternalEpoch) -> Option<f32>; 6] =
            [|e| e.train_loss, |e| e.val_loss, |e| e.train_acc, |e| e.val_acc, |e| e.lr, |e| e.grad_norm];
        get.iter().map(|g| run.epochs.iter().filter_map(g).filter(|v| v.is_finite()).map(f64::from).collect()).collect()
    };
    for (i, s) in series.iter().enumerate() {
        for &a in s {
            out.extend([a, a * 100.0, 1.0 - a, (1.0 - a) * 100.0]);
            if i == 2 || i == 3 {
                let k = (1.0 / a).round();
                out.extend([k, k.ln()]);
            }
            // The class count a chance-level loss implies (ln k).
            if (i == 0 || i == 1) && (0.0..=7.0).contains(&a) {
                let k = a.exp().round();
                out.extend([k, k.ln()]);
            }
            for &b in s {
                if b != 0.0 {
                    out.extend([(a - b) / b * 100.0, (b - a) / b * 100.0, a / b]);
                }
                // Error curves (1 − accuracy) change relative to their own values.
                if i == 2 || i == 3 {
                    let (ea, eb) = (1.0 - a, 1.0 - b);
                    if eb != 0.0 {
                        out.extend([(ea - eb) / eb * 100.0, (eb - ea) / eb * 100.0, ea / eb]);
                    }
                }
            }
        }
    }
    // Validation against training at the same epoch.
    for e in &run.epochs {
        if let (Some(t), Some(v)) = (e.train_loss, e.val_loss)
            && t != 0.0
        {
            out.push(f64::from(v) / f64::from(t));
        }
    }
    out.extend(run.epochs.iter().map(|e| e.epoch as f64));
    out.extend(run.epochs.iter().filter_map(|e| e.step).map(|s| s as f64));
    out.push(run.epochs.len() as f64);
    out.extend(run.hparams.values().filter_map(|v| v.trim().parse::<f64>().ok()));
    // Histograms: their steps, the root mean square of their values (from
    // the sum of squares, or each bucket at its centre), and the ratios.
    let rms: Vec<f64> = run
        .histograms
        .iter()
        .filter(|h| h.num > 0.0)
        .map(|h| {
            let sq = h.sum_squares.unwrap_or_else(|| {
                let mut left = h.min;
                let mut sq = 0.0;
                for (&limit, &count) in h.bucket_limits.iter().zip(&h.bucket_counts) {
                    let centre = (left.max(h.min) + limit.min(h.max)) / 2.0;
                    if centre.is_finite() && count > 0.0 {
                        sq += count * centre * centre;
                    }
                    left = limit;
                }
                sq
            });
            (sq / h.num).sqrt()
        })
        .collect();
    out.extend(run.histograms.iter().map(|h| h.step as f64));
    for &a in &rms {
        out.push(a);
        out.extend(rms.iter().filter(|&&b| b > 0.0).map(|&b| a / b));
    }
    out
}

/// The numbers written in a text, with the decimals each was written to
/// (for `2.6e8`, the mantissa's decimals less the exponent: -7).
/// Digits inside a name (`fc1`, `lr-Adam/pg1`, `ln 10` is not a name) are
/// not numbers.
fn numbers(text: &str) -> Vec<(f64, i32, String)> {
    let b: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i].is_ascii_digit() && (i == 0 || !(b[i - 1].is_alphanumeric() || b[i - 1] == '_'));
        if !starts {
            i += 1;
            continue;
        }
        let s = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == '.' && b.get(i + 1).is_some_and(|c| c.is_ascii_digit()))
        {
            i += 1;
        }
        if i < b.len() && b[i] == 'e' && b.get(i + 1).is_some_and(|c| *c == '-' || c.is_ascii_digit()) {
            i += 2;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        let tok: String = b[s..i].iter().collect();
        if i < b.len() && (b[i].is_alphabetic() && b[i] != 'e' || b[i] == '_') {
            continue; // part of a name ("3rd", "2d_conv")
        }
        let mantissa = tok.split('e').next().unwrap_or("");
        let exponent: i32 = tok.split_once('e').map_or(0, |(_, x)| x.parse().unwrap_or(0));
        let decimals = mantissa.split_once('.').map_or(0, |(_, d)| d.len() as i32) - exponent;
        if let Ok(v) = tok.parse::<f64>() {
            out.push((v, decimals, tok));
        }
    }
    out
}

fn from_log(v: f64, decimals: i32, facts: &[f64]) -> bool {
    let tol = 0.5 * 10f64.powi(-decimals) + 1e-9 + v.abs() * 1e-6;
    facts.iter().any(|f| (f.abs() - v).abs() <= tol * 1.0001 || (f - v).abs() <= v.abs() * 5e-4)
}

fn external_runs() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = manifest(&root()).into_iter().map(|c| c.path).collect();
    if root().join("third/manifest.csv").exists() {
        paths.extend(manifest(&root().join("third")).into_iter().map(|c| c.path));
    }
    paths.extend(manifest(&root().join("fourth")).into_iter().map(|c| c.path));
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external");
    for rel in [
        "jsonl/healthy.jsonl",
        "jsonl/overfit.jsonl",
        "keras-csv/healthy.csv",
        "keras-csv/overfit.csv",
        "keras-tb/overfit",
        "lightning/healthy/metrics.csv",
        "lightning/overfit/metrics.csv",
        "lightning/healthy",
        "lightning/overfit",
        "tbx/overfit",
        "torch-tb/healthy",
        "torch-tb/overfit",
        "tf2/custom-loop",
        "tf2/keras-fit",
        "lightning-twins/lightning_logs/version_0",
        "lightning-twins/lightning_logs/version_1",
        "hf/healthy",
        "hf/diverged",
    ] {
        paths.push(fixtures.join(rel));
    }
    // MLflow's runs, each as `--run NAME` picks it.
    for store in ["mlflow-files/mlruns", "mlflow-sqlite/mlflow.db"] {
        for run in ["healthy", "overfit", "diverged"] {
            paths.push(fitcheck::ingest::pick_run(&fixtures.join(store), run).expect("an MLflow run"));
        }
    }
    paths
}

#[test]
fn every_number_in_the_evidence_of_a_foreign_run_is_in_its_log() {
    let mut invented = Vec::new();
    for path in external_runs() {
        // Every fixture is read; a benchmark run that is not is scored as a miss above.
        let run = match read_run(&path, &TagMap::new()) {
            Ok(run) => run,
            Err(e) if path.starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")) => {
                panic!("{}: {e}", path.display())
            }
            Err(_) => continue,
        };
        let d = Source::External(run.clone()).run().diagnosis().clone();
        let facts = facts(&run);
        let texts = d.findings.iter().map(|f| f.evidence.clone()).chain(d.steps.iter().map(|s| s.1.clone()));
        for text in texts {
            for (v, decimals, tok) in numbers(&text) {
                if !from_log(v, decimals, &facts) {
                    invented.push(format!("{}: {tok} in {text:?}", path.display()));
                }
            }
            for word in ["units", "hidden layer", "chance 50.0%", "NaN%"] {
                if text.contains(word) {
                    invented.push(format!("{}: {word:?} in {text:?}", path.display()));
                }
            }
        }
        let has_lr = run.epochs.iter().any(|e| e.lr.is_some()) || !run.hparams.is_empty();
        for f in &d.findings {
            if !has_lr && f.evidence.contains("learning rate ") && f.evidence.contains("at learning rate") {
                invented.push(format!("{}: a learning rate the log does not hold: {}", path.display(), f.evidence));
            }
        }
    }
    assert!(invented.is_empty(), "evidence not from the log:\n{}", invented.join("\n"));
}

#[test]
fn numbers_are_read_as_written() {
    let n: Vec<String> = numbers("loss 0.5700 at epoch 6, up 31%, fc1 and lr 1e-5; 1.5× of 2.303")
        .into_iter()
        .map(|(_, d, t)| format!("{t}/{d}"))
        .collect();
    assert_eq!(n, ["0.5700/4", "6/0", "31/0", "1e-5/5", "1.5/1", "2.303/3"]);
    // Scientific notation is read to its own precision.
    assert!(from_log(2.6e8, -7, &[2.64e8]) && !from_log(2.6e8, -7, &[2.7e8]));
    assert!(from_log(31.0, 0, &[30.7]) && !from_log(31.0, 0, &[30.2]));
}
