//! The key bindings as data: one table maps a key (with its modifiers, in a
//! context) to an action, and feeds the footer, the help overlay and every
//! key hint on screen ([`key_of`], [`keys_of`]), so none of them can drift
//! from the keys: no panel writes a key letter of its own. `App::update`
//! maps a key to an action through [`action_for`] first, then matches the
//! action in one place. The zoom keys are not listed one by one: they
//! follow [`Panel::ALL`] (key `n` zooms its `n`th panel).

use std::borrow::Cow;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::panels::Panel;

/// Where the keyboard is: the dashboard, or an overlay that takes the keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Main,
    /// The preset picker.
    Picker,
    /// The checklist with its remedies open.
    Checklist,
    /// The learning-rate range test's panel.
    RangeTest,
    /// Bindings that work everywhere (quit).
    Any,
}

/// What a key asks for; `App::update` matches these in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    TogglePause,
    StepOnce,
    LrUp,
    LrDown,
    AddLayer,
    RemoveLayer,
    NextActivation,
    DropoutUp,
    DropoutDown,
    L2Up,
    L2Down,
    NextOptimizer,
    ToggleEarlyStopping,
    SaveCheckpoint,
    Restart,
    /// Restart with another seed: different starts, different minima.
    RestartNewSeed,
    Slower,
    Faster,
    Presets,
    ToggleLogScale,
    ToggleWindow,
    ToggleDataView,
    /// Open the checklist with its remedies (arrows pick one, Enter applies it).
    Checklist,
    /// In the checklist: try the highlighted remedy side by side (a fork).
    TryBranch,
    /// A fork: the branch becomes the run / the branch is dropped.
    KeepBranch,
    DropBranch,
    /// Show one panel (1-based, in screen order) over the whole body; 0 goes back.
    Zoom(u8),
    /// Zoom the next panel (Tab), or back to all panels after the last.
    ZoomNext,
    LayerNext,
    LayerPrev,
    ToggleHelp,
    /// Replay: the time cursor by epoch, and to either end.
    EpochBack,
    EpochForward,
    FirstEpoch,
    LastEpoch,
    /// Watch: stop the external training loop (through the bridge).
    StopExternal,
    /// The learning-rate range test on a copy of the model.
    RangeTest,
    /// In a list (picker, remedies): move, choose, close.
    Up,
    Down,
    Choose,
    Close,
}

/// One binding: a key in a context, how the footer and help show it, what it does.
pub struct Binding {
    pub key: KeyCode,
    pub mods: KeyModifiers,
    pub context: Context,
    /// How the key is written in the help.
    pub label: &'static str,
    /// A sentence for the help overlay (empty: an alias, not listed again).
    pub help: &'static str,
    pub action: Action,
    /// How the footer shows it: the actions whose keys it writes (none:
    /// this binding's own key; `[LrUp, LrDown]`: `+/-`) and words, or not at all.
    pub footer: Option<(&'static [Action], &'static str)>,
}

use KeyCode::Char;
const NONE: KeyModifiers = KeyModifiers::NONE;

/// Placeholder label of the zoom line: [`label`] writes the real one.
const ZOOM_LABEL: &str = "1-n";

const fn main(key: KeyCode, label: &'static str, help: &'static str, action: Action) -> Binding {
    Binding { key, mods: NONE, context: Context::Main, label, help, action, footer: None }
}

/// The same binding, shown in the footer as `keys words` (`keys`: the
/// actions whose keys are written, joined by `/`; none: its own key).
const fn foot(b: Binding, keys: &'static [Action], words: &'static str) -> Binding {
    Binding { footer: Some((keys, words)), ..b }
}

const fn in_ctx(b: Binding, context: Context) -> Binding {
    Binding { context, ..b }
}

/// An alias of another binding: the same action, not listed again in help.
const fn alias(key: KeyCode, context: Context, action: Action) -> Binding {
    Binding { key, mods: NONE, context, label: "", help: "", action, footer: None }
}

/// The footer shows bindings in this order; a narrow one drops entries
/// before the last (`? help`), which always shows.
pub const BINDINGS: &[Binding] = &[
    foot(main(Char('q'), "q", "quit; the terminal is restored", Action::Quit), &[], "quit"),
    Binding {
        key: Char('c'),
        mods: KeyModifiers::CONTROL,
        context: Context::Any,
        label: "Ctrl-C",
        help: "quit from anywhere",
        action: Action::Quit,
        footer: None,
    },
    foot(
        main(Char(' '), "space", "pause / resume; after the end, train more epochs", Action::TogglePause),
        &[],
        "pause",
    ),
    main(Char('n'), "n", "one training step while paused", Action::StepOnce),
    foot(
        main(Char('+'), "+", "double the learning rate (applies at the next minibatch)", Action::LrUp),
        &[Action::LrUp, Action::LrDown],
        "lr",
    ),
    alias(Char('='), Context::Main, Action::LrUp),
    main(Char('-'), "-", "halve the learning rate", Action::LrDown),
    alias(Char('_'), Context::Main, Action::LrDown),
    foot(
        main(Char('>'), ">", "add a hidden layer, identity-initialised (the same function for ReLU)", Action::AddLayer),
        &[Action::RemoveLayer, Action::AddLayer],
        "depth",
    ),
    alias(Char('.'), Context::Main, Action::AddLayer),
    main(Char('<'), "<", "remove the last hidden layer (folded into the output)", Action::RemoveLayer),
    alias(Char(','), Context::Main, Action::RemoveLayer),
    foot(
        main(
            Char('a'),
            "a",
            "next activation, weights kept (sigmoid tanh ReLU LeakyReLU ELU SELU linear)",
            Action::NextActivation,
        ),
        &[],
        "act",
    ),
    foot(
        main(Char('d'), "d", "dropout +0.1 on every hidden layer", Action::DropoutUp),
        &[Action::DropoutUp, Action::DropoutDown],
        "dropout",
    ),
    main(Char('D'), "D", "dropout -0.1", Action::DropoutDown),
    foot(
        main(Char('l'), "l", "L2 weight decay up (0 → 1e-4, then ×10)", Action::L2Up),
        &[Action::L2Up, Action::L2Down],
        "L2",
    ),
    main(Char('L'), "L", "L2 weight decay down (÷10, then 0)", Action::L2Down),
    foot(
        main(
            Char('o'),
            "o",
            "next optimizer (SGD+momentum, Adam, RMSProp, Adagrad) at its usual rate",
            Action::NextOptimizer,
        ),
        &[],
        "opt",
    ),
    foot(main(Char('e'), "e", "early stopping on (patience 5) / off", Action::ToggleEarlyStopping), &[], "early"),
    foot(
        main(Char('c'), "c", "the checklist's remedies: ↑/↓ pick one, Enter applies it", Action::Checklist),
        &[],
        "checklist",
    ),
    foot(
        main(
            Char('s'),
            "s",
            "save the weights (safetensors) under ./checkpoints, also after the end",
            Action::SaveCheckpoint,
        ),
        &[],
        "save",
    ),
    foot(
        main(Char('r'), "r", "restart with the current settings; this run stays as a faded ghost", Action::Restart),
        &[],
        "restart",
    ),
    main(Char('R'), "R", "restart from another seed: earlier runs stay, their spread shaded", Action::RestartNewSeed),
    main(Char('m'), "m", "measure the learning rate: range test on a copy (Enter applies)", Action::RangeTest),
    foot(
        main(Char('{'), "{", "slower: fewer training steps a second, to watch a run unfold", Action::Slower),
        &[Action::Slower, Action::Faster],
        "pace",
    ),
    main(Char('}'), "}", "faster (back to full speed)", Action::Faster),
    foot(
        main(
            Char('p'),
            "p",
            "the preset picker (Enter starts one, Esc closes); watching a folder of runs: its run list",
            Action::Presets,
        ),
        &[],
        "presets",
    ),
    foot(
        main(
            Char('v'),
            "v",
            "data view: confusion matrix, misclassified digits, 2-D decision boundary",
            Action::ToggleDataView,
        ),
        &[],
        "data",
    ),
    foot(main(Char('?'), "?", "show / hide this help", Action::ToggleHelp), &[], "help"),
    alias(KeyCode::F(1), Context::Main, Action::ToggleHelp),
    main(Char('g'), "g", "loss axis: linear / logarithmic", Action::ToggleLogScale),
    main(Char('w'), "w", "charts: the whole run / the recent window", Action::ToggleWindow),
    // The help's one line for every zoom key: its label ("1-7") and the
    // panels' names come from `Panel::ALL` (see `label`, `help_lines`), and
    // `action_for` maps each panel's number key.
    main(Char('1'), ZOOM_LABEL, "zoom a panel:", Action::Zoom(1)),
    main(Char('0'), "0 Esc", "back to every panel", Action::Zoom(0)),
    alias(KeyCode::Esc, Context::Main, Action::Zoom(0)),
    main(KeyCode::Tab, "Tab", "zoom the next panel in turn", Action::ZoomNext),
    main(Char(']'), "]", "weights panel: next layer", Action::LayerNext),
    main(KeyCode::Left, "←/→", "replay: one epoch back / forward (fitcheck watch on a run log)", Action::EpochBack),
    alias(KeyCode::Right, Context::Main, Action::EpochForward),
    main(KeyCode::Home, "Home/End", "replay: the first / the last epoch", Action::FirstEpoch),
    alias(KeyCode::End, Context::Main, Action::LastEpoch),
    main(Char('X'), "X", "watch: stop the external training loop (through the bridge)", Action::StopExternal),
    main(Char('['), "[", "weights panel: previous layer", Action::LayerPrev),
    main(Char('K'), "K", "fork: keep the branch (it becomes the run; the other stays as a ghost)", Action::KeepBranch),
    main(Char('x'), "x", "fork: drop the branch (the run goes on as it was)", Action::DropBranch),
    in_ctx(main(KeyCode::Up, "↑/k", "picker and remedies: previous", Action::Up), Context::Picker),
    alias(Char('k'), Context::Picker, Action::Up),
    in_ctx(main(KeyCode::Down, "↓/j", "picker and remedies: next", Action::Down), Context::Picker),
    alias(Char('j'), Context::Picker, Action::Down),
    in_ctx(
        main(
            KeyCode::Enter,
            "Enter",
            "picker: start the preset (run list: watch the run); remedies: apply it",
            Action::Choose,
        ),
        Context::Picker,
    ),
    in_ctx(main(KeyCode::Esc, "Esc", "close the picker or the remedies", Action::Close), Context::Picker),
    alias(Char('p'), Context::Picker, Action::Close),
    alias(Char('q'), Context::Picker, Action::Quit),
    alias(KeyCode::Up, Context::Checklist, Action::Up),
    alias(Char('k'), Context::Checklist, Action::Up),
    alias(KeyCode::Down, Context::Checklist, Action::Down),
    alias(Char('j'), Context::Checklist, Action::Down),
    alias(KeyCode::Enter, Context::Checklist, Action::Choose),
    in_ctx(
        main(
            Char('t'),
            "t",
            "remedies: try the highlighted one side by side (a fork on the same minibatches, 3 epochs)",
            Action::TryBranch,
        ),
        Context::Checklist,
    ),
    alias(KeyCode::Esc, Context::Checklist, Action::Close),
    alias(Char('c'), Context::Checklist, Action::Close),
    alias(Char('q'), Context::Checklist, Action::Close),
    alias(KeyCode::Enter, Context::RangeTest, Action::Choose),
    alias(KeyCode::Esc, Context::RangeTest, Action::Close),
    alias(Char('m'), Context::RangeTest, Action::Close),
    alias(Char('q'), Context::RangeTest, Action::Close),
];

/// Whether `b` matches `key`. Shifted characters arrive with SHIFT set on
/// some terminals: for characters only CONTROL and ALT count.
fn matches(b: &Binding, key: &KeyEvent) -> bool {
    let mods = match key.code {
        Char(_) => key.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT),
        _ => key.modifiers,
    };
    b.key == key.code && b.mods == mods
}

/// The action bound to a key press in `context`, if any. The number keys
/// zoom the panels of [`Panel::ALL`], as many as there are.
pub fn action_for(key: &KeyEvent, context: Context) -> Option<Action> {
    let bound = BINDINGS
        .iter()
        .find(|b| (b.context == context || b.context == Context::Any) && matches(b, key))
        .map(|b| b.action);
    bound.or_else(|| zoom_for(key, context))
}

/// The zoom key of a panel: its number in [`Panel::ALL`].
fn zoom_for(key: &KeyEvent, context: Context) -> Option<Action> {
    let plain = main(key.code, "", "", Action::Zoom(0));
    let n = match key.code {
        Char(c) if context == Context::Main && matches(&plain, key) => c.to_digit(10)?,
        _ => return None,
    };
    Panel::from_zoom(n as u8).map(|p| Action::Zoom(p.number()))
}

/// How a key is written in hints: `space`, `Enter`, `↑`, a character as itself.
pub fn key_name(code: KeyCode) -> &'static str {
    // Every printable ASCII character, so one can be named as a `&'static str`.
    const ASCII: &str =
        r##"!"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghijklmnopqrstuvwxyz{|}~"##;
    match code {
        Char(' ') => "space",
        Char(c @ '!'..='~') => {
            let i = c as usize - '!' as usize;
            &ASCII[i..i + 1]
        }
        KeyCode::Enter => "Enter",
        KeyCode::Esc => "Esc",
        KeyCode::Tab => "Tab",
        KeyCode::Up => "↑",
        KeyCode::Down => "↓",
        KeyCode::Left => "←",
        KeyCode::Right => "→",
        KeyCode::Home => "Home",
        KeyCode::End => "End",
        KeyCode::F(1) => "F1",
        _ => "?",
    }
}

/// The key of `action` in `context` as every hint on screen writes it: the
/// first binding the table lists for it there (then those of every
/// context). Rebinding a key in the table changes each hint. Panics on an
/// action with no key there: a hint must name a real key (the tests press
/// the hint of every action in every context it has a key in, and the
/// screen tests draw every panel's hints).
pub fn key_of(action: Action, context: Context) -> &'static str {
    let b = BINDINGS
        .iter()
        .find(|b| b.context == context && b.action == action)
        .or_else(|| BINDINGS.iter().find(|b| b.context == Context::Any && b.action == action))
        .unwrap_or_else(|| panic!("{action:?} has no key in {context:?}"));
    // A key with modifiers ("Ctrl-C") is written as its label says.
    if b.mods == NONE { key_name(b.key) } else { b.label }
}

/// The keys of two opposite actions as one hint: `+/-`, `d/D`.
pub fn keys_of(a: Action, b: Action, context: Context) -> String {
    format!("{}/{}", key_of(a, context), key_of(b, context))
}

/// [`key_of`] in the dashboard's own context, the hint most panels write.
pub fn key(action: Action) -> &'static str {
    key_of(action, Context::Main)
}

/// [`keys_of`] in the dashboard's own context.
pub fn keys(a: Action, b: Action) -> String {
    keys_of(a, b, Context::Main)
}

/// How the help writes a binding's key: its label; the zoom line's from
/// [`Panel::ALL`] ("1-7").
fn label(b: &Binding) -> &'static str {
    if b.label != ZOOM_LABEL {
        return b.label;
    }
    static ZOOM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ZOOM.get_or_init(|| format!("1-{}", Panel::ALL[Panel::ALL.len() - 1].zoom_key()))
}

/// How the help writes the key of `action` in `context` (its first
/// listed binding): overlays name their keys from here.
pub fn label_of(action: Action, context: Context) -> Option<&'static str> {
    BINDINGS.iter().find(|b| b.context == context && b.action == action && !b.label.is_empty()).map(label)
}

/// The footer's entries, in table order, each key written from the table.
pub fn footer() -> impl Iterator<Item = (Cow<'static, str>, &'static str)> {
    BINDINGS.iter().filter_map(|b| {
        let (actions, words) = b.footer?;
        let keys = match actions {
            [] => Cow::Borrowed(key_of(b.action, b.context)),
            [a] => Cow::Borrowed(key_of(*a, b.context)),
            more => Cow::Owned(more.iter().map(|a| key_of(*a, b.context)).collect::<Vec<_>>().join("/")),
        };
        Some((keys, words))
    })
}

/// The footer of a dashboard that does not train its run: only the keys
/// that do something there (keys from the table, so they cannot drift).
/// `bridge`: the run listens to the bridge, and what its loop said of
/// itself (only the keys it obeys are shown); `replay`: a recorded run with
/// a time cursor; `runs`: a run list to go back to.
pub fn footer_not_live(
    bridge: Option<&crate::ingest::BridgeStatus>,
    replay: bool,
    runs: bool,
) -> Vec<(Cow<'static, str>, &'static str)> {
    let one = |a: Action| Cow::Borrowed(key(a));
    let two = |a: Action, b: Action| Cow::Owned(keys(a, b));
    let mut out = vec![(one(Action::Quit), "quit")];
    if replay {
        out.extend([
            (two(Action::EpochBack, Action::EpochForward), "epoch"),
            (two(Action::FirstEpoch, Action::LastEpoch), "first/last"),
        ]);
    }
    if let Some(status) = bridge {
        let keys = [
            ("pause", (one(Action::TogglePause), "pause")),
            ("scale_lr", (two(Action::LrUp, Action::LrDown), "lr")),
            ("save", (one(Action::SaveCheckpoint), "save")),
            ("stop", (one(Action::StopExternal), "stop")),
        ];
        out.extend(keys.into_iter().filter(|(command, _)| status.obeys(command)).map(|(_, entry)| entry));
    }
    out.push((one(Action::Checklist), "checklist"));
    if runs {
        out.push((one(Action::Presets), "runs"));
    }
    out.push((one(Action::ToggleHelp), "help"));
    out
}

/// The help overlay's lines for a run trained elsewhere: the keys that only
/// look (help, zoom, axes, the checklist), and, when the run listens to the
/// bridge, the keys its loop obeys, each said as the framework does it
/// (see `integrations/python/README.md`, "What each key does").
pub fn help_lines_watch(bridge: Option<&crate::ingest::BridgeStatus>) -> Vec<(&'static str, Cow<'static, str>)> {
    let framework = bridge.and_then(|s| s.framework.clone()).unwrap_or_default();
    let bridged = |action: Action| -> Option<Cow<'static, str>> {
        let status = bridge?;
        let command = super::modes::bridge_command_of(action)?;
        if !status.obeys(command) {
            return None;
        }
        let between = match framework.as_str() {
            "keras" => "two batches",
            "hf" => "two optimizer steps",
            "lightning" => "two training steps",
            _ => "two steps, where the loop polls",
        };
        Some(Cow::Owned(match action {
            Action::TogglePause => format!("pause / resume the training loop between {between}"),
            Action::LrUp => {
                "double the loop's learning rate (the factor composes with its scheduler; ×1024 at most)".into()
            }
            Action::LrDown => "halve the loop's learning rate".into(),
            Action::SaveCheckpoint => match framework.as_str() {
                "lightning" => "save: trainer.save_checkpoint(<log>-checkpoints/step-N.ckpt)".into(),
                "keras" => "save: model.save(<log>-checkpoints/step-N.keras)".into(),
                "hf" => "save: the Trainer writes output_dir/checkpoint-N after the step".into(),
                _ => "save: the loop saves a checkpoint (its save_requested)".into(),
            },
            Action::StopExternal => match framework.as_str() {
                "lightning" => "stop: trainer.should_stop (Lightning's usual end of fit)".into(),
                "keras" => "stop: model.stop_training (fit returns after the batch)".into(),
                "hf" => "stop: control.should_training_stop (ends after the step)".into(),
                _ => "stop the training loop (its stop_requested)".into(),
            },
            _ => return None,
        }))
    };
    BINDINGS
        .iter()
        .filter(|b| !b.help.is_empty() && matches!(b.context, Context::Main | Context::Any))
        .filter_map(|b| match b.action {
            Action::Quit
            | Action::ToggleHelp
            | Action::ToggleLogScale
            | Action::ToggleWindow
            | Action::ToggleDataView
            | Action::ZoomNext
            | Action::LayerNext
            | Action::LayerPrev
            | Action::Checklist => Some((b.label, Cow::Borrowed(b.help))),
            Action::Zoom(1) => Some((label(b), Cow::Owned(format!("{} {}", b.help, Panel::zoom_help())))),
            Action::Zoom(_) => Some((b.label, Cow::Borrowed(b.help))),
            action => bridged(action).map(|help| (b.label, help)),
        })
        .collect()
}

/// The help overlay's lines: key label and sentence, aliases left out. The
/// zoom keys' sentence lists the panels from [`Panel`], so it cannot drift.
pub fn help_lines() -> impl Iterator<Item = (&'static str, Cow<'static, str>)> {
    BINDINGS.iter().filter(|b| !b.help.is_empty()).map(|b| {
        let help = match b.action {
            Action::Zoom(1) => Cow::Owned(format!("{} {}", b.help, Panel::zoom_help())),
            _ => Cow::Borrowed(b.help),
        };
        (label(b), help)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                assert!(
                    !(a.key == b.key && a.mods == b.mods && a.context == b.context),
                    "{:?} bound twice in {:?}",
                    a.key,
                    a.context
                );
            }
        }
    }

    #[test]
    fn ctrl_c_quits_everywhere_and_plain_c_opens_the_checklist() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for ctx in [Context::Main, Context::Picker, Context::Checklist] {
            assert_eq!(action_for(&ctrl_c, ctx), Some(Action::Quit));
        }
        assert_eq!(action_for(&KeyEvent::from(KeyCode::Char('c')), Context::Main), Some(Action::Checklist));
        assert_eq!(action_for(&KeyEvent::from(KeyCode::Char('c')), Context::Checklist), Some(Action::Close));
        assert_eq!(action_for(&KeyEvent::from(KeyCode::Char('+')), Context::Main), Some(Action::LrUp));
        let shifted_d = KeyEvent::new(KeyCode::Char('D'), KeyModifiers::SHIFT);
        assert_eq!(action_for(&shifted_d, Context::Main), Some(Action::DropoutDown));
    }

    #[test]
    fn the_footer_ends_with_nothing_cut_off_and_help_lists_every_action() {
        let footer: Vec<_> = footer().collect();
        assert_eq!(footer.first(), Some(&("q".into(), "quit")));
        assert_eq!(
            footer.last(),
            Some(&("?".into(), "help")),
            "help ends the footer: a narrow footer drops from the middle"
        );
        let help: Vec<_> = help_lines().collect();
        assert!(help.iter().any(|(k, _)| *k == "{"));
        assert!(help.len() > 30);
    }

    /// The key event a hint names, as a user would press it.
    fn pressed(name: &str) -> KeyEvent {
        let code = match name {
            "space" => Char(' '),
            "Enter" => KeyCode::Enter,
            "Esc" => KeyCode::Esc,
            "Tab" => KeyCode::Tab,
            "↑" => KeyCode::Up,
            "↓" => KeyCode::Down,
            "←" => KeyCode::Left,
            "→" => KeyCode::Right,
            "Home" => KeyCode::Home,
            "End" => KeyCode::End,
            "F1" => KeyCode::F(1),
            "Ctrl-C" => return KeyEvent::new(Char('c'), KeyModifiers::CONTROL),
            one if one.chars().count() == 1 => Char(one.chars().next().unwrap()),
            other => panic!("{other:?} is not a key of the table"),
        };
        KeyEvent::from(code)
    }

    #[test]
    fn every_hint_names_a_key_of_the_table_that_does_what_it_says() {
        // Every action with a key in a context: the hint for it, pressed
        // there, is that action (so a rebound key changes the hint too).
        for b in BINDINGS {
            for context in [b.context, Context::Main, Context::Picker, Context::Checklist, Context::RangeTest] {
                let bound = BINDINGS
                    .iter()
                    .any(|o| o.action == b.action && (o.context == context || o.context == Context::Any));
                if !bound {
                    continue;
                }
                let hint = key_of(b.action, context);
                let key = pressed(hint);
                // An `Any` binding's context is every one: ask in the dashboard's.
                let asked = if context == Context::Any { Context::Main } else { context };
                assert_eq!(action_for(&key, asked), Some(b.action), "{hint:?} in {context:?}");
            }
        }
        assert_eq!(keys(Action::LrUp, Action::LrDown), "+/-");
        assert_eq!(keys(Action::RemoveLayer, Action::AddLayer), "</>");
        assert_eq!(key(Action::TogglePause), "space");
        assert_eq!(key_of(Action::Close, Context::Checklist), "Esc");
        assert_eq!(key_of(Action::Quit, Context::Picker), "q");
        // Every footer entry's keys, pressed, do something.
        for (keys, words) in footer().chain(footer_not_live(Some(&Default::default()), true, true)) {
            for k in keys.split('/') {
                assert!(action_for(&pressed(k), Context::Main).is_some(), "{k:?} of {keys} {words}");
            }
        }
    }

    #[test]
    fn a_label_that_names_a_key_names_its_bindings_key() {
        // The help's labels are written in the table beside their keys: a
        // rebound key with its old label fails here.
        for b in BINDINGS.iter().filter(|b| !b.label.is_empty() && b.label != ZOOM_LABEL && b.mods == NONE) {
            let first = b.label.split(['/', ' ']).next().unwrap_or_default();
            assert_eq!(first, key_name(b.key), "the label {:?} of {:?}", b.label, b.action);
        }
    }

    #[test]
    fn the_zoom_keys_follow_the_panels() {
        let digit = |c: char| action_for(&KeyEvent::from(Char(c)), Context::Main);
        assert_eq!(digit('0'), Some(Action::Zoom(0)));
        let beyond = char::from_digit(Panel::ALL.len() as u32 + 1, 10).unwrap();
        assert_eq!(digit(beyond), None, "no panel {beyond}");
        assert_eq!(action_for(&KeyEvent::from(Char('3')), Context::Checklist), None, "zoom keys work on the dashboard");
        assert_eq!(action_for(&KeyEvent::new(Char('3'), KeyModifiers::ALT), Context::Main), None);
    }

    #[test]
    fn each_panels_zoom_key_zooms_it_and_the_help_names_them_all() {
        for p in Panel::ALL {
            let key = KeyEvent::from(KeyCode::Char(p.zoom_key()));
            assert_eq!(action_for(&key, Context::Main), Some(Action::Zoom(p.number())), "{p:?}");
        }
        let last = Panel::ALL[Panel::ALL.len() - 1].zoom_key();
        let (label, help) = help_lines().find(|(_, h)| h.starts_with("zoom a panel")).expect("the zoom line");
        assert_eq!(label, format!("1-{last}"));
        assert!(help.ends_with("6 controls 7 checklist"), "{help}");
    }
}
