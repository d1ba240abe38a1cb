//! The screen layout: a pure function of `&App`.
//!
//! ```text
//! ┌ header: fitcheck · preset · dataset · epoch · step · samples/s · state ─ gauge ┐
//! │ Loss (train, train(eval), val)          │ Accuracy (train, train(eval), val)   │
//! ├─────────────────────────────────────────┴──────────────────────────────────────┤
//! │ Controls: lr, hidden, act, opt, batch · latest epoch · last change / summary   │
//! └ footer: keys ──────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Stylize;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::app::App;
use super::panels;

/// Smallest terminal the layout fits.
pub const MIN_SIZE: (u16, u16) = (60, 16);

pub fn draw(app: &App, frame: &mut Frame) {
    render(app, frame.area(), frame.buffer_mut());
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let text = vec![
            Line::from("fitcheck: terminal too small").bold(),
            Line::from(format!("{}x{}; needs {}x{}", area.width, area.height, MIN_SIZE.0, MIN_SIZE.1)),
            Line::from("q quits"),
        ];
        Paragraph::new(text).wrap(Wrap { trim: true }).render(area, buf);
        return;
    }
    let [header, charts, controls, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(8),
        Constraint::Length(5),
        Constraint::Length(1),
    ])
    .areas(area);
    let [loss, accuracy] = Layout::horizontal([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).areas(charts);
    panels::header::render(app, header, buf);
    panels::loss::render(app, loss, buf);
    panels::accuracy::render(app, accuracy, buf);
    panels::controls::render(app, controls, buf);
    panels::footer::render(footer, buf);
    if app.show_help {
        panels::help::render(area, buf);
    }
}
