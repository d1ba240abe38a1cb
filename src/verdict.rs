//! The bridge from a run's events to the diagnosis: a [`RunRecord`] keeps
//! what the checklist needs (epochs, the layer statistics at every epoch's
//! end, rollbacks, step 0's pre-flight, the probes, the live settings) as
//! events arrive, and builds `diagnose::Inputs` from it. The headless runner
//! and the dashboard both keep one, so they reach the same verdict on the
//! same run.

use crate::diagnose::{
    self, Diagnosis, EpochPoint, Inputs, LayerPoint, LayerSnapshot, PreflightPoint, ProbeFitPoint, ProbePoint,
    Settings, Verdict,
};
use crate::preset::{Augment, Preset};
use crate::train::preflight::Preflight;
use crate::train::probe::{ProbeFit, ProbeResult};
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
    // diag: the measured evidence of issue 11.
    /// The layers at each epoch's end, update ratios averaged over the epoch.
    pub layer_history: Vec<LayerSnapshot>,
    /// Per layer, the sum of ln(update ratio) and the count, this epoch so far.
    pub ratio_logs: Vec<(f64, usize)>,
    pub preflight: Option<PreflightPoint>,
    pub probes: Vec<ProbePoint>,
    /// The verdict and finding ids last reported by [`RunRecord::verdict_event`].
    pub last_verdict: Option<(Verdict, Vec<String>)>,
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
            layer_history: Vec::new(),
            ratio_logs: Vec::new(),
            preflight: None,
            probes: Vec::new(),
            last_verdict: None,
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
                let from = self.epoch_steps.last().copied().unwrap_or(0);
                let rollbacks = self.rollback_steps.iter().filter(|&&s| s > from && s <= m.step).count();
                self.epochs.push(EpochPoint {
                    epoch: m.epoch,
                    train_loss: m.train_loss,
                    train_loss_eval: m.train_loss_eval,
                    train_acc_eval: m.train_acc_eval,
                    val_loss: m.val_loss,
                    val_acc: m.val_acc,
                    penalty: m.penalty,
                    rollbacks,
                });
                self.epoch_steps.push(m.step);
                // The epoch's layers, their update ratios averaged (geometric
                // mean) over the epoch's reports: one step's ratio is noisy.
                let mut layers = self.layers.clone();
                for (l, &(sum, n)) in layers.iter_mut().zip(&self.ratio_logs) {
                    l.update_ratio = if n > 0 { (sum / n as f64).exp() as f32 } else { 0.0 };
                }
                self.ratio_logs.clear();
                self.layer_history.push(LayerSnapshot { epoch: m.epoch, layers });
            }
            Event::Stats(r) => {
                self.layers = r
                    .layers
                    .iter()
                    .map(|l| LayerPoint {
                        units: l.fan_out,
                        grad_norm: l.grad_norm,
                        weight_norm: l.weight_norm,
                        update_ratio: l.update_ratio,
                        dead_fraction: l.dead_fraction,
                        saturated_fraction: l.saturated_fraction,
                    })
                    .collect();
                if self.ratio_logs.len() != self.layers.len() {
                    // A new architecture: its ratios start over.
                    self.ratio_logs = vec![(0.0, 0); self.layers.len()];
                }
                for (acc, l) in self.ratio_logs.iter_mut().zip(&self.layers) {
                    if l.update_ratio.is_finite() && l.update_ratio > 0.0 {
                        acc.0 += (l.update_ratio as f64).ln();
                        acc.1 += 1;
                    }
                }
            }
            Event::Preflight(p) => self.preflight = Some(preflight_point(p)),
            Event::Probe(p) => self.probes.push(probe_point(p)),
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
                l1: p.l1,
                l2: p.l2,
                early_stopping: p.early_stopping.is_some(),
                label_noise: p.label_noise,
                augmenting: p.augment != Augment::None,
                convolutional: p.conv.is_some(),
                images: matches!(p.dataset, crate::data::DatasetSpec::Mnist | crate::data::DatasetSpec::Idx { .. }),
                normalized: p.normalize != crate::data::Normalize::None,
            },
            input_scale: self.input_scale,
            layers: &self.layers,
            rollbacks: self.rollback_steps.len(),
            recent_rollbacks: recent,
            gave_up: self.stopped == Some(Stopped::Diverged),
            stopped_early: self.stopped == Some(Stopped::EarlyStop),
            layer_history: &self.layer_history,
            preflight: self.preflight.as_ref(),
            probes: &self.probes,
        })
    }

    /// `Event::Verdict` when the diagnosis (verdict or finding ids) differs
    /// from the one last reported: call it after each epoch's event, and
    /// log what it returns.
    pub fn verdict_event(&mut self) -> Option<Event> {
        let epoch = self.epochs.last()?.epoch;
        let d = self.diagnosis();
        let now = (d.verdict, d.finding_ids());
        if self.last_verdict.as_ref() == Some(&now) {
            return None;
        }
        self.last_verdict = Some(now.clone());
        Some(Event::Verdict { epoch, verdict: now.0.id().to_string(), findings: now.1 })
    }
}

fn preflight_point(p: &Preflight) -> PreflightPoint {
    PreflightPoint {
        input_max_abs: p.input_max_abs,
        mean_range: p.mean_range,
        std_range: p.std_range,
        off_scale_share: p.off_scale_share,
        init_loss: p.init_loss,
        chance_loss: p.chance_loss,
        class_counts: p.class_counts.clone(),
        weight_norms: p.weight_norms.clone(),
    }
}

fn probe_point(p: &ProbeResult) -> ProbePoint {
    let fit = |f: &ProbeFit| ProbeFitPoint {
        optimizer: f.optimizer.clone(),
        lr: f.lr,
        steps: f.steps,
        loss_before: f.loss_before,
        loss_after: f.loss_after,
        acc_after: f.acc_after,
        fits: f.fits,
        timed_out: f.timed_out,
        update_ratio: f.update_ratio,
    };
    ProbePoint { epoch: p.epoch, batch: p.batch, configured: fit(&p.configured), reference: fit(&p.reference) }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::stats::{Histogram, LayerStats};
    use crate::train::probe::ProbeFit;
    use crate::train::{EpochMetrics, StatsReport};

    fn record() -> RunRecord {
        RunRecord::new(Preset::load(&crate::preset::resolve("mnist-mlp").unwrap()).unwrap())
    }

    fn stats(step: u64, ratios: &[f32]) -> Event {
        let layer = |r: f32| LayerStats {
            fan_in: 4,
            fan_out: 4,
            weights: Histogram::of(&[]),
            weight_norm: 2.0,
            unit_norms: Histogram::of(&[]),
            grad_norm: 0.5,
            update_ratio: r,
            dead_fraction: Some(0.0),
            saturated_fraction: None,
            act_mean: 0.0,
            act_std: 1.0,
        };
        Event::Stats(StatsReport { step, layers: ratios.iter().map(|&r| layer(r)).collect() })
    }

    fn epoch(epoch: usize, step: u64, acc: f32) -> Event {
        Event::Epoch(EpochMetrics {
            epoch,
            step,
            train_loss: 1.0,
            train_acc: acc,
            train_loss_eval: 1.0,
            train_acc_eval: acc,
            val_loss: 1.0,
            val_acc: acc,
            lr: 0.05,
            penalty: 0.25,
            samples_per_s: 1.0,
            elapsed_s: 1.0,
        })
    }

    #[test]
    fn each_epoch_keeps_its_layers_with_the_mean_update_ratio() {
        let mut r = record();
        // Two reports in epoch 1 (ratios 1e-4 and 1e-2: geometric mean 1e-3), a rollback, one in epoch 2.
        for e in [stats(1, &[1e-4, 0.0]), stats(5, &[1e-2, 0.0]), epoch(1, 10, 0.3), stats(12, &[1e-5, 2e-3])] {
            r.record(&e);
        }
        r.record(&Event::Diverged { step: 15, loss: None, rolled_back_to: 10, lr_from: 0.1, lr_to: 0.05 });
        r.record(&epoch(2, 20, 0.3));
        assert_eq!(r.layer_history.len(), 2);
        assert!((r.layer_history[0].layers[0].update_ratio - 1e-3).abs() < 1e-6);
        assert_eq!(r.layer_history[0].layers[1].update_ratio, 0.0, "never measured");
        assert!((r.layer_history[1].layers[1].update_ratio - 2e-3).abs() < 1e-7);
        assert_eq!(r.layer_history[1].layers[0].units, 4);
        assert_eq!((r.epochs[0].rollbacks, r.epochs[1].rollbacks), (0, 1));
        assert_eq!(r.epochs[1].penalty, 0.25);
    }

    #[test]
    fn the_probe_and_preflight_reach_the_diagnosis_and_verdict_lines_follow_changes() {
        let mut r = record();
        assert_eq!(r.verdict_event(), None, "no epoch yet");
        r.record(&Event::Preflight(Preflight {
            samples: 10,
            input_max_abs: 1.0,
            mean_range: (0.0, 0.5),
            std_range: (0.0, 0.4),
            off_scale_share: 0.0,
            features: 784,
            init_loss: 2.3,
            chance_loss: 2.3,
            class_counts: vec![10; 10],
            weight_norms: vec![2.0, 2.0],
        }));
        r.record(&epoch(1, 10, 0.3));
        let Some(Event::Verdict { epoch: 1, verdict, findings }) = r.verdict_event() else { panic!("a first verdict") };
        assert_eq!((verdict.as_str(), findings.len()), ("too_early", 0));
        assert_eq!(r.verdict_event(), None, "unchanged: no line");
        r.record(&epoch(2, 20, 0.3));
        let fit = |fits| ProbeFit {
            optimizer: "SGD".into(),
            lr: 0.05,
            steps: 10,
            millis: 5,
            loss_before: 2.3,
            loss_after: 0.01,
            acc_after: 1.0,
            fits,
            timed_out: false,
            update_ratio: 1e-3,
        };
        r.record(&Event::Probe(ProbeResult { epoch: 2, batch: 32, configured: fit(true), reference: fit(true) }));
        let d = r.diagnosis();
        assert_eq!(d.preflight.mark, diagnose::Mark::Pass, "{}", d.preflight.evidence);
        assert_eq!(d.probe.map(|c| c.mark), Some(diagnose::Mark::Pass));
        let Some(Event::Verdict { epoch: 2, verdict, .. }) = r.verdict_event() else { panic!("changed") };
        assert_eq!(verdict, d.verdict.id());
    }
}
