//! The accuracy chart: training accuracy as trained (per step), training
//! accuracy in eval mode and validation accuracy (per epoch).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::LegendPosition;

use super::Panel;
use super::chart::MetricPanel;
use crate::tui::app::App;

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    MetricPanel {
        title: Panel::Accuracy.title(),
        steps: &app.run.train_acc,
        ghost_steps: |g| &g.train_acc,
        pick: |e| (e.train_acc_eval, e.val_acc),
        floor: 0.0,
        ceil: Some(1.0),
        fmt: |v| format!("{:.0}%", v * 100.0),
        legend: LegendPosition::BottomRight,
        band: true,
        loggable: false,
    }
    .render(app, area, buf);
}
