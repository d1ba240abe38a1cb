//! The preset picker (`p`, and the screen a bare `fitcheck` opens on):
//! each preset's name, dataset and lesson; Enter starts the highlighted one.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use crate::tui::app::App;

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(picker) = &app.picker else { return };
    let height = (app.presets.len() as u16 + 5).min(area.height);
    let width = 110.min(area.width);
    let [_, mid, _] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(height), Constraint::Fill(1)]).areas(area);
    let [_, popup, _] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(width), Constraint::Fill(1)]).areas(mid);
    Clear.render(popup, buf);
    let mut lines: Vec<Line> = app
        .presets
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let style =
                if i == picker.selected { Style::default().fg(Color::Black).bg(Color::Cyan) } else { Style::default() };
            Line::from(vec![
                Span::styled(format!(" {:<19}", e.name), style.bold()),
                Span::styled(format!("{:<17}", e.dataset), style),
                Span::styled(e.lesson.clone(), style),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    let selected = app.presets.get(picker.selected).map(|e| e.lesson.clone()).unwrap_or_default();
    lines.push(Line::from(format!(" {selected}")).dark_gray());
    // One line per preset, cut at the edge; the highlighted one's whole
    // lesson is under the list.
    Paragraph::new(lines)
        .block(Block::bordered().title(Line::from(" Presets  ↑/↓ choose · Enter start · Esc close · q quit ").bold()))
        .render(popup, buf);
}
