//! The header line: preset, dataset, epoch and step, throughput, run state,
//! and a progress gauge.

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

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let status_color = match app.run.state {
        RunState::Running => Color::Green,
        RunState::Paused | RunState::Starting | RunState::Idle => Color::Yellow,
        RunState::Finished(crate::train::Stopped::Diverged) | RunState::Failed(_) => Color::Red,
        RunState::Finished(_) => Color::Cyan,
    };
    let dataset = app.run.info.as_ref().map_or_else(|| app.run.settings.dataset.label(), |i| i.dataset.clone());
    let sep = || Span::raw(" · ").dark_gray();
    let line = Line::from(vec![
        Span::raw(" fitcheck").bold(),
        sep(),
        Span::raw(app.run.settings.name.clone()).bold(),
        sep(),
        Span::raw(dataset),
        sep(),
        Span::raw(format!("epoch {}/{}", app.run.epoch, app.run.total_epochs)),
        sep(),
        Span::raw(format!("step {}", app.run.step)),
        sep(),
        Span::raw(format!("{} samples/s", si(app.run.samples_per_s))),
        sep(),
        Span::styled(app.run.state.label(), Style::default().fg(status_color).bold()),
    ]);
    let [text, gauge] = Layout::horizontal([Constraint::Min(0), Constraint::Length(22)]).areas(area);
    line.render(text, buf);
    LineGauge::default()
        .filled_style(Style::default().fg(Color::Green))
        .unfilled_style(Style::default().fg(Color::DarkGray))
        .ratio(app.run.progress())
        .render(gauge, buf);
}
