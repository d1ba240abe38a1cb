//! The run picker (`fitcheck watch` on a folder of many runs, and `p` while
//! watching one of them): one row per run — name, format, epochs, last
//! validation loss, age — the highlighted run's path (or why it cannot be
//! read) under the list. Its title gives the keys, from the keymap.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use super::ellipsize;
use crate::tui::app::App;
use crate::tui::keymap::{Action, Context, label_of};
use crate::tui::runs::{age_text, format_label};

/// Widths of the columns after the name (format, epochs, val loss, age).
const FORMAT_W: usize = 13;
const EPOCHS_W: usize = 7;
const LOSS_W: usize = 10;
const AGE_W: usize = 6;

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(list) = app.runs.as_ref().filter(|l| l.open) else { return };
    // Rows, a header, a blank and the detail line, and the borders.
    let height = (list.rows.len().max(1) as u16 + 5).min(area.height);
    let width = 110.min(area.width);
    let [_, mid, _] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(height), Constraint::Fill(1)]).areas(area);
    let [_, popup, _] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(width), Constraint::Fill(1)]).areas(mid);
    Clear.render(popup, buf);
    let inner = (width as usize).saturating_sub(2);
    let name_w = inner.saturating_sub(1 + FORMAT_W + EPOCHS_W + LOSS_W + AGE_W).max(8);
    let cell = |text: &str, w: usize, right: bool| {
        let t = ellipsize(text, w.saturating_sub(1));
        if right { format!("{t:>w$}", w = w.saturating_sub(1)) + " " } else { format!("{t:<w$}") }
    };
    let mut lines = vec![
        Line::from(vec![
            Span::raw(" "),
            Span::raw(cell("run", name_w, false)),
            Span::raw(cell("format", FORMAT_W, false)),
            Span::raw(cell("epochs", EPOCHS_W, true)),
            Span::raw(cell("val loss", LOSS_W, true)),
            Span::raw(cell("age", AGE_W, true)),
        ])
        .dark_gray(),
    ];
    // Rows that fit: a window that keeps the highlight in view.
    let room = (height as usize).saturating_sub(5).max(1);
    let first = list.selected.saturating_sub(room - 1).min(list.rows.len().saturating_sub(room));
    for (i, r) in list.rows.iter().enumerate().skip(first).take(room) {
        let style =
            if i == list.selected { Style::default().fg(Color::Black).bg(Color::Cyan) } else { Style::default() };
        let epochs =
            r.epochs.map_or_else(|| if r.problem.is_some() { "?".into() } else { "…".into() }, |n| n.to_string());
        let loss =
            r.last_val_loss.map_or("-".to_string(), |l| if l.is_finite() { format!("{l:.4}") } else { format!("{l}") });
        let age = r.age_s.map_or("-".to_string(), age_text);
        let watched = list.watching.as_ref() == Some(&r.path);
        lines.push(Line::from(vec![
            Span::styled(if watched { "▸" } else { " " }, style),
            Span::styled(cell(&r.name, name_w, false), style.bold()),
            Span::styled(cell(format_label(r.format), FORMAT_W, false), style),
            Span::styled(cell(&epochs, EPOCHS_W, true), style),
            Span::styled(cell(&loss, LOSS_W, true), style),
            Span::styled(cell(&age, AGE_W, true), style),
        ]));
    }
    if list.rows.is_empty() {
        let text = if list.scanned {
            " no runs here yet; new ones appear as they are created"
        } else {
            " looking for runs…"
        };
        lines.push(Line::from(text).dark_gray());
    }
    lines.push(Line::from(""));
    let detail = list.rows.get(list.selected).map_or(String::new(), |r| match &r.problem {
        Some(p) => format!(" {p}"),
        None => format!(" {}", r.path.display()),
    });
    lines.push(Line::from(ellipsize(&detail, inner)).dark_gray());
    // The keys first (a long folder name is what gets shortened).
    let key = |a: Action| label_of(a, Context::Picker).and_then(|l| l.split('/').next()).unwrap_or("?");
    let esc = if list.watching.is_some() { "back" } else { "quit" };
    let title = format!(
        " Runs  {}/{} choose · {} watch · {} {esc} · {} ",
        key(Action::Up),
        key(Action::Down),
        key(Action::Choose),
        key(Action::Close),
        list.dir.display(),
    );
    Paragraph::new(lines)
        .block(Block::bordered().title(Line::from(ellipsize(&title, inner)).bold()))
        .render(popup, buf);
}
