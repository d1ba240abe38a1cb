//! MLflow's tracking stores, read-only: the SQLite store (`mlflow.db`,
//! MLflow 3's default) and the file store (`mlruns/<experiment>/<run>/`).
//!
//! Both hold runs inside experiments. This module lists them
//! ([`db_runs`], [`file_run_name`]), turns a path into one run ([`locate`]),
//! and reads a run's metrics and params as it grows ([`Reader`]).
//!
//! **Addressing**: a file-store run is its folder
//! (`mlruns/<experiment id>/<run id>`). A run of an SQLite store is the
//! database path followed by a selector, as if the database were a folder:
//! `mlflow.db/<run id>`, `mlflow.db/<experiment>/<run name>` or
//! `mlflow.db/<run name>` when that name is unique. The database alone is
//! its run when it holds one.
//!
//! **SQLite**: opened with `SQLITE_OPEN_READ_ONLY` (never written, never
//! locked for writing) and a short busy timeout: while MLflow holds its
//! write lock a poll gives up after [`BUSY_TIMEOUT`] and the next poll tries
//! again, so nothing hangs. `PRAGMA data_version` tells whether anyone
//! committed since the last poll; new `metrics` rows are read by rowid. The
//! tables read: `experiments(experiment_id, name)`, `runs(run_uuid, name,
//! experiment_id, status, lifecycle_stage, start_time, end_time)`,
//! `metrics(key, value, timestamp, run_uuid, step, is_nan)` (a NaN is stored
//! as value 0 with `is_nan` 1; ±inf as ±`f64::MAX`, which is ±inf as an f32)
//! and `params(key, value, run_uuid)`. Deleted runs are not listed.
//!
//! **Files**: `metrics/<key>` holds lines `timestamp value step` (keys with
//! `/` are sub-folders; values as Python writes them: `nan`, `inf`); it is
//! only appended to, so it is read like a CSV, from where the last poll
//! stopped. `params/<key>` holds the value alone; `meta.yaml` the run's name
//! (`run_name`), `status` and `lifecycle_stage`; the experiment's
//! `meta.yaml` its `name`.
//!
//! **Steps and epochs**: MLflow stores a step with every value (0 when the
//! caller gave none). The steps are used as the writer's global steps unless
//! some key holds two values at one step — a loop that never passes `step=`
//! — in which case the points are ordered by their timestamps alone. Values
//! logged by one `log_metrics` call (same timestamp and step) are one row,
//! so a training value logged beside the validation values is that epoch's
//! value, and an `epoch` metric in that row numbers the row's epoch (as an
//! `epoch` column does in a CSV). The assembly ([`super::assemble`]) then
//! applies the usual rules: per-epoch metrics at step = epoch number the
//! epochs by their validation points; a per-batch training loss at the
//! global step beside validation at step = epoch is read on two axes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

use super::assemble::{Store, epoch_number, step_number};
use super::detect::Format;
use super::error::IngestError;
use super::hparams::parse_yaml;

/// The first 16 bytes of every SQLite database file.
pub const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// How long one query waits for MLflow's write lock before the poll gives
/// up (the next poll tries again).
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(100);
/// How long listing a store's runs waits for the write lock (once, when a
/// store is opened).
const LIST_TIMEOUT: Duration = Duration::from_millis(1500);
/// Folder depth of metric and param keys with `/` in them.
const MAX_KEY_DEPTH: usize = 8;
/// A metric line longer than this is damage, not a value.
const MAX_LINE: usize = 4096;
/// Polls in a row that found the store locked before it is worth a warning.
const BUSY_WARN_POLLS: u32 = 20;

/// True when `bytes` start like an SQLite database.
pub fn is_sqlite(bytes: &[u8]) -> bool {
    bytes.starts_with(SQLITE_MAGIC)
}

/// True when `dir` is a file-store run folder: a `metrics/` folder and a
/// `meta.yaml` with a `run_id` (MLflow makes both when it creates the run;
/// a logged model's folder has a `model_id` instead).
pub fn is_file_run(dir: &Path) -> bool {
    let meta = dir.join("meta.yaml");
    if !meta.is_file() || !dir.join("metrics").is_dir() {
        return false;
    }
    let meta = read_meta(&meta);
    meta.contains_key("run_id") && !meta.contains_key("model_id")
}

/// One run of a store, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRun {
    /// MLflow's run id (`run_uuid`).
    pub id: String,
    /// `<experiment>/<run name>`, with the first 8 characters of the id
    /// added in parentheses when two runs of the store share that name.
    pub name: String,
    pub run_name: String,
    pub experiment: String,
    /// `RUNNING`, `FINISHED`, `FAILED`, `KILLED` or `SCHEDULED`.
    pub status: String,
}

fn malformed(path: &Path, detail: impl Into<String>) -> IngestError {
    IngestError::Malformed { path: path.to_path_buf(), detail: detail.into() }
}

fn open_db(db: &Path, timeout: Duration) -> Result<Connection, rusqlite::Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(db, flags)?;
    conn.busy_timeout(timeout)?;
    Ok(conn)
}

/// A cell as a number: SQLite keeps MLflow's floats as REAL (or INTEGER
/// when whole); text that parses counts too.
fn number(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Real(x) => Some(x),
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// What an SQLite error means to the user.
fn db_error(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => format!("not an SQLite database, or a damaged one ({e})"),
        Some(ErrorCode::DatabaseCorrupt) => format!("the SQLite database is damaged ({e})"),
        _ if e.to_string().contains("no such table") || e.to_string().contains("no such column") => {
            format!("an SQLite database, but not an MLflow tracking store ({e})")
        }
        _ => format!("cannot be read as an MLflow store ({e})"),
    }
}

/// The active runs of an SQLite store, by experiment and run name.
pub fn db_runs(db: &Path) -> Result<Vec<StoreRun>, IngestError> {
    let conn = open_db(db, LIST_TIMEOUT).map_err(|e| malformed(db, db_error(&e)))?;
    let sql = "SELECT r.run_uuid, COALESCE(r.name, ''), COALESCE(e.name, CAST(r.experiment_id AS TEXT), ''), \
               COALESCE(r.status, '') FROM runs r LEFT JOIN experiments e ON e.experiment_id = r.experiment_id \
               WHERE COALESCE(r.lifecycle_stage, 'active') != 'deleted' \
               AND COALESCE(e.lifecycle_stage, 'active') != 'deleted'";
    let rows = (|| {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| {
            Ok(StoreRun {
                id: r.get(0)?,
                run_name: r.get(1)?,
                experiment: r.get(2)?,
                status: r.get(3)?,
                name: String::new(),
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>()
    })()
    .map_err(|e| malformed(db, db_error(&e)))?;
    Ok(named(rows))
}

/// Gives each run its listed name, unique within the store.
fn named(mut runs: Vec<StoreRun>) -> Vec<StoreRun> {
    for r in &mut runs {
        let run = if r.run_name.trim().is_empty() { short(&r.id) } else { r.run_name.replace('/', "∕") };
        r.name = format!("{}/{run}", r.experiment.replace('/', "∕"));
    }
    let mut count: HashMap<String, usize> = HashMap::new();
    for r in &runs {
        *count.entry(r.name.clone()).or_default() += 1;
    }
    for r in &mut runs {
        if count[&r.name] > 1 {
            r.name = format!("{} ({})", r.name, short(&r.id));
        }
    }
    runs.sort_by(|a, b| a.name.cmp(&b.name));
    runs
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

/// The database and the selector after it, when `path` does not exist but
/// one of its ancestors is an SQLite file (`mlflow.db/<run>`).
pub fn split_db_path(path: &Path) -> Option<(PathBuf, String)> {
    if path.exists() {
        return None;
    }
    for db in path.ancestors().skip(1) {
        if db.as_os_str().is_empty() {
            break;
        }
        if db.is_file() {
            let rest = path.strip_prefix(db).ok()?;
            let sel: Vec<String> = rest.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            return file_is_sqlite(db).then(|| (db.to_path_buf(), sel.join("/")));
        }
    }
    None
}

fn file_is_sqlite(path: &Path) -> bool {
    let mut head = [0u8; 16];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && is_sqlite(&head)
}

/// The run of `db` that `selector` names: its id, its listed name, its
/// `<experiment>/<run name>`, or its run name when no other run has it.
pub fn select(db: &Path, selector: &str) -> Result<StoreRun, IngestError> {
    let runs = db_runs(db)?;
    let exact: Vec<&StoreRun> = runs
        .iter()
        .filter(|r| r.id == selector || r.name == selector || format!("{}/{}", r.experiment, r.run_name) == selector)
        .collect();
    let found = if exact.is_empty() { runs.iter().filter(|r| r.run_name == selector).collect() } else { exact };
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(IngestError::NoSuchRun {
            path: db.to_path_buf(),
            run: selector.to_string(),
            runs: runs.iter().map(|r| r.name.clone()).collect(),
        }),
        many => Err(IngestError::SeveralRuns {
            path: db.join(selector),
            runs: many.iter().map(|r| format!("{} ({})", r.name, r.id)).collect(),
        }),
    }
}

/// The MLflow run `path` names, when it names one: a run of an SQLite
/// store (`mlflow.db/<selector>`), the store itself when it holds exactly
/// one run, or a file-store run folder. Returns the format and the path the
/// run is followed by (`mlflow.db/<run id>`, or the run folder).
pub fn locate(path: &Path) -> Result<Option<(Format, PathBuf)>, IngestError> {
    if let Some((db, sel)) = split_db_path(path) {
        let run = select(&db, &sel)?;
        return Ok(Some((Format::MlflowSqlite, db.join(run.id))));
    }
    if path.is_file() && file_is_sqlite(path) {
        let runs = db_runs(path)?;
        return match runs.as_slice() {
            [one] => Ok(Some((Format::MlflowSqlite, path.join(&one.id)))),
            [] => Err(malformed(path, "an MLflow store without any run yet")),
            many => Err(IngestError::SeveralRuns {
                path: path.to_path_buf(),
                runs: many.iter().map(|r| r.name.clone()).collect(),
            }),
        };
    }
    if path.is_dir() && is_file_run(path) {
        return Ok(Some((Format::MlflowFiles, path.to_path_buf())));
    }
    Ok(None)
}

/// The settings of a `meta.yaml`, keys as written.
fn read_meta(path: &Path) -> BTreeMap<String, String> {
    match super::bounded::read_file(path, super::bounded::MAX_SMALL, "meta.yaml") {
        Ok(bytes) => parse_yaml(&String::from_utf8_lossy(&bytes), path, &mut Vec::new()),
        Err(_) => BTreeMap::new(),
    }
}

/// A file-store run as listed: `<experiment name>/<run name>` (the folder
/// names when `meta.yaml` does not say), and whether MLflow deleted it.
pub fn file_run_name(dir: &Path) -> (String, bool) {
    let meta = read_meta(&dir.join("meta.yaml"));
    let deleted = meta.get("lifecycle_stage").is_some_and(|s| s == "deleted");
    let folder = |p: Option<&Path>| {
        p.and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "?".into())
    };
    let run = meta.get("run_name").filter(|s| !s.trim().is_empty()).cloned().unwrap_or_else(|| folder(Some(dir)));
    let exp_dir = dir.parent();
    let exp = exp_dir
        .map(|e| read_meta(&e.join("meta.yaml")))
        .and_then(|m| m.get("name").cloned())
        .unwrap_or_else(|| folder(exp_dir));
    (format!("{}/{}", exp.replace('/', "∕"), run.replace('/', "∕")), deleted)
}

/// The name a followed MLflow run is shown with: its MLflow run name.
pub fn display_name(format: Format, path: &Path) -> String {
    match format {
        Format::MlflowSqlite => {
            let (db, id) = (path.parent().unwrap_or(path), path.file_name().map(|n| n.to_string_lossy().into_owned()));
            db_runs(db)
                .ok()
                .and_then(|runs| runs.into_iter().find(|r| Some(&r.id) == id.as_ref()))
                .map_or_else(|| id.unwrap_or_default(), |r| r.name)
        }
        _ => file_run_name(path).0,
    }
}

/// One value as MLflow stored it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Raw {
    key: u32,
    value: f64,
    /// Milliseconds since 1970.
    timestamp: i64,
    step: i64,
    /// Read order, to keep ties in the order MLflow wrote them.
    order: u64,
}

/// One `metrics/<key>` file of a file-store run.
#[derive(Debug)]
struct MetricFile {
    read_pos: u64,
    pending: Vec<u8>,
    /// Lines read so far (for warnings' line numbers).
    lines: usize,
    unreadable: bool,
}

#[derive(Debug)]
struct FileRun {
    dir: PathBuf,
    files: BTreeMap<PathBuf, MetricFile>,
    /// The run folder was found missing (said once, until it is back).
    missing: bool,
}

#[derive(Debug)]
struct DbRun {
    db: PathBuf,
    run_id: String,
    conn: Option<Connection>,
    /// The database file's identity, to notice it being replaced.
    identity: Option<(u64, u64)>,
    data_version: Option<i64>,
    last_rowid: i64,
    rows: i64,
    busy_polls: u32,
    warned_busy: bool,
    unreadable: bool,
}

#[derive(Debug)]
enum Kind {
    Files(FileRun),
    Db(DbRun),
}

/// Reads one MLflow run as it grows; see the module docs.
#[derive(Debug)]
pub struct Reader {
    kind: Kind,
    keys: Vec<String>,
    key_index: HashMap<String, u32>,
    points: Vec<Raw>,
    next_order: u64,
    /// Points changed since they were last put in the store.
    changed: bool,
    params: BTreeMap<String, String>,
    /// Why the store cannot be read at all, if it cannot (a damaged
    /// database): [`super::Follower::malformed`] reports it.
    pub error: Option<String>,
    warned_error: bool,
}

impl Reader {
    /// A reader of the run at `path` (a run folder, or `mlflow.db/<run
    /// id>`, as [`locate`] returns it). Nothing is read until
    /// [`poll`](Self::poll).
    pub fn new(format: Format, path: &Path) -> Reader {
        let kind = match format {
            Format::MlflowSqlite => Kind::Db(DbRun {
                db: path.parent().unwrap_or(path).to_path_buf(),
                run_id: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                conn: None,
                identity: None,
                data_version: None,
                last_rowid: 0,
                rows: 0,
                busy_polls: 0,
                warned_busy: false,
                unreadable: false,
            }),
            _ => Kind::Files(FileRun { dir: path.to_path_buf(), files: BTreeMap::new(), missing: false }),
        };
        Reader {
            kind,
            keys: Vec::new(),
            key_index: HashMap::new(),
            points: Vec::new(),
            next_order: 0,
            changed: false,
            params: BTreeMap::new(),
            error: None,
            warned_error: false,
        }
    }

    /// The store's file or folder: the database, or the run folder.
    pub fn store_path(&self) -> &Path {
        match &self.kind {
            Kind::Files(run) => &run.dir,
            Kind::Db(run) => &run.db,
        }
    }

    fn key(&mut self, key: &str) -> u32 {
        if let Some(&k) = self.key_index.get(key) {
            return k;
        }
        let k = self.keys.len() as u32;
        self.keys.push(key.to_string());
        self.key_index.insert(key.to_string(), k);
        k
    }

    fn push(&mut self, key: u32, value: f64, timestamp: i64, step: i64) {
        self.points.push(Raw { key, value, timestamp, step, order: self.next_order });
        self.next_order += 1;
        self.changed = true;
    }

    /// Reads what was written since the last poll into `store` (as source
    /// `id`) and the params into `hparams`.
    pub fn poll(
        &mut self,
        store: &mut Store,
        id: u32,
        hparams: &mut BTreeMap<String, String>,
        warnings: &mut Vec<String>,
    ) {
        match &self.kind {
            Kind::Files(_) => self.poll_files(warnings, false),
            Kind::Db(_) => self.poll_db(warnings),
        }
        if let Some(e) = &self.error
            && !self.warned_error
        {
            self.warned_error = true;
            warnings.push(format!("{}: {e}", self.store_path().display()));
        }
        hparams.extend(self.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.fill(store, id);
    }

    /// One-shot reading: a last metric line without its newline is read.
    pub fn finish(&mut self, store: &mut Store, id: u32, warnings: &mut Vec<String>) {
        if matches!(self.kind, Kind::Files(_)) {
            self.poll_files(warnings, true);
            self.fill(store, id);
        }
    }

    /// Puts every point in the store again when they changed (see the
    /// module docs for steps and rows).
    fn fill(&mut self, store: &mut Store, id: u32) {
        if !self.changed {
            return;
        }
        self.changed = false;
        store.drop_source(id);
        for k in &self.keys {
            store.intern(k);
        }
        let mut seen = HashSet::new();
        let use_steps = self.points.iter().all(|p| p.step >= 0 && seen.insert((p.key, p.step)));
        let mut order: Vec<&Raw> = self.points.iter().collect();
        order.sort_by_key(|p| (p.timestamp, p.order));
        let epoch_key = self.key_index.get("epoch").copied();
        let mut i = 0;
        while i < order.len() {
            // One `log_metrics` call: same timestamp and step, distinct keys.
            let mut j = i + 1;
            let mut keys = HashSet::from([order[i].key]);
            while j < order.len()
                && order[j].timestamp == order[i].timestamp
                && order[j].step == order[i].step
                && keys.insert(order[j].key)
            {
                j += 1;
            }
            let group = &order[i..j];
            let first = group[0];
            let step = if use_steps { step_number(first.step as f64) } else { None };
            let epoch = epoch_key.and_then(|k| group.iter().find(|p| p.key == k)).and_then(|p| epoch_number(p.value));
            let row = store.row(id, step, epoch, Some(first.timestamp as f64 / 1000.0));
            for p in group {
                store.push(&row, &self.keys[p.key as usize], p.value as f32);
            }
            i = j;
        }
    }

    fn poll_files(&mut self, warnings: &mut Vec<String>, complete: bool) {
        let Kind::Files(run) = &mut self.kind else { return };
        let dir = run.dir.clone();
        // A run folder removed (`mlflow gc`, a cleanup) keeps what was read.
        let gone = !dir.join("metrics").is_dir();
        if gone && !run.missing {
            warnings.push(format!("{}: the run folder (its metrics/) is gone; showing what was read", dir.display()));
        }
        run.missing = gone;
        if gone {
            return;
        }
        // Params: small files, read whole every poll.
        let mut params = BTreeMap::new();
        for (file, key) in files_under(&dir.join("params")) {
            match super::bounded::read_file(&file, super::bounded::MAX_SMALL, "parameter") {
                Ok(b) => {
                    params.insert(key, String::from_utf8_lossy(&b).trim_end_matches(['\n', '\r']).to_string());
                }
                Err(e) => warnings.push(format!("cannot read {}: {e}", file.display())),
            }
        }
        self.params = params;
        let found = files_under(&dir.join("metrics"));
        for (file, key) in found {
            let k = self.key(&key);
            let Kind::Files(run) = &mut self.kind else { return };
            let m = run.files.entry(file.clone()).or_insert(MetricFile {
                read_pos: 0,
                pending: Vec::new(),
                lines: 0,
                unreadable: false,
            });
            let mut f = match std::fs::File::open(&file) {
                Ok(f) => f,
                Err(e) => {
                    if !m.unreadable {
                        m.unreadable = true;
                        warnings.push(format!("cannot read {}: {e}", file.display()));
                    }
                    continue;
                }
            };
            m.unreadable = false;
            let len = f.metadata().map(|md| md.len()).unwrap_or(0);
            let mut reset = false;
            if len < m.read_pos {
                warnings.push(format!("{} was rewritten; reading it again from the start", file.display()));
                m.read_pos = 0;
                m.pending.clear();
                m.lines = 0;
                reset = true;
            }
            if reset {
                self.points.retain(|p| p.key != k);
                self.changed = true;
            }
            // A chunk at a time: a metric file of gigabytes is never one buffer.
            loop {
                let Kind::Files(run) = &mut self.kind else { return };
                let Some(m) = run.files.get_mut(&file) else { break };
                let bytes = match super::bounded::read_chunk(&mut f, m.read_pos) {
                    Ok(b) => b,
                    Err(e) => {
                        warnings.push(format!("cannot read {}: {e}", file.display()));
                        break;
                    }
                };
                let last = bytes.len() < super::bounded::READ_CHUNK;
                m.read_pos += bytes.len() as u64;
                m.pending.extend_from_slice(&bytes);
                let mut lines = Vec::new();
                let mut start = 0;
                while let Some(nl) = m.pending[start..].iter().position(|&b| b == b'\n') {
                    lines.push(m.pending[start..start + nl].to_vec());
                    start += nl + 1;
                }
                m.pending.drain(..start);
                if last && complete && !m.pending.is_empty() {
                    lines.push(std::mem::take(&mut m.pending));
                } else if m.pending.len() > MAX_LINE {
                    warnings.push(format!(
                        "{}:{}: a line longer than {MAX_LINE} bytes; skipped",
                        file.display(),
                        m.lines + lines.len() + 1
                    ));
                    m.pending.clear();
                }
                let first_line = m.lines;
                m.lines += lines.len();
                for (n, line) in lines.iter().enumerate() {
                    match parse_metric_line(line) {
                        Ok(Some((timestamp, value, step))) => self.push(k, value, timestamp, step),
                        Ok(None) => {}
                        Err(why) => {
                            warnings.push(format!("{}:{}: {why}; line skipped", file.display(), first_line + n + 1))
                        }
                    }
                }
                if last {
                    break;
                }
            }
        }
    }

    fn poll_db(&mut self, warnings: &mut Vec<String>) {
        let Kind::Db(run) = &mut self.kind else { return };
        let identity = match std::fs::metadata(&run.db) {
            Ok(m) => file_identity(&m),
            Err(e) => {
                if !run.unreadable {
                    run.unreadable = true;
                    warnings.push(format!("cannot read {}: {e}", run.db.display()));
                }
                run.conn = None;
                return;
            }
        };
        run.unreadable = false;
        if run.identity.is_some() && run.identity != identity {
            warnings.push(format!("{} was replaced; reading it again from the start", run.db.display()));
            run.conn = None;
            run.data_version = None;
            run.last_rowid = 0;
            run.rows = 0;
            self.points.clear();
            self.changed = true;
        }
        run.identity = identity;
        let result = read_db(run);
        let Kind::Db(run) = &mut self.kind else { return };
        match result {
            Ok(None) => run.busy_polls = 0,
            Ok(Some(read)) => {
                run.busy_polls = 0;
                self.error = None;
                self.warned_error = false;
                if read.reset {
                    self.points.clear();
                    self.changed = true;
                }
                self.params = read.params;
                if read.skipped > 0 {
                    warnings.push(format!(
                        "{}: {} metric rows of run {} are not numbers; skipped",
                        run.db.display(),
                        read.skipped,
                        run.run_id
                    ));
                }
                for (key, value, timestamp, step) in read.rows {
                    let k = self.key(&key);
                    self.push(k, value, timestamp, step);
                }
            }
            Err(DbFail::Sql(e)) if is_busy(&e) => {
                // MLflow is writing: the next poll tries again.
                run.busy_polls += 1;
                if run.busy_polls >= BUSY_WARN_POLLS && !run.warned_busy {
                    run.warned_busy = true;
                    warnings.push(format!(
                        "{} has been locked by its writer for {} polls in a row; still waiting",
                        run.db.display(),
                        run.busy_polls
                    ));
                }
            }
            Err(fail) => {
                run.conn = None;
                run.data_version = None;
                let why = match fail {
                    DbFail::Sql(e) => db_error(&e),
                    DbFail::NoRun => format!("no run {} in the store (deleted?)", run.run_id),
                };
                self.error = Some(why);
            }
        }
    }
}

/// What one database poll brought.
struct DbRead {
    reset: bool,
    rows: Vec<(String, f64, i64, i64)>,
    params: BTreeMap<String, String>,
    /// Rows whose cells are not numbers (damage).
    skipped: usize,
}

/// Why a database poll read nothing.
#[derive(Debug)]
enum DbFail {
    Sql(rusqlite::Error),
    /// The run is not (or no longer) in the store.
    NoRun,
}

impl From<rusqlite::Error> for DbFail {
    fn from(e: rusqlite::Error) -> Self {
        DbFail::Sql(e)
    }
}

/// Reads the rows committed since the last read, in one read transaction
/// (a consistent snapshot): `Ok(None)` when nothing was committed. Rowids
/// only grow while MLflow appends; fewer rows than counted, or rows below
/// the last rowid, mean the table was rewritten and the run is read again
/// whole.
fn read_db(run: &mut DbRun) -> Result<Option<DbRead>, DbFail> {
    if run.conn.is_none() {
        run.conn = Some(open_db(&run.db, BUSY_TIMEOUT)?);
    }
    let Some(conn) = run.conn.as_ref() else { return Ok(None) };
    let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
    if run.data_version == Some(version) {
        return Ok(None);
    }
    let tx = conn.unchecked_transaction()?;
    let exists: Option<String> =
        tx.query_row("SELECT run_uuid FROM runs WHERE run_uuid = ?1", [&run.run_id], |r| r.get(0)).optional()?;
    if exists.is_none() {
        return Err(DbFail::NoRun);
    }
    let (count, max): (i64, Option<i64>) =
        tx.query_row("SELECT count(*), max(rowid) FROM metrics WHERE run_uuid = ?1", [&run.run_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let mut reset = count < run.rows || max.unwrap_or(0) < run.last_rowid;
    let mut rows = metric_rows(&tx, &run.run_id, if reset { 0 } else { run.last_rowid })?;
    if !reset && run.rows + rows.len() as i64 != count {
        // Rows appeared below the last rowid: read everything again.
        reset = true;
        rows = metric_rows(&tx, &run.run_id, 0)?;
    }
    let mut params = BTreeMap::new();
    {
        let mut p = tx.prepare("SELECT key, value FROM params WHERE run_uuid = ?1")?;
        let mut q = p.query([&run.run_id])?;
        while let Some(r) = q.next()? {
            params.insert(r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?.unwrap_or_default());
        }
    }
    tx.finish()?;
    run.last_rowid = rows.iter().map(|r| r.0).max().unwrap_or(if reset { 0 } else { run.last_rowid });
    run.rows = count;
    run.data_version = Some(version);
    let skipped = rows.iter().filter(|r| r.1.is_none()).count();
    Ok(Some(DbRead { reset, rows: rows.into_iter().filter_map(|r| r.1).collect(), params, skipped }))
}

/// The run's metric rows after `from` (a rowid), in rowid order: rowid and
/// (key, value, timestamp, step), a NaN where `is_nan` says so; `None` for
/// a row whose cells are not what MLflow writes.
#[allow(clippy::type_complexity)]
fn metric_rows(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    from: i64,
) -> Result<Vec<(i64, Option<(String, f64, i64, i64)>)>, rusqlite::Error> {
    let mut stmt = tx.prepare(
        "SELECT rowid, key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ?1 AND rowid > ?2 \
         ORDER BY rowid",
    )?;
    let mut q = stmt.query(rusqlite::params![run_id, from])?;
    let mut rows = Vec::new();
    while let Some(r) = q.next()? {
        let rowid: i64 = r.get(0)?;
        // Damage shows as a value of the wrong type: that row is skipped
        // (its rowid still counts as read).
        let key = match r.get_ref(1)? {
            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
            _ => None,
        };
        let is_nan = number(r.get_ref(5)?).is_some_and(|x| x != 0.0);
        let value = if is_nan { Some(f64::NAN) } else { number(r.get_ref(2)?) };
        let timestamp = number(r.get_ref(3)?).unwrap_or(0.0) as i64;
        let step = number(r.get_ref(4)?).map(|s| s as i64);
        rows.push(match (key, value, step) {
            (Some(key), Some(value), Some(step)) => (rowid, Some((key, value, timestamp, step))),
            _ => (rowid, None),
        });
    }
    Ok(rows)
}

#[cfg(unix)]
fn file_identity(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_identity(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The files under `dir`, with their path below it joined by `/` (MLflow
/// keys with `/` are sub-folders), sorted; hidden files skipped.
fn files_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new(), 0usize)];
    while let Some((d, prefix, depth)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let key = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            match e.file_type() {
                Ok(t) if t.is_dir() && depth < MAX_KEY_DEPTH => stack.push((e.path(), key, depth + 1)),
                Ok(t) if t.is_file() => out.push((e.path(), key)),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// One line of a `metrics/<key>` file: `timestamp value step` (old MLflow
/// wrote `timestamp value`, step 0). `Ok(None)` for a blank line.
fn parse_metric_line(line: &[u8]) -> Result<Option<(i64, f64, i64)>, String> {
    let text = std::str::from_utf8(line).map_err(|_| "not text".to_string())?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let cells: Vec<&str> = text.split_ascii_whitespace().collect();
    if !(2..=3).contains(&cells.len()) {
        return Err(format!("expected `timestamp value step`, found {} fields", cells.len()));
    }
    let timestamp = cells[0].parse::<i64>().map_err(|_| format!("timestamp {:?} is not a whole number", cells[0]))?;
    let value = cells[1].parse::<f64>().map_err(|_| format!("value {:?} is not a number", cells[1]))?;
    let step = match cells.get(2) {
        Some(s) => s.parse::<i64>().map_err(|_| format!("step {s:?} is not a whole number"))?,
        None => 0,
    };
    Ok(Some((timestamp, value, step)))
}

/// Reads the bytes of one `metrics/<key>` file (the key is `name`): for
/// [`super::read_bytes`], which has no file system.
pub fn read_metric_bytes(bytes: &[u8], name: &str, store: &mut Store, warnings: &mut Vec<String>) {
    let mut reader = Reader::new(Format::MlflowFiles, Path::new(name));
    let k = reader.key(name);
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        match parse_metric_line(line) {
            Ok(Some((t, v, s))) => reader.push(k, v, t, s),
            Ok(None) => {}
            Err(why) => warnings.push(format!("{name}:{}: {why}; line skipped", n + 1)),
        }
    }
    reader.fill(store, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lines_read_as_mlflow_writes_them() {
        assert_eq!(parse_metric_line(b"1796424950762 1.0 0"), Ok(Some((1796424950762, 1.0, 0))));
        assert_eq!(parse_metric_line(b"17 0.5"), Ok(Some((17, 0.5, 0))));
        let (_, nan, _) = parse_metric_line(b"1 nan 3").unwrap().unwrap();
        assert!(nan.is_nan());
        assert_eq!(parse_metric_line(b"1 -inf 4"), Ok(Some((1, f64::NEG_INFINITY, 4))));
        assert_eq!(parse_metric_line(b"  \r"), Ok(None));
        assert!(parse_metric_line(b"1 x 2").unwrap_err().contains("value"));
        assert!(parse_metric_line(b"1.5 2 2").unwrap_err().contains("timestamp"));
        assert!(parse_metric_line(b"1 2 3 4").unwrap_err().contains("4 fields"));
        assert!(parse_metric_line(b"\xff 1 2").is_err());
    }

    /// (step, epoch, tags) of a row.
    type TestRow = (Option<u64>, Option<u32>, Vec<String>);

    fn rows(store: &Store) -> Vec<TestRow> {
        let mut out: Vec<(u64, TestRow)> = Vec::new();
        for p in store.points() {
            let tag = store.tags()[p.tag as usize].clone();
            match out.last_mut() {
                Some(last) if last.0 == p.seq => last.1.2.push(tag),
                _ => out.push((p.seq, (p.step, p.epoch, vec![tag]))),
            }
        }
        out.into_iter().map(|(_, r)| r).collect()
    }

    #[test]
    fn one_log_metrics_call_is_one_row_and_its_epoch_numbers_it() {
        let mut r = Reader::new(Format::MlflowFiles, Path::new("run"));
        let (loss, val, epoch) = (r.key("loss"), r.key("val_loss"), r.key("epoch"));
        r.push(loss, 1.0, 10, 0);
        r.push(val, 2.0, 10, 0);
        r.push(epoch, 0.0, 10, 0);
        r.push(loss, 0.5, 20, 1);
        r.push(val, 1.5, 20, 1);
        r.push(epoch, 1.0, 20, 1);
        let mut store = Store::default();
        r.fill(&mut store, 0);
        assert_eq!(
            rows(&store),
            vec![
                (Some(0), Some(0), vec!["loss".into(), "val_loss".into(), "epoch".into()]),
                (Some(1), Some(1), vec!["loss".into(), "val_loss".into(), "epoch".into()]),
            ]
        );
    }

    #[test]
    fn without_steps_the_timestamps_order_the_points() {
        // No `step=`: MLflow stores 0 for all; two values of one key at one
        // step say the steps mean nothing.
        let mut r = Reader::new(Format::MlflowFiles, Path::new("run"));
        let (loss, val) = (r.key("loss"), r.key("val_loss"));
        r.push(val, 2.0, 30, 0);
        r.push(loss, 1.0, 10, 0);
        r.push(loss, 0.5, 20, 0);
        let mut store = Store::default();
        r.fill(&mut store, 0);
        let got: Vec<(Option<u64>, f32)> = store.points().iter().map(|p| (p.step, p.value)).collect();
        assert_eq!(got, vec![(None, 1.0), (None, 0.5), (None, 2.0)]);
        // Filled again only when something changed.
        let generation = store.generation();
        r.fill(&mut store, 0);
        assert_eq!(store.generation(), generation);
    }

    #[test]
    fn runs_sharing_a_name_are_told_apart_by_their_id() {
        let run = |id: &str, name: &str| StoreRun {
            id: id.into(),
            name: String::new(),
            run_name: name.into(),
            experiment: "exp".into(),
            status: "FINISHED".into(),
        };
        let named = named(vec![run("aaaaaaaaaa", "same"), run("bbbbbbbbbb", "same"), run("cccccccccc", "a/b")]);
        let names: Vec<&str> = named.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["exp/a∕b", "exp/same (aaaaaaaa)", "exp/same (bbbbbbbb)"]);
    }

    #[test]
    fn a_path_below_a_database_selects_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("mlflow.db");
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);").unwrap();
        drop(conn);
        assert_eq!(split_db_path(&db.join("abc")), Some((db.clone(), "abc".to_string())));
        assert_eq!(split_db_path(&db.join("exp/run 1")), Some((db.clone(), "exp/run 1".to_string())));
        assert_eq!(split_db_path(&db), None);
        assert_eq!(split_db_path(&dir.path().join("nothing/here")), None);
        // An SQLite file without MLflow's tables is said to be one.
        let e = db_runs(&db).unwrap_err().to_string();
        assert!(e.contains("not an MLflow tracking store") && e.contains("mlflow.db"), "{e}");
    }

    #[test]
    fn a_locked_store_is_retried_at_the_next_poll_and_said_after_many() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("mlflow.db");
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external/mlflow-sqlite/mlflow.db");
        std::fs::copy(fixture, &db).unwrap();
        let run = db_runs(&db).unwrap().into_iter().find(|r| r.run_name == "overfit").unwrap();
        let mut reader = Reader::new(Format::MlflowSqlite, &db.join(&run.id));
        let writer = Connection::open(&db).unwrap();
        writer.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let (mut store, mut hp, mut warnings) = (Store::default(), BTreeMap::new(), Vec::new());
        for _ in 0..BUSY_WARN_POLLS {
            let t = std::time::Instant::now();
            reader.poll(&mut store, 0, &mut hp, &mut warnings);
            assert!(t.elapsed() < BUSY_TIMEOUT * 10, "a poll waited {:?}", t.elapsed());
        }
        let Kind::Db(state) = &reader.kind else { panic!("a database reader") };
        assert_eq!(state.busy_polls, BUSY_WARN_POLLS);
        assert!(reader.error.is_none() && store.points().is_empty());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("locked by its writer for 20 polls"), "{warnings:?}");
        writer.execute_batch("COMMIT").unwrap();
        reader.poll(&mut store, 0, &mut hp, &mut warnings);
        assert_eq!(store.points().len(), 200, "40 epochs of 5 metrics");
        assert_eq!(hp.get("optimizer").map(String::as_str), Some("Adam"));
    }
}
