//! The command line: parse with clap, dispatch to the TUI, the headless
//! runner, the preset listing and checking, or the benchmark. Bad input
//! exits with code 2 and a one-paragraph message, never a panic.
//!
//! Exit codes: 0 success (also when stdout is a closed pipe, `run … | head`:
//! the run stops quietly); 1 a run that failed; 2 bad input — a preset, a
//! `--set`, a flag, a dataset, a `--metrics` path that cannot be written,
//! `FITCHECK_MEMORY_LIMIT`, or a preset too big for the memory there is;
//! 130, 143, 129 a run ended by SIGINT, SIGTERM, SIGHUP (see `signals`).
//!
//! Everything `check` accepts, `run` can start: both go through the same
//! preflight (`train::preflight_setup`: the field checks that need the
//! dataset's shape, and the memory estimate) before reading the data, and
//! `check` then reads the data in full as `run` does.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use fitcheck::headless::{self, HeadlessError};
use fitcheck::ingest::TagMap;
use fitcheck::limits;
use fitcheck::preset::{self, Preset, PresetError};
use fitcheck::session::Session;
use fitcheck::signals;
use fitcheck::train::log::RunLog;
use fitcheck::train::{SetupError, Trainer, bundled_mnist_dir, load_data, preflight_setup};
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
        /// A file or folder; `-` reads standard input until it ends.
        path: PathBuf,
        /// Read tag TAG as FIELD (train_loss, val_loss, train_acc, val_acc, lr, ignore).
        #[arg(long = "map", value_name = "TAG=FIELD")]
        map: Vec<String>,
        /// In a folder or store of several runs, the run to watch (as listed;
        /// without it the dashboard opens on the run list).
        #[arg(long = "run", value_name = "NAME")]
        run: Option<String>,
    },
    /// Headless: the epochs understood in PATH, then the summary with the diagnosis.
    Diagnose {
        /// A file or folder; `-` reads standard input to its end.
        path: PathBuf,
        #[arg(long = "map", value_name = "TAG=FIELD")]
        map: Vec<String>,
        /// In a folder or store of several runs, the run to diagnose (its
        /// listed name, or the end of it after a `/`).
        #[arg(long = "run", value_name = "NAME")]
        run: Option<String>,
    },
    /// List every preset: name, dataset, and the lesson it teaches.
    Presets,
    /// Validate a preset file: exit 0, or 2 with the error.
    Check { file: PathBuf },
    /// The learning-rate range test on a fresh copy of PRESET's model: one
    /// JSON line per step (lr, loss, smoothed loss), then the suggestion.
    LrFind {
        preset: String,
        #[arg(long = "set", value_name = "K=V")]
        set: Vec<String>,
        #[arg(long)]
        seed: Option<u64>,
        /// Steps from lr 1e-6 to 10 (the test stops earlier when the loss diverges).
        #[arg(long, default_value_t = fitcheck::train::lr_find::DEFAULT_STEPS)]
        steps: usize,
    },
    /// Train PRESET and PRESET with the --set changes from the same seeds:
    /// one JSON line per branch (mean and spread), then their difference.
    Compare {
        preset: String,
        /// The change to try, V in RON syntax: --set dropout=0.5
        #[arg(long = "set", value_name = "K=V", required = true)]
        set: Vec<String>,
        /// Override a field in both branches (to shorten them, say): --both epochs=5
        #[arg(long = "both", value_name = "K=V")]
        both: Vec<String>,
        #[arg(long)]
        epochs: Option<usize>,
        #[arg(long)]
        seed: Option<u64>,
        /// Seeds per branch (seed, seed+1, ...).
        #[arg(long, value_name = "N", default_value_t = 3)]
        seeds: usize,
    },
    /// Training and evaluation throughput (samples/s) as one JSON line.
    Bench {
        preset: Option<String>,
        #[arg(long, default_value_t = 1)]
        epochs: usize,
        #[arg(long = "set", value_name = "K=V")]
        set: Vec<String>,
    },
}

/// A failure and the exit code it deserves; an empty message prints nothing.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn bad_input(message: impl Into<String>) -> Failure {
        Failure { code: 2, message: message.into() }
    }

    /// Stdout went away (`| head`): stop quietly, as a pipeline expects.
    fn closed_pipe() -> Failure {
        Failure { code: 0, message: String::new() }
    }

    fn output(e: io::Error) -> Failure {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::closed_pipe()
        } else {
            Failure { code: 1, message: format!("cannot write the output: {e}") }
        }
    }
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
        // The run log only fails at open now (a write error later does not
        // stop the run): a path that cannot be written is bad input.
        let bad = e.is_bad_input();
        Failure { code: if bad { 2 } else { 1 }, message: e.to_string() }
    }
}

impl From<HeadlessError> for Failure {
    fn from(e: HeadlessError) -> Self {
        match e {
            HeadlessError::Output(e) => Failure::output(e),
            e @ HeadlessError::Failed(_) => Failure { code: 1, message: e.to_string() },
        }
    }
}

/// A line on stdout; a closed pipe ends the program quietly.
fn say(line: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).map_err(Failure::output)
}

/// `--epochs N` must be at least 1; reported as the flag, not as a `--set`.
fn check_epochs(epochs: usize) -> Result<usize, Failure> {
    if epochs == 0 {
        return Err(Failure::bad_input("--epochs 0: must be at least 1"));
    }
    Ok(epochs)
}

/// A `--metrics` path that cannot take a line is refused before anything
/// is loaded. The probe leaves no trace: a file it had to create is
/// removed again (the run creates it when it starts).
fn check_metrics(metrics: Option<&Path>) -> Result<(), Failure> {
    let Some(path) = metrics else { return Ok(()) };
    let existed = path.exists();
    RunLog::open_named(path).map_err(|e| Failure::bad_input(e.to_string()))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
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

/// A setup error located: a bad field names its file line or `--set`.
fn located(path: &Path, sets: &[String], e: SetupError) -> Failure {
    match e {
        SetupError::Field { field, message, .. } => Failure::from(preset::field_error(path, sets, field, message)),
        other => Failure::from(other),
    }
}

/// The shared validation of `check`, `run` and `bench`: the preflight
/// (dataset shape, the fields that depend on it, memory), then the data
/// read in full. Nothing large is allocated before the preflight passes.
fn prepare(preset: &Preset, path: &Path, sets: &[String]) -> Result<fitcheck::data::TrainTest, Failure> {
    preflight_setup(preset, &bundled_mnist_dir()).map_err(|e| located(path, sets, e))?;
    load_data(preset).map_err(|e| located(path, sets, e))
}

/// Validates, loads the data and builds the trainer.
fn setup(preset: &Preset, path: &Path, sets: &[String]) -> Result<Trainer, Failure> {
    if let Some(note) = fitcheck::train::ensure_init_weights(preset).map_err(|e| located(path, sets, e))? {
        eprintln!("fitcheck: {note}");
    }
    let data = prepare(preset, path, sets)?;
    Trainer::new(preset, data).map_err(|e| located(path, sets, e))
}

/// Signal handlers for a command that must end cleanly.
fn install_signals() -> Result<(), Failure> {
    signals::install().map_err(|e| Failure { code: 1, message: format!("cannot install signal handlers: {e}") })
}

/// The dashboard's signal handlers: a signal its loop does not take (or a
/// second one) still leaves a usable terminal — raw mode off, the main
/// screen back, the cursor shown — before the exit.
fn install_dashboard_signals() -> Result<(), Failure> {
    install_signals()?;
    signals::on_forced_exit(restore_terminal);
    Ok(())
}

/// What the dashboard's own exit does: raw mode off, the main screen back,
/// the cursor shown (ratatui's `restore` leaves that to the terminal's drop).
fn restore_terminal() {
    fitcheck::tui::terminal::restore();
}

/// A session writing to the `--metrics` run log, if any (`interactive`: its
/// runs stay after their end, as the dashboard's do).
fn session(metrics: Option<&Path>, interactive: bool) -> Result<Session, Failure> {
    let log = match metrics {
        Some(path) => Some(RunLog::open_named(path).map_err(|e| Failure::bad_input(e.to_string()))?),
        None => None,
    };
    Ok(if interactive { Session::interactive(log) } else { Session::new(log) })
}

fn real_main(cli: Cli) -> Result<(), Failure> {
    // A bad memory limit is bad input, whatever the command.
    limits::memory_limit().map_err(Failure::bad_input)?;
    match cli.command {
        None => {
            install_dashboard_signals()?;
            let signals = signals::subscribe();
            Ok(fitcheck::tui::run(None, &[], session(None, true)?, signals.receiver())?)
        }
        Some(Cmd::Tui { preset, set, metrics }) => {
            install_dashboard_signals()?;
            check_metrics(metrics.as_deref())?;
            // The run's preflight before the terminal changes mode: a preset
            // too big for the machine is exit 2 here, as for `run`.
            if let Some(name) = &preset {
                let (p, path) = load_preset(name, &set)?;
                preflight_setup(&p, &bundled_mnist_dir()).map_err(|e| located(&path, &set, e))?;
            }
            let signals = signals::subscribe();
            let session = session(metrics.as_deref(), true)?;
            Ok(fitcheck::tui::run(preset.as_deref(), &set, session, signals.receiver())?)
        }
        Some(Cmd::Run { preset, epochs, seed, mut set, metrics, save, init_from, seeds }) => {
            install_signals()?;
            set.extend(init_from.map(|f| format!("init_from={:?}", f.display().to_string())));
            let (mut p, path) = load_preset(&preset, &set)?;
            if let Some(e) = epochs {
                p.epochs = check_epochs(e)?;
            }
            if let Some(s) = seed {
                p.seed = s;
            }
            check_metrics(metrics.as_deref())?;
            let n = seeds.unwrap_or(1);
            if n == 0 {
                return Err(Failure::bad_input("--seeds 0: run at least 1 seed"));
            }
            let stdout = io::stdout();
            let signals = signals::subscribe();
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
                summaries.push(headless::run_until(trainer, session, &mut stdout.lock(), signals.receiver())?);
                if signals::received().is_some() {
                    break;
                }
            }
            // Asked for with --seeds (even 1): the line the user asked for,
            // with a spread of zero.
            if seeds.is_some() && !summaries.is_empty() {
                headless::print_seed_spread(&summaries, &mut stdout.lock())?;
            }
            Ok(())
        }
        Some(Cmd::Diagnose { path, map, run }) => {
            let maps = TagMap::parse_args(&map).map_err(|e| Failure::bad_input(e.to_string()))?;
            let path = picked(path, run.as_deref())?;
            let stdout = io::stdout();
            fitcheck::watch::diagnose(&path, &maps, &mut stdout.lock()).map_err(|e| match e {
                fitcheck::watch::WatchError::Output(e) => Failure::output(e),
                e => Failure::bad_input(e.to_string()),
            })
        }
        Some(Cmd::Watch { path, map, run }) => {
            let maps = TagMap::parse_args(&map).map_err(|e| Failure::bad_input(e.to_string()))?;
            let path = picked(path, run.as_deref())?;
            install_dashboard_signals()?;
            let signals = signals::subscribe();
            Ok(fitcheck::tui::watch(&path, maps, signals.receiver())?)
        }
        Some(Cmd::Presets) => {
            for (name, path) in preset::list() {
                let line = match Preset::load(&path) {
                    Ok(p) => format!("{name:<20} {:<10} {}", p.dataset.label(), p.lesson),
                    Err(e) => format!("{name:<20} (invalid: {e})"),
                };
                say(&line)?;
            }
            Ok(())
        }
        Some(Cmd::Check { file }) => {
            let p = Preset::load(&file)?;
            // The data too, as a run reads it; the network is not built
            // (the preflight has checked everything it needs).
            prepare(&p, &file, &[])?;
            say(&format!("{}: ok ({}: {})", file.display(), p.name, p.lesson))
        }
        Some(Cmd::LrFind { preset, set, seed, steps }) => {
            if steps < 5 {
                return Err(Failure::bad_input(format!("--steps {steps}: the range test needs at least 5 steps")));
            }
            install_signals()?;
            let (mut p, path) = load_preset(&preset, &set)?;
            if let Some(s) = seed {
                p.seed = s;
            }
            // A fresh model of its own: nothing else is trained or touched.
            let mut trainer = setup(&p, &path, &set)?;
            let stdout = io::stdout();
            let mut out = stdout.lock();
            let suggestion = trainer
                .lr_find(steps, |point| {
                    if signals::received().is_some() {
                        return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
                    }
                    writeln!(out, "{}", serde_json::to_string(point).unwrap_or_default())
                })
                .map_err(|e| match e.kind() {
                    io::ErrorKind::Interrupted => Failure { code: 1, message: String::new() },
                    _ => Failure::output(e),
                })?;
            drop(out);
            match suggestion {
                Some(s) => say(&serde_json::to_string(&s).unwrap_or_default()),
                None => Err(Failure { code: 1, message: "the range test stopped too early to suggest a rate".into() }),
            }
        }
        Some(Cmd::Compare { preset, set, both, epochs, seed, seeds }) => {
            install_signals()?;
            if seeds == 0 {
                return Err(Failure::bad_input("--seeds 0: run at least 1 seed"));
            }
            let epochs = epochs.map(check_epochs).transpose()?;
            let branch = |changed: bool| -> Result<(Preset, PathBuf, Vec<String>), Failure> {
                let sets: Vec<String> = both.iter().chain(if changed { &set[..] } else { &[] }).cloned().collect();
                let (mut p, path) = load_preset(&preset, &sets)?;
                if let Some(e) = epochs {
                    p.epochs = e;
                }
                if let Some(s) = seed {
                    p.seed = s;
                }
                Ok((p, path, sets))
            };
            let (base, changed) = (branch(false)?, branch(true)?);
            // Both set up (and preflighted) before the first trains: a bad
            // --set is reported at once, not minutes later.
            for (p, path, sets) in [&base, &changed] {
                preflight_setup(p, &bundled_mnist_dir()).map_err(|e| located(path, sets, e))?;
            }
            let signals = signals::subscribe();
            let stdout = io::stdout();
            let mut out = stdout.lock();
            let change = set.join(" ");
            let runs = fitcheck::compare::compare(
                &base.0,
                &changed.0,
                &change,
                seeds,
                |is_changed, p| {
                    let (_, path, sets) = if is_changed { &changed } else { &base };
                    setup(p, path, sets)
                },
                &mut out,
                signals.receiver(),
            );
            runs.map_err(|e| match e {
                fitcheck::compare::CompareError::Setup(failure) => failure,
                fitcheck::compare::CompareError::Run(e) => Failure::from(e),
            })
        }
        Some(Cmd::Bench { preset, epochs, set }) => {
            let epochs = check_epochs(epochs)?;
            let name = preset.unwrap_or_else(|| "mnist-mlp".into());
            let (p, path) = load_preset(&name, &set)?;
            let mut trainer = setup(&p, &path, &set)?;
            let speed = trainer.bench(epochs);
            let (train, eval) = (speed.train, speed.eval);
            let line = serde_json::json!({
                "type": "bench",
                "preset": p.name,
                "threads": rayon::current_num_threads(),
                "epochs": epochs,
                "train_samples_per_s": train.round(),
                "eval_samples_per_s": eval.round(),
            });
            say(&line.to_string())
        }
    }
}

/// PATH itself, or the run `--run NAME` picks in it (bad input when none).
fn picked(path: PathBuf, run: Option<&str>) -> Result<PathBuf, Failure> {
    match run {
        Some(name) => fitcheck::ingest::pick_run(&path, name).map_err(|e| Failure::bad_input(e.to_string())),
        None => Ok(path),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = real_main(cli);
    // A run a signal ended exits with the signal's code, whatever else happened.
    let signal = signals::received().map(|s| s.exit_code());
    match outcome {
        Ok(()) => ExitCode::from(signal.unwrap_or(0)),
        Err(Failure { code, message }) => {
            if !message.is_empty() {
                let _ = writeln!(io::stderr(), "fitcheck: {message}");
            }
            ExitCode::from(signal.unwrap_or(code))
        }
    }
}
