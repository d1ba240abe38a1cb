//! The learning-rate range test in the dashboard: its state, fed by the
//! trainer's `RangeTestPoint` / `RangeTestEnd` events, and its keys. `m`
//! (or the learning-rate findings' first remedy, "measure it: range test")
//! asks the trainer to run `train::lr_find` on a copy of the model while
//! the run waits paused; the panel (`panels::range_test`) draws the curve
//! as it comes; `Enter` sets the suggested rate and resumes the run, `Esc`
//! leaves it as it was (and cancels a test still measuring).
//!
//! The test runs on the trainer's thread, so the UI only ever reads events:
//! it stays responsive and shows the progress step by step.

use super::app::{App, Applied, Effect};
use super::keymap::{Action, Context, key_of};
use crate::protocol::{Command, Event};
use crate::settings::Setting;
use crate::train::lr_find::DEFAULT_STEPS;

/// One measured step: the rate and the minibatch's loss, raw and smoothed
/// (`None` when not finite).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RangePoint {
    pub lr: f32,
    pub loss: Option<f32>,
    pub smoothed: Option<f32>,
}

/// How the test ended, and its rates (`None`: too short a curve to say).
#[derive(Clone, Debug, PartialEq)]
pub struct RangeEnd {
    pub steps: usize,
    /// `diverged`, `end` or `cancelled`.
    pub stopped: String,
    pub steepest: Option<f32>,
    pub min_over_10: Option<f32>,
    pub suggested: Option<f32>,
}

/// An open range test.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeTest {
    pub points: Vec<RangePoint>,
    /// Steps the test takes at most.
    pub of: usize,
    pub end: Option<RangeEnd>,
    /// The run was training when the test began: leaving resumes it.
    pub resume: bool,
    /// The learning rate the run had when the test began.
    pub lr_before: f32,
}

impl RangeTest {
    pub fn new(of: usize, resume: bool, lr_before: f32) -> RangeTest {
        RangeTest { points: Vec::new(), of, end: None, resume, lr_before }
    }

    /// Still measuring.
    pub fn running(&self) -> bool {
        self.end.is_none()
    }

    /// The share of the steps measured (1 at the end, also an early one).
    pub fn progress(&self) -> f64 {
        if self.end.is_some() { 1.0 } else { self.points.len() as f64 / self.of.max(1) as f64 }
    }

    /// The rate `Enter` applies, once the test has ended with one: the
    /// suggestion to two significant digits (a measurement this noisy
    /// carries no more; 0.12, not 0.116232).
    pub fn suggestion(&self) -> Option<f32> {
        self.end.as_ref()?.suggested.filter(|r| r.is_finite() && *r > 0.0).map(two_digits)
    }

    /// The lowest smoothed loss so far, and its rate.
    pub fn minimum(&self) -> Option<(f32, f32)> {
        self.points.iter().filter_map(|p| Some((p.lr, p.smoothed?))).min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// `x` to two significant digits.
pub fn two_digits(x: f32) -> f32 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let scale = 10f64.powi(1 - (x.abs() as f64).log10().floor() as i32);
    ((x as f64 * scale).round() / scale) as f32
}

/// The dashboard's range tests: the open one, and how many cancelled ones
/// still have events on their way (they must not feed a newer test).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RangeTests {
    pub open: Option<RangeTest>,
    pub stale: usize,
}

impl RangeTests {
    /// Takes a range-test event; false for any other event.
    pub fn on_event(&mut self, event: &Event) -> bool {
        match event {
            Event::RangeTestPoint { lr, loss, smoothed, of, .. } => {
                if self.stale == 0
                    && let Some(t) = self.open.as_mut().filter(|t| t.running())
                {
                    t.of = *of;
                    t.points.push(RangePoint { lr: *lr, loss: *loss, smoothed: *smoothed });
                }
                true
            }
            Event::RangeTestEnd { steps, stopped, steepest, min_over_10, suggested } => {
                if self.stale > 0 {
                    self.stale -= 1;
                } else if let Some(t) = self.open.as_mut().filter(|t| t.running()) {
                    t.end = Some(RangeEnd {
                        steps: *steps,
                        stopped: stopped.clone(),
                        steepest: *steepest,
                        min_over_10: *min_over_10,
                        suggested: *suggested,
                    });
                }
                true
            }
            _ => false,
        }
    }
}

impl App {
    /// Starts a range test on the live run (nothing for a run trained
    /// elsewhere or recorded: fitcheck has no model of it).
    pub(super) fn start_range_test(&mut self) -> Option<Effect> {
        if self.run.external || !self.run.state.takes_commands() || self.range.open.is_some() {
            return None;
        }
        let resume = matches!(self.run.state, crate::run::RunState::Running | crate::run::RunState::Starting);
        self.range.open = Some(RangeTest::new(DEFAULT_STEPS, resume, self.run.settings.lr));
        (self.remedy, self.zoom) = (None, None);
        Some(Effect::Send(Command::RangeTest { steps: DEFAULT_STEPS }))
    }

    /// The range test's keys: `Enter` applies the suggested rate (once it
    /// is measured), `Esc` leaves (cancelling a test still measuring).
    /// Either way a run that was training trains on.
    pub(super) fn on_range_test(&mut self, action: Action) -> Option<Effect> {
        let test = self.range.open.as_ref()?;
        let mut commands = Vec::new();
        match action {
            Action::Choose => {
                let Some(lr) = test.suggestion() else {
                    let (enter, esc) =
                        (key_of(Action::Choose, Context::RangeTest), key_of(Action::Close, Context::RangeTest));
                    self.notice = Some(if test.running() {
                        format!("still measuring: {enter} applies the rate once the test ends; {esc} cancels")
                    } else {
                        format!("the range test found no rate to suggest (the curve was too short): {esc} leaves")
                    });
                    return None;
                };
                let (lo, hi) = crate::preset::Preset::LR_RANGE;
                let lr = lr.clamp(lo, hi);
                if let Some(last) = self.run.epochs.last() {
                    self.applied = Some(Applied {
                        label: "the range test's learning rate",
                        epoch: last.epoch,
                        val_loss: last.val_loss,
                        val_acc: last.val_acc,
                    });
                }
                self.notice = Some(format!(
                    "learning rate {} → {} (the range test's suggestion)",
                    crate::settings::short_float(self.run.settings.lr),
                    crate::settings::short_float(lr)
                ));
                commands.push(Command::Set(Setting::LearningRate(lr)));
            }
            Action::Close | Action::Quit => {
                if test.running() {
                    self.range.stale += 1;
                    commands.push(Command::CancelRangeTest);
                }
            }
            _ => return None,
        }
        if test.resume && self.run.state.is_training() {
            commands.push(Command::Resume);
        }
        self.range.open = None;
        let effect = match commands.len() {
            0 => None,
            1 => commands.pop().map(Effect::Send),
            _ => Some(Effect::SendAll(commands)),
        };
        // The rate applied is pending until the trainer confirms it.
        self.request(&effect);
        effect
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::RunState;
    use crate::tui::app::Msg;
    use crate::tui::app::tests::{info, preset};
    use ratatui::crossterm::event::{KeyCode, KeyEvent};

    fn live() -> App {
        let mut app = App::new(preset());
        app.update(Msg::Trainer(Event::Start(info())));
        app
    }

    fn key(c: KeyCode) -> Msg {
        Msg::Key(KeyEvent::from(c))
    }

    fn point(step: usize, lr: f32, smoothed: f32) -> Msg {
        Msg::Trainer(Event::RangeTestPoint { step, of: 200, lr, loss: Some(smoothed), smoothed: Some(smoothed) })
    }

    fn end(suggested: Option<f32>) -> Msg {
        Msg::Trainer(Event::RangeTestEnd {
            steps: 3,
            stopped: "diverged".into(),
            steepest: suggested.map(|s| s / 2.0),
            min_over_10: suggested.map(|s| s / 5.0),
            suggested,
        })
    }

    #[test]
    fn rates_are_kept_to_two_significant_digits() {
        assert_eq!(two_digits(0.116232), 0.12);
        assert_eq!(two_digits(0.027049597), 0.027);
        assert_eq!(two_digits(3.0), 3.0);
        assert_eq!(two_digits(1.0e-6), 1.0e-6);
        assert_eq!(two_digits(0.0), 0.0);
        assert!(two_digits(f32::NAN).is_nan());
    }

    #[test]
    fn m_starts_a_range_test_on_the_live_run_and_the_run_waits_paused() {
        let mut app = live();
        assert_eq!(
            app.update(key(KeyCode::Char('m'))),
            Some(Effect::Send(Command::RangeTest { steps: DEFAULT_STEPS }))
        );
        let t = app.range.open.as_ref().expect("open");
        assert!(t.running() && t.resume && t.points.is_empty());
        // The trainer pauses the run for the test.
        app.update(Msg::Trainer(Event::Paused { step: 7 }));
        assert_eq!(app.run.state, RunState::Paused);
        // Live keys do nothing while it is open.
        for c in ['+', 'a', 'r', ' '] {
            assert_eq!(app.update(key(KeyCode::Char(c))), None, "{c}");
        }
        assert!(app.range.open.is_some());
    }

    #[test]
    fn points_fill_the_curve_and_enter_applies_the_suggestion_then_resumes() {
        let mut app = live();
        app.update(key(KeyCode::Char('m')));
        app.update(Msg::Trainer(Event::Paused { step: 7 }));
        for (i, (lr, l)) in [(1e-6, 2.3), (1e-3, 1.0), (1e-1, 9.0)].into_iter().enumerate() {
            app.update(point(i + 1, lr, l));
        }
        let t = app.range.open.as_ref().unwrap();
        assert_eq!(t.points.len(), 3);
        assert!((t.progress() - 3.0 / 200.0).abs() < 1e-12);
        assert_eq!(t.minimum(), Some((1e-3, 1.0)));
        // Enter before the end applies nothing.
        assert_eq!(app.update(key(KeyCode::Enter)), None);
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("still measuring")));
        app.update(end(Some(0.02)));
        assert_eq!(app.range.open.as_ref().unwrap().progress(), 1.0);
        assert_eq!(
            app.update(key(KeyCode::Enter)),
            Some(Effect::SendAll(vec![Command::Set(Setting::LearningRate(0.02)), Command::Resume]))
        );
        assert!(app.range.open.is_none());
        assert_eq!(app.pending.get(crate::settings::SettingKey::LearningRate), Some(&Setting::LearningRate(0.02)));
        // The next `+` builds on the rate asked for.
        assert_eq!(app.update(key(KeyCode::Char('+'))), Some(Effect::Send(Command::Set(Setting::LearningRate(0.04)))));
    }

    #[test]
    fn esc_cancels_a_running_test_and_its_late_events_do_not_feed_the_next() {
        let mut app = live();
        app.update(key(KeyCode::Char('m')));
        app.update(Msg::Trainer(Event::Paused { step: 7 }));
        app.update(point(1, 1e-6, 2.3));
        assert_eq!(
            app.update(key(KeyCode::Esc)),
            Some(Effect::SendAll(vec![Command::CancelRangeTest, Command::Resume]))
        );
        assert!(app.range.open.is_none());
        // A new test at once; the old one's last point and end arrive late.
        app.update(Msg::Trainer(Event::Resumed { step: 7 }));
        app.update(key(KeyCode::Char('m')));
        app.update(point(2, 1e-5, 2.2));
        app.update(end(None));
        let t = app.range.open.as_ref().unwrap();
        assert!(t.running() && t.points.is_empty(), "{t:?}");
        app.update(point(1, 1e-6, 2.3));
        assert_eq!(app.range.open.as_ref().unwrap().points.len(), 1);
    }

    #[test]
    fn a_test_after_the_end_resumes_nothing_and_one_without_a_suggestion_only_closes() {
        let mut app = live();
        app.update(Msg::Trainer(Event::Summary(crate::protocol::Summary {
            epochs: 1,
            best_epoch: 1,
            best_val_acc: 0.9,
            test_acc: Some(0.9),
            test_loss: Some(0.3),
            stopped: crate::protocol::Stopped::Completed,
        })));
        assert!(app.update(key(KeyCode::Char('m'))).is_some());
        assert!(!app.range.open.as_ref().unwrap().resume);
        app.update(end(None));
        assert_eq!(app.update(key(KeyCode::Enter)), None);
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("no rate")));
        assert_eq!(app.update(key(KeyCode::Esc)), None);
        assert!(app.range.open.is_none());
    }

    #[test]
    fn a_run_trained_elsewhere_has_no_range_test() {
        let mut app = App::watching(crate::run::Run::external("torch"), true);
        assert_eq!(app.update(key(KeyCode::Char('m'))), None);
        assert!(app.range.open.is_none());
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("not available")));
    }

    #[test]
    fn the_range_test_remedy_opens_the_test_from_the_checklist() {
        use crate::diagnose::{Action as A, Remedy, remedies::RANGE_TEST};
        let mut app = live();
        app.update(key(KeyCode::Char('c')));
        // As the checklist lists a learning-rate finding's remedies (see
        // diagnose::tests for which findings offer it first).
        let remedies = vec![
            Remedy { label: RANGE_TEST, action: A::RangeTest },
            Remedy { label: "learning rate ×10", action: A::ScaleLr(10.0) },
        ];
        app.remedy = Some(crate::tui::app::RemedyList { remedies, selected: 0 });
        assert_eq!(app.update(key(KeyCode::Enter)), Some(Effect::Send(Command::RangeTest { steps: DEFAULT_STEPS })));
        assert!(app.range.open.is_some() && app.remedy.is_none() && app.applied.is_none());
    }
}
