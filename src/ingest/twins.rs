//! Lightning's two loggers in two folders: one run, two logs.
//!
//! With `logger=[CSVLogger(root), TensorBoardLogger(root)]` and no version
//! given, each logger takes the next free `version_N` of the same folder
//! when it first writes, so one `fit` leaves `metrics.csv` in `version_k`
//! and its event file in `version_k+1` (or the reverse, in the order the
//! loggers are listed). Such a pair is one run: [`pair_runs`] lists it once
//! (the TensorBoard folder, which also carries histograms and the hparams
//! plugin), and [`twin_note`] says, for either half, that the other exists
//! and which one is shown.
//!
//! Adjacent folders are only a candidate: they are the two logs of one run
//! when they match — the same metric names (the CSV's columns but `epoch`
//! and `step`; the event file's tags but `epoch` and Lightning's
//! `hp_metric`) and the same epochs (train and validation values equal to
//! float32 precision). While the run is in progress one log may be behind
//! the other (the CSVLogger writes every 100 steps, the event file every
//! few seconds), so the shorter one may be a prefix of the longer one. The
//! check reads both logs, and its answer is cached per file size and
//! modification time, since a logdir is listed again at every poll.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::detect::{Format, event_files};
use super::follow::Follower;
use super::hf::{Signature, signature};
use super::logdir::RunEntry;
use super::tags::TagMap;
use super::{ExternalEpoch, ExternalRun};

/// The two halves of one Lightning run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Twins {
    /// The CSVLogger's `metrics.csv`.
    pub csv: PathBuf,
    /// The TensorBoardLogger's version folder.
    pub tb: PathBuf,
}

/// `version_N` → N.
fn version_number(dir: &Path) -> Option<u64> {
    dir.file_name()?.to_str()?.strip_prefix("version_")?.parse().ok()
}

/// A version folder with only the CSVLogger's file, or only event files.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Half {
    Csv,
    Tb,
}

fn half_of(dir: &Path) -> Option<Half> {
    version_number(dir)?;
    let csv = dir.join("metrics.csv").is_file();
    let tb = !event_files(dir).is_empty();
    match (csv, tb) {
        (true, false) => Some(Half::Csv),
        (false, true) => Some(Half::Tb),
        _ => None,
    }
}

/// The matching other half of the version folder `dir`, if there is one:
/// `version_{N±1}` beside it, of the other kind, with the same run in it.
/// The folder the CSV was written just before (N+1 for a CSV half) is
/// tried first, as Lightning's default order of loggers gives.
fn twin_of_dir(dir: &Path) -> Option<Twins> {
    let half = half_of(dir)?;
    let n = version_number(dir)?;
    let parent = dir.parent()?;
    let order = match half {
        Half::Csv => [n.checked_add(1), n.checked_sub(1)],
        Half::Tb => [n.checked_sub(1), n.checked_add(1)],
    };
    order.into_iter().flatten().find_map(|m| {
        let other = parent.join(format!("version_{m}"));
        let twins = match (half, half_of(&other)?) {
            (Half::Csv, Half::Tb) => Twins { csv: dir.join("metrics.csv"), tb: other },
            (Half::Tb, Half::Csv) => Twins { csv: other.join("metrics.csv"), tb: dir.to_path_buf() },
            _ => return None,
        };
        // Content decides between two neighbours (the next run's CSV is
        // beside this run's events too); the order above only between
        // identical runs, which show the same either way.
        matching(&twins).then_some(twins)
    })
}

/// The twin of a path given to `watch` or `diagnose`: a version folder of
/// either kind, or a `metrics.csv` in one.
pub fn twins_of(path: &Path) -> Option<Twins> {
    let dir = if path.is_file() { path.parent()? } else { path };
    if path.is_file() && path.file_name()? != "metrics.csv" {
        return None;
    }
    twin_of_dir(dir)
}

/// One sentence for the user: the other log exists, and which is shown.
pub fn twin_note(shown: &Path) -> Option<String> {
    let twins = twins_of(shown)?;
    let tb_shown = shown.is_dir() && !event_files(shown).is_empty();
    Some(if tb_shown {
        format!(
            "{} and {} are the two logs of one Lightning run (TensorBoardLogger and CSVLogger, matching epochs): showing the event files",
            twins.tb.display(),
            twins.csv.display()
        )
    } else {
        format!(
            "{} and {} are the two logs of one Lightning run (CSVLogger and TensorBoardLogger, matching epochs): showing the CSV",
            twins.csv.display(),
            twins.tb.display()
        )
    })
}

/// Lists each matching pair once: the CSV half is dropped from `runs` when
/// its TensorBoard twin is listed.
pub fn pair_runs(runs: &mut Vec<RunEntry>) {
    let tb: Vec<PathBuf> = runs.iter().filter(|r| r.format == Format::TensorBoard).map(|r| r.path.clone()).collect();
    runs.retain(|r| {
        if r.format != Format::Csv || r.path.file_name().is_none_or(|n| n != "metrics.csv") {
            return true;
        }
        !twins_of(&r.path).is_some_and(|t| tb.contains(&t.tb))
    });
}

/// Whether the two logs hold the same run, cached by their files' sizes
/// and modification times.
fn matching(twins: &Twins) -> bool {
    type Cache = HashMap<(PathBuf, PathBuf), (Vec<Option<Signature>>, bool)>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let mut files = vec![twins.csv.clone()];
    files.extend(event_files(&twins.tb));
    let sigs: Vec<Option<Signature>> = files.iter().map(|f| signature(f)).collect();
    let key = (twins.csv.clone(), twins.tb.clone());
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(c) = cache.lock()
        && let Some((s, answer)) = c.get(&key)
        && *s == sigs
    {
        return *answer;
    }
    let answer = read_both(twins).is_some_and(|(csv, tb)| same_run(&csv, &tb));
    if let Ok(mut c) = cache.lock() {
        c.insert(key, (sigs, answer));
    }
    answer
}

fn read_both(twins: &Twins) -> Option<(ExternalRun, ExternalRun)> {
    let read = |p: &Path| {
        let mut f = Follower::open(p, TagMap::new(), false).ok()?;
        f.poll().ok()?;
        f.finish();
        Some(f.run().clone())
    };
    Some((read(&twins.csv)?, read(&twins.tb)?))
}

/// The same metric names, and epochs that agree where both have them.
fn same_run(csv: &ExternalRun, tb: &ExternalRun) -> bool {
    let names = |r: &ExternalRun| {
        let mut n: Vec<String> =
            r.tags_seen.iter().filter(|t| !matches!(t.as_str(), "epoch" | "step" | "hp_metric")).cloned().collect();
        n.sort();
        n
    };
    let (a, b) = (names(csv), names(tb));
    let (short, long) = if csv.epochs.len() <= tb.epochs.len() { (csv, tb) } else { (tb, csv) };
    let names_agree = a == b
        || (short.epochs.is_empty() && {
            let (few, many) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
            few.iter().all(|n| many.contains(n))
        });
    names_agree && !a.is_empty() && short.epochs.iter().zip(&long.epochs).all(|(x, y)| same_epoch(x, y))
}

fn same_epoch(a: &ExternalEpoch, b: &ExternalEpoch) -> bool {
    let close = |x: Option<f32>, y: Option<f32>| match (x, y) {
        (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-5 * x.abs().max(y.abs()),
        (None, None) => true,
        _ => false,
    };
    a.epoch == b.epoch
        && close(a.val_loss, b.val_loss)
        && close(a.val_acc, b.val_acc)
        && close(a.train_loss, b.train_loss)
        && close(a.train_acc, b.train_acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external/lightning-twins/lightning_logs").join(rel)
    }

    #[test]
    fn each_half_finds_its_own_twin_and_not_the_next_runs() {
        let first = Twins { csv: fixture("version_0/metrics.csv"), tb: fixture("version_1") };
        let second = Twins { csv: fixture("version_2/metrics.csv"), tb: fixture("version_3") };
        assert_eq!(twins_of(&fixture("version_0")), Some(first.clone()));
        assert_eq!(twins_of(&fixture("version_0/metrics.csv")), Some(first.clone()));
        assert_eq!(twins_of(&fixture("version_1")), Some(first));
        // version_2 is beside version_1 too, but version_1 is version_0's.
        assert_eq!(twins_of(&fixture("version_2")), Some(second.clone()));
        assert_eq!(twins_of(&fixture("version_3")), Some(second));
        assert_eq!(twins_of(&fixture("version_1/hparams.yaml")), None);
    }

    #[test]
    fn logs_that_disagree_are_not_twins() {
        let dir = tempfile::tempdir().unwrap();
        let copy = |from: &str, to: &str| {
            let to = dir.path().join(to);
            std::fs::create_dir_all(&to).unwrap();
            for e in std::fs::read_dir(fixture(from)).unwrap().flatten() {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        };
        // The CSV of the second run beside the events of the first.
        copy("version_2", "version_0");
        copy("version_1", "version_1");
        assert_eq!(twins_of(&dir.path().join("version_0")), None);
        assert_eq!(twins_of(&dir.path().join("version_1")), None);
        // A CSV cut short (a run in progress) is still the same run.
        copy("version_0", "version_0");
        let csv = dir.path().join("version_0/metrics.csv");
        let text = std::fs::read_to_string(&csv).unwrap();
        let cut: String = text.lines().take(12).map(|l| format!("{l}\n")).collect();
        std::fs::write(&csv, cut).unwrap();
        assert!(twins_of(&dir.path().join("version_1")).is_some());
    }
}
