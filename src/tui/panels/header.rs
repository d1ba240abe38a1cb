//! The header line: preset, dataset, epoch and step, throughput, run state,
//! and a progress gauge. On a narrow line the gauge narrows and the least
//! important parts go first (dataset, step, samples/s, the program's name):
//! the preset, the epoch and the run's state (or "following" / "replay"
//! for a recorded log) always show. Before the first
//! run it names the preset the picker highlights.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Widget};

use crate::run::RunState;
use crate::tui::app::App;

/// "41k" style throughput.
pub fn si(x: f32) -> String {
    if x >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.0}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// A part of the header, and how early it goes when the line is narrow.
struct Part {
    span: Span<'static>,
    /// Dropped in ascending order; `None`: never dropped (name, epoch, state).
    drop: Option<u8>,
}

/// Gauge widths: wide when there is room, narrow, or none.
const GAUGE: [u16; 3] = [22, 12, 0];

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let status_color = match app.run.state {
        RunState::Running => Color::Green,
        RunState::Paused | RunState::Starting | RunState::Idle => Color::Yellow,
        RunState::Finished(crate::protocol::Stopped::Diverged) | RunState::Failed(_) => Color::Red,
        RunState::Finished(_) => Color::Cyan,
    };
    // Before the first run the highlighted preset is what the header names.
    let (name, dataset) = match (app.run.state == RunState::Idle, app.highlighted()) {
        (true, Some(e)) => (e.name.clone(), e.dataset.clone()),
        _ => (
            app.run.settings.name.clone(),
            app.run.info.as_ref().map_or_else(|| app.run.settings.dataset.label(), |i| i.dataset.clone()),
        ),
    };
    let idle = app.run.state == RunState::Idle;
    let mut parts = vec![
        Part { span: Span::raw(" fitcheck").bold(), drop: Some(4) },
        Part { span: Span::raw(name).bold(), drop: None },
    ];
    // A run trained elsewhere names its log once it is read; before that
    // its placeholder settings say nothing true about it.
    if !(app.run.external && app.run.info.is_none()) {
        parts.push(Part { span: Span::raw(dataset), drop: Some(1) });
    }
    if !idle {
        parts.extend([
            // A run trained elsewhere is open-ended: its log says how far it
            // got, not how far it will go.
            Part {
                span: Span::raw(if app.run.external {
                    format!("epoch {}", app.run.epoch)
                } else {
                    format!("epoch {}/{}", app.run.epoch, app.run.total_epochs)
                }),
                drop: None,
            },
            Part { span: Span::raw(format!("step {}", app.run.step)), drop: Some(2) },
        ]);
        // A run trained elsewhere has no throughput of ours to show.
        if !app.run.external {
            // The step governor ran most of the window on one thread: say
            // so, or a halved throughput looks like a slower net.
            let team = app.run.info.as_ref().map_or(1, |i| i.threads);
            let alone = app.run.threads.is_some_and(|t| team > 1 && t < 1.5);
            let on = if alone { " on 1 thread" } else { "" };
            parts.push(Part { span: Span::raw(format!("{} samples/s{on}", si(app.run.samples_per_s))), drop: Some(3) });
        }
    }
    // A followed run is watched, not trained here; a replay is recorded;
    // a loop steered through the bridge says itself whether it is paused.
    use crate::ingest::LoopState;
    use crate::tui::app::Mode;
    let mut status_color = status_color;
    let state = match (&app.mode, app.run.external) {
        (Mode::Replay(r), _) if r.following() => "⏵ following",
        (Mode::Replay(_), _) => "⏵ replay",
        (Mode::Watch { ended: true, .. }, _) => "◼ stream ended",
        (Mode::Watch { loop_status: Some(s), .. }, _) if s.state != LoopState::Running => {
            status_color = if s.state == LoopState::Paused { Color::Yellow } else { Color::Cyan };
            if s.state == LoopState::Paused { "⏸ paused by the loop" } else { "■ stopped by the loop" }
        }
        (_, true) => "◉ watching",
        _ => app.run.state.label(),
    };
    // The framework of a bridged run, beside its name.
    if let Mode::Watch { loop_status: Some(s), .. } = &app.mode
        && let Some(f) = s.framework_name()
    {
        parts.insert(2.min(parts.len()), Part { span: Span::raw(f), drop: Some(1) });
    }
    parts.push(Part { span: Span::styled(state, Style::default().fg(status_color).bold()), drop: None });
    let sep = || Span::raw(" · ").dark_gray();
    let line_of = |parts: &[Part]| {
        let mut spans = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                spans.push(sep());
            }
            spans.push(p.span.clone());
        }
        // Without the program's name the line starts at the edge: indent it.
        if parts.first().is_some_and(|p| p.drop != Some(4)) {
            spans.insert(0, Span::raw(" "));
        }
        Line::from(spans)
    };
    // Drop the least important parts until the line and a gauge fit; the
    // gauge narrows before the state or the epoch would go.
    // The text, a column apart, and the gauge.
    let fits = |line: &Line, gauge: u16| line.width() + (gauge as usize) < area.width as usize;
    // No progress to gauge on an open-ended run.
    let mut gauge = if idle || app.run.external { 0 } else { GAUGE[0] };
    let mut line = line_of(&parts);
    for level in 1..=4u8 {
        if fits(&line, gauge) {
            break;
        }
        if level == 2 && !idle {
            gauge = GAUGE[1];
            if fits(&line, gauge) {
                break;
            }
        }
        parts.retain(|p| p.drop != Some(level));
        line = line_of(&parts);
    }
    if !fits(&line, gauge) && gauge > 0 {
        gauge = GAUGE[2];
    }
    let [text, bar] = Layout::horizontal([Constraint::Min(0), Constraint::Length(gauge)]).areas(area);
    super::fit_line(line, text.width as usize).render(text, buf);
    if gauge > 0 {
        LineGauge::default()
            .filled_style(Style::default().fg(Color::Green))
            .unfilled_style(Style::default().fg(Color::DarkGray))
            .ratio(app.run.progress())
            .render(bar, buf);
    }
}
