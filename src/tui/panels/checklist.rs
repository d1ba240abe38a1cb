//! The "is it overfitting?" panel, in Lee's order: first whether the
//! network learns the training data, then whether validation follows. It
//! shows the live evidence for each step; the verdicts and one-key
//! remedies belong to the diagnosis (`src/diagnose/`, a later issue).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Widget, Wrap};

use crate::tui::app::App;

/// The change of `f` over the last `k` epochs (newest minus oldest).
fn trend(app: &App, k: usize, f: fn(&crate::train::EpochMetrics) -> f32) -> Option<f32> {
    let n = app.epochs.len();
    (n >= 2).then(|| f(&app.epochs[n - 1]) - f(&app.epochs[n.saturating_sub(k + 1)]))
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let block = Block::bordered().title(Line::from("Is it overfitting?").bold());
    let Some(last) = app.epochs.last() else {
        Paragraph::new("1 Does it learn the training data?  … after the first epoch").block(block).render(area, buf);
        return;
    };
    let train_trend =
        trend(app, 3, |e| e.train_loss_eval).map_or(String::new(), |d| format!(", {d:+.3} over 3 epochs"));
    let best = app.epochs.iter().min_by(|a, b| a.val_loss.total_cmp(&b.val_loss)).expect("non-empty");
    let lines = vec![
        Line::from("1 Does it learn the training data?").bold(),
        Line::from(format!(
            "   train acc {:.1}% (eval mode), loss {:.3}{train_trend}",
            last.train_acc_eval * 100.0,
            last.train_loss_eval
        )),
        Line::from("2 Only then: is validation good?").bold(),
        Line::from(format!(
            "   val acc {:.1}%, gap {:.1} points; val loss {:.3} (best {:.3} at epoch {})",
            last.val_acc * 100.0,
            (last.train_acc_eval - last.val_acc) * 100.0,
            last.val_loss,
            best.val_loss,
            best.epoch
        )),
    ];
    Paragraph::new(lines).wrap(Wrap { trim: false }).block(block).render(area, buf);
}
