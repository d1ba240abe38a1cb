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
    ToggleHelp,
}

/// One binding: the keys, how the footer and help show them, what they do.
pub struct Binding {
    pub keys: &'static [KeyCode],
    /// How the key is written in the footer and help ("+/-" style pairs are separate rows).
    pub label: &'static str,
    /// A few words for the footer.
    pub short: &'static str,
    /// A sentence for the help overlay.
    pub help: &'static str,
    pub action: Action,
}

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[KeyCode::Char('q')],
        label: "q",
        short: "quit",
        help: "quit (Ctrl-C too); the terminal is restored",
        action: Action::Quit,
    },
    Binding {
        keys: &[KeyCode::Char(' ')],
        label: "space",
        short: "pause",
        help: "pause / resume training",
        action: Action::TogglePause,
    },
    Binding {
        keys: &[KeyCode::Char('n')],
        label: "n",
        short: "step",
        help: "one training step while paused",
        action: Action::StepOnce,
    },
    Binding {
        keys: &[KeyCode::Char('+'), KeyCode::Char('=')],
        label: "+",
        short: "lr×2",
        help: "double the learning rate (applies at the next minibatch)",
        action: Action::LrUp,
    },
    Binding {
        keys: &[KeyCode::Char('-'), KeyCode::Char('_')],
        label: "-",
        short: "lr÷2",
        help: "halve the learning rate",
        action: Action::LrDown,
    },
    Binding {
        keys: &[KeyCode::Char('?'), KeyCode::F(1)],
        label: "?",
        short: "help",
        help: "show / hide this help",
        action: Action::ToggleHelp,
    },
];

/// The action bound to a key press, if any.
pub fn action_for(key: &KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == KeyCode::Char('c')).then_some(Action::Quit);
    }
    BINDINGS.iter().find(|b| b.keys.contains(&key.code)).map(|b| b.action)
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
    fn ctrl_c_quits_and_plain_c_does_not() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(&ctrl_c), Some(Action::Quit));
        assert_eq!(action_for(&KeyEvent::from(KeyCode::Char('c'))), None);
        assert_eq!(action_for(&KeyEvent::from(KeyCode::Char('+'))), Some(Action::LrUp));
    }
}
