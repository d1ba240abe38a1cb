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
    mut when: impl FnMut(&[Event]) -> Vec<Command>,
    resume: bool,
) -> Vec<Event> {
    let mut trainer = Trainer::new(&small(sets), mnist()).unwrap();
    if let Some((branch, changes, epochs)) = fork {
        trainer.queue(Command::Fork { branch: branch.into(), changes, epochs });
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
