//! The headless runner (`fitcheck run`): the same event stream the
//! dashboard reads, through the same run model, printed as JSON lines —
//! every epoch and every event the trainer caused on stdout (step metrics,
//! layer statistics, the data view and the verdict changes only go to the
//! `--metrics` log), then the summary with the diagnosis. Its events take
//! the same step as the dashboard's ([`crate::source::take`]).

use std::io::{self, Write};

use crossbeam_channel::{Receiver, never, select};

use crate::protocol::{Command, Event, Summary};
use crate::run::{Run, SummaryLine};
use crate::session::Session;
use crate::train::Trainer;

#[derive(Debug, thiserror::Error)]
pub enum HeadlessError {
    #[error("cannot write the output: {0}")]
    Output(io::Error),
    #[error("{0}")]
    Failed(String),
}

fn write_line(out: &mut impl Write, line: &impl serde::Serialize) -> Result<(), HeadlessError> {
    serde_json::to_writer(&mut *out, line).map_err(|e| HeadlessError::Output(e.into()))?;
    out.write_all(b"\n").and_then(|()| out.flush()).map_err(HeadlessError::Output)
}

/// Trains to the end, writing JSON lines to `out` and every event to the
/// session's run log.
pub fn run(trainer: Trainer, session: Session, out: &mut impl Write) -> Result<Summary, HeadlessError> {
    run_until(trainer, session, out, &never::<()>())
}

/// [`run`], stopping early (with an `interrupted` summary) when `stop`
/// delivers anything: a signal, say.
pub fn run_until<T>(
    trainer: Trainer,
    mut session: Session,
    out: &mut impl Write,
    stop: &Receiver<T>,
) -> Result<Summary, HeadlessError> {
    let mut run = Run::new(trainer.preset().clone());
    session.start_trainer(trainer).map_err(|e| HeadlessError::Failed(format!("cannot start the trainer: {e}")))?;
    let events = session.events();
    let (mut summary, mut failure) = (None, None);
    let mut stopping = false;
    loop {
        let event = select! {
            recv(events) -> e => match e { Ok(e) => e, Err(_) => break },
            recv(stop) -> _ => {
                if !stopping {
                    stopping = true;
                    session.send(Command::Stop);
                }
                continue;
            }
        };
        crate::source::take(&mut run, &event, &mut session);
        match &event {
            Event::Summary(s) => {
                summary = Some(s.clone());
                write_line(out, &SummaryLine { event: &event, diagnosis: run.diagnosis() })?;
                break;
            }
            Event::Failed { message } => failure = Some(message.clone()),
            // The weights asked for were not written: the run did not do what
            // it was told, whatever its summary says.
            Event::Checkpoint { path, error: Some(e), .. } if failure.is_none() => {
                failure = Some(format!("cannot save the weights to {path}: {e}"));
            }
            _ => {}
        }
        // Step metrics, layer statistics, measurements and verdicts only go to the run log.
        if !matches!(
            event,
            Event::Step(_)
                | Event::Start(_)
                | Event::Stats(_)
                | Event::DataView(_)
                | Event::Preflight(_)
                | Event::Probe(_)
        ) {
            write_line(out, &event)?;
        }
    }
    if let Some(message) = session.log_failure() {
        eprintln!("fitcheck: {message}");
    }
    // The trainer waits for more epochs after its summary: dropping the
    // session stops it.
    session.shutdown(std::time::Duration::from_secs(3));
    match (summary, failure) {
        (_, Some(message)) => Err(HeadlessError::Failed(message)),
        (Some(s), None) => Ok(s),
        (None, None) => Err(HeadlessError::Failed("the trainer stopped without a summary".into())),
    }
}

/// Mean, spread (standard deviation), lowest and highest of some values.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Spread {
    pub mean: f32,
    pub std: f32,
    pub min: f32,
    pub max: f32,
}

impl Spread {
    pub fn of(values: &[f32]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f32;
        let mean = values.iter().sum::<f32>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / (n - 1.0).max(1.0);
        let (min, max) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        Some(Spread { mean, std: var.sqrt(), min, max })
    }
}

/// The last line of `fitcheck run --seeds N`: how far apart different
/// starts end up (`{"type":"seeds","seeds":N,"best_val_acc":{mean,std,min,max},"test_acc":{...}}`).
pub fn print_seed_spread(summaries: &[Summary], out: &mut impl Write) -> Result<(), HeadlessError> {
    let best: Vec<f32> = summaries.iter().map(|s| s.best_val_acc).collect();
    let test: Vec<f32> = summaries.iter().filter_map(|s| s.test_acc).collect();
    let line = serde_json::json!({
        "type": "seeds",
        "seeds": summaries.len(),
        "best_val_acc": Spread::of(&best),
        "test_acc": Spread::of(&test),
    });
    write_line(out, &line)
}
