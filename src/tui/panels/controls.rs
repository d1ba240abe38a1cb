//! The controls panel: every live hyperparameter beside its key (written
//! from the key table), as the trainer confirmed it and, while a key press
//! waits for the trainer, where it asked it to go (`confirmed → requested`),
//! the latest epoch, and the last change, the trainer's latest notice, or
//! the summary.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Widget};

use super::Panel;

use crate::preset::Preset;
use crate::run::RunState;
use crate::settings::{hidden_name, optimizer_name, short_float};
use crate::tui::app::{App, Mode, PACES};
use crate::tui::keymap::{Action, key, keys};

/// The bridge keys the loop obeys, as the Controls line says them (all four
/// until the loop's start line says otherwise).
fn bridge_keys(status: Option<&crate::ingest::BridgeStatus>) -> String {
    let all = crate::ingest::BridgeStatus::default();
    let status = status.unwrap_or(&all);
    let keys: Vec<String> = [
        ("scale_lr", format!("{} learning rate ×2/÷2", keys(Action::LrUp, Action::LrDown))),
        ("pause", format!("{} pause/resume", key(Action::TogglePause))),
        ("save", format!("{} save", key(Action::SaveCheckpoint))),
        ("stop", format!("{} stop", key(Action::StopExternal))),
    ]
    .into_iter()
    .filter(|(command, _)| status.obeys(command))
    .map(|(_, words)| words)
    .collect();
    if keys.is_empty() {
        return "through the fitcheck bridge: its loop obeys none of the keys".into();
    }
    format!("through the fitcheck bridge: {}", keys.join(" · "))
}

/// Controls of a run trained elsewhere or recorded: what the keys can do there.
fn render_not_live(app: &App, area: Rect, buf: &mut Buffer) -> bool {
    let (what, keys) = match &app.mode {
        Mode::Live => return false,
        Mode::Watch { bridge: true, paused, lr_scale, loop_status, .. } => (
            format!(
                "trained elsewhere{}{}: {}",
                if *paused { " · paused" } else { "" },
                if *lr_scale == 1.0 { String::new() } else { format!(" · lr ×{lr_scale} of the script's") },
                from_the_log(app)
            ),
            bridge_keys(loop_status.as_ref()),
        ),
        Mode::Watch { bridge: false, .. } => (
            format!("trained elsewhere: {}", from_the_log(app)),
            "live control: not available for this run (it needs a loop logging through the fitcheck bridge)"
                .to_string(),
        ),
        Mode::Replay(r) if r.following() => (
            format!("a run in progress, from its log: epoch {}, following the newest", r.ends.len()),
            format!(
                "{}/{} go back in time · {}/{} return to the newest · nothing trains here",
                key(Action::EpochBack),
                key(Action::FirstEpoch),
                key(Action::EpochForward),
                key(Action::LastEpoch)
            ),
        ),
        Mode::Replay(r) => (
            format!("replay of a recorded run: epoch {} of {}", r.shown, r.ends.len()),
            format!(
                "{} one epoch back / forward · {} the first / the last · nothing trains",
                keys(Action::EpochBack, Action::EpochForward),
                keys(Action::FirstEpoch, Action::LastEpoch)
            ),
        ),
    };
    let latest = match app.run.epochs.last() {
        Some(e) => format!(
            "epoch {}: train loss {}  val loss {}  val acc {}",
            e.epoch,
            num(e.train_loss, 3),
            num(e.val_loss, 3),
            if e.val_acc.is_finite() { format!("{:.2}%", e.val_acc * 100.0) } else { "–".into() }
        ),
        None => "no epoch yet".into(),
    };
    let notice = app.notice.clone().unwrap_or_default();
    let lines = vec![
        Line::from(what).bold(),
        Line::from(keys).cyan(),
        Line::from(latest),
        Line::from(notice).fg(Color::Yellow),
    ];
    let block = Block::bordered().title(Line::from(Panel::Controls.title()).bold());
    let inner = block.inner(area);
    block.render(area, buf);
    super::fit_paragraph(lines, inner).render(inner, buf);
    true
}

/// The settings a run trained elsewhere recorded (Lightning's
/// `hparams.yaml`, the hparams plugin, MLflow params, the Trainer's batch
/// size), the ones the checklist reads first; or that none are known.
fn from_the_log(app: &App) -> String {
    let Some(h) = app.run.info.as_ref().map(|i| &i.hparams).filter(|h| !h.is_empty()) else {
        return "its settings are not known here".into();
    };
    const FIRST: [&str; 8] =
        ["lr", "learning_rate", "optimizer", "batch_size", "weight_decay", "epochs", "dropout", "hidden"];
    let rank = |k: &str| FIRST.iter().position(|f| k.to_ascii_lowercase().ends_with(f)).unwrap_or(FIRST.len());
    let mut pairs: Vec<(&String, &String)> = h.iter().collect();
    pairs.sort_by_key(|(k, _)| rank(k));
    let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!("from the log: {}", shown.join(" · "))
}

/// A number with `digits` decimals, or a dash when the log lacks it.
fn num(x: f32, digits: usize) -> String {
    if x.is_finite() { format!("{x:.digits$}") } else { "–".into() }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    if render_not_live(app, area, buf) {
        return;
    }
    let p = &app.run.settings;
    let requested = app.settings_requested();
    // A value as confirmed, or `confirmed → requested` while a key's
    // change waits for the trainer.
    let value = |show: &dyn Fn(&Preset) -> String| {
        let (now, want) = (show(p), show(&requested));
        if now == want { now } else { format!("{now} → {want}") }
    };
    let item = |key: String, name: &'static str, value: String| {
        vec![Span::raw(format!("{name} ")).dark_gray(), Span::raw(value).bold(), Span::raw(format!(" {key}  ")).cyan()]
    };
    let early = |p: &Preset| match p.early_stopping {
        Some(e) => format!("on, patience {}", e.patience),
        None => "off".into(),
    };
    let mut settings: Vec<Span> = Vec::new();
    settings.extend(item(keys(Action::LrUp, Action::LrDown), "lr", value(&|p| short_float(p.lr))));
    settings.extend(item(keys(Action::RemoveLayer, Action::AddLayer), "hidden", value(&|p| hidden_name(&p.hidden))));
    settings.extend(item(key(Action::NextActivation).into(), "act", value(&|p| p.activation.label().into())));
    settings.extend(item(key(Action::NextOptimizer).into(), "opt", value(&|p| optimizer_name(p.optimizer))));
    let mut regul: Vec<Span> = Vec::new();
    regul.extend(item(
        keys(Action::DropoutUp, Action::DropoutDown),
        "dropout",
        value(&|p| format!("{:.1}", p.dropout)),
    ));
    regul.extend(item(keys(Action::L2Up, Action::L2Down), "L2", value(&|p| short_float(p.l2))));
    regul.extend(item(key(Action::ToggleEarlyStopping).into(), "early stop", value(&early)));
    regul.push(Span::raw(format!("batch {}", p.batch_size)).dark_gray());
    if let Some(pace) = PACES[app.pace] {
        regul.push(Span::raw(format!("  pace {pace} steps/s {}", keys(Action::Slower, Action::Faster))).yellow());
    }
    let latest = match (app.run.epochs.last(), app.run.best_epoch()) {
        (Some(e), Some(b)) => format!(
            "epoch {}: train loss {:.3}  val loss {:.3}  val acc {:.2}%  (best {:.2}% at epoch {}){}",
            e.epoch,
            e.train_loss,
            e.val_loss,
            e.val_acc * 100.0,
            b.val_acc * 100.0,
            b.epoch,
            if !app.run.rollbacks.is_empty() {
                format!("  · {} rollback(s)", app.run.rollbacks.len())
            } else {
                String::new()
            }
        ),
        _ => "no epoch finished yet".into(),
    };
    let change = match app.run.changes.last() {
        Some(c) => {
            let note = c.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            format!("last change: {} at epoch {:.2}{note}", c.label(), app.run.step_to_x(c.step))
        }
        None => "changes apply at the next minibatch and are marked on the charts".into(),
    };
    // The newest message wins: a notice (the last key's answer, or the
    // run's since its summary) over the summary, the summary over the last change.
    let notice = app.notice.as_ref().or(app.run.notice.as_ref());
    let outcome = match (&app.run.state, &app.run.summary) {
        (RunState::Failed(message), _) => Line::from(message.clone()).fg(Color::Red),
        (_, _) if notice.is_some() => Line::from(notice.cloned().unwrap_or_default()).fg(Color::Yellow),
        (_, Some(s)) => {
            let test = match s.test_acc {
                Some(t) => format!("test accuracy {:.2}% (held-out test set, evaluated once)", t * 100.0),
                None => "no test pass (interrupted)".into(),
            };
            Line::from(format!(
                "{}: {test}; best validation {:.2}% at epoch {}  · {}: more epochs · {} restarts",
                app.run.state.label(),
                s.best_val_acc * 100.0,
                s.best_epoch,
                key(Action::TogglePause),
                key(Action::Restart)
            ))
            .fg(Color::Cyan)
        }
        _ => Line::from(change).dark_gray(),
    };
    let block = Block::bordered().title(Line::from(Panel::Controls.title()).bold());
    let inner = block.inner(area);
    block.render(area, buf);
    // Wrapped when it fits, else one row a line ending in `…`: the settings
    // and the latest epoch first, never a half-shown last line.
    // A fork: the effect at equal steps and the keys take the last rows.
    let fork = super::checklist::fork_lines(app);
    let lines = if fork.is_empty() {
        vec![Line::from(settings), Line::from(regul), Line::from(latest), outcome]
    } else {
        [vec![Line::from(settings), Line::from(regul)], fork].concat()
    };
    super::fit_paragraph(lines, inner).render(inner, buf);
}
