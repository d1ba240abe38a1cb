//! The trainer thread through its protocol: commands between minibatches,
//! events out, determinism, and the summary.

mod common;

use std::time::Duration;

use common::{mnist, small};
use fitcheck::nn::governor::Mode;
use fitcheck::settings::{Setting, SettingKey};
use fitcheck::train::{Command, Event, Stopped, Trainer, spawn};

fn collect(sets: &[&str], commands: &[(usize, Command)]) -> Vec<Event> {
    collect_with(sets, commands, |_| {})
}

/// [`collect`], with the trainer set up by `setup` before it starts.
fn collect_with(sets: &[&str], commands: &[(usize, Command)], setup: impl FnOnce(&mut Trainer)) -> Vec<Event> {
    let mut trainer = Trainer::new(&small(sets), mnist()).unwrap();
    setup(&mut trainer);
    let handle = spawn(trainer).unwrap();
    let mut events = Vec::new();
    let mut pending = commands.to_vec();
    while let Ok(e) = handle.events.recv_timeout(Duration::from_secs(60)) {
        events.push(e);
        // Send each command once `after` events have arrived.
        pending.retain(|(after, cmd)| {
            if events.len() >= *after {
                handle.commands.send(cmd.clone()).unwrap();
                false
            } else {
                true
            }
        });
        if matches!(events.last(), Some(Event::Summary(_) | Event::Failed { .. })) {
            break;
        }
    }
    handle.thread.join().unwrap();
    events
}

fn epochs(events: &[Event]) -> Vec<fitcheck::train::EpochMetrics> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Epoch(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_run_starts_reports_every_epoch_and_ends_with_a_summary() {
    let events = collect(&[], &[]);
    assert!(matches!(events[0], Event::Start(_)), "{:?}", events[0]);
    let ep = epochs(&events);
    assert_eq!(ep.len(), 2);
    assert_eq!(ep[1].step, 80, "2 epochs of 2000/50 steps");
    assert!(ep[1].val_acc > 0.8, "a small MLP learns 2,000 digits: {:?}", ep[1]);
    match events.last().unwrap() {
        Event::Summary(s) => {
            assert_eq!(s.stopped, Stopped::Completed);
            assert!(s.test_acc.unwrap() > 0.8, "{s:?}");
            assert_eq!(s.best_val_acc, ep.iter().map(|e| e.val_acc).fold(0.0, f32::max));
        }
        other => panic!("last event {other:?}"),
    }
}

/// The metrics of every epoch, as bits.
fn metric_bits(events: &[Event]) -> Vec<[u32; 6]> {
    epochs(events)
        .into_iter()
        .map(|e| {
            [e.train_loss, e.train_acc, e.train_loss_eval, e.train_acc_eval, e.val_loss, e.val_acc].map(f32::to_bits)
        })
        .collect()
}

/// By default (the step governor free to run steps on one thread or two),
/// the same preset and seed repeat bit for bit.
#[test]
fn same_preset_and_seed_give_the_same_metrics() {
    let a = metric_bits(&collect(&[], &[]));
    let b = metric_bits(&collect(&[], &[]));
    assert_eq!(a, b);
    let c = metric_bits(&collect(&["seed=8"], &[]));
    assert_ne!(a, c);
}

/// Every step on the team's two threads, or every step on one: the same
/// epoch metrics and the same final weights (the saved file), bit for bit,
/// for a dense net with dropout and for a convolutional one. Before the
/// batch was cut into fixed parts, one thread summed the whole batch's
/// gradients at once and the last bits differed.
#[test]
fn one_thread_or_two_train_the_same_bits() {
    let dir = tempfile::tempdir().unwrap();
    let conv = "conv=Some([Conv(filters: 8, kernel: 3), MaxPool(2)])";
    for (name, sets) in [("mlp", vec!["dropout=0.2"]), ("cnn", vec![conv, "hidden=[32]"])] {
        let run = |mode: Mode| {
            let path = dir.path().join(format!("{name}-{mode:?}.safetensors"));
            let events = collect_with(&sets, &[], |t| {
                t.pin_steps(mode);
                t.save_at_end(path.clone());
            });
            assert!(matches!(events.last(), Some(Event::Summary(_))), "{name}: {:?}", events.last());
            (metric_bits(&events), std::fs::read(&path).unwrap())
        };
        // Each tensor's bytes, by name (the header's metadata comes in hash
        // order, which differs from run to run).
        let tensors = |file: &[u8]| {
            let st = safetensors::SafeTensors::deserialize(file).unwrap();
            let mut t: Vec<(String, Vec<u8>)> = st.tensors().into_iter().map(|(n, v)| (n, v.data().to_vec())).collect();
            t.sort();
            t
        };
        let (team, alone) = (run(Mode::Team), run(Mode::Alone));
        assert_eq!(team.0.len(), 2, "{name}: two epochs");
        assert_eq!(team.0, alone.0, "{name}: epoch metrics");
        let (a, b) = (tensors(&team.1), tensors(&alone.1));
        assert_eq!(a.len(), if name == "cnn" { 6 } else { 4 }, "{name}: tensors saved");
        for ((name_a, a), (name_b, b)) in a.iter().zip(&b) {
            assert_eq!(name_a, name_b);
            assert!(a == b, "{name}: the saved {name_a} differ");
        }
    }
}

#[test]
fn learning_rate_changes_apply_between_steps_and_are_reported() {
    let events = collect(&[], &[(1, Command::Set(Setting::LearningRate(0.1)))]);
    let change = events
        .iter()
        .find_map(|e| match e {
            Event::Change(c) => Some(c.clone()),
            _ => None,
        })
        .expect("a change event");
    assert_eq!(change.key(), SettingKey::LearningRate);
    assert_eq!(change.from, Setting::LearningRate(0.05));
    assert_eq!(change.to, Setting::LearningRate(0.1));
    assert!(epochs(&events).iter().all(|e| e.lr == 0.1));
}

#[test]
fn pause_holds_training_and_step_lets_one_minibatch_through() {
    let trainer = Trainer::new(&small(&[]), mnist()).unwrap();
    let handle = spawn(trainer).unwrap();
    handle.commands.send(Command::Pause).unwrap();
    let paused_at = loop {
        match handle.events.recv_timeout(Duration::from_secs(30)).unwrap() {
            Event::Paused { step } => break step,
            _ => continue,
        }
    };
    // Nothing else arrives while paused (step events only come from steps).
    std::thread::sleep(Duration::from_millis(150));
    let drained: Vec<Event> = handle.events.try_iter().collect();
    assert!(drained.iter().all(|e| !matches!(e, Event::Epoch(_))), "{drained:?}");
    handle.commands.send(Command::Step).unwrap();
    handle.commands.send(Command::Step).unwrap();
    handle.commands.send(Command::Resume).unwrap();
    let resumed_at = loop {
        match handle.events.recv_timeout(Duration::from_secs(30)).unwrap() {
            Event::Resumed { step } => break step,
            _ => continue,
        }
    };
    assert_eq!(resumed_at, paused_at + 2);
    handle.commands.send(Command::Stop).unwrap();
    let rest: Vec<Event> = handle.events.iter().collect();
    handle.thread.join().unwrap();
    match rest.last() {
        Some(Event::Summary(s)) => assert_eq!(s.stopped, Stopped::Interrupted),
        other => panic!("expected an interrupted summary, got {other:?}"),
    }
}

#[test]
fn a_driver_that_goes_away_stops_the_trainer() {
    let trainer = Trainer::new(&small(&["epochs=50"]), mnist()).unwrap();
    let handle = spawn(trainer).unwrap();
    let _ = handle.events.recv();
    drop(handle.events);
    // The thread notices at its next send and ends.
    handle.thread.join().unwrap();
}

#[test]
fn live_edits_reach_the_trainer_and_are_reported_with_their_keys() {
    use fitcheck::nn::{Activation, OptimizerKind};
    let adam = OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 };
    let events = collect(
        &["epochs=3"],
        &[
            (1, Command::Set(Setting::Activation(Activation::Tanh))),
            (1, Command::AddLayer),
            (1, Command::Set(Setting::Dropout(0.2))),
            (1, Command::Set(Setting::L2(1e-4))),
            (1, Command::Set(Setting::L1(1e-5))),
            (1, Command::Set(Setting::Optimizer(adam))),
            (1, Command::Set(Setting::LearningRate(0.001))),
            (1, Command::RemoveLayer),
            (1, Command::RemoveLayer),
        ],
    );
    let changes: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Change(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let keys: Vec<&str> = changes.iter().map(|c| c.key().field()).collect();
    assert_eq!(keys, ["activation", "hidden", "dropout", "l2", "l1", "optimizer", "lr", "hidden", "hidden"]);
    assert_eq!(changes[0].from, Setting::Activation(Activation::Relu));
    assert_eq!(changes[0].to, Setting::Activation(Activation::Tanh));
    assert_eq!(changes[1].from, Setting::Hidden(vec![64]));
    assert_eq!(changes[1].to, Setting::Hidden(vec![64, 64]));
    assert!(changes[1].note.as_deref().unwrap().contains("function changed"), "tanh bends its input");
    assert_eq!(changes[5].to.to_json(), "Adam(beta1:0.9,beta2:0.999)");
    assert!(changes[5].note.as_deref().unwrap().contains("fresh"));
    assert_eq!(changes[8].to, Setting::Hidden(vec![]));
    // Training goes on after every edit, with a penalty reported apart.
    let ep = epochs(&events);
    assert_eq!(ep.len(), 3);
    assert!(ep.iter().all(|e| e.val_loss.is_finite()));
    assert!(ep[2].penalty > 0.0, "{:?}", ep[2]);
    assert!(matches!(events.last(), Some(Event::Summary(_))));
}

#[test]
fn layer_statistics_arrive_while_training() {
    let events = collect(&["epochs=3", "train_size=6000"], &[]);
    let stats: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Stats(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert!(!stats.is_empty(), "no statistics in {} events", events.len());
    let s = stats.last().unwrap();
    assert_eq!(s.layers.len(), 2, "one hidden layer and the output layer");
    let hidden = &s.layers[0];
    assert_eq!((hidden.fan_in, hidden.fan_out), (784, 64));
    assert_eq!(hidden.weights.total(), 784 * 64);
    assert!(hidden.grad_norm > 0.0 && hidden.weight_norm > 0.0);
    assert!(hidden.update_ratio > 0.0 && hidden.update_ratio < 1.0, "{}", hidden.update_ratio);
    assert!(hidden.dead_fraction.is_some() && s.layers[1].dead_fraction.is_none());
}

#[test]
fn a_diverging_run_rolls_back_halves_the_rate_and_never_reports_nan() {
    let events = collect(&["lr=20.0", "hidden=[64, 64]"], &[]);
    let diverged: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Diverged { lr_from, lr_to, rolled_back_to, step, .. } => {
                Some((*lr_from, *lr_to, *rolled_back_to, *step))
            }
            _ => None,
        })
        .collect();
    assert!(!diverged.is_empty(), "lr 20 must trip the guard");
    let (from, to, back, at) = diverged[0];
    assert_eq!((from, to), (20.0, 10.0));
    assert!(back < at);
    common::assert_all_finite(&events);
    assert!(epochs(&events).iter().all(|e| e.train_loss.is_finite() && e.val_loss.is_finite()));
}

#[test]
fn early_stopping_stops_and_keeps_the_best_weights() {
    // 300 digits and a wide net overfit within a few epochs.
    let events = collect(
        &[
            "train_size=300",
            "hidden=[256]",
            "epochs=60",
            "batch_size=30",
            "lr=0.1",
            "early_stopping=EarlyStopping(patience: 3, min_delta: 0.0)",
        ],
        &[],
    );
    let stop = events.iter().find_map(|e| match e {
        Event::EarlyStop { epoch, best_epoch, best_val_loss, .. } => Some((*epoch, *best_epoch, *best_val_loss)),
        _ => None,
    });
    let (epoch, best_epoch, best_val_loss) = stop.expect("an early_stop event");
    assert!(epoch < 60 && best_epoch + 3 == epoch, "stopped at {epoch}, best {best_epoch}");
    let ep = epochs(&events);
    assert_eq!(ep.len(), epoch);
    let min_val = ep.iter().map(|e| e.val_loss).fold(f32::INFINITY, f32::min);
    assert_eq!(best_val_loss, min_val);
    match events.last() {
        Some(Event::Summary(s)) => assert_eq!(s.stopped, Stopped::EarlyStop),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_checkpoint_is_written_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut trainer = Trainer::new(&small(&[]), mnist()).unwrap();
    trainer.set_checkpoint_dir(dir.path().join("ck"));
    let handle = spawn(trainer).unwrap();
    handle.commands.send(Command::SaveCheckpoint).unwrap();
    let path = loop {
        match handle.events.recv_timeout(Duration::from_secs(30)).unwrap() {
            Event::Checkpoint { path, error, .. } => {
                assert_eq!(error, None);
                break path;
            }
            _ => continue,
        }
    };
    handle.commands.send(Command::Stop).unwrap();
    for _ in handle.events.iter() {}
    handle.thread.join().unwrap();
    assert!(path.starts_with(&dir.path().join("ck").display().to_string()), "{path}");
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert_eq!(header["dense.0.weight"]["shape"], serde_json::json!([64, 784]));
    assert_eq!(header["__metadata__"]["preset"], "mnist-mlp");
}

#[test]
fn each_epoch_brings_a_data_view_of_the_validation_split() {
    let events = collect(&[], &[]);
    let views: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::DataView(v) => Some(v.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(views.len(), 2, "one per epoch");
    let v = &views[1];
    let total: u32 = v.confusion.iter().flatten().sum();
    assert_eq!(total, 500, "every validation digit counted once");
    let right: u32 = (0..10).map(|i| v.confusion[i][i]).sum();
    let acc = epochs(&events)[1].val_acc;
    assert!((right as f32 / 500.0 - acc).abs() < 1e-6, "the diagonal is the accuracy");
    assert_eq!(v.image, Some((28, 28)));
    assert!(!v.misclassified.is_empty());
    assert!(v.misclassified.iter().all(|m| m.label != m.predicted && m.pixels.len() == 784));
    assert!(v.boundary.is_none());
}

#[test]
fn a_two_d_set_gets_its_decision_boundary() {
    let p = common::preset("spirals", &["epochs=2"]);
    let handle = spawn(Trainer::new(&p, fitcheck::train::load_data(&p).unwrap()).unwrap()).unwrap();
    let events: Vec<Event> = handle.events.iter().collect();
    handle.thread.join().unwrap();
    let b = events
        .iter()
        .find_map(|e| match e {
            Event::DataView(v) => v.boundary.clone(),
            _ => None,
        })
        .expect("a boundary");
    assert_eq!(b.classes.len(), b.cols * b.rows);
    assert!(b.classes.iter().all(|&c| c < 3));
    assert!(b.points.len() >= 100 && b.points.iter().all(|p| p.0 >= b.x.0 && p.0 <= b.x.1));
    let distinct: std::collections::HashSet<u8> = b.classes.iter().copied().collect();
    assert!(distinct.len() >= 2, "the plane is split between classes");
}

/// Issue 12: `>` thirty times then `<` forty times used to fold the loss up
/// to ~1900 and end `diverged`; each edit is now snapshotted before it
/// applies, so a rollback undoes it, and the run ends trained.
#[test]
fn many_fast_structural_edits_do_not_destroy_the_run() {
    let mut commands: Vec<(usize, Command)> = (0..30).map(|_| (3, Command::AddLayer)).collect();
    commands.extend((0..40).map(|_| (3, Command::RemoveLayer)));
    let events = collect(&[], &commands);
    let Some(Event::Summary(s)) = events.last() else { panic!("a summary") };
    assert_ne!(s.stopped, Stopped::Diverged, "{s:?}");
    assert!(s.test_acc.unwrap() > 0.7, "{s:?}");
}

/// Training on after the end (space in the dashboard) does not look at the
/// test set again: every summary of the run reports the first look.
#[test]
fn a_continued_run_reports_the_test_set_it_saw_once() {
    let mut trainer = Trainer::new(&small(&["epochs=1"]), mnist()).unwrap();
    trainer.stay_after_end();
    let handle = spawn(trainer).unwrap();
    let mut tests = Vec::new();
    while tests.len() < 3 {
        match handle.events.recv_timeout(Duration::from_secs(60)).expect("an event") {
            Event::Summary(s) => {
                tests.push(s.test_acc.expect("a test score"));
                if tests.len() < 3 {
                    handle.commands.send(Command::Continue { epochs: 1 }).unwrap();
                }
            }
            Event::Failed { message } => panic!("{message}"),
            _ => {}
        }
    }
    handle.commands.send(Command::Stop).unwrap();
    drop(handle.commands);
    assert!(tests.iter().all(|t| *t == tests[0]), "{tests:?}");
}
