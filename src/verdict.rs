//! The bridge from a run's events to the diagnosis: a [`RunRecord`] keeps
//! what the checklist needs (epochs, the latest layer statistics, rollbacks,
//! the live settings) as events arrive, and builds `diagnose::Inputs` from
//! it. The headless runner and the dashboard both keep one, so they reach
//! the same verdict on the same run.

use crate::diagnose::{self, Diagnosis, EpochPoint, Inputs, LayerPoint, Settings};
use crate::preset::{Augment, Preset};
use crate::train::{Change, Event, Stopped};

#[derive(Clone, Debug)]
pub struct RunRecord {
    pub preset: Preset,
    pub epochs: Vec<EpochPoint>,
    pub layers: Vec<LayerPoint>,
    pub classes: usize,
    pub input_scale: f32,
    /// Steps at which the guard rolled back.
    pub rollback_steps: Vec<u64>,
    /// The step each epoch ended at.
    pub epoch_steps: Vec<u64>,
    pub stopped: Option<Stopped>,
}

impl RunRecord {
    pub fn new(preset: Preset) -> RunRecord {
        RunRecord {
            preset,
            epochs: Vec::new(),
            layers: Vec::new(),
            classes: 10,
            input_scale: 1.0,
            rollback_steps: Vec::new(),
            epoch_steps: Vec::new(),
            stopped: None,
        }
    }

    /// Takes in one event of the run.
    pub fn record(&mut self, event: &Event) {
        match event {
            Event::Start(info) => {
                self.classes = info.classes;
                self.input_scale = info.input_scale;
            }
            Event::Epoch(m) => {
                self.epochs.push(EpochPoint {
                    epoch: m.epoch,
                    train_loss: m.train_loss,
                    train_loss_eval: m.train_loss_eval,
                    train_acc_eval: m.train_acc_eval,
                    val_loss: m.val_loss,
                    val_acc: m.val_acc,
                });
                self.epoch_steps.push(m.step);
            }
            Event::Stats(r) => {
                self.layers = r
                    .layers
                    .iter()
                    .map(|l| LayerPoint {
                        grad_norm: l.grad_norm,
                        dead_fraction: l.dead_fraction,
                        saturated_fraction: l.saturated_fraction,
                    })
                    .collect();
            }
            Event::Diverged { step, .. } => self.rollback_steps.push(*step),
            Event::Change(c) => apply_change(&mut self.preset, c),
            Event::Summary(s) => self.stopped = Some(s.stopped),
            _ => {}
        }
    }

    pub fn diagnosis(&self) -> Diagnosis {
        let p = &self.preset;
        // Rollbacks since the epoch before the last one ended: "recent".
        let since = self.epoch_steps.len().checked_sub(2).map_or(0, |i| self.epoch_steps[i]);
        let recent = self.rollback_steps.iter().filter(|&&s| s > since).count();
        diagnose::diagnose(&Inputs {
            epochs: &self.epochs,
            classes: self.classes,
            settings: Settings {
                lr: p.lr,
                hidden: p.hidden.clone(),
                activation: p.activation.label().to_string(),
                optimizer: p.optimizer.label(),
                dropout: p.dropout,
                l2: p.l2,
                early_stopping: p.early_stopping.is_some(),
                label_noise: p.label_noise,
                augmenting: p.augment != Augment::None,
                convolutional: p.conv.is_some(),
                images: matches!(p.dataset, crate::data::DatasetSpec::Mnist | crate::data::DatasetSpec::Idx { .. }),
            },
            input_scale: self.input_scale,
            layers: &self.layers,
            rollbacks: self.rollback_steps.len(),
            recent_rollbacks: recent,
            gave_up: self.stopped == Some(Stopped::Diverged),
            stopped_early: self.stopped == Some(Stopped::EarlyStop),
        })
    }
}

/// Keeps `p` in step with a change the trainer applied.
pub fn apply_change(p: &mut Preset, c: &Change) {
    let ron_of = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let num = |v: &serde_json::Value, old: f32| v.as_f64().map_or(old, |x| x as f32);
    match c.key.as_str() {
        "lr" => p.lr = num(&c.to, p.lr),
        "dropout" => p.dropout = num(&c.to, p.dropout),
        "l1" => p.l1 = num(&c.to, p.l1),
        "l2" => p.l2 = num(&c.to, p.l2),
        "hidden" => {
            if let Ok(h) = serde_json::from_value(c.to.clone()) {
                p.hidden = h;
            }
        }
        "activation" => {
            if let Some(a) = ron_of(&c.to).and_then(|t| ron::from_str(&t).ok()) {
                p.activation = a;
            }
        }
        "optimizer" => {
            if let Some(o) = ron_of(&c.to).and_then(|t| ron::from_str(&t).ok()) {
                p.optimizer = o;
            }
        }
        "early_stopping" => {
            if let Some(e) = ron_of(&c.to).and_then(|t| ron::from_str(&t).ok()) {
                p.early_stopping = e;
            }
        }
        _ => {}
    }
}
