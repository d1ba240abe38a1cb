//! One file per screen region. Each exposes `render(app, area, buf)` and
//! reads `&App` only. [`Panel`] lists the panels once — title, zoom key,
//! render function — so the layout, zooming, the help text and the titles
//! all come from one table; and the fitting helpers here make text that
//! does not fit end in `…` at a word boundary instead of being cut mid-word.

pub mod accuracy;
pub mod chart;
pub mod checklist;
pub mod controls;
pub mod data;
pub mod dropout;
pub mod footer;
pub mod header;
pub mod help;
pub mod loss;
pub mod picker;
pub mod range_test;
pub mod runs;
pub mod weights;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::tui::app::App;

/// A panel of the dashboard, in screen order (the order of the zoom keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    Loss,
    Accuracy,
    Weights,
    Dropout,
    Data,
    Controls,
    Checklist,
}

impl Panel {
    /// Every panel, in screen order: `ALL[i]` zooms with key `i + 1`.
    pub const ALL: [Panel; 7] =
        [Panel::Loss, Panel::Accuracy, Panel::Weights, Panel::Dropout, Panel::Data, Panel::Controls, Panel::Checklist];

    /// The title on the panel's border.
    pub fn title(self) -> &'static str {
        match self {
            Panel::Loss => "Loss",
            Panel::Accuracy => "Accuracy",
            Panel::Weights => "Weights",
            Panel::Dropout => "Dropout",
            Panel::Data => "Data",
            Panel::Controls => "Controls",
            Panel::Checklist => "Is it overfitting?",
        }
    }

    /// The panel in one word, as the help lists the zoom keys.
    pub fn name(self) -> &'static str {
        match self {
            Panel::Loss => "loss",
            Panel::Accuracy => "accuracy",
            Panel::Weights => "weights",
            Panel::Dropout => "dropout",
            Panel::Data => "data",
            Panel::Controls => "controls",
            Panel::Checklist => "checklist",
        }
    }

    /// Its position in screen order, as `App::zoom` counts (1-based).
    pub fn number(self) -> u8 {
        Panel::ALL.iter().position(|&p| p == self).expect("every panel is in ALL") as u8 + 1
    }

    /// The key that zooms it.
    pub fn zoom_key(self) -> char {
        char::from(b'0' + self.number())
    }

    /// The panel `App::zoom` names (1-based), if any.
    pub fn from_zoom(n: u8) -> Option<Panel> {
        Panel::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// "1 loss 2 accuracy …": the zoom keys as the help lists them.
    pub fn zoom_help() -> String {
        Panel::ALL.iter().map(|p| format!("{} {}", p.zoom_key(), p.name())).collect::<Vec<_>>().join(" ")
    }

    pub fn render(self, app: &App, area: Rect, buf: &mut Buffer) {
        match self {
            Panel::Loss => loss::render(app, area, buf),
            Panel::Accuracy => accuracy::render(app, area, buf),
            Panel::Weights => weights::render(app, area, buf),
            Panel::Dropout => dropout::render(app, area, buf),
            Panel::Data => data::render(app, area, buf),
            Panel::Controls => controls::render(app, area, buf),
            Panel::Checklist => checklist::render(app, area, buf),
        }
    }
}

/// Display width of a text (as the terminal draws it).
pub fn width(text: &str) -> usize {
    Span::raw(text).width()
}

/// Characters a shortened text should not end on before its `…`.
// (Not `-` or `/`: they end key names such as `+/-`.)
const DANGLING: &[char] = &[' ', '·', ',', ';', ':', '(', '−', '→'];

/// `text` in at most `room` columns: whole if it fits, else cut at the last
/// word boundary that leaves room for `…` (a single word too long for the
/// room is cut where it must be).
pub fn ellipsize(text: &str, room: usize) -> String {
    if width(text) <= room {
        return text.to_string();
    }
    if room == 0 {
        return String::new();
    }
    // The longest prefix that fits with the `…`, in whole characters.
    let mut end = 0;
    let mut used = 0;
    for (i, c) in text.char_indices() {
        let w = width(c.encode_utf8(&mut [0; 4]));
        if used + w + 1 > room {
            break;
        }
        used += w;
        end = i + c.len_utf8();
    }
    let prefix = &text[..end];
    // Mid-word if the next character is not a space: back up to the last space.
    let next_is_space = text[end..].starts_with(char::is_whitespace);
    let cut = if next_is_space { prefix } else { prefix.rfind(char::is_whitespace).map_or(prefix, |i| &prefix[..i]) };
    let cut = cut.trim_end_matches(DANGLING);
    let cut = if cut.is_empty() { prefix.trim_end_matches(DANGLING) } else { cut };
    format!("{cut}…")
}

/// A styled line in at most `room` columns: whole spans while they fit, the
/// first that does not shortened at a word boundary, then `…`.
pub fn fit_line(line: Line<'static>, room: usize) -> Line<'static> {
    if line.width() <= room {
        return line;
    }
    let style = line.style;
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in line.spans {
        let w = span.width();
        if used + w < room {
            used += w;
            spans.push(span);
            continue;
        }
        // This span overflows (or exactly fills the row, leaving no room for
        // the `…`): keep the words of it that fit.
        let short = ellipsize(&span.content, room - used);
        let kept = short.trim_end_matches('…').trim_end_matches(DANGLING);
        // A word cut in the middle only when nothing else would show.
        let at_word = span.content[kept.len()..].starts_with(|c: char| c.is_whitespace() || DANGLING.contains(&c));
        if !kept.is_empty() && short.ends_with('…') && (at_word || spans.is_empty()) {
            spans.push(Span::styled(kept.to_string(), span.style));
        }
        break;
    }
    // Trailing spaces or separators of the last kept span go before the `…`.
    while let Some(last) = spans.last_mut() {
        let trimmed = last.content.trim_end_matches(DANGLING).to_string();
        if trimmed.is_empty() {
            spans.pop();
        } else {
            last.content = trimmed.into();
            break;
        }
    }
    spans.push(Span::raw("…"));
    Line::from(spans).style(style)
}

/// Rows `line` takes wrapped at words in `width` columns.
fn rows_of(line: &Line<'static>, width: u16) -> usize {
    Paragraph::new(line.clone()).wrap(Wrap { trim: false }).line_count(width).max(1)
}

/// The first `n` bytes of a line's text, keeping the spans' styles.
fn prefix(line: &Line<'static>, n: usize) -> Line<'static> {
    let mut spans = Vec::new();
    let mut left = n;
    for span in &line.spans {
        if left == 0 {
            break;
        }
        let take = left.min(span.content.len());
        spans.push(Span::styled(span.content[..take].to_string(), span.style));
        left -= take;
    }
    Line::from(spans).style(line.style)
}

/// A line shortened at a word, ending in `…`, to wrap into at most `rows`
/// rows of `width` columns.
fn fit_rows(line: Line<'static>, width: u16, rows: usize) -> Line<'static> {
    if rows <= 1 {
        return fit_line(line, width as usize);
    }
    if rows_of(&line, width) <= rows {
        return line;
    }
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    // Word ends, longest first: the first that wraps into `rows` with its `…`.
    let mut cuts: Vec<usize> = text.char_indices().filter(|(_, c)| c.is_whitespace()).map(|(i, _)| i).collect();
    cuts.reverse();
    for cut in cuts {
        let mut short = prefix(&line, cut);
        while let Some(last) = short.spans.last_mut() {
            let trimmed = last.content.trim_end_matches(DANGLING).to_string();
            if trimmed.is_empty() {
                short.spans.pop();
            } else {
                last.content = trimmed.into();
                break;
            }
        }
        if short.spans.is_empty() {
            continue;
        }
        short.spans.push(Span::raw("…"));
        if rows_of(&short, width) <= rows {
            return short;
        }
    }
    fit_line(line, width as usize)
}

/// The lines as a paragraph for `area`, wrapped at words. When they do not
/// all fit, every line keeps at least its first row, in order, and the rows
/// left over go to the first lines that need them; a line given fewer rows
/// than it needs ends in `…` at a word. Lines past the height are not shown:
/// the first lines matter most.
pub fn fit_paragraph(lines: Vec<Line<'static>>, area: Rect) -> Paragraph<'static> {
    let wrapped = Paragraph::new(lines.clone()).wrap(Wrap { trim: false });
    if area.width == 0 || wrapped.line_count(area.width) <= area.height as usize {
        return wrapped;
    }
    let shown = lines.len().min(area.height as usize);
    let needs: Vec<usize> = lines.iter().take(shown).map(|l| rows_of(l, area.width)).collect();
    let mut spare = area.height as usize - shown;
    let rows: Vec<usize> = needs
        .iter()
        .map(|&need| {
            let extra = (need - 1).min(spare);
            spare -= extra;
            1 + extra
        })
        .collect();
    let fitted: Vec<Line<'static>> =
        lines.into_iter().zip(rows).map(|(line, rows)| fit_rows(line, area.width, rows)).collect();
    Paragraph::new(fitted).wrap(Wrap { trim: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsize_cuts_at_a_word_boundary_and_ends_in_an_ellipsis() {
        assert_eq!(ellipsize("gradient norm per layer", 40), "gradient norm per layer");
        assert_eq!(ellipsize("gradient norm per layer", 20), "gradient norm per…");
        assert_eq!(ellipsize("gradient norm per layer", 19), "gradient norm per…");
        assert_eq!(ellipsize("gradient norm per layer", 17), "gradient norm…");
        // Separators do not dangle before the ellipsis.
        assert_eq!(ellipsize("epoch 6: train loss 0.108; gap val − train 0.5", 34), "epoch 6: train loss 0.108; gap…");
        assert_eq!(ellipsize("a · b · c", 6), "a · b…");
        // One word longer than the room is cut where it must be.
        assert_eq!(ellipsize("supercalifragilistic", 6), "super…");
        assert_eq!(ellipsize("abc", 0), "");
        for room in 1..30 {
            let s = ellipsize("the quick brown fox jumps over the lazy dog", room);
            assert!(width(&s) <= room, "{room}: {s:?}");
        }
    }

    #[test]
    fn fit_line_keeps_styles_and_cuts_the_overflowing_span_at_a_word() {
        use ratatui::style::Stylize;
        let line = Line::from(vec![Span::raw("lr ").dark_gray(), Span::raw("0.05").bold(), Span::raw(" +/-  hidden")]);
        assert_eq!(fit_line(line.clone(), 40), line);
        let short = fit_line(line.clone(), 12);
        assert_eq!(short.to_string(), "lr 0.05 +/-…");
        assert!(short.width() <= 12);
        assert_eq!(short.spans[1], Span::raw("0.05").bold());
        assert_eq!(fit_line(line, 6).to_string(), "lr…");
    }

    #[test]
    fn fit_paragraph_gives_every_line_a_row_and_the_first_ones_the_rest() {
        use ratatui::widgets::Widget;
        let lines = vec![
            Line::from("one two three four five six seven eight nine ten"),
            Line::from("alpha beta gamma delta epsilon zeta eta theta"),
            Line::from("last line"),
        ];
        let area = Rect::new(0, 0, 20, 4);
        let mut buf = Buffer::empty(area);
        fit_paragraph(lines, area).render(area, &mut buf);
        let rows: Vec<String> =
            (0..4).map(|y| (0..20).map(|x| buf[(x, y)].symbol()).collect::<String>().trim_end().to_string()).collect();
        assert_eq!(rows, ["one two three four", "five six seven…", "alpha beta gamma…", "last line"]);
    }

    #[test]
    fn every_panel_has_its_own_zoom_key_in_screen_order() {
        for (i, p) in Panel::ALL.iter().enumerate() {
            assert_eq!(Panel::from_zoom(i as u8 + 1), Some(*p));
            assert_eq!(p.zoom_key(), char::from(b'1' + i as u8));
        }
        assert_eq!(Panel::from_zoom(0), None);
        assert_eq!(Panel::from_zoom(8), None);
        assert!(Panel::zoom_help().starts_with("1 loss 2 accuracy 3 weights"));
    }
}
