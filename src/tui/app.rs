//! The dashboard's view state and the only place it changes: `App::update`
//! takes a message (a key, a trainer event, a run that started or failed to
//! start) and returns what to do about it (a command for the trainer, a new
//! run, quitting). The run itself lives in [`Run`], fed by the same events
//! the headless runner reads; `App` keeps only what the screen needs beyond
//! it. Rendering reads `&App` only.

use ratatui::crossterm::event::{KeyEvent, KeyEventKind};

use super::keymap::{Action, Context, action_for, key};
pub use super::modes::{Mode, Replay};
use super::panels::Panel;
use crate::data::DatasetSpec;
use crate::diagnose::Remedy;
use crate::history::Series;
use crate::nn::OptimizerKind;
use crate::preset::{EarlyStopping, Preset};
use crate::protocol::{Command, EpochMetrics, Event};
use crate::run::{Run, RunState};
use crate::settings::{Setting, SettingKey};

/// Messages `App::update` handles.
// A trainer event is the common message, passed once per step window or
// epoch: boxing it would allocate for every one to shrink the rare others.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Msg {
    Key(KeyEvent),
    Trainer(Event),
    /// The trainer's channel closed.
    TrainerGone,
    /// A new run with these settings started (`keep`: the old one stays as a ghost).
    RunStarted {
        preset: Box<Preset>,
        keep: bool,
    },
    /// A run could not be started.
    StartFailed(String),
    /// Something the user should know that is not the run's (the run log stopped).
    Notice(String),
    /// The runs of the folder watched, as the scanner last saw them.
    Runs(Vec<super::runs::RunRow>),
}

/// What the event loop should do after an update.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Send(Command),
    /// Several commands, applied in order at the next minibatch.
    SendAll(Vec<Command>),
    /// Stop this run and start another with these settings (the current
    /// run becomes a ghost).
    Restart(Box<Preset>),
    /// Restart with these settings (the current run becomes a ghost) and
    /// send `fork` before its first step: a fresh fork from the same seed.
    RestartFork {
        preset: Box<Preset>,
        fork: Command,
    },
    /// Stop this run and start the named preset.
    Start(String),
    /// A key for a run trained elsewhere, through the bridge's command file.
    Bridge(crate::ingest::BridgeCommand),
    /// Watch this run of the folder (chosen in the run picker).
    Watch(std::path::PathBuf),
    Quit,
}

impl Effect {
    /// The request this effect makes of the source; the dashboard's own
    /// effects (quit, watch another run) come back as they are.
    pub fn into_request(self) -> Result<crate::source::Request, Effect> {
        use crate::source::Request;
        Ok(match self {
            Effect::Send(c) => Request::Send(vec![c]),
            Effect::SendAll(c) => Request::Send(c),
            Effect::Restart(preset) => Request::Restart { preset, fork: None },
            Effect::RestartFork { preset, fork } => Request::Restart { preset, fork: Some(fork) },
            Effect::Start(name) => Request::Start(name),
            Effect::Bridge(c) => Request::Bridge(c),
            other @ (Effect::Watch(_) | Effect::Quit) => return Err(other),
        })
    }
}

impl From<crate::source::Reply> for Msg {
    fn from(reply: crate::source::Reply) -> Msg {
        use crate::source::Reply;
        match reply {
            Reply::Started { preset, keep } => Msg::RunStarted { preset, keep },
            Reply::StartFailed(message) => Msg::StartFailed(message),
            Reply::Notice(message) => Msg::Notice(message),
        }
    }
}

/// A preset as the picker lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct PresetEntry {
    pub name: String,
    pub dataset: String,
    pub lesson: String,
}

/// An earlier run, kept faded on the charts for comparison after a restart.
#[derive(Clone, Debug)]
pub struct Ghost {
    pub label: String,
    /// Its settings, when a run of this dashboard made it (a seed of the
    /// same settings counts toward a fork's seed noise).
    pub settings: Option<Box<Preset>>,
    pub train_loss: Series,
    pub train_acc: Series,
    pub epochs: Vec<EpochMetrics>,
}

/// Ghosts merged out of the charts (the oldest beyond `MAX_GHOSTS`): only
/// what the seed band and its spread need, the same size whatever their
/// number, so `R` a thousand times keeps every run in the band.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Merged {
    pub runs: usize,
    /// Per epoch, the lowest and the highest validation loss and accuracy
    /// of the merged runs: two runs that bound the band.
    pub low: Vec<EpochMetrics>,
    pub high: Vec<EpochMetrics>,
    /// Each merged run's best (highest) validation loss and accuracy, the
    /// lowest and the highest of those: the spread's ends.
    pub bests: Option<(EpochMetrics, EpochMetrics)>,
}

impl Merged {
    fn add(&mut self, epochs: &[EpochMetrics]) {
        let Some(first) = epochs.first() else { return };
        self.runs += 1;
        // `f32::min`/`max` skip a NaN (an epoch without validation).
        let both = |into: &mut EpochMetrics, e: &EpochMetrics, f: fn(f32, f32) -> f32| {
            into.val_loss = f(into.val_loss, e.val_loss);
            into.val_acc = f(into.val_acc, e.val_acc);
        };
        for (side, f) in [(&mut self.low, f32::min as fn(f32, f32) -> f32), (&mut self.high, f32::max)] {
            for e in epochs {
                match side.binary_search_by_key(&e.epoch, |m| m.epoch) {
                    Ok(i) => both(&mut side[i], e, f),
                    Err(i) => side.insert(i, e.clone()),
                }
            }
        }
        let mut best = first.clone();
        for e in epochs {
            both(&mut best, e, f32::max);
        }
        self.bests = Some(match self.bests.take() {
            None => (best.clone(), best),
            Some((mut lo, mut hi)) => {
                both(&mut lo, &best, f32::min);
                both(&mut hi, &best, f32::max);
                (lo, hi)
            }
        });
    }
}

/// The preset picker's state.
#[derive(Clone, Debug, PartialEq)]
pub struct Picker {
    pub selected: usize,
}

/// The checklist's remedies while it is open: the list as it was when it
/// opened (a new epoch must not change what `Enter` applies) and the highlight.
#[derive(Clone, Debug, PartialEq)]
pub struct RemedyList {
    pub remedies: Vec<Remedy>,
    pub selected: usize,
}

impl RemedyList {
    /// The findings' remedies in order, each once: two findings that both
    /// offer "halve the learning rate" list it once, where the first
    /// offers it (the row shown is the row `Enter` applies).
    pub fn new(remedies: impl IntoIterator<Item = Remedy>) -> RemedyList {
        let mut list: Vec<Remedy> = Vec::new();
        for r in remedies {
            if !list.iter().any(|k| k.action == r.action || k.label == r.label) {
                list.push(r);
            }
        }
        RemedyList { remedies: list, selected: 0 }
    }
}

/// A remedy applied from the checklist, and where the run stood then.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    pub label: &'static str,
    pub epoch: usize,
    pub val_loss: f32,
    pub val_acc: f32,
}

/// The L2 strengths the `l`/`L` keys step through (0, then decades).
const L2_FIRST: f32 = 1e-4;
const L2_MAX: f32 = 1.0;
/// Patience of the early stopping `e` turns on.
const EARLY_PATIENCE: usize = 5;
/// Epochs `space` adds after a run has finished (at most).
pub const CONTINUE_EPOCHS: usize = 10;
/// The paces `{`/`}` step through, in steps a second (`None`: full speed).
pub const PACES: [Option<f32>; 7] = [None, Some(300.0), Some(100.0), Some(30.0), Some(10.0), Some(3.0), Some(1.0)];
/// Ghosts kept on the charts.
const MAX_GHOSTS: usize = 10;
/// Epochs a fork trains side by side before the trainer pauses for the decision.
pub const FORK_EPOCHS: usize = 3;
/// Why a setting key does nothing while a fork runs: the comparison is
/// about the branch's one change.
fn fork_running() -> String {
    format!(
        "a fork is running: {} keeps the branch, {} drops it; settings change after that",
        key(Action::KeepBranch),
        key(Action::DropBranch)
    )
}

/// Settings asked for (by a key, a remedy or the range test) that the
/// trainer has not confirmed yet, at most one per setting. The next key
/// builds on them, so two quick `d` send 0.1 then 0.2, not 0.1 twice, and
/// Controls shows each as `confirmed → requested`. A `Change` of a setting
/// clears its entry (confirmed, or overridden by the guard); a new run, or
/// a fork's end, clears them all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pending(Vec<Setting>);

impl Pending {
    /// The value asked for `key`, if one waits for the trainer.
    pub fn get(&self, key: SettingKey) -> Option<&Setting> {
        self.0.iter().find(|s| s.key() == key)
    }

    /// Asks for `s`: it replaces what was asked for its setting before.
    fn set(&mut self, s: Setting) {
        self.clear(s.key());
        self.0.push(s);
    }

    fn clear(&mut self, key: SettingKey) {
        self.0.retain(|s| s.key() != key);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `p` with every value asked for in place.
    pub fn applied_to(&self, p: &Preset) -> Preset {
        let mut p = p.clone();
        self.0.iter().for_each(|s| s.apply_to(&mut p));
        p
    }
}

/// The optimizer after `k` in the `o` cycle, with the learning rate it is
/// usually started at (keeping SGD's 0.05 would make Adam diverge).
pub fn next_optimizer(k: OptimizerKind) -> (OptimizerKind, f32) {
    match k {
        OptimizerKind::Sgd { .. } => (OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 }, 1e-3),
        OptimizerKind::Adam { .. } => (OptimizerKind::RmsProp { rho: 0.9 }, 1e-3),
        OptimizerKind::RmsProp { .. } => (OptimizerKind::Adagrad, 1e-2),
        OptimizerKind::Adagrad => (OptimizerKind::Sgd { momentum: 0.9, nesterov: false }, 0.05),
    }
}

#[derive(Debug)]
pub struct App {
    /// The run on screen.
    pub run: Run,
    /// The settings asked for that the trainer has not confirmed yet: the
    /// next key builds on them (see [`Pending`]).
    pub pending: Pending,
    pub show_help: bool,
    /// Earlier runs, faded, after `r` (oldest first).
    pub ghosts: Vec<Ghost>,
    /// Ghosts beyond `MAX_GHOSTS`, merged into the seed band.
    pub merged: Merged,
    pub picker: Option<Picker>,
    /// Every shipped preset, for the picker.
    pub presets: Vec<PresetEntry>,
    /// The loss axis is logarithmic.
    pub log_scale: bool,
    /// The charts show only the last few epochs.
    pub recent_only: bool,
    /// The layer the weights panel shows.
    pub layer: usize,
    /// The middle row shows the data view instead of weights and dropout.
    pub show_data: bool,
    /// The panel shown alone over the whole body (1-based, screen order), if any.
    pub zoom: Option<u8>,
    /// The checklist's remedies while it is open.
    pub remedy: Option<RemedyList>,
    /// The last remedy applied from the checklist, to report its effect.
    pub applied: Option<Applied>,
    /// Index into `PACES`.
    pub pace: usize,
    /// Something for the user that is not the run's own notice.
    pub notice: Option<String>,
    pub mode: Mode,
    /// `watch` on a folder of many runs: its runs and the picker over them.
    pub runs: Option<super::runs::RunList>,
    /// The learning-rate range test (`m`), while its panel is open.
    pub range: super::range_test::RangeTests,
}

/// Epochs the recent-window view shows.
pub const RECENT_EPOCHS: f64 = 5.0;

/// Whether a dataset is a 2-D set, whose decision boundary is the point of it.
fn is_plane(d: &DatasetSpec) -> bool {
    matches!(
        d,
        DatasetSpec::Spirals { .. }
            | DatasetSpec::Moons { .. }
            | DatasetSpec::Circles { .. }
            | DatasetSpec::Xor
            | DatasetSpec::Blobs { .. }
    )
}

impl App {
    pub fn new(preset: Preset) -> App {
        App {
            show_data: is_plane(&preset.dataset),
            run: Run::new(preset),
            pending: Pending::default(),
            show_help: false,
            ghosts: Vec::new(),
            merged: Merged::default(),
            picker: None,
            presets: Vec::new(),
            log_scale: false,
            recent_only: false,
            layer: 0,
            zoom: None,
            remedy: None,
            applied: None,
            pace: 0,
            notice: None,
            mode: Mode::Live,
            runs: None,
            range: Default::default(),
        }
    }

    /// No run yet: the picker over `presets` is open, `preset` shown behind it.
    pub fn idle(preset: Preset, presets: Vec<PresetEntry>) -> App {
        let mut app = App::new(preset);
        app.run.state = RunState::Idle;
        // The healthy baseline first: Enter starts it.
        let selected = presets.iter().position(|e| e.name == "mnist-mlp").unwrap_or(0);
        app.picker = Some(Picker { selected });
        app.presets = presets;
        app
    }

    /// The preset the picker highlights, if it is open.
    pub fn highlighted(&self) -> Option<&PresetEntry> {
        self.presets.get(self.picker.as_ref()?.selected)
    }

    /// The settings the keys build on: the run's, as the trainer confirmed
    /// them, with every value asked for and not confirmed yet in place.
    pub fn settings_requested(&self) -> Preset {
        self.pending.applied_to(&self.run.settings)
    }

    /// Records what `effect` asks the trainer to change as pending. Depth is
    /// a command, not a setting: `AddLayer`/`RemoveLayer` are recorded as
    /// the widths they lead to (the trainer's new layer is as wide as the
    /// last hidden one, see `Network::insert_identity_layer`), so two quick
    /// `>` mean two layers. The commands sent stay the same.
    pub(super) fn request(&mut self, effect: &Option<Effect>) {
        let commands: &[Command] = match effect {
            Some(Effect::Send(c)) => std::slice::from_ref(c),
            Some(Effect::SendAll(c)) => c,
            _ => return,
        };
        for c in commands {
            let setting = match c {
                Command::Set(s) => s.clone(),
                Command::AddLayer | Command::RemoveLayer => {
                    let mut hidden = self.settings_requested().hidden;
                    if *c == Command::RemoveLayer {
                        hidden.pop();
                    } else if let Some(&last) = hidden.last() {
                        hidden.push(last);
                    } else {
                        // The first hidden layer is as wide as the input,
                        // which the dashboard does not know: the trainer's
                        // change says it.
                        continue;
                    }
                    Setting::Hidden(hidden)
                }
                _ => continue,
            };
            self.pending.set(setting);
        }
    }

    /// A new run with `preset` begins: the curves start empty; with `keep`
    /// the previous one stays as a ghost.
    fn begin_run(&mut self, preset: Preset, keep: bool) {
        let old = std::mem::replace(&mut self.run, Run::new(preset));
        if keep {
            let label = format!("before, {}", run_label(&old.settings));
            self.keep_as_ghost(old, label);
        } else {
            self.ghosts.clear();
        }
        self.show_data = is_plane(&self.run.settings.dataset);
        (self.remedy, self.applied, self.layer, self.pace) = (None, None, 0, 0);
        self.pending = Pending::default();
        // A cancelled test of the old run may still send its end: keep the count.
        self.range.open = None;
    }

    /// Keeps `old`'s curves as a ghost (the few series the charts draw,
    /// not the run), at most `MAX_GHOSTS` of them.
    pub(super) fn keep_as_ghost(&mut self, old: Run, label: String) {
        if old.epochs.is_empty() && old.train_loss.is_empty() {
            return;
        }
        self.push_ghost(Ghost {
            label,
            settings: Some(Box::new(old.settings)),
            train_loss: old.train_loss,
            train_acc: old.train_acc,
            epochs: old.epochs,
        });
    }

    /// Adds a ghost, keeping at most `MAX_GHOSTS` drawn; the oldest beyond
    /// that is merged into the seed band.
    fn push_ghost(&mut self, ghost: Ghost) {
        self.ghosts.push(ghost);
        if self.ghosts.len() > MAX_GHOSTS {
            let oldest = self.ghosts.remove(0);
            self.merged.add(&oldest.epochs);
        }
    }

    /// Every run the seed band spans, as epochs: the drawn ghosts, the run,
    /// and the two bounds of the merged ones.
    pub fn band_runs(&self) -> Vec<&[EpochMetrics]> {
        let merged = if self.merged.runs > 0 { [&self.merged.low[..], &self.merged.high[..]].to_vec() } else { vec![] };
        self.ghosts.iter().map(|g| g.epochs.as_slice()).chain([self.run.epochs.as_slice()]).chain(merged).collect()
    }

    /// The fork's effect at equal steps, its noise the spread of the runs
    /// of the same settings from other seeds (`R`) where there are enough
    /// of them, else the run's epoch-to-epoch noise.
    pub fn fork_effect(&self) -> Option<crate::run::fork::ForkEffect> {
        let fx = self.run.fork_effect()?;
        let now = &self.run.settings;
        let mut seeds = vec![now.seed];
        let mut runs = vec![self.run.epochs.as_slice()];
        for g in &self.ghosts {
            let Some(p) = g.settings.as_deref() else { continue };
            if !seeds.contains(&p.seed) && (Preset { seed: now.seed, ..p.clone() }) == *now {
                seeds.push(p.seed);
                runs.push(&g.epochs);
            }
        }
        Some(fx.with_seeds(&runs))
    }

    /// The keyboard's context now.
    fn context(&self) -> Context {
        if self.picker.is_some() || self.runs.as_ref().is_some_and(|r| r.open) {
            Context::Picker
        } else if self.range.open.is_some() {
            Context::RangeTest
        } else if self.remedy.is_some() {
            Context::Checklist
        } else {
            Context::Main
        }
    }

    /// Takes one event of the source: the run model takes it and the
    /// source records it ([`crate::source::take`]); a replay's cursor, the
    /// range-test panel and the bridge's reports are the dashboard's own
    /// (recorded too, the run model left out).
    pub fn take_event(&mut self, event: Event, source: &mut dyn crate::source::Source) -> Option<Effect> {
        if matches!(self.mode, Mode::Replay(_)) {
            source.record(&event, None, self.run.diagnosis());
            self.on_recorded(event);
            return None;
        }
        match &event {
            // A watched log rebuilt from its start is a new run.
            Event::Restart { .. } if matches!(self.mode, Mode::Watch { .. }) => {
                let fresh = Run::external(&self.run.settings.name);
                let old = std::mem::replace(&mut self.run, fresh);
                let label = format!("before the log was rewritten ({} epochs)", old.epochs.len());
                self.keep_as_ghost(old, label);
                self.notice =
                    Some("the log was rewritten from its start: a new run; the old one stays as a ghost".into());
                source.record(&event, None, self.run.diagnosis());
                None
            }
            Event::Bridge(status) => {
                self.on_loop_report(status.clone());
                source.record(&event, None, self.run.diagnosis());
                None
            }
            // The range test trains a copy: its events feed its panel only.
            _ if self.range.on_event(&event) => {
                source.record(&event, None, self.run.diagnosis());
                None
            }
            _ => {
                if let Event::Change(c) = &event {
                    // Confirmed (or overridden by the guard): keys build on it now.
                    self.pending.clear(c.to.key());
                }
                let before = self.run.notice.clone();
                crate::source::take(&mut self.run, &event, source);
                if self.run.notice.is_some() && self.run.notice != before {
                    // The run's own notice is newer than the last key's.
                    self.notice = None;
                }
                if let Some(ended) = self.run.ended_fork.take() {
                    // The side not kept stays on the charts, faded.
                    let kept = matches!(event, Event::ForkEnd { kept: true, .. });
                    let label =
                        if kept { format!("without {}", ended.branch) } else { format!("dropped: {}", ended.branch) };
                    // The run's settings are the kept side's now.
                    self.pending = Pending::default();
                    self.push_ghost(Ghost {
                        label,
                        settings: Some(Box::new(ended.settings)),
                        train_loss: ended.train_loss,
                        train_acc: ended.train_acc,
                        epochs: ended.epochs,
                    });
                }
                let layers = self.run.stats.as_ref().map_or(self.run.settings.hidden.len() + 1, |s| s.layers.len());
                self.layer = self.layer.min(layers.saturating_sub(1));
                None
            }
        }
    }

    pub fn update(&mut self, msg: Msg) -> Option<Effect> {
        match msg {
            Msg::Key(key) if key.kind == KeyEventKind::Press => {
                let action = action_for(&key, self.context())?;
                match self.context() {
                    Context::Picker if self.picker.is_none() => self.on_run_picker(action),
                    Context::Picker => self.on_picker(action),
                    Context::Checklist => self.on_checklist(action),
                    Context::RangeTest => self.on_range_test(action),
                    Context::Main | Context::Any => match self.mode {
                        Mode::Live => {
                            // A notice answers the key before: the next key
                            // clears it, so what it says next (a checkpoint
                            // saved) is not hidden behind a stale one.
                            self.notice = None;
                            self.run.notice = None;
                            self.on_action(action)
                        }
                        Mode::Watch { .. } => self.on_watch_action(action),
                        Mode::Replay(_) => self.on_replay_action(action),
                    },
                }
            }
            Msg::Key(_) => None,
            Msg::Trainer(event) => self.take_event(event, &mut crate::source::Nothing),
            // A watched source that ends (a stream on standard input) stays
            // on screen, saying so; the dashboard does not exit.
            Msg::TrainerGone if matches!(self.mode, Mode::Watch { .. }) => {
                if let Mode::Watch { ended, .. } = &mut self.mode {
                    *ended = true;
                }
                self.notice = Some(format!("stream ended: what it sent stays on screen; {} quits", key(Action::Quit)));
                None
            }
            Msg::TrainerGone => {
                if self.run.state.is_training() {
                    self.run.state = RunState::Failed("the trainer stopped without a summary".into());
                }
                None
            }
            Msg::RunStarted { preset, keep } => {
                self.begin_run(*preset, keep);
                None
            }
            Msg::Runs(rows) => {
                if let Some(list) = self.runs.as_mut() {
                    list.set_rows(rows);
                }
                None
            }
            Msg::StartFailed(message) | Msg::Notice(message) => {
                self.notice = Some(message);
                None
            }
        }
    }

    fn on_picker(&mut self, action: Action) -> Option<Effect> {
        let n = self.presets.len();
        let picker = self.picker.as_mut()?;
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::Up => picker.selected = picker.selected.saturating_sub(1),
            Action::Down => picker.selected = (picker.selected + 1).min(n.saturating_sub(1)),
            Action::Choose => {
                let name = self.presets.get(picker.selected)?.name.clone();
                self.picker = None;
                return Some(Effect::Start(name));
            }
            // With no run to go back to, closing the picker quits (its title says so).
            Action::Close if self.run.state == RunState::Idle => return Some(Effect::Quit),
            Action::Close => self.picker = None,
            _ => {}
        }
        None
    }

    fn on_checklist(&mut self, action: Action) -> Option<Effect> {
        let list = self.remedy.as_mut()?;
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::Up => list.selected = list.selected.saturating_sub(1),
            Action::Down => list.selected = (list.selected + 1).min(list.remedies.len().saturating_sub(1)),
            Action::Choose => {
                let remedy = list.remedies.get(list.selected)?.clone();
                self.remedy = None;
                self.zoom = None;
                return self.apply_remedy(&remedy);
            }
            Action::TryBranch => {
                let remedy = list.remedies.get(list.selected)?.clone();
                self.remedy = None;
                self.zoom = None;
                return self.try_remedy(&remedy);
            }
            Action::Close => {
                self.remedy = None;
                self.zoom = None;
            }
            _ => {}
        }
        None
    }

    /// What a remedy does: commands at the next minibatch, or a restart for
    /// what only a fresh start can change (the data's normalization or size).
    fn apply_remedy(&mut self, r: &Remedy) -> Option<Effect> {
        if self.run.fork.is_some() {
            self.notice = Some(fork_running());
            return None;
        }
        if r.action == crate::diagnose::Action::RangeTest {
            // Not a change yet: the rate it measures is applied from its panel.
            return self.start_range_test();
        }
        if let Some(last) = self.run.epochs.last() {
            self.applied =
                Some(Applied { label: r.label, epoch: last.epoch, val_loss: last.val_loss, val_acc: last.val_acc });
        }
        if !self.run.state.is_training() {
            self.notice = Some(format!(
                "{}: applied; {} trains more epochs to show its effect",
                r.label,
                key(Action::TogglePause)
            ));
        }
        if r.action.in_code_only() || self.run.external {
            // Nothing here trains that run: the remedy is for the user's code.
            self.applied = None;
            self.notice = Some(format!("in your training code: {}", r.label));
            return None;
        }
        // Built on what was asked for, as a key is: `+` then "halve the
        // learning rate" halves the doubled rate.
        let effect = remedy_effect(&self.settings_requested(), r.action);
        self.request(&effect);
        if matches!(effect, Some(Effect::Restart(_))) {
            self.applied = None;
        }
        effect
    }

    /// Tries a remedy side by side: a fork of the run whose branch alone
    /// gets the remedy's commands, for [`FORK_EPOCHS`] epochs. What needs a
    /// restart, early stopping (nothing differs until it stops the run) and
    /// what only the user's code can do are said, not forked.
    fn try_remedy(&mut self, r: &Remedy) -> Option<Effect> {
        use crate::diagnose::Action as A;
        if r.action.in_code_only() || self.run.external {
            self.notice = Some(format!("in your training code: {}", r.label));
            return None;
        }
        if self.run.fork.is_some() {
            self.notice = Some(fork_running());
            return None;
        }
        if !self.run.state.takes_commands() {
            return None;
        }
        if r.action == A::EarlyStopping {
            self.notice = Some(
                "early stopping changes nothing until it stops the run: side by side would show two equal curves; \
                 Enter applies it"
                    .into(),
            );
            return None;
        }
        let changes = match remedy_effect(&self.run.settings, r.action) {
            Some(Effect::Send(c)) => vec![c],
            Some(Effect::SendAll(c)) => c,
            Some(Effect::Restart(next)) => {
                // Two fresh runs from this run's seed, one change apart;
                // this run stays as a ghost.
                let current = Box::new(self.run.settings.clone());
                let branch = fresh_branch_name(&self.run.settings, &next);
                let fork = Command::ForkFresh { branch, preset: next, epochs: FORK_EPOCHS };
                return Some(Effect::RestartFork { preset: current, fork });
            }
            _ => return None,
        };
        let branch = branch_name(&self.run.settings, &changes);
        Some(Effect::Send(Command::Fork { branch, changes, epochs: FORK_EPOCHS }))
    }

    /// A key's action on the run this dashboard trains; what it asks the
    /// trainer to change is pending until the trainer confirms it.
    pub(super) fn on_action(&mut self, action: Action) -> Option<Effect> {
        let effect = self.on_live_action(action);
        self.request(&effect);
        effect
    }

    fn on_live_action(&mut self, action: Action) -> Option<Effect> {
        let forked = self.run.fork.is_some();
        let edits = matches!(
            action,
            Action::LrUp
                | Action::LrDown
                | Action::AddLayer
                | Action::RemoveLayer
                | Action::NextActivation
                | Action::DropoutUp
                | Action::DropoutDown
                | Action::L2Up
                | Action::L2Down
                | Action::NextOptimizer
                | Action::ToggleEarlyStopping
        );
        if forked && edits && self.run.state.takes_commands() {
            self.notice = Some(fork_running());
            return None;
        }
        // The settings keys build on: two quick `d` send 0.1, then 0.2.
        let req = self.settings_requested();
        let state = &self.run.state;
        let live = state.takes_commands();
        let idle = *state == RunState::Idle;
        let p = &self.run.settings;
        let set = |s: Setting| Some(Effect::Send(Command::Set(s)));
        match action {
            Action::Quit => Some(Effect::Quit),
            Action::ToggleHelp => {
                self.show_help = !self.show_help;
                None
            }
            Action::Presets => {
                self.picker =
                    Some(Picker { selected: self.presets.iter().position(|e| e.name == p.name).unwrap_or(0) });
                None
            }
            Action::ToggleLogScale => {
                self.log_scale = !self.log_scale;
                None
            }
            Action::ToggleWindow => {
                self.recent_only = !self.recent_only;
                None
            }
            Action::ToggleDataView => {
                self.show_data = !self.show_data;
                None
            }
            Action::Checklist if !idle => {
                let remedies = self.run.diagnosis().findings.iter().flat_map(|f| f.remedies.clone());
                self.remedy = Some(RemedyList::new(remedies));
                self.zoom = Some(Panel::Checklist.number());
                None
            }
            Action::Zoom(n) => {
                self.zoom = if n == 0 || self.zoom == Some(n) { None } else { Some(n) };
                None
            }
            Action::ZoomNext => {
                self.zoom = match self.zoom {
                    None => Some(1),
                    Some(n) if (n as usize) < Panel::ALL.len() => Some(n + 1),
                    Some(_) => None,
                };
                None
            }
            Action::LayerNext => {
                let layers = self.run.stats.as_ref().map_or(p.hidden.len() + 1, |s| s.layers.len());
                self.layer = (self.layer + 1).min(layers.saturating_sub(1));
                None
            }
            Action::LayerPrev => {
                self.layer = self.layer.saturating_sub(1);
                None
            }
            Action::Restart if !idle => Some(Effect::Restart(Box::new(p.clone()))),
            // Different starts, different minima: the same settings from
            // another seed; every earlier run stays as a ghost.
            Action::RestartNewSeed if !idle => {
                let mut next = p.clone();
                next.seed = p.seed.wrapping_add(1 + self.ghosts.len() as u64);
                self.notice = Some(format!("restarted with seed {}: the same settings from another start", next.seed));
                Some(Effect::Restart(Box::new(next)))
            }
            Action::TogglePause if state.is_training() => {
                Some(Effect::Send(if *state == RunState::Paused { Command::Resume } else { Command::Pause }))
            }
            // After the end, space trains more epochs with everything kept.
            Action::TogglePause if live => {
                Some(Effect::Send(Command::Continue { epochs: p.epochs.clamp(1, CONTINUE_EPOCHS) }))
            }
            Action::StepOnce if *state == RunState::Paused => Some(Effect::Send(Command::Step)),
            Action::Slower | Action::Faster if live => {
                let i = if action == Action::Slower { self.pace + 1 } else { self.pace.saturating_sub(1) };
                let i = i.min(PACES.len() - 1);
                if i == self.pace {
                    return None;
                }
                self.pace = i;
                Some(Effect::Send(Command::SetPace(PACES[i])))
            }
            Action::LrUp | Action::LrDown if live => {
                let factor = if action == Action::LrUp { 2.0 } else { 0.5 };
                let (lo, hi) = Preset::LR_RANGE;
                let to = (req.lr * factor).clamp(lo, hi);
                if to == req.lr {
                    return None;
                }
                set(Setting::LearningRate(to))
            }
            Action::AddLayer if live => Some(Effect::Send(Command::AddLayer)),
            Action::RemoveLayer if live && !req.hidden.is_empty() => Some(Effect::Send(Command::RemoveLayer)),
            Action::NextActivation if live => set(Setting::Activation(req.activation.next())),
            Action::DropoutUp | Action::DropoutDown if live => {
                let step = if action == Action::DropoutUp { 0.1 } else { -0.1 };
                // Rounded to tenths, so repeated presses land on 0.1, 0.2, ...
                let to = ((req.dropout + step) * 10.0).round() / 10.0;
                let to = to.clamp(0.0, crate::train::MAX_DROPOUT);
                (to != req.dropout).then_some(Effect::Send(Command::Set(Setting::Dropout(to))))
            }
            Action::L2Up if live => {
                // Whole decades (1e-4, 1e-3, ...), not repeated ×10 drifting in f32.
                let l2 = req.l2;
                let to = if l2 == 0.0 { L2_FIRST } else { 10f32.powi(l2.log10().round() as i32 + 1).min(L2_MAX) };
                // Said as measured (mnist-l2): a calmer validation loss, not more accuracy.
                self.notice = Some(format!(
                    "L2 {}: shrinks the weights; on small data it keeps the validation loss from climbing, \
                     but measured on mnist-l2 it did not raise validation accuracy",
                    crate::settings::short_float(to)
                ));
                (to != l2).then_some(Effect::Send(Command::Set(Setting::L2(to))))
            }
            Action::L2Down if live && req.l2 > 0.0 => {
                let l2 = req.l2;
                let to = if l2 <= L2_FIRST * 1.01 { 0.0 } else { 10f32.powi(l2.log10().round() as i32 - 1) };
                set(Setting::L2(to))
            }
            Action::NextOptimizer if live => {
                let (kind, lr) = next_optimizer(req.optimizer);
                Some(Effect::SendAll(vec![
                    Command::Set(Setting::Optimizer(kind)),
                    Command::Set(Setting::LearningRate(lr)),
                ]))
            }
            Action::ToggleEarlyStopping if live => {
                let to = match req.early_stopping {
                    Some(_) => None,
                    None => Some(EarlyStopping { patience: EARLY_PATIENCE, min_delta: 0.0 }),
                };
                set(Setting::EarlyStopping(to))
            }
            Action::SaveCheckpoint if live => Some(Effect::Send(Command::SaveCheckpoint)),
            Action::KeepBranch if live && forked => Some(Effect::Send(Command::KeepBranch)),
            Action::DropBranch if live && forked => Some(Effect::Send(Command::DropBranch)),
            Action::RangeTest => self.start_range_test(),
            _ => None,
        }
    }
}

/// What a remedy does to a run with settings `p`: commands at the next
/// minibatch, or a restart for what only a fresh start can change (the
/// data's normalization or size, the widths).
fn remedy_effect(p: &Preset, action: crate::diagnose::Action) -> Option<Effect> {
    use crate::diagnose::Action as A;
    use crate::nn::Activation;
    let set = |s: Setting| Some(Effect::Send(Command::Set(s)));
    match action {
        A::HalveLr => set(Setting::LearningRate(p.lr / 2.0)),
        A::DoubleLr => set(Setting::LearningRate(p.lr * 2.0)),
        A::UseRelu => set(Setting::Activation(Activation::Relu)),
        A::UseSelu => set(Setting::Activation(Activation::Selu)),
        A::UseAdam => Some(Effect::SendAll(vec![
            Command::Set(Setting::Optimizer(OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 })),
            Command::Set(Setting::LearningRate(1e-3)),
        ])),
        A::AddLayer => Some(Effect::Send(Command::AddLayer)),
        A::EarlyStopping => {
            set(Setting::EarlyStopping(Some(EarlyStopping { patience: EARLY_PATIENCE, min_delta: 0.0 })))
        }
        A::Dropout(rate) => set(Setting::Dropout(rate)),
        A::AddL2 => set(Setting::L2(if p.l2 == 0.0 { 1e-3 } else { (p.l2 * 10.0).min(L2_MAX) })),
        A::LessDropout => set(Setting::Dropout(((p.dropout - 0.2) * 10.0).round().max(0.0) / 10.0)),
        A::ScaleLr(factor) => set(Setting::LearningRate(p.lr * factor)),
        A::LessL2 => set(Setting::L2(if p.l2 > 1e-6 { p.l2 / 10.0 } else { 0.0 })),
        A::LessL1 => set(Setting::L1(if p.l1 > 1e-6 { p.l1 / 10.0 } else { 0.0 })),
        A::Wider => {
            let mut next = p.clone();
            next.hidden = p.hidden.iter().map(|w| w * 2).collect();
            Some(Effect::Restart(Box::new(next)))
        }
        A::Normalize => {
            let mut next = p.clone();
            // Pixels scale to [0, 1]; real-valued features standardize.
            let images = matches!(p.dataset, DatasetSpec::Mnist | DatasetSpec::Idx { .. });
            next.normalize =
                if images { crate::data::Normalize::Scale255 } else { crate::data::Normalize::Standardize };
            Some(Effect::Restart(Box::new(next)))
        }
        A::Augment => {
            let mut next = p.clone();
            next.augment = crate::preset::Augment::Shift { pixels: 2 };
            Some(Effect::Restart(Box::new(next)))
        }
        A::RangeTest
        | A::TrainLonger
        | A::OverfitOneBatch
        | A::ClipGradients
        | A::CheckEvaluation
        | A::CheckInputs
        | A::AddValidation => None,
    }
}

/// A fork's branch named by its change: "dropout 0.5", "Adam, lr 0.001",
/// "one more layer".
/// A fresh branch named by what differs from `p`: "normalized inputs",
/// "shifted copies", "hidden 128→256".
fn fresh_branch_name(p: &Preset, next: &Preset) -> String {
    let mut parts = Vec::new();
    if next.normalize != p.normalize {
        parts.push("normalized inputs".to_string());
    }
    if next.augment != p.augment {
        parts.push("shifted copies".to_string());
    }
    if next.hidden != p.hidden {
        let w = |h: &[usize]| h.iter().map(|w| w.to_string()).collect::<Vec<_>>().join("-");
        parts.push(format!("hidden {}→{}", w(&p.hidden), w(&next.hidden)));
    }
    if parts.is_empty() { "no change".into() } else { parts.join(", ") }
}

fn branch_name(p: &Preset, changes: &[Command]) -> String {
    let parts: Vec<String> = changes
        .iter()
        .filter_map(|c| match c {
            Command::Set(s) => {
                let before = s.key().read(p);
                (before != *s).then(|| match s {
                    Setting::Optimizer(_) => s.compact_label(),
                    Setting::LearningRate(_) => format!("lr {}", s.compact_label()),
                    Setting::Activation(_) => s.compact_label(),
                    _ => format!("{} {}", s.key().name(), s.compact_label()),
                })
            }
            Command::AddLayer => Some("one more layer".into()),
            Command::RemoveLayer => Some("one layer less".into()),
            _ => None,
        })
        .collect();
    if parts.is_empty() { "no change".into() } else { parts.join(", ") }
}

/// A few words naming a run's settings (for a ghost's legend).
fn run_label(p: &Preset) -> String {
    format!(
        "{} {} lr {} drop {} L2 {}",
        p.activation.label(),
        crate::settings::hidden_name(&p.hidden),
        crate::settings::short_float(p.lr),
        crate::settings::short_float(p.dropout),
        crate::settings::short_float(p.l2)
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::protocol::{Change, RunInfo};
    use ratatui::crossterm::event::{KeyCode, KeyModifiers};

    pub(crate) fn preset() -> Preset {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/presets/mnist-mlp.ron")).unwrap();
        Preset::parse(&text, "mnist-mlp.ron").unwrap()
    }

    pub(crate) fn info() -> RunInfo {
        RunInfo {
            preset: "mnist-mlp".into(),
            dataset: "MNIST".into(),
            epochs: 10,
            steps_per_epoch: 100,
            train_size: 6400,
            val_size: 1000,
            test_size: 1000,
            parameters: 235_146,
            hidden: vec![256, 128],
            activation: "ReLU".into(),
            optimizer: "SGD+m 0.9".into(),
            lr: 0.05,
            batch_size: 64,
            threads: 2,
            classes: 10,
            input_scale: 1.0,
            settings: None,
            hparams: Default::default(),
        }
    }

    fn step_event(step: u64, loss: f32, acc: f32) -> Msg {
        Msg::Trainer(Event::Step(crate::protocol::StepMetrics {
            epoch: 1,
            step,
            loss,
            acc,
            samples_per_s: 9000.0,
            threads: None,
            branch: None,
        }))
    }

    fn key(c: char) -> Msg {
        Msg::Key(KeyEvent::from(KeyCode::Char(c)))
    }

    fn epoch_with(epoch: usize, val_loss: f32, val_acc: f32) -> EpochMetrics {
        serde_json::from_value(serde_json::json!({
            "epoch": epoch, "step": epoch * 10, "train_loss": 0.5, "train_acc": 0.8, "train_loss_eval": 0.5,
            "train_acc_eval": 0.8, "val_loss": val_loss, "val_acc": val_acc, "lr": 0.05, "penalty": 0.0,
            "samples_per_s": 1.0, "elapsed_s": 1.0
        }))
        .expect("an epoch line")
    }

    #[test]
    fn ghosts_beyond_the_cap_are_merged_into_the_seed_band() {
        let mut app = App::new(preset());
        let runs = MAX_GHOSTS + 5;
        for k in 0..runs {
            let a = 0.5 + 0.01 * k as f32;
            let epochs = vec![epoch_with(1, 1.0 - a, a), epoch_with(2, 0.9 - a, a + 0.1)];
            app.push_ghost(Ghost {
                label: format!("seed {k}"),
                settings: None,
                train_loss: crate::history::Series::new(8),
                train_acc: crate::history::Series::new(8),
                epochs,
            });
        }
        assert_eq!(app.ghosts.len(), MAX_GHOSTS);
        assert_eq!(app.merged.runs, 5);
        // The band still spans the first run (merged), not only the drawn ten.
        let band = crate::tui::panels::chart::val_band(&app.band_runs(), |e| (e.train_acc_eval, e.val_acc));
        assert_eq!(band.len(), 2);
        assert!((band[0].1 - 0.5).abs() < 1e-6 && (band[0].2 - 0.64).abs() < 1e-6, "{band:?}");
        assert!((band[1].1 - 0.6).abs() < 1e-6 && (band[1].2 - 0.74).abs() < 1e-6, "{band:?}");
        // The spread counts every run and reaches the merged ones' bests.
        let s = crate::tui::ui::tests::screen(&app, 120, 40);
        assert!(s.contains(&format!("best val over {runs} runs 60%–74%")), "{s}");
        // Merging keeps a fixed size: two bounds of two epochs each.
        assert_eq!((app.merged.low.len(), app.merged.high.len()), (2, 2));
    }

    #[test]
    fn plus_asks_the_trainer_to_double_the_learning_rate() {
        let mut app = App::new(preset());
        app.update(Msg::Trainer(Event::Start(info())));
        assert_eq!(app.update(key('+')), Some(Effect::Send(Command::Set(Setting::LearningRate(0.1)))));
        assert_eq!(app.update(key('+')), Some(Effect::Send(Command::Set(Setting::LearningRate(0.2)))));
        assert_eq!(app.update(key('-')), Some(Effect::Send(Command::Set(Setting::LearningRate(0.1)))));
        // The shown rate follows the trainer's confirmation, not the key.
        assert_eq!(app.run.settings.lr, 0.05);
        app.update(Msg::Trainer(Event::Change(Change {
            step: 3,
            from: Setting::LearningRate(0.05),
            to: Setting::LearningRate(0.1),
            note: None,
            by_trainer: false,
        })));
        assert_eq!(app.run.settings.lr, 0.1);
        assert_eq!(app.run.changes.len(), 1);
    }

    #[test]
    fn space_pauses_and_resumes_and_n_steps_only_while_paused() {
        let mut app = App::new(preset());
        app.update(Msg::Trainer(Event::Start(info())));
        assert_eq!(app.update(key('n')), None);
        assert_eq!(app.update(key(' ')), Some(Effect::Send(Command::Pause)));
        app.update(Msg::Trainer(Event::Paused { step: 7 }));
        assert_eq!(app.run.state, RunState::Paused);
        assert_eq!(app.update(key('n')), Some(Effect::Send(Command::Step)));
        assert_eq!(app.update(key(' ')), Some(Effect::Send(Command::Resume)));
    }

    #[test]
    fn q_and_ctrl_c_quit_even_before_the_first_metric() {
        let mut app = App::new(preset());
        assert_eq!(app.update(key('q')), Some(Effect::Quit));
        let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(app.update(ctrl_c), Some(Effect::Quit));
        // Keys that need a live run do nothing harmful before it starts... or after it ends.
        app.update(Msg::TrainerGone);
        assert!(matches!(app.run.state, RunState::Failed(_)));
        assert_eq!(app.update(key('+')), None);
        assert_eq!(app.update(key(' ')), None);
    }

    #[test]
    fn step_metrics_feed_the_curves_on_an_epoch_axis() {
        let mut app = App::new(preset());
        app.update(Msg::Trainer(Event::Start(info())));
        app.update(step_event(50, 0.7, 0.8));
        assert_eq!(app.run.train_loss.last(), Some((0.5, 0.699999988079071)));
        app.update(step_event(60, 0.2, 0.9));
        // Smoothed: 0.6 of the previous point, 0.4 of the new one.
        let (x, y) = app.run.train_loss.last().unwrap();
        assert!((x - 0.6).abs() < 1e-12 && (y - (0.6 * 0.7 + 0.4 * 0.2)).abs() < 1e-6, "{y}");
        assert_eq!(app.run.samples_per_s, 9000.0);
        assert!((app.run.progress() - 0.06).abs() < 1e-9);
    }

    fn live() -> App {
        let mut app = App::new(preset());
        app.update(Msg::Trainer(Event::Start(info())));
        app
    }

    fn change(app: &mut App, from: Setting, to: Setting) {
        app.update(Msg::Trainer(Event::Change(Change { step: 10, from, to, note: None, by_trainer: false })));
    }

    #[test]
    fn every_live_edit_key_sends_its_command() {
        use crate::nn::Activation;
        let mut app = live();
        assert_eq!(app.update(key('>')), Some(Effect::Send(Command::AddLayer)));
        assert_eq!(app.update(key('<')), Some(Effect::Send(Command::RemoveLayer)));
        assert_eq!(app.update(key('a')), Some(Effect::Send(Command::Set(Setting::Activation(Activation::LeakyRelu)))));
        assert_eq!(app.update(key('D')), None, "dropout is already 0");
        assert_eq!(app.update(key('d')), Some(Effect::Send(Command::Set(Setting::Dropout(0.1)))));
        // Down from the 0.1 asked for, not from the confirmed 0.
        assert_eq!(app.update(key('D')), Some(Effect::Send(Command::Set(Setting::Dropout(0.0)))));
        assert_eq!(app.update(key('L')), None, "L2 is already 0");
        assert_eq!(app.update(key('l')), Some(Effect::Send(Command::Set(Setting::L2(1e-4)))));
        assert_eq!(app.update(key('L')), Some(Effect::Send(Command::Set(Setting::L2(0.0)))));
        assert_eq!(
            app.update(key('o')),
            Some(Effect::SendAll(vec![
                Command::Set(Setting::Optimizer(OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 })),
                Command::Set(Setting::LearningRate(1e-3))
            ]))
        );
        assert!(matches!(app.update(key('e')), Some(Effect::Send(Command::Set(Setting::EarlyStopping(Some(_)))))));
        assert_eq!(app.update(key('s')), Some(Effect::Send(Command::SaveCheckpoint)));
        assert!(matches!(app.update(key('r')), Some(Effect::Restart(_))));
    }

    #[test]
    fn the_settings_follow_the_changes_the_trainer_reports() {
        let mut app = live();
        use crate::nn::Activation;
        change(&mut app, Setting::Dropout(0.0), Setting::Dropout(0.2));
        change(&mut app, Setting::L2(0.0), Setting::L2(1e-4));
        change(&mut app, Setting::Activation(Activation::Relu), Setting::Activation(Activation::Tanh));
        change(&mut app, Setting::Hidden(vec![512, 512]), Setting::Hidden(vec![512, 512, 512]));
        let sgd = OptimizerKind::Sgd { momentum: 0.9, nesterov: false };
        change(&mut app, Setting::Optimizer(sgd), Setting::Optimizer(OptimizerKind::Adagrad));
        let es = Some(EarlyStopping { patience: 5, min_delta: 0.0 });
        change(&mut app, Setting::EarlyStopping(None), Setting::EarlyStopping(es));
        let p = &app.run.settings;
        assert_eq!((p.dropout, p.l2, p.hidden.len()), (0.2, 1e-4, 3));
        assert_eq!(p.activation, crate::nn::Activation::Tanh);
        assert_eq!(p.optimizer, OptimizerKind::Adagrad);
        assert_eq!(p.early_stopping.map(|e| e.patience), Some(5));
        // The next presses build on the confirmed values, then on what they asked for.
        assert_eq!(app.update(key('d')), Some(Effect::Send(Command::Set(Setting::Dropout(0.3)))));
        assert_eq!(app.update(key('D')), Some(Effect::Send(Command::Set(Setting::Dropout(0.2)))));
        assert_eq!(app.update(key('l')), Some(Effect::Send(Command::Set(Setting::L2(1e-3)))));
        assert_eq!(app.update(key('L')), Some(Effect::Send(Command::Set(Setting::L2(1e-4)))));
        assert_eq!(app.update(key('e')), Some(Effect::Send(Command::Set(Setting::EarlyStopping(None)))));
    }

    #[test]
    fn quick_presses_build_on_the_value_asked_for_until_the_trainer_confirms_it() {
        let mut app = live();
        let sent = |app: &mut App, c: char| app.update(key(c));
        let set = |s: Setting| Some(Effect::Send(Command::Set(s)));
        // Issue 21: two quick `d` sent dropout 0.1 twice.
        assert_eq!(sent(&mut app, 'd'), set(Setting::Dropout(0.1)));
        assert_eq!(sent(&mut app, 'd'), set(Setting::Dropout(0.2)));
        assert_eq!(sent(&mut app, 'l'), set(Setting::L2(1e-4)));
        assert_eq!(sent(&mut app, 'l'), set(Setting::L2(1e-3)));
        assert_eq!(sent(&mut app, '+'), set(Setting::LearningRate(0.1)));
        assert_eq!(sent(&mut app, '+'), set(Setting::LearningRate(0.2)));
        assert!(matches!(sent(&mut app, 'e'), Some(Effect::Send(Command::Set(Setting::EarlyStopping(Some(_)))))));
        assert_eq!(sent(&mut app, 'e'), set(Setting::EarlyStopping(None)));
        let rms = OptimizerKind::RmsProp { rho: 0.9 };
        sent(&mut app, 'o');
        let two = vec![Command::Set(Setting::Optimizer(rms)), Command::Set(Setting::LearningRate(1e-3))];
        assert_eq!(sent(&mut app, 'o'), Some(Effect::SendAll(two)), "Adam asked for, so RMSProp next");
        assert_eq!(app.run.settings.dropout, 0.0, "nothing is confirmed yet");
        assert_eq!(app.settings_requested().dropout, 0.2);
        // Controls shows what was asked for beside what is confirmed.
        let s = crate::tui::ui::tests::screen(&app, 160, 48);
        assert!(s.contains("dropout 0.0 → 0.2") && s.contains("L2 0 → 0.001"), "{s}");
        // The trainer confirms the first press: its setting builds on the
        // confirmed value from then on; the others stay asked for.
        change(&mut app, Setting::Dropout(0.0), Setting::Dropout(0.1));
        assert_eq!(app.pending.get(SettingKey::Dropout), None, "a change clears its setting's request");
        assert_eq!(app.pending.get(SettingKey::L2), Some(&Setting::L2(1e-3)));
        assert_eq!(sent(&mut app, 'd'), set(Setting::Dropout(0.2)));
        // The guard's halving overrides what was asked for.
        change(&mut app, Setting::LearningRate(0.05), Setting::LearningRate(0.025));
        assert_eq!(sent(&mut app, '-'), set(Setting::LearningRate(0.0125)));
        // A new run asks for nothing.
        app.begin_run(preset(), true);
        assert!(app.pending.is_empty());
    }

    #[test]
    fn two_quick_depth_keys_mean_two_layers() {
        let mut app = live();
        let hidden = app.run.settings.hidden.clone();
        assert_eq!(app.update(key('>')), Some(Effect::Send(Command::AddLayer)));
        assert_eq!(app.update(key('>')), Some(Effect::Send(Command::AddLayer)));
        let last = *hidden.last().expect("a hidden layer");
        let mut want = hidden.clone();
        want.extend([last, last]);
        assert_eq!(app.settings_requested().hidden, want, "each new layer is as wide as the last");
        // Every layer asked for can be removed again, and no more.
        for _ in 0..want.len() {
            assert_eq!(app.update(key('<')), Some(Effect::Send(Command::RemoveLayer)));
        }
        assert_eq!(app.update(key('<')), None, "no hidden layer left to remove");
        change(&mut app, Setting::Hidden(hidden.clone()), Setting::Hidden(want));
        assert_eq!(app.pending.get(SettingKey::Hidden), None);
    }

    #[test]
    fn the_remedy_list_names_each_remedy_once_and_enter_applies_the_row_shown() {
        use crate::diagnose::{Action as A, Remedy};
        let halve = Remedy { label: "halve the learning rate", action: A::HalveLr };
        let stop = Remedy { label: "early stopping", action: A::EarlyStopping };
        let drop = Remedy { label: "dropout 0.5", action: A::Dropout(0.5) };
        let list = RemedyList::new([halve.clone(), stop.clone(), halve.clone(), drop.clone(), stop.clone()]);
        assert_eq!(list.remedies, [halve, stop, drop]);
        let mut app = live();
        app.update(epoch_event(1, 0.9, 0.8, 0.5));
        app.update(key('c'));
        app.remedy = Some(list);
        app.update(Msg::Key(KeyEvent::from(KeyCode::Down)));
        app.update(Msg::Key(KeyEvent::from(KeyCode::Down)));
        let effect = app.update(Msg::Key(KeyEvent::from(KeyCode::Enter)));
        assert_eq!(effect, Some(Effect::Send(Command::Set(Setting::Dropout(0.5)))), "the third row shown");
    }

    #[test]
    fn restart_keeps_the_old_run_as_a_ghost() {
        let mut app = live();
        app.update(step_event(50, 0.7, 0.8));
        let Some(Effect::Restart(p)) = app.update(key('r')) else { panic!("r restarts") };
        app.begin_run(*p, true);
        assert!(app.run.train_loss.is_empty() && app.run.epochs.is_empty());
        let ghost = app.ghosts.last().expect("a ghost");
        assert_eq!(ghost.train_loss.points().len(), 1);
        assert!(ghost.label.contains("ReLU"));
        assert_eq!(app.run.state, RunState::Starting);
    }

    #[test]
    fn the_picker_moves_starts_and_closes() {
        let entries: Vec<PresetEntry> = ["a-preset", "mnist-mlp", "z-preset"]
            .iter()
            .map(|n| PresetEntry { name: n.to_string(), dataset: "MNIST".into(), lesson: "x".into() })
            .collect();
        let mut app = App::idle(preset(), entries);
        assert_eq!(app.picker, Some(Picker { selected: 1 }), "the baseline is preselected");
        let code = |c: KeyCode| Msg::Key(KeyEvent::from(c));
        app.update(code(KeyCode::Down));
        app.update(code(KeyCode::Down));
        assert_eq!(app.picker, Some(Picker { selected: 2 }));
        // With no run yet, Esc quits, as the picker's title says; Enter starts one.
        assert_eq!(app.update(code(KeyCode::Enter)), Some(Effect::Start("z-preset".into())));
        assert!(app.picker.is_none());
        // Keys meant for a run do nothing before it starts.
        assert_eq!(app.update(key('+')), None);
        assert_eq!(app.update(key('r')), None);
    }

    #[test]
    fn number_keys_and_tab_zoom_panels() {
        let mut app = live();
        app.update(key('3'));
        assert_eq!(app.zoom, Some(3));
        app.update(key('3'));
        assert_eq!(app.zoom, None, "the same key goes back");
        app.update(key('5'));
        app.update(Msg::Key(KeyEvent::from(KeyCode::Esc)));
        assert_eq!(app.zoom, None);
        for want in [Some(1), Some(2), Some(3), Some(4), Some(5), Some(6), Some(7), None] {
            app.update(Msg::Key(KeyEvent::from(KeyCode::Tab)));
            assert_eq!(app.zoom, want);
        }
    }

    fn epoch_event(epoch: usize, train_acc: f32, val_acc: f32, val_loss: f32) -> Msg {
        Msg::Trainer(Event::Epoch(EpochMetrics {
            epoch,
            step: 100 * epoch as u64,
            train_loss: 0.01,
            train_acc,
            train_loss_eval: 0.01,
            train_acc_eval: train_acc,
            val_loss,
            val_acc,
            lr: 0.05,
            penalty: 0.0,
            noise_memorized: None,
            samples_per_s: 1.0,
            threads: None,
            elapsed_s: 1.0,
            grad_norm: None,
            branch: None,
        }))
    }

    #[test]
    fn two_keys_take_an_overfitting_run_to_a_remedy() {
        let mut app = live();
        for (e, vl) in [(1, 0.30), (2, 0.32), (3, 0.36), (4, 0.40), (5, 0.45)] {
            app.update(epoch_event(e, 1.0, 0.90, vl));
        }
        assert_eq!(app.run.diagnosis().verdict, crate::diagnose::Verdict::Overfitting);
        assert_eq!(app.update(key('c')), None);
        assert_eq!(app.remedy.as_ref().map(|r| r.selected), Some(0));
        assert_eq!(app.zoom, Some(7), "the checklist opens over the body");
        // The first remedy of the worst finding: early stopping.
        let effect = app.update(Msg::Key(KeyEvent::from(KeyCode::Enter)));
        assert!(matches!(effect, Some(Effect::Send(Command::Set(Setting::EarlyStopping(Some(_)))))), "{effect:?}");
        let applied = app.applied.clone().expect("the remedy is remembered");
        assert_eq!((applied.label, applied.epoch, applied.val_loss), ("early stopping", 5, 0.45));
        assert_eq!((app.remedy.is_none(), app.zoom), (true, None));
        // Arrows pick another remedy; Esc closes without applying.
        app.update(key('c'));
        app.update(Msg::Key(KeyEvent::from(KeyCode::Down)));
        assert_eq!(app.remedy.as_ref().map(|r| r.selected), Some(1));
        assert_eq!(app.update(Msg::Key(KeyEvent::from(KeyCode::Esc))), None);
        assert_eq!(app.remedy, None);
    }

    #[test]
    fn t_tries_a_remedy_side_by_side_and_k_keeps_the_branch_as_the_run() {
        let mut app = live();
        for (e, vl) in [(1, 0.30), (2, 0.32), (3, 0.36), (4, 0.40), (5, 0.45)] {
            app.update(epoch_event(e, 1.0, 0.90, vl));
        }
        app.update(key('c'));
        // The first remedy, early stopping, would show two equal curves: said, not forked.
        assert_eq!(app.update(key('t')), None);
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("changes nothing until")), "{:?}", app.notice);
        app.update(key('c'));
        app.update(Msg::Key(KeyEvent::from(KeyCode::Down)));
        let effect = app.update(key('t'));
        let changes = vec![Command::Set(Setting::Dropout(0.5))];
        let want = Command::Fork { branch: "dropout 0.5".into(), changes: changes.clone(), epochs: FORK_EPOCHS };
        assert_eq!(effect, Some(Effect::Send(want)));
        assert_eq!((app.remedy.is_none(), app.zoom), (true, None));
        // The trainer forks; the branch's epoch comes in beside the run's.
        let change =
            Change { step: 500, from: Setting::Dropout(0.0), to: Setting::Dropout(0.5), note: None, by_trainer: false };
        let info = crate::protocol::ForkInfo {
            step: 500,
            epoch: 5,
            branch: "dropout 0.5".into(),
            changes: vec![change],
            epochs: 3,
            settings: None,
            preflight: None,
        };
        app.update(Msg::Trainer(Event::Fork(info)));
        app.update(epoch_event(6, 1.0, 0.90, 0.50));
        let Msg::Trainer(Event::Epoch(mut b)) = epoch_event(6, 0.95, 0.92, 0.41) else { unreachable!() };
        b.branch = Some("dropout 0.5".into());
        app.update(Msg::Trainer(Event::Epoch(b)));
        assert_eq!(app.run.epochs.len(), 6, "the branch's epoch is not the run's");
        let fx = app.run.fork_effect().expect("an effect at epoch 6");
        assert_eq!((fx.epochs, fx.val_loss, fx.val_acc), (1, (0.50, 0.41), (0.90, 0.92)));
        // Settings wait while the fork runs; K and x decide.
        assert_eq!(app.update(key('d')), None);
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("fork is running")));
        assert_eq!(app.update(key('x')), Some(Effect::Send(Command::DropBranch)));
        assert_eq!(app.update(key('K')), Some(Effect::Send(Command::KeepBranch)));
        let end =
            Event::ForkEnd { step: 600, epoch: 6, branch: "dropout 0.5".into(), kept: true, reason: "kept".into() };
        app.update(Msg::Trainer(end));
        assert!(app.run.fork.is_none());
        assert_eq!(app.run.settings.dropout, 0.5, "the branch's settings are the run's");
        assert_eq!(app.run.epochs.last().map(|e| e.val_loss), Some(0.41), "and its epochs");
        let ghost = app.ghosts.last().expect("the other side stays as a ghost");
        assert_eq!(
            (ghost.label.as_str(), ghost.epochs.last().map(|e| e.val_loss)),
            ("without dropout 0.5", Some(0.50))
        );
        assert!(app.run.changes.iter().any(|c| c.to == Setting::Dropout(0.5)), "the chart marks the change");
        assert_eq!(app.update(key('K')), None, "no fork, nothing to keep");
    }

    #[test]
    fn t_on_a_remedy_that_needs_a_fresh_start_forks_two_fresh_runs_from_the_seed() {
        use crate::diagnose::{Action as A, Remedy};
        let mut app = live();
        app.update(epoch_event(1, 0.5, 0.5, 1.2));
        let wider = Remedy { label: "twice the hidden units", action: A::Wider };
        let Some(Effect::RestartFork { preset, fork }) = app.try_remedy(&wider) else { panic!("a fresh fork") };
        assert_eq!(*preset, app.run.settings, "the run starts again with its settings");
        let Command::ForkFresh { branch, preset: next, epochs } = fork else { panic!("{fork:?}") };
        assert_eq!((branch.as_str(), epochs), ("hidden 512-512→1024-1024", FORK_EPOCHS));
        assert_eq!((next.seed, next.hidden.clone()), (preset.seed, vec![1024, 1024]), "the same seed, one change");
        let norm = Remedy { label: "normalize the inputs", action: A::Normalize };
        let mut raw = App::new(Preset { normalize: crate::data::Normalize::None, ..crate::tui::app::tests::preset() });
        raw.update(Msg::Trainer(Event::Start(info())));
        let Some(Effect::RestartFork { fork: Command::ForkFresh { branch, preset: next, .. }, .. }) =
            raw.try_remedy(&norm)
        else {
            panic!("a fresh fork")
        };
        assert_eq!((branch.as_str(), next.normalize), ("normalized inputs", crate::data::Normalize::Scale255));
    }

    #[test]
    fn a_fork_is_judged_against_the_seed_spread_once_r_made_enough_runs() {
        let mut app = live();
        let seed = app.run.settings.seed;
        // Two earlier runs of the same settings from other seeds, one of
        // other settings, and one of the same seed as the run.
        for (k, vl, lr) in [(1, 0.40, None), (2, 0.60, None), (3, 0.10, Some(0.5)), (0, 0.90, None)] {
            let mut p = app.run.settings.clone();
            p.seed = seed + k;
            if let Some(lr) = lr {
                p.lr = lr;
            }
            let Msg::Trainer(Event::Epoch(e)) = epoch_event(1, 0.9, 0.8, vl) else { unreachable!() };
            app.push_ghost(Ghost {
                label: format!("seed {k}"),
                settings: Some(Box::new(p)),
                train_loss: crate::history::Series::new(8),
                train_acc: crate::history::Series::new(8),
                epochs: vec![e],
            });
        }
        let info = crate::protocol::ForkInfo {
            step: 0,
            epoch: 0,
            branch: "b".into(),
            changes: vec![],
            epochs: 3,
            settings: None,
            preflight: None,
        };
        app.update(Msg::Trainer(Event::Fork(info)));
        app.update(epoch_event(1, 0.9, 0.8, 0.50));
        let Msg::Trainer(Event::Epoch(mut b)) = epoch_event(1, 0.9, 0.8, 0.45) else { unreachable!() };
        b.branch = Some("b".into());
        app.update(Msg::Trainer(Event::Epoch(b)));
        let fx = app.fork_effect().expect("an effect");
        // The run (0.50) and seeds +1 (0.40) and +2 (0.60): spread 0.1.
        assert_eq!(fx.seeds, 3, "other settings and the run's own seed do not count");
        assert!((fx.loss_noise.unwrap() - 0.1).abs() < 1e-4, "{fx:?}");
        assert_eq!(fx.loss_beyond_noise(), Some(false));
        assert_eq!(app.run.fork_effect().map(|f| f.seeds), Some(0), "the run alone knows no seeds");
    }

    #[test]
    fn replay_moves_its_time_cursor_by_epoch() {
        let mut events = vec![Event::Start(info())];
        for e in 1..=3 {
            let Msg::Trainer(ev) = epoch_event(e, 0.9, 0.85, 0.4) else { unreachable!() };
            events.push(ev);
        }
        let mut app = App::replaying(preset(), events, false);
        assert_eq!(app.run.epochs.len(), 3, "a replay opens at the end");
        let code = |c: KeyCode| Msg::Key(KeyEvent::from(c));
        app.update(code(KeyCode::Left));
        assert_eq!(app.run.epochs.len(), 2);
        app.update(code(KeyCode::Home));
        assert_eq!(app.run.epochs.len(), 0);
        app.update(code(KeyCode::Right));
        assert_eq!(app.run.epochs.last().map(|e| e.epoch), Some(1));
        app.update(code(KeyCode::End));
        assert_eq!(app.run.epochs.len(), 3);
        // Nothing trains in a replay: live keys say so and send nothing.
        assert_eq!(app.update(key('+')), None);
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("recorded")));
    }

    /// `watch` on the `--metrics` log of a run in progress: new epochs show
    /// while the cursor is at the newest; ←/Home look back without being
    /// pulled forward; →/End return to following.
    #[test]
    fn a_growing_recorded_log_is_followed_at_its_newest_epoch() {
        let Msg::Trainer(first) = epoch_event(1, 0.9, 0.85, 0.4) else { unreachable!() };
        let mut app = App::replaying(preset(), vec![Event::Start(info()), first], true);
        let following = |app: &App| matches!(&app.mode, Mode::Replay(r) if r.following());
        let shown = |app: &App| app.run.epochs.last().map_or(0, |e| e.epoch);
        assert!(following(&app));
        assert_eq!(app.update(epoch_event(2, 0.9, 0.86, 0.38)), None, "a replay sends nothing");
        assert_eq!((shown(&app), app.run.epoch), (2, 2), "the cursor moved on with the log");
        let code = |c: KeyCode| Msg::Key(KeyEvent::from(c));
        app.update(code(KeyCode::Left));
        assert_eq!(shown(&app), 1);
        assert!(!following(&app));
        app.update(epoch_event(3, 0.9, 0.87, 0.37));
        assert_eq!(shown(&app), 1, "looking back is not pulled forward");
        app.update(code(KeyCode::End));
        assert_eq!((shown(&app), app.run.epochs.len()), (3, 3));
        assert!(following(&app));
        app.update(code(KeyCode::Home));
        app.update(epoch_event(4, 0.9, 0.88, 0.36));
        for _ in 0..3 {
            app.update(code(KeyCode::Right));
        }
        assert!(!following(&app));
        app.update(code(KeyCode::Right));
        assert_eq!(shown(&app), 4);
        assert!(following(&app), "→ to the newest follows again");
        // The same as the whole log replayed at once.
        let Mode::Replay(r) = &app.mode else { unreachable!() };
        let whole = App::replaying(preset(), r.events.clone(), false);
        assert_eq!(whole.run.epochs, app.run.epochs);
        // The run ends: nothing more to follow.
        app.update(Msg::Trainer(Event::Summary(crate::protocol::Summary {
            epochs: 4,
            best_epoch: 4,
            best_val_acc: 0.88,
            test_acc: None,
            test_loss: None,
            stopped: crate::protocol::Stopped::Completed,
        })));
        assert!(!following(&app));
        // A later run appended to the same file begins a new recording.
        app.update(Msg::Trainer(Event::Start(info())));
        assert!(following(&app));
        assert!(app.run.epochs.is_empty());
        app.update(epoch_event(1, 0.5, 0.5, 1.0));
        assert_eq!(shown(&app), 1);
    }

    #[test]
    fn keys_for_an_external_run_go_through_the_bridge_or_say_why_not() {
        use crate::ingest::BridgeCommand;
        let mut app = App::watching(Run::external("torch"), true);
        assert_eq!(app.update(key('+')), Some(Effect::Bridge(BridgeCommand::ScaleLr { factor: 2.0 })));
        assert_eq!(app.update(key(' ')), Some(Effect::Bridge(BridgeCommand::Pause)));
        assert_eq!(app.update(key(' ')), Some(Effect::Bridge(BridgeCommand::Resume)));
        assert_eq!(app.update(key('a')), None);
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("not available for this run")));
        let mut tb = App::watching(Run::external("tb"), false);
        assert_eq!(tb.update(key('+')), None);
        assert!(tb.notice.as_deref().is_some_and(|n| n.contains("bridge")));
    }

    #[test]
    fn a_watched_log_rewritten_from_its_start_is_a_new_run_beside_a_ghost() {
        let mut app = App::watching(Run::external("train"), true);
        app.update(Msg::Trainer(Event::Start(info())));
        for e in 1..=5 {
            app.update(epoch_event(e, 0.9, 0.88, 0.4));
        }
        app.update(Msg::Trainer(Event::Restart { preset: "train".into(), seed: 0 }));
        app.update(Msg::Trainer(Event::Start(info())));
        for e in 1..=2 {
            app.update(epoch_event(e, 0.5, 0.5, 1.0));
        }
        assert_eq!(app.run.epochs.len(), 2, "the new run only");
        assert_eq!(app.ghosts.len(), 1);
        assert_eq!(app.ghosts[0].epochs.len(), 5);
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("rewritten")));
    }

    #[test]
    fn the_bridge_scales_the_learning_rate_within_a_bound() {
        use crate::ingest::BridgeCommand;
        let mut app = App::watching(Run::external("torch"), true);
        let doublings = (0..1100).filter(|_| app.update(key('+')).is_some()).count();
        assert_eq!(doublings, 10, "2^10 = BRIDGE_LR_SCALE_MAX");
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("×1024")), "{:?}", app.notice);
        // Coming back down works at once, and as far the other way.
        assert_eq!(app.update(key('-')), Some(Effect::Bridge(BridgeCommand::ScaleLr { factor: 0.5 })));
        let halvings = (0..100).filter(|_| app.update(key('-')).is_some()).count();
        assert_eq!(halvings, 19);
    }

    #[test]
    fn after_the_end_keys_still_reach_the_trainer_and_space_trains_more() {
        let mut app = live();
        app.update(epoch_event(1, 0.9, 0.88, 0.4));
        app.update(Msg::Trainer(Event::Summary(crate::protocol::Summary {
            epochs: 1,
            best_epoch: 1,
            best_val_acc: 0.88,
            test_acc: Some(0.87),
            test_loss: Some(0.4),
            stopped: crate::protocol::Stopped::Completed,
        })));
        assert_eq!(app.update(key('s')), Some(Effect::Send(Command::SaveCheckpoint)), "the final model can be saved");
        assert!(matches!(app.update(key(' ')), Some(Effect::Send(Command::Continue { epochs: 10 }))));
        assert_eq!(app.update(key('d')), Some(Effect::Send(Command::Set(Setting::Dropout(0.1)))));
        let Some(Effect::Restart(p)) = app.update(key('R')) else { panic!("R restarts") };
        assert_ne!(p.seed, app.run.settings.seed, "another start");
        assert_eq!(p.lr, app.run.settings.lr, "the same settings");
    }
}
