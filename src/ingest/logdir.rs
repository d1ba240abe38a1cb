//! The runs in a folder: a TensorBoard logdir (each folder with event files
//! is a run, Keras' `train/` + `validation/` pair is one run of its parent),
//! Hugging Face Trainer output folders (`trainer_state.json` or
//! `checkpoint-*/trainer_state.json`: one run, its checkpoints not listed
//! apart; Lightning's CSV and TensorBoard version folders of one run: one
//! run, see [`super::twins`]) and the CSV, JSON-lines, trainer-state and
//! fitcheck log files beside them, recognised by content; MLflow stores (each
//! run of an `mlflow.db`, each run folder of an `mlruns/` tree, named
//! `<experiment>/<run name>`, see [`super::mlflow`]); and the one run a folder holds, for
//! `Follower::new`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::detect::{Format, Sniff, event_files, is_event_file_name, sniff_file, split_dirs};
use super::error::IngestError;
use super::{hf, mlflow};

/// Where a run's files are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Layout {
    /// One file.
    File(PathBuf),
    /// A TensorBoard run folder: its event files and those of its Keras
    /// split sub-folders.
    TbRun(PathBuf),
    /// A Hugging Face Trainer output folder: its newest `trainer_state.json`.
    HfDir(PathBuf),
    /// An MLflow run: a file-store run folder, or `mlflow.db/<run id>`.
    Mlflow(PathBuf),
    /// A stream (standard input), by the name it goes by: no file to read,
    /// the bytes are [`super::Follower::push`]ed.
    Stream(PathBuf),
}

impl Layout {
    pub(crate) fn path(&self) -> &Path {
        match self {
            Layout::File(p) | Layout::TbRun(p) | Layout::HfDir(p) | Layout::Mlflow(p) | Layout::Stream(p) => p,
        }
    }
}

/// The format of a file, or of the one run a folder holds.
pub fn detect_format(path: &Path) -> Result<Format, IngestError> {
    if let Some((format, _)) = super::mlflow::locate(path)? {
        return Ok(format);
    }
    let meta = std::fs::metadata(path).map_err(|e| IngestError::unreadable(path, e))?;
    if meta.is_dir() {
        return resolve_dir(path).map(|(f, _)| f);
    }
    match sniff_file(path)? {
        Sniff::Format(f) => Ok(f),
        Sniff::NotYet => Err(IngestError::NotYetWritten { path: path.to_path_buf() }),
        Sniff::Unknown(detail) => Err(IngestError::UnknownFormat { path: path.to_path_buf(), detail }),
    }
}

/// A run's name: its file or folder name.
pub(crate) fn run_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

/// Folder depth searched by [`list_runs`].
const MAX_DEPTH: usize = 6;
/// Folder entries looked at by [`list_runs`] before it stops looking.
const MAX_ENTRIES: usize = 50_000;

/// One run found in a folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct RunEntry {
    /// Its path relative to the folder listed (`.` for the folder itself).
    pub name: String,
    /// What to give [`super::Follower::new`].
    pub path: PathBuf,
    pub format: Format,
}

/// The runs in a folder, sorted by name: every folder with event files
/// directly in it (with Keras' `train/` + `validation/` sub-folders counted
/// as one run of their parent), and every CSV, JSON-lines or fitcheck log
/// file, recognised by content. Hidden entries (`.name`) are skipped, as are
/// symbolic links to folders; the search stops at depth 6. A file path
/// lists itself.
pub fn list_runs(dir: &Path) -> Result<Vec<RunEntry>, IngestError> {
    let meta = std::fs::metadata(dir).map_err(|e| IngestError::unreadable(dir, e))?;
    if !meta.is_dir() {
        let format = match sniff_file(dir)? {
            Sniff::Format(f) => f,
            Sniff::NotYet => return Err(IngestError::NotYetWritten { path: dir.to_path_buf() }),
            Sniff::Unknown(detail) => return Err(IngestError::UnknownFormat { path: dir.to_path_buf(), detail }),
        };
        if format == Format::MlflowSqlite {
            return db_entries(dir, "");
        }
        return Ok(vec![RunEntry { name: run_name(dir), path: dir.to_path_buf(), format }]);
    }
    std::fs::read_dir(dir).map_err(|e| IngestError::unreadable(dir, e))?;
    let mut out = Vec::new();
    let mut seen = 0usize;
    let mut queue = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = queue.pop() {
        // An MLflow run folder is one run; its metrics/params/tags files
        // are not runs of their own.
        if mlflow::is_file_run(&d) {
            let (name, deleted) = mlflow::file_run_name(&d);
            if !deleted {
                out.push(RunEntry { name: mlflow_name(dir, &d, &name), path: d.clone(), format: Format::MlflowFiles });
            }
            continue;
        }
        let splits: Vec<PathBuf> = split_dirs(&d).into_iter().map(|(p, _)| p).collect();
        if !event_files(&d).is_empty() || !splits.is_empty() {
            out.push(RunEntry { name: relative(dir, &d), path: d.clone(), format: Format::TensorBoard });
        }
        let trainer = hf::is_output_dir(&d);
        if trainer {
            out.push(RunEntry { name: relative(dir, &d), path: d.clone(), format: Format::HfTrainerState });
        }
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for entry in rd.filter_map(Result::ok) {
            seen += 1;
            if seen > MAX_ENTRIES {
                break;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let Ok(t) = entry.file_type() else { continue };
            let p = entry.path();
            // A Trainer folder's own state and checkpoints are that run.
            if trainer && (name == hf::STATE_FILE || (t.is_dir() && hf::is_checkpoint_name(&name))) {
                continue;
            }
            if t.is_dir() {
                if depth < MAX_DEPTH && !splits.contains(&p) {
                    queue.push((p, depth + 1));
                }
            } else if !t.is_symlink() || p.is_file() {
                if is_event_file_name(&name) {
                    continue;
                }
                match sniff_file(&p) {
                    // A database that is not an MLflow store (an Optuna
                    // study, say) is not a run.
                    Ok(Sniff::Format(Format::MlflowSqlite)) => {
                        out.extend(db_entries(&p, &relative(dir, &p)).unwrap_or_default());
                    }
                    Ok(Sniff::Format(format)) if format != Format::TensorBoard => {
                        out.push(RunEntry { name: relative(dir, &p), path: p, format });
                    }
                    _ => {}
                }
            }
        }
    }
    // MLflow run names need not be unique: the run id's first 8 characters
    // tell twins apart.
    let mut count: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for r in &out {
        *count.entry(r.name.clone()).or_default() += 1;
    }
    for r in &mut out {
        if count[&r.name] > 1 && r.format == Format::MlflowFiles {
            let id: String = run_name(&r.path).chars().take(8).collect();
            r.name = format!("{} ({id})", r.name);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    // Lightning's two loggers in two version folders: one run.
    super::twins::pair_runs(&mut out);
    Ok(out)
}

/// The run of `path` (a folder or store of several runs) that `--run NAME`
/// names: the run listed as NAME, or the one run whose listed name ends in
/// `/NAME` (`--run healthy` for `mlruns/blobs/healthy`). Errors list the
/// runs there are, or the runs NAME could mean.
pub fn pick_run(path: &Path, name: &str) -> Result<PathBuf, IngestError> {
    let runs = list_runs(path)?;
    if let Some(r) = runs.iter().find(|r| r.name == name) {
        return Ok(r.path.clone());
    }
    let tail = format!("/{}", name.trim_start_matches('/'));
    let found: Vec<&RunEntry> = runs.iter().filter(|r| r.name.ends_with(&tail)).collect();
    match found.as_slice() {
        [one] => Ok(one.path.clone()),
        [] => Err(IngestError::NoSuchRun {
            path: path.to_path_buf(),
            run: name.to_string(),
            runs: runs.iter().map(|r| r.name.clone()).collect(),
        }),
        many => Err(IngestError::SeveralRuns {
            path: path.to_path_buf(),
            runs: many.iter().map(|r| r.name.clone()).collect(),
        }),
    }
}

/// The runs of an MLflow SQLite store, named `<prefix>/<experiment>/<run>`.
fn db_entries(db: &Path, prefix: &str) -> Result<Vec<RunEntry>, IngestError> {
    Ok(mlflow::db_runs(db)?
        .into_iter()
        .map(|r| RunEntry {
            name: if prefix.is_empty() { r.name } else { format!("{prefix}/{}", r.name) },
            path: db.join(&r.id),
            format: Format::MlflowSqlite,
        })
        .collect())
}

/// A file-store run's listed name: its path below the folder listed, with
/// the experiment and run folders (MLflow's ids) replaced by their names
/// (`mlruns/blobs/healthy`; see [`mlflow::file_run_name`]).
fn mlflow_name(root: &Path, run: &Path, names: &str) -> String {
    let rel = relative(root, run);
    let mut parts: Vec<&str> = if rel == "." { Vec::new() } else { rel.split('/').collect() };
    parts.truncate(parts.len().saturating_sub(2));
    let mut name = parts.join("/");
    if !name.is_empty() {
        name.push('/');
    }
    name.push_str(names);
    name
}

fn relative(root: &Path, p: &Path) -> String {
    match p.strip_prefix(root) {
        Ok(r) if r.as_os_str().is_empty() => ".".to_string(),
        Ok(r) => r.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/"),
        Err(_) => p.display().to_string(),
    }
}

/// The one run a folder holds.
pub(crate) fn resolve_dir(dir: &Path) -> Result<(Format, Layout), IngestError> {
    if mlflow::is_file_run(dir) {
        return Ok((Format::MlflowFiles, Layout::Mlflow(dir.to_path_buf())));
    }
    if !event_files(dir).is_empty() || !split_dirs(dir).is_empty() {
        return Ok((Format::TensorBoard, Layout::TbRun(dir.to_path_buf())));
    }
    if hf::is_output_dir(dir) {
        return Ok((Format::HfTrainerState, Layout::HfDir(dir.to_path_buf())));
    }
    let runs = list_runs(dir)?;
    match runs.as_slice() {
        [] => Err(IngestError::UnknownFormat {
            path: dir.to_path_buf(),
            detail: "the folder holds no event files, CSV or JSON-lines files".into(),
        }),
        [one] => Ok((
            one.format,
            if one.format == Format::TensorBoard {
                Layout::TbRun(one.path.clone())
            } else if matches!(one.format, Format::MlflowSqlite | Format::MlflowFiles) {
                Layout::Mlflow(one.path.clone())
            } else if one.path.is_dir() {
                Layout::HfDir(one.path.clone())
            } else {
                Layout::File(one.path.clone())
            },
        )),
        many => Err(IngestError::SeveralRuns {
            path: dir.to_path_buf(),
            runs: many.iter().map(|r| r.name.clone()).collect(),
        }),
    }
}

/// Notices runs appearing in a folder: each poll returns the runs not
/// returned before.
#[derive(Debug)]
pub struct RunLister {
    dir: PathBuf,
    known: HashSet<PathBuf>,
}

impl RunLister {
    pub fn new(dir: &Path) -> RunLister {
        RunLister { dir: dir.to_path_buf(), known: HashSet::new() }
    }

    pub fn poll(&mut self) -> Result<Vec<RunEntry>, IngestError> {
        let runs = list_runs(&self.dir)?;
        Ok(runs.into_iter().filter(|r| self.known.insert(r.path.clone())).collect())
    }
}
