//! Following a run as its files grow (finding the runs in a folder is
//! [`super::logdir`]).
//!
//! A [`Follower`] reads a file (CSV, JSON lines, one event file) or a
//! TensorBoard run folder. Each [`Follower::poll`] reads only the bytes
//! appended since the last one; an incomplete last line or record waits for
//! the next poll. A file that shrinks, or a CSV whose header changes
//! (Lightning rewrites `metrics.csv` when a new metric appears), is read again
//! from the start. In a run folder, new event files (a restarted writer) and
//! Keras' `train/` and `validation/` sub-folders are picked up as they
//! appear (a `test/` folder beside `train/` and no validation folder holds
//! the validation tags). A Hugging Face `trainer_state.json` is replaced whole at each
//! save: it is read again, whole, whenever its length or modification time
//! changes, and in a Trainer output folder the newest state (highest
//! `global_step`, see [`super::hf`]) is the one followed. An MLflow run
//! (a file-store run folder, or one run of an SQLite store) is read by
//! [`super::mlflow::Reader`] behind one source. Polling keeps this
//! simple and portable; callers poll every second or so.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::assemble::{Store, assemble};
use super::csv::CsvReader;
use super::detect::{Format, Sniff, event_files, held_out_as_validation, sniff_file, split_dirs};
use super::error::IngestError;
use super::events::read_frame;
use super::jsonl::JsonlReader;
use super::logdir::{Layout, resolve_dir, run_name};
use super::tags::TagMap;
use super::tfrecord::RecordReader;
use super::{ExternalEpoch, ExternalRun, TagHistogram};
use super::{hf, hparams};

/// Warnings kept per run; past this one line says more were dropped.
const MAX_WARNINGS: usize = 200;
/// Histograms kept per run (they feed a panel, not the diagnosis).
const MAX_HISTOGRAMS: usize = 5000;

/// What one poll brought.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// Epochs that are new or changed since the last poll, in order. An
    /// epoch whose number was returned before replaces it (Lightning writes
    /// an epoch's training value after its validation values).
    pub epochs: Vec<ExternalEpoch>,
    /// The epochs were rebuilt (a file was rewritten or an epoch vanished):
    /// drop what you had and take [`Follower::run`]'s epochs.
    pub reset: bool,
    /// A file of the run was cut shorter than what had been read of it: the
    /// program that writes it started over, and these epochs are a new run
    /// (a Trainer state replaced whole or a CSV rewritten wider is not).
    pub restarted: bool,
    pub histograms: Vec<TagHistogram>,
    pub warnings: Vec<String>,
    /// Tags seen for the first time.
    pub new_tags: Vec<String>,
    /// Files read for the first time (event files appearing in a run folder).
    pub new_files: Vec<PathBuf>,
}

impl Update {
    pub fn is_empty(&self) -> bool {
        self.epochs.is_empty()
            && !self.reset
            && !self.restarted
            && self.histograms.is_empty()
            && self.warnings.is_empty()
            && self.new_tags.is_empty()
            && self.new_files.is_empty()
    }
}

/// Reads a `trainer_state.json` whole, again whenever it changes.
#[derive(Debug, Default)]
struct HfReader {
    /// The file and signature last read successfully.
    read: Option<(PathBuf, hf::Signature)>,
    /// The file and signature that last failed to parse (a file being
    /// written is retried; the same failure twice is a warning, once).
    failed: Option<(PathBuf, hf::Signature)>,
    warned: bool,
    /// Why the current file cannot be read, if it cannot.
    error: Option<String>,
}

#[derive(Debug)]
enum Parser {
    Tb {
        records: RecordReader,
        /// Plugin name per tag: TF2 writers send it with the first value only.
        plugins: HashMap<String, String>,
    },
    Csv(CsvReader),
    Jsonl(JsonlReader),
    Hf(HfReader),
    Mlflow(Box<super::mlflow::Reader>),
}

impl Parser {
    fn new(format: Format, path: &Path) -> Parser {
        match format {
            Format::TensorBoard => Parser::Tb { records: RecordReader::new(), plugins: HashMap::new() },
            Format::Csv => Parser::Csv(CsvReader::new()),
            Format::JsonLines | Format::FitcheckLog => Parser::Jsonl(JsonlReader::new()),
            Format::HfTrainerState => Parser::Hf(HfReader::default()),
            Format::MlflowSqlite | Format::MlflowFiles => {
                Parser::Mlflow(Box::new(super::mlflow::Reader::new(format, path)))
            }
        }
    }
}

#[derive(Debug)]
struct Source {
    id: u32,
    path: PathBuf,
    format: Format,
    /// Prefix of its tags (`validation/` in a Keras split folder).
    prefix: String,
    /// Bytes of the file read so far.
    read_pos: u64,
    parser: Parser,
    /// Set once the file could not be opened, so the warning is said once.
    unreadable: bool,
}

/// Follows one run as it grows.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    format: Format,
    layout: Layout,
    maps: TagMap,
    sources: Vec<Source>,
    store: Store,
    run: ExternalRun,
    warnings_dropped: bool,
    finished: bool,
    /// The single file of a file run was reported in `new_files`.
    announced: bool,
    /// The store generation the epochs were assembled from (assembly is
    /// skipped when nothing changed).
    assembled_at: Option<u64>,
    /// Global steps of the Trainer states seen (an output folder).
    hf_steps: hf::StepCache,
    /// Lightning's `hparams.yaml` beside the run, as last read.
    yaml_read: Option<hf::Signature>,
    /// Said with the first poll's warnings (the other log of a Lightning
    /// run, and which one is shown).
    notes: Vec<String>,
    /// A file was cut shorter than what was read of it since the last poll
    /// (a script restarted with a fresh log): reported as `Update::restarted`.
    truncated: bool,
}

impl Follower {
    /// Opens a run: a CSV or JSON-lines file, an event file, or a folder
    /// holding one run (a TensorBoard run folder, or one CSV/JSON-lines
    /// file). Nothing is read until [`poll`](Self::poll).
    ///
    /// Errors: the path cannot be read; it is empty so far
    /// ([`IngestError::NotYetWritten`], worth retrying); unknown format; a
    /// fitcheck run log ([`IngestError::FitcheckLog`]); a folder with
    /// several runs ([`IngestError::SeveralRuns`]: use [`super::list_runs`]).
    pub fn new(path: &Path, maps: TagMap) -> Result<Follower, IngestError> {
        Follower::open(path, maps, true)
    }

    /// [`new`](Self::new); with `twins`, a Lightning run whose other logger
    /// wrote the other log into the next version folder is noted (see
    /// [`super::twins`], which reads both halves without).
    pub(crate) fn open(path: &Path, maps: TagMap, twins: bool) -> Result<Follower, IngestError> {
        let located = super::mlflow::locate(path)?;
        let (format, layout) = if let Some((format, run)) = located {
            (format, Layout::Mlflow(run))
        } else if std::fs::metadata(path).map_err(|e| IngestError::unreadable(path, e))?.is_dir() {
            resolve_dir(path)?
        } else {
            match sniff_file(path)? {
                Sniff::Format(f) => (f, Layout::File(path.to_path_buf())),
                Sniff::NotYet => return Err(IngestError::NotYetWritten { path: path.to_path_buf() }),
                Sniff::Unknown(detail) => return Err(IngestError::UnknownFormat { path: path.to_path_buf(), detail }),
            }
        };
        if format == Format::FitcheckLog {
            return Err(IngestError::FitcheckLog { path: layout.path().to_path_buf() });
        }
        let name = match format {
            Format::HfTrainerState => hf_run_name(layout.path()),
            Format::MlflowSqlite | Format::MlflowFiles => super::mlflow::display_name(format, layout.path()),
            _ => run_name(layout.path()),
        };
        let source = layout.path().to_path_buf();
        let mut follower = Follower {
            path: path.to_path_buf(),
            format,
            layout: layout.clone(),
            maps,
            sources: Vec::new(),
            store: Store::default(),
            run: ExternalRun::empty(name, source, format),
            warnings_dropped: false,
            finished: false,
            announced: false,
            assembled_at: None,
            truncated: false,
            hf_steps: hf::StepCache::default(),
            yaml_read: None,
            notes: Vec::new(),
        };
        if twins && matches!(format, Format::Csv | Format::TensorBoard) {
            follower.notes.extend(super::twins::twin_note(layout.path()));
        }
        match layout {
            Layout::File(f) | Layout::Mlflow(f) => follower.add_source(f, format, String::new()),
            Layout::HfDir(dir) => {
                let state = hf::newest_state(&dir, &mut follower.hf_steps).unwrap_or_else(|| dir.join(hf::STATE_FILE));
                follower.add_source(state, format, String::new());
            }
            // Never from a path: see `from_stream`.
            Layout::TbRun(_) | Layout::Stream(_) => {}
        }
        Ok(follower)
    }

    /// Follows a stream in `format` (JSON lines, CSV or TensorBoard
    /// records; see [`super::stream`], which tells the format): its bytes
    /// are given to [`push`](Self::push), its end to
    /// [`end_stream`](Self::end_stream). `name` names it in messages.
    pub fn from_stream(name: &Path, format: Format, maps: TagMap) -> Follower {
        let mut follower = Follower {
            path: name.to_path_buf(),
            format,
            layout: Layout::Stream(name.to_path_buf()),
            maps,
            sources: Vec::new(),
            store: Store::default(),
            run: ExternalRun::empty(run_name(name), name.to_path_buf(), format),
            warnings_dropped: false,
            finished: false,
            announced: true,
            assembled_at: None,
            truncated: false,
            hf_steps: hf::StepCache::default(),
            yaml_read: None,
            notes: Vec::new(),
        };
        follower.add_source(name.to_path_buf(), format, String::new());
        follower
    }

    /// Takes the next bytes of a stream (see [`from_stream`](Self::from_stream)):
    /// the complete lines or records among them are read, the rest waits.
    pub fn push(&mut self, bytes: &[u8]) -> Update {
        let tags_before = self.store.tags().len();
        let mut update = Update::default();
        let mut warnings = Vec::new();
        if let Some(s) = self.sources.first_mut() {
            let hparams = &mut self.run.hparams;
            feed(
                &mut s.parser,
                bytes,
                &s.path,
                &s.prefix,
                s.id,
                &mut self.store,
                &mut update.histograms,
                hparams,
                &mut warnings,
            );
        }
        self.refresh(update, warnings, tags_before)
    }

    /// The stream has ended. As [`finish`](Self::finish), except that a
    /// last CSV line without its newline is left out with a warning: the
    /// writer may have been cut off in the middle of a number.
    pub fn end_stream(&mut self) -> Update {
        let mut warnings = Vec::new();
        if let Some(Source { parser: Parser::Csv(r), path, .. }) = self.sources.first_mut()
            && let Some(line) = r.discard_partial()
        {
            warnings.push(format!(
                "{}:{line}: the stream ended in the middle of this line (no newline); left out",
                path.display()
            ));
        }
        let mut update = self.finish();
        if !warnings.is_empty() {
            let tags_before = self.store.tags().len();
            let said = self.refresh(Update::default(), warnings, tags_before);
            update.warnings.splice(0..0, said.warnings);
        }
        update
    }

    /// The path it was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Everything understood so far.
    pub fn run(&self) -> &ExternalRun {
        &self.run
    }

    /// A file that was recognised but cannot be read as a whole (a
    /// `trainer_state.json` that is not valid JSON, on the last poll).
    pub fn malformed(&self) -> Option<IngestError> {
        self.sources.iter().find_map(|s| match &s.parser {
            Parser::Hf(r) => {
                r.error.as_ref().map(|detail| IngestError::Malformed { path: s.path.clone(), detail: detail.clone() })
            }
            Parser::Mlflow(r) => r
                .error
                .as_ref()
                .map(|detail| IngestError::Malformed { path: r.store_path().to_path_buf(), detail: detail.clone() }),
            _ => None,
        })
    }

    fn add_source(&mut self, path: PathBuf, format: Format, prefix: String) {
        let id = self.sources.len() as u32;
        let parser = Parser::new(format, &path);
        self.sources.push(Source { id, path, format, prefix, read_pos: 0, parser, unreadable: false });
    }

    /// Reads what was appended since the last poll. I/O problems with one
    /// file are warnings (the run goes on with the others); the result is an
    /// error only when the run's own path has become unreadable.
    pub fn poll(&mut self) -> Result<Update, IngestError> {
        let mut update = Update::default();
        let mut warnings = std::mem::take(&mut self.notes);
        if let Layout::TbRun(root) = &self.layout {
            if let Err(e) = std::fs::metadata(root) {
                return Err(IngestError::unreadable(root, e));
            }
            let known: HashSet<PathBuf> = self.sources.iter().map(|s| s.path.clone()).collect();
            let mut found: Vec<(PathBuf, String)> = event_files(root).into_iter().map(|f| (f, String::new())).collect();
            let splits = split_dirs(root);
            for (dir, name) in &splits {
                found.extend(event_files(dir).into_iter().map(|f| (f, format!("{name}/"))));
            }
            // `train/` + `test/`: the test folder is the held-out set, until
            // a validation folder appears (then everything is read again).
            if self.maps.set_validation_folder(held_out_as_validation(&splits)) {
                self.assembled_at = None;
            }
            for (f, prefix) in found {
                if !known.contains(&f) {
                    update.new_files.push(f.clone());
                    self.add_source(f, Format::TensorBoard, prefix);
                }
            }
        } else if let Layout::HfDir(dir) = &self.layout {
            // A newer checkpoint (or save_state) replaces the state followed.
            if let Some(newest) = hf::newest_state(dir, &mut self.hf_steps)
                && let Some(s) = self.sources.first_mut()
                && s.path != newest
            {
                s.path = newest;
                self.announced = false;
            }
            if !self.announced {
                self.announced = true;
                update.new_files.extend(self.sources.iter().map(|s| s.path.clone()));
            }
        } else if let Layout::Stream(_) = &self.layout {
            // Nothing to read: the bytes are pushed.
            return Ok(update);
        } else if !self.announced {
            self.announced = true;
            update.new_files.extend(self.sources.iter().map(|s| s.path.clone()));
        }
        let tags_before = self.store.tags().len();
        for i in 0..self.sources.len() {
            self.read_source(i, &mut update.histograms, &mut warnings);
        }
        self.read_yaml(&mut warnings);
        Ok(self.refresh(update, warnings, tags_before))
    }

    /// Declares the files complete (one-shot reading): a last line without
    /// newline is read, and an incomplete last record is reported.
    pub fn finish(&mut self) -> Update {
        if self.finished {
            return Update::default();
        }
        self.finished = true;
        let mut warnings = Vec::new();
        let tags_before = self.store.tags().len();
        for s in &mut self.sources {
            match &mut s.parser {
                Parser::Csv(r) => r.finish(&s.path, &mut self.store, s.id, &mut warnings),
                Parser::Jsonl(r) => r.finish(&s.path, &mut self.store, s.id, &mut warnings),
                Parser::Mlflow(r) => r.finish(&mut self.store, s.id, &mut warnings),
                Parser::Hf(r) => {
                    if let Some(e) = &r.error
                        && !r.warned
                    {
                        r.warned = true;
                        warnings.push(format!("{}: {e}", s.path.display()));
                    }
                }
                Parser::Tb { records, .. } => {
                    if records.pending_len() > 0 {
                        warnings.push(format!(
                            "{}: the last record (from byte {}, {} bytes so far) is incomplete; the writer may still be writing it",
                            s.path.display(),
                            records.pending_offset(),
                            records.pending_len()
                        ));
                    }
                }
            }
        }
        self.refresh(Update::default(), warnings, tags_before)
    }

    /// Takes in the warnings and histograms of a read and rebuilds the
    /// epochs when points changed.
    fn refresh(&mut self, mut update: Update, mut warnings: Vec<String>, tags_before: usize) -> Update {
        warnings.extend(self.store.full_warning());
        self.run.skipped += warnings.len();
        for w in warnings {
            if self.run.warnings.len() < MAX_WARNINGS {
                self.run.warnings.push(w.clone());
                update.warnings.push(w);
            } else if !self.warnings_dropped {
                self.warnings_dropped = true;
                let w = format!("more than {MAX_WARNINGS} warnings; the rest are not shown");
                self.run.warnings.push(w.clone());
                update.warnings.push(w);
            }
        }
        for h in &update.histograms {
            if self.run.histograms.len() < MAX_HISTOGRAMS {
                self.run.histograms.push(h.clone());
            }
        }
        // The bridge's own lines, as the (first) JSON-lines file last said
        // (a rewritten file starts its parser, and so its status, afresh).
        self.run.bridge = self.sources.iter().find_map(|s| match &s.parser {
            Parser::Jsonl(r) => r.bridge.clone().map(Box::new),
            _ => None,
        });
        update.new_tags = self.store.tags()[tags_before..].to_vec();
        self.run.tags_seen = self.store.tags().to_vec();
        if self.assembled_at == Some(self.store.generation()) {
            return update;
        }
        self.assembled_at = Some(self.store.generation());
        let assembled = assemble(&self.store, &self.maps);
        let old = std::mem::take(&mut self.run.epochs);
        update.reset =
            assembled.epochs.len() < old.len() || assembled.epochs.iter().zip(&old).any(|(n, o)| n.epoch != o.epoch);
        update.restarted = std::mem::take(&mut self.truncated);
        update.epochs = if update.reset {
            assembled.epochs.clone()
        } else {
            assembled
                .epochs
                .iter()
                .enumerate()
                .filter(|(i, e)| old.get(*i) != Some(*e))
                .map(|(_, e)| e.clone())
                .collect()
        };
        self.run.epochs = assembled.epochs;
        self.run.mapped = assembled.mapped;
        update
    }

    /// Lightning's `hparams.yaml` beside a CSV or TensorBoard run, read
    /// again when it changes; its keys join (and win over) the hparams
    /// plugin's.
    fn read_yaml(&mut self, warnings: &mut Vec<String>) {
        if !matches!(self.format, Format::Csv | Format::TensorBoard) {
            return;
        }
        let Some(file) = hparams::yaml_beside(self.layout.path()) else { return };
        let sig = hf::signature(&file);
        if sig.is_none() || sig == self.yaml_read {
            return;
        }
        self.yaml_read = sig;
        match super::bounded::read_file(&file, super::bounded::MAX_SMALL, "hparams.yaml") {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                self.run.hparams.extend(hparams::parse_yaml(&text, &file, warnings));
            }
            Err(e) => warnings.push(format!("cannot read {}: {e}", file.display())),
        }
    }

    fn read_source(&mut self, i: usize, histograms: &mut Vec<TagHistogram>, warnings: &mut Vec<String>) {
        let s = &mut self.sources[i];
        if let Parser::Hf(r) = &mut s.parser {
            read_state(r, &s.path, s.id, &mut s.unreadable, &mut self.store, &mut self.run.hparams, warnings);
            return;
        }
        if let Parser::Mlflow(r) = &mut s.parser {
            r.poll(&mut self.store, s.id, &mut self.run.hparams, warnings);
            return;
        }
        let mut file = match std::fs::File::open(&s.path) {
            Ok(f) => f,
            Err(e) => {
                if !s.unreadable {
                    s.unreadable = true;
                    warnings.push(format!("cannot read {}: {e}", s.path.display()));
                }
                return;
            }
        };
        s.unreadable = false;
        let len = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                warnings.push(format!("cannot read {}: {e}", s.path.display()));
                return;
            }
        };
        let rewritten = len < s.read_pos
            || match &s.parser {
                Parser::Csv(r) => r.header().is_some_and(|h| !starts_with(&mut file, &h.raw)),
                _ => false,
            };
        if rewritten {
            self.truncated |= len < s.read_pos;
            warnings.push(format!("{} was rewritten; reading it again from the start", s.path.display()));
            self.store.drop_source(s.id);
            s.read_pos = 0;
            s.parser = Parser::new(s.format, &s.path);
        }
        // A chunk at a time: a file of gigabytes is never one buffer (its
        // lines and records are bounded by their readers).
        loop {
            let bytes = match super::bounded::read_chunk(&mut file, s.read_pos) {
                Ok(b) => b,
                Err(e) => {
                    warnings.push(format!("cannot read {}: {e}", s.path.display()));
                    return;
                }
            };
            s.read_pos += bytes.len() as u64;
            let hparams = &mut self.run.hparams;
            feed(&mut s.parser, &bytes, &s.path, &s.prefix, s.id, &mut self.store, histograms, hparams, warnings);
            if bytes.len() < super::bounded::READ_CHUNK {
                return;
            }
        }
    }
}

/// Reads a `trainer_state.json` again when it changed since the last
/// successful read. A file that does not parse keeps the points read before
/// (the Trainer may be writing it); the same failure twice is a warning.
fn read_state(
    r: &mut HfReader,
    path: &Path,
    id: u32,
    unreadable: &mut bool,
    store: &mut Store,
    hparams: &mut std::collections::BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) {
    let sig = hf::signature(path);
    let bytes = match (sig, super::bounded::read_file(path, super::bounded::MAX_STATE, "trainer state")) {
        (Some(sig), Ok(b)) => {
            if r.read.as_ref().is_some_and(|(p, s)| p == path && *s == sig) {
                return;
            }
            *unreadable = false;
            (sig, b)
        }
        (_, Err(e)) => {
            if !*unreadable {
                *unreadable = true;
                warnings.push(format!("cannot read {}: {e}", path.display()));
            }
            return;
        }
        (None, Ok(_)) => return,
    };
    let (sig, bytes) = bytes;
    match hf::parse_state(&bytes, path) {
        Ok(state) => {
            store.drop_source(id);
            state.push_into(store, id);
            *hparams = state.hparams;
            warnings.extend(state.warnings);
            r.read = Some((path.to_path_buf(), sig));
            r.failed = None;
            r.error = None;
            r.warned = false;
        }
        Err(e) => {
            let again = r.failed.as_ref().is_some_and(|(p, s)| p == path && *s == sig);
            if again && !r.warned {
                r.warned = true;
                warnings.push(format!("{}: {e}", path.display()));
            }
            r.failed = Some((path.to_path_buf(), sig));
            r.error = Some(e);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn feed(
    parser: &mut Parser,
    bytes: &[u8],
    path: &Path,
    prefix: &str,
    id: u32,
    store: &mut Store,
    histograms: &mut Vec<TagHistogram>,
    hparams: &mut std::collections::BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) {
    match parser {
        Parser::Csv(r) => r.feed(bytes, path, store, id, warnings),
        Parser::Jsonl(r) => r.feed(bytes, path, store, id, warnings),
        // Read whole, not fed: see `read_state` and `read_bytes`.
        Parser::Hf(_) | Parser::Mlflow(_) => {}
        Parser::Tb { records, plugins } => {
            for frame in records.feed(bytes) {
                read_frame(frame, path, prefix, id, plugins, store, histograms, hparams, warnings);
            }
        }
    }
}

/// Reads a whole run from bytes in memory, as if they were the complete
/// file `name` in `format` (no file system; for fuzzing, pipes and tests).
/// Never fails: what cannot be read becomes warnings.
pub fn read_bytes(format: Format, bytes: &[u8], name: &str, maps: &TagMap) -> ExternalRun {
    let path = PathBuf::from(name);
    let mut parser = Parser::new(format, &path);
    let mut store = Store::default();
    let mut histograms = Vec::new();
    let mut warnings = Vec::new();
    let mut hparams = std::collections::BTreeMap::new();
    feed(&mut parser, bytes, &path, "", 0, &mut store, &mut histograms, &mut hparams, &mut warnings);
    match &mut parser {
        Parser::Csv(r) => r.finish(&path, &mut store, 0, &mut warnings),
        Parser::Jsonl(r) => r.finish(&path, &mut store, 0, &mut warnings),
        Parser::Mlflow(_) if format == Format::MlflowFiles => {
            super::mlflow::read_metric_bytes(bytes, name, &mut store, &mut warnings);
        }
        Parser::Mlflow(_) => warnings.push(format!("{name}: an SQLite store is read from its file, not from memory")),
        Parser::Hf(_) => match hf::parse_state(bytes, &path) {
            Ok(state) => {
                state.push_into(&mut store, 0);
                warnings.extend(state.warnings);
                hparams = state.hparams;
            }
            Err(e) => warnings.push(format!("{name}: {e}")),
        },
        Parser::Tb { records, .. } => {
            if records.pending_len() > 0 {
                warnings
                    .push(format!("{name}: the last record (from byte {}) is incomplete", records.pending_offset()));
            }
        }
    }
    let assembled = assemble(&store, maps);
    ExternalRun {
        name: name.to_string(),
        source: path,
        format,
        epochs: assembled.epochs,
        histograms,
        tags_seen: store.tags().to_vec(),
        mapped: assembled.mapped,
        hparams,
        skipped: warnings.len(),
        warnings,
        bridge: match parser {
            Parser::Jsonl(r) => r.bridge.map(Box::new),
            _ => None,
        },
    }
}

/// True when the file starts with `prefix` (the CSV header is unchanged).
fn starts_with(file: &mut std::fs::File, prefix: &[u8]) -> bool {
    let mut buf = vec![0u8; prefix.len()];
    file.seek(SeekFrom::Start(0)).and_then(|_| file.read_exact(&mut buf)).is_ok() && buf == prefix
}

/// A Trainer run is named after its output folder, also when the path is
/// the state file itself (`out/trainer_state.json`, or
/// `out/checkpoint-500/trainer_state.json`: `out/checkpoint-500`).
fn hf_run_name(path: &Path) -> String {
    let dir = if path.is_file() { path.parent().unwrap_or(path) } else { path };
    let name = run_name(dir);
    match dir.parent() {
        Some(parent) if hf::is_checkpoint_name(&name) && parent.file_name().is_some() => {
            format!("{}/{name}", run_name(parent))
        }
        _ => name,
    }
}
