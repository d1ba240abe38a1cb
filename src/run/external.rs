//! Runs trained elsewhere, as events: an [`ExternalRun`] (read by
//! `crate::ingest` from TensorBoard event files, CSV or JSON lines) becomes a
//! `start` event and one `epoch` event per epoch, so the same run model,
//! dashboard and checklist read it. What such a log does not carry (training
//! in eval mode, layer statistics, the settings) is marked unknown: the
//! checklist says "not available for this run" rather than guess.

use crate::ingest::{ExternalEpoch, ExternalRun, TagHistogram};
use crate::nn::stats::{HIST_BINS, Histogram, LayerKind, LayerStats};
use crate::preset::Preset;
use crate::protocol::StatsReport;
use crate::protocol::{EpochMetrics, Event, RunInfo, Stopped, Summary};

/// Steps per epoch from the writer's steps, when it logs them (else 1).
pub fn steps_per_epoch(run: &ExternalRun) -> u64 {
    run.epochs
        .iter()
        .rev()
        .find_map(|e| e.step.map(|s| (e.epoch, s)))
        .map_or(1, |(epoch, step)| (step / epoch.max(1) as u64).max(1))
}

/// The `start` event of an external run.
pub fn start_event(run: &ExternalRun) -> Event {
    let epochs = run.epochs.len();
    let steps_per_epoch = steps_per_epoch(run);
    Event::Start(RunInfo {
        preset: run.name.clone(),
        dataset: format!("{} ({})", run.format, run.source.display()),
        epochs,
        steps_per_epoch,
        train_size: 0,
        val_size: 0,
        test_size: 0,
        parameters: 0,
        hidden: Vec::new(),
        activation: "unknown".into(),
        optimizer: optimizer_of(run).unwrap_or_else(|| "unknown".into()),
        lr: run.epochs.iter().find_map(|e| e.lr).unwrap_or(f32::NAN),
        batch_size: 0,
        threads: 0,
        classes: 0,
        input_scale: f32::NAN,
        settings: None,
        hparams: run.hparams.clone(),
    })
}

/// The optimizer a log names: Lightning's `LearningRateMonitor` tags the
/// rate `lr-Adam` (`lr-SGD/pg1`), and writers may record an `optimizer`
/// hyperparameter.
pub fn optimizer_of(run: &ExternalRun) -> Option<String> {
    let from_tag = run.mapped.iter().find_map(|(tag, field)| {
        let rest = tag.strip_prefix("lr-").filter(|_| *field == crate::ingest::Field::Lr)?;
        let name = rest.split('/').next().unwrap_or(rest);
        (!name.is_empty()).then(|| name.to_string())
    });
    from_tag
        .or_else(|| run.hparams.iter().find(|(k, _)| hparam_key(k) == "optimizer").map(|(_, v)| v.trim().to_string()))
}

/// The last part of a recorded hyperparameter's key, lower-case
/// (`model/optimizer/lr` → `lr`).
pub fn hparam_key(key: &str) -> String {
    key.rsplit(['/', '.']).next().unwrap_or(key).to_ascii_lowercase()
}

/// A logged value: missing stays NaN, a logged NaN or infinity becomes
/// +infinity, so the checklist tells "not logged" from "not finite".
fn as_logged(v: Option<f32>) -> f32 {
    match v {
        None => f32::NAN,
        Some(x) if x.is_finite() => x,
        Some(_) => f32::INFINITY,
    }
}

/// One epoch as the run model reads it. A missing value is NaN (written as
/// `null`); training "in eval mode" is the logged training value, the only
/// one an external log has.
pub fn epoch_event(e: &ExternalEpoch, steps_per_epoch: u64, first_wall: Option<f64>) -> Event {
    Event::Epoch(EpochMetrics {
        epoch: e.epoch,
        step: e.step.unwrap_or(e.epoch as u64 * steps_per_epoch),
        train_loss: as_logged(e.train_loss),
        train_acc: as_logged(e.train_acc),
        train_loss_eval: as_logged(e.train_loss),
        train_acc_eval: as_logged(e.train_acc),
        val_loss: as_logged(e.val_loss),
        val_acc: as_logged(e.val_acc),
        lr: as_logged(e.lr),
        penalty: 0.0,
        noise_memorized: None,
        samples_per_s: 0.0,
        threads: None,
        elapsed_s: match (e.wall_time, first_wall) {
            (Some(t), Some(t0)) => t - t0,
            _ => 0.0,
        },
        grad_norm: e.grad_norm.map(|g| as_logged(Some(g))),
        branch: None,
    })
}

/// Every event of an external run, start first.
pub fn events(run: &ExternalRun) -> Vec<Event> {
    let start = start_event(run);
    let spe = steps_per_epoch(run);
    let first_wall = run.epochs.iter().find_map(|e| e.wall_time);
    // The latest histograms go first: each epoch's diagnosis can then read
    // the logged gradients (a one-shot read has no earlier moment for them).
    std::iter::once(start)
        .chain(stats_event(&run.histograms))
        .chain(run.epochs.iter().map(|e| epoch_event(e, spe, first_wall)))
        .collect()
}

/// The settings an external run is shown with: none are known. The
/// placeholder keeps the name; `Run::external` marks it unknown.
pub fn placeholder_settings(name: &str) -> Preset {
    let text = include_str!("../../presets/mnist-mlp.ron");
    let mut p = Preset::parse(text, "mnist-mlp.ron").expect("the shipped baseline preset parses");
    p.name = name.to_string();
    p.lesson = "a run trained elsewhere".into();
    p
}

/// The summary of an external run as far as its log goes (no test set).
pub fn summary(run: &crate::run::Run) -> Summary {
    let best = run.best_epoch();
    Summary {
        epochs: run.epochs.len(),
        best_epoch: best.map_or(0, |b| b.epoch),
        best_val_acc: best.map_or(0.0, |b| if b.val_acc.is_finite() { b.val_acc } else { 0.0 }),
        test_acc: None,
        test_loss: None,
        stopped: Stopped::Completed,
    }
}

/// A TensorBoard histogram in the Weights panel's form: its buckets
/// re-binned into `HIST_BINS` equal bins over `[min, max]` (each bucket's
/// count goes to the bin of its centre), the norm from the sum of squares
/// when the writer logged it. What a histogram cannot tell (gradients,
/// update ratios, activations) is NaN: shown as "–".
pub fn layer_of(h: &TagHistogram) -> LayerStats {
    let (lo, hi) = (h.min as f32, h.max as f32);
    let mut counts = vec![0u32; HIST_BINS];
    let width = (h.max - h.min).max(f64::MIN_POSITIVE);
    for (i, (&limit, &count)) in h.bucket_limits.iter().zip(&h.bucket_counts).enumerate() {
        let left = if i == 0 { h.min } else { h.bucket_limits[i - 1] };
        let centre = (left.max(h.min) + limit.min(h.max)) / 2.0;
        if !centre.is_finite() || count <= 0.0 {
            continue;
        }
        let bin = (((centre - h.min) / width) * HIST_BINS as f64).clamp(0.0, (HIST_BINS - 1) as f64) as usize;
        counts[bin] = counts[bin].saturating_add(count.round().min(u32::MAX as f64) as u32);
    }
    let nan = f32::NAN;
    LayerStats {
        kind: LayerKind::Dense,
        fan_in: 0,
        fan_out: 0,
        weights: Histogram { lo, hi, counts },
        weight_norm: h.sum_squares.map_or_else(|| bucket_norm(h), |s| s.sqrt() as f32),
        unit_norms: Histogram { lo: 0.0, hi: 0.0, counts: vec![0; HIST_BINS] },
        grad_norm: nan,
        update_ratio: nan,
        dead_fraction: None,
        saturated_fraction: None,
        act_mean: nan,
        act_std: nan,
        name: Some(h.tag.clone()),
    }
}

/// The norm of a histogram that kept no sum of squares (TF2's tensor
/// histograms): each bucket's count at its centre. NaN without buckets.
fn bucket_norm(h: &TagHistogram) -> f32 {
    let mut sq = 0.0;
    for (i, (&limit, &count)) in h.bucket_limits.iter().zip(&h.bucket_counts).enumerate() {
        let left = if i == 0 { h.min } else { h.bucket_limits[i - 1] };
        let centre = (left.max(h.min) + limit.min(h.max)) / 2.0;
        if centre.is_finite() && count > 0.0 {
            sq += count * centre * centre;
        }
    }
    if h.bucket_counts.is_empty() { f32::NAN } else { sq.sqrt() as f32 }
}

/// Whether a histogram tag holds gradients: a path segment `grad`,
/// `grads`, `gradient(s)` (`grad/fc1.weight`, `gradients/dense/kernel`), or
/// a name ending in `.grad`, `_grad`, `/grad` (`fc1.weight.grad`).
pub fn is_gradient_tag(tag: &str) -> bool {
    let t = tag.to_ascii_lowercase();
    t.split(['/', '.']).any(|seg| matches!(seg, "grad" | "grads" | "gradient" | "gradients"))
        || t.ends_with("_grad")
        || t.ends_with("_grads")
        || t.starts_with("grad_")
}

/// Tags in the order of the layers they name: digit runs compared as
/// numbers, so `net.2` comes before `net.10`.
fn natural_key(tag: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = tag.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut n = c.to_digit(10).map_or(0, u64::from);
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                n = n.saturating_mul(10).saturating_add(u64::from(d));
                chars.next();
            }
            out.push((std::mem::take(&mut text), n));
        } else {
            text.push(c);
        }
    }
    out.push((text, u64::MAX));
    out
}

/// The gradient histograms of a statistics event (as `stats_event` makes
/// them), input side first: (tag, root mean square, step). Weights only
/// when the log names weights (`weight`, `kernel`): biases are small by
/// nature. Empty when no tag holds gradients.
pub fn gradients(report: &StatsReport) -> Vec<(String, f32, u64)> {
    let grads: Vec<(&str, f32)> = report
        .layers
        .iter()
        .filter_map(|l| {
            let tag = l.name.as_deref().filter(|t| is_gradient_tag(t))?;
            let n: u64 = l.weights.counts.iter().map(|&c| u64::from(c)).sum();
            (n > 0 && l.weight_norm.is_finite()).then(|| (tag, l.weight_norm / (n as f32).sqrt()))
        })
        .collect();
    let weighty = |t: &str| {
        let t = t.to_ascii_lowercase();
        t.contains("weight") || t.contains("kernel")
    };
    let any_weights = grads.iter().any(|g| weighty(g.0));
    let mut out: Vec<(String, f32, u64)> = grads
        .into_iter()
        .filter(|g| !any_weights || weighty(g.0))
        .map(|(t, rms)| (t.to_string(), rms, report.step))
        .collect();
    out.sort_by_cached_key(|g| natural_key(&g.0));
    out
}

/// The latest histogram of every tag, as one statistics event (tags in
/// name order), or `None` without histograms.
pub fn stats_event(histograms: &[TagHistogram]) -> Option<Event> {
    let mut latest: Vec<&TagHistogram> = Vec::new();
    for h in histograms {
        match latest.iter_mut().find(|l| l.tag == h.tag) {
            Some(l) if l.step <= h.step => *l = h,
            Some(_) => {}
            None => latest.push(h),
        }
    }
    latest.sort_by(|a, b| a.tag.cmp(&b.tag));
    let step = latest.iter().map(|h| h.step).max()?;
    Some(Event::Stats(StatsReport { step, layers: latest.into_iter().map(layer_of).collect() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(tag: &str, step: u64) -> TagHistogram {
        TagHistogram {
            tag: tag.into(),
            step,
            wall_time: 0.0,
            min: -1.0,
            max: 1.0,
            num: 10.0,
            sum: Some(0.0),
            sum_squares: Some(4.0),
            bucket_limits: vec![-0.5, 0.0, 0.5, f64::MAX],
            bucket_counts: vec![1.0, 4.0, 4.0, 1.0],
        }
    }

    #[test]
    fn tensorboard_histograms_become_the_weights_panel_rows() {
        let Some(Event::Stats(r)) = stats_event(&[hist("fc2", 3), hist("fc1", 1), hist("fc1", 5)]) else {
            panic!("a stats event")
        };
        assert_eq!(r.step, 5);
        let names: Vec<_> = r.layers.iter().map(|l| l.name.clone().unwrap()).collect();
        assert_eq!(names, ["fc1", "fc2"]);
        let l = &r.layers[0];
        assert_eq!(l.weights.total(), 10, "every count lands in a bin");
        assert_eq!(l.weight_norm, 2.0);
        assert!(l.grad_norm.is_nan(), "a histogram has no gradients");
        assert!(stats_event(&[]).is_none());
    }

    #[test]
    fn gradient_histograms_are_found_by_tag_and_put_in_layer_order() {
        for tag in ["grad/net.0.weight", "gradients/dense/kernel", "fc1.weight.grad", "fc1_grad", "Grads/x"] {
            assert!(is_gradient_tag(tag), "{tag}");
        }
        for tag in ["fc1.weight", "gradual/warmup", "weights/grader", "upgrade"] {
            assert!(!is_gradient_tag(tag), "{tag}");
        }
        let mut hs: Vec<TagHistogram> =
            ["grad/net.10.weight", "grad/net.2.weight", "grad/net.0.weight", "grad/net.0.bias", "fc1"]
                .iter()
                .map(|t| hist(t, 7))
                .collect();
        // Layer 10's values four times larger: sum of squares 16x.
        hs[0].sum_squares = Some(64.0);
        let Some(Event::Stats(r)) = stats_event(&hs) else { panic!("a stats event") };
        let g = gradients(&r);
        let tags: Vec<&str> = g.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(tags, ["grad/net.0.weight", "grad/net.2.weight", "grad/net.10.weight"], "weights only, by layer");
        // Root mean square: sqrt(4 / 10) and sqrt(64 / 10).
        assert!((g[0].1 - 0.4f32.sqrt()).abs() < 1e-6);
        assert!((g[2].1 - 6.4f32.sqrt()).abs() < 1e-5);
        assert!(g.iter().all(|x| x.2 == 7));
        // A TF2 histogram keeps no sum of squares: its buckets give the norm.
        let mut tf2 = hist("gradients/kernel", 1);
        tf2.sum_squares = None;
        (tf2.min, tf2.max, tf2.bucket_limits, tf2.bucket_counts) = (-1.0, 1.0, vec![0.0, 1.0], vec![5.0, 5.0]);
        assert!((layer_of(&tf2).weight_norm - 10f32.sqrt() / 2.0).abs() < 1e-6);
    }
}
