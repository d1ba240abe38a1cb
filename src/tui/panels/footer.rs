//! The footer: every key binding, generated from the keymap table.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::tui::keymap::BINDINGS;

pub fn render(area: Rect, buf: &mut Buffer) {
    let mut spans = vec![Span::raw(" ")];
    for b in BINDINGS {
        spans.push(Span::raw(b.label).bold().reversed());
        spans.push(Span::raw(format!(" {}  ", b.short)));
    }
    Line::from(spans).render(area, buf);
}
