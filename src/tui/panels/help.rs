//! The help overlay: the live key bindings, from the same table as the
//! footer; in two columns when one does not fit the screen's height, each
//! sentence shortened with `…` when the wrapped lines would not fit.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Widget};

use crate::tui::app::{App, Mode};
use crate::tui::keymap;

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    // A run trained elsewhere: only the keys that work there.
    let lines: Vec<(&str, std::borrow::Cow<str>)> = match &app.mode {
        Mode::Watch { bridge, loop_status, .. } => {
            let all = crate::ingest::BridgeStatus::default();
            keymap::help_lines_watch(bridge.then(|| loop_status.as_ref().unwrap_or(&all)))
        }
        _ => keymap::help_lines().collect(),
    };
    let lines: Vec<Line> = lines
        .into_iter()
        .map(|(label, help)| Line::from(vec![Span::raw(format!(" {label:>6}  ")).bold(), Span::raw(help)]))
        .collect();
    let note = Line::from(" Changes apply at the next minibatch and are marked on the charts.").dark_gray();
    // Two columns when one would not fit between the borders.
    let columns = if lines.len() + 3 > area.height as usize { 2 } else { 1 };
    let per_column = lines.len().div_ceil(columns);
    let height = (per_column as u16 + 4).min(area.height);
    let width = (100 * columns as u16).min(area.width);
    let [_, mid, _] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(height), Constraint::Fill(1)]).areas(area);
    let [_, popup, _] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(width), Constraint::Fill(1)]).areas(mid);
    Clear.render(popup, buf);
    let block = Block::bordered()
        .title(Line::from(format!(" Keys ({} to close) ", keymap::key(keymap::Action::ToggleHelp))).bold());
    let inner = block.inner(popup);
    block.render(popup, buf);
    let [body, foot] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let cols = Layout::horizontal(vec![Constraint::Ratio(1, columns as u32); columns]).split(body);
    for (chunk, area) in lines.chunks(per_column).zip(cols.iter()) {
        super::fit_paragraph(chunk.to_vec(), *area).render(*area, buf);
    }
    note.render(foot, buf);
}
