//! The help overlay: the live key bindings, from the same table as the footer.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use crate::tui::keymap::BINDINGS;

pub fn render(area: Rect, buf: &mut Buffer) {
    let mut lines: Vec<Line> = BINDINGS
        .iter()
        .map(|b| Line::from(vec![Span::raw(format!(" {:>6}  ", b.label)).bold(), Span::raw(b.help)]))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(" Changes apply at the next minibatch and are marked on the charts.").dark_gray());
    let height = (lines.len() as u16 + 2).min(area.height);
    let width = 100.min(area.width);
    let [_, mid, _] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(height), Constraint::Fill(1)]).areas(area);
    let [_, popup, _] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(width), Constraint::Fill(1)]).areas(mid);
    Clear.render(popup, buf);
    Paragraph::new(lines).block(Block::bordered().title(Line::from(" Keys (? to close) ").bold())).render(popup, buf);
}
