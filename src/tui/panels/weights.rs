//! The weights panel: for the selected layer (`[`/`]`), a histogram of its
//! weight values and of its units' incoming-weight norms; for every layer,
//! its weight norm, gradient norm, update ratio, dead or saturated units
//! and activation spread; and each layer's gradient norm over time on a log
//! axis — the vanishing-gradient picture (the first layer's curve far below
//! the last's).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Sparkline, Widget};

use super::{Panel, ellipsize};
use crate::nn::stats::{Histogram, LayerKind};
use crate::tui::app::App;

/// A histogram as a one-line sparkline with its range written under it.
fn histogram(title: &str, h: &Histogram, area: Rect, buf: &mut Buffer) {
    if area.height < 3 {
        return;
    }
    let [head, bars, range] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1), Constraint::Length(1)]).areas(area);
    Line::from(ellipsize(title, head.width as usize)).dark_gray().render(head, buf);
    let counts: Vec<u64> = h.counts.iter().map(|&c| c as u64).collect();
    Sparkline::default().data(&counts).style(Style::default().fg(Color::Magenta)).render(bars, buf);
    Line::from(format!("{:.3} … {:.3}", h.lo, h.hi)).dark_gray().render(range, buf);
}

/// A measured number, or a dash where the source does not have it.
fn shown(x: f32, fmt: impl Fn(f32) -> String) -> String {
    if x.is_finite() { fmt(x) } else { "–".into() }
}

const LAYER_COLORS: [Color; 6] = [Color::Red, Color::Yellow, Color::Green, Color::Cyan, Color::Blue, Color::Magenta];

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let block = Block::bordered().title(Line::from(format!("{}  [ ] layer", Panel::Weights.title())).bold());
    let Some(stats) = &app.run.stats else {
        let text = if app.run.external {
            "not available for this run: its log has no weight histograms"
        } else {
            "layer statistics arrive after the first steps…"
        };
        Paragraph::new(text).dark_gray().block(block).render(area, buf);
        return;
    };
    let inner = block.inner(area);
    block.render(area, buf);
    let [left, right] = Layout::horizontal([Constraint::Min(58), Constraint::Percentage(35)]).areas(inner);
    let l = app.layer.min(stats.layers.len().saturating_sub(1));
    let sel = &stats.layers[l];
    let table_rows = stats.layers.len() as u16 + 2;
    let [hists, table] = Layout::vertical([Constraint::Min(3), Constraint::Length(table_rows)]).areas(left);
    let [h1, h2] = Layout::horizontal([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).areas(hists);
    let convs = stats.layers.iter().filter(|s| s.kind == LayerKind::Conv).count();
    let name = if let Some(tag) = &sel.name {
        tag.clone()
    } else if sel.kind == LayerKind::Conv {
        format!("conv {}, filters", l + 1)
    } else if l + 1 == stats.layers.len() {
        "output".to_string()
    } else {
        format!("hidden {}", l + 1 - convs)
    };
    let shape = if sel.fan_in > 0 { format!(", {}→{}", sel.fan_in, sel.fan_out) } else { String::new() };
    histogram(&format!("layer {l} ({name}{shape}) weights"), &sel.weights, h1, buf);
    histogram("per-unit |w| norms", &sel.unit_norms, h2.inner(ratatui::layout::Margin::new(1, 0)), buf);
    // The activations' spread is the first column to go on a narrow panel.
    let with_act = table.width >= 51;
    let head = if with_act {
        "layer   |w|   |grad|   Δw/w   dead/sat   act μ±σ"
    } else {
        "layer   |w|   |grad|   Δw/w   dead/sat"
    };
    let mut lines = vec![Line::from(head).dark_gray()];
    for (i, s) in stats.layers.iter().enumerate() {
        let units = match (s.dead_fraction, s.saturated_fraction) {
            (Some(d), _) => format!("{:>4.0}% dead", d * 100.0),
            (_, Some(sat)) => format!("{:>4.0}% sat ", sat * 100.0),
            _ => "     -    ".to_string(),
        };
        let mark = if i == l { "▶" } else { " " };
        let color = LAYER_COLORS[i % LAYER_COLORS.len()];
        lines.push(Line::from(vec![
            Span::styled(format!("{mark}{i:<4}"), Style::default().fg(color)),
            Span::raw(format!(
                "{:>6} {:>7} {:>7} {units}",
                shown(s.weight_norm, |x| format!("{x:.1}")),
                shown(s.grad_norm, |x| format!("{x:.1e}")),
                shown(s.update_ratio, |x| format!("{x:.1e}"))
            )),
            Span::raw(if !with_act {
                String::new()
            } else if s.act_mean.is_finite() {
                format!(" {:>5.2}±{:<5.2}", s.act_mean, s.act_std)
            } else {
                "   –".into()
            }),
        ]));
    }
    Paragraph::new(lines).render(table, buf);

    // Gradient norm per layer over time, log10.
    let curves: Vec<Vec<(f64, f64)>> = app
        .run
        .layer_norms
        .iter()
        .map(|(_, g)| g.points().iter().filter(|p| p.1 > 0.0).map(|&(x, y)| (x, y.log10())).collect())
        .collect();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in curves.iter().flatten() {
        lo = lo.min(p.1);
        hi = hi.max(p.1);
    }
    if !lo.is_finite() {
        return;
    }
    let (lo, hi) = (lo.floor(), hi.ceil().max(lo.floor() + 1.0));
    let x_max = app.run.step_to_x(app.run.step).max(1e-3);
    let names: Vec<String> = (0..curves.len()).map(|i| format!("L{i}")).collect();
    let datasets: Vec<Dataset> = curves
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Dataset::default()
                .name(names[i].clone())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(LAYER_COLORS[i % LAYER_COLORS.len()])
                .data(c)
        })
        .collect();
    let exp = |v: f64| Line::from(format!("1e{v:.0}"));
    Chart::new(datasets)
        .block(Block::new().title(Line::from(ellipsize(" gradient norm per layer", right.width as usize)).dark_gray()))
        .x_axis(Axis::default().bounds([0.0, x_max]))
        .y_axis(Axis::default().bounds([lo, hi]).labels([exp(lo), exp(hi)]))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)))
        .render(right, buf);
}
