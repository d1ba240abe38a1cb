//! The line chart both metric panels draw: named curves on an epoch axis,
//! with a faint vertical line at every change the user made.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, LegendPosition, Paragraph, Widget};

type Points = Vec<(f64, f64)>;

/// One curve of a chart.
pub struct Curve<'a> {
    pub name: &'a str,
    pub points: &'a [(f64, f64)],
    pub color: Color,
    /// Epoch-level curves get a visible dot at each point.
    pub dots: bool,
}

/// Axis labels: the ends and the middle of `[lo, hi]`.
fn labels(lo: f64, hi: f64, fmt: impl Fn(f64) -> String) -> Vec<Line<'static>> {
    vec![Line::from(fmt(lo)), Line::from(fmt((lo + hi) / 2.0)), Line::from(fmt(hi))]
}

/// Draws `curves` in `area` under `title`, with y within `y` labelled by
/// `y_fmt`, and a vertical line at each x in `marks` (the changes).
fn draw(
    panel: &MetricPanel<'_>,
    curves: &[Curve<'_>],
    x_max: f64,
    y: (f64, f64),
    marks: &[f64],
    area: Rect,
    buf: &mut Buffer,
) {
    let (title, y_fmt) = (panel.title, panel.fmt);
    let block = Block::bordered().title(Line::from(title.to_string()).bold());
    if curves.iter().all(|c| c.points.is_empty()) {
        Paragraph::new("waiting for the first metrics…").dark_gray().block(block).render(area, buf);
        return;
    }
    let x_max = x_max.max(1e-3);
    let mark_lines: Vec<[(f64, f64); 2]> = marks.iter().map(|&x| [(x, y.0), (x, y.1)]).collect();
    let mut datasets: Vec<Dataset> = mark_lines
        .iter()
        .map(|line| {
            Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(Color::DarkGray).data(line)
        })
        .collect();
    for c in curves {
        datasets.push(
            Dataset::default()
                .name(c.name.to_string())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(c.color))
                .data(c.points),
        );
        if c.dots {
            datasets.push(
                Dataset::default().marker(Marker::Dot).graph_type(GraphType::Scatter).style(c.color).data(c.points),
            );
        }
    }
    let x_axis =
        Axis::default()
            .title("epoch")
            .style(Color::Gray)
            .bounds([0.0, x_max])
            .labels(labels(0.0, x_max, |v| format!("{v:.1}")));
    let y_axis = Axis::default().style(Color::Gray).bounds([y.0, y.1]).labels(labels(y.0, y.1, y_fmt));
    Chart::new(datasets)
        .block(block)
        .x_axis(x_axis)
        .y_axis(y_axis)
        .legend_position(Some(panel.legend))
        .hidden_legend_constraints((ratatui::layout::Constraint::Ratio(1, 2), ratatui::layout::Constraint::Ratio(1, 2)))
        .render(area, buf);
}

/// The quantile of step-level values the y axis must show: the first
/// steps' huge losses would otherwise flatten the rest of the run.
const STEP_QUANTILE: f64 = 0.95;

/// Bounds that contain the epoch-level curves and all but the most extreme
/// step-level values (the first curve), padded a little, clamped to
/// `[floor, ceil]`.
pub fn y_bounds(curves: &[Curve<'_>], floor: f64, ceil: Option<f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (i, c) in curves.iter().enumerate() {
        let mut ys: Vec<f64> = c.points.iter().map(|p| p.1).collect();
        if ys.is_empty() {
            continue;
        }
        ys.sort_by(f64::total_cmp);
        let (first, last) = if i == 0 {
            let k = ((ys.len() - 1) as f64 * (1.0 - STEP_QUANTILE)).round() as usize;
            (ys[k], ys[ys.len() - 1 - k])
        } else {
            (ys[0], ys[ys.len() - 1])
        };
        lo = lo.min(first);
        hi = hi.max(last);
    }
    if !lo.is_finite() {
        return (floor, ceil.unwrap_or(floor + 1.0));
    }
    let pad = ((hi - lo) * 0.08).max(1e-3);
    let lo = (lo - pad).max(floor);
    let hi = match ceil {
        Some(c) => (hi + pad).min(c),
        None => hi + pad,
    };
    (lo, hi.max(lo + 1e-3))
}

/// A metric panel: the step-level training curve, and the epoch-level
/// training-in-eval-mode and validation curves picked by `pick`
/// (`(train_eval, val)` of an epoch), with the user's changes marked.
pub struct MetricPanel<'a> {
    pub title: &'a str,
    pub steps: &'a crate::history::Series,
    pub pick: fn(&crate::train::EpochMetrics) -> (f32, f32),
    pub floor: f64,
    pub ceil: Option<f64>,
    pub fmt: fn(f64) -> String,
    /// Where the legend sits: away from where the curves end up.
    pub legend: LegendPosition,
}

impl MetricPanel<'_> {
    pub fn render(&self, app: &crate::tui::app::App, area: Rect, buf: &mut Buffer) {
        let (train_eval, val): (Points, Points) = app
            .epochs
            .iter()
            .map(|e| {
                let (t, v) = (self.pick)(e);
                ((e.epoch as f64, t as f64), (e.epoch as f64, v as f64))
            })
            .unzip();
        let curves = [
            Curve { name: "train", points: self.steps.points(), color: Color::Cyan, dots: false },
            Curve { name: "train(eval)", points: &train_eval, color: Color::Blue, dots: true },
            Curve { name: "val", points: &val, color: Color::Yellow, dots: true },
        ];
        let y = y_bounds(&curves, self.floor, self.ceil);
        let marks: Vec<f64> = app.changes.iter().map(|c| app.step_to_x(c.step)).collect();
        let x_max = app.step_to_x(app.step).max(app.epochs.len() as f64);
        draw(self, &curves, x_max, y, &marks, area, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_step_spikes_do_not_flatten_the_loss_axis() {
        let mut steps: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 0.3 + 0.001 * i as f64)).collect();
        steps[0].1 = 2.3;
        let epochs = [(1.0, 0.35), (2.0, 0.32)];
        let curves = [
            Curve { name: "train", points: &steps, color: Color::Cyan, dots: false },
            Curve { name: "val", points: &epochs, color: Color::Yellow, dots: true },
        ];
        let (lo, hi) = y_bounds(&curves, 0.0, None);
        assert!(lo > 0.2 && hi < 0.5, "({lo}, {hi})");
        // Epoch-level points are always inside.
        let spike = [(1.0, 3.0)];
        let curves =
            [curves[0].clone_with(&steps), Curve { name: "val", points: &spike, color: Color::Red, dots: true }];
        assert!(y_bounds(&curves, 0.0, None).1 > 3.0);
    }

    impl<'a> Curve<'a> {
        fn clone_with(&self, points: &'a [(f64, f64)]) -> Curve<'a> {
            Curve { name: self.name, points, color: self.color, dots: self.dots }
        }
    }
}
