//! The controls panel: the live hyperparameters (the learning rate as the
//! trainer confirmed it, and where a key press has asked it to go), the last
//! change, the latest epoch's numbers, and the summary or failure.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget, Wrap};

use crate::tui::app::{App, Status};

fn value(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(x) => format!("{x}"),
        None => v.to_string(),
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let p = &app.preset;
    let lr = if app.lr_requested != app.lr {
        format!("{:.1e} → {:.1e}", app.lr, app.lr_requested)
    } else {
        format!("{:.1e}", app.lr)
    };
    let key = |k: &str| Span::raw(format!("{k} ")).dark_gray();
    let settings = Line::from(vec![
        key("lr"),
        Span::raw(lr).bold(),
        Span::raw("  "),
        key("hidden"),
        Span::raw(format!("{:?}", p.hidden)),
        Span::raw("  "),
        key("act"),
        Span::raw(p.activation.label()),
        Span::raw("  "),
        key("opt"),
        Span::raw(p.optimizer.label()),
        Span::raw("  "),
        key("batch"),
        Span::raw(p.batch_size.to_string()),
        Span::raw("  "),
        key("dropout"),
        Span::raw(format!("{}", p.dropout)),
        Span::raw("  "),
        key("l2"),
        Span::raw(format!("{}", p.l2)),
    ]);
    let latest = match (app.epochs.last(), app.best_epoch()) {
        (Some(e), Some(b)) => format!(
            "epoch {}: train loss {:.3}  val loss {:.3}  val acc {:.2}%  (best {:.2}% at epoch {})",
            e.epoch,
            e.train_loss,
            e.val_loss,
            e.val_acc * 100.0,
            b.val_acc * 100.0,
            b.epoch
        ),
        _ => "no epoch finished yet".into(),
    };
    let change = match app.changes.last() {
        Some(c) => {
            format!("last change: {} {}→{} at epoch {:.2}", c.key, value(&c.from), value(&c.to), app.step_to_x(c.step))
        }
        None => "no changes yet: + / - change the learning rate".into(),
    };
    let outcome = match (&app.status, &app.summary) {
        (Status::Failed(message), _) => Line::from(message.clone()).fg(Color::Red),
        (_, Some(s)) => Line::from(format!(
            "done: test accuracy {:.2}% (held-out test set, evaluated once), best validation {:.2}% at epoch {}",
            s.test_acc * 100.0,
            s.best_val_acc * 100.0,
            s.best_epoch
        ))
        .fg(Color::Cyan),
        _ => match &app.notice {
            Some(n) => Line::from(n.clone()).fg(Color::Yellow),
            None => Line::from(change).dark_gray(),
        },
    };
    Paragraph::new(vec![settings, Line::from(latest), outcome])
        .wrap(Wrap { trim: true })
        .block(Block::bordered().title(Line::from("Controls").bold()))
        .render(area, buf);
}
