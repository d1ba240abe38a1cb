//! The learning-rate range test's panel, over the whole body while it is
//! open: the smoothed loss (and the raw minibatch losses, faint) against
//! the learning rate on a log axis, 1e-6 to 10, one label per decade; the
//! run's own rate, the steepest fall, the minimum ÷ 10 and the suggested
//! rate as vertical lines; below, the progress or how the test ended, the
//! rates in the lines' colours, and what `Enter` and `Esc` do.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, LineGauge, Paragraph, Widget};

use crate::settings::short_float;
use crate::train::lr_find::{LR_END, LR_START, STOP_FACTOR};
use crate::tui::app::App;
use crate::tui::keymap::{Action, Context, key_of};
use crate::tui::range_test::RangeTest;

/// Rows under the chart: progress or outcome, the rates, the keys.
const TEXT_ROWS: u16 = 3;

const SUGGESTED: Color = Color::Green;
const STEEPEST: Color = Color::Yellow;
const MIN_OVER_10: Color = Color::Magenta;
const NOW: Color = Color::DarkGray;

/// A rate as the text writes it: two significant digits, as it is applied.
fn rate(lr: f32) -> String {
    short_float(crate::tui::range_test::two_digits(lr))
}

/// The y range: from the lowest smoothed loss to a little above where the
/// curve starts, so the flat start, the fall and the minimum fill the
/// chart and the diverging tail leaves it at the top.
fn y_range(t: &RangeTest) -> (f64, f64) {
    let ys: Vec<f64> = t.points.iter().filter_map(|p| p.smoothed).map(f64::from).filter(|y| y.is_finite()).collect();
    let (Some(&first), Some(lo)) = (ys.first(), ys.iter().copied().reduce(f64::min)) else { return (0.0, 1.0) };
    let max = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // A curve that only rises (a trained model) shows up to twice its minimum.
    let hi = max.min((first + (first - lo) * 0.25).max(2.0 * lo));
    let pad = ((hi - lo) * 0.08).max(1e-3);
    ((lo - pad).max(0.0), hi + pad)
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(t) = &app.range.open else { return };
    let title = Line::from(vec![
        Span::raw(" Learning-rate range test ").bold(),
        Span::raw("· on a copy of the model; the run waits untouched ").dark_gray(),
    ]);
    let block = Block::bordered().title(super::fit_line(title, area.width.saturating_sub(2) as usize));
    let inner = block.inner(area);
    block.render(area, buf);
    let [chart, text] = Layout::vertical([Constraint::Min(3), Constraint::Length(TEXT_ROWS)]).areas(inner);
    render_chart(t, chart, buf);
    render_text(app, t, text, buf);
}

fn render_chart(t: &RangeTest, area: Rect, buf: &mut Buffer) {
    let (x0, x1) = ((LR_START as f64).log10(), (LR_END as f64).log10());
    let x = |lr: f32| (lr as f64).log10();
    let (lo, hi) = y_range(t);
    let clamp = |y: f64| y.clamp(lo, hi);
    let smoothed: Vec<(f64, f64)> = t
        .points
        .iter()
        .filter_map(|p| Some((x(p.lr), clamp(p.smoothed? as f64))))
        .filter(|p| p.0.is_finite())
        .collect();
    let raw: Vec<(f64, f64)> =
        t.points.iter().filter_map(|p| Some((x(p.lr), p.loss? as f64))).filter(|p| p.1 <= hi && p.1 >= lo).collect();
    let end = t.end.as_ref();
    let marks: Vec<(Color, [(f64, f64); 2])> = [
        (NOW, Some(t.lr_before)),
        (MIN_OVER_10, end.and_then(|e| e.min_over_10)),
        (STEEPEST, end.and_then(|e| e.steepest)),
        (SUGGESTED, end.and_then(|e| e.suggested)),
    ]
    .into_iter()
    .filter_map(|(c, lr)| {
        let v = x(lr.filter(|r| r.is_finite() && *r > 0.0)?);
        (x0..=x1).contains(&v).then_some((c, [(v, lo), (v, hi)]))
    })
    .collect();
    let mut datasets: Vec<Dataset> = marks
        .iter()
        .map(|(c, line)| Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(*c).data(line))
        .collect();
    datasets
        .push(Dataset::default().marker(Marker::Dot).graph_type(GraphType::Scatter).style(Color::DarkGray).data(&raw));
    datasets.push(
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(Color::Cyan))
            .data(&smoothed),
    );
    // One label per decade: evenly spaced labels fall on their decades.
    let decades = (x1 - x0).round() as i32;
    let x_labels: Vec<Line> = (0..=decades)
        .map(|d| match x0.round() as i32 + d {
            0 => Line::from("1"),
            1 => Line::from("10"),
            e => Line::from(format!("1e{e}")),
        })
        .collect();
    let y_labels = vec![
        Line::from(format!("{lo:.2}")),
        Line::from(format!("{:.2}", (lo + hi) / 2.0)),
        Line::from(format!("{hi:.2}")),
    ];
    Chart::new(datasets)
        .x_axis(Axis::default().title("lr (log)").style(Color::Gray).bounds([x0, x1]).labels(x_labels))
        .y_axis(Axis::default().title("loss").style(Color::Gray).bounds([lo, hi]).labels(y_labels))
        .render(area, buf);
}

fn render_text(app: &App, t: &RangeTest, area: Rect, buf: &mut Buffer) {
    let [first, second, third] = Layout::vertical([Constraint::Length(1); 3]).areas(area);
    let room = area.width as usize;
    let last = t.points.last();
    let loss = |l: Option<f32>| l.map_or("not finite".to_string(), |l| format!("{l:.3}"));
    match &t.end {
        None => {
            let [words, gauge] = Layout::horizontal([Constraint::Min(0), Constraint::Length(20)]).areas(first);
            let text = match last {
                Some(p) => {
                    format!("step {}/{} · lr {} · smoothed loss {}", t.points.len(), t.of, rate(p.lr), loss(p.smoothed))
                }
                None => format!("starting: {} steps, lr {} → {}", t.of, rate(LR_START), rate(LR_END)),
            };
            super::fit_line(Line::from(text), words.width as usize).render(words, buf);
            LineGauge::default()
                .filled_style(Style::default().fg(Color::Green))
                .unfilled_style(Style::default().fg(Color::DarkGray))
                .ratio(t.progress().clamp(0.0, 1.0))
                .render(gauge, buf);
        }
        Some(e) => {
            let why = match e.stopped.as_str() {
                "diverged" => format!("loss over {STOP_FACTOR}× its minimum"),
                "cancelled" => "cancelled".to_string(),
                _ => format!("the last rate, {}, reached", rate(LR_END)),
            };
            let start = t.points.iter().find_map(|p| p.smoothed);
            let min = match (t.minimum(), start) {
                // See `lr_find::suggest`: no fall, so the edge where it rises.
                (Some((_, l)), Some(f)) if l as f64 > crate::train::lr_find::NO_FALL * f as f64 => {
                    " · it did not fall (a trained model): suggested ÷10 where it rises".to_string()
                }
                (Some((lr, l)), _) => format!(" · lowest {l:.3} at lr {}", rate(lr)),
                _ => String::new(),
            };
            let text = format!("stopped at step {}/{}: {why}{min}", e.steps, t.of);
            super::fit_line(Line::from(text), room).render(first, buf);
        }
    }
    let mark = |c: Color, words: String| Span::styled(format!("│ {words}  "), Style::default().fg(c));
    let mut rates = vec![mark(NOW, format!("now {}", rate(t.lr_before)))];
    if let Some(e) = &t.end {
        let named = [
            (SUGGESTED, "suggested", e.suggested),
            (STEEPEST, "steepest fall", e.steepest),
            (MIN_OVER_10, "min÷10", e.min_over_10),
        ];
        for (c, name, lr) in named {
            if let Some(lr) = lr {
                let span = mark(c, format!("{name} {}", rate(lr)));
                rates.push(if name == "suggested" { span.bold() } else { span });
            }
        }
    }
    super::fit_line(Line::from(rates), room).render(second, buf);
    let (enter, esc) = (key_of(Action::Choose, Context::RangeTest), key_of(Action::Close, Context::RangeTest));
    let keys = match (t.suggestion(), t.running()) {
        (_, true) => format!("{esc} cancels the test; the run keeps its rate"),
        (Some(lr), false) => format!(
            "{enter}: lr {} → {}{} · {esc}: keep {}",
            rate(app.run.settings.lr),
            rate(lr),
            if t.resume { " and train on" } else { "" },
            rate(app.run.settings.lr)
        ),
        (None, false) => format!("no rate to suggest (too short a curve) · {esc} leaves"),
    };
    Paragraph::new(super::fit_line(Line::from(keys).dark_gray(), room)).render(third, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Event;
    use crate::tui::app::tests::{info, preset};
    use crate::tui::app::{App, Msg};
    use ratatui::crossterm::event::{KeyCode, KeyEvent};

    fn text(app: &App, w: u16, h: u16) -> String {
        let area = Rect::new(0, 0, w, h);
        let mut buf = Buffer::empty(area);
        render(app, area, &mut buf);
        (0..h).map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>()).collect::<Vec<_>>().join("\n")
    }

    fn testing() -> App {
        let mut app = App::new(preset());
        app.update(Msg::Trainer(Event::Start(info())));
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char('m'))));
        app
    }

    #[test]
    fn the_panel_shows_progress_while_measuring_and_the_rates_at_the_end() {
        let mut app = testing();
        let s = text(&app, 80, 22);
        assert!(s.contains("starting: 200 steps, lr 1e-6 → 10"), "{s}");
        for (i, lr) in [1e-6f32, 1e-4, 1e-2].into_iter().enumerate() {
            app.update(Msg::Trainer(Event::RangeTestPoint {
                step: i + 1,
                of: 200,
                lr,
                loss: Some(2.0),
                smoothed: Some(2.0),
            }));
        }
        let s = text(&app, 80, 22);
        assert!(s.contains("step 3/200 · lr 0.01 · smoothed loss 2.000"), "{s}");
        assert!(s.contains("Esc cancels"), "{s}");
        for label in ["1e-6", "1e-3", "10"] {
            assert!(s.contains(label), "the axis names its decades: {label}\n{s}");
        }
        app.update(Msg::Trainer(Event::RangeTestEnd {
            steps: 3,
            stopped: "diverged".into(),
            steepest: Some(0.01),
            min_over_10: Some(0.02),
            suggested: Some(0.014),
        }));
        let s = text(&app, 80, 22);
        assert!(s.contains("stopped at step 3/200: loss over 4× its minimum"), "{s}");
        assert!(s.contains("suggested 0.014") && s.contains("steepest fall 0.01") && s.contains("min÷10 0.02"), "{s}");
        assert!(s.contains("Enter: lr 0.05 → 0.014 and train on · Esc: keep 0.05"), "{s}");
    }

    #[test]
    fn an_empty_or_non_finite_curve_and_a_tiny_area_draw_without_panicking() {
        let mut app = testing();
        app.update(Msg::Trainer(Event::RangeTestPoint { step: 1, of: 200, lr: f32::NAN, loss: None, smoothed: None }));
        app.update(Msg::Trainer(Event::RangeTestPoint {
            step: 2,
            of: 200,
            lr: 0.0,
            loss: Some(f32::INFINITY),
            smoothed: Some(1.0),
        }));
        for (w, h) in [(80, 22), (10, 4), (1, 1), (0, 0)] {
            text(&app, w, h);
        }
        app.update(Msg::Trainer(Event::RangeTestEnd {
            steps: 2,
            stopped: "end".into(),
            steepest: None,
            min_over_10: None,
            suggested: None,
        }));
        assert!(text(&app, 80, 22).contains("no rate to suggest"));
    }
}
