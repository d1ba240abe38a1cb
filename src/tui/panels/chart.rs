//! The line chart both metric panels draw: named curves on an epoch axis,
//! the previous run as a faded ghost, a vertical line and a label at every
//! change the user made, the best epoch marked; a log-scale and a recent
//! window option.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, LegendPosition, Paragraph, Widget};

use crate::history::Series;
use crate::protocol::EpochMetrics;
use crate::tui::app::{App, Ghost, RECENT_EPOCHS};

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

/// A loss as an axis label: two decimals where they say something, else
/// powers of ten (a log axis reaching 1e-4 once labelled its bottom `0.00`)
/// or whole numbers for large losses.
pub fn loss_label(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (0.01..10.0).contains(&a) {
        format!("{v:.2}")
    } else if (10.0..1000.0).contains(&a) {
        format!("{v:.1}")
    } else if a.is_finite() {
        format!("{v:.1e}")
    } else {
        format!("{v}")
    }
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
        let mut ys: Vec<f64> = c.points.iter().map(|p| p.1).filter(|y| y.is_finite()).collect();
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
    pub steps: &'a Series,
    /// A ghost's step-level curve of this metric.
    pub ghost_steps: fn(&Ghost) -> &Series,
    pub pick: fn(&EpochMetrics) -> (f32, f32),
    pub floor: f64,
    pub ceil: Option<f64>,
    pub fmt: fn(f64) -> String,
    /// Where the legend sits: away from where the curves end up.
    pub legend: LegendPosition,
    /// Whether the log-scale toggle applies (loss, not accuracy).
    pub loggable: bool,
    /// Shade the min–max band of the validation curve across this run and
    /// its ghosts (different starts, different minima).
    pub band: bool,
}

/// Per epoch, the lowest and highest validation value across `runs`
/// (epochs only some runs reached count those).
pub fn val_band(runs: &[&[EpochMetrics]], pick: fn(&EpochMetrics) -> (f32, f32)) -> Vec<(f64, f64, f64)> {
    let last = runs.iter().filter_map(|r| r.last().map(|e| e.epoch)).max().unwrap_or(0);
    (1..=last)
        .filter_map(|epoch| {
            let vals: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.iter().find(|e| e.epoch == epoch))
                .map(|e| pick(e).1 as f64)
                .filter(|v| v.is_finite())
                .collect();
            (vals.len() >= 2).then(|| {
                let (lo, hi) = vals.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
                (epoch as f64, lo, hi)
            })
        })
        .collect()
}

impl MetricPanel<'_> {
    pub fn render(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let log = self.loggable && app.log_scale;
        // Values as drawn: log10 on a log axis (non-positive values dropped).
        let tf = |y: f64| if log { if y > 0.0 { y.log10() } else { f64::NAN } } else { y };
        let x_max = app.run.step_to_x(app.run.step).max(app.run.epochs.len() as f64).max(1e-3);
        let x_min = if app.recent_only { (x_max - RECENT_EPOCHS).max(0.0) } else { 0.0 };
        let keep = |&(x, y): &(f64, f64)| (x >= x_min && y.is_finite()).then_some((x, y));
        let series =
            |s: &Series| -> Points { s.points().iter().map(|&(x, y)| (x, tf(y))).filter_map(|p| keep(&p)).collect() };
        let epochs = |e: &[EpochMetrics], which: usize| -> Points {
            e.iter()
                .map(|m| {
                    let (t, v) = (self.pick)(m);
                    (m.epoch as f64, tf(if which == 0 { t } else { v } as f64))
                })
                .filter_map(|p| keep(&p))
                .collect()
        };
        let steps = series(self.steps);
        let (train_eval, val) = (epochs(&app.run.epochs, 0), epochs(&app.run.epochs, 1));
        // Older ghosts fainter; only the latest is named in the legend.
        let ghosts: Vec<(Points, Points)> =
            app.ghosts.iter().map(|g| (series((self.ghost_steps)(g)), epochs(&g.epochs, 1))).collect();
        // A fork's branch, from where it forked (before that it is the run).
        let fork = app.run.fork.as_ref();
        let (branch_steps, branch_val): (Points, Points) = match fork {
            Some(f) => {
                let from = app.run.step_to_x(f.at_step);
                let after: Vec<EpochMetrics> = f.epochs.iter().filter(|e| e.epoch >= f.at_epoch).cloned().collect();
                (series(&f.train_loss).into_iter().filter(|p| p.0 >= from).collect(), epochs(&after, 1))
            }
            None => (Vec::new(), Vec::new()),
        };
        let best: Points = app
            .run
            .best_epoch()
            .and_then(|b| keep(&(b.epoch as f64, tf((self.pick)(b).1 as f64))))
            .into_iter()
            .collect();
        let mut curves = vec![
            Curve { name: "train", points: &steps, color: Color::Cyan, dots: false },
            Curve { name: "train(eval)", points: &train_eval, color: Color::Blue, dots: true },
            Curve { name: "val", points: &val, color: Color::Yellow, dots: true },
        ];
        let latest = ghosts.len().saturating_sub(1);
        for (i, (steps, val)) in ghosts.iter().enumerate() {
            let named = i == latest;
            curves.push(Curve {
                name: if named { "before: train" } else { "" },
                points: steps,
                color: Color::DarkGray,
                dots: false,
            });
            curves.push(Curve {
                name: if named { "before: val" } else { "" },
                points: val,
                color: Color::Gray,
                dots: true,
            });
        }
        if fork.is_some() {
            curves.push(Curve { name: "branch: train", points: &branch_steps, color: Color::Magenta, dots: false });
            curves.push(Curve { name: "branch: val", points: &branch_val, color: Color::LightMagenta, dots: true });
        }
        let (floor, ceil) = if log { (f64::NEG_INFINITY, None) } else { (self.floor, self.ceil) };
        let y = y_bounds(&curves, floor, ceil);
        let marks: Vec<(f64, String)> = app
            .run
            .changes
            .iter()
            .map(|c| (app.run.step_to_x(c.step), c.chart_label()))
            .filter(|(x, _)| *x >= x_min)
            .collect();
        let runs = app.band_runs();
        let band = if self.band { val_band(&runs, self.pick) } else { Vec::new() };
        let spread = if self.band && runs.len() > 1 {
            // The drawn runs' bests, and the ends of the merged runs' bests.
            let drawn = &runs[..app.ghosts.len() + 1];
            let merged = app.merged.bests.iter().flat_map(|(lo, hi)| [lo, hi]).map(|e| (self.pick)(e).1);
            let mut bests: Vec<f32> = drawn
                .iter()
                .filter_map(|r| r.iter().map(|e| (self.pick)(e).1).filter(|v| v.is_finite()).reduce(f32::max))
                .collect();
            let count = bests.len() + app.merged.runs;
            bests.extend(merged.filter(|v| v.is_finite()));
            let (lo, hi) = bests.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            if count > 1 {
                format!(" · best val over {count} runs {}–{}", (self.fmt)(lo as f64), (self.fmt)(hi as f64))
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        let rest = format!(
            "{}{}{}{spread}",
            if log { " (log)" } else { "" },
            if app.recent_only { format!(" · last {RECENT_EPOCHS} epochs") } else { String::new() },
            app.ghosts.last().map(|g| format!(" · grey: {}", g.label)).unwrap_or_default()
        );
        // The branch is named first: while a fork runs it is what the chart is about.
        let mut head = vec![Span::raw(self.title).bold()];
        if let Some(f) = fork {
            head.push(Span::raw(format!(" · branch {}", f.branch)).fg(Color::LightMagenta).bold());
        }
        head.push(Span::raw(rest).bold());
        if curves.iter().all(|c| c.points.is_empty()) {
            let block = Block::bordered().title(Line::from(head));
            Paragraph::new("waiting for the first metrics…").dark_gray().block(block).render(area, buf);
            return;
        }
        let mark_lines: Vec<[(f64, f64); 2]> = marks.iter().map(|&(x, _)| [(x, y.0), (x, y.1)]).collect();
        let mut datasets: Vec<Dataset> = mark_lines
            .iter()
            .map(|line| {
                Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(Color::DarkGray).data(line)
            })
            .collect();
        // The band: a faint vertical bar from the lowest to the highest run at each epoch.
        let band_lines: Vec<[(f64, f64); 2]> =
            band.iter().filter(|(x, ..)| *x >= x_min).map(|&(x, lo, hi)| [(x, tf(lo)), (x, tf(hi))]).collect();
        datasets.extend(band_lines.iter().map(|line| {
            Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(Color::Magenta).data(line)
        }));
        // Legend names padded to one width: ratatui draws each name over the
        // plot without clearing the rest of its row, so a short name would
        // leave curve dots beside it inside the legend box.
        let name_width = curves.iter().map(|c| c.name.chars().count()).max().unwrap_or(0).max("best epoch".len());
        let pad = |name: &str| format!("{name:<name_width$}");
        for c in curves.iter().rev() {
            let dataset = Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(c.color))
                .data(c.points);
            // An older ghost is not named (only the latest is in the legend).
            datasets.push(if c.name.is_empty() { dataset } else { dataset.name(pad(c.name)) });
            if c.dots {
                datasets.push(
                    Dataset::default().marker(Marker::Dot).graph_type(GraphType::Scatter).style(c.color).data(c.points),
                );
            }
        }
        datasets.push(
            Dataset::default()
                .name(pad("best epoch"))
                .marker(Marker::Block)
                .graph_type(GraphType::Scatter)
                .style(Color::LightGreen)
                .data(&best),
        );
        let fmt = self.fmt;
        let y_fmt = move |v: f64| if log { fmt(10f64.powf(v)) } else { fmt(v) };
        let y_labels = labels(y.0, y.1, y_fmt);
        let label_width = y_labels.iter().map(Line::width).max().unwrap_or(0) as u16;
        let x_axis = Axis::default().title("epoch").style(Color::Gray).bounds([x_min, x_max]).labels(labels(
            x_min,
            x_max,
            |v| format!("{v:.1}"),
        ));
        let y_axis = Axis::default().style(Color::Gray).bounds([y.0, y.1]).labels(y_labels);
        // The legend box takes a row per name: in a short chart (80x24) it
        // would cover half the plot, so ratatui hid it and nothing said
        // which curve was which. There the names go in the title instead.
        let named: Vec<(&str, Color, &str)> = curves
            .iter()
            .filter(|c| !c.name.is_empty())
            .map(|c| (c.name, c.color, "━"))
            .chain([("best", Color::LightGreen, "█")])
            .collect();
        // The plot's size as ratatui lays it out: inside the border, right
        // of the y labels, above the x labels.
        let graph = (area.width.saturating_sub(3 + label_width), area.height.saturating_sub(3));
        let boxed = named.len() as u16 + 2 <= graph.1 / 2 && name_width as u16 + 2 <= graph.0 / 2;
        // (Short words: at 100 columns the title has half the width.)
        let mut title = head;
        if !boxed {
            for (name, color, glyph) in &named {
                title.push(Span::raw(format!("  {glyph} ")).fg(*color));
                title.push(Span::raw(*name));
            }
            title.push(Span::raw(" "));
        }
        Chart::new(datasets)
            .block(Block::bordered().title(Line::from(title)))
            .x_axis(x_axis)
            .y_axis(y_axis)
            .legend_position(boxed.then_some(self.legend))
            .hidden_legend_constraints((
                ratatui::layout::Constraint::Percentage(100),
                ratatui::layout::Constraint::Percentage(100),
            ))
            .render(area, buf);
        // Label each change at the top of its line: the graph starts after
        // the border, the y labels and the axis line.
        let left = area.x + 1 + label_width + 1;
        let right = area.right().saturating_sub(1);
        let width = right.saturating_sub(left) as f64;
        // Away from the legend: from the bottom of the graph up when the
        // legend is on top, else from the top down; a label that would
        // overlap the previous one on its row moves one row further.
        let top_legend =
            matches!(self.legend, LegendPosition::TopRight | LegendPosition::TopLeft | LegendPosition::Top);
        let rows: Vec<u16> =
            (0..3).map(|i| if top_legend { area.bottom().saturating_sub(5 + i) } else { area.y + 1 + i }).collect();
        let mut ends = [0u16; 3];
        for (x, label) in &marks {
            let col = left + (((x - x_min) / (x_max - x_min).max(1e-9)) * width).round() as u16;
            let len = label.chars().count() as u16;
            // Right of the line when it fits, else ending at it; never cut.
            let start = if col + len <= right { col } else { col.saturating_sub(len).max(left) };
            if start + len > right || col >= right || area.height <= 8 {
                continue;
            }
            let Some(r) = (0..rows.len()).find(|&r| ends[r] <= start) else { continue };
            ends[r] = start + len + 1;
            buf.set_string(start, rows[r], label, Style::default().fg(Color::DarkGray));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: usize, val_acc: f32) -> EpochMetrics {
        EpochMetrics {
            epoch,
            step: epoch as u64,
            train_loss: 0.1,
            train_acc: 0.9,
            train_loss_eval: 0.1,
            train_acc_eval: 0.9,
            val_loss: 0.2,
            val_acc,
            lr: 0.1,
            penalty: 0.0,
            noise_memorized: None,
            samples_per_s: 1.0,
            threads: None,
            elapsed_s: 1.0,
            grad_norm: None,
            branch: None,
        }
    }

    #[test]
    fn loss_labels_keep_their_digits_at_any_scale() {
        assert_eq!(loss_label(0.0), "0.00");
        assert_eq!(loss_label(0.25), "0.25");
        assert_eq!(loss_label(1e-4), "1.0e-4");
        assert_eq!(loss_label(0.0035), "3.5e-3");
        assert_eq!(loss_label(42.0), "42.0");
        assert_eq!(loss_label(2.5e6), "2.5e6");
    }

    #[test]
    fn the_seed_band_spans_the_runs_at_each_epoch() {
        let a = [epoch(1, 0.8), epoch(2, 0.9)];
        let b = [epoch(1, 0.7), epoch(2, 0.95), epoch(3, 0.96)];
        let band = val_band(&[&a, &b], |e| (e.train_acc_eval, e.val_acc));
        assert_eq!(band.len(), 2, "epoch 3 has one run: no band");
        assert!((band[0].1 - 0.7).abs() < 1e-6 && (band[0].2 - 0.8).abs() < 1e-6);
        assert!((band[1].1 - 0.9).abs() < 1e-6 && (band[1].2 - 0.95).abs() < 1e-6);
    }

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
        let curves = [
            Curve { name: "train", points: &steps, color: Color::Cyan, dots: false },
            Curve { name: "val", points: &spike, color: Color::Red, dots: true },
        ];
        assert!(y_bounds(&curves, 0.0, None).1 > 3.0);
    }
}
