//! The data view (`v`): the validation confusion matrix, and either a
//! gallery of misclassified digits drawn with half-block characters (true →
//! predicted label under each) or, for the 2-D sets, the decision boundary
//! over the plane with validation points on it, as TensorFlow Playground
//! draws it. Everything comes from the trainer's `DataView` each epoch.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget};

use super::{Panel, ellipsize};
use crate::protocol::{Boundary, Misclassified};
use crate::tui::app::App;

const CLASS_COLORS: [Color; 10] = [
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Green,
    Color::Red,
    Color::Blue,
    Color::LightCyan,
    Color::LightYellow,
    Color::LightMagenta,
    Color::LightGreen,
];
/// A faint fill per predicted class, so the regions show without colour too.
const REGION_GLYPHS: [char; 4] = [' ', '·', ':', '░'];

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(view) = &app.run.data_view else {
        let block = Block::bordered().title(Line::from(format!("{}  v", Panel::Data.title())).bold());
        Paragraph::new("the data view arrives after the first epoch…").dark_gray().block(block).render(area, buf);
        return;
    };
    // The matrix whole first (at 80 columns it once showed classes 0–4 of
    // 10); the gallery or the boundary gets what is left.
    let layout = MatrixLayout::fit(&view.confusion, area.width.saturating_sub(MIN_BESIDE));
    let [left, right] = Layout::horizontal([Constraint::Length(layout.width()), Constraint::Min(10)]).areas(area);
    confusion(app, &layout, left, buf);
    match (&view.boundary, view.image) {
        (Some(b), _) => boundary(b, right, buf),
        (None, Some((rows, cols))) => gallery(&view.misclassified, rows, cols, right, buf),
        (None, None) => {
            let block = Block::bordered().title(Line::from("Misclassified").bold());
            let lines: Vec<Line> = view
                .misclassified
                .iter()
                .map(|m| Line::from(format!("true {} → predicted {}", m.label, m.predicted)))
                .collect();
            Paragraph::new(lines).block(block).render(right, buf);
        }
    }
}

/// Columns kept beside the matrix for the gallery or the boundary.
const MIN_BESIDE: u16 = 16;

/// How the confusion matrix fits its width: counts in columns as wide as
/// the largest count, else each row's shares in percent (narrower), else
/// as many columns as fit, said in the subtitle.
#[derive(Debug, PartialEq)]
struct MatrixLayout {
    classes: usize,
    /// Width of the row labels, with their space.
    label: u16,
    /// Width of one cell, with its space.
    cell: u16,
    /// Cells shown as a percent of their row (the counts did not fit).
    percent: bool,
    /// Columns shown (all unless even percentages do not fit).
    shown: usize,
}

impl MatrixLayout {
    fn fit(m: &[Vec<u32>], room: u16) -> MatrixLayout {
        let digits = |n: usize| n.max(1).ilog10() as u16 + 1;
        let classes = m.len();
        let label = digits(classes.saturating_sub(1)) + 2;
        let largest = m.iter().flatten().copied().max().unwrap_or(0) as usize;
        let counts = (digits(largest) + 1).max(3);
        let need = |cell: u16| 2 + label + classes as u16 * cell;
        if need(counts) <= room {
            return MatrixLayout { classes, label, cell: counts, percent: false, shown: classes };
        }
        let cell = 4;
        let shown = if need(cell) <= room { classes } else { (room.saturating_sub(2 + label) / cell) as usize };
        MatrixLayout { classes, label, cell, percent: true, shown: shown.max(1).min(classes) }
    }

    fn width(&self) -> u16 {
        2 + self.label + self.shown as u16 * self.cell
    }
}

fn confusion(app: &App, layout: &MatrixLayout, area: Rect, buf: &mut Buffer) {
    let view = app.run.data_view.as_ref().expect("checked by the caller");
    let m = &view.confusion;
    let total: u32 = m.iter().flatten().sum();
    let right: u32 = (0..m.len()).map(|i| m[i][i]).sum();
    let room = area.width.saturating_sub(2) as usize;
    let title = ellipsize(&format!("Confusion (validation, epoch {})  v", view.epoch), room);
    let share = 100.0 * right as f64 / total.max(1) as f64;
    let what = match (layout.percent, layout.shown < layout.classes) {
        (false, _) => "rows true, columns predicted".to_string(),
        (true, false) => "% of each true row, columns predicted".to_string(),
        (true, true) => format!("% of each true row, predicted 0–{} of {}", layout.shown - 1, layout.classes),
    };
    let (lw, cw) = ((layout.label - 1) as usize, layout.cell as usize);
    let mut lines = vec![
        Line::from(ellipsize(&format!("{share:.1}% right · {what}"), room)).dark_gray(),
        Line::from(
            std::iter::once(Span::raw(" ".repeat(lw + 1)))
                .chain((0..layout.shown).map(|j| Span::raw(format!("{j:>cw$}")).bold()))
                .collect::<Vec<_>>(),
        ),
    ];
    for (i, row) in m.iter().enumerate() {
        let n: u32 = row.iter().sum::<u32>().max(1);
        let mut spans = vec![Span::raw(format!("{i:>lw$} ")).bold()];
        for (j, &c) in row.iter().enumerate().take(layout.shown) {
            let share = c as f64 / n as f64;
            let style = if i == j {
                Style::default().fg(Color::Green)
            } else if share > 0.05 {
                Style::default().fg(Color::Red).bold()
            } else if c > 0 {
                Style::default().fg(Color::LightRed)
            } else {
                Style::default().fg(Color::DarkGray)
            };
            let text = if layout.percent { format!("{:.0}", 100.0 * share) } else { c.to_string() };
            spans.push(Span::styled(format!("{text:>cw$}"), style));
        }
        lines.push(Line::from(spans));
    }
    Paragraph::new(lines).block(Block::bordered().title(Line::from(title).bold())).render(area, buf);
}

/// A grey level 0..=255 as one of the 24 greys of the 256-colour palette.
fn grey(v: u8) -> Color {
    Color::Indexed(232 + (v as u16 * 23 / 255) as u8)
}

/// Misclassified images at half resolution across (2 pixels a column) and
/// two pixels a cell down (`▀`: top in the foreground, bottom behind).
fn gallery(items: &[Misclassified], rows: usize, cols: usize, area: Rect, buf: &mut Buffer) {
    let block = Block::bordered().title(Line::from("Misclassified validation digits: true → predicted").bold());
    let inner = block.inner(area);
    block.render(area, buf);
    let (w, h) = (cols.div_ceil(2) as u16, rows.div_ceil(2) as u16);
    let per_row = ((inner.width + 1) / (w + 1)).max(1);
    let px = |m: &Misclassified, r: usize, c: usize| -> u8 {
        if r < rows && c < cols { m.pixels.get(r * cols + c).copied().unwrap_or(0) } else { 0 }
    };
    for (k, m) in items.iter().enumerate() {
        let (gx, gy) = (k as u16 % per_row, k as u16 / per_row);
        let (x0, y0) = (inner.x + gx * (w + 1), inner.y + gy * (h + 1));
        if y0 + h + 1 > inner.bottom() || x0 + w > inner.right() {
            break;
        }
        for cy in 0..h {
            for cx in 0..w {
                let (r, c) = (2 * cy as usize, 2 * cx as usize);
                let top = ((px(m, r, c) as u16 + px(m, r, c + 1) as u16) / 2) as u8;
                let bottom = ((px(m, r + 1, c) as u16 + px(m, r + 1, c + 1) as u16) / 2) as u8;
                // The glyph alone reads as the digit; the greys refine it.
                let glyph = match (top > 100, bottom > 100) {
                    (true, true) => "█",
                    (true, false) => "▀",
                    (false, true) => "▄",
                    (false, false) => " ",
                };
                let cell = &mut buf[(x0 + cx, y0 + cy)];
                cell.set_symbol(glyph);
                cell.set_style(Style::default().fg(grey(top)).bg(grey(bottom)));
            }
        }
        let label = format!("{}→{}", m.label, m.predicted);
        buf.set_string(x0, y0 + h, label, Style::default().fg(Color::Red).bold());
    }
}

/// The predicted class over the plane (a faint fill and colour per class),
/// with validation points as their true class digit.
fn boundary(b: &Boundary, area: Rect, buf: &mut Buffer) {
    let block = Block::bordered().title(Line::from("Decision boundary (validation points: their true class)").bold());
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    let (w, h) = (inner.width as usize, inner.height as usize);
    for cy in 0..h {
        for cx in 0..w {
            let gc = cx * b.cols / w;
            let gr = cy * b.rows / h;
            let class = b.classes[gr * b.cols + gc] as usize;
            let cell = &mut buf[(inner.x + cx as u16, inner.y + cy as u16)];
            cell.set_char(REGION_GLYPHS[class % REGION_GLYPHS.len()]);
            cell.set_style(Style::default().fg(CLASS_COLORS[class % 10]).bg(Color::Reset));
        }
    }
    for &(x, y, label) in &b.points {
        let fx = (x - b.x.0) / (b.x.1 - b.x.0);
        let fy = (b.y.1 - y) / (b.y.1 - b.y.0);
        if !(0.0..1.0).contains(&fx) || !(0.0..1.0).contains(&fy) {
            continue;
        }
        let (cx, cy) = ((fx * w as f32) as u16, (fy * h as f32) as u16);
        let cell = &mut buf[(inner.x + cx, inner.y + cy)];
        cell.set_symbol(&format!("{}", label % 10));
        cell.set_style(Style::default().fg(CLASS_COLORS[label as usize % 10]).bold());
    }
}

/// The matrix layout as (cell width, percent, columns shown), for the
/// screen tests in `tui::ui`.
#[cfg(test)]
pub(crate) mod tests_support {
    pub fn fit(m: &[Vec<u32>], room: u16) -> (u16, bool, usize) {
        let l = super::MatrixLayout::fit(m, room);
        (l.cell, l.percent, l.shown)
    }
}
