//! Runs trained elsewhere, as events: an [`ExternalRun`] (read by
//! `crate::ingest` from TensorBoard event files, CSV or JSON lines) becomes a
//! `start` event and one `epoch` event per epoch, so the same run model,
//! dashboard and checklist read it. What such a log does not carry (training
//! in eval mode, layer statistics, the settings) is marked unknown: the
//! checklist says "not available for this run" rather than guess.

use crate::ingest::{ExternalEpoch, ExternalRun};
use crate::preset::Preset;
use crate::train::{EpochMetrics, Event, RunInfo, Stopped, Summary};

/// The `start` event of an external run.
pub fn start_event(run: &ExternalRun) -> Event {
    let epochs = run.epochs.len();
    // Steps per epoch from the writer's steps, when it logs them.
    let steps_per_epoch = run
        .epochs
        .iter()
        .rev()
        .find_map(|e| e.step.map(|s| (e.epoch, s)))
        .map_or(1, |(epoch, step)| (step / epoch.max(1) as u64).max(1));
    Event::Start(RunInfo {
        preset: run.name.clone(),
        dataset: format!("{} ({})", run.format, run.source.display()),
        epochs,
        steps_per_epoch,
        train_size: 0,
        val_size: 0,
        test_size: 0,
        parameters: 0,
        hidden: Vec::new(),
        activation: "unknown".into(),
        optimizer: "unknown".into(),
        lr: run.epochs.iter().find_map(|e| e.lr).unwrap_or(f32::NAN),
        batch_size: 0,
        threads: 0,
        classes: 0,
        input_scale: f32::NAN,
        settings: None,
    })
}

/// One epoch as the run model reads it. A missing value is NaN (written as
/// `null`); training "in eval mode" is the logged training value, the only
/// one an external log has.
pub fn epoch_event(e: &ExternalEpoch, steps_per_epoch: u64, first_wall: Option<f64>) -> Event {
    let nan = f32::NAN;
    Event::Epoch(EpochMetrics {
        epoch: e.epoch,
        step: e.step.unwrap_or(e.epoch as u64 * steps_per_epoch),
        train_loss: e.train_loss.unwrap_or(nan),
        train_acc: e.train_acc.unwrap_or(nan),
        train_loss_eval: e.train_loss.unwrap_or(nan),
        train_acc_eval: e.train_acc.unwrap_or(nan),
        val_loss: e.val_loss.unwrap_or(nan),
        val_acc: e.val_acc.unwrap_or(nan),
        lr: e.lr.unwrap_or(nan),
        penalty: 0.0,
        noise_memorized: None,
        samples_per_s: 0.0,
        elapsed_s: match (e.wall_time, first_wall) {
            (Some(t), Some(t0)) => t - t0,
            _ => 0.0,
        },
    })
}

/// Every event of an external run, start first.
pub fn events(run: &ExternalRun) -> Vec<Event> {
    let start = start_event(run);
    let spe = match &start {
        Event::Start(info) => info.steps_per_epoch,
        _ => 1,
    };
    let first_wall = run.epochs.iter().find_map(|e| e.wall_time);
    std::iter::once(start).chain(run.epochs.iter().map(|e| epoch_event(e, spe, first_wall))).collect()
}

/// The settings an external run is shown with: none are known. The
/// placeholder keeps the name; `Run::external` marks it unknown.
pub fn placeholder_settings(name: &str) -> Preset {
    let text = include_str!("../../presets/mnist-mlp.ron");
    let mut p = Preset::parse(text, "mnist-mlp.ron").expect("the shipped baseline preset parses");
    p.name = name.to_string();
    p.lesson = "a run trained elsewhere".into();
    p
}

/// The summary of an external run as far as its log goes (no test set).
pub fn summary(run: &crate::run::Run) -> Summary {
    let best = run.best_epoch();
    Summary {
        epochs: run.epochs.len(),
        best_epoch: best.map_or(0, |b| b.epoch),
        best_val_acc: best.map_or(0.0, |b| if b.val_acc.is_finite() { b.val_acc } else { 0.0 }),
        test_acc: None,
        test_loss: None,
        stopped: Stopped::Completed,
    }
}
