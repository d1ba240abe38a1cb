//! Whole-screen snapshots of the dashboard, as gitui tests its screens:
//! the real `App`, fed a recorded run (`tests/fixtures/runs/`, written by
//! `fitcheck tui mnist-overfit --set train_size=500 --set epochs=6 --metrics
//! FILE` with `d` and `l` pressed during the run, data views of the first
//! four epochs dropped to keep it small), drawn on ratatui's `TestBackend`
//! at the sizes people use and compared with the committed snapshots under
//! `tests/snapshots/`.
//!
//! A layout change shows up as a failing test with a diff; review and accept
//! it with `cargo insta review` (`cargo install cargo-insta`), or rerun with
//! `INSTA_UPDATE=always` and read the diff in git. With `CI` set, insta
//! writes nothing and a mismatch fails.
//!
//! The fixture is fixed, so the screens are deterministic (its samples/s
//! and elapsed times were recorded once); nothing needs filtering.

mod common;

use fitcheck::preset::Preset;
use fitcheck::train::Event;
use fitcheck::tui::app::{App, Msg, PresetEntry};
use fitcheck::tui::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

fn fixture() -> (Preset, Vec<Event>) {
    common::recorded_run()
}

/// The dashboard after the recorded events up to (not including) the first
/// one `stop` matches, or all of them.
fn replayed(stop: impl Fn(&Event) -> bool) -> App {
    let (settings, events) = fixture();
    let mut app = App::new(settings);
    for e in events {
        if stop(&e) {
            break;
        }
        app.update(Msg::Trainer(e));
    }
    app
}

/// The whole run, finished, with its changes.
fn finished() -> App {
    replayed(|_| false)
}

/// Mid-run: the recorded events through epoch 4.
fn running() -> App {
    replayed(|e| matches!(e, Event::Step(s) if s.epoch == 5))
}

fn press(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::from(code)));
}

/// The screen as text, one row a line, trailing blanks trimmed.
fn screen(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
    term.draw(|f| ui::draw(app, f)).expect("draws");
    let buf = term.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>().trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn rows(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn finished_run_at_160x48() {
    insta::assert_snapshot!(screen(&finished(), 160, 48));
}

#[test]
fn finished_run_at_120x40() {
    insta::assert_snapshot!(screen(&finished(), 120, 40));
}

#[test]
fn finished_run_at_100x30() {
    insta::assert_snapshot!(screen(&finished(), 100, 30));
}

#[test]
fn finished_run_at_80x24() {
    insta::assert_snapshot!(screen(&finished(), 80, 24));
}

#[test]
fn running_at_100x30_keeps_the_state_in_the_header() {
    let s = screen(&running(), 100, 30);
    let header = rows(&s)[0];
    assert!(header.contains("▶ running") && header.contains("epoch 4/6"), "{header}");
    insta::assert_snapshot!(s);
}

#[test]
fn running_at_80x24_shows_the_loss_the_verdict_and_the_help_key() {
    let s = screen(&running(), 80, 24);
    let r = rows(&s);
    assert!(r[0].contains("▶ running"), "{}", r[0]);
    assert!(s.contains("Loss"), "{s}");
    assert!(s.contains("Is it overfitting?  overfitting since epoch 3"), "{s}");
    assert!(s.contains("• overfitting gap"), "the first finding:\n{s}");
    assert!(r[23].ends_with("? help"), "{}", r[23]);
    insta::assert_snapshot!(s);
}

#[test]
fn a_too_small_terminal_says_so() {
    insta::assert_snapshot!(screen(&finished(), 59, 16));
}

/// Presets as the picker lists them (fixed here, so a new shipped preset
/// does not change this screen).
fn entries() -> Vec<PresetEntry> {
    [
        ("mnist-mlp", "MNIST", "The healthy baseline: a two-layer MLP that reaches ~98% validation accuracy."),
        (
            "mnist-overfit",
            "MNIST",
            "1,000 training digits and a wide net: train accuracy climbs to 100%, validation stalls well below.",
        ),
        (
            "mnist-dropout",
            "MNIST",
            "The overfitting net with dropout 0.5: the gap between train and validation closes.",
        ),
        ("spirals", "spirals", "Two interleaved spirals: a linear model cannot separate them, a small MLP can."),
    ]
    .into_iter()
    .map(|(name, dataset, lesson)| PresetEntry { name: name.into(), dataset: dataset.into(), lesson: lesson.into() })
    .collect()
}

#[test]
fn the_picker_at_start_names_the_highlighted_preset_and_says_esc_quits() {
    let (settings, _) = fixture();
    let mut app = App::idle(settings, entries());
    press(&mut app, KeyCode::Down);
    let s = screen(&app, 80, 24);
    assert!(rows(&s)[0].contains("mnist-overfit"), "the header names the highlighted preset:\n{s}");
    assert!(s.contains("Esc quit"), "{s}");
    insta::assert_snapshot!("picker_at_start_80x24", s);
    insta::assert_snapshot!("picker_at_start_120x40", screen(&app, 120, 40));
}

#[test]
fn the_picker_over_a_run_says_esc_closes() {
    let mut app = finished();
    app.presets = entries();
    press(&mut app, KeyCode::Char('p'));
    let s = screen(&app, 120, 40);
    assert!(s.contains("Esc close"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn help_overlay() {
    let mut app = finished();
    press(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!("help_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("help_160x48", screen(&app, 160, 48));
}

#[test]
fn checklist_with_its_remedies() {
    let mut app = finished();
    press(&mut app, KeyCode::Char('c'));
    press(&mut app, KeyCode::Down);
    insta::assert_snapshot!("checklist_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("checklist_160x48", screen(&app, 160, 48));
}

#[test]
fn the_zoomed_weights_panel() {
    let mut app = finished();
    press(&mut app, KeyCode::Char('3'));
    insta::assert_snapshot!(screen(&app, 120, 40));
}

#[test]
fn the_smallest_layout_still_shows_the_state_the_verdict_and_the_help_key() {
    let s = screen(&running(), 60, 16);
    let r = rows(&s);
    assert!(r[0].contains("mnist-overfit") && r[0].contains("▶ running"), "{}", r[0]);
    assert!(s.contains("overfitting since epoch 3"), "{s}");
    assert!(r[15].ends_with("? help"), "{}", r[15]);
    for line in &r {
        // No word is cut at a border: what does not fit ends in `…`.
        assert!(!line.contains("rememb") && !line.contains("trai│"), "{line}");
    }
    insta::assert_snapshot!(s);
}

#[test]
fn a_checkpoint_saved_after_a_key_notice_is_confirmed_at_80x24() {
    // Issue 22: after `l` its notice stayed up through later keys, and the
    // finished run's summary line hid the save confirmation.
    let mut app = finished();
    press(&mut app, KeyCode::Char('l'));
    assert!(screen(&app, 80, 24).contains("L2 "), "the key's own notice shows first");
    press(&mut app, KeyCode::Char('s'));
    app.update(Msg::Trainer(Event::Checkpoint { step: 9, path: "run.safetensors".into(), error: None }));
    let s = screen(&app, 80, 24);
    assert!(s.contains("checkpoint saved: run.safetensors"), "{s}");
    assert!(!s.contains("shrinks the weights"), "the earlier notice is gone:\n{s}");
    // The next key clears the confirmation too: the summary comes back.
    press(&mut app, KeyCode::Char('g'));
    let s = screen(&app, 80, 24);
    assert!(!s.contains("checkpoint saved") && s.contains("test accuracy"), "{s}");
}

#[test]
fn the_picker_keeps_a_space_after_the_longest_preset_name() {
    // Issue 22: "mnist-pretrain-0to4MNIST" at 80x24.
    let (settings, _) = fixture();
    let mut list = entries();
    list.push(PresetEntry {
        name: "mnist-pretrain-0to4".into(),
        dataset: "MNIST digits 0-4 only".into(),
        lesson: "Pretraining on digits 0 to 4 for the transfer lesson.".into(),
    });
    let app = App::idle(settings, list);
    let s = screen(&app, 80, 24);
    let row = s.lines().find(|l| l.contains("mnist-pretrain-0to4")).expect("listed");
    assert!(row.contains("mnist-pretrain-0to4 ") && row.contains("MNIST digits 0-4 only Pretrain"), "{row}");
    let mlp = s.lines().find(|l| l.starts_with("│ mnist-mlp")).expect("listed");
    // The columns line up: every dataset starts where the longest name ends.
    assert_eq!(mlp.find("MNIST"), row.find("MNIST"), "{mlp}\n{row}");
}

/// A recorded fork (`tests/fixtures/runs/mnist-overfit-fork.jsonl`, written
/// by `fitcheck tui mnist-overfit --set train_size=1000 --set epochs=20
/// --metrics FILE` at 80x24 in tmux: at epoch 8 `c`, ↓ to "dropout 0.5",
/// `t`; the trainer paused after the branch's 3 epochs; then `K` and `q`;
/// layer statistics and data views dropped, the `fork_end` reason set to
/// the current wording), replayed up to the first event `stop` matches.
fn forked(stop: impl Fn(&Event) -> bool) -> App {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/runs/mnist-overfit-fork.jsonl");
    let runs = fitcheck::run::replay::read_log(std::path::Path::new(path)).expect("the recorded fork reads");
    let events = runs.into_iter().next().expect("one run");
    let settings = fitcheck::run::replay::settings_of(&events, &common::preset("mnist-overfit", &[]));
    let mut app = App::new(settings);
    for e in events {
        if stop(&e) {
            break;
        }
        app.update(Msg::Trainer(e));
    }
    app
}

#[test]
fn a_fork_at_80x24_shows_the_branch_and_its_effect_against_the_noise() {
    let app = forked(|e| matches!(e, Event::ForkEnd { .. }));
    let s = screen(&app, 80, 24);
    assert!(s.contains("branch dropout 0.5"), "{s}");
    assert!(s.contains("K keep · x drop"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn a_kept_branch_at_80x24_is_the_run_beside_the_ghost_of_the_other() {
    let app = forked(|e| matches!(e, Event::Summary(_)));
    let s = screen(&app, 80, 24);
    assert!(s.contains("grey: without dropout 0.5"), "{s}");
    assert!(s.contains("dropout 0.5 d/D"), "the kept branch's settings are the run's: {s}");
    insta::assert_snapshot!(s);
}

/// The recorded run mid-way with its learning-rate range test open (`m`),
/// fed the first `upto` points (all, and the end, when `None`) of a real
/// curve: `fitcheck lr-find mnist-overfit --set train_size=500 --set
/// epochs=6` (the fixture's settings), in `tests/fixtures/runs/lr-find-mnist-overfit.jsonl`.
fn range_tested(upto: Option<usize>) -> App {
    let mut app = running();
    press(&mut app, KeyCode::Char('m'));
    app.update(Msg::Trainer(Event::Paused { step: app.run.step }));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/runs/lr-find-mnist-overfit.jsonl");
    let text = std::fs::read_to_string(path).expect("the range-test fixture");
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let f = |v: &serde_json::Value| v.as_f64().map(|x| x as f32);
    for (i, l) in lines.iter().enumerate() {
        if upto.is_some_and(|n| i >= n) {
            break;
        }
        let event = match l["type"].as_str() {
            Some("lr_find") => Event::RangeTestPoint {
                step: l["step"].as_u64().unwrap() as usize,
                of: 200,
                lr: f(&l["lr"]).unwrap(),
                loss: f(&l["loss"]),
                smoothed: f(&l["smoothed"]),
            },
            _ => Event::RangeTestEnd {
                steps: l["steps"].as_u64().unwrap() as usize,
                stopped: l["stopped"].as_str().unwrap().to_string(),
                steepest: f(&l["steepest"]),
                min_over_10: f(&l["min_over_10"]),
                suggested: f(&l["suggested"]),
            },
        };
        app.update(Msg::Trainer(event));
    }
    app
}

#[test]
fn the_range_test_panel_at_80x24() {
    let app = range_tested(None);
    let s = screen(&app, 80, 24);
    assert!(s.contains("suggested 0.12") && s.contains("Enter: lr"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn the_range_test_measuring_at_80x24_shows_its_progress() {
    let s = screen(&range_tested(Some(90)), 80, 24);
    assert!(s.contains("step 90/200") && s.contains("Esc cancels"), "{s}");
    assert!(rows(&s)[0].contains("paused"), "the run waits: {}", rows(&s)[0]);
}
