//! The screen layout: a pure function of `&App`, laid out from the
//! [`Panel`] table.
//!
//! ```text
//! ┌ header: fitcheck · preset · dataset · epoch · step · samples/s · state ─ gauge ┐
//! │ Loss (train, train(eval), val, ghost)  │ Accuracy (the same)                   │
//! │ Weights: histograms, per-layer table,  │ Dropout: with vs without, the gap     │
//! │   gradient norm per layer over time    │   (or the data view, `v`)             │
//! │ Controls: every knob and its key       │ Is it overfitting? (Lee's order)      │
//! └ footer: keys, ending in `? help` ──────────────────────────────────────────────┘
//! ```
//! Below 100x30 (80x24 is the most common terminal) a compact layout keeps
//! what matters most: the loss chart (and accuracy beside it from 100
//! columns), the checklist's verdict with its first finding, and the
//! controls when there is height for them. Below 60x16, a message.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Stylize;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::app::App;
use super::panels::{self, Panel};

/// Smallest terminal the layout fits.
pub const MIN_SIZE: (u16, u16) = (60, 16);
/// From this size on every panel is shown.
pub const FULL_SIZE: (u16, u16) = (100, 30);
/// Rows of the compact layout's checklist strip and controls (borders included).
const STRIP_ROWS: u16 = 4;
const CONTROLS_ROWS: u16 = 6;
/// The fewest rows a chart is readable in.
const CHART_ROWS: u16 = 6;

pub fn draw(app: &App, frame: &mut Frame) {
    render(app, frame.area(), frame.buffer_mut());
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let text = vec![
            Line::from("fitcheck: terminal too small").bold(),
            Line::from(format!("{}x{}; needs {}x{}", area.width, area.height, MIN_SIZE.0, MIN_SIZE.1)),
            Line::from(format!("{} quits", super::keymap::key(super::keymap::Action::Quit))),
        ];
        Paragraph::new(text).wrap(Wrap { trim: true }).render(area, buf);
        return;
    }
    let full = area.width >= FULL_SIZE.0 && area.height >= FULL_SIZE.1;
    let [header, body, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(8), Constraint::Length(1)]).areas(area);
    panels::header::render(app, header, buf);
    panels::footer::render(app, footer, buf);
    if app.range.open.is_some() {
        panels::range_test::render(app, body, buf);
    } else if let Some(panel) = app.zoom.and_then(Panel::from_zoom) {
        panel.render(app, body, buf);
    } else if full {
        full_layout(app, body, buf);
    } else {
        compact_layout(app, body, buf);
    }
    if app.picker.is_some() {
        panels::picker::render(app, area, buf);
    }
    panels::runs::render(app, area, buf);
    if app.show_help {
        panels::help::render(app, area, buf);
    }
}

/// Every panel: the charts on top, weights and dropout (or the data view)
/// in the middle, controls and the checklist at the bottom.
fn full_layout(app: &App, body: Rect, buf: &mut Buffer) {
    let [charts, middle, bottom] =
        Layout::vertical([Constraint::Percentage(40), Constraint::Min(8), Constraint::Length(9)]).areas(body);
    let halves = |r: Rect| Layout::horizontal([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).areas::<2>(r);
    let [loss, accuracy] = halves(charts);
    let [weights, dropout] = halves(middle);
    let [controls, checklist] =
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(bottom);
    let mut place = vec![
        (Panel::Loss, loss),
        (Panel::Accuracy, accuracy),
        (Panel::Controls, controls),
        (Panel::Checklist, checklist),
    ];
    if app.show_data {
        place.push((Panel::Data, middle));
    } else {
        place.extend([(Panel::Weights, weights), (Panel::Dropout, dropout)]);
    }
    for (panel, area) in place {
        panel.render(app, area, buf);
    }
}

/// A small terminal: the loss chart (accuracy beside it when wide enough),
/// the verdict strip, and the controls if the chart keeps its rows; with
/// `v`, the data view above the strip instead.
fn compact_layout(app: &App, body: Rect, buf: &mut Buffer) {
    if app.show_data {
        // `v` at 80x24 once changed nothing: the data view takes the chart's
        // and the controls' rows (a confusion matrix of ten classes needs 14).
        let [data, strip] = Layout::vertical([Constraint::Min(CHART_ROWS), Constraint::Length(STRIP_ROWS)]).areas(body);
        Panel::Data.render(app, data, buf);
        panels::checklist::render_strip(app, strip, buf);
        return;
    }
    let with_controls = body.height >= CHART_ROWS + STRIP_ROWS + CONTROLS_ROWS;
    let controls_rows = if with_controls { CONTROLS_ROWS } else { 0 };
    let [charts, strip, controls] = Layout::vertical([
        Constraint::Min(CHART_ROWS),
        Constraint::Length(STRIP_ROWS),
        Constraint::Length(controls_rows),
    ])
    .areas(body);
    if charts.width >= FULL_SIZE.0 {
        let [loss, accuracy] = Layout::horizontal([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).areas(charts);
        Panel::Loss.render(app, loss, buf);
        Panel::Accuracy.render(app, accuracy, buf);
    } else {
        Panel::Loss.render(app, charts, buf);
    }
    panels::checklist::render_strip(app, strip, buf);
    if with_controls {
        Panel::Controls.render(app, controls, buf);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::protocol::{Change, EpochMetrics, Event, StepMetrics};
    use crate::settings::Setting;
    use crate::tui::app::tests::{info, preset};
    use crate::tui::app::{App, Msg};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent};

    pub(crate) fn screen(app: &App, w: u16, h: u16) -> String {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| draw(app, f)).unwrap();
        let buf = term.backend().buffer();
        (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn epoch(n: usize, val_acc: f32) -> EpochMetrics {
        EpochMetrics {
            epoch: n,
            step: 100 * n as u64,
            train_loss: 0.5 / n as f32,
            train_acc: 0.9,
            train_loss_eval: 0.4 / n as f32,
            train_acc_eval: 0.92,
            val_loss: 0.45 / n as f32,
            val_acc,
            lr: 0.05,
            penalty: 0.0,
            noise_memorized: None,
            samples_per_s: 41_000.0,
            threads: None,
            elapsed_s: n as f64,
            grad_norm: None,
            branch: None,
        }
    }

    fn running_app() -> App {
        let mut app = App::new(preset());
        app.update(Msg::Trainer(Event::Start(info())));
        for (n, val_acc) in [(1, 0.95), (2, 0.97)] {
            for step in (100 * n as u64 - 90..=100 * n as u64).step_by(10) {
                let loss = 2.0 / (1.0 + step as f32 / 20.0);
                app.update(Msg::Trainer(Event::Step(StepMetrics {
                    epoch: n,
                    step,
                    loss,
                    acc: 1.0 - loss / 2.5,
                    samples_per_s: 41_000.0,
                    threads: None,
                    branch: None,
                })));
            }
            app.update(Msg::Trainer(Event::Epoch(epoch(n, val_acc))));
        }
        app.update(Msg::Trainer(Event::Change(Change {
            step: 180,
            from: Setting::LearningRate(0.05),
            to: Setting::LearningRate(0.1),
            note: None,
            by_trainer: false,
        })));
        app
    }

    #[test]
    fn the_header_says_following_while_a_recorded_log_grows() {
        let events = vec![Event::Start(info()), Event::Epoch(epoch(1, 0.9))];
        let mut app = App::replaying(preset(), events.clone(), true);
        let first = |app: &App| screen(app, 120, 40).lines().next().unwrap().to_string();
        assert!(first(&app).contains("following"), "{}", first(&app));
        app.update(Msg::Trainer(Event::Epoch(epoch(2, 0.92))));
        assert!(first(&app).contains("epoch 2/"), "{}", first(&app));
        app.update(Msg::Key(KeyEvent::from(KeyCode::Left)));
        assert!(first(&app).contains("replay"), "{}", first(&app));
        let finished = App::replaying(preset(), events, false);
        assert!(first(&finished).contains("replay"), "{}", first(&finished));
    }

    #[test]
    fn a_watched_stream_that_ends_stays_on_screen_saying_so() {
        let mut app = App::watching(crate::run::Run::external("standard input"), false);
        app.update(Msg::Trainer(Event::Epoch(epoch(1, 0.9))));
        let first = |app: &App| screen(app, 120, 40).lines().next().unwrap().to_string();
        assert!(first(&app).contains("watching"), "{}", first(&app));
        assert_eq!(app.update(Msg::TrainerGone), None, "the dashboard does not quit");
        assert!(first(&app).contains("stream ended"), "{}", first(&app));
        assert!(!matches!(app.run.state, crate::run::RunState::Failed(_)), "an ended stream is not a failure");
        assert_eq!(app.run.epochs.len(), 1);
    }

    /// When the step governor ran the window on one thread of two, the
    /// header says so beside the throughput; on two it says nothing more.
    #[test]
    fn the_header_says_when_steps_ran_on_one_thread() {
        let mut app = running_app();
        let first = |app: &App| screen(app, 160, 48).lines().next().unwrap().to_string();
        assert!(!first(&app).contains("thread"), "{}", first(&app));
        for (threads, says) in [(Some(1.02), true), (Some(1.97), false)] {
            app.update(Msg::Trainer(Event::Step(StepMetrics {
                epoch: 2,
                step: 210,
                loss: 0.1,
                acc: 0.97,
                samples_per_s: 20_000.0,
                threads,
                branch: None,
            })));
            assert_eq!(first(&app).contains("20k samples/s on 1 thread"), says, "{}", first(&app));
        }
    }

    #[test]
    fn full_screen_shows_header_charts_controls_and_footer() {
        let s = screen(&running_app(), 160, 48);
        let first = s.lines().next().unwrap();
        for part in ["fitcheck", "mnist-mlp", "MNIST", "epoch 2/10", "step 200", "41k samples/s", "▶ running"] {
            assert!(first.contains(part), "header lacks {part:?}: {first}");
        }
        for part in [
            "Loss",
            "Accuracy",
            "train(eval)",
            "val",
            "Controls",
            "lr 0.1 +/-",
            "hidden [512, 512]",
            "Weights",
            "Dropout",
            "Is it overfitting?",
        ] {
            assert!(s.contains(part), "screen lacks {part:?}:\n{s}");
        }
        assert!(s.contains("val acc 97.00%  (best 97.00% at epoch 2)"), "{s}");
        assert!(s.contains("last change: learning rate 0.05 → 0.1 at epoch 1.80"), "{s}");
        assert!(s.contains("lr 0.05→0.1"), "the change is labelled on the charts:\n{s}");
        let last = s.lines().last().unwrap();
        for (label, short) in crate::tui::panels::footer::fitting(160) {
            assert!(last.contains(&format!("{label} {short}")), "footer lacks {label} {short}: {last}");
        }
    }

    #[test]
    fn empty_history_says_it_is_waiting() {
        let s = screen(&App::new(preset()), 160, 48);
        assert!(s.contains("waiting for the first metrics"), "{s}");
        assert!(s.contains("… starting"));
    }

    #[test]
    fn one_point_history_renders() {
        let mut app = App::new(preset());
        app.update(Msg::Trainer(Event::Start(info())));
        app.update(Msg::Trainer(Event::Epoch(epoch(1, 0.9))));
        let s = screen(&app, 90, 24);
        assert!(s.contains("val acc 90.00%"), "{s}");
        let s = screen(&app, 160, 48);
        assert!(s.contains("too early to tell") && s.contains("train acc 92.0%"), "{s}");
    }

    #[test]
    fn tiny_terminal_shows_a_message_instead_of_panicking() {
        let app = running_app();
        let s = screen(&app, 20, 6);
        assert!(s.contains("too small"), "{s}");
        // And the full layout comes back when it grows again.
        assert!(screen(&app, 160, 48).contains("Accuracy"));
        for (w, h) in [(1, 1), (59, 16), (60, 15), (60, 16)] {
            screen(&app, w, h);
        }
    }

    #[test]
    fn the_data_view_draws_the_confusion_matrix_and_the_gallery_or_the_boundary() {
        use crate::protocol::{Boundary, DataView, Misclassified};
        let mut app = running_app();
        let mut confusion = vec![vec![0u32; 10]; 10];
        (0..10).for_each(|i| confusion[i][i] = 90);
        confusion[3][5] = 10;
        // A vertical bar: reads as a 1 in half blocks.
        let pixels: Vec<u8> = (0..784).map(|i| if i % 28 == 14 || i % 28 == 15 { 255 } else { 0 }).collect();
        let mis = Misclassified { label: 1, predicted: 7, pixels };
        let view = DataView { epoch: 2, confusion, misclassified: vec![mis], image: Some((28, 28)), boundary: None };
        app.update(Msg::Trainer(Event::DataView(view.clone())));
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char('v'))));
        let s = screen(&app, 160, 48);
        assert!(s.contains("Confusion (validation, epoch 2)") && s.contains("98.9% right"), "{s}");
        assert!(s.contains("1→7") && s.contains("█"), "{s}");
        let boundary = Boundary {
            x: (-1.0, 1.0),
            y: (-1.0, 1.0),
            cols: 2,
            rows: 1,
            classes: vec![0, 1],
            points: vec![(-0.5, 0.0, 0), (0.5, 0.5, 1)],
        };
        app.update(Msg::Trainer(Event::DataView(DataView { boundary: Some(boundary), image: None, ..view })));
        let s = screen(&app, 160, 48);
        assert!(s.contains("Decision boundary") && s.contains('·'), "{s}");
    }

    /// A data view of ten classes with four-digit counts (10,000 validation
    /// digits), as the trainer sends it.
    fn ten_class_view() -> crate::protocol::DataView {
        let mut confusion = vec![vec![3u32; 10]; 10];
        (0..10).for_each(|i| confusion[i][i] = 1000);
        confusion[9][4] = 57;
        crate::protocol::DataView {
            epoch: 2,
            confusion,
            misclassified: Vec::new(),
            image: Some((28, 28)),
            boundary: None,
        }
    }

    #[test]
    fn v_at_80x24_shows_every_column_of_the_confusion_matrix() {
        // Issue 22: at 80x24 `v` showed nothing, and the zoomed data panel
        // only the columns of classes 0–4.
        let mut app = running_app();
        app.update(Msg::Trainer(Event::DataView(ten_class_view())));
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char('v'))));
        let compact = screen(&app, 80, 24);
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char('v'))));
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char(Panel::Data.zoom_key()))));
        let zoomed = screen(&app, 80, 24);
        for s in [&compact, &zoomed] {
            assert!(s.contains("Confusion (validation, epoch 2)"), "{s}");
            let header = s.lines().find(|l| l.contains("   0    1")).unwrap_or_else(|| panic!("column labels:\n{s}"));
            assert!(header.contains("    9"), "all ten columns: {header}\n{s}");
            let last = s.lines().find(|l| l.starts_with("│ 9 ")).unwrap_or_else(|| panic!("row 9:\n{s}"));
            assert!(last.contains("   57") && last.contains(" 1000"), "{last}");
        }
        // The strip still gives the verdict under the data view.
        assert!(compact.contains("Is it overfitting?"), "{compact}");
    }

    #[test]
    fn a_narrow_data_view_falls_back_to_row_percentages() {
        let m = ten_class_view().confusion;
        use super::panels::data::tests_support::fit;
        assert_eq!(fit(&m, 80), (5, false, 10), "counts fit at 80 columns");
        assert_eq!(fit(&m, 50), (4, true, 10), "percentages of the row when counts do not");
        assert_eq!(fit(&m, 30), (4, true, 6), "then as many columns as fit");
    }

    #[test]
    fn the_log_loss_axis_labels_small_losses_in_powers_of_ten() {
        // Issue 22: the log axis labelled its bottom "0.00".
        let mut app = App::new(preset());
        app.update(Msg::Trainer(Event::Start(info())));
        for n in 1..=6 {
            let mut e = epoch(n, 0.99);
            e.train_loss_eval = 10f32.powi(-(n as i32));
            e.val_loss = 2.0 * 10f32.powi(-(n as i32));
            app.update(Msg::Trainer(Event::Epoch(e)));
        }
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char('g'))));
        let s = screen(&app, 80, 24);
        assert!(s.contains("Loss (log)"), "{s}");
        // The y labels: left of the axis line, on the chart's rows.
        let labels: Vec<&str> =
            s.lines().filter_map(|l| l.strip_prefix('│')?.split('│').next()).map(str::trim).collect();
        assert!(!labels.contains(&"0.00"), "{labels:?}\n{s}");
        assert!(s.contains("e-7") || s.contains("e-6"), "the bottom in powers of ten:\n{s}");
    }

    #[test]
    fn a_short_chart_names_its_curves_in_the_title() {
        // Issue 22: at 80x24 the loss chart had no legend (ratatui hides a
        // legend taller than half the plot).
        let app = running_app();
        let s = screen(&app, 80, 24);
        let title = s.lines().find(|l| l.contains("Loss")).expect("a loss chart");
        for name in ["━ train", "━ train(eval)", "━ val", "█ best"] {
            assert!(title.contains(name), "{title}");
        }
        // A tall chart keeps its legend box instead.
        let s = screen(&app, 160, 48);
        let title = s.lines().find(|l| l.contains("Loss")).expect("a loss chart");
        assert!(!title.contains("━ train") && s.contains("train(eval)"), "{s}");
    }

    #[test]
    fn a_long_run_with_statistics_renders_every_panel() {
        use crate::nn::stats::layer_stats;
        use crate::nn::{Activation, Init, Network};
        use rand::SeedableRng;
        let mut app = running_app();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let net = Network::new(784, &[64, 32], 10, Activation::Relu, Init::Auto, &mut rng);
        let probe = ndarray::Array2::from_elem((16, 784), 0.5f32);
        let layers = layer_stats(&net, &net.grads(), None, probe.view(), &mut net.workspace(16, 0));
        for step in (201..200_000u64).step_by(7) {
            app.update(Msg::Trainer(Event::Step(StepMetrics {
                epoch: 3,
                step,
                loss: 1.0 / step as f32,
                acc: 0.99,
                samples_per_s: 1.0,
                threads: None,
                branch: None,
            })));
            if (step - 201) % 7_000 == 0 {
                app.update(Msg::Trainer(Event::Stats(crate::protocol::StatsReport { step, layers: layers.clone() })));
            }
        }
        assert!(app.run.train_loss.points().len() <= 1000, "bounded history");
        let s = screen(&app, 160, 48);
        assert!(s.contains("784→64") && s.contains("per-unit |w| norms") && s.contains("44% dead"), "{s}");
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char('g'))));
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char('w'))));
        let s = screen(&app, 160, 48);
        assert!(s.contains("Loss (log) · last 5 epochs"), "{s}");
    }

    #[test]
    fn a_zoomed_panel_fills_the_body() {
        let mut app = running_app();
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char('7'))));
        let s = screen(&app, 160, 48);
        assert!(s.contains("Is it overfitting?") && !s.contains("Accuracy"), "{s}");
    }

    #[test]
    fn help_lists_every_binding() {
        let mut app = running_app();
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char('?'))));
        let s = screen(&app, 160, 48);
        for (_, help) in crate::tui::keymap::help_lines() {
            assert!(s.contains(help.as_ref()), "help lacks {help:?}:\n{s}");
        }
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char('?'))));
        let first = crate::tui::keymap::help_lines().next().unwrap().1;
        assert!(!screen(&app, 160, 48).contains(first.as_ref()));
    }

    /// A run bridged from Keras whose start line lists pause, save and stop
    /// (a non-torch backend: no `+`/`-`): the footer, the help and the keys
    /// say only what works; the header names Keras and says paused or
    /// stopped as the loop reports it.
    #[test]
    fn a_bridged_run_shows_only_the_keys_its_framework_obeys_and_the_loops_state() {
        use crate::ingest::{BridgeStatus, LoopState};
        let mut app = App::watching(crate::run::Run::external("run"), true);
        app.update(Msg::Trainer(Event::Start(info())));
        app.update(Msg::Trainer(Event::Epoch(epoch(1, 0.9))));
        let footer = |app: &App| screen(app, 120, 40).lines().last().unwrap().to_string();
        let header = |app: &App| screen(app, 120, 40).lines().next().unwrap().to_string();
        // Before the start line: every bridge key.
        assert!(footer(&app).contains("+/- lr") && footer(&app).contains("X stop"), "{}", footer(&app));
        let keras = BridgeStatus {
            framework: Some("keras".into()),
            version: Some("0.3.0".into()),
            keys: Some(vec!["pause".into(), "save".into(), "stop".into()]),
            state: LoopState::Running,
            last: None,
        };
        app.update(Msg::Trainer(Event::Bridge(keras.clone())));
        let f = footer(&app);
        assert!(f.contains("space pause") && f.contains("s save") && f.contains("X stop"), "{f}");
        assert!(!f.contains("lr"), "Keras here takes no learning-rate key: {f}");
        // Controls says the same keys.
        let s = screen(&app, 120, 40);
        let controls = s.lines().find(|l| l.contains("through the fitcheck bridge")).expect("the Controls line");
        assert!(controls.contains("space pause/resume") && !controls.contains("+/-"), "{controls}");
        assert!(header(&app).contains("Keras") && header(&app).contains("◉ watching"), "{}", header(&app));
        assert_eq!(app.update(Msg::Key(KeyEvent::from(KeyCode::Char('+')))), None);
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("Keras loop does not take `+`")), "{:?}", app.notice);
        // The help lists the same keys, said as Keras does them.
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char('?'))));
        let s = screen(&app, 160, 48);
        assert!(s.contains("model.save(") && s.contains("between two batches"), "{s}");
        assert!(!s.contains("double the") && !s.contains("dropout +0.1"), "{s}");
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char('?'))));
        // The loop reports a pause: the header says so, and space resumes.
        app.update(Msg::Trainer(Event::Bridge(BridgeStatus { state: LoopState::Paused, ..keras.clone() })));
        assert!(header(&app).contains("⏸ paused by the loop"), "{}", header(&app));
        assert_eq!(
            app.update(Msg::Key(KeyEvent::from(KeyCode::Char(' ')))),
            Some(crate::tui::app::Effect::Bridge(crate::ingest::BridgeCommand::Resume))
        );
        app.update(Msg::Trainer(Event::Bridge(BridgeStatus {
            state: LoopState::Stopped,
            last: Some("stopped".into()),
            ..keras
        })));
        assert!(header(&app).contains("■ stopped by the loop"), "{}", header(&app));
        // Lightning obeys all four.
        let lightning = BridgeStatus { framework: Some("lightning".into()), ..Default::default() };
        app.update(Msg::Trainer(Event::Bridge(lightning)));
        let f = footer(&app);
        assert!(f.contains("+/- lr") && f.contains("space pause") && f.contains("X stop"), "{f}");
        assert!(header(&app).contains("Lightning"), "{}", header(&app));
    }
}
