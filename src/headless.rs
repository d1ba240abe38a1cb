//! The headless runner (`fitcheck run`): the same event stream the TUI
//! reads, printed as JSON lines — every epoch and every event the trainer
//! caused on stdout (step metrics, layer statistics and the data view only
//! go to the `--metrics` log), then the summary.

use std::io::{self, Write};
use std::path::Path;

use crate::train::log::RunLog;
use crate::train::{Event, Summary, Trainer, spawn};
use crate::verdict::RunRecord;

#[derive(Debug, thiserror::Error)]
pub enum HeadlessError {
    #[error("{path}: cannot write the run log: {source}")]
    Log { path: String, source: io::Error },
    #[error("cannot write the output: {0}")]
    Output(io::Error),
    #[error("{0}")]
    Failed(String),
}

/// The summary event with the diagnosis beside its fields, in their order.
#[derive(serde::Serialize)]
struct SummaryLine<'a> {
    #[serde(flatten)]
    event: &'a Event,
    diagnosis: crate::diagnose::Diagnosis,
}

/// Trains to the end, writing JSON lines to `out`.
pub fn run(trainer: Trainer, metrics: Option<&Path>, out: &mut impl Write) -> Result<Summary, HeadlessError> {
    let log_err =
        |source| HeadlessError::Log { path: metrics.map(|p| p.display().to_string()).unwrap_or_default(), source };
    let mut log = metrics.map(RunLog::open).transpose().map_err(log_err)?;
    let mut record = RunRecord::new(trainer.preset().clone());
    let handle = spawn(trainer).map_err(|e| HeadlessError::Failed(format!("cannot start the trainer: {e}")))?;
    let mut summary = None;
    let mut failure = None;
    for event in handle.events.iter() {
        record.record(&event);
        if let Some(log) = log.as_mut() {
            log.record(&event).map_err(log_err)?;
        }
        match &event {
            // Step metrics and layer statistics only go to the run log.
            Event::Step(_) | Event::Start(_) | Event::Stats(_) | Event::DataView(_) => continue,
            // diag: step 0 and the probe are measurements, like the statistics.
            Event::Preflight(_) | Event::Probe(_) => continue,
            Event::Summary(s) => {
                summary = Some(s.clone());
                // The summary line carries the checklist's verdict.
                let line = SummaryLine { event: &event, diagnosis: record.diagnosis() };
                serde_json::to_writer(&mut *out, &line).map_err(|e| HeadlessError::Output(e.into()))?;
                out.write_all(b"\n").and_then(|()| out.flush()).map_err(HeadlessError::Output)?;
                continue;
            }
            Event::Failed { message } => failure = Some(message.clone()),
            _ => {}
        }
        serde_json::to_writer(&mut *out, &event).map_err(|e| HeadlessError::Output(e.into()))?;
        out.write_all(b"\n").and_then(|()| out.flush()).map_err(HeadlessError::Output)?;
    }
    let _ = handle.thread.join();
    match (summary, failure) {
        (_, Some(message)) => Err(HeadlessError::Failed(message)),
        (Some(s), None) => Ok(s),
        (None, None) => Err(HeadlessError::Failed("the trainer stopped without a summary".into())),
    }
}
