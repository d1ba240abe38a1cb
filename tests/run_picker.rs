//! The run picker of `fitcheck watch` on a folder of many runs: the real
//! `App` driven through `App::update` (keys, the scanner's rows), drawn on
//! ratatui's `TestBackend` and compared with snapshots under
//! `tests/snapshots/` (see `tests/screens.rs` for how to review them); and
//! the scanner on a real folder, where a run created later appears.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fitcheck::ingest::{Format, TagMap};
use fitcheck::run::Run;
use fitcheck::tui::app::{App, Effect, Msg};
use fitcheck::tui::runs::{RunRow, spawn_scanner};
use fitcheck::tui::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

fn row(name: &str, format: Format, epochs: Option<usize>, loss: Option<f32>, age: u64) -> RunRow {
    RunRow {
        name: name.into(),
        format,
        path: PathBuf::from("/runs").join(name),
        epochs,
        last_val_loss: loss,
        age_s: Some(age),
        problem: None,
    }
}

/// Six runs of a mixed folder, as the scanner would send them.
fn rows() -> Vec<RunRow> {
    vec![
        row("lightning_logs/version_0", Format::TensorBoard, Some(12), Some(0.4121), 40),
        row("lightning_logs/version_0/metrics.csv", Format::Csv, Some(12), Some(0.4121), 40),
        row("lightning_logs/version_1", Format::TensorBoard, Some(3), Some(1.2034), 7),
        row("mlflow.db/blobs/diverged", Format::MlflowSqlite, Some(6), Some(f32::NAN), 3 * 86_400),
        row("mlruns/blobs/healthy", Format::MlflowFiles, Some(8), Some(0.3166), 5400),
        RunRow {
            problem: Some("no loss or accuracy logged yet".into()),
            ..row("new-run/log.jsonl", Format::JsonLines, Some(0), None, 1)
        },
    ]
}

fn press(app: &mut App, code: KeyCode) -> Option<Effect> {
    app.update(Msg::Key(KeyEvent::from(code)))
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
    term.draw(|f| ui::draw(app, f)).expect("draws");
    let buf = term.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>().trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn picking() -> App {
    let mut app = App::picking_run(Path::new("/runs"));
    app.update(Msg::Runs(rows()));
    app
}

#[test]
fn the_picker_watches_a_run_and_p_comes_back_to_it() {
    let mut app = picking();
    // Nothing watched yet: Esc quits, as the title says.
    assert!(screen(&app, 80, 24).contains("Esc quit"));
    assert_eq!(press(&mut app, KeyCode::Down), None);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Up);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Effect::Watch(PathBuf::from("/runs/lightning_logs/version_0/metrics.csv")))
    );
    // The event loop opens the run and hands over a fresh dashboard.
    let path = PathBuf::from("/runs/lightning_logs/version_0/metrics.csv");
    app.start_watching(App::watching(Run::external("metrics.csv"), false), &path);
    let list = app.runs.as_ref().expect("the list is kept");
    assert!(!list.open);
    assert_eq!(list.watching.as_deref(), Some(path.as_path()));
    assert!(!screen(&app, 80, 24).contains("Runs"), "the picker is closed");
    // p: back to the runs, the one watched marked; Esc goes back to it.
    press(&mut app, KeyCode::Char('p'));
    let s = screen(&app, 80, 24);
    assert!(s.contains("▸lightning_logs/version_0/metrics.csv"), "{s}");
    assert!(s.contains("Esc back"), "{s}");
    assert_eq!(press(&mut app, KeyCode::Esc), None);
    assert!(!app.runs.as_ref().expect("list").open);
    // Another run: Enter asks for it; q quits from the picker.
    press(&mut app, KeyCode::Char('p'));
    press(&mut app, KeyCode::Down);
    assert_eq!(press(&mut app, KeyCode::Enter), Some(Effect::Watch(PathBuf::from("/runs/lightning_logs/version_1"))));
    press(&mut app, KeyCode::Char('p'));
    assert_eq!(press(&mut app, KeyCode::Char('q')), Some(Effect::Quit));
    // With no run chosen, Esc quits.
    let mut fresh = picking();
    assert_eq!(press(&mut fresh, KeyCode::Esc), Some(Effect::Quit));
}

#[test]
fn a_run_appearing_keeps_the_highlight_on_its_run() {
    let mut app = picking();
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    let mut more = rows();
    more.insert(0, row("a-new-run", Format::Csv, None, None, 0));
    app.update(Msg::Runs(more));
    let list = app.runs.as_ref().expect("list");
    assert_eq!(list.rows[list.selected].name, "lightning_logs/version_1");
    let s = screen(&app, 80, 24);
    assert!(s.contains("a-new-run"), "{s}");
    // Not read yet: its epochs say so.
    let line = s.lines().find(|l| l.contains("a-new-run")).expect("row");
    assert!(line.contains('…'), "{line}");
}

#[test]
fn the_run_picker_at_80x24() {
    let mut app = picking();
    press(&mut app, KeyCode::Down);
    let s = screen(&app, 80, 24);
    assert!(s.contains("Runs  ↑/↓ choose · Enter watch · Esc quit · /runs"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn the_run_picker_at_120x40_says_why_a_run_cannot_be_read() {
    let mut app = picking();
    for _ in 0..5 {
        press(&mut app, KeyCode::Down);
    }
    let s = screen(&app, 120, 40);
    assert!(s.contains("no loss or accuracy logged yet"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn many_runs_scroll_with_the_highlight_in_a_small_terminal() {
    let mut app = App::picking_run(Path::new("/runs"));
    let many: Vec<RunRow> =
        (0..40).map(|i| row(&format!("run_{i:02}"), Format::TensorBoard, Some(i), Some(1.0), 60)).collect();
    app.update(Msg::Runs(many));
    for _ in 0..30 {
        press(&mut app, KeyCode::Char('j'));
    }
    let s = screen(&app, 80, 24);
    assert!(s.contains("run_30") && !s.contains("run_00"), "{s}");
    assert_eq!(s.lines().count(), 24);
    assert!(s.lines().last().is_some_and(|l| l.starts_with('└')), "the list fits the screen: {s}");
}

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external").join(p)
}

#[test]
fn the_scanner_reads_every_run_and_sees_new_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (from, to) in [
        ("keras-csv/overfit.csv", "a.csv"),
        ("keras-csv/healthy.csv", "b.csv"),
        ("jsonl/overfit.jsonl", "c.jsonl"),
        ("jsonl/healthy.jsonl", "d.jsonl"),
        ("hf/healthy/trainer_state.json", "hf/trainer_state.json"),
    ] {
        let to = dir.path().join(to);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(fixture(from), to).expect("copy");
    }
    let rx = spawn_scanner(dir.path(), TagMap::new()).expect("scanner");
    let wait = |what: &str, cond: &dyn Fn(&[RunRow]) -> bool| -> Vec<RunRow> {
        let start = Instant::now();
        loop {
            let rows = rx.recv_timeout(Duration::from_secs(10)).expect("rows");
            if cond(&rows) {
                return rows;
            }
            assert!(start.elapsed() < Duration::from_secs(15), "timed out waiting for {what}: {rows:?}");
        }
    };
    let rows = wait("five runs read", &|r| r.len() == 5 && r.iter().all(|r| r.epochs.is_some()));
    let by_name = |n: &str| rows.iter().find(|r| r.name == n).expect(n).clone();
    assert_eq!(by_name("a.csv").epochs, Some(30));
    assert!((by_name("a.csv").last_val_loss.expect("val") - 0.7445).abs() < 1e-3);
    assert_eq!(by_name("hf").format, Format::HfTrainerState);
    assert!(rows.iter().all(|r| r.age_s.is_some_and(|a| a < 600)), "{rows:?}");
    // A run created later appears, read.
    std::fs::copy(fixture("keras-csv/healthy.csv"), dir.path().join("e.csv")).expect("copy");
    let rows = wait("the new run", &|r| r.iter().any(|r| r.name == "e.csv" && r.epochs == Some(5)));
    assert_eq!(rows.len(), 6);
}
