//! Hot-path benchmarks of the engine, run with `cargo bench`: a training
//! step (the reference network 784-256-128-10, batch 128, plain SGD), a
//! forward pass in eval mode (batch 1000), and the layer statistics. Each
//! prints the median time per call over many calls after a warm-up, and the
//! samples/s it implies: medians, because this machine is noisy.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fitcheck::nn::optim::Penalty;
use fitcheck::nn::stats::layer_stats;
use fitcheck::nn::{Activation, Init, Network, Optimizer, OptimizerKind, StepRunner};
use ndarray::{Array2, s};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Median seconds per call of `f`, over calls for about `budget`.
fn median_time(budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..20 {
        f();
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || times.len() < 20 {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn report(name: &str, secs: f64, samples: usize) {
    println!("{name:<28} {:>9.1} µs   {:>9.0} samples/s", secs * 1e6, samples as f64 / secs);
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let mut rng = StdRng::seed_from_u64(1);
    let mut net = Network::new(784, &[256, 128], 10, Activation::Relu, Init::Auto, &mut rng);
    // Pixel-like inputs in [0, 1], as a batch of MNIST would be.
    let data = Array2::from_shape_fn((1000, 784), |(i, j)| ((i * 7919 + j * 104_729) % 256) as f32 / 255.0);
    let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
    let budget = Duration::from_secs(3);
    println!("threads: {}", rayon::current_num_threads());

    if run("train_step") {
        let batch = 128;
        let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: 0.0, nesterov: false }, 0.01, &net.tensor_sizes());
        let mut runner = StepRunner::new(&net, batch, 0);
        let mut offset = 0;
        let t = {
            median_time(budget, || {
                let start = offset;
                offset = (offset + batch) % (1000 - batch);
                black_box(runner.step(&mut net, &mut opt, Penalty::default(), batch, |r, mut x, y| {
                    let rows = start + r.start..start + r.end;
                    x.slice_mut(s![..r.len(), ..]).assign(&data.slice(s![rows.clone(), ..]));
                    y[..r.len()].copy_from_slice(&labels[rows]);
                }));
            })
        };
        report("train_step (batch 128)", t, batch);
    }
    if run("forward") {
        let mut ws = net.workspace(1000, 0);
        let t = median_time(budget, || {
            black_box(net.evaluate(data.view(), &labels, &mut ws));
        });
        report("forward eval (batch 1000)", t, 1000);
    }
    if run("stats") {
        let grads = net.grads();
        let before: Vec<Array2<f32>> = net.layers().iter().map(|l| l.w.clone()).collect();
        let mut ws = net.workspace(256, 0);
        let t = median_time(budget, || {
            black_box(layer_stats(&net, &grads, Some(&before), data.slice(s![..256, ..]), &mut ws));
        });
        report("layer_stats (probe 256)", t, 256);
    }
}
