//! The measured evidence behind the checklist: step 0's line from the
//! pre-flight, the probe's line, and — when step 1 fails — the causes read
//! from what the engine measured (the penalty's share and the weight norms,
//! the update-to-weight ratio per layer, gradient norms, saturated and dead
//! units with where and when, the probe), in that order of precedence.

use super::{
    Check, DEAD_SHARE, DEEP, EpochPoint, FindingId, Findings, HIGH_DROPOUT, IMBALANCE, INIT_LOSS_FACTOR,
    INPUT_SCALE_MAX, Inputs, LayerPoint, Mark, OFF_SCALE_SHARE, PENALTY_SHARE, ProbePoint, RATIO_BLOWN, RATIO_HIGH,
    RATIO_LOW, RECENT_SNAPSHOTS, SATURATED_SHARE, Settings, Severity, VANISHING_RATIO, WEIGHT_SHRINK, WRECKED_SHARE,
    pct,
};
use crate::nn::Activation;

/// A loss still falling this much over the last two epochs, with the
/// updates in the healthy band and the probe fitting its batch, is a run
/// still learning, not one that has hit its capacity.
pub const STILL_LEARNING: f32 = 0.10;

/// Step 0's line, whether the inputs are off the unit scale, and the
/// evidence of that scale.
pub(super) fn preflight(inp: &Inputs<'_>, s: &Settings) -> (Check, bool, String) {
    let Some(p) = inp.preflight else {
        let unnormalized = inp.input_scale > INPUT_SCALE_MAX;
        let evidence = format!("inputs reach {:.0} (features on a scale ≫ 1)", inp.input_scale);
        let check = if unnormalized {
            Check { mark: Mark::Fail, evidence: evidence.clone() }
        } else {
            Check { mark: Mark::Pending, evidence: "no pre-flight: the run's log does not have one".into() }
        };
        return (check, unnormalized, evidence);
    };
    // Standardized features with a tiny spread (MNIST's near-blank border
    // pixels) reach large values on rare samples: for normalized inputs the
    // per-feature statistics decide, not the single largest value.
    let unnormalized = p.off_scale_share > OFF_SCALE_SHARE || (!s.normalized && p.input_max_abs > INPUT_SCALE_MAX);
    let inputs = format!(
        "inputs reach {:.3}, feature means {:.2}..{:.2}, stds {:.2}..{:.2}; {} of the features have |mean| or std above 3",
        p.input_max_abs,
        p.mean_range.0,
        p.mean_range.1,
        p.std_range.0,
        p.std_range.1,
        pct(p.off_scale_share)
    );
    let far_off = !p.init_loss.is_finite() || p.init_loss > INIT_LOSS_FACTOR * p.chance_loss;
    let loss = format!(
        "loss at initialisation {:.3} vs ln({}) = {:.3}{}",
        p.init_loss,
        p.class_counts.len(),
        p.chance_loss,
        if far_off { ": a far-off start (init or input scale)" } else { "" }
    );
    let total: usize = p.class_counts.iter().sum();
    let (lo, hi) =
        (p.class_counts.iter().copied().min().unwrap_or(0), p.class_counts.iter().copied().max().unwrap_or(0));
    let imbalanced = lo == 0 || hi as f32 > IMBALANCE * lo as f32;
    let share = |c: usize| pct(c as f32 / total.max(1) as f32);
    let balance = format!(
        "classes {}..{} of {total} training labels{}",
        share(lo),
        share(hi),
        if imbalanced { ": imbalanced" } else { "" }
    );
    let mark = if unnormalized || far_off || imbalanced { Mark::Fail } else { Mark::Pass };
    (Check { mark, evidence: format!("{inputs}; {loss}; {balance}") }, unnormalized, inputs)
}

/// The probe's line of the checklist.
pub(super) fn probe_check(p: &ProbePoint) -> Check {
    let fit = |f: &super::ProbeFitPoint| {
        format!(
            "{} at {:.0e} {} in {} steps (loss {:.3} → {:.3}, acc {})",
            f.optimizer,
            f.lr,
            if f.fits { "memorizes it" } else { "does not memorize it" },
            f.steps,
            f.loss_before,
            f.loss_after,
            pct(f.acc_after)
        )
    };
    Check {
        mark: if p.configured.fits { Mark::Pass } else { Mark::Fail },
        evidence: format!(
            "one batch of {} (epoch {}): the run's settings, {}; reference {}",
            p.batch,
            p.epoch,
            fit(&p.configured),
            fit(&p.reference)
        ),
    }
}

/// The latest layers, their update ratios averaged (geometric mean) over
/// the last `RECENT_SNAPSHOTS` epochs of the same architecture.
fn recent_layers(inp: &Inputs<'_>) -> Vec<LayerPoint> {
    let Some(latest) = inp.layer_history.last() else { return inp.layers.to_vec() };
    let same: Vec<&super::LayerSnapshot> = inp
        .layer_history
        .iter()
        .rev()
        .take(RECENT_SNAPSHOTS)
        .take_while(|s| s.layers.len() == latest.layers.len())
        .collect();
    let mut layers = latest.layers.clone();
    for (l, layer) in layers.iter_mut().enumerate() {
        let logs: Vec<f64> = same
            .iter()
            .map(|s| s.layers[l].update_ratio)
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| (r as f64).ln())
            .collect();
        layer.update_ratio =
            if logs.is_empty() { 0.0 } else { (logs.iter().sum::<f64>() / logs.len() as f64).exp() as f32 };
    }
    layers
}

/// A hidden layer all but dead (`WRECKED_SHARE` of its units never fire):
/// no signal passes it. Its index and dead share.
pub fn wrecked(layers: &[LayerPoint]) -> Option<(usize, f32)> {
    let hidden = &layers[..layers.len().saturating_sub(1)];
    hidden
        .iter()
        .enumerate()
        .filter_map(|(l, p)| p.dead_fraction.map(|d| (l, d)))
        .filter(|(_, d)| *d >= WRECKED_SHARE)
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Hidden layer `l` (0-based) as the evidence names it.
fn layer_name(l: usize, units: usize) -> String {
    format!("hidden layer {} ({units} units)", l + 1)
}

/// The causes of a training set not learned, each a finding in `f`.
pub(super) fn causes(
    inp: &Inputs<'_>,
    s: &Settings,
    f: &mut Findings<'_>,
    unnormalized: bool,
    input_evidence: &str,
    loss_fall: f32,
) {
    let Some(last) = inp.epochs.last() else { return };
    if unnormalized {
        f.add(FindingId::UnnormalizedInputs, Severity::Bad, input_evidence.to_string());
    }
    let layers = recent_layers(inp);
    if let Some(e) = regularization(inp, s, &layers, last) {
        f.add(FindingId::RegularizationTooStrong, Severity::Bad, e);
    }
    let penalized = f.has(FindingId::RegularizationTooStrong);

    // The update-to-weight ratio: the layer that moves most decides.
    let moving = layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.update_ratio.is_finite() && l.update_ratio > 0.0)
        .max_by(|a, b| a.1.update_ratio.total_cmp(&b.1.update_ratio));
    if let Some((l, top)) = moving
        && !penalized
    {
        let r = top.update_ratio;
        let which = if l + 1 == layers.len() { "the output layer".to_string() } else { layer_name(l, top.units) };
        // After the guard's rollbacks (or with raw inputs) a small ratio is
        // the guard's lowered step, not a cause: raising it blows up again.
        // A whole dead layer passes no gradient: the weights stand still
        // because nothing reaches them, not because the step is small.
        if r < RATIO_LOW && inp.rollbacks == 0 && !unnormalized && wrecked(&layers).is_none() {
            f.add(
                FindingId::LrTooLow,
                Severity::Bad,
                format!(
                    "the largest update-to-weight ratio is {r:.1e} ({which}), far below the healthy ~1e-3: \
                     at learning rate {:.1e} with {} the weights hardly move",
                    s.lr,
                    s.optimizer.label()
                ),
            );
        } else if r > RATIO_HIGH && !f.has(FindingId::LrTooHigh) {
            f.add(
                FindingId::LrTooHigh,
                Severity::Bad,
                format!(
                    "each step changes the weights of {which} by {:.0}% (update-to-weight ratio {r:.1e}, \
                     healthy ~1e-3) at learning rate {:.1e} with {}",
                    r * 100.0,
                    s.lr,
                    s.optimizer.label()
                ),
            );
        }
    }

    // A first epoch whose steps rewrote the weights wholesale, in a run that
    // has not learned since: the step size broke the net early (dead ReLUs,
    // Adam at lr 1) even though nothing overflowed and the recent ratio,
    // measured on the wreck, looks calm.
    if !penalized && !unnormalized && inp.rollbacks == 0 && !f.has(FindingId::LrTooHigh) {
        let peak = inp.layer_history.iter().find_map(|snap| {
            let (l, top) = snap
                .layers
                .iter()
                .enumerate()
                .filter(|(_, p)| p.update_ratio.is_finite())
                .max_by(|a, b| a.1.update_ratio.total_cmp(&b.1.update_ratio))?;
            (top.update_ratio > RATIO_BLOWN).then_some((snap.epoch, l, snap.layers.len(), top))
        });
        // Or no ratio caught it (averaged over an epoch whose first steps
        // killed a layer) but a ReLU layer is dead: at initialisation about
        // half its units fire on any input, so a layer that stopped firing
        // altogether was thrown there by steps too large — unless heavy
        // dropout starved it (dropout_cost says so).
        let killed = wrecked(&layers).filter(|_| s.activation == Activation::Relu && s.dropout < HIGH_DROPOUT);
        if let Some((epoch, l, n, top)) = peak {
            let which = if l + 1 == n { "the output layer".to_string() } else { layer_name(l, top.units) };
            f.add(
                FindingId::LrTooHigh,
                Severity::Bad,
                format!(
                    "in epoch {epoch} each step changed the weights of {which} by {:.0}% (update-to-weight ratio \
                     {:.1e}, healthy ~1e-3) at learning rate {:.1e} with {}; it has not learned since",
                    top.update_ratio * 100.0,
                    top.update_ratio,
                    s.lr,
                    s.optimizer.label()
                ),
            );
        } else if let Some((l, dead)) = killed {
            f.add(
                FindingId::LrTooHigh,
                Severity::Bad,
                format!(
                    "{} of {} never fire, where about half fire at initialisation: steps too large at learning \
                     rate {:.1e} with {} pushed them past the point where a ReLU passes gradient",
                    pct(dead),
                    layer_name(l, layers[l].units),
                    s.lr,
                    s.optimizer.label()
                ),
            );
        }
    }

    // Vanishing gradients, only where saturating units or depth explain them.
    let saturating = matches!(s.activation, Activation::Sigmoid | Activation::Tanh);
    let grads: Vec<f32> = layers.iter().map(|l| l.grad_norm).collect();
    if let (Some(&first), Some(&lastg)) = (grads.first(), grads.last())
        && grads.len() >= 3
        && first < VANISHING_RATIO * lastg
        && (saturating || s.hidden.len() >= DEEP)
        && !penalized
    {
        f.add(
            FindingId::VanishingGradients,
            Severity::Bad,
            format!(
                "first layer's gradient norm {first:.1e} is {:.0}x below the last's {lastg:.1e} ({} layers of {})",
                lastg / first.max(1e-30),
                s.hidden.len(),
                s.activation.label()
            ),
        );
    }
    let hidden = &layers[..layers.len().saturating_sub(1)];
    let sat: Vec<f32> = hidden.iter().filter_map(|l| l.saturated_fraction).collect();
    if !sat.is_empty() {
        let mean = sat.iter().sum::<f32>() / sat.len() as f32;
        if mean > SATURATED_SHARE {
            f.add(
                FindingId::SaturatedUnits,
                Severity::Warn,
                format!("{} of {} activations sit in the flat tails", pct(mean), s.activation.label()),
            );
        }
    }
    // Dropout p leaves (1 − p) of a layer's units at each step: fewer than
    // there are classes and the net trains through a bottleneck.
    let narrowest = s.hidden.iter().copied().min();
    let active = narrowest.map(|w| (1.0 - s.dropout) * w as f32);
    let starved = active.is_some_and(|a| a < inp.classes as f32);
    if s.dropout >= HIGH_DROPOUT && (last.train_loss > 1.5 * last.train_loss_eval || starved) {
        let units = match (narrowest, active) {
            (Some(w), Some(a)) => format!("; of {w} units in the narrowest layer, {a:.1} are on at a step"),
            _ => String::new(),
        };
        f.add(
            FindingId::DropoutCost,
            Severity::Warn,
            format!(
                "dropout {:.1}: training loss {:.3} with it, {:.3} without{units}",
                s.dropout, last.train_loss, last.train_loss_eval
            ),
        );
    }
    // After dropout: units that die under heavy dropout are its symptom,
    // listed second.
    if let Some(e) = dead_units(inp, hidden) {
        f.add(FindingId::DeadUnits, Severity::Warn, e);
    }
    if f.list.iter().any(explains) {
        return;
    }
    optimization_or_capacity(inp, s, f, last, loss_fall);
}

/// A finding that is a measured cause of a run not learning: a bad one, or
/// units the layer statistics show dead or saturated, or dropout the probe
/// showed costs the fit. The probe is asked only when none is.
pub fn explains(x: &super::Finding) -> bool {
    x.severity == Severity::Bad
        || matches!(x.id, FindingId::SaturatedUnits | FindingId::DeadUnits | FindingId::DropoutCost)
}

/// A hidden layer narrower than the number of classes: a bottleneck,
/// whatever the loss is doing.
pub fn bottleneck(s: &Settings, classes: usize) -> bool {
    s.hidden.iter().any(|&w| w < classes)
}

/// No measured cause: the probe separates a network too small from
/// settings that cannot optimize. Without a probe (a run trained
/// elsewhere) the loss trend decides, and the evidence says so.
fn optimization_or_capacity(inp: &Inputs<'_>, s: &Settings, f: &mut Findings<'_>, last: &EpochPoint, loss_fall: f32) {
    let narrowest = s.hidden.iter().enumerate().min_by_key(|(_, w)| **w);
    let layer = narrowest.map_or("no hidden layer".to_string(), |(l, &w)| layer_name(l, w));
    let level =
        format!("training accuracy {} (chance {})", pct(last.train_acc_eval), pct(1.0 / inp.classes.max(2) as f32));
    // A reference cut short by the time budget (a big network on a busy
    // machine) rules out nothing: read the run as if no probe ran.
    let probe = inp.probes.last().filter(|p| p.configured.fits || p.reference.fits || !p.reference.timed_out);
    let Some(p) = probe else {
        if loss_fall > super::FLAT_LOSS {
            f.add(
                FindingId::LrTooLow,
                Severity::Warn,
                format!(
                    "the training loss is still falling ({:.1}% over the last epochs) at learning rate {:.1e}: \
                     it learns, slowly (no conclusive probe or update ratios to tell more)",
                    loss_fall * 100.0,
                    s.lr
                ),
            );
        } else {
            f.add(
                FindingId::CapacityTooSmall,
                Severity::Warn,
                format!("{level} levels off; the narrowest is {layer} (no conclusive probe to rule out optimization)"),
            );
        }
        return;
    };
    let (c, r) = (&p.configured, &p.reference);
    // A hidden layer narrower than the number of classes is a bottleneck,
    // whatever the loss is doing.
    let bottleneck = bottleneck(s, inp.classes);
    if c.fits || !r.fits || bottleneck {
        if c.fits && loss_fall > STILL_LEARNING && !bottleneck {
            // Optimization works and the loss still falls fast: it learns,
            // slowly; a larger step gets there sooner.
            f.add(
                FindingId::LrTooLow,
                Severity::Warn,
                format!(
                    "the training loss still falls {:.1}% over the last epochs and the run's settings memorize a \
                     batch of {} in {} steps: it learns, slowly, at learning rate {:.1e}",
                    loss_fall * 100.0,
                    p.batch,
                    c.steps,
                    s.lr
                ),
            );
            return;
        }
        let how = if bottleneck {
            format!("{} classes must pass through it", inp.classes)
        } else if c.fits {
            format!(
                "the run's own settings memorize a batch of {} in {} steps, so optimization works",
                p.batch, c.steps
            )
        } else {
            format!(
                "not even {} at {:.0e} memorizes a batch of {} in {} steps (acc {})",
                r.optimizer,
                r.lr,
                p.batch,
                r.steps,
                pct(r.acc_after)
            )
        };
        f.add(FindingId::CapacityTooSmall, Severity::Warn, format!("{level} with {layer} the narrowest; {how}"));
        return;
    }
    // The reference memorizes the batch and the run's settings do not.
    let versus = format!(
        "with {} at {:.1e} the probe's loss goes {:.3} → {:.3} in {} steps on a batch of {}, where {} at {:.0e} \
         memorizes it in {}",
        c.optimizer, c.lr, c.loss_before, c.loss_after, c.steps, p.batch, r.optimizer, r.lr, r.steps
    );
    if s.dropout >= HIGH_DROPOUT {
        f.add(FindingId::DropoutCost, Severity::Warn, format!("dropout {:.1}: {versus} without dropout", s.dropout));
    } else if s.l1 > 0.0 || s.l2 > 0.0 {
        f.add(
            FindingId::RegularizationTooStrong,
            Severity::Bad,
            format!("{}: {versus} without the penalty", penalties(s)),
        );
    } else if !c.loss_after.is_finite() || c.loss_after > c.loss_before {
        f.add(FindingId::LrTooHigh, Severity::Bad, format!("{versus}: the loss rises"));
    } else {
        f.add(FindingId::LrTooLow, Severity::Bad, versus);
    }
}

/// "L2 1", "L1 0.01 and L2 0.0001": the penalties that are on.
fn penalties(s: &super::Settings) -> String {
    let on: Vec<String> =
        [("L1", s.l1), ("L2", s.l2)].iter().filter(|(_, v)| *v > 0.0).map(|(k, v)| format!("{k} {v}")).collect();
    on.join(" and ")
}

/// L1/L2 that keeps the net from fitting: the penalty is a large share of
/// the loss, or the weights shrank well below their initial norm.
fn regularization(inp: &Inputs<'_>, s: &Settings, layers: &[LayerPoint], last: &EpochPoint) -> Option<String> {
    if s.l1 <= 0.0 && s.l2 <= 0.0 {
        return None;
    }
    let share = last.penalty / (last.penalty + last.train_loss_eval).max(1e-12);
    let shrink = inp.preflight.and_then(|p| {
        (p.weight_norms.len() == layers.len())
            .then(|| {
                layers
                    .iter()
                    .zip(&p.weight_norms)
                    .enumerate()
                    .filter(|(_, (_, w0))| **w0 > 0.0)
                    .map(|(l, (now, w0))| (l, now.weight_norm / w0))
                    .min_by(|a, b| a.1.total_cmp(&b.1))
            })
            .flatten()
    });
    let shrunk = shrink.filter(|&(_, r)| r < WEIGHT_SHRINK);
    if share < PENALTY_SHARE && shrunk.is_none() {
        return None;
    }
    let norms = shrink.map_or(String::new(), |(l, r)| {
        let which =
            if l + 1 == layers.len() { "the output layer".to_string() } else { format!("hidden layer {}", l + 1) };
        format!("; {which}'s weights are at {} of their initial norm", pct(r))
    });
    Some(format!(
        "{}: the penalty is {} of the training loss ({:.3} of {:.3}){norms}",
        penalties(s),
        pct(share),
        last.penalty,
        last.penalty + last.train_loss_eval
    ))
}

/// Dead units: the hidden layer with the largest dead share above
/// `DEAD_SHARE`, and the epoch since which it has been above it.
fn dead_units(inp: &Inputs<'_>, hidden: &[LayerPoint]) -> Option<String> {
    let (l, worst) = hidden
        .iter()
        .enumerate()
        .filter_map(|(l, p)| p.dead_fraction.map(|d| (l, d)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    if worst <= DEAD_SHARE {
        return None;
    }
    let dead_at =
        |s: &super::LayerSnapshot| s.layers.get(l).and_then(|p| p.dead_fraction).is_some_and(|d| d > DEAD_SHARE);
    let since = inp.layer_history.iter().rev().take_while(|s| dead_at(s)).last().map(|s| s.epoch);
    Some(format!(
        "{} of {} never fire on the probe{}",
        pct(worst),
        layer_name(l, hidden[l].units),
        since.map_or(String::new(), |e| format!(", since epoch {e}"))
    ))
}
