//! The command line: parse with clap, dispatch to the TUI, the headless
//! runner, the preset listing and checking, or the benchmark. Bad input
//! exits with code 2 and a one-paragraph message, never a panic.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use fitcheck::headless::{self, HeadlessError};
use fitcheck::ingest::TagMap;
use fitcheck::preset::{self, Preset, PresetError};
use fitcheck::session::Session;
use fitcheck::train::log::RunLog;
use fitcheck::train::{SetupError, Trainer, load_data};
use fitcheck::tui::TuiError;

#[derive(Parser)]
#[command(
    name = "fitcheck",
    version,
    about = "Train a neural network live and find out, with evidence, whether it is learning, diverging or overfitting."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// The dashboard, starting PRESET at once (without one: the preset picker).
    Tui {
        preset: Option<String>,
        /// Override a preset field, V in RON syntax: --set lr=0.01
        #[arg(long = "set", value_name = "K=V")]
        set: Vec<String>,
        /// Append every event as a JSON line to FILE.
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
    },
    /// Train headless: one JSON line per epoch, then a summary.
    Run {
        preset: String,
        #[arg(long)]
        epochs: Option<usize>,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long = "set", value_name = "K=V")]
        set: Vec<String>,
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
        /// At the end, write the weights the run keeps to FILE (safetensors).
        #[arg(long, value_name = "FILE.safetensors")]
        save: Option<PathBuf>,
        /// Start from the weights of FILE (a --save'd run of a compatible net).
        #[arg(long = "init-from", value_name = "FILE")]
        init_from: Option<PathBuf>,
        /// Run N seeds in turn (seed, seed+1, ...); the last line adds the
        /// mean and spread of their accuracies.
        #[arg(long, value_name = "N")]
        seeds: Option<usize>,
    },
    /// The dashboard on a run trained elsewhere (TensorBoard event files, CSV,
    /// JSON lines), followed as it grows, or a recorded fitcheck run log (replay).
    Watch {
        path: PathBuf,
        /// Read tag TAG as FIELD (train_loss, val_loss, train_acc, val_acc, lr, ignore).
        #[arg(long = "map", value_name = "TAG=FIELD")]
        map: Vec<String>,
    },
    /// Headless: the epochs understood in PATH, then the summary with the diagnosis.
    Diagnose {
        path: PathBuf,
        #[arg(long = "map", value_name = "TAG=FIELD")]
        map: Vec<String>,
    },
    /// List every preset: name, dataset, and the lesson it teaches.
    Presets,
    /// Validate a preset file: exit 0, or 2 with the error.
    Check { file: PathBuf },
    /// Training and evaluation throughput (samples/s) as one JSON line.
    Bench {
        preset: Option<String>,
        #[arg(long, default_value_t = 1)]
        epochs: usize,
        #[arg(long = "set", value_name = "K=V")]
        set: Vec<String>,
    },
}

/// A failure and the exit code it deserves.
struct Failure {
    code: u8,
    message: String,
}

impl From<PresetError> for Failure {
    fn from(e: PresetError) -> Self {
        Failure { code: 2, message: e.to_string() }
    }
}

impl From<SetupError> for Failure {
    fn from(e: SetupError) -> Self {
        Failure { code: 2, message: e.to_string() }
    }
}

impl From<TuiError> for Failure {
    fn from(e: TuiError) -> Self {
        Failure { code: if e.is_bad_input() { 2 } else { 1 }, message: e.to_string() }
    }
}

impl From<HeadlessError> for Failure {
    fn from(e: HeadlessError) -> Self {
        Failure { code: 1, message: e.to_string() }
    }
}

/// A preset with its overrides, and where it came from (for errors found
/// later, when the data is there to check against).
fn load_preset(name: &str, sets: &[String]) -> Result<(Preset, PathBuf), PresetError> {
    let path = preset::resolve(name)?;
    let mut preset = Preset::load(&path)?;
    for s in sets {
        preset.set(s)?;
    }
    Ok((preset, path))
}

/// Loads the data and builds the trainer; a bad field names its file line or `--set`.
fn setup(preset: &Preset, path: &std::path::Path, sets: &[String]) -> Result<Trainer, Failure> {
    let located = |e: SetupError| match e {
        SetupError::Field { field, message, .. } => Failure::from(preset::field_error(path, sets, field, message)),
        other => Failure::from(other),
    };
    if let Some(note) = fitcheck::train::ensure_init_weights(preset).map_err(located)? {
        eprintln!("fitcheck: {note}");
    }
    let data = load_data(preset).map_err(located)?;
    Trainer::new(preset, data).map_err(located)
}

/// A session writing to the `--metrics` run log, if any.
fn session(metrics: Option<&std::path::Path>, interactive: bool) -> Result<Session, Failure> {
    let log = match metrics {
        Some(path) => {
            let log = RunLog::open(path).map_err(|e| Failure {
                code: 2,
                message: format!("{}: cannot write the run log: {e}", path.display()),
            })?;
            Some((log, path))
        }
        None => None,
    };
    Ok(if interactive { Session::interactive(log) } else { Session::new(log) })
}

fn real_main(cli: Cli) -> Result<(), Failure> {
    let never = crossbeam_channel::never::<()>();
    match cli.command {
        None => Ok(fitcheck::tui::run(None, &[], session(None, true)?, &never)?),
        Some(Cmd::Tui { preset, set, metrics }) => {
            Ok(fitcheck::tui::run(preset.as_deref(), &set, session(metrics.as_deref(), true)?, &never)?)
        }
        Some(Cmd::Run { preset, epochs, seed, mut set, metrics, save, init_from, seeds }) => {
            set.extend(epochs.map(|e| format!("epochs={e}")));
            set.extend(seed.map(|s| format!("seed={s}")));
            set.extend(init_from.map(|f| format!("init_from={:?}", f.display().to_string())));
            let (p, path) = load_preset(&preset, &set)?;
            let stdout = io::stdout();
            let n = seeds.unwrap_or(1);
            if n == 0 {
                return Err(Failure { code: 2, message: "--seeds: run at least 1 seed".into() });
            }
            let mut summaries = Vec::new();
            for k in 0..n as u64 {
                let mut p = p.clone();
                p.seed = p.seed.wrapping_add(k);
                let mut trainer = setup(&p, &path, &set)?;
                if let Some(file) = &save {
                    // With several seeds, each keeps its own weights.
                    let file =
                        if n > 1 { file.with_extension(format!("seed{}.safetensors", p.seed)) } else { file.clone() };
                    trainer.save_at_end(file);
                }
                let session = session(metrics.as_deref(), false)?;
                summaries.push(headless::run_until(trainer, session, &mut stdout.lock(), &never)?);
            }
            if n > 1 {
                headless::print_seed_spread(&summaries, &mut stdout.lock())?;
            }
            Ok(())
        }
        Some(Cmd::Diagnose { path, map }) => {
            let maps = TagMap::parse_args(&map).map_err(|e| Failure { code: 2, message: e.to_string() })?;
            let stdout = io::stdout();
            fitcheck::watch::diagnose(&path, &maps, &mut stdout.lock())
                .map_err(|e| Failure { code: if e.is_bad_input() { 2 } else { 1 }, message: e.to_string() })
        }
        Some(Cmd::Watch { path, map }) => {
            let maps = TagMap::parse_args(&map).map_err(|e| Failure { code: 2, message: e.to_string() })?;
            Ok(fitcheck::tui::watch(&path, maps, &never)?)
        }
        Some(Cmd::Presets) => {
            let mut out = io::stdout().lock();
            for (name, path) in preset::list() {
                let line = match Preset::load(&path) {
                    Ok(p) => format!("{name:<20} {:<10} {}", p.dataset.label(), p.lesson),
                    Err(e) => format!("{name:<20} (invalid: {e})"),
                };
                let _ = writeln!(out, "{line}");
            }
            Ok(())
        }
        Some(Cmd::Check { file }) => {
            let p = Preset::load(&file)?;
            // The data too: sizes are checked against what it holds.
            setup(&p, &file, &[])?;
            println!("{}: ok ({}: {})", file.display(), p.name, p.lesson);
            Ok(())
        }
        Some(Cmd::Bench { preset, epochs, set }) => {
            let name = preset.unwrap_or_else(|| "mnist-mlp".into());
            let (p, path) = load_preset(&name, &set)?;
            let mut trainer = setup(&p, &path, &set)?;
            let speed = trainer.bench(epochs.max(1));
            let (train, eval) = (speed.train, speed.eval);
            let line = serde_json::json!({
                "type": "bench",
                "preset": p.name,
                "threads": rayon::current_num_threads(),
                "epochs": epochs.max(1),
                "train_samples_per_s": train.round(),
                "eval_samples_per_s": eval.round(),
            });
            println!("{line}");
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { code, message }) => {
            eprintln!("fitcheck: {message}");
            ExitCode::from(code)
        }
    }
}
