//! The dropout panel: the training loss with dropout (as trained) against
//! the same samples without it (eval mode), the generalization gap
//! (validation − training in eval mode) over the epochs, the current rate,
//! and, after the rate changed, the gap before and after.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Widget};

use super::{Panel, ellipsize, fit_line};
use crate::tui::app::App;
use crate::tui::keymap::{Action, keys};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let rate = app.run.settings.dropout;
    let kind = if app.run.settings.activation == crate::nn::Activation::Selu { "AlphaDropout" } else { "dropout" };
    let title = if app.run.external {
        format!("{}  dropout not known for this run (trained elsewhere)", Panel::Dropout.title())
    } else {
        format!(
            "{}  {kind} {rate:.1} on {} hidden layer(s)  {}",
            Panel::Dropout.title(),
            app.run.settings.hidden.len(),
            keys(Action::DropoutUp, Action::DropoutDown)
        )
    };
    let block = Block::bordered().title(Line::from(ellipsize(&title, area.width.saturating_sub(2) as usize)).bold());
    if app.run.epochs.is_empty() {
        Paragraph::new("the effect shows after the first epoch…").dark_gray().block(block).render(area, buf);
        return;
    }
    let inner = block.inner(area);
    block.render(area, buf);
    let rows = if app.run.epochs.last().is_some_and(|e| e.noise_memorized.is_some()) { 4 } else { 3 };
    let [text, chart] = Layout::vertical([Constraint::Length(rows), Constraint::Min(3)]).areas(inner);
    let last = app.run.epochs.last().expect("checked above");
    let cost = last.train_loss - last.train_loss_eval;
    let gap = last.val_loss - last.train_loss_eval;
    let mut lines = vec![
        Line::from(format!(
            "epoch {}: train loss {:.3} with dropout, {:.3} without ({:+.3});  gap val − train {:.3}",
            last.epoch, last.train_loss, last.train_loss_eval, cost, gap
        )),
        Line::from(format!(
            "accuracy: train {:.1}% (eval), val {:.1}%: {:.1} points apart",
            last.train_acc_eval * 100.0,
            last.val_acc * 100.0,
            (last.train_acc_eval - last.val_acc) * 100.0
        )),
    ];
    if let Some(m) = last.noise_memorized {
        lines.push(
            Line::from(format!(
                "memorized noise: the net gives {:.1}% of the relabelled training samples their wrong label",
                m * 100.0
            ))
            .fg(Color::Magenta),
        );
    }
    // Before/after the last dropout change: the gap at the epochs around it.
    if let Some(c) = app.run.changes.iter().rev().find(|c| c.key() == crate::settings::SettingKey::Dropout) {
        let at = app.run.step_to_x(c.step);
        let before = app.run.epochs.iter().rev().find(|e| (e.epoch as f64) <= at);
        let after = app.run.epochs.iter().rev().find(|e| (e.epoch as f64) > at);
        let line = match (before, after) {
            (Some(b), Some(a)) => format!(
                "since dropout {}→{} at epoch {at:.1}: gap {:.3} → {:.3}, val acc {:.1}% → {:.1}%",
                c.from.value_label(),
                c.to.value_label(),
                b.val_loss - b.train_loss_eval,
                a.val_loss - a.train_loss_eval,
                b.val_acc * 100.0,
                a.val_acc * 100.0
            ),
            _ => format!(
                "dropout {}→{} at epoch {at:.1}: its effect shows at the next epoch",
                c.from.value_label(),
                c.to.value_label()
            ),
        };
        lines.push(Line::from(line).fg(Color::Yellow));
    }
    let room = text.width as usize;
    Paragraph::new(lines.into_iter().map(|l| fit_line(l, room)).collect::<Vec<_>>()).render(text, buf);
    let pts = |f: fn(&crate::protocol::EpochMetrics) -> f32| -> Vec<(f64, f64)> {
        app.run.epochs.iter().map(|e| (e.epoch as f64, f(e) as f64)).collect()
    };
    let with = pts(|e| e.train_loss);
    let without = pts(|e| e.train_loss_eval);
    let gaps = pts(|e| e.val_loss - e.train_loss_eval);
    // With label noise: the share of wrong labels the net reproduces (0..1),
    // the ground truth of memorizing.
    let memorized: Vec<(f64, f64)> =
        app.run.epochs.iter().filter_map(|e| e.noise_memorized.map(|m| (e.epoch as f64, m as f64))).collect();
    let all = with.iter().chain(&without).chain(&gaps).chain(&memorized).map(|p| p.1);
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| (l.min(y), h.max(y)));
    let (lo, hi) = (lo.min(0.0), hi.max(lo + 1e-3) * 1.05);
    let n = app.run.epochs.len() as f64;
    // Names of one width: the legend does not clear the rest of a row.
    fn line<'a>(name: &'static str, data: &'a [(f64, f64)], color: Color) -> Dataset<'a> {
        let name = format!("{name:<18}");
        Dataset::default().name(name).marker(Marker::Braille).graph_type(GraphType::Line).style(color).data(data)
    }
    let mut datasets = vec![
        line("train, dropout on", &with, Color::Cyan),
        line("train, dropout off", &without, Color::Blue),
        line("gap val−train", &gaps, Color::Red),
    ];
    if !memorized.is_empty() {
        datasets.push(line("noise memorized", &memorized, Color::Magenta));
    }
    Chart::new(datasets)
        .x_axis(Axis::default().bounds([1.0, n.max(2.0)]))
        .y_axis(
            Axis::default().bounds([lo, hi]).labels([Line::from(format!("{lo:.2}")), Line::from(format!("{hi:.2}"))]),
        )
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)))
        .render(chart, buf);
}
