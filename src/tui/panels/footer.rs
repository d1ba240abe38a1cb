//! The footer: the main key bindings, generated from the keymap table
//! (the help overlay lists them all).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::tui::keymap::BINDINGS;

pub fn render(area: Rect, buf: &mut Buffer) {
    let mut spans = vec![Span::raw(" ")];
    for (label, short) in BINDINGS.iter().filter_map(|b| b.footer) {
        spans.push(Span::raw(label).bold().reversed());
        spans.push(Span::raw(format!(" {short}  ")));
    }
    Line::from(spans).render(area, buf);
}
