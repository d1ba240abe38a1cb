//! The preset picker (`p`, and the screen a bare `fitcheck` opens on):
//! each preset's name, dataset and lesson; Enter starts the highlighted one.
//! Its title says what Esc does: with no run yet it quits, else it closes.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use super::ellipsize;
use crate::run::RunState;
use crate::tui::app::App;
use crate::tui::keymap::{Action, Context, key_of};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(picker) = &app.picker else { return };
    let height = (app.presets.len() as u16 + 5).min(area.height);
    let width = 110.min(area.width);
    let [_, mid, _] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(height), Constraint::Fill(1)]).areas(area);
    let [_, popup, _] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(width), Constraint::Fill(1)]).areas(mid);
    Clear.render(popup, buf);
    // Name and dataset columns, each as wide as its longest entry and a
    // space (`mnist-pretrain-0to4` once ran into `MNIST`), then the lesson
    // in what is left of the row.
    let name_w = app.presets.iter().map(|e| e.name.chars().count() + 1).max().unwrap_or(0).max(19);
    let data_w = app.presets.iter().map(|e| e.dataset.chars().count() + 1).max().unwrap_or(0).max(17);
    let lesson_room = (width as usize).saturating_sub(2 + 1 + name_w + data_w);
    let mut lines: Vec<Line> = app
        .presets
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let style =
                if i == picker.selected { Style::default().fg(Color::Black).bg(Color::Cyan) } else { Style::default() };
            Line::from(vec![
                Span::styled(format!(" {:<name_w$}", e.name), style.bold()),
                Span::styled(format!("{:<data_w$}", e.dataset), style),
                Span::styled(ellipsize(&e.lesson, lesson_room), style),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    let selected = app.presets.get(picker.selected).map(|e| e.lesson.clone()).unwrap_or_default();
    lines.push(Line::from(format!(" {selected}")).dark_gray());
    // One line per preset, its lesson shortened at a word; the highlighted
    // one's whole lesson is under the list (wrapped into the spare row).
    let key = |a: Action| key_of(a, Context::Picker);
    let esc = if app.run.state == RunState::Idle {
        format!("{} quit", key(Action::Close))
    } else {
        format!("{} close · {} quit", key(Action::Close), key(Action::Quit))
    };
    let title =
        format!(" Presets  {}/{} choose · {} start · {esc} ", key(Action::Up), key(Action::Down), key(Action::Choose));
    let title = ellipsize(&title, (width as usize).saturating_sub(2));
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::bordered().title(Line::from(title).bold()))
        .render(popup, buf);
}
