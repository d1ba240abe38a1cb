//! The header line: preset, dataset, epoch and step, throughput, run state,
//! and a progress gauge.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Widget};

use crate::tui::app::{App, Status};

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
    let status_color = match app.status {
        Status::Running => Color::Green,
        Status::Paused | Status::Starting | Status::Idle => Color::Yellow,
        Status::Finished(crate::train::Stopped::Diverged) | Status::Failed(_) => Color::Red,
        Status::Finished(_) => Color::Cyan,
    };
    let dataset = app.info.as_ref().map_or_else(|| app.preset.dataset.label(), |i| i.dataset.clone());
    let sep = || Span::raw(" · ").dark_gray();
    let line = Line::from(vec![
        Span::raw(" fitcheck").bold(),
        sep(),
        Span::raw(app.preset.name.clone()).bold(),
        sep(),
        Span::raw(dataset),
        sep(),
        Span::raw(format!("epoch {}/{}", app.epoch, app.total_epochs())),
        sep(),
        Span::raw(format!("step {}", app.step)),
        sep(),
        Span::raw(format!("{} samples/s", si(app.samples_per_s))),
        sep(),
        Span::styled(app.status.label(), Style::default().fg(status_color).bold()),
    ]);
    let [text, gauge] = Layout::horizontal([Constraint::Min(0), Constraint::Length(22)]).areas(area);
    line.render(text, buf);
    LineGauge::default()
        .filled_style(Style::default().fg(Color::Green))
        .unfilled_style(Style::default().fg(Color::DarkGray))
        .ratio(app.progress())
        .render(gauge, buf);
}
