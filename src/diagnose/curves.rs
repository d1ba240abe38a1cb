//! The checklist from the curves' own shape, for runs trained elsewhere:
//! nothing but what the log holds (losses, accuracies, the learning rate,
//! a gradient norm, the hyperparameters the writer recorded) and what is
//! computed from it. Every rule is relative to the run itself — falls and
//! rises against its own start, minimum and level, turning points, NaN — so
//! it holds for cross-entropy, MSE and language-model losses alike, with or
//! without accuracy, and never needs a class count the log does not give.
//!
//! The shape rules the live checklist shares (a validation loss turning up
//! from its minimum, a loss that is not finite) are the functions here too.
//!
//! Order: not finite → rising above its own start (unstable, diverging) →
//! validation worse from the first epoch while training improves (a
//! train/eval mismatch) → validation turning up while training falls
//! (overfitting) → flat from the start (stalled; a late start is not) → a
//! straight, slow decline (learning rate too low) → still improving at the
//! end (too early) → levelled off high with no gap (underfitting) → healthy.

use super::{Check, Diagnosis, EpochPoint, FindingId, Findings, Inputs, Logged, Mark, Severity, Verdict, pct};

/// A loss ending this far above its own first epoch has risen, not fallen.
pub const RISE_ABOVE_START: f32 = 0.10;
/// A loss ending this many times above its own minimum, with its last two
/// epochs both above half that, has blown up after learning.
pub const BLOWUP_OVER_MIN: f32 = 2.0;
/// A loss jumping this many times above its lowest value so far, then
/// coming back, is a spike: unstable steps.
pub const SPIKE: f32 = 1.5;
/// Jumps to this many times the lowest value so far, twice or more, with
/// the end still that far above it: erratic, the steps are too large.
pub const ERRATIC: f32 = 2.0;
/// One jump this large is enough.
pub const ERRATIC_ONE: f32 = 3.0;
/// Validation at least this many times the training loss at the first
/// epoch (when the epoch's training average is usually the higher one).
pub const MISMATCH_START: f32 = 2.0;
/// Validation loss this far above its minimum (relative), with the minimum
/// at least `TURN_EPOCHS` epochs back, has turned up: overfitting.
pub const VAL_TURN: f32 = 0.10;
/// ... and from this rise on it is borderline.
pub const VAL_TURN_BORDERLINE: f32 = 0.04;
pub const TURN_EPOCHS: usize = 2;
/// A turn must stand this many times above the curve's own epoch-to-epoch noise.
pub const NOISE_MARGIN: f32 = 3.0;
/// Second differences needed before a curve's noise is estimated.
pub const MIN_NOISE_POINTS: usize = 5;
/// Points from the minimum on needed before the rise is tested as a trend.
pub const MIN_TREND_POINTS: usize = 5;
/// The rise since the minimum must be a trend this many standard errors
/// strong (the slope's t statistic). Measured on spirals, whose validation
/// loss wanders around a plateau: t < 1 on seeds 3, 5 and 11; on
/// mnist-overfit, which memorizes, t > 20.
pub const TREND_T: f32 = 3.0;
/// A loss that changes less than this (relative) from its first to its
/// last epoch, and never falls further below its start, is flat.
pub const FLAT: f32 = 0.05;
/// A flat start of at least this many epochs followed by a fall of at
/// least `LATE_FALL` is a late start, not a stall.
pub const LATE_EPOCHS: usize = 3;
pub const LATE_FALL: f32 = 0.2;
/// Training that fell at least this much (relative to its start) while
/// validation never beat its first epoch is a train/eval mismatch.
pub const MISMATCH_TRAIN_FALL: f32 = 0.2;
/// Still improving: the last epoch's fall of the watched loss is at least
/// this much (relative) and at least `STILL_SHARE` of its whole fall so far.
pub const STILL_FALL: f32 = 0.03;
pub const STILL_SHARE: f32 = 0.3;
/// A loss still falling this much per epoch over its last two epochs, in a
/// run of `SHORT_RUN` epochs or fewer, is a run stopped early.
pub const SHORT_RUN: usize = 4;
/// A straight decline: over at least `STRAIGHT_EPOCHS`, the second half
/// falls at least `STRAIGHT_RATIO` of the first half's fall, and the whole
/// fall is under `SLOW_FALL` of the start.
pub const STRAIGHT_EPOCHS: usize = 8;
pub const STRAIGHT_RATIO: f32 = 0.7;
pub const SLOW_FALL: f32 = 0.5;
/// Levelled off: the last `LEVEL_EPOCHS` epochs fall less than `LEVEL_FALL`
/// (relative) in all; high: the level is above `HIGH_LEVEL` of the start.
pub const LEVEL_EPOCHS: usize = 3;
pub const LEVEL_FALL: f32 = 0.05;
pub const HIGH_LEVEL: f32 = 0.5;
/// No gap: the last validation loss at most this share above the training loss.
pub const NO_GAP: f32 = 0.25;
/// Validation loss this many times the training loss, at least twice the
/// ratio it started with, and no longer falling: the gap has opened.
pub const GAP_RATIO: f32 = 4.0;
/// A chance level is claimed only when accuracy and loss agree: accuracy
/// within this share of 1/C and the loss within `CHANCE_LOSS` of ln C.
pub const CHANCE_ACC: f32 = 0.25;
pub const CHANCE_LOSS: f32 = 0.02;
/// A first epoch this many times above the chance loss, then a run stuck at
/// chance: a blow-up that left the net predicting a constant.
pub const BLOWN_START: f32 = 3.0;
/// A loss jumping to this many times its lowest value so far, even once and
/// even if it comes back, was thrown by a step that wrecked the weights.
pub const SPIKE_BLOWN: f32 = 100.0;
/// A run whose last half stays within this spread (max − min over the
/// median) has stopped moving.
pub const SETTLED: f32 = 0.10;
/// Accuracy that rose this much (absolute, and relative to its first
/// epoch) over a loss that barely moved: the net learned something.
pub const ACC_ROSE: f32 = 0.03;
pub const ACC_ROSE_REL: f32 = 0.10;
/// Learning rates a log records that are far outside any usual range.
pub const LR_FAR_HIGH: f32 = 1.0;
pub const LR_FAR_HIGH_ADAPTIVE: f32 = 0.05;
pub const LR_FAR_LOW: f32 = 1e-5;
/// Weight decay (or L2) a log records from which it may crush the weights.
pub const WEIGHT_DECAY_HIGH: f32 = 0.1;

/// A number as the evidence writes it: four significant digits, so a value
/// copied from the log reads as it does there.
pub fn num(x: f32) -> String {
    if !x.is_finite() {
        return "not finite".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    // A blown-up loss (1e24) or a vanishing one is read in powers of ten,
    // not as 25 digits.
    if !(1e-4..1e6).contains(&x.abs()) {
        return format!("{x:.3e}");
    }
    let digits = (3 - x.abs().log10().floor() as i32).clamp(0, 8) as usize;
    format!("{x:.digits$}")
}

/// One logged curve: (epoch, value) for each epoch that logged it; a
/// non-finite value in the log is kept as infinity.
#[derive(Clone, Debug, Default)]
pub struct Curve {
    pub name: &'static str,
    pub points: Vec<(usize, f32)>,
}

impl Curve {
    pub fn of(name: &'static str, epochs: &[EpochPoint], f: fn(&EpochPoint) -> f32) -> Curve {
        Curve { name, points: epochs.iter().map(|e| (e.epoch, f(e))).filter(|(_, v)| !v.is_nan()).collect() }
    }
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
    fn finite(&self) -> Vec<(usize, f32)> {
        self.points.iter().copied().filter(|(_, v)| v.is_finite()).collect()
    }
    /// The first epoch whose value is not finite.
    pub fn first_nonfinite(&self) -> Option<usize> {
        self.points.iter().find(|(_, v)| !v.is_finite()).map(|p| p.0)
    }
    fn last_is_nonfinite(&self) -> bool {
        self.points.last().is_some_and(|(_, v)| !v.is_finite())
    }
}

/// Where a validation curve turned up: its minimum, the last value and the
/// relative rise, when the minimum is not the last point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Turn {
    pub best_epoch: usize,
    pub best: f32,
    pub last_epoch: usize,
    pub last: f32,
    pub rise: f32,
    /// Points after the minimum.
    pub after: usize,
}

/// The turn of a curve from its minimum (lowest finite value, first if tied).
pub fn turn_up(points: &[(usize, f32)]) -> Option<Turn> {
    let finite: Vec<(usize, f32)> = points.iter().copied().filter(|(_, v)| v.is_finite()).collect();
    let (bi, &(best_epoch, best)) = finite.iter().enumerate().min_by(|a, b| a.1.1.total_cmp(&b.1.1))?;
    let &(last_epoch, last) = finite.last()?;
    let rise = (last - best) / best.abs().max(1e-12);
    Some(Turn { best_epoch, best, last_epoch, last, rise, after: finite.len() - 1 - bi })
}

/// How much a curve jitters from epoch to epoch on its own, apart from its
/// trend: the median relative second difference over its last (up to)
/// twelve points (a steady rise or fall has none).
pub fn noise(points: &[(usize, f32)]) -> f32 {
    let tail: Vec<f32> = points.iter().rev().take(12).map(|p| p.1).filter(|v| v.is_finite()).collect();
    let mut steps: Vec<f32> =
        tail.windows(3).map(|w| (w[0] - 2.0 * w[1] + w[2]).abs() / 2.0 / w[1].abs().max(1e-12)).collect();
    // Too few points to tell jitter from trend: none assumed.
    if steps.len() < MIN_NOISE_POINTS {
        return 0.0;
    }
    steps.sort_by(f32::total_cmp);
    steps[steps.len() / 2]
}

/// Whether a validation curve's turn up from its minimum stands out of its
/// own noise: the mean of its last three points is `VAL_TURN` above the
/// minimum and more than `NOISE_MARGIN` times its epoch-to-epoch noise.
/// With `MIN_TREND_POINTS` or more from the minimum on, the rise must also
/// be a trend (`TREND_T`): the lowest of many means of a curve that wanders
/// around a plateau sits below the rest by luck, and the last three above it
/// by luck too, so a gap alone calls noise a turn on a long run.
/// A turn that does not is borderline. Both the live checklist and the
/// one for runs trained elsewhere decide with this.
pub fn turn_is_clear(points: &[(usize, f32)]) -> bool {
    let finite: Vec<f32> = points.iter().map(|p| p.1).filter(|v| v.is_finite()).collect();
    let k = finite.len().min(3);
    if k == 0 {
        return false;
    }
    // Means of three: the lowest single value of a noisy curve is luck.
    let means: Vec<f32> = finite.windows(k).map(|w| w.iter().sum::<f32>() / k as f32).collect();
    let recent = means[means.len() - 1];
    let (at, best) =
        means.iter().copied().enumerate().fold((0, f32::INFINITY), |b, (i, m)| if m < b.1 { (i, m) } else { b });
    let rise = (recent - best) / best.abs().max(1e-12);
    let since = &finite[at..];
    let trend = since.len() < MIN_TREND_POINTS || slope_t(since) >= TREND_T;
    rise >= VAL_TURN && rise >= NOISE_MARGIN * noise(points) && trend
}

/// The t statistic of a least-squares line through `ys` at x = 0, 1, ...:
/// its slope over the slope's standard error; infinite for an exact line
/// that rises.
pub fn slope_t(ys: &[f32]) -> f32 {
    let n = ys.len() as f64;
    if ys.len() < 3 {
        return 0.0;
    }
    let mx = (n - 1.0) / 2.0;
    let my = ys.iter().map(|&y| f64::from(y)).sum::<f64>() / n;
    let sxx: f64 = (0..ys.len()).map(|i| (i as f64 - mx).powi(2)).sum();
    let sxy: f64 = ys.iter().enumerate().map(|(i, &y)| (i as f64 - mx) * (f64::from(y) - my)).sum();
    let slope = sxy / sxx;
    let ssr: f64 = ys.iter().enumerate().map(|(i, &y)| (f64::from(y) - my - slope * (i as f64 - mx)).powi(2)).sum();
    let se = (ssr / (n - 2.0) / sxx).sqrt();
    if se <= f64::EPSILON * slope.abs() {
        return if slope > 0.0 { f32::INFINITY } else { 0.0 };
    }
    (slope / se) as f32
}

/// Chance level inferred from the log: C classes when the accuracy sits at
/// 1/C and the loss at ln C together. `None` when they do not agree (or
/// either is missing): a chance level is then not claimed.
pub fn chance(acc: f32, loss: f32) -> Option<usize> {
    if !(acc.is_finite() && loss.is_finite() && (0.0..=7.0).contains(&loss)) {
        return None;
    }
    // The class count a uniform guess would give this loss.
    let c = loss.exp().round().max(2.0);
    let near_loss = (loss - c.ln()).abs() <= CHANCE_LOSS * c.ln();
    let near_acc = acc <= (1.0 + CHANCE_ACC) / c && acc >= (1.0 - 2.0 * CHANCE_ACC).max(0.0) / c;
    (near_acc && near_loss).then_some(c as usize)
}

/// The curves of a run trained elsewhere.
struct Curves {
    /// Training loss (or error, 1 − accuracy, when no loss is logged).
    train: Curve,
    val: Curve,
    train_acc: Curve,
    val_acc: Curve,
    grad: Curve,
    /// The logged losses themselves (what `train`/`val` hold when a loss is logged).
    train_loss: Curve,
    val_loss: Curve,
    /// "loss" or "error (1 − accuracy)": what `train`/`val` hold.
    what: &'static str,
}

fn curves(epochs: &[EpochPoint]) -> Curves {
    let loss = Curve::of("training loss", epochs, |e| e.train_loss);
    let vloss = Curve::of("validation loss", epochs, |e| e.val_loss);
    let tacc = Curve::of("training accuracy", epochs, |e| e.train_acc_eval);
    let vacc = Curve::of("validation accuracy", epochs, |e| e.val_acc);
    let err = |c: &Curve, name| Curve { name, points: c.points.iter().map(|&(e, a)| (e, 1.0 - a)).collect() };
    let (train, val, what) = if !loss.is_empty() || vloss.is_empty() && vacc.is_empty() {
        (loss.clone(), vloss.clone(), "loss")
    } else {
        (err(&tacc, "training error"), err(&vacc, "validation error"), "error (1 − accuracy)")
    };
    Curves {
        train,
        val,
        train_acc: tacc,
        val_acc: vacc,
        grad: Curve::of("gradient norm", epochs, |e| e.grad_norm),
        train_loss: loss,
        val_loss: vloss,
        what,
    }
}

/// The learning rate the log holds: as evidence ("at learning rate 0.5
/// with Adam (from the log)") and whether it is far out of range.
struct LrFacts {
    words: String,
    high: bool,
    low: bool,
}

fn lr_facts(epochs: &[EpochPoint], logged: &Logged) -> LrFacts {
    // The peak: a schedule that decays to nothing (the Trainer's linear
    // default) says nothing about the rate that trained.
    let logged_lrs = epochs.iter().map(|e| e.lr).filter(|l| l.is_finite());
    let peak = logged_lrs.clone().fold(None, |m: Option<f32>, l| Some(m.map_or(l, |m| m.max(l))));
    let varies = logged_lrs.clone().any(|l| Some(l) != peak);
    let lr = peak.or(logged.lr);
    let tag = logged.optimizer.as_deref().map_or(String::new(), |o| format!(" with {o}"));
    let adaptive = logged.optimizer.as_deref().is_some_and(|o| {
        let o = o.to_ascii_lowercase();
        o.contains("adam") || o.contains("rmsprop") || o.contains("adagrad")
    });
    LrFacts {
        words: lr.map_or(String::new(), |l| {
            format!(" at {}learning rate {}{tag} (from the log)", if varies { "a peak " } else { "" }, num(l))
        }),
        high: lr.is_some_and(|l| l >= LR_FAR_HIGH || adaptive && l >= LR_FAR_HIGH_ADAPTIVE),
        low: lr.is_some_and(|l| l > 0.0 && l <= LR_FAR_LOW),
    }
}

/// The checklist for a run trained elsewhere.
pub(super) fn diagnose(inp: &Inputs<'_>, logged: &Logged) -> Diagnosis {
    let mut f = Findings { list: Vec::new(), settings: None };
    let c = curves(inp.epochs);
    let n = inp.epochs.len();
    let facts = lr_facts(inp.epochs, logged);
    let (lr, lr_high, lr_low) = (facts.words.as_str(), facts.high, facts.low);
    let no_val = c.val.is_empty();
    let pending2 = |why: &str| (Mark::Pending, why.to_string());
    if no_val && n > 0 {
        f.add(
            FindingId::NoValidation,
            Severity::Info,
            "overfitting: no validation metrics in this log, so it cannot be judged; the rest is judged from \
             the training curve"
                .into(),
        );
    }
    // Training decides, unless the log holds it for far fewer epochs than
    // validation (a per-step loss sampled now and then).
    let sparse = c.train.points.len() * 2 < c.val.points.len();
    let watched = if c.train.is_empty() || sparse { &c.val } else { &c.train };
    if n == 0 || watched.is_empty() {
        return finish(
            Verdict::TooEarly,
            f,
            [pending2("no epochs with a loss or an accuracy yet"), pending2("after step 1")],
            None,
        );
    }

    // Not finite: every other number is meaningless from there on.
    let nonfinite =
        [&c.train, &c.val, &c.grad].into_iter().filter_map(|s| s.first_nonfinite().map(|e| (e, s))).min_by_key(|p| p.0);
    if let Some((epoch, curve)) = nonfinite {
        let last_finite = curve.finite().into_iter().rev().find(|p| p.0 < epoch);
        let before = last_finite.map_or(String::new(), |(e, v)| format!(" (last finite: {} at epoch {e})", num(v)));
        let at_end = [&c.train, &c.val, &c.grad].iter().any(|s| s.last_is_nonfinite());
        if at_end {
            f.add(
                FindingId::Diverged,
                Severity::Bad,
                format!("the logged {} is not finite (NaN or infinite) from epoch {epoch} on{before}{lr}", curve.name),
            );
            let steps = [
                (Mark::Fail, format!("{} not finite from epoch {epoch}", curve.name)),
                pending2("not before training works"),
            ];
            return finish(Verdict::Diverging, f, steps, None);
        }
        f.add(
            FindingId::Unstable,
            Severity::Warn,
            format!("the logged {} was not finite at epoch {epoch}{before} and finite again later{lr}", curve.name),
        );
    }
    let t = watched.finite();
    if t.len() < super::MIN_EPOCHS {
        let (e, v) = t.last().copied().unwrap_or((0, f32::NAN));
        let steps = [(Mark::Pending, format!("{} {} after epoch {e}", watched.name, num(v))), pending2("after step 1")];
        return finish(Verdict::TooEarly, f, steps, None);
    }
    let (e0, first) = t[0];
    let (el, last) = t[t.len() - 1];
    let (emin, min) = t.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or((e0, first));
    let fall_total = (first - last) / first.abs().max(1e-12);
    let step1 = format!(
        "{} {} at epoch {el}, {} its {} at epoch {e0}",
        watched.name,
        num(last),
        if last <= first {
            format!("{:.0}% below", fall_total * 100.0)
        } else {
            format!("{:.0}% above", -fall_total * 100.0)
        },
        num(first)
    );

    // Rising above its own start, or blown up far above its minimum.
    // Only a training curve says this: validation rising is the next step's business.
    let on_train = std::ptr::eq(watched, &c.train);
    let rose = on_train && last > first * (1.0 + RISE_ABOVE_START) && first > 0.0;
    let tail_above = t.iter().rev().take(2).all(|p| p.1 > min * BLOWUP_OVER_MIN / 2.0 + min / 2.0);
    // ... and gave back at least half of what it had learned: a low loss
    // doubling (0.04 → 0.09) is jitter, not a blow-up.
    let gave_back = last - min >= 0.5 * (first - min);
    let blown = on_train && min > 0.0 && last > min * BLOWUP_OVER_MIN && tail_above && emin < el && gave_back;
    // Jumps to several times the lowest value so far, on either curve, and
    // an end still far above that low: the steps throw the net around.
    let erratic = [&c.train, &c.val].into_iter().find_map(|curve| {
        let p = curve.finite();
        let mut low = f32::INFINITY;
        let mut jumps = Vec::new();
        for w in p.windows(2) {
            low = low.min(w[0].1);
            if w[0].1 > 0.0 && w[1].1 > ERRATIC * w[0].1 {
                jumps.push((w[1].0, w[1].1, w[0].1, low));
            }
        }
        let end = p.last().map_or(0.0, |l| l.1);
        let big = jumps.iter().any(|j| j.1 > ERRATIC_ONE * j.2);
        // A jump must give back at least half of what the curve had
        // learned: a loss near zero doubling is jitter, not instability.
        let start = p.first().map_or(0.0, |f| f.1);
        let gives_back = jumps.iter().any(|j| j.1 - j.3 >= 0.5 * (start - j.3));
        let erratic = (jumps.len() >= 2 || big) && gives_back && low > 0.0 && end > ERRATIC * low;
        erratic.then_some((curve.name, jumps, low, end))
    });
    if let Some((name, jumps, low, end)) = erratic.filter(|_| !rose && !blown) {
        let (e, v, before, _) = jumps[jumps.len() - 1];
        f.add(
            FindingId::LrTooHigh,
            Severity::Bad,
            format!(
                "the {name} jumps: {} at epoch {} to {} at epoch {e}; it ends at {}, {:.1}× its low of {}{lr}: the \
                 steps are too large",
                num(before),
                e - 1,
                num(v),
                num(end),
                end / low,
                num(low)
            ),
        );
        let steps = [(Mark::Fail, step1), pending2("not before training works")];
        return finish(Verdict::Diverging, f, steps, None);
    }
    // One jump of orders of magnitude, on either curve, even if it came
    // back: the steps are far too large.
    if let Some((name, e, v, low)) = [&c.train, &c.val]
        .into_iter()
        .find_map(|curve| spike_blown(&curve.finite()).map(|s| (curve.name, s.0, s.1, s.2)))
    {
        f.add(
            FindingId::LrTooHigh,
            Severity::Bad,
            format!(
                "the {name} jumped to {} at epoch {e}, {}× its low of {} before{lr}: a step that large throws the \
                 weights far off, even where the loss comes back",
                num(v),
                times(v / low),
                num(low)
            ),
        );
        let steps = [(Mark::Fail, step1), pending2("not before training works")];
        return finish(Verdict::Diverging, f, steps, None);
    }
    if rose || blown {
        let what = if rose {
            format!("the {} rose from {} at epoch {e0} to {} at epoch {el}", watched.name, num(first), num(last))
        } else {
            format!(
                "the {} fell to {} at epoch {emin}, then rose to {} at epoch {el}",
                watched.name,
                num(min),
                num(last)
            )
        };
        f.add(FindingId::LrTooHigh, Severity::Bad, format!("{what}: the steps are too large{lr}"));
        let steps = [(Mark::Fail, step1), pending2("not before training works")];
        return finish(Verdict::Diverging, f, steps, None);
    }
    // A logged rate far out of range and a validation curve that never
    // moved from its first value: the steps wrecked the net whatever the
    // training loss does (it may still fall from a blown first epoch).
    // (Or flat over its second half, far above the training loss: a blown
    // first epoch the training loss is still falling from.)
    let vals = c.val.finite();
    let flat_from = |i: usize| {
        vals.len() >= 3 && vals[i..].iter().all(|p| ((p.1 - vals[i].1) / vals[i].1.abs().max(1e-12)).abs() < 2.0 * FLAT)
    };
    let far_above = vals.last().is_some_and(|v| v.1 > GAP_RATIO / 2.0 * last);
    let val_flat = flat_from(0) || flat_from(vals.len() / 2) && far_above;
    if lr_high && val_flat {
        f.add(
            FindingId::LrTooHigh,
            Severity::Bad,
            format!(
                "validation {} stays at {} (epoch {}) to {} (epoch {}){lr}: it stopped improving",
                c.what,
                num(vals[if flat_from(0) { 0 } else { vals.len() / 2 }].1),
                vals[if flat_from(0) { 0 } else { vals.len() / 2 }].0,
                num(vals[vals.len() - 1].1),
                vals[vals.len() - 1].0
            ),
        );
        let steps = [(Mark::Fail, step1), pending2("not before training works")];
        return finish(Verdict::Stalled, f, steps, None);
    }
    // Spikes that came back: unstable, judged on.
    let mut low = f32::INFINITY;
    for w in t.windows(2) {
        low = low.min(w[0].1);
        if w[1].1 > low * SPIKE && low > 0.0 && !f.has(FindingId::Unstable) {
            f.add(
                FindingId::Unstable,
                Severity::Warn,
                format!(
                    "the {} jumped to {} at epoch {}, {:.1}× its low of {} before, then came back{lr}",
                    watched.name,
                    num(w[1].1),
                    w[1].0,
                    w[1].1 / low,
                    num(low)
                ),
            );
        }
    }

    // Chance level, only where accuracy and loss agree.
    let at_chance = |acc: &Curve, loss: &Curve| -> Option<(usize, f32, f32)> {
        let (ea, a) = *acc.finite().last()?;
        let l = loss.finite().into_iter().find(|p| p.0 == ea)?.1;
        chance(a, l).map(|k| (k, a, l))
    };
    // The training loss at ln C with validation accuracy at 1/C says the
    // same (a log without training accuracy, like the Hugging Face Trainer's).
    let (train_train, val_train) = (at_chance(&c.train_acc, &c.train_loss), at_chance(&c.val_acc, &c.train_loss));
    let train_at_chance = train_train.or(val_train);
    let chance_train = train_train.or_else(|| at_chance(&c.val_acc, &c.val_loss)).or(val_train);
    // The second half of the run stays put: whatever the first epochs did
    // (a blown first epoch falling back), it no longer moves.
    let settled = settled(&t);
    // An accuracy that clearly rose while the loss barely moved: learning,
    // only slowly or capped — not a stall.
    let acc_rose = [&c.val_acc, &c.train_acc].into_iter().any(|a| accuracy_rose(&a.finite()));

    // Flat from the start (or a late start).
    let flat = t.iter().all(|p| ((p.1 - first) / first.abs().max(1e-12)).abs() < FLAT);
    let flat_run = t.iter().take_while(|p| ((p.1 - first) / first.abs().max(1e-12)).abs() < FLAT).count();
    if flat && (chance_train.is_some() || !acc_rose)
        || chance_train.is_some() && fall_total.abs() < FLAT
        || train_at_chance.is_some() && settled
    {
        let level = chance_train.map_or(String::new(), |(k, a, l)| {
            format!(
                "; accuracy {} and loss {} sit at chance for {k} classes (1/{k}, ln {k} = {})",
                pct(a),
                num(l),
                num((k as f32).ln())
            )
        });
        let blew = chance_train.is_some_and(|(k, _, _)| {
            let start = c.train.points.first().map(|p| p.1);
            start.is_some_and(|s| s.is_finite() && s > BLOWN_START * (k as f32).ln())
        });
        // The gradient histograms name the cause where they show it.
        vanishing(logged, &mut f);
        if blew || lr_high {
            let start =
                c.train.points.first().map_or(String::new(), |p| format!(" after a first epoch at {}", num(p.1)));
            f.add(
                FindingId::LrTooHigh,
                Severity::Bad,
                format!("flat at {}{start}{level}{lr}: steps too large leave a net predicting a constant", num(last)),
            );
        } else if lr_low {
            f.add(
                FindingId::LrTooLow,
                Severity::Bad,
                format!(
                    "the {} stays flat: {} at epoch {e0}, {} at epoch {el}{lr}",
                    watched.name,
                    num(first),
                    num(last)
                ),
            );
        } else {
            f.add(
                FindingId::NotLearning,
                Severity::Bad,
                format!(
                    "the {} stays flat: {} at epoch {e0}, {} at epoch {el}{level}",
                    watched.name,
                    num(first),
                    num(last)
                ),
            );
        }
        weight_decay(logged, &mut f);
        let steps = [(Mark::Fail, step1), pending2("not before the training data is learned")];
        return finish(Verdict::Stalled, f, steps, None);
    }
    if flat_run >= LATE_EPOCHS && fall_total >= LATE_FALL {
        f.add(
            FindingId::LateStart,
            Severity::Info,
            format!(
                "the {} stayed near {} until epoch {}, then fell to {}: a late start, not a stall",
                watched.name,
                num(first),
                t[flat_run - 1].0,
                num(last)
            ),
        );
    }

    // Validation: worse from the first epoch while training improves.
    let val_turn = turn_up(&c.val.points);
    if let Some(v) = val_turn
        && !c.train.is_empty()
    {
        let vfirst = c.val.finite().first().map_or(v.best, |p| p.1);
        let never_better = v.best >= vfirst * (1.0 - 0.02) && v.best_epoch == c.val.finite()[0].0;
        let tfirst = c.train.finite().first().map_or(first, |p| p.1);
        let vfall = (vfirst - v.last) / vfirst.abs().max(1e-12);
        let apart = vfirst > MISMATCH_START * tfirst && tfirst > 0.0 && vfall < 0.5 * fall_total;
        let enough = c.val.finite().len() >= 3 && fall_total >= MISMATCH_TRAIN_FALL;
        if enough && (never_better && v.last > vfirst || apart) {
            f.add(
                FindingId::TrainEvalMismatch,
                Severity::Bad,
                format!(
                    "the validation {} went {} → {} while the training {} fell {:.0}% ({} → {}){}: training and \
                     evaluation see different things",
                    c.what,
                    num(vfirst),
                    num(v.last),
                    c.what,
                    fall_total * 100.0,
                    num(first),
                    num(last),
                    if apart {
                        format!("; at epoch 1 validation was already {:.1}× training", vfirst / tfirst)
                    } else {
                        String::new()
                    }
                ),
            );
            let step2 = format!("validation {} {} at epoch {}, far from training", c.what, num(v.last), v.last_epoch);
            return finish(Verdict::Mismatch, f, [(Mark::Pass, step1), (Mark::Fail, step2)], None);
        }
        // Overfitting: validation turned up while training kept falling.
        let train_at_best = t.iter().find(|p| p.0 >= v.best_epoch).map_or(first, |p| p.1);
        let train_falls = last <= train_at_best;
        let turned = v.rise >= VAL_TURN && v.after >= TURN_EPOCHS && train_falls && turn_is_clear(&c.val.points);
        // The gap's trend: validation levelled off while training kept
        // falling, so validation ends several times the training loss.
        let gap = gap_widened(&c);
        let borderline = v.rise >= VAL_TURN_BORDERLINE && v.after >= 1 && train_falls && !turned;
        let step2 = format!(
            "validation {} {} at epoch {}, best {} at epoch {}",
            c.what,
            num(v.last),
            v.last_epoch,
            num(v.best),
            v.best_epoch
        );
        if let Some((e1, r1, e2, r2)) = gap.filter(|_| !turned) {
            f.add(
                FindingId::OverfittingGap,
                Severity::Bad,
                format!(
                    "validation {} is {:.1}× the training {} at epoch {e2}, against {:.1}× at epoch {e1}: training \
                     keeps falling while validation has levelled off at {}",
                    c.what,
                    r2,
                    c.what,
                    r1,
                    num(v.last)
                ),
            );
            return finish(Verdict::Overfitting, f, [(Mark::Pass, step1), (Mark::Fail, step2)], None);
        }
        if turned {
            f.add(
                FindingId::ValLossRising,
                Severity::Bad,
                format!(
                    "validation {} {} at epoch {}, up {:.0}% from its best {} at epoch {}, while training {} fell \
                     from {} to {}",
                    c.what,
                    num(v.last),
                    v.last_epoch,
                    v.rise * 100.0,
                    num(v.best),
                    v.best_epoch,
                    c.what,
                    num(train_at_best),
                    num(last)
                ),
            );
            f.add(
                FindingId::EarlyStopRecommended,
                Severity::Warn,
                format!("the best validation {} was at epoch {}; keep the weights from there", c.what, v.best_epoch),
            );
            return finish(Verdict::Overfitting, f, [(Mark::Pass, step1), (Mark::Fail, step2)], None);
        }
        return judge_training(&c, &t, logged, &facts, f, step1, Some(step2), borderline.then_some(v));
    }
    judge_training(&c, &t, logged, &facts, f, step1, None, None)
}

/// The diagnosis with its verdict, findings and checklist steps.
fn finish(verdict: Verdict, f: Findings<'_>, steps: [(Mark, String); 2], borderline: Option<Verdict>) -> Diagnosis {
    Diagnosis {
        verdict,
        borderline,
        since: None,
        findings: f.done(),
        preflight: Check { mark: Mark::Pending, evidence: "no pre-flight: the run's log does not have one".into() },
        probe: None,
        steps,
    }
}

/// Validation over training at the first and last epochs that log both,
/// when the ratio grew to `GAP_RATIO` and at least doubled while
/// validation stopped improving (its last `LEVEL_EPOCHS` fall under `LEVEL_FALL`).
fn gap_widened(c: &Curves) -> Option<(usize, f32, usize, f32)> {
    let v = c.val.finite();
    // Epochs are in order in both curves: one merge pass, not a search per
    // epoch (a 100,000-epoch log must stay linear).
    let mut at = 0;
    let both: Vec<(usize, f32)> = c
        .train
        .finite()
        .into_iter()
        .filter_map(|(e, t)| {
            while at < v.len() && v[at].0 < e {
                at += 1;
            }
            v.get(at).filter(|p| p.0 == e && t > 0.0).map(|p| (e, p.1 / t))
        })
        .collect();
    let (&(e1, r1), &(e2, r2)) = (both.first()?, both.last()?);
    let k = LEVEL_EPOCHS.min(v.len().saturating_sub(1));
    let vk = v.get(v.len().checked_sub(1 + k)?)?.1;
    let v_level = (vk - v.last()?.1) / vk.abs().max(1e-12) < LEVEL_FALL;
    (both.len() >= 3 && r2 >= GAP_RATIO && r2 >= 2.0 * r1 && v_level).then_some((e1, r1, e2, r2))
}

/// A recorded weight decay that may be what holds training back.
/// Gradient histograms in the log whose input-side layer gets a
/// `VANISHING_RATIO` share of the output side's gradient (root mean square
/// per value, so layers of different sizes compare), over three or more
/// layers: the gradient vanishes on its way back.
fn vanishing(logged: &Logged, f: &mut Findings<'_>) {
    let g = &logged.gradients;
    let (Some(first), Some(last)) = (g.first(), g.last()) else { return };
    let vanished = first.1 < super::VANISHING_RATIO * last.1 && last.1 > 0.0;
    if g.len() < 3 || !vanished {
        return;
    }
    let r = last.1 / first.1.max(f32::MIN_POSITIVE);
    let times = times(r);
    f.add(
        FindingId::VanishingGradients,
        Severity::Bad,
        format!(
            "the logged gradient histograms at step {}: {} has gradients of {:.2e} (root mean square), {} has \
             {:.2e}, {times}× smaller on the input side over {} layers",
            first.2.max(last.2),
            first.0,
            first.1,
            last.0,
            last.1,
            g.len()
        ),
    );
}

fn weight_decay(logged: &Logged, f: &mut Findings<'_>) {
    if let Some((key, wd)) = logged.weight_decay.as_ref().filter(|w| w.1 >= WEIGHT_DECAY_HIGH) {
        f.add(
            FindingId::RegularizationTooStrong,
            Severity::Bad,
            format!("the log records {key} = {}, strong enough to hold the weights near zero", num(*wd)),
        );
    }
}

/// The first jump of a curve to `SPIKE_BLOWN` times its lowest value so
/// far (the first point is a start, not a jump): (epoch, value, low).
fn spike_blown(p: &[(usize, f32)]) -> Option<(usize, f32, f32)> {
    let mut low = f32::INFINITY;
    for w in p.windows(2) {
        low = low.min(w[0].1);
        if low > 0.0 && w[1].1 > SPIKE_BLOWN * low {
            return Some((w[1].0, w[1].1, low));
        }
    }
    None
}

/// A ratio as the evidence writes it: whole below ten thousand, else in
/// scientific notation.
fn times(r: f32) -> String {
    if r >= 1e4 { format!("{r:.1e}") } else { format!("{r:.0}") }
}

/// Whether the last half of a curve (three points or more) stays within
/// `SETTLED` of its own median.
fn settled(t: &[(usize, f32)]) -> bool {
    let half = &t[t.len() / 2..];
    if half.len() < 3 {
        return false;
    }
    let mut v: Vec<f32> = half.iter().map(|p| p.1).collect();
    v.sort_by(f32::total_cmp);
    let med = v[v.len() / 2];
    med > 0.0 && (v[v.len() - 1] - v[0]) / med < SETTLED
}

/// Whether an accuracy curve rose from its first epoch: the mean of its
/// last three points `ACC_ROSE` above the first (absolute and relative),
/// and more than `NOISE_MARGIN` times its own epoch-to-epoch jitter.
fn accuracy_rose(a: &[(usize, f32)]) -> bool {
    if a.len() < 3 {
        return false;
    }
    let first = a[0].1;
    let k = a.len().min(3);
    let end = a[a.len() - k..].iter().map(|p| p.1).sum::<f32>() / k as f32;
    let rise = end - first;
    rise >= ACC_ROSE && rise >= ACC_ROSE_REL * first && rise >= NOISE_MARGIN * noise(a) * end
}

/// No validation problem: is training done, slow, stuck high or fine?
#[allow(clippy::too_many_arguments)]
fn judge_training(
    c: &Curves,
    t: &[(usize, f32)],
    logged: &Logged,
    lr: &LrFacts,
    mut f: Findings<'_>,
    step1: String,
    step2: Option<String>,
    borderline: Option<Turn>,
) -> Diagnosis {
    let (lr_low, lr) = (lr.low, lr.words.as_str());
    let (e0, first) = t[0];
    let (el, last) = t[t.len() - 1];
    let fall_total = (first - last) / first.abs().max(1e-12);
    let step2 = step2.map_or((Mark::Pending, "no validation metrics in this log".to_string()), |s| (Mark::Pass, s));
    let name = if c.train.is_empty() { c.val.name } else { c.train.name };
    // The curve that says whether it still improves: validation when logged.
    let watch = if c.val.finite().len() >= 2 { c.val.finite() } else { t.to_vec() };
    let (wf, wl) = (watch[0].1, watch[watch.len() - 1].1);
    // Against the best before the last epoch: one noisy epoch up and back
    // down is not progress.
    let prev = watch[..watch.len() - 1].iter().map(|p| p.1).fold(f32::INFINITY, f32::min);
    let last_fall = (prev - wl) / prev.abs().max(1e-12);
    let share = (prev - wl) / (wf - wl).abs().max(1e-12);
    let improving = last_fall >= STILL_FALL;
    let still = improving && (share >= STILL_SHARE || watch.len() <= SHORT_RUN && share >= STILL_SHARE / 3.0);

    // A straight, slow decline over many epochs: the step is too small.
    let n = t.len();
    if n >= STRAIGHT_EPOCHS && fall_total > 0.0 && fall_total < SLOW_FALL {
        let mid = t[n / 2].1;
        let (first_half, second_half) = (first - mid, mid - last);
        if first_half > 0.0 && second_half >= STRAIGHT_RATIO * first_half {
            f.add(
                FindingId::LrTooLow,
                Severity::Bad,
                format!(
                    "the {name} falls in a straight, slow line: {} → {} → {} (epochs {e0}, {}, {el}), {:.0}% in all, \
                     no sign of levelling off{lr}",
                    num(first),
                    num(mid),
                    num(last),
                    t[n / 2].0,
                    fall_total * 100.0
                ),
            );
            weight_decay(logged, &mut f);
            return finish(Verdict::Underfitting, f, [(Mark::Fail, step1), step2], None);
        }
    }
    if improving {
        f.add(
            FindingId::TrainLonger,
            if still { Severity::Warn } else { Severity::Info },
            format!(
                "the {} still fell {:.1}% in the last epoch, to {} from its best {} before: it has not levelled off",
                if c.val.finite().len() >= 2 { c.val.name } else { name },
                last_fall * 100.0,
                num(wl),
                num(prev),
            ),
        );
    }
    if still {
        return finish(Verdict::TooEarly, f, [(Mark::Pending, step1), step2], None);
    }
    // Levelled off, and high against its own start, with no gap.
    let k = LEVEL_EPOCHS.min(n - 1);
    let recent = (t[n - 1 - k].1 - last) / t[n - 1 - k].1.abs().max(1e-12);
    let level_high = last > HIGH_LEVEL * first;
    let vlast = c.val.finite().last().map(|p| p.1);
    let no_gap = vlast.is_none_or(|v| v <= last * (1.0 + NO_GAP));
    if recent < LEVEL_FALL && level_high && no_gap {
        f.add(
            FindingId::UnderfittingPlateau,
            Severity::Warn,
            format!(
                "the {name} levelled off at {} ({:.0}% below its first epoch's {}){}: neither memorizing nor \
                 improving — too little capacity or an optimization that stalls; overfitting one batch tells which",
                num(last),
                fall_total * 100.0,
                num(first),
                vlast.map_or(String::new(), |v| format!(", validation at {}", num(v)))
            ),
        );
        if lr_low {
            f.add(FindingId::LrTooLow, Severity::Bad, format!("the {name} levelled off high{lr}"));
        }
        weight_decay(logged, &mut f);
        vanishing(logged, &mut f);
        return finish(Verdict::Underfitting, f, [(Mark::Fail, step1), step2], None);
    }
    let healthy = match (c.val.finite().last(), borderline) {
        (_, Some(b)) => format!(
            "it learns and generalizes; borderline overfitting: validation {} is {:.0}% above its best {} at epoch {}",
            c.what,
            b.rise * 100.0,
            num(b.best),
            b.best_epoch
        ),
        (Some(v), None) => {
            format!("{name} {}, validation {} {}: it learns and generalizes", num(last), c.what, num(v.1))
        }
        (None, None) => format!("{name} fell {:.0}%, to {}", fall_total * 100.0, num(last)),
    };
    f.add(FindingId::Healthy, Severity::Info, healthy);
    finish(Verdict::Healthy, f, [(Mark::Pass, step1), step2], borderline.map(|_| Verdict::Overfitting))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[f32]) -> Vec<(usize, f32)> {
        v.iter().enumerate().map(|(i, &y)| (i + 1, y)).collect()
    }

    /// A run trained elsewhere: (train loss, val loss, val acc) per epoch,
    /// NaN where the log has nothing.
    fn external(rows: &[(f32, f32, f32)]) -> Diagnosis {
        let epochs: Vec<EpochPoint> = rows
            .iter()
            .enumerate()
            .map(|(i, &(tl, vl, va))| EpochPoint {
                epoch: i + 1,
                train_loss: tl,
                train_loss_eval: tl,
                train_acc_eval: f32::NAN,
                val_loss: vl,
                val_acc: va,
                lr: f32::NAN,
                grad_norm: f32::NAN,
                ..Default::default()
            })
            .collect();
        let inp = Inputs {
            epochs: &epochs,
            classes: 0,
            settings: None,
            logged: Logged::default(),
            input_scale: f32::NAN,
            layers: &[],
            rollbacks: 0,
            recent_rollbacks: 0,
            gave_up: false,
            stopped_early: false,
            layer_history: &[],
            preflight: None,
            probes: &[],
            previous: None,
        };
        super::super::diagnose(&inp)
    }

    fn ids(d: &Diagnosis) -> Vec<&str> {
        d.findings.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn one_jump_of_orders_of_magnitude_is_divergence_even_if_it_comes_back() {
        let nan = f32::NAN;
        let mut rows: Vec<(f32, f32, f32)> =
            [34.0, 24.0, 37.0, 25.0, 51.0, 9e11, 25.0, 17.0, 34.0, 45.0, 31.0].iter().map(|&l| (l, nan, nan)).collect();
        let d = external(&rows);
        assert_eq!(d.verdict, Verdict::Diverging, "{d:?}");
        assert!(ids(&d).contains(&"lr_too_high"));
        assert!(d.findings[0].evidence.contains("9.000e11"), "{}", d.findings[0].evidence);
        // Fifty times its low is a bad epoch, not a blow-up.
        rows[5].0 = 50.0 * 24.0;
        let d = external(&rows);
        assert!(d.findings.iter().all(|f| !f.evidence.contains("throws the weights")), "{d:?}");
    }

    #[test]
    fn a_blown_first_epoch_that_settles_at_chance_is_stalled_not_healthy() {
        // Epoch 1 blew up; from epoch 2 on the training loss sits at ln 10
        // and validation accuracy at 1/10: the net predicts a constant.
        let mut rows = vec![(25240.0, 2.3058, 0.108), (2.5248, 2.3035, 0.108)];
        rows.extend([2.3035, 2.3045, 2.3041, 2.3032, 2.3034, 2.3030].iter().map(|&l| (l, 2.3027, 0.105)));
        let d = external(&rows);
        assert_eq!(d.verdict, Verdict::Stalled, "{d:?}");
        assert!(ids(&d).contains(&"lr_too_high"), "{:?}", ids(&d));
        assert!(d.findings.iter().any(|f| f.evidence.contains("chance for 10 classes")));
        // The same shape well above chance accuracy learned something:
        // no chance claimed, not stalled.
        let learned: Vec<_> = rows.iter().map(|&(t, v, _)| (t, v, 0.6)).collect();
        let d = external(&learned);
        assert_ne!(d.verdict, Verdict::Stalled, "{d:?}");
        assert!(d.findings.iter().all(|f| !f.evidence.contains("chance")));
    }

    #[test]
    fn a_flat_loss_under_a_rising_accuracy_is_learning_not_a_stall() {
        // A linear model on four spirals: the loss barely moves, accuracy
        // climbs from 32% to 37% and stays: it learned what it can.
        let acc = [0.319, 0.36, 0.373, 0.363, 0.366, 0.366, 0.376, 0.374, 0.369, 0.381, 0.378, 0.377];
        let rows: Vec<_> = acc.iter().enumerate().map(|(i, &a)| (1.395 - 0.05 * (i.min(1) as f32), 1.345, a)).collect();
        let d = external(&rows);
        assert_eq!(d.verdict, Verdict::Underfitting, "{d:?}");
        // Accuracy that only jitters around its start: stalled.
        let jitter: Vec<_> =
            rows.iter().enumerate().map(|(i, &(t, v, _))| (t, v, 0.32 + 0.01 * (i % 2) as f32)).collect();
        assert_eq!(external(&jitter).verdict, Verdict::Stalled);
    }

    #[test]
    fn chance_is_claimed_only_where_accuracy_sits_near_one_over_c() {
        assert_eq!(chance(0.105, 2.3030), Some(10));
        assert_eq!(chance(0.5, 0.6935), Some(2));
        // A ten-class net at 22.8% with a loss near ln 6 has learned.
        assert_eq!(chance(0.228, 1.826), None);
        assert_eq!(chance(0.105, 1.9), None);
    }

    #[test]
    fn the_slope_statistic_tells_a_trend_from_a_wander() {
        assert_eq!(slope_t(&[1.0, 2.0, 3.0, 4.0]), f32::INFINITY);
        assert_eq!(slope_t(&[4.0, 3.0, 2.0, 1.0]), 0.0);
        assert!(slope_t(&[1.0, 1.2, 1.1, 1.4, 1.3, 1.6, 1.5]) > TREND_T);
        assert!(slope_t(&[1.0, 1.3, 1.0, 1.3, 1.0, 1.3, 1.0]).abs() < 1.0);
    }

    #[test]
    fn a_plateau_that_wanders_is_no_turn_and_a_climb_is() {
        // Falls, then wanders between 0.30 and 0.42 for forty epochs: the
        // lowest mean of three is luck, so is a high last three.
        let mut wander = vec![1.1, 0.8, 0.6, 0.45, 0.36];
        let jitter = [0.0, 0.08, 0.02, 0.11, 0.04, 0.0, 0.09, 0.03, 0.06, 0.01];
        wander.extend((0..40).map(|i| 0.31 + jitter[i % 10] + jitter[(i * 7) % 10] / 2.0));
        wander.extend([0.40, 0.41, 0.42]);
        assert!(!turn_is_clear(&pts(&wander)));
        // The same fall, then a steady climb with the same jitter on it.
        let mut climb = vec![1.1, 0.8, 0.6, 0.45, 0.36];
        climb.extend((0..40).map(|i| 0.31 + 0.01 * i as f32 + jitter[i % 10] / 2.0));
        assert!(turn_is_clear(&pts(&climb)));
        // A short run: too few points for a trend, the gap decides.
        assert!(turn_is_clear(&pts(&[1.0, 0.4, 0.45, 0.5, 0.55])));
    }
}
