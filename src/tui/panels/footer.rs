//! The footer: the main key bindings, generated from the keymap table
//! (the help overlay lists them all). When the line is too narrow it drops
//! entries from the middle, so `q quit` starts it and `? help` always ends it.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use std::borrow::Cow;

use crate::tui::app::{App, Mode};
use crate::tui::keymap;

/// Width of one entry: ` key words  `.
fn width(label: &str, short: &str) -> usize {
    label.chars().count() + short.chars().count() + 3
}

/// The entries that fit in `room` columns: the first, the last, and as many
/// of the others (in order) as fit between them.
pub fn fitting(room: usize) -> Vec<Entry> {
    fit(keymap::footer().collect(), room)
}

/// A footer entry: its keys (written from the key table) and words.
pub type Entry = (Cow<'static, str>, &'static str);

/// `all` cut to `room` as [`fitting`] does.
fn fit(mut all: Vec<Entry>, room: usize) -> Vec<Entry> {
    let Some(last) = all.pop() else { return all };
    let mut used = 1 + width(&last.0, last.1);
    let mut kept = Vec::new();
    for (label, short) in all {
        let w = width(&label, short);
        if used + w > room {
            break;
        }
        used += w;
        kept.push((label, short));
    }
    kept.push(last);
    kept
}

/// The footer for `app`: the live keys, or only those that work on a run
/// trained elsewhere or recorded (no "depth" or "dropout" there).
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let entries = match &app.mode {
        Mode::Live => fitting(area.width as usize),
        Mode::Watch { bridge, loop_status, .. } => {
            // Before the loop's start line is read: every bridge key.
            let all = crate::ingest::BridgeStatus::default();
            let status = bridge.then(|| loop_status.as_ref().unwrap_or(&all));
            fit(keymap::footer_not_live(status, false, app.runs.is_some()), area.width as usize)
        }
        Mode::Replay(_) => fit(keymap::footer_not_live(None, true, app.runs.is_some()), area.width as usize),
    };
    let mut spans = vec![Span::raw(" ")];
    for (label, short) in entries {
        spans.push(Span::raw(label).bold().reversed());
        spans.push(Span::raw(format!(" {short}  ")));
    }
    Line::from(spans).render(area, buf);
}

#[cfg(test)]
mod tests {
    use super::fitting;

    #[test]
    fn a_narrow_footer_keeps_quit_first_and_help_last() {
        for room in [40, 80, 120, 200] {
            let f = fitting(room);
            assert_eq!(f.first(), Some(&("q".into(), "quit")), "{room}");
            assert_eq!(f.last(), Some(&("?".into(), "help")), "{room}");
            let used: usize = 1 + f.iter().map(|(l, s)| l.chars().count() + s.chars().count() + 3).sum::<usize>();
            assert!(used <= room, "{room}: {used}");
        }
    }

    #[test]
    fn a_run_trained_elsewhere_shows_only_the_keys_that_work_there() {
        use crate::tui::keymap::footer_not_live;
        let words = |v: Vec<super::Entry>| v.into_iter().map(|e| e.1).collect::<Vec<_>>();
        let all = crate::ingest::BridgeStatus::default();
        assert_eq!(words(footer_not_live(None, false, false)), ["quit", "checklist", "help"]);
        assert_eq!(
            words(footer_not_live(Some(&all), false, true)),
            ["quit", "pause", "lr", "save", "stop", "checklist", "runs", "help"]
        );
        assert_eq!(words(footer_not_live(None, true, false)), ["quit", "epoch", "first/last", "checklist", "help"]);
        assert!(footer_not_live(Some(&all), true, true).iter().all(|e| !e.0.is_empty()), "every key has its label");
    }
}
