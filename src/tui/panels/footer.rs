//! The footer: the main key bindings, generated from the keymap table
//! (the help overlay lists them all). When the line is too narrow it drops
//! entries from the middle, so `q quit` starts it and `? help` always ends it.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::tui::keymap;

/// Width of one entry: ` key words  `.
fn width(label: &str, short: &str) -> usize {
    label.chars().count() + short.chars().count() + 3
}

/// The entries that fit in `room` columns: the first, the last, and as many
/// of the others (in order) as fit between them.
pub fn fitting(room: usize) -> Vec<(&'static str, &'static str)> {
    let all: Vec<_> = keymap::footer().collect();
    let Some((&last, rest)) = all.split_last() else { return all };
    let mut used = 1 + width(last.0, last.1);
    let mut kept = Vec::new();
    for &(label, short) in rest {
        let w = width(label, short);
        if used + w > room {
            break;
        }
        used += w;
        kept.push((label, short));
    }
    kept.push(last);
    kept
}

pub fn render(area: Rect, buf: &mut Buffer) {
    let mut spans = vec![Span::raw(" ")];
    for (label, short) in fitting(area.width as usize) {
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
            assert_eq!(f.first(), Some(&("q", "quit")), "{room}");
            assert_eq!(f.last(), Some(&("?", "help")), "{room}");
            let used: usize = 1 + f.iter().map(|(l, s)| l.chars().count() + s.chars().count() + 3).sum::<usize>();
            assert!(used <= room, "{room}: {used}");
        }
    }
}
