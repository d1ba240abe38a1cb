//! The errors of reading an external run: each names the file and says what
//! to do about it, in one paragraph.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file exists but holds nothing to recognise yet (empty, or not one
    /// complete line or record): a writer may just have created it. Callers
    /// that follow may retry later.
    #[error(
        "{} holds no complete record or line yet (empty, or still being written); try again once the run has logged something",
        path.display()
    )]
    NotYetWritten { path: PathBuf },

    #[error(
        "{} is not a run fitcheck can read: {detail}. Expected TensorBoard event files (events.out.tfevents.*), a CSV with a header (Keras or Lightning CSVLogger), JSON lines, a Hugging Face trainer_state.json, or an MLflow store (mlflow.db, mlruns/) (see docs/watch.md)",
        path.display()
    )]
    UnknownFormat { path: PathBuf, detail: String },

    /// A file whose format was recognised but whose content cannot be read
    /// as a whole (a Hugging Face `trainer_state.json` that is not valid
    /// JSON): `detail` says where.
    #[error("{} cannot be read: {detail}", path.display())]
    Malformed { path: PathBuf, detail: String },

    /// fitcheck's own run log: read it with the replay reader, not this one.
    #[error("{} is a fitcheck run log (JSON lines with a \"type\" field): replay it", path.display())]
    FitcheckLog { path: PathBuf },

    /// `mapped`: tags already understood, as `tag → field`; `skipped`: the
    /// reader's warnings (corrupt records, bad lines), which say why a file
    /// whose names are fine still gave nothing.
    #[error("{}", no_metrics(path, tags, mapped, skipped))]
    NoMetrics { path: PathBuf, tags: Vec<String>, mapped: Vec<String>, skipped: Vec<String> },

    #[error("bad --map {arg:?}: {reason}")]
    BadMap { arg: String, reason: String },

    #[error("{} holds several runs ({}); pick one with --run NAME", path.display(), listed(runs))]
    SeveralRuns { path: PathBuf, runs: Vec<String> },

    /// A store (MLflow's `mlflow.db`) has no run of that name or id.
    #[error("{} has no run {run:?}; its runs: {}", path.display(), listed(runs))]
    NoSuchRun { path: PathBuf, run: String, runs: Vec<String> },

    #[error("cannot write the command file {}: {source}", path.display())]
    CommandWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why a run gave no epoch, and what to do. `--map` is offered only when
/// no tag was understood: when the names already map, the file has no
/// values for them (no rows yet, or every record skipped), and the first
/// of the reader's warnings says which (issue 22: a flipped first byte of
/// an event file said "no scalar tags", a header without rows "Name them
/// with --map").
fn no_metrics(path: &std::path::Path, tags: &[String], mapped: &[String], skipped: &[String]) -> String {
    let why = match skipped {
        [] => String::new(),
        [one] => format!("; the reader skipped: {one}"),
        [first, rest @ ..] => format!("; the reader skipped: {first} (and {} more)", rest.len()),
    };
    if mapped.is_empty() {
        format!(
            "no usable loss or accuracy metrics (training or validation) in {}: {}{why}. Name them with --map TAG=FIELD (FIELD: train_loss, val_loss, train_acc, val_acc, lr, grad_norm)",
            path.display(),
            found_tags(tags)
        )
    } else {
        format!(
            "no values in {}: its metrics are understood ({}) but no row or record holds a value for them yet{why}",
            path.display(),
            mapped.join(", ")
        )
    }
}

fn found_tags(tags: &[String]) -> String {
    if tags.is_empty() {
        return "no scalar tags or columns at all".to_string();
    }
    const SHOWN: usize = 40;
    let mut s = format!("found tags: {}", tags.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", "));
    if tags.len() > SHOWN {
        s.push_str(&format!(" (and {} more)", tags.len() - SHOWN));
    }
    s
}

fn listed(runs: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut s = runs.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if runs.len() > SHOWN {
        s.push_str(&format!(" and {} more", runs.len() - SHOWN));
    }
    s
}

impl IngestError {
    pub(crate) fn unreadable(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IngestError::Unreadable { path: path.into(), source }
    }
}
