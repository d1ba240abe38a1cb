//! The loss chart: training loss as trained (per step), training loss in
//! eval mode and validation loss (per epoch), with change markers.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::LegendPosition;

use super::Panel;
use super::chart::MetricPanel;
use crate::tui::app::App;

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    MetricPanel {
        title: Panel::Loss.title(),
        steps: &app.run.train_loss,
        ghost_steps: |g| &g.train_loss,
        pick: |e| (e.train_loss_eval, e.val_loss),
        floor: 0.0,
        ceil: None,
        fmt: super::chart::loss_label,
        legend: LegendPosition::TopRight,
        band: false,
        loggable: true,
    }
    .render(app, area, buf);
}
