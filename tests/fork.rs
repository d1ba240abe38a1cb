//! A fork of the live run through the trainer's protocol: the branch trains
//! on the same minibatches in the same order (with no change, bit for bit
//! the run), the run itself is not disturbed by it, a kept branch goes on
//! with its own model and optimizer state, and the trainer pauses for the
//! decision after the epochs asked for.

mod common;

use std::time::Duration;

use common::{mnist, small};
use fitcheck::settings::Setting;
use fitcheck::train::{Command, EpochMetrics, Event, Trainer, spawn};

/// Trains `small(sets)`, forked before the first step when `fork` says how,
/// and sends each command once `when` says so (given the events so far);
/// resumes a pause the fork asked for when `resume`.
fn drive(
    sets: &[&str],
    fork: Option<(&str, Vec<Command>, usize)>,
    when: impl FnMut(&[Event]) -> Vec<Command>,
    resume: bool,
) -> Vec<Event> {
    let fork = fork.map(|(branch, changes, epochs)| Command::Fork { branch: branch.into(), changes, epochs });
    drive_preset(&small(sets), mnist(), fork, when, resume)
}

/// Trains `preset` on `data`, with `fork` queued before the first step.
fn drive_preset(
    preset: &fitcheck::preset::Preset,
    data: fitcheck::data::TrainTest,
    fork: Option<Command>,
    mut when: impl FnMut(&[Event]) -> Vec<Command>,
    resume: bool,
) -> Vec<Event> {
    let mut trainer = Trainer::new(preset, data).unwrap();
    if let Some(fork) = fork {
        trainer.queue(fork);
    }
    let handle = spawn(trainer).unwrap();
    let mut events = Vec::new();
    while let Ok(e) = handle.events.recv_timeout(Duration::from_secs(60)) {
        let paused = matches!(e, Event::Paused { .. });
        events.push(e);
        for cmd in when(&events) {
            handle.commands.send(cmd).unwrap();
        }
        if paused && resume {
            handle.commands.send(Command::Resume).unwrap();
        }
        if matches!(events.last(), Some(Event::Summary(_) | Event::Failed { .. })) {
            break;
        }
    }
    handle.thread.join().unwrap();
    events
}

/// The run's epochs (`None`) or the branch's.
fn epochs(events: &[Event], branch: Option<&str>) -> Vec<EpochMetrics> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Epoch(m) if m.branch.as_deref() == branch => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// What training computed of an epoch, as bits (not its timing).
fn bits(m: &EpochMetrics) -> [u32; 8] {
    [
        m.train_loss.to_bits(),
        m.train_acc.to_bits(),
        m.train_loss_eval.to_bits(),
        m.train_acc_eval.to_bits(),
        m.val_loss.to_bits(),
        m.val_acc.to_bits(),
        m.lr.to_bits(),
        m.step as u32,
    ]
}

#[test]
fn a_fork_with_no_change_trains_bit_identical_to_the_run_on_the_same_batches() {
    // Dropout and shifted copies: the masks and the shifts must match too.
    let sets = ["epochs=3", "dropout=0.3", "augment=Shift(pixels: 2)"];
    let forked = drive(&sets, Some(("no change", Vec::new(), 9)), |_| Vec::new(), false);
    let fork = forked.iter().find_map(|e| match e {
        Event::Fork(f) => Some(f.clone()),
        _ => None,
    });
    let fork = fork.expect("a fork event");
    assert!(fork.changes.is_empty(), "nothing changed on the branch");
    let (run, branch) = (epochs(&forked, None), epochs(&forked, Some("no change")));
    assert_eq!((run.len(), branch.len()), (3, 3));
    for (r, b) in run.iter().zip(&branch) {
        assert_eq!(bits(r), bits(b), "epoch {}: the branch left the run", r.epoch);
    }
    // The run beside a branch is the run without one: the fork takes nothing from it.
    let alone = drive(&sets, None, |_| Vec::new(), false);
    for (r, a) in run.iter().zip(&epochs(&alone, None)) {
        assert_eq!(bits(r), bits(a), "epoch {}: the fork disturbed the run", r.epoch);
    }
}

#[test]
fn a_branch_with_a_change_differs_and_the_trainer_pauses_after_the_epochs_asked_for() {
    let changes = vec![Command::Set(Setting::Dropout(0.5))];
    let events = drive(&["epochs=3"], Some(("dropout 0.5", changes, 1)), |_| Vec::new(), true);
    let Some(Event::Fork(f)) = events.iter().find(|e| matches!(e, Event::Fork(_))) else { panic!("no fork") };
    assert_eq!(f.changes.len(), 1);
    assert_eq!((&f.changes[0].from, &f.changes[0].to), (&Setting::Dropout(0.0), &Setting::Dropout(0.5)));
    let (run, branch) = (epochs(&events, None), epochs(&events, Some("dropout 0.5")));
    assert_eq!((run.len(), branch.len()), (3, 3), "undecided, the fork goes on after the pause");
    assert_ne!(bits(&run[0]), bits(&branch[0]), "dropout 0.5 trains another model");
    assert_eq!(run[0].step, branch[0].step, "at equal steps");
    // Paused right after the branch's first epoch, then resumed; once.
    let first = events.iter().position(|e| matches!(e, Event::Epoch(m) if m.branch.is_some())).unwrap();
    assert!(matches!(events[first + 1], Event::Paused { .. }), "{:?}", events[first + 1]);
    assert_eq!(events.iter().filter(|e| matches!(e, Event::Paused { .. })).count(), 1);
    // The run's own settings did not change: no change event reached it.
    assert!(!events.iter().any(|e| matches!(e, Event::Change(_))));
    let line = serde_json::to_string(&events[first]).unwrap();
    assert!(
        line.starts_with(r#"{"type":"epoch","epoch":1,"#) && line.ends_with(r#","branch":"dropout 0.5"}"#),
        "{line}"
    );
}

#[test]
fn a_kept_branch_goes_on_with_its_model_and_optimizer_state() {
    let changes = vec![Command::Set(Setting::L2(1e-3))];
    // Left alone, the branch's second epoch is this.
    let beside = drive(&["epochs=2"], Some(("L2 0.001", changes.clone(), 9)), |_| Vec::new(), false);
    let want = epochs(&beside, Some("L2 0.001"));
    // Kept after its first epoch (somewhere early in the second).
    let mut kept = false;
    let events = drive(
        &["epochs=2"],
        Some(("L2 0.001", changes, 9)),
        |events: &[Event]| {
            let mut cmds = Vec::new();
            if !kept && matches!(events.last(), Some(Event::Epoch(m)) if m.branch.is_some()) {
                kept = true;
                cmds.push(Command::KeepBranch);
            }
            cmds
        },
        false,
    );
    let end = events.iter().find_map(|e| match e {
        Event::ForkEnd { kept, branch, .. } => Some((*kept, branch.clone())),
        _ => None,
    });
    assert_eq!(end, Some((true, "L2 0.001".to_string())));
    let run = epochs(&events, None);
    assert_eq!(epochs(&events, Some("L2 0.001")).len(), 1, "the branch is the run after it was kept");
    // The run's second epoch is the branch's, to the bit: the same weights,
    // the same momentum, the same masks and batches went on (a fresh
    // optimizer would have lost the momentum and given other numbers).
    assert_eq!(bits(&run[1]), bits(&want[1]));
    assert_ne!(bits(&run[1]), bits(&epochs(&beside, None)[1]), "not the run it replaced");
}

#[test]
fn a_dropped_branch_leaves_the_run_as_it_was() {
    let changes = vec![Command::Set(Setting::LearningRate(0.2))];
    let mut dropped = false;
    let events = drive(
        &["epochs=2"],
        Some(("lr 0.2", changes, 9)),
        |events: &[Event]| {
            let mut cmds = Vec::new();
            if !dropped && matches!(events.last(), Some(Event::Epoch(m)) if m.branch.is_some()) {
                dropped = true;
                cmds.push(Command::DropBranch);
            }
            cmds
        },
        false,
    );
    assert!(events.iter().any(|e| matches!(e, Event::ForkEnd { kept: false, .. })));
    let alone = drive(&["epochs=2"], None, |_| Vec::new(), false);
    let (run, without) = (epochs(&events, None), epochs(&alone, None));
    assert_eq!(run.len(), 2);
    for (r, a) in run.iter().zip(&without) {
        assert_eq!(bits(r), bits(a));
    }
}

#[test]
fn a_fresh_fork_is_a_second_run_from_the_same_seed_one_change_apart() {
    use fitcheck::data::Normalize;
    let run = small(&["epochs=2", "dropout=0.3"]);
    let fresh = |branch: &str, preset: &fitcheck::preset::Preset| {
        let cmd = Command::ForkFresh { branch: branch.into(), preset: Box::new(preset.clone()), epochs: 9 };
        drive_preset(&run, mnist(), Some(cmd), |_| Vec::new(), false)
    };
    // The same settings from the same seed: the same network, inputs,
    // minibatches and dropout masks, bit for bit.
    let same = fresh("same", &run);
    let (a, b) = (epochs(&same, None), epochs(&same, Some("same")));
    assert_eq!((a.len(), b.len()), (2, 2));
    for (r, s) in a.iter().zip(&b) {
        assert_eq!(bits(r), bits(s), "epoch {}: a fresh start of the same settings left the run", r.epoch);
    }
    // Standardized inputs and wider layers: another model, at equal steps,
    // beside a run the branch does not disturb.
    let next = fitcheck::preset::Preset { normalize: Normalize::Standardize, hidden: vec![128], ..run.clone() };
    let events = fresh("normalized inputs, hidden 64→128", &next);
    let Some(Event::Fork(f)) = events.iter().find(|e| matches!(e, Event::Fork(_))) else { panic!("no fork") };
    assert_eq!((f.step, f.epoch), (0, 0), "forked before the first step");
    assert_eq!(f.settings.as_deref(), Some(&next), "the fork line carries the branch's whole settings");
    // And the branch's own step 0: its inputs are standardized, the run's scaled to [0, 1].
    let step0 = |p: &fitcheck::protocol::Preflight| p.input_max_abs;
    let run0 = events.iter().find_map(|e| if let Event::Preflight(p) = e { Some(step0(p)) } else { None });
    let branch0 = f.preflight.as_deref().map(step0).expect("a fresh branch's step 0");
    assert!(run0.is_some_and(|r| r <= 1.0) && branch0 > 1.0, "{run0:?} vs {branch0}");
    assert_eq!((&f.changes[0].from, &f.changes[0].to), (&Setting::Hidden(vec![64]), &Setting::Hidden(vec![128])));
    let (r, b) = (epochs(&events, None), epochs(&events, Some("normalized inputs, hidden 64→128")));
    assert_eq!((r.len(), b.len()), (2, 2));
    assert_ne!(bits(&r[0]), bits(&b[0]), "another model");
    assert_eq!(r[1].step, b[1].step, "at equal steps");
    for (x, y) in r.iter().zip(&a) {
        assert_eq!(bits(x), bits(y), "epoch {}: the fresh branch disturbed the run", x.epoch);
    }
    let line = serde_json::to_string(&Event::Fork(f.clone())).unwrap();
    assert!(line.contains("Standardize"), "{line}");
}

#[test]
fn a_fresh_fork_the_data_cannot_take_ends_at_once_saying_why() {
    // Shifted copies need images; the spirals are points.
    let run = common::preset("spirals", &["epochs=1"]);
    let data = fitcheck::train::load_data(&run).unwrap();
    let next = fitcheck::preset::Preset { augment: fitcheck::preset::Augment::Shift { pixels: 2 }, ..run.clone() };
    let cmd = Command::ForkFresh { branch: "shifted copies".into(), preset: Box::new(next), epochs: 3 };
    let events = drive_preset(&run, data, Some(cmd), |_| Vec::new(), false);
    let end = events.iter().find_map(|e| match e {
        Event::ForkEnd { kept, reason, .. } => Some((*kept, reason.clone())),
        _ => None,
    });
    let (kept, reason) = end.expect("the fork ends");
    assert!(!kept && reason.contains("shifting needs images"), "{reason}");
    assert!(epochs(&events, Some("shifted copies")).is_empty(), "no branch trained");
    assert!(matches!(events.last(), Some(Event::Summary(_))), "the run itself goes on");
}
