//! The run picker of `fitcheck watch` on a folder of many runs (a
//! TensorBoard root, Lightning's `lightning_logs/`, an `mlruns/` tree, an
//! `mlflow.db` with several runs): its state ([`RunList`], kept in `App`
//! while a run is watched, so `p` comes back to it), its keys (the picker's
//! own bindings in the keymap), and the scanner thread that lists the runs
//! every [`SCAN`] and reads each one that changed, so new runs and new
//! epochs show up. Drawing is `panels::runs`.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, bounded};

use super::app::{App, Effect};
use super::keymap::Action;
use crate::ingest::{Format, IngestError, RunEntry, TagMap, list_runs, read_run};

/// How often the scanner lists the folder again.
pub const SCAN: Duration = Duration::from_secs(2);
/// Folder depth looked at for a run's newest modification time.
const AGE_DEPTH: usize = 4;
/// Entries looked at for a run's newest modification time.
const AGE_ENTRIES: usize = 2000;

/// One run as the picker lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// Its name in the folder (`version_0`, `mlruns/blobs/healthy`).
    pub name: String,
    pub format: Format,
    /// What `watch` opens.
    pub path: PathBuf,
    /// `None` until the run has been read.
    pub epochs: Option<usize>,
    pub last_val_loss: Option<f32>,
    /// Seconds since the run last changed, when the scan looked.
    pub age_s: Option<u64>,
    /// Why it cannot be read, when it cannot (no metrics yet, damage).
    pub problem: Option<String>,
}

/// The runs of the folder watched, and the picker over them.
#[derive(Clone, Debug, PartialEq)]
pub struct RunList {
    pub dir: PathBuf,
    pub rows: Vec<RunRow>,
    pub selected: usize,
    /// The picker is on screen (it takes the keys).
    pub open: bool,
    /// The run being watched, once one was chosen.
    pub watching: Option<PathBuf>,
    /// The first scan has arrived.
    pub scanned: bool,
}

impl RunList {
    pub fn new(dir: &Path) -> RunList {
        RunList { dir: dir.to_path_buf(), rows: Vec::new(), selected: 0, open: true, watching: None, scanned: false }
    }

    /// A new scan: the highlight stays on the run it was on.
    pub fn set_rows(&mut self, rows: Vec<RunRow>) {
        let at = self.rows.get(self.selected).map(|r| r.path.clone());
        self.rows = rows;
        self.scanned = true;
        self.selected = at
            .and_then(|p| self.rows.iter().position(|r| r.path == p))
            .unwrap_or(self.selected)
            .min(self.rows.len().saturating_sub(1));
    }
}

/// True when `watch PATH` should open on the run picker: PATH lists more
/// than one run.
pub fn holds_many_runs(path: &Path) -> bool {
    list_runs(path).is_ok_and(|runs| runs.len() > 1)
}

impl App {
    /// `watch` on a folder of many runs: the picker over its runs, nothing
    /// watched yet (the rows arrive from the scanner).
    pub fn picking_run(dir: &Path) -> App {
        let name = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
        let mut app = App::watching(crate::run::Run::external(&name), false);
        app.runs = Some(RunList::new(dir));
        app
    }

    /// The run picker's keys: move, Enter watches the run, Esc goes back to
    /// the run watched (or quits when there is none).
    pub(super) fn on_run_picker(&mut self, action: Action) -> Option<Effect> {
        let list = self.runs.as_mut()?;
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::Up => list.selected = list.selected.saturating_sub(1),
            Action::Down => list.selected = (list.selected + 1).min(list.rows.len().saturating_sub(1)),
            Action::Choose => {
                let path = list.rows.get(list.selected)?.path.clone();
                list.open = false;
                return Some(Effect::Watch(path));
            }
            Action::Close if list.watching.is_none() => return Some(Effect::Quit),
            Action::Close => list.open = false,
            _ => {}
        }
        None
    }

    /// `p` while watching a run of a folder: back to its runs.
    pub(super) fn open_run_picker(&mut self) -> bool {
        match self.runs.as_mut() {
            Some(list) => {
                list.open = true;
                true
            }
            None => false,
        }
    }

    /// The dashboard on the chosen run: a fresh view, the run list kept.
    pub fn start_watching(&mut self, mut next: App, path: &Path) {
        let mut runs = self.runs.take();
        if let Some(list) = runs.as_mut() {
            list.open = false;
            list.watching = Some(path.to_path_buf());
        }
        next.runs = runs;
        *self = next;
    }
}

/// Lists `dir` every [`SCAN`] and sends every run with what was read of it,
/// until the receiver is dropped. A run is read again only when it changed
/// (its newest modification time), so a quiet folder costs a listing.
pub fn spawn_scanner(dir: &Path, maps: TagMap) -> std::io::Result<Receiver<Vec<RunRow>>> {
    let (tx, rx) = bounded(4);
    let dir = dir.to_path_buf();
    thread::Builder::new().name("runs".into()).spawn(move || {
        let mut known: Vec<(RunRow, Option<SystemTime>)> = Vec::new();
        loop {
            let entries = list_runs(&dir).unwrap_or_default();
            // The names first, so a big folder shows at once.
            let mut rows = Vec::with_capacity(entries.len());
            let mut fresh = Vec::new();
            for e in entries {
                let changed = last_change(&e);
                match known.iter().find(|(r, _)| r.path == e.path) {
                    Some((r, at)) if *at == changed => rows.push((r.clone(), changed)),
                    Some((r, _)) => {
                        fresh.push(rows.len());
                        rows.push((r.clone(), changed));
                    }
                    None => {
                        fresh.push(rows.len());
                        rows.push((unread(&e), changed));
                    }
                }
            }
            let now = SystemTime::now();
            let with_age = |rows: &[(RunRow, Option<SystemTime>)]| -> Vec<RunRow> {
                rows.iter()
                    .map(|(r, at)| RunRow {
                        age_s: at.and_then(|t| now.duration_since(t).ok()).map(|d| d.as_secs()),
                        ..r.clone()
                    })
                    .collect()
            };
            if !fresh.is_empty() && tx.send(with_age(&rows)).is_err() {
                return;
            }
            for i in fresh {
                let (row, _) = &mut rows[i];
                summarize(row, &maps);
            }
            if tx.send(with_age(&rows)).is_err() {
                return;
            }
            known = rows;
            thread::sleep(SCAN);
        }
    })?;
    Ok(rx)
}

fn unread(e: &RunEntry) -> RunRow {
    RunRow {
        name: e.name.clone(),
        format: e.format,
        path: e.path.clone(),
        epochs: None,
        last_val_loss: None,
        age_s: None,
        problem: None,
    }
}

/// Reads a run for its row: epochs and the last validation loss, or why it
/// cannot be read.
fn summarize(row: &mut RunRow, maps: &TagMap) {
    if row.format == Format::FitcheckLog {
        match crate::run::replay::read_log(&row.path) {
            Ok(runs) => {
                let events = runs.last().map_or(&[][..], Vec::as_slice);
                let epochs: Vec<_> = events
                    .iter()
                    .filter_map(|e| match e {
                        // A fork's branch epochs are not the run's.
                        crate::protocol::Event::Epoch(m) if m.branch.is_none() => Some(m),
                        _ => None,
                    })
                    .collect();
                row.epochs = Some(epochs.len());
                row.last_val_loss = epochs.last().map(|m| m.val_loss);
                row.problem = None;
            }
            Err(e) => row.problem = Some(e.to_string()),
        }
        return;
    }
    match read_run(&row.path, maps) {
        Ok(run) => {
            row.epochs = Some(run.epochs.len());
            row.last_val_loss = run.epochs.iter().rev().find_map(|e| e.val_loss);
            row.problem = None;
        }
        Err(IngestError::NoMetrics { .. } | IngestError::NotYetWritten { .. }) => {
            row.epochs = Some(0);
            row.last_val_loss = None;
            row.problem = Some("no loss or accuracy logged yet".into());
        }
        Err(e) => {
            row.epochs = None;
            row.problem = Some(e.to_string());
        }
    }
}

/// When a run last changed: its file's modification time, the newest of
/// the files in its folder (a few levels down), or its database's.
fn last_change(e: &RunEntry) -> Option<SystemTime> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if e.format == Format::MlflowSqlite && !e.path.exists() {
        let db = e.path.parent()?;
        // A database in WAL mode writes its log first.
        let wal = db.with_file_name(format!("{}-wal", db.file_name()?.to_string_lossy()));
        return modified(db).max(modified(&wal));
    }
    if !e.path.is_dir() {
        return modified(&e.path);
    }
    let mut newest = modified(&e.path);
    let mut stack = vec![(e.path.clone(), 0usize)];
    let mut seen = 0;
    while let Some((d, depth)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for entry in rd.filter_map(Result::ok) {
            seen += 1;
            if seen > AGE_ENTRIES {
                return newest;
            }
            let Ok(t) = entry.file_type() else { continue };
            if t.is_dir() && depth < AGE_DEPTH {
                stack.push((entry.path(), depth + 1));
            } else if t.is_file() {
                newest = newest.max(modified(&entry.path()));
            }
        }
    }
    newest
}

/// How long ago, in a few characters: `42s`, `5m`, `3h`, `2d`.
pub fn age_text(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A format in a few words, for the picker's column.
pub fn format_label(f: Format) -> &'static str {
    match f {
        Format::TensorBoard => "TensorBoard",
        Format::Csv => "CSV",
        Format::JsonLines => "JSON lines",
        Format::HfTrainerState => "HF Trainer",
        Format::FitcheckLog => "fitcheck log",
        Format::MlflowSqlite => "MLflow db",
        Format::MlflowFiles => "MLflow files",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str) -> RunRow {
        RunRow {
            name: name.into(),
            format: Format::Csv,
            path: PathBuf::from(name),
            epochs: None,
            last_val_loss: None,
            age_s: None,
            problem: None,
        }
    }

    #[test]
    fn a_new_scan_keeps_the_highlight_on_its_run() {
        let mut list = RunList::new(Path::new("logs"));
        list.set_rows(vec![row("b"), row("c")]);
        list.selected = 1;
        // A run appears before the highlighted one.
        list.set_rows(vec![row("a"), row("b"), row("c")]);
        assert_eq!(list.rows[list.selected].name, "c");
        // The highlighted run vanishes: the highlight stays in the list.
        list.set_rows(vec![row("a")]);
        assert_eq!(list.selected, 0);
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(age_text(5), "5s");
        assert_eq!(age_text(300), "5m");
        assert_eq!(age_text(7200), "2h");
        assert_eq!(age_text(3 * 86_400), "3d");
    }
}
