//! The controls panel: every live hyperparameter beside its key (the
//! learning rate as the trainer confirmed it, and where a key press has
//! asked it to go), the latest epoch, and the last change, the trainer's
//! latest notice, or the summary.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget, Wrap};

use super::chart::change_label;
use crate::tui::app::{App, Status};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let p = &app.preset;
    let lr = if app.lr_requested != app.lr {
        format!("{:.1e} → {:.1e}", app.lr, app.lr_requested)
    } else {
        format!("{:.1e}", app.lr)
    };
    let item = |key: &'static str, name: &'static str, value: String| {
        vec![Span::raw(format!("{name} ")).dark_gray(), Span::raw(value).bold(), Span::raw(format!(" {key}  ")).cyan()]
    };
    let early = match p.early_stopping {
        Some(e) => format!("patience {}", e.patience),
        None => "off".into(),
    };
    let mut settings: Vec<Span> = Vec::new();
    settings.extend(item("+/-", "lr", lr));
    settings.extend(item("</>", "hidden", format!("{:?}", p.hidden)));
    settings.extend(item("a", "act", p.activation.label().into()));
    settings.extend(item("o", "opt", p.optimizer.label()));
    let mut regul: Vec<Span> = Vec::new();
    regul.extend(item("d/D", "dropout", format!("{:.1}", p.dropout)));
    regul.extend(item("l/L", "L2", format!("{}", p.l2)));
    regul.extend(item("e", "early stop", early));
    regul.push(Span::raw(format!("batch {}", p.batch_size)).dark_gray());
    let latest = match (app.epochs.last(), app.best_epoch()) {
        (Some(e), Some(b)) => format!(
            "epoch {}: train loss {:.3}  val loss {:.3}  val acc {:.2}%  (best {:.2}% at epoch {}){}",
            e.epoch,
            e.train_loss,
            e.val_loss,
            e.val_acc * 100.0,
            b.val_acc * 100.0,
            b.epoch,
            if app.rollbacks > 0 { format!("  · {} rollback(s)", app.rollbacks) } else { String::new() }
        ),
        _ => "no epoch finished yet".into(),
    };
    let change = match app.changes.last() {
        Some(c) => {
            let note = c.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            format!("last change: {} at epoch {:.2}{note}", change_label(c), app.step_to_x(c.step))
        }
        None => "changes apply at the next minibatch and are marked on the charts".into(),
    };
    let outcome = match (&app.status, &app.summary) {
        (Status::Failed(message), _) => Line::from(message.clone()).fg(Color::Red),
        (_, Some(s)) => Line::from(format!(
            "done ({:?}): test accuracy {:.2}% (held-out test set, evaluated once), best validation {:.2}% at epoch {}  · r restarts",
            s.stopped,
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
    Paragraph::new(vec![Line::from(settings), Line::from(regul), Line::from(latest), outcome])
        .wrap(Wrap { trim: true })
        .block(Block::bordered().title(Line::from("Controls").bold()))
        .render(area, buf);
}
