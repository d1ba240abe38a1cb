//! The learning-rate range test and `compare`, as a user runs them: the
//! curve's shape, the suggestion against a grid measured here, the
//! suggestion on the too-high preset trained without a rollback, and a
//! paired comparison of dropout on the overfitting preset.

mod common;

use std::process::Command;

use fitcheck::train::Event;
use fitcheck::train::lr_find::{LrPoint, LrSuggestion};

/// The range test on a fresh trainer of `name` with `sets`.
fn lr_find(name: &str, sets: &[&str], steps: usize) -> (Vec<LrPoint>, LrSuggestion) {
    let p = common::preset(name, sets);
    let mut trainer = common::trainer(&p, common::mnist());
    let mut points = Vec::new();
    let s = trainer
        .lr_find(steps, |point| {
            points.push(*point);
            Ok(())
        })
        .unwrap()
        .expect("a suggestion");
    (points, s)
}

fn rollbacks(run: &common::Run) -> usize {
    run.count(|e| matches!(e, Event::Diverged { .. }))
}

#[test]
fn the_curve_falls_then_rises_and_the_test_stops_at_divergence() {
    let (points, s) = lr_find("mnist-mlp", &["train_size=Some(2000)"], 200);
    let first = points[0].smoothed;
    let (at, min) = points
        .iter()
        .enumerate()
        .fold((0, f32::INFINITY), |b, (i, p)| if p.smoothed < b.1 { (i, p.smoothed) } else { b });
    assert!(min < 0.6 * first, "falls: {first} -> {min}");
    assert!(at > 20 && at < points.len() - 1, "the minimum inside the curve, at {at} of {}", points.len());
    let last = points.last().unwrap();
    assert!(!last.smoothed.is_finite() || last.smoothed > 4.0 * min, "rises past 4x the minimum: {last:?}");
    assert_eq!(s.stopped, "diverged");
    assert!(points.len() < 200, "stopped before the end");
    assert!(points.windows(2).all(|w| w[1].lr > w[0].lr));
    assert!(s.steepest < s.suggested && s.suggested < s.min_over_10 * 10.0, "{s:?}");
}

/// The grid of the README: 1 epoch on 5,000 digits, seeds 7, 8, 9, momentum
/// SGD as the preset has it; the best rate by mean validation accuracy.
#[test]
fn the_suggestion_on_mnist_mlp_is_within_a_factor_of_three_of_the_grid_best() {
    let grid = [0.003f32, 0.01, 0.03, 0.1, 0.3];
    let mut scores = Vec::new();
    for lr in grid {
        let mut acc = 0.0;
        for seed in 7..10 {
            let lr = format!("lr={lr}");
            let seed = format!("seed={seed}");
            let run = common::run("mnist-mlp", &["train_size=Some(5000)", "epochs=1", &lr, &seed]);
            acc += run.summary.best_val_acc / 3.0;
        }
        scores.push((lr, acc));
    }
    let best = scores.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
    let (_, s) = lr_find("mnist-mlp", &["train_size=Some(5000)"], 200);
    let ratio = (s.suggested / best).max(best / s.suggested);
    assert!(ratio <= 3.0, "suggested {} vs grid best {best} ({scores:?})", s.suggested);
}

#[test]
fn the_suggestion_trains_the_too_high_preset_without_a_rollback() {
    let small = ["train_size=Some(5000)", "epochs=2"];
    let (_, s) = lr_find("mnist-lr-too-high", &small[..1], 200);
    let lr = format!("lr={}", s.suggested);
    let suggested = common::run("mnist-lr-too-high", &[small[0], small[1], &lr]);
    assert_eq!(rollbacks(&suggested), 0, "at the suggested {}", s.suggested);
    assert!(suggested.summary.best_val_acc > 0.9, "{:?}", suggested.summary);
    // The preset's own rate on the same data does roll back: the count is real.
    let own = common::run("mnist-lr-too-high", &small);
    assert!(rollbacks(&own) > 0);
}

#[test]
fn the_range_test_leaves_the_preset_untouched_and_repeats() {
    let (a, sa) = lr_find("mnist-mlp", &["train_size=Some(1000)"], 60);
    let (b, sb) = lr_find("mnist-mlp", &["train_size=Some(1000)"], 60);
    assert_eq!(a, b);
    assert_eq!(sa, sb);
}

fn fitcheck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fitcheck")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap()
}

fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn lr_find_prints_a_line_per_step_then_the_suggestion() {
    let out = fitcheck(&["lr-find", "mnist-mlp", "--set", "train_size=Some(1000)", "--steps", "40", "--seed", "3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out);
    let (last, steps) = lines.split_last().unwrap();
    assert!(!steps.is_empty() && steps.len() <= 40);
    for (i, l) in steps.iter().enumerate() {
        assert_eq!(l["type"], "lr_find");
        assert_eq!(l["step"], i + 1);
        assert!(l["lr"].is_number() && l["loss"].is_number() && l["smoothed"].is_number(), "{l}");
    }
    assert_eq!(steps[0]["lr"], 1e-6);
    assert_eq!(last["type"], "lr_suggestion");
    for key in ["steepest", "min_over_10", "suggested"] {
        assert!(last[key].as_f64().is_some_and(|v| v > 0.0), "{key} in {last}");
    }
}

#[test]
fn bad_input_to_lr_find_and_compare_is_exit_2_naming_the_field() {
    let out = fitcheck(&["lr-find", "mnist-mlp", "--steps", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--steps 2"));
    let out = fitcheck(&["lr-find", "mnist-mlp", "--set", "dropout=7"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dropout"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = fitcheck(&["compare", "mnist-overfit", "--set", "hidden=[0]", "--seeds", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hidden"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "nothing trained before the error");
    let out = fitcheck(&["compare", "mnist-overfit", "--set", "dropout=0.5", "--seeds", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = fitcheck(&["compare", "mnist-overfit", "--set", "dropout=0.5", "--both", "val_size=60001"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("val_size"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The example: dropout on the overfitting preset, 3 seeds, 16
/// epochs (of 60) to keep it short; the gain and its spread are reported.
#[test]
fn compare_reports_the_gain_of_dropout_on_mnist_overfit_with_its_spread() {
    let out = fitcheck(&["compare", "mnist-overfit", "--set", "dropout=0.5", "--seeds", "3", "--both", "epochs=16"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 6 + 2 + 1, "{lines:?}");
    let branches: Vec<_> = lines.iter().filter(|l| l["type"] == "compare_branch").collect();
    assert_eq!(branches[0]["branch"], "base");
    assert_eq!(branches[1]["branch"], "dropout=0.5");
    for b in &branches {
        assert_eq!(b["seeds"], serde_json::json!([7, 8, 9]));
        assert!(b["best_val_acc"]["std"].as_f64().unwrap() > 0.0, "{b}");
    }
    let c = lines.last().unwrap();
    assert_eq!(c["type"], "compare");
    let gain = c["best_val_acc_diff"]["mean"].as_f64().unwrap();
    let spread = c["best_val_acc_diff"]["std"].as_f64().unwrap();
    assert!(gain > 0.0 && spread > 0.0, "{c}");
    assert!(c["final_val_loss_diff"]["mean"].as_f64().unwrap() < 0.0, "{c}");
    assert_eq!(c["acc_beyond_noise"], gain > spread);
    assert!(c["verdict"].as_str().unwrap().contains("points"), "{c}");
}

/// Epoch numbers that do not depend on the clock or the thread count.
fn measured(events: &[Event]) -> Vec<(usize, u64, u32, u32, u32, u32, f32)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Epoch(m) => Some((
                m.epoch,
                m.step,
                m.train_loss.to_bits(),
                m.train_loss_eval.to_bits(),
                m.val_loss.to_bits(),
                m.val_acc.to_bits(),
                m.lr,
            )),
            _ => None,
        })
        .collect()
}

/// Trains `p` on its own thread, sending `first` before its first step,
/// and hands every event to `on` (which may send more commands) until the
/// summary. The step runner is pinned to one thread, so two runs are
/// comparable bit for bit.
fn drive(
    p: &fitcheck::preset::Preset,
    first: Vec<fitcheck::train::Command>,
    mut on: impl FnMut(&Event, &crossbeam_channel::Sender<fitcheck::train::Command>),
) -> Vec<Event> {
    let mut trainer = common::trainer(p, common::mnist());
    trainer.pin_steps(fitcheck::nn::governor::Mode::Alone);
    let handle = fitcheck::train::spawn(trainer).unwrap();
    for c in first {
        handle.commands.send(c).unwrap();
    }
    let mut events = Vec::new();
    for e in handle.events.iter() {
        on(&e, &handle.commands);
        let end = matches!(e, Event::Summary(_) | Event::Failed { .. });
        events.push(e);
        if end {
            break;
        }
    }
    drop(handle.commands);
    let _ = handle.thread.join();
    events
}

/// The dashboard's range test trains the live model in place and puts it
/// back: a run that measured its rate first and then resumed trains to the
/// very same bits as one that never did.
#[test]
fn the_dashboards_range_test_leaves_the_live_run_bit_identical() {
    use fitcheck::train::Command;
    let p = common::small(&["epochs=1", "dropout=0.2"]);
    let plain = drive(&p, vec![], |_, _| {});
    let mut points = 0;
    let tested = drive(&p, vec![Command::RangeTest { steps: 60 }], |e, commands| match e {
        Event::RangeTestPoint { .. } => points += 1,
        Event::RangeTestEnd { .. } => commands.send(Command::Resume).unwrap(),
        _ => {}
    });
    assert!(points >= 3, "the test ran ({points} points)");
    let paused = tested.iter().position(|e| matches!(e, Event::Paused { .. })).expect("the run paused for the test");
    let first_point = tested.iter().position(|e| matches!(e, Event::RangeTestPoint { .. })).unwrap();
    assert!(paused < first_point);
    assert_eq!(measured(&plain), measured(&tested));
    assert_eq!(rollbacks_in(&tested), 0, "the test's divergence is not the run's");
}

fn rollbacks_in(events: &[Event]) -> usize {
    events.iter().filter(|e| matches!(e, Event::Diverged { .. })).count()
}

/// The dashboard path on the too-high preset: `m` before the first step,
/// the events into the App, Enter on its panel once the test ends, the
/// App's commands back to the trainer. The suggestion trains without a
/// rollback; the test's own divergence trips nothing.
#[test]
fn the_dashboards_suggestion_trains_the_too_high_preset_without_a_rollback() {
    use fitcheck::tui::app::{App, Effect, Msg};
    use ratatui::crossterm::event::{KeyCode, KeyEvent};
    let p = common::preset("mnist-lr-too-high", &["train_size=Some(5000)", "epochs=2"]);
    let mut app = App::new(p.clone());
    let Some(Effect::Send(start)) = app.update(Msg::Key(KeyEvent::from(KeyCode::Char('m')))) else {
        panic!("m starts the range test")
    };
    let mut applied = None;
    let events = drive(&p, vec![start], |e, commands| {
        app.update(Msg::Trainer(e.clone()));
        if matches!(e, Event::RangeTestEnd { .. }) {
            assert!(app.range.open.as_ref().is_some_and(|t| t.suggestion().is_some()), "{e:?}");
            let sends = match app.update(Msg::Key(KeyEvent::from(KeyCode::Enter))) {
                Some(Effect::SendAll(c)) => c,
                Some(Effect::Send(c)) => vec![c],
                other => panic!("Enter applies the suggestion: {other:?}"),
            };
            applied = match app.pending.get(fitcheck::settings::SettingKey::LearningRate) {
                Some(fitcheck::settings::Setting::LearningRate(lr)) => Some(*lr),
                _ => None,
            };
            sends.into_iter().for_each(|c| commands.send(c).unwrap());
        }
    });
    let lr = applied.expect("a rate applied");
    assert!(lr < p.lr, "the suggestion {lr} is below the preset's {}", p.lr);
    let end = events.iter().position(|e| matches!(e, Event::RangeTestEnd { .. })).unwrap();
    assert!(matches!(&events[end], Event::RangeTestEnd { stopped, .. } if stopped == "diverged"));
    assert_eq!(rollbacks_in(&events), 0, "at the suggested {lr}");
    assert_eq!(app.run.settings.lr, lr, "the trainer confirmed the rate");
    let best =
        events.iter().filter_map(|e| if let Event::Epoch(m) = e { Some(m.val_acc) } else { None }).fold(0.0, f32::max);
    assert!(best > 0.9, "{best}");
}
