//! From raw points (tag, value, step, epoch) to epochs.
//!
//! Rules (the user-facing version is in `docs/watch.md`):
//! - An epoch exists when a validation metric exists for it. A run with no
//!   validation metric at all (training metrics only) makes its epochs from
//!   the training points: by the writer's epoch numbers when the points
//!   carry them, otherwise from the logged steps — each logged step is an
//!   epoch while there are at most [`TRAIN_ONLY_POINTS`] of them, else
//!   consecutive windows of `ceil(steps / TRAIN_ONLY_POINTS)` logged steps
//!   (the mean of their values) are.
//! - With epoch numbers (an `epoch` column or key on the row, or TensorBoard
//!   `epoch` scalars at the same step, as Lightning writes), points are
//!   grouped by epoch number. Numbers counted from 0 (Keras, Lightning) are
//!   shifted to count from 1, like fitcheck's own epochs.
//! - Without them, points are ordered by step (or by arrival when some have
//!   no step) and each validation point closes an epoch: the epochs are
//!   numbered 1, 2, ... in the order of the validation points.
//! - An epoch's training value is the epoch-level value logged for it when
//!   there is one (a tag named as per-epoch, one whose points all fall on
//!   validation steps, or a value on the same row as the validation values),
//!   otherwise the mean of the per-step values since the
//!   previous epoch.
//! - Validation at step = epoch index beside training at the global step
//!   (two axes, see `two_axes`): validation counts the epochs and a global
//!   step s falls in epoch s·n/(last step + 1).
//! - The learning rate is the last one logged up to the epoch, carried over
//!   epochs that log none.
//! - The gradient norm of an epoch is the largest one logged in it, or a
//!   non-finite one if any was (the first such): a writer that filters NaN
//!   losses out of its log (the Hugging Face Trainer) still shows them here.
//! - An accuracy tag whose values ever exceed 1.5 is in percent: all its
//!   values are divided by 100.
//! - When several tags map to one field, the first seen of each kind
//!   (per-epoch, per-step) is used; the rest are ignored.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::ExternalEpoch;
use super::tags::{Field, Level, TagMap, TagRole};

/// A run with training metrics only and no epoch numbers gets at most this
/// many epochs (windows of logged steps).
pub const TRAIN_ONLY_POINTS: usize = 100;

/// One value read from a file, before mapping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub tag: u32,
    pub value: f32,
    pub step: Option<u64>,
    /// The epoch written on the same row (CSV column, JSON key).
    pub epoch: Option<u32>,
    pub wall_time: Option<f64>,
    /// Arrival order; points of one row or one event share it.
    pub seq: u64,
    /// Which file it came from (a file read again drops its points).
    pub source: u32,
}

/// Every point kept so far, with interned tags.
#[derive(Debug, Default, Clone)]
pub struct Store {
    tags: Vec<String>,
    index: HashMap<String, u32>,
    points: Vec<Point>,
    next_seq: u64,
    /// Bumped by every change, so callers can skip an unchanged assembly.
    generation: u64,
    /// Values left out past [`super::bounded::MAX_POINTS`] (or tags past
    /// [`MAX_TAGS`]), and whether that was said.
    dropped: u64,
    said_full: bool,
}

/// Distinct tags kept per run (a log writing a new key on every line would
/// otherwise grow the tag list without bound).
pub const MAX_TAGS: usize = 100_000;

/// A row or event under construction: its points share a `seq`.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub step: Option<u64>,
    pub epoch: Option<u32>,
    pub wall_time: Option<f64>,
    pub source: u32,
    seq: u64,
}

impl Store {
    /// Starts a row; values pushed with it share its step, epoch and order.
    pub fn row(&mut self, source: u32, step: Option<u64>, epoch: Option<u32>, wall_time: Option<f64>) -> Row {
        let seq = self.next_seq;
        self.next_seq += 1;
        Row { step, epoch, wall_time, source, seq }
    }

    pub fn push(&mut self, row: &Row, tag: &str, value: f32) {
        let full = self.points.len() >= super::bounded::MAX_POINTS
            || (self.tags.len() >= MAX_TAGS && !self.index.contains_key(tag));
        if full {
            self.dropped += 1;
            return;
        }
        let id = self.intern(tag);
        self.generation += 1;
        self.points.push(Point {
            tag: id,
            value,
            step: row.step,
            epoch: row.epoch,
            wall_time: row.wall_time,
            seq: row.seq,
            source: row.source,
        });
    }

    /// Records a tag as seen (a CSV header names columns before any value).
    pub fn intern(&mut self, tag: &str) -> u32 {
        if let Some(&id) = self.index.get(tag) {
            return id;
        }
        let id = self.tags.len() as u32;
        self.tags.push(tag.to_string());
        self.index.insert(tag.to_string(), id);
        id
    }

    /// Drops what one file contributed (it is being read again).
    pub fn drop_source(&mut self, source: u32) {
        self.generation += 1;
        self.points.retain(|p| p.source != source);
    }

    /// Once, when values were left out for the limits: the warning.
    pub fn full_warning(&mut self) -> Option<String> {
        if self.dropped == 0 || self.said_full {
            return None;
        }
        self.said_full = true;
        Some(format!(
            "more than {} values or {MAX_TAGS} tags in this run: the rest are left out (the first {} values are shown)",
            super::bounded::MAX_POINTS,
            self.points.len()
        ))
    }

    /// Changes with every point added or dropped.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Tags in the order first seen.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    pub fn points(&self) -> &[Point] {
        &self.points
    }
}

/// The tags chosen for one field.
#[derive(Debug, Default, Clone, Copy)]
struct Chosen {
    /// One value per epoch.
    epoch: Option<u32>,
    /// Values to average over the epoch (per step, or not said).
    mean: Option<u32>,
}

/// Sum and count for a mean; the last epoch-level value.
#[derive(Debug, Default, Clone, Copy)]
struct Acc {
    sum: f64,
    n: u32,
    epoch_value: Option<f32>,
}

impl Acc {
    fn value(&self) -> Option<f32> {
        self.epoch_value.or((self.n > 0).then(|| (self.sum / f64::from(self.n)) as f32))
    }
}

#[derive(Debug, Default, Clone)]
struct Window {
    fields: [Acc; 5],
    grad_norm: Option<f32>,
    /// Step and wall time of the validation point.
    step: Option<u64>,
    wall_time: Option<f64>,
    has_val: bool,
    /// Step and wall time of the last training point (the epoch's place
    /// when the run has no validation).
    train_step: Option<u64>,
    train_wall_time: Option<f64>,
    has_train: bool,
    lr: Option<f32>,
}

fn slot(f: Field) -> usize {
    match f {
        Field::TrainLoss => 0,
        Field::ValLoss => 1,
        Field::TrainAcc => 2,
        Field::ValAcc => 3,
        Field::Lr | Field::GradNorm => 4,
    }
}

/// The result of an assembly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assembled {
    pub epochs: Vec<ExternalEpoch>,
    /// The tags used, with their field, in the order first seen.
    pub mapped: Vec<(String, Field)>,
}

/// Builds the epochs from every point kept.
pub fn assemble(store: &Store, maps: &TagMap) -> Assembled {
    let roles: Vec<TagRole> = store.tags.iter().map(|t| maps.classify(t)).collect();
    let points = &store.points;

    // Percent accuracies: judged per tag on all its values.
    let mut max_by_tag: HashMap<u32, f32> = HashMap::new();
    for p in points {
        if let TagRole::Metric { field, .. } = roles[p.tag as usize]
            && field.is_accuracy()
            && p.value.is_finite()
        {
            let m = max_by_tag.entry(p.tag).or_insert(f32::MIN);
            *m = m.max(p.value);
        }
    }
    let percent: HashSet<u32> = max_by_tag.into_iter().filter(|&(_, m)| m > 1.5).map(|(t, _)| t).collect();

    // Steps -> epochs: TensorBoard `epoch` scalars (Lightning logs one at
    // every step it logs anything) and rows that carry both. A point with a
    // step but no epoch (Lightning's LearningRateMonitor logs straight to the
    // logger, at the start of an epoch) takes the epoch of the same step, else
    // of the next step that has one, else of the last.
    let mut epoch_at_step: BTreeMap<u64, u32> = BTreeMap::new();
    for p in points {
        let Some(step) = p.step else { continue };
        if roles[p.tag as usize] == TagRole::Epoch {
            if let Some(e) = epoch_number(f64::from(p.value)) {
                epoch_at_step.insert(step, e);
            }
        } else if let Some(e) = p.epoch {
            epoch_at_step.entry(step).or_insert(e);
        }
    }
    let epoch_of = |p: &Point| -> Option<u32> {
        p.epoch.or_else(|| {
            let s = p.step?;
            epoch_at_step.range(s..).next().or_else(|| epoch_at_step.range(..s).next_back()).map(|(_, &e)| e)
        })
    };

    // Validation tags first: their points decide the epochs.
    // One slot per field; the gradient norm's is the last.
    let mut chosen = [Chosen::default(); 6];
    let slot_of = |f: Field| if f == Field::GradNorm { 5 } else { slot(f) };
    for (id, role) in roles.iter().enumerate() {
        if let TagRole::Metric { field, level } = *role
            && field.is_validation()
        {
            choose(&mut chosen[slot_of(field)], id as u32, level == Level::Epoch);
        }
    }
    let is_val_tag = |t: u32| {
        [Field::ValLoss, Field::ValAcc].iter().any(|&f| {
            let c = chosen[slot(f)];
            c.epoch == Some(t) || (c.epoch.is_none() && c.mean == Some(t))
        })
    };
    let val_points: Vec<&Point> = points.iter().filter(|p| is_val_tag(p.tag)).collect();
    // A training value on the same row or event as a validation value is
    // that epoch's value (a Keras CSV row, a JSON line with val_loss).
    let val_rows: HashSet<u64> = val_points.iter().map(|p| p.seq).collect();
    // No validation at all: the training points make the epochs.
    let train_only = val_points.is_empty();
    let by_epoch = if train_only {
        points.iter().any(|p| {
            matches!(roles[p.tag as usize], TagRole::Metric { field, .. } if field.is_training())
                && epoch_of(p).is_some()
        })
    } else {
        val_points.iter().any(|p| epoch_of(p).is_some())
    };
    let use_steps = points.iter().all(|p| p.step.is_some());
    // Two step axes in one log: validation written at step = epoch index
    // (`add_scalar("Loss/val", v, epoch)`) beside a training loss written
    // at the global step. Validation steps then count the epochs, and a
    // training point at global step s falls in epoch s·n/(last step + 1).
    let axes = if by_epoch || !use_steps { None } else { two_axes(points, &val_points) };
    let epoch_on_axes = |p: &Point| -> Option<u32> {
        let (n, last, on_epoch_axis) = axes.as_ref()?;
        let s = p.step?;
        if on_epoch_axis.contains(&p.tag) {
            return u32::try_from(s).ok();
        }
        let e = (s as f64 * *n as f64 / (*last as f64 + 1.0)).floor() as u64;
        u32::try_from(e.min(*n as u64 - 1) + u64::from(axes_base(&val_points))).ok()
    };
    let epoch_of = |p: &Point| if axes.is_some() { epoch_on_axes(p) } else { epoch_of(p) };
    let by_epoch = by_epoch || axes.is_some();
    let key = |p: &Point| if use_steps && !by_epoch { p.step.unwrap_or(0) } else { p.seq };

    // Training tags and lr: a tag the name does not place is per-epoch when
    // all its points fall where validation points are.
    let val_keys: HashSet<u64> = if by_epoch { HashSet::new() } else { val_points.iter().map(|p| key(p)).collect() };
    // Points after the last validation point are not judged: a follower
    // sees `Loss/train` for an epoch before its `Loss/val` arrives, and one
    // such point must not turn the whole history over.
    let last_val_key = val_keys.iter().max().copied();
    let mut keys_by_tag: HashMap<u32, bool> = HashMap::new();
    if !by_epoch {
        for p in points {
            if last_val_key.is_some_and(|last| key(p) <= last) {
                let all = keys_by_tag.entry(p.tag).or_insert(true);
                *all = *all && val_keys.contains(&key(p));
            }
        }
    }
    for (id, role) in roles.iter().enumerate() {
        if let TagRole::Metric { field, level } = *role
            && !field.is_validation()
        {
            let per_epoch = match level {
                Level::Epoch => true,
                Level::Step => false,
                Level::Unknown => !by_epoch && keys_by_tag.get(&(id as u32)).copied().unwrap_or(false),
            };
            choose(&mut chosen[slot_of(field)], id as u32, per_epoch);
        }
    }
    // tag -> (field, per-epoch?)
    let mut used: HashMap<u32, (Field, bool)> = HashMap::new();
    for f in Field::ALL {
        let c = chosen[slot_of(f)];
        if f.is_validation() {
            if let Some(t) = c.epoch.or(c.mean) {
                used.insert(t, (f, true));
            }
        } else {
            if let Some(t) = c.epoch {
                used.insert(t, (f, true));
            }
            if let Some(t) = c.mean {
                used.insert(t, (f, false));
            }
        }
    }
    let mut mapped: Vec<(String, Field)> =
        used.iter().map(|(&t, &(f, _))| (store.tags[t as usize].clone(), f)).collect();
    mapped.sort_by_key(|(t, _)| store.index.get(t).copied().unwrap_or(u32::MAX));

    let value_of = |p: &Point, f: Field| -> f32 {
        if f.is_accuracy() && percent.contains(&p.tag) { p.value / 100.0 } else { p.value }
    };

    let mut relevant: Vec<&Point> = points.iter().filter(|p| used.contains_key(&p.tag)).collect();
    let epochs = if by_epoch {
        relevant.sort_by_key(|p| (epoch_of(p), p.step, p.seq));
        let base = relevant.iter().filter_map(|p| epoch_of(p)).min().unwrap_or(0);
        let shift = usize::from(base == 0);
        let mut groups: BTreeMap<u32, Window> = BTreeMap::new();
        for p in &relevant {
            let Some(e) = epoch_of(p) else { continue };
            let (f, per_epoch) = used[&p.tag];
            let per_epoch = per_epoch || val_rows.contains(&p.seq);
            add(groups.entry(e).or_default(), p, f, per_epoch, value_of(p, f));
        }
        let mut out = Vec::new();
        let mut lr = None;
        for (e, w) in groups {
            lr = w.lr.or(lr);
            if w.has_val || (train_only && w.has_train) {
                out.push(finish(&w, e as usize + shift, lr));
            }
        }
        out
    } else if train_only {
        // Windows of logged steps (rows, when steps are missing), so that
        // the run gets at most TRAIN_ONLY_POINTS epochs.
        relevant.sort_by_key(|p| (key(p), p.seq));
        let is_train = |p: &Point| used.get(&p.tag).is_some_and(|(f, _)| f.is_training());
        let mut logged: Vec<u64> = relevant.iter().filter(|p| is_train(p)).map(|p| key(p)).collect();
        logged.dedup();
        let size = logged.len().div_ceil(TRAIN_ONLY_POINTS).max(1);
        let mut out = Vec::new();
        let mut w = Window::default();
        let mut lr = None;
        let mut in_window = 0;
        let mut i = 0;
        while i < relevant.len() {
            let k = key(relevant[i]);
            let mut j = i;
            let mut trained = false;
            while j < relevant.len() && key(relevant[j]) == k {
                let p = relevant[j];
                let (f, per_epoch) = used[&p.tag];
                trained |= f.is_training();
                add(&mut w, p, f, per_epoch, value_of(p, f));
                j += 1;
            }
            lr = w.lr.or(lr);
            in_window += usize::from(trained);
            if in_window == size {
                out.push(finish(&w, out.len() + 1, lr));
                w = Window::default();
                in_window = 0;
            }
            i = j;
        }
        if w.has_train {
            out.push(finish(&w, out.len() + 1, lr));
        }
        out
    } else {
        relevant.sort_by_key(|p| (key(p), p.seq));
        let mut out = Vec::new();
        let mut w = Window::default();
        let mut lr = None;
        let mut i = 0;
        while i < relevant.len() {
            let k = key(relevant[i]);
            let mut j = i;
            while j < relevant.len() && key(relevant[j]) == k {
                let p = relevant[j];
                let (f, per_epoch) = used[&p.tag];
                let per_epoch = per_epoch || val_rows.contains(&p.seq);
                add(&mut w, p, f, per_epoch, value_of(p, f));
                j += 1;
            }
            lr = w.lr.or(lr);
            if w.has_val {
                out.push(finish(&w, out.len() + 1, lr));
                w = Window::default();
            }
            i = j;
        }
        out
    };
    Assembled { epochs, mapped }
}

/// The lowest validation step (0 or 1): where the epoch axis starts.
fn axes_base(val_points: &[&Point]) -> u8 {
    u8::from(val_points.iter().filter_map(|p| p.step).min() == Some(1))
}

/// Whether validation sits on an epoch axis while other tags run on the
/// global step: the validation steps are exactly 0..n or 1..=n (n ≥ 2) and
/// some other tag logs steps far past them. Returns n, the last global step
/// and the tags on the epoch axis (every step of theirs is a validation step).
fn two_axes(points: &[Point], val_points: &[&Point]) -> Option<(usize, u64, HashSet<u32>)> {
    let val_steps: std::collections::BTreeSet<u64> = val_points.iter().filter_map(|p| p.step).collect();
    let (&first, &top) = (val_steps.first()?, val_steps.last()?);
    let n = val_steps.len();
    let dense = first <= 1 && top - first + 1 == n as u64 && n >= 2;
    let mut on_axis: HashMap<u32, bool> = HashMap::new();
    for p in points {
        let inside = p.step.is_some_and(|s| val_steps.contains(&s));
        *on_axis.entry(p.tag).or_insert(true) &= inside;
    }
    let last = points.iter().filter(|p| !on_axis[&p.tag]).filter_map(|p| p.step).max()?;
    (dense && last >= 4 * top.max(1)).then(|| (n, last, on_axis.into_iter().filter(|e| e.1).map(|e| e.0).collect()))
}

fn choose(c: &mut Chosen, tag: u32, per_epoch: bool) {
    let slot = if per_epoch { &mut c.epoch } else { &mut c.mean };
    if slot.is_none() {
        *slot = Some(tag);
    }
}

fn add(w: &mut Window, p: &Point, f: Field, per_epoch: bool, v: f32) {
    if f == Field::Lr {
        w.lr = Some(v);
        return;
    }
    if f == Field::GradNorm {
        w.grad_norm = Some(match w.grad_norm {
            Some(g) if !g.is_finite() => g,
            Some(g) if v.is_finite() => g.max(v),
            _ => v,
        });
        return;
    }
    let acc = &mut w.fields[slot(f)];
    if per_epoch {
        acc.epoch_value = Some(v);
    } else {
        acc.sum += f64::from(v);
        acc.n += 1;
    }
    let later = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    if f.is_validation() {
        w.has_val = true;
        w.step = w.step.max(p.step);
        w.wall_time = later(w.wall_time, p.wall_time);
    } else {
        w.has_train = true;
        w.train_step = w.train_step.max(p.step);
        w.train_wall_time = later(w.train_wall_time, p.wall_time);
    }
}

fn finish(w: &Window, epoch: usize, lr: Option<f32>) -> ExternalEpoch {
    let (step, wall_time) = if w.has_val { (w.step, w.wall_time) } else { (w.train_step, w.train_wall_time) };
    ExternalEpoch {
        epoch,
        step,
        train_loss: w.fields[slot(Field::TrainLoss)].value(),
        train_acc: accuracy(w.fields[slot(Field::TrainAcc)].value()),
        val_loss: w.fields[slot(Field::ValLoss)].value(),
        val_acc: accuracy(w.fields[slot(Field::ValAcc)].value()),
        lr,
        wall_time,
        grad_norm: w.grad_norm,
    }
}

/// An accuracy as a fraction, or none: a finite value outside 0..1 (after
/// the percent rule) is not an accuracy, and is left out rather than shown
/// as 120%. (A NaN stays: a logged non-finite value.)
fn accuracy(v: Option<f32>) -> Option<f32> {
    v.filter(|a| !a.is_finite() || (0.0..=1.0).contains(a))
}

/// An epoch written as a number: a non-negative whole number (3, 3.0).
pub fn epoch_number(v: f64) -> Option<u32> {
    (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX)).then_some(v as u32)
}

/// A step written as a number: a non-negative whole number below 2^53.
pub fn step_number(v: f64) -> Option<u64> {
    (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 9.0e15).then_some(v as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_store_stops_at_its_tag_limit_and_says_so_once() {
        let mut st = super::Store::default();
        let row = st.row(0, Some(1), None, None);
        for i in 0..super::MAX_TAGS + 10 {
            st.push(&row, &format!("tag{i}"), 1.0);
        }
        assert_eq!(st.tags().len(), super::MAX_TAGS);
        st.push(&row, "tag0", 2.0);
        assert_eq!(st.points().len(), super::MAX_TAGS + 1, "a known tag still takes values");
        let w = st.full_warning().expect("said");
        assert!(w.contains("the rest are left out"), "{w}");
        assert_eq!(st.full_warning(), None, "once");
    }

    use super::*;

    /// (step, epoch, values) per row.
    type Row<'a> = (Option<u64>, Option<u32>, &'a [(&'a str, f32)]);
    type Rows<'a> = [Row<'a>];

    fn store(rows: &Rows) -> Store {
        let mut s = Store::default();
        for (step, epoch, values) in rows {
            let r = s.row(0, *step, *epoch, None);
            for (t, v) in *values {
                s.push(&r, t, *v);
            }
        }
        s
    }

    #[test]
    fn a_validation_point_closes_an_epoch_with_the_mean_of_the_steps_before_it() {
        let s = store(&[
            (Some(1), None, &[("train_loss", 1.0)]),
            (Some(2), None, &[("train_loss", 3.0)]),
            (Some(2), None, &[("val_loss", 2.5)]),
            (Some(3), None, &[("train_loss", 0.5)]),
            (Some(4), None, &[("train_loss", 0.7)]),
            (Some(4), None, &[("val_loss", 1.5), ("val_acc", 0.5)]),
            (Some(5), None, &[("train_loss", 0.1)]),
        ]);
        let a = assemble(&s, &TagMap::new());
        assert_eq!(a.epochs.len(), 2);
        assert_eq!(a.epochs[0].epoch, 1);
        assert_eq!(a.epochs[0].train_loss, Some(2.0));
        assert_eq!(a.epochs[0].step, Some(2));
        assert_eq!(a.epochs[1].train_loss, Some(0.6));
        assert_eq!(a.epochs[1].val_acc, Some(0.5));
    }

    #[test]
    fn validation_at_step_equal_epoch_beside_global_steps_reads_on_two_axes() {
        // `add_scalar("Loss/train", loss, global_step)` every 10 of 40 steps,
        // `add_scalar("Loss/val", v, epoch)` at epochs 0..3.
        let mut rows: Vec<Row> = Vec::new();
        let train: [&[(&str, f32)]; 4] =
            [&[("Loss/train", 2.0)], &[("Loss/train", 1.0)], &[("Loss/train", 0.5)], &[("Loss/train", 0.25)]];
        for (i, v) in train.iter().enumerate() {
            rows.push((Some(10 * i as u64 + 5), None, v));
        }
        let val: [&[(&str, f32)]; 4] =
            [&[("Loss/val", 1.5)], &[("Loss/val", 1.0)], &[("Loss/val", 0.8)], &[("Loss/val", 0.9)]];
        for (e, v) in val.iter().enumerate() {
            rows.push((Some(e as u64), None, v));
        }
        let a = assemble(&store(&rows), &TagMap::new());
        let got: Vec<(usize, Option<f32>, Option<f32>)> =
            a.epochs.iter().map(|e| (e.epoch, e.train_loss, e.val_loss)).collect();
        assert_eq!(
            got,
            [
                (1, Some(2.0), Some(1.5)),
                (2, Some(1.0), Some(1.0)),
                (3, Some(0.5), Some(0.8)),
                (4, Some(0.25), Some(0.9))
            ]
        );
        // Validation at global steps is one axis, as before.
        let one = store(&[
            (Some(5), None, &[("Loss/train", 2.0)]),
            (Some(10), None, &[("Loss/val", 1.5)]),
            (Some(15), None, &[("Loss/train", 1.0)]),
            (Some(20), None, &[("Loss/val", 1.0)]),
        ]);
        assert!(two_axes(&one.points, &one.points.iter().filter(|p| p.step == Some(10)).collect::<Vec<_>>()).is_none());
    }

    #[test]
    fn a_train_tag_on_validation_steps_is_the_epoch_value() {
        // Step losses every step, `Loss/train` only where `Loss/val` is.
        let s = store(&[
            (Some(1), None, &[("train/loss", 9.0)]),
            (Some(2), None, &[("train/loss", 9.0)]),
            (Some(2), None, &[("Loss/train", 0.25), ("Loss/val", 0.5)]),
        ]);
        let a = assemble(&s, &TagMap::new());
        assert_eq!(a.epochs[0].train_loss, Some(0.25));
        // The next epoch's `Loss/train` arrives before its `Loss/val`: the
        // first epoch must not change.
        let mut s = s;
        let r = s.row(0, Some(4), None, None);
        s.push(&r, "Loss/train", 0.125);
        assert_eq!(assemble(&s, &TagMap::new()).epochs[0].train_loss, Some(0.25));
    }

    #[test]
    fn validation_written_before_training_at_the_same_step_still_pairs() {
        let s = store(&[(Some(0), None, &[("val_loss", 0.5)]), (Some(0), None, &[("loss", 0.25)])]);
        let a = assemble(&s, &TagMap::new());
        assert_eq!(a.epochs.len(), 1);
        assert_eq!(a.epochs[0].train_loss, Some(0.25));
    }

    #[test]
    fn epoch_columns_group_sparse_rows_and_count_from_one() {
        // Lightning's layout: step rows, a validation row, an epoch row.
        let s = store(&[
            (Some(4), Some(0), &[("train_loss_step", 2.0)]),
            (Some(9), Some(0), &[("train_loss_step", 1.0)]),
            (Some(9), Some(0), &[("val_loss", 1.2), ("val_acc", 0.6)]),
            (Some(9), Some(0), &[("train_loss_epoch", 1.4), ("lr-SGD", 0.1)]),
            (Some(14), Some(1), &[("train_loss_step", 0.8)]),
            (Some(19), Some(1), &[("val_loss", 1.0), ("val_acc", 0.7)]),
        ]);
        let a = assemble(&s, &TagMap::new());
        assert_eq!(a.epochs.len(), 2);
        assert_eq!((a.epochs[0].epoch, a.epochs[0].train_loss, a.epochs[0].lr), (1, Some(1.4), Some(0.1)));
        // No epoch value for epoch 1: the step mean; the lr carries over.
        assert_eq!((a.epochs[1].epoch, a.epochs[1].train_loss, a.epochs[1].lr), (2, Some(0.8), Some(0.1)));
    }

    #[test]
    fn a_value_without_epoch_takes_the_epoch_of_the_next_step() {
        // LearningRateMonitor rows: a step, no epoch, at each epoch start.
        let s = store(&[
            (Some(0), None, &[("lr-SGD", 0.1)]),
            (Some(4), Some(0), &[("train_loss_step", 2.0)]),
            (Some(4), Some(0), &[("val_loss", 1.0)]),
            (Some(5), None, &[("lr-SGD", 0.05)]),
            (Some(9), Some(1), &[("train_loss_step", 1.0)]),
            (Some(9), Some(1), &[("val_loss", 0.8)]),
        ]);
        let a = assemble(&s, &TagMap::new());
        let got: Vec<_> = a.epochs.iter().map(|e| (e.epoch, e.lr)).collect();
        assert_eq!(got, vec![(1, Some(0.1)), (2, Some(0.05))]);
    }

    #[test]
    fn tensorboard_epoch_scalars_give_epoch_numbers() {
        let s = store(&[
            (Some(5), None, &[("epoch", 0.0), ("train_loss_step", 1.0)]),
            (Some(10), None, &[("epoch", 0.0), ("val_loss", 0.9)]),
            (Some(15), None, &[("epoch", 1.0), ("train_loss_step", 0.5)]),
            (Some(20), None, &[("epoch", 1.0), ("val_loss", 0.8)]),
        ]);
        let a = assemble(&s, &TagMap::new());
        let got: Vec<_> = a.epochs.iter().map(|e| (e.epoch, e.train_loss)).collect();
        assert_eq!(got, vec![(1, Some(1.0)), (2, Some(0.5))]);
    }

    #[test]
    fn an_accuracy_outside_0_to_1_is_left_out() {
        assert_eq!(accuracy(Some(1.2)), None);
        assert_eq!(accuracy(Some(-0.1)), None);
        assert_eq!(accuracy(Some(0.97)), Some(0.97));
        assert!(accuracy(Some(f32::NAN)).is_some_and(f32::is_nan));
    }

    #[test]
    fn percent_accuracies_are_scaled_by_tag() {
        let s = store(&[
            (Some(1), None, &[("Accuracy/train", 1.2), ("Accuracy/val", 1.0), ("loss", 1.0), ("val_loss", 1.0)]),
            (Some(2), None, &[("Accuracy/train", 95.0), ("Accuracy/val", 0.9), ("loss", 1.0), ("val_loss", 1.0)]),
        ]);
        let a = assemble(&s, &TagMap::new());
        assert_eq!(a.epochs[0].train_acc, Some(0.012));
        assert_eq!(a.epochs[1].train_acc, Some(0.95));
        // A fraction column stays as it is.
        assert_eq!(a.epochs[1].val_acc, Some(0.9));
    }

    #[test]
    fn rows_without_steps_follow_arrival_order() {
        let s = store(&[
            (None, None, &[("loss", 1.0)]),
            (None, None, &[("loss", 2.0)]),
            (None, None, &[("val_loss", 2.0)]),
            (None, None, &[("loss", 0.25)]),
            (None, None, &[("loss", 3.0), ("val_loss", 1.0)]),
        ]);
        let a = assemble(&s, &TagMap::new());
        let got: Vec<_> = a.epochs.iter().map(|e| (e.epoch, e.train_loss, e.val_loss)).collect();
        // Epoch 1: the mean of the lines before; epoch 2: the loss on the
        // validation row is that epoch's value.
        assert_eq!(got, vec![(1, Some(1.5), Some(2.0)), (2, Some(3.0), Some(1.0))]);
    }

    #[test]
    fn a_train_value_on_the_validation_row_beats_the_step_mean() {
        // The JSON-lines schema: step lines, then one epoch line with both.
        let s = store(&[
            (Some(5), Some(0), &[("train_loss", 2.0)]),
            (Some(10), Some(0), &[("train_loss", 1.0)]),
            (Some(10), Some(0), &[("train_loss", 0.9), ("val_loss", 1.1)]),
        ]);
        assert_eq!(assemble(&s, &TagMap::new()).epochs[0].train_loss, Some(0.9));
    }

    #[test]
    fn non_finite_values_reach_the_epoch() {
        // A step loss that became NaN makes the epoch's mean NaN; a NaN or
        // infinite validation value still closes its epoch and is kept.
        let s = store(&[
            (Some(1), None, &[("train_loss", 1.0)]),
            (Some(2), None, &[("train_loss", f32::NAN)]),
            (Some(3), None, &[("train_loss", 0.5)]),
            (Some(3), None, &[("val_loss", f32::INFINITY)]),
            (Some(4), None, &[("train_loss", 0.5)]),
            (Some(5), None, &[("val_loss", f32::NAN), ("Accuracy/val", 90.0)]),
            (Some(6), None, &[("Accuracy/val", f32::NAN), ("val_loss", 1.0)]),
        ]);
        let a = assemble(&s, &TagMap::new());
        assert_eq!(a.epochs.len(), 3);
        assert!(a.epochs[0].train_loss.is_some_and(f32::is_nan));
        assert_eq!(a.epochs[0].val_loss, Some(f32::INFINITY));
        assert_eq!(a.epochs[1].train_loss, Some(0.5));
        assert!(a.epochs[1].val_loss.is_some_and(f32::is_nan));
        assert_eq!(a.epochs[1].val_acc, Some(0.9));
        // A NaN in a percent tag neither hides the tag's scale nor vanishes.
        assert!(a.epochs[2].val_acc.is_some_and(f32::is_nan));
        // An infinite per-epoch value is the epoch's value, not averaged.
        let s = store(&[
            (Some(1), Some(0), &[("train_loss_step", 1.0)]),
            (Some(2), Some(0), &[("train_loss_epoch", f32::NEG_INFINITY), ("val_loss", 1.0)]),
        ]);
        assert_eq!(assemble(&s, &TagMap::new()).epochs[0].train_loss, Some(f32::NEG_INFINITY));
    }

    #[test]
    fn the_gradient_norm_is_the_largest_or_a_non_finite_one() {
        let s = store(&[
            (Some(1), None, &[("loss", 1.0), ("grad_norm", 2.0)]),
            (Some(2), None, &[("loss", 1.0), ("grad_norm", 5.0)]),
            (Some(2), None, &[("val_loss", 1.0)]),
            (Some(3), None, &[("loss", 1.0), ("grad_norm", 3.0)]),
            (Some(4), None, &[("loss", 0.0), ("grad_norm", f32::NAN)]),
            (Some(5), None, &[("loss", 0.0), ("grad_norm", 9.0)]),
            (Some(5), None, &[("val_loss", f32::NAN)]),
            (Some(6), None, &[("val_loss", 1.0)]),
        ]);
        let a = assemble(&s, &TagMap::new());
        assert_eq!(a.epochs[0].grad_norm, Some(5.0));
        assert!(a.epochs[1].grad_norm.is_some_and(f32::is_nan));
        assert_eq!(a.epochs[2].grad_norm, None);
        assert!(a.mapped.contains(&("grad_norm".to_string(), Field::GradNorm)));
    }

    #[test]
    fn training_alone_makes_an_epoch_per_logged_step_when_few() {
        let s = store(&[
            (Some(10), None, &[("loss", 1.0), ("lr", 0.1)]),
            (Some(20), None, &[("loss", 0.5), ("acc", 0.75)]),
            (Some(25), None, &[("lr", 0.05)]),
            (Some(30), None, &[("loss", 0.25)]),
        ]);
        let a = assemble(&s, &TagMap::new());
        let got: Vec<_> = a.epochs.iter().map(|e| (e.epoch, e.step, e.train_loss, e.train_acc, e.lr)).collect();
        assert_eq!(
            got,
            vec![
                (1, Some(10), Some(1.0), None, Some(0.1)),
                (2, Some(20), Some(0.5), Some(0.75), Some(0.1)),
                // The lr-only step is no epoch; its lr carries on.
                (3, Some(30), Some(0.25), None, Some(0.05)),
            ]
        );
        assert!(a.epochs.iter().all(|e| e.val_loss.is_none() && e.val_acc.is_none()));
    }

    #[test]
    fn training_alone_with_many_steps_is_windowed_to_at_most_a_hundred_epochs() {
        let mut st = Store::default();
        for s in 0..250u64 {
            let r = st.row(0, Some(s + 1), None, None);
            st.push(&r, "train_loss_step", s as f32);
        }
        let a = assemble(&st, &TagMap::new());
        // 250 steps in windows of ceil(250 / 100) = 3: 83 full, 1 of one.
        assert_eq!(a.epochs.len(), 84);
        assert_eq!((a.epochs[0].step, a.epochs[0].train_loss), (Some(3), Some(1.0)));
        assert_eq!((a.epochs[83].step, a.epochs[83].train_loss), (Some(250), Some(249.0)));
    }

    #[test]
    fn training_alone_with_epoch_numbers_groups_by_epoch() {
        // Keras' CSVLogger without validation; Lightning step rows.
        let s = store(&[
            (Some(4), Some(0), &[("train_loss_step", 2.0)]),
            (Some(9), Some(0), &[("train_loss_step", 1.0), ("lr-SGD", 0.1)]),
            (Some(14), Some(1), &[("train_loss_step", 0.5)]),
            (Some(19), Some(1), &[("train_loss_epoch", 0.25), ("train_acc_epoch", 0.9)]),
        ]);
        let a = assemble(&s, &TagMap::new());
        let got: Vec<_> = a.epochs.iter().map(|e| (e.epoch, e.step, e.train_loss, e.train_acc, e.lr)).collect();
        assert_eq!(
            got,
            vec![(1, Some(9), Some(1.5), None, Some(0.1)), (2, Some(19), Some(0.25), Some(0.9), Some(0.1))]
        );
    }
}
