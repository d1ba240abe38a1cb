//! The key bindings as data: one table maps keys to actions and feeds the
//! footer and the help overlay, so neither can drift from the keys.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

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
    Presets,
    ToggleLogScale,
    ToggleWindow,
    ToggleDataView,
    /// Open the checklist with its remedies (arrows pick one, Enter applies it).
    Checklist,
    /// Show one panel (1-based, in screen order) over the whole body; again to go back.
    Zoom(u8),
    /// Zoom the next panel (Tab), or back to all panels after the last.
    ZoomNext,
    LayerNext,
    LayerPrev,
    ToggleHelp,
}

/// One binding: the keys, how the footer and help show them, what they do.
pub struct Binding {
    pub keys: &'static [KeyCode],
    /// How the key is written in the footer and help.
    pub label: &'static str,
    /// A few words for the footer.
    pub short: &'static str,
    /// A sentence for the help overlay.
    pub help: &'static str,
    pub action: Action,
    /// How the footer shows it (pairs like `+/-` once), or not at all.
    pub footer: Option<(&'static str, &'static str)>,
}

const fn bind(
    keys: &'static [KeyCode],
    label: &'static str,
    short: &'static str,
    help: &'static str,
    action: Action,
) -> Binding {
    Binding { keys, label, short, help, action, footer: Some((label, short)) }
}

/// A binding the footer shows as `label short` (or leaves to the help when `None`).
const fn with_footer(b: Binding, footer: Option<(&'static str, &'static str)>) -> Binding {
    Binding { footer, ..b }
}

use KeyCode::Char;

pub const BINDINGS: &[Binding] = &[
    bind(&[Char('q')], "q", "quit", "quit (Ctrl-C too); the terminal is restored", Action::Quit),
    bind(&[Char(' ')], "space", "pause", "pause / resume training", Action::TogglePause),
    with_footer(bind(&[Char('n')], "n", "step", "one training step while paused", Action::StepOnce), None),
    with_footer(
        bind(
            &[Char('+'), Char('=')],
            "+",
            "lr×2",
            "double the learning rate (applies at the next minibatch)",
            Action::LrUp,
        ),
        Some(("+/-", "lr")),
    ),
    with_footer(bind(&[Char('-'), Char('_')], "-", "lr÷2", "halve the learning rate", Action::LrDown), None),
    with_footer(
        bind(
            &[Char('>'), Char('.')],
            ">",
            "layer+",
            "add a hidden layer, identity-initialised (the same function, exactly, for ReLU)",
            Action::AddLayer,
        ),
        Some(("</>", "depth")),
    ),
    with_footer(
        bind(
            &[Char('<'), Char(',')],
            "<",
            "layer-",
            "remove the last hidden layer (folded into the output)",
            Action::RemoveLayer,
        ),
        None,
    ),
    bind(
        &[Char('a')],
        "a",
        "act",
        "next activation, weights kept (sigmoid tanh ReLU LeakyReLU ELU SELU linear)",
        Action::NextActivation,
    ),
    with_footer(
        bind(&[Char('d')], "d", "drop+", "dropout +0.1 on every hidden layer", Action::DropoutUp),
        Some(("d/D", "dropout")),
    ),
    with_footer(bind(&[Char('D')], "D", "drop-", "dropout -0.1", Action::DropoutDown), None),
    with_footer(
        bind(&[Char('l')], "l", "l2+", "L2 weight decay up (0 → 1e-4, then ×10)", Action::L2Up),
        Some(("l/L", "L2")),
    ),
    with_footer(bind(&[Char('L')], "L", "l2-", "L2 weight decay down (÷10, then 0)", Action::L2Down), None),
    bind(
        &[Char('o')],
        "o",
        "opt",
        "next optimizer (SGD+momentum, Adam, RMSProp, Adagrad) at its usual learning rate",
        Action::NextOptimizer,
    ),
    bind(&[Char('e')], "e", "early", "early stopping on (patience 5) / off", Action::ToggleEarlyStopping),
    with_footer(
        bind(&[Char('s')], "s", "save", "save a checkpoint (safetensors) under ./checkpoints", Action::SaveCheckpoint),
        Some(("s", "save")),
    ),
    bind(
        &[Char('r')],
        "r",
        "restart",
        "restart with the current settings; this run stays as a faded ghost",
        Action::Restart,
    ),
    bind(&[Char('p')], "p", "presets", "the preset picker (Enter starts one, Esc closes)", Action::Presets),
    with_footer(bind(&[Char('g')], "g", "log", "loss axis: linear / logarithmic", Action::ToggleLogScale), None),
    with_footer(
        bind(&[Char('w')], "w", "window", "charts: the whole run / the recent window", Action::ToggleWindow),
        None,
    ),
    bind(
        &[Char('c')],
        "c",
        "checklist",
        "is it overfitting? the checklist with its remedies: ↑/↓ pick one, Enter applies it",
        Action::Checklist,
    ),
    bind(
        &[Char('v')],
        "v",
        "data",
        "data view: confusion matrix, misclassified digits, the decision boundary of 2-D sets",
        Action::ToggleDataView,
    ),
    with_footer(
        bind(
            &[Char('1'), Char('2'), Char('3'), Char('4'), Char('5'), Char('6'), Char('7')],
            "1-7",
            "zoom",
            "zoom: 1 loss 2 accuracy 3 weights 4 dropout 5 data 6 controls 7 checklist; 0 back",
            Action::Zoom(0),
        ),
        None,
    ),
    with_footer(bind(&[KeyCode::Tab], "Tab", "next panel", "zoom the next panel in turn", Action::ZoomNext), None),
    with_footer(bind(&[Char(']')], "]", "layer→", "weights panel: next layer", Action::LayerNext), None),
    with_footer(bind(&[Char('[')], "[", "layer←", "weights panel: previous layer", Action::LayerPrev), None),
    bind(&[Char('?'), KeyCode::F(1)], "?", "help", "show / hide this help", Action::ToggleHelp),
];

/// The action bound to a key press, if any.
pub fn action_for(key: &KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == KeyCode::Char('c')).then_some(Action::Quit);
    }
    match key.code {
        Char(d @ '1'..='7') => Some(Action::Zoom(d as u8 - b'0')),
        Char('0') | KeyCode::Esc => Some(Action::Zoom(0)),
        code => BINDINGS.iter().find(|b| b.keys.contains(&code)).map(|b| b.action),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice() {
        let mut seen = Vec::new();
        for b in BINDINGS {
            for k in b.keys {
                assert!(!seen.contains(k), "{k:?} bound twice");
                seen.push(*k);
            }
        }
    }

    #[test]
    fn ctrl_c_quits_and_plain_c_opens_the_checklist() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(&ctrl_c), Some(Action::Quit));
        assert_eq!(action_for(&KeyEvent::from(KeyCode::Char('c'))), Some(Action::Checklist));
        assert_eq!(action_for(&KeyEvent::from(KeyCode::Char('+'))), Some(Action::LrUp));
    }
}
