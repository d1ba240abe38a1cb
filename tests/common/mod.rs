//! Helpers shared by the integration tests: presets from the shipped files
//! with overrides, and the bundled MNIST loaded once per test binary.

#![allow(dead_code)]

use std::sync::OnceLock;

use fitcheck::data::TrainTest;
use fitcheck::preset::{self, Preset};
use fitcheck::train::load_data;

/// A shipped preset with `--set` style overrides applied.
pub fn preset(name: &str, sets: &[&str]) -> Preset {
    let mut p = Preset::load(&preset::resolve(name).unwrap()).unwrap();
    for s in sets {
        p.set(s).unwrap();
    }
    p
}

/// The bundled MNIST, decoded once.
pub fn mnist() -> TrainTest {
    static DATA: OnceLock<TrainTest> = OnceLock::new();
    DATA.get_or_init(|| load_data(&preset("mnist-mlp", &[])).unwrap()).clone()
}

/// A small, quick MNIST run: 2,000 training and 500 validation digits.
pub fn small(sets: &[&str]) -> Preset {
    let mut all = vec!["train_size=2000", "val_size=500", "hidden=[64]", "epochs=2", "batch_size=50"];
    all.extend_from_slice(sets);
    preset("mnist-mlp", &all)
}

/// What a headless run of a preset produced.
pub struct Run {
    pub name: String,
    pub sets: Vec<String>,
    pub events: Vec<fitcheck::train::Event>,
    pub epochs: Vec<fitcheck::train::EpochMetrics>,
    pub summary: fitcheck::train::Summary,
}

impl Run {
    /// The best training accuracy in eval mode over the run.
    pub fn best_train_acc(&self) -> f32 {
        self.epochs.iter().map(|e| e.train_acc_eval).fold(0.0, f32::max)
    }

    pub fn min_val_loss(&self) -> f32 {
        self.epochs.iter().map(|e| e.val_loss).fold(f32::INFINITY, f32::min)
    }

    pub fn count(&self, pred: impl Fn(&fitcheck::train::Event) -> bool) -> usize {
        self.events.iter().filter(|e| pred(e)).count()
    }

    /// The checklist's diagnosis of this run, as the headless summary has it.
    pub fn diagnosis(&self) -> fitcheck::diagnose::Diagnosis {
        let sets: Vec<&str> = self.sets.iter().map(String::as_str).collect();
        let mut run = fitcheck::run::Run::new(preset(&self.name, &sets));
        self.events.iter().for_each(|e| drop(run.apply(e)));
        run.diagnosis().clone()
    }

    /// Asserts the verdict and that `finding` is among the findings, each
    /// with its evidence in numbers.
    pub fn assert_verdict(&self, verdict: fitcheck::diagnose::Verdict, finding: &str) {
        let d = self.diagnosis();
        let ids: Vec<&str> = d.findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(d.verdict, verdict, "{} {:?}: {ids:?}", self.name, self.sets);
        assert!(ids.contains(&finding), "{} {:?}: {finding} not in {ids:?}", self.name, self.sets);
        for f in &d.findings {
            assert!(f.evidence.chars().any(|c| c.is_ascii_digit()), "evidence in numbers: {}", f.evidence);
        }
    }
}

/// A trainer for `p` on `data`. A seeded run follows the same trajectory
/// bit for bit however busy the machine is (the step governor changes only
/// which thread computes which part of a batch), so a lesson's assertions
/// do not depend on the load.
#[allow(dead_code)]
pub fn trainer(p: &fitcheck::preset::Preset, data: fitcheck::data::TrainTest) -> fitcheck::train::Trainer {
    fitcheck::train::Trainer::new(p, data).unwrap()
}

/// Runs a shipped preset (with overrides) to its summary, on the data it names.
pub fn run(name: &str, sets: &[&str]) -> Run {
    use fitcheck::train::{Event, load_data, spawn};
    let p = preset(name, sets);
    // A preset that starts from saved weights trains them first when they
    // are missing (a clean clone has no checkpoints/), as `run` does.
    fitcheck::train::ensure_init_weights(&p).unwrap();
    let data = if p.dataset == fitcheck::data::DatasetSpec::Mnist { mnist() } else { load_data(&p).unwrap() };
    let data = match &p.classes {
        Some(classes) => data.keep_classes(classes).unwrap(),
        None => data,
    };
    let handle = spawn(trainer(&p, data)).unwrap();
    let events: Vec<Event> = handle.events.iter().collect();
    handle.thread.join().unwrap();
    let epochs = events
        .iter()
        .filter_map(|e| match e {
            Event::Epoch(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    let summary = match events.last() {
        Some(Event::Summary(s)) => s.clone(),
        other => panic!("{name}: the run ended with {other:?}"),
    };
    Run { name: name.into(), sets: sets.iter().map(|s| s.to_string()).collect(), events, epochs, summary }
}

/// No event carries a non-finite number (serde_json writes those as null;
/// the only nulls allowed are optional fields and a diverged loss).
pub fn assert_all_finite(events: &[fitcheck::train::Event]) {
    for e in events {
        // The start line carries the preset, whose `None` fields are nulls.
        if matches!(e, fitcheck::train::Event::Start(_)) {
            continue;
        }
        let line = serde_json::to_string(e).unwrap();
        let line = line
            .replace("\"saturated_fraction\":null", "")
            .replace("\"dead_fraction\":null", "")
            .replace("\"boundary\":null", "")
            .replace("\"image\":null", "");
        let head: String = line.chars().take(300).collect();
        let diverged = matches!(e, fitcheck::train::Event::Diverged { .. });
        assert!(!line.contains("null") || diverged, "non-finite number in {head}");
    }
}

/// The run recorded for the dashboard tests (`tests/fixtures/runs/`): its
/// settings and every event, as `fitcheck watch` would replay them.
pub fn recorded_run() -> (Preset, Vec<fitcheck::train::Event>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/runs/mnist-overfit-tui.jsonl");
    let runs = fitcheck::run::replay::read_log(std::path::Path::new(path)).expect("the recorded run reads");
    assert_eq!(runs.len(), 1, "one run, no restart");
    let fallback = preset("mnist-overfit", &[]);
    let events = runs.into_iter().next().expect("checked");
    (fitcheck::run::replay::settings_of(&events, &fallback), events)
}
