//! The "is it overfitting?" checklist in Lee's order: step 1 (does it learn
//! the training data?) before step 2 (is validation good?), each with ✓, ✗
//! or … and its live evidence; the verdict; the findings with their
//! evidence; and, opened with `c`, the remedies to apply with Enter. After
//! a remedy it reports the measured effect since. On a small screen
//! [`render_strip`] shows the verdict and its first finding in four rows.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget};

use super::Panel;

use crate::diagnose::{Mark, Severity, Verdict};
use crate::tui::app::App;
use crate::tui::keymap::{Action, Context, key, key_of};

fn mark(m: Mark) -> Span<'static> {
    match m {
        Mark::Pass => Span::styled("✓", Style::default().fg(Color::Green).bold()),
        Mark::Fail => Span::styled("✗", Style::default().fg(Color::Red).bold()),
        Mark::Pending => Span::styled("…", Style::default().fg(Color::DarkGray)),
    }
}

fn verdict(v: Verdict) -> Span<'static> {
    let (text, color) = match v {
        Verdict::Healthy => ("healthy", Color::Green),
        Verdict::Underfitting => ("underfitting", Color::Yellow),
        Verdict::Overfitting => ("overfitting", Color::Red),
        Verdict::Diverging => ("diverging", Color::Red),
        Verdict::Stalled => ("stalled", Color::Red),
        Verdict::TooEarly => ("too early to tell", Color::DarkGray),
        Verdict::Mismatch => ("train/eval mismatch", Color::Red),
    };
    Span::styled(text, Style::default().fg(color).bold())
}

/// A finding's id as people read it ("overfitting gap").
fn finding_name(id: crate::diagnose::FindingId) -> String {
    id.as_str().replace('_', " ")
}

/// The border title: the question, the verdict (since when), and the keys.
fn title(app: &App, room: usize) -> Line<'static> {
    let d = app.run.diagnosis();
    let open = app.remedy.is_some();
    let since = match d.since.or(app.run.verdict_since()) {
        Some(e) if d.verdict != Verdict::TooEarly => format!(" since epoch {e}"),
        _ => String::new(),
    };
    let mut line = Line::from(vec![
        Span::raw(format!("{}  ", Panel::Checklist.title())).bold(),
        verdict(d.verdict),
        Span::raw(d.borderline_words()).yellow(),
        Span::raw(since).dark_gray(),
    ]);
    // The keys go whole or not at all ("c…" would say nothing).
    let keys: Vec<String> = if open {
        let k = |a: Action| key_of(a, Context::Checklist);
        let (up, down, enter, t, esc) =
            (k(Action::Up), k(Action::Down), k(Action::Choose), k(Action::TryBranch), k(Action::Close));
        vec![
            format!("   {up}/{down} pick a remedy · {enter} apply · {t} side by side · {esc} close "),
            format!("   {up}/{down} pick a remedy · {enter} apply · {esc} close "),
            format!("  {up}/{down} · {enter} apply · {esc} close "),
            format!(" {up}/{down} {enter} {esc} "),
        ]
    } else {
        vec![format!("   {}: remedies ", key(Action::Checklist))]
    };
    if let Some(k) = keys.into_iter().find(|k| line.width() + super::width(k) <= room) {
        line.spans.push(Span::raw(k).dark_gray());
    }
    super::fit_line(line, room)
}

/// The verdict and the findings, worst first, each with its remedies, then
/// the two steps, in a bordered strip of any height: one row each, as many
/// as fit (four rows show the verdict and the first finding).
pub fn render_strip(app: &App, area: Rect, buf: &mut Buffer) {
    let d = app.run.diagnosis();
    let block = Block::bordered().title(title(app, area.width.saturating_sub(2) as usize));
    let inner = block.inner(area);
    block.render(area, buf);
    let mut lines: Vec<Line<'static>> = fork_brief(app).into_iter().collect();
    for f in &d.findings {
        lines.push(Line::from(vec![
            Span::styled(format!("• {} ", finding_name(f.id)), Style::default().fg(severity_color(f.severity)).bold()),
            Span::raw(f.evidence.clone()),
        ]));
        if !f.remedies.is_empty() {
            let all: Vec<&str> = f.remedies.iter().map(|r| r.label).collect();
            lines.push(Line::from(format!("  → {}", all.join(" · "))).fg(Color::Cyan));
        }
    }
    // Then the steps, for the rows a finding leaves.
    if !app.run.external {
        lines.push(Line::from(vec![
            mark(d.preflight.mark),
            Span::raw(" 0 ").bold(),
            Span::raw(d.preflight.evidence.clone()),
        ]));
    }
    for (n, (m, evidence)) in d.steps.iter().enumerate() {
        lines.push(Line::from(vec![mark(*m), Span::raw(format!(" {} ", n + 1)).bold(), Span::raw(evidence.clone())]));
    }
    let room = inner.width as usize;
    Paragraph::new(lines.into_iter().map(|l| super::fit_line(l, room)).collect::<Vec<_>>()).render(inner, buf);
}

/// The fork in one row: its branch and the effect at equal steps in
/// short, or that its first epoch is next (the keys are in Controls).
pub fn fork_brief(app: &App) -> Option<Line<'static>> {
    let f = app.run.fork.as_ref()?;
    let text = match app.fork_effect() {
        Some(fx) => fx.brief(&f.branch),
        None => format!("{} beside the run since epoch {}: its first epoch is next", f.branch, f.at_epoch),
    };
    Some(Line::from(vec![Span::raw("fork ").fg(Color::LightMagenta).bold(), Span::raw(text).fg(Color::LightMagenta)]))
}

/// The fork in full: the effect at equal steps against the run's noise,
/// the branch's rollbacks, whether the epochs asked for are done, the keys.
pub fn fork_lines(app: &App) -> Vec<Line<'static>> {
    let Some(f) = app.run.fork.as_ref() else { return Vec::new() };
    // Computed once a frame: it scans the ghosts for seeds of the same settings.
    let fx = app.fork_effect();
    let head = match fx {
        Some(fx) => format!("{}, {}: {}", f.branch, fx.epochs_words(), fx.loss_words()),
        None => format!("{} beside the run since epoch {}: its first epoch is next", f.branch, f.at_epoch),
    };
    let mut tail = fx.map(|fx| fx.acc_words()).unwrap_or_default();
    if f.rollbacks > 0 {
        tail.push_str(&format!(" · {} rollback(s) on the branch", f.rollbacks));
    }
    let done = if f.due() { " · done" } else { "" };
    vec![
        Line::from(vec![Span::raw("fork ").fg(Color::LightMagenta).bold(), Span::raw(head).fg(Color::LightMagenta)]),
        Line::from(vec![
            Span::raw(format!("     {tail}{done}")).fg(Color::LightMagenta),
            Span::raw(format!("  {} keep · {} drop", key(Action::KeepBranch), key(Action::DropBranch))).cyan(),
        ]),
    ]
}

fn severity_color(s: Severity) -> Color {
    match s {
        Severity::Bad => Color::Red,
        Severity::Warn => Color::Yellow,
        Severity::Info => Color::Green,
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let d = app.run.diagnosis();
    let open = app.remedy.is_some();
    // Step 0 needs the trainer's own measurements: a run trained elsewhere has none.
    let step0 = if app.run.external {
        Line::from(vec![
            Span::styled("–", Style::default().fg(Color::DarkGray)),
            Span::raw(" 0 Pre-flight  ").bold(),
            Span::raw("not available for this run: its log has no inputs, initial loss or layer statistics")
                .dark_gray(),
        ])
    } else {
        Line::from(vec![
            mark(d.preflight.mark),
            Span::raw(" 0 Pre-flight: inputs, the loss at start, the classes  ").bold(),
            Span::raw(d.preflight.evidence.clone()),
        ])
    };
    let mut lines = vec![
        step0,
        Line::from(vec![
            mark(d.steps[0].0),
            Span::raw(" 1 Does it learn the training data?  ").bold(),
            Span::raw(d.steps[0].1.clone()),
        ]),
    ];
    if let Some(probe) = &d.probe {
        lines.push(Line::from(vec![
            Span::raw("   "),
            mark(probe.mark),
            Span::raw(" probe: can it fit one batch?  ").bold(),
            Span::raw(probe.evidence.clone()),
        ]));
    }
    lines.push(Line::from(vec![
        mark(d.steps[1].0),
        Span::raw(" 2 Only then: is validation good?  ").bold(),
        Span::raw(d.steps[1].1.clone()),
    ]));
    lines.extend(fork_lines(app));
    if let (Some(a), Some(now)) = (&app.applied, app.run.epochs.last()) {
        let text = if now.epoch > a.epoch {
            format!(
                "since {} at epoch {}: val loss {:.3} → {:.3}, val acc {:.1}% → {:.1}%",
                a.label,
                a.epoch,
                a.val_loss,
                now.val_loss,
                a.val_acc * 100.0,
                now.val_acc * 100.0
            )
        } else {
            format!("{} applied at epoch {}: its effect shows at the next epoch", a.label, a.epoch)
        };
        lines.push(Line::from(text).fg(Color::Cyan));
    }
    for f in &d.findings {
        lines.push(Line::from(vec![
            Span::styled(format!("• {} ", finding_name(f.id)), Style::default().fg(severity_color(f.severity)).bold()),
            Span::raw(f.evidence.clone()),
        ]));
        if !f.remedies.is_empty() && !open {
            let all: Vec<&str> = f.remedies.iter().map(|r| r.label).collect();
            lines.push(Line::from(format!("    → {}", all.join(" · "))).fg(Color::Cyan));
        }
    }
    // The remedies as they were when the list opened: what Enter applies.
    if let Some(list) = &app.remedy {
        lines.push(
            Line::from(format!(
                "Remedies ({} applies the highlighted one, {} tries it side by side):",
                key_of(Action::Choose, Context::Checklist),
                key_of(Action::TryBranch, Context::Checklist)
            ))
            .bold(),
        );
        if list.remedies.is_empty() {
            lines.push(Line::from("    none: nothing to fix").dark_gray());
        }
        for (k, r) in list.remedies.iter().enumerate() {
            let style = if k == list.selected {
                Style::default().fg(Color::Black).bg(Color::Cyan)
            } else {
                Style::default().fg(Color::Cyan)
            };
            lines.push(Line::from(vec![Span::raw("    "), Span::styled(format!("→ {}", r.label), style)]));
        }
    }
    let block = Block::bordered().title(title(app, area.width.saturating_sub(2) as usize));
    let inner = block.inner(area);
    block.render(area, buf);
    super::fit_paragraph(lines, inner).render(inner, buf);
}
