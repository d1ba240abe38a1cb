//! The "monkey": random sequences of keys, resizes and recorded trainer
//! events through `App::update` and the renderer never panic, and the
//! state keeps its invariants (the layer cursor on a layer, the remedy
//! highlight on a remedy, a zoom on a panel, a pace in the table). Also in
//! watch and replay modes, which take the keys differently.

mod common;

use fitcheck::preset::Preset;
use fitcheck::run::Run;
use fitcheck::train::Event;
use fitcheck::tui::app::{App, Msg, PACES};
use fitcheck::tui::panels::Panel;
use fitcheck::tui::ui;
use proptest::prelude::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn fixture() -> (Preset, Vec<Event>) {
    common::recorded_run()
}

/// Every key the dashboard knows, and some it does not.
const KEYS: &[char] = &[
    'q', ' ', 'n', '+', '-', '>', '<', '.', ',', 'a', 'd', 'D', 'l', 'L', 'o', 'e', 's', 'r', 'R', '{', '}', 'p', 'g',
    'w', 'v', 'c', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '[', ']', '?', 'X', 'z', 'k', 'j',
];

#[derive(Clone, Debug)]
enum Step {
    Key(KeyEvent),
    Event(usize),
    Draw(u16, u16),
}

fn step() -> impl Strategy<Value = Step> {
    let codes = prop_oneof![
        (0..KEYS.len()).prop_map(|i| KeyCode::Char(KEYS[i])),
        Just(KeyCode::Up),
        Just(KeyCode::Down),
        Just(KeyCode::Left),
        Just(KeyCode::Right),
        Just(KeyCode::Home),
        Just(KeyCode::End),
        Just(KeyCode::Enter),
        Just(KeyCode::Esc),
        Just(KeyCode::Tab),
        Just(KeyCode::F(1)),
    ];
    prop_oneof![
        4 => (codes, any::<bool>()).prop_map(|(code, shift)| {
            Step::Key(KeyEvent::new(code, if shift { KeyModifiers::SHIFT } else { KeyModifiers::NONE }))
        }),
        3 => (0usize..64).prop_map(Step::Event),
        1 => (1u16..200, 1u16..60).prop_map(|(w, h)| Step::Draw(w, h)),
    ]
}

fn check_invariants(app: &App) -> Result<(), TestCaseError> {
    let layers = app.run.stats.as_ref().map_or(app.run.settings.hidden.len() + 1, |s| s.layers.len());
    prop_assert!(app.layer < layers.max(1), "layer {} of {layers}", app.layer);
    if let Some(list) = &app.remedy {
        prop_assert!(list.remedies.is_empty() || list.selected < list.remedies.len());
    }
    prop_assert!(app.zoom.is_none_or(|z| (1..=Panel::ALL.len() as u8).contains(&z)), "zoom {:?}", app.zoom);
    prop_assert!(app.pace < PACES.len());
    if let Some(p) = &app.picker {
        prop_assert!(app.presets.is_empty() || p.selected < app.presets.len());
    }
    Ok(())
}

/// Plays `steps` on `app`: keys and events through `update`, draws at sizes.
fn play(mut app: App, events: &[Event], steps: &[Step]) -> Result<(), TestCaseError> {
    let mut next = 0;
    for s in steps {
        match s {
            Step::Key(k) => {
                app.update(Msg::Key(*k));
            }
            Step::Event(n) => {
                for e in events.iter().skip(next).take(*n % 8 + 1) {
                    app.update(Msg::Trainer(e.clone()));
                }
                next = (next + n % 8 + 1).min(events.len());
            }
            Step::Draw(w, h) => {
                let mut term = Terminal::new(TestBackend::new(*w, *h)).expect("a test terminal");
                term.draw(|f| ui::draw(&app, f)).expect("draws");
            }
        }
        check_invariants(&app)?;
    }
    let mut term = Terminal::new(TestBackend::new(80, 24)).expect("a test terminal");
    term.draw(|f| ui::draw(&app, f)).expect("draws");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_keys_events_and_sizes_never_break_a_live_run(steps in proptest::collection::vec(step(), 1..80)) {
        let (settings, events) = fixture();
        play(App::new(settings), &events, &steps)?;
    }

    #[test]
    fn random_keys_never_break_a_replay_or_a_watched_run(steps in proptest::collection::vec(step(), 1..60), replay in any::<bool>()) {
        let (settings, events) = fixture();
        let app = if replay { App::replaying(settings, events.clone(), false) } else { App::watching(Run::external("x"), true) };
        play(app, &events, &steps)?;
    }
}
