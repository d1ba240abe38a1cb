//! How long one full dashboard frame takes: a 160x48 `TestBackend`, a run
//! with long histories (a million steps downsampled, 60 epochs, layer
//! statistics, changes, a ghost). Prints the median over many frames.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fitcheck::nn::stats::layer_stats;
use fitcheck::nn::{Activation, Init, Network};
use fitcheck::preset::{self, Preset};
use fitcheck::settings::Setting;
use fitcheck::train::{Change, EpochMetrics, Event, RunInfo, StatsReport, StepMetrics};
use fitcheck::tui::app::{App, Msg};
use fitcheck::tui::ui;
use ndarray::Array2;
use rand::SeedableRng;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn long_run() -> App {
    let preset = Preset::load(&preset::resolve("mnist-mlp").expect("the preset")).expect("it loads");
    let mut app = App::new(preset);
    let steps_per_epoch = 16_667u64;
    app.update(Msg::Trainer(Event::Start(RunInfo {
        preset: "mnist-mlp".into(),
        dataset: "MNIST".into(),
        epochs: 60,
        steps_per_epoch,
        train_size: 50_000,
        val_size: 10_000,
        test_size: 10_000,
        parameters: 669_706,
        hidden: vec![512, 512],
        activation: "ReLU".into(),
        optimizer: "SGD".into(),
        lr: 0.05,
        batch_size: 3,
        threads: 2,
        classes: 10,
        input_scale: 1.0,
        settings: None,
        hparams: Default::default(),
    })));
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let net = Network::new(784, &[512, 512], 10, Activation::Relu, Init::Auto, &mut rng);
    let probe = Array2::from_shape_fn((64, 784), |(i, j)| ((i * 31 + j) % 255) as f32 / 255.0);
    let layers = layer_stats(&net, &net.grads(), None, probe.view(), &mut net.workspace(64, 0));
    for step in (1..=1_000_000u64).step_by(100) {
        let loss = 2.0 / (1.0 + step as f32 / 10_000.0);
        app.update(Msg::Trainer(Event::Step(StepMetrics {
            epoch: (step / steps_per_epoch) as usize + 1,
            step,
            loss,
            acc: 1.0 - loss / 2.5,
            samples_per_s: 25_000.0,
            threads: None,
            branch: None,
        })));
        if step % 20_000 == 1 {
            app.update(Msg::Trainer(Event::Stats(StatsReport { step, layers: layers.clone() })));
        }
        if step % steps_per_epoch < 100 && step > 100 {
            let epoch = (step / steps_per_epoch) as usize;
            app.update(Msg::Trainer(Event::Epoch(EpochMetrics {
                epoch,
                step,
                train_loss: loss,
                train_acc: 0.9,
                train_loss_eval: loss * 0.9,
                train_acc_eval: 0.95,
                val_loss: loss * 1.2,
                val_acc: 0.93,
                lr: 0.05,
                penalty: 0.0,
                noise_memorized: None,
                samples_per_s: 25_000.0,
                threads: None,
                elapsed_s: epoch as f64,
                grad_norm: None,
                branch: None,
            })));
        }
        if step % 200_000 == 1 {
            app.update(Msg::Trainer(Event::Change(Change {
                step,
                from: Setting::LearningRate(0.05),
                to: Setting::LearningRate(0.1),
                note: None,
                by_trainer: false,
            })));
        }
    }
    app
}

fn main() {
    let app = long_run();
    let mut term = Terminal::new(TestBackend::new(160, 48)).expect("a test terminal");
    let mut times = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) || times.len() < 50 {
        let t = Instant::now();
        term.draw(|f| ui::draw(black_box(&app), f)).expect("draw");
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "full frame 160x48 (1M steps, 59 epochs, stats): median {:.2} ms over {} frames ({:.1}% of a core at 30 frames/s)",
        median * 1e3,
        times.len(),
        median * 30.0 * 100.0
    );
}
