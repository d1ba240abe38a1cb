//! The dashboard's modes beyond training a run itself: watching a run
//! trained elsewhere (keys reach its loop through the bridge, or say why
//! not) and replaying a recorded run with a time cursor by epoch.

use super::app::{App, Effect, RemedyList};
use super::keymap::{Action, keys};
use crate::preset::Preset;
use crate::protocol::Event;
use crate::run::Run;

/// What the dashboard shows: a run it trains, a run trained elsewhere, or a
/// recorded run.
#[derive(Clone, Debug)]
pub enum Mode {
    Live,
    /// `fitcheck watch` on an external run; `bridge`: it reads the bridge's
    /// command file, so `+`/`-`, space, `s` and `X` reach its loop.
    Watch {
        bridge: bool,
        paused: bool,
        /// The product of the `+`/`-` factors sent through the bridge.
        lr_scale: f64,
        /// The source has ended (a stream on standard input reached its
        /// end): what was read stays on screen.
        ended: bool,
        /// What the loop says of itself through the bridge (its framework,
        /// the keys it obeys, paused or stopped), once its log says it.
        loop_status: Option<crate::ingest::BridgeStatus>,
    },
    /// `fitcheck watch` on a recorded fitcheck log, with a time cursor.
    Replay(Box<Replay>),
}

/// A recorded run and the cursor over it.
#[derive(Clone, Debug)]
pub struct Replay {
    pub events: Vec<Event>,
    pub settings: Preset,
    /// How many events make up the run up to each epoch's end (0: none yet).
    pub ends: Vec<usize>,
    /// Epochs shown (0..=ends.len()).
    pub shown: usize,
    /// The log is still being written (`watch` tails it): new events are
    /// [`pushed`](Replay::push), and a cursor at the newest epoch follows.
    pub live: bool,
}

impl Replay {
    pub fn new(settings: Preset, events: Vec<Event>) -> Replay {
        // An epoch ends after its epoch event and what follows it before the
        // next step (its data view, an early stop, the summary).
        let mut ends = Vec::new();
        // A fork's branch epoch (tagged) belongs to the run's epoch before it.
        let run_epoch = |e: &Event| matches!(e, Event::Epoch(m) if m.branch.is_none());
        for (i, e) in events.iter().enumerate() {
            if run_epoch(e) {
                let mut end = i + 1;
                while end < events.len()
                    && !matches!(events[end], Event::Step(_) | Event::Stats(_))
                    && !run_epoch(&events[end])
                {
                    end += 1;
                }
                ends.push(end);
            }
        }
        let shown = ends.len();
        Replay { events, settings, ends, shown, live: false }
    }

    /// The cursor is at the newest epoch of a log still being written, and
    /// the run has not ended: new epochs will show as they arrive.
    pub fn following(&self) -> bool {
        self.live && self.at_end() && !self.events.iter().any(|e| matches!(e, Event::Summary(_)))
    }

    /// The cursor shows every epoch read so far.
    pub fn at_end(&self) -> bool {
        self.shown == self.ends.len()
    }

    /// Takes in an event appended to the log. A cursor at the newest epoch
    /// moves on with it; one in the past stays. Returns true when the event
    /// began a new recorded run (a `restart`, or another `start`), which
    /// then replaces this one.
    pub fn push(&mut self, event: Event) -> bool {
        if crate::run::replay::starts_next_run(&self.events, &event) {
            let settings = crate::run::replay::settings_of(std::slice::from_ref(&event), &self.settings);
            *self = Replay { live: self.live, ..Replay::new(settings, vec![event]) };
            return true;
        }
        if matches!(self.events.as_slice(), [Event::Restart { .. }]) && !matches!(event, Event::Start(_)) {
            // The run before's last lines, in a log from before issue 22's
            // fix (see `replay::place`): not this run's.
            return false;
        }
        let follow = self.at_end();
        // As in `new`: an epoch ends after its epoch event and what follows
        // it before the next step.
        let i = self.events.len();
        match &event {
            Event::Epoch(m) if m.branch.is_none() => self.ends.push(i + 1),
            Event::Step(_) | Event::Stats(_) => {}
            _ => {
                if let Some(end) = self.ends.last_mut()
                    && *end == i
                {
                    *end = i + 1;
                }
            }
        }
        self.events.push(event);
        if follow {
            self.shown = self.ends.len();
        }
        false
    }

    /// The run as it stood after `shown` epochs (everything at the last).
    pub fn run(&self) -> Run {
        let n = if self.shown >= self.ends.len() {
            usize::MAX
        } else if self.shown == 0 {
            self.first_epoch()
        } else {
            self.ends[self.shown - 1]
        };
        Run::from_events(self.settings.clone(), &self.events, n)
    }

    /// Events before the first epoch ends.
    fn first_epoch(&self) -> usize {
        self.events.iter().position(|e| matches!(e, Event::Epoch(m) if m.branch.is_none())).unwrap_or(self.events.len())
    }
}

impl App {
    /// The dashboard on a run trained elsewhere (fed by a follower).
    pub fn watching(run: Run, bridge: bool) -> App {
        let mut app = App::new(run.settings.clone());
        app.run = run;
        app.show_data = false;
        app.mode = Mode::Watch { bridge, paused: false, lr_scale: 1.0, ended: false, loop_status: None };
        app
    }

    /// The dashboard replaying a recorded run, at its end. `live`: the log
    /// is still being written, and its new events arrive as
    /// `Msg::Trainer` (see [`App::on_recorded`]).
    pub fn replaying(settings: Preset, events: Vec<Event>, live: bool) -> App {
        let mut replay = Replay::new(settings.clone(), events);
        replay.live = live;
        let mut app = App::new(settings);
        app.run = replay.run();
        app.mode = Mode::Replay(Box::new(replay));
        app
    }

    /// Keys that only look (help, zoom, axes) work the same in every mode.
    pub(super) fn on_view_action(&mut self, action: Action) -> Option<Option<Effect>> {
        match action {
            Action::Quit
            | Action::ToggleHelp
            | Action::ToggleLogScale
            | Action::ToggleWindow
            | Action::ToggleDataView
            | Action::Zoom(_)
            | Action::ZoomNext
            | Action::LayerNext
            | Action::LayerPrev => Some(self.on_action(action)),
            // Watching a run of a folder: back to its runs.
            Action::Presets if self.open_run_picker() => Some(None),
            Action::Checklist => {
                self.remedy = Some(RemedyList { remedies: Vec::new(), selected: 0 });
                self.zoom = Some(super::panels::Panel::Checklist.number());
                Some(None)
            }
            _ => None,
        }
    }

    /// A run trained elsewhere: the bridge's keys, if it listens; the rest
    /// say what they cannot do.
    pub(super) fn on_watch_action(&mut self, action: Action) -> Option<Effect> {
        use crate::ingest::BridgeCommand as B;
        if let Some(effect) = self.on_view_action(action) {
            return effect;
        }
        let Mode::Watch { bridge, paused, lr_scale, loop_status, .. } = &mut self.mode else { return None };
        // Keys the loop does not obey (its start line lists those it does)
        // say so instead of writing a command nobody reads.
        if *bridge
            && let Some(status) = loop_status.as_ref()
            && let Some(command) = bridge_command_of(action)
            && !status.obeys(command)
        {
            let framework = status.framework_name().unwrap_or_else(|| "this".into());
            self.notice = Some(format!(
                "not available for this run: the {framework} loop does not take `{}` (its log's start line lists                  the keys it obeys)",
                super::keymap::label_of(action, super::keymap::Context::Main).unwrap_or("?")
            ));
            return None;
        }
        let command = match action {
            // The script's rate is scaled at most BRIDGE_LR_SCALE_MAX either
            // way: a held key must not walk it to 1e35 (the bridge clamps too).
            Action::LrUp | Action::LrDown if *bridge => {
                let factor = if action == Action::LrUp { 2.0 } else { 0.5 };
                let next = *lr_scale * factor;
                if !(1.0 / BRIDGE_LR_SCALE_MAX..=BRIDGE_LR_SCALE_MAX).contains(&next) {
                    self.notice = Some(format!(
                        "the learning rate is already ×{} of the script's own: fitcheck scales it at most {}× \
                         either way",
                        lr_scale, BRIDGE_LR_SCALE_MAX
                    ));
                    return None;
                }
                *lr_scale = next;
                Some(B::ScaleLr { factor })
            }
            Action::LrUp => Some(B::ScaleLr { factor: 2.0 }),
            Action::LrDown => Some(B::ScaleLr { factor: 0.5 }),
            Action::TogglePause => {
                // As the loop last reported, when it reports: it may have
                // been paused before the dashboard opened.
                let now = loop_status.as_ref().map_or(*paused, |s| s.state == crate::ingest::LoopState::Paused);
                *paused = !now;
                Some(if *paused { B::Pause } else { B::Resume })
            }
            Action::SaveCheckpoint => Some(B::Save),
            Action::StopExternal => Some(B::Stop),
            _ => None,
        };
        match (command, *bridge) {
            (Some(c), true) => {
                self.notice = Some(format!("sent to the training loop: {}", bridge_label(&c)));
                Some(Effect::Bridge(c))
            }
            (Some(_), false) => {
                self.notice = Some(
                    "not available for this run: live control needs a loop logging through the fitcheck bridge \
                     (pip install ./integrations/python: fitcheck_bridge)"
                        .into(),
                );
                None
            }
            (None, _) => {
                self.notice = Some("not available for this run: it trains elsewhere".into());
                None
            }
        }
    }

    /// An event appended to a recorded log that is still being written:
    /// the run shown moves on only when the cursor is at the newest epoch.
    pub(super) fn on_recorded(&mut self, event: Event) {
        let Mode::Replay(replay) = &mut self.mode else { return };
        let follow = replay.at_end();
        if replay.push(event.clone()) {
            self.run = replay.run();
            self.notice = Some("a new run began in the log".into());
        } else if follow {
            // The run at the end is every event applied in order: apply
            // the new one rather than rebuild it.
            self.run.apply(&event);
        }
    }

    /// A recorded run: ←/→ move the time cursor by epoch, Home/End jump.
    pub(super) fn on_replay_action(&mut self, action: Action) -> Option<Effect> {
        if let Some(effect) = self.on_view_action(action) {
            return effect;
        }
        let Mode::Replay(replay) = &mut self.mode else { return None };
        let last = replay.ends.len();
        let shown = match action {
            Action::EpochBack => replay.shown.saturating_sub(1),
            Action::EpochForward => (replay.shown + 1).min(last),
            Action::FirstEpoch => 0,
            Action::LastEpoch => last,
            _ => {
                self.notice = Some(format!(
                    "a recorded run: {} move by epoch, {} jump; nothing trains",
                    keys(Action::EpochBack, Action::EpochForward),
                    keys(Action::FirstEpoch, Action::LastEpoch)
                ));
                return None;
            }
        };
        if shown != replay.shown {
            replay.shown = shown;
            self.run = replay.run();
            self.notice = None;
        }
        None
    }
}

impl App {
    /// The loop's own report through the bridge: its framework and keys
    /// (for the footer and help), paused or stopped (for the header).
    pub(super) fn on_loop_report(&mut self, status: crate::ingest::BridgeStatus) {
        if let Mode::Watch { loop_status, paused, .. } = &mut self.mode {
            *paused = status.state == crate::ingest::LoopState::Paused;
            if let Some(last) = &status.last
                && loop_status.as_ref().and_then(|s| s.last.as_ref()) != Some(last)
            {
                self.notice = Some(format!("the training loop: {last}"));
            }
            *loop_status = Some(status);
        }
    }
}

/// The bridge command (as the start line's `keys` names it) an action sends.
pub fn bridge_command_of(action: Action) -> Option<&'static str> {
    match action {
        Action::LrUp | Action::LrDown => Some("scale_lr"),
        Action::TogglePause => Some("pause"),
        Action::SaveCheckpoint => Some("save"),
        Action::StopExternal => Some("stop"),
        _ => None,
    }
}

/// The most `+`/`-` scale the script's learning rate by, either way
/// (2^10; the Python bridge holds its factor to the same bound).
pub const BRIDGE_LR_SCALE_MAX: f64 = 1024.0;

/// What a bridge command does, in words.
fn bridge_label(c: &crate::ingest::BridgeCommand) -> String {
    use crate::ingest::BridgeCommand as B;
    match c {
        B::ScaleLr { factor } => format!("learning rate ×{factor}"),
        B::Pause => "pause".into(),
        B::Resume => "resume".into(),
        B::Stop => "stop".into(),
        B::Save => "save a checkpoint".into(),
    }
}
