//! Hot-path benchmarks of the engine, run with `cargo bench [FILTER]`: a
//! training step (the reference network 784-256-128-10, batch 128, plain
//! SGD), a forward pass in eval mode (batch 1000), the layer statistics, and
//! the same three for the mnist-cnn preset's net (conv16-pool-conv32-pool-
//! 64-10, batch 64, SGD with momentum), and a training step of the
//! mnist-mlp preset's net (784-512-512-10, batch 64, SGD with momentum).
//! `FITCHECK_BENCH_ALONE=1` runs the steps on the caller alone (both parts
//! of each batch one after the other) instead of the team. Each prints the median wall time per
//! call over many calls after a warm-up, the samples/s it implies, and the
//! median CPU time of the calling thread: medians, because this machine is
//! noisy, and CPU time because it hardly moves when other processes take
//! the cores (with `RAYON_NUM_THREADS=1` it is the whole cost of a call).

use std::hint::black_box;
use std::time::{Duration, Instant};

use fitcheck::nn::conv::ConvLayer;
use fitcheck::nn::governor::Mode;
use fitcheck::nn::optim::Penalty;
use fitcheck::nn::stats::layer_stats;
use fitcheck::nn::{Activation, Init, Network, Optimizer, OptimizerKind, StepRunner};
use ndarray::{Array2, s};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// CPU time consumed by the calling thread so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Median wall and thread-CPU seconds per call of `f`, over calls for about `budget`.
fn median_time(budget: Duration, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..20 {
        f();
    }
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while start.elapsed() < budget || wall.len() < 20 {
        let (t, c) = (Instant::now(), thread_cpu());
        f();
        wall.push(t.elapsed().as_secs_f64());
        cpu.push((thread_cpu() - c).as_secs_f64());
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (wall[wall.len() / 2], cpu[cpu.len() / 2])
}

fn report(name: &str, (wall, cpu): (f64, f64), samples: usize) {
    println!(
        "{name:<28} {:>9.1} µs   {:>9.0} samples/s   cpu {:>9.1} µs",
        wall * 1e6,
        samples as f64 / wall,
        cpu * 1e6
    );
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

    let sgd = OptimizerKind::Sgd { momentum: 0.0, nesterov: false };
    let opt = Optimizer::new(sgd, 0.01, &net.tensor_sizes());
    net_cases(&run, budget, "", &mut net, &data, &labels, 128, opt);
    if ["cnn_train_step", "cnn_forward", "cnn_stats"].iter().any(|c| run(c)) {
        cnn_cases(&run, budget);
    }
    if run("mlp512_train_step") {
        // The mnist-mlp preset's net and batch (784-512-512-10, 64, SGD
        // momentum 0.9): its parts of 32 rows are where splitting costs most.
        let mut rng = StdRng::seed_from_u64(7);
        let mut net = Network::new(784, &[512, 512], 10, Activation::Relu, Init::Auto, &mut rng);
        let momentum = OptimizerKind::Sgd { momentum: 0.9, nesterov: false };
        let opt = Optimizer::new(momentum, 0.05, &net.tensor_sizes());
        net_cases(&|c: &str| c == "mlp512_train_step", budget, "mlp512_", &mut net, &data, &labels, 64, opt);
    }
}

/// The mnist-cnn preset's net on MNIST-sized inputs: a training step (batch
/// 64, SGD momentum 0.9), an eval pass (batch 1000), the layer statistics.
fn cnn_cases(run: &dyn Fn(&str) -> bool, budget: Duration) {
    let mut rng = StdRng::seed_from_u64(7);
    let specs = [
        ConvLayer::Conv { filters: 16, kernel: 3 },
        ConvLayer::MaxPool(2),
        ConvLayer::Conv { filters: 32, kernel: 3 },
        ConvLayer::MaxPool(2),
    ];
    let mut net = Network::with_conv((28, 28, 1), &specs, &[64], 10, Activation::Relu, Init::Auto, &mut rng)
        .expect("the mnist-cnn shapes fit");
    // Digit-like inputs: mostly zeros, a blob of ink in the middle.
    let data = Array2::from_shape_fn((1000, 784), |(i, j)| {
        let (y, x) = ((j / 28) as i32 - 14, (j % 28) as i32 - 14);
        let r = ((i * 7) % 5) as i32 + 6;
        if y * y + x * x < r * r && (i + j) % 3 != 0 { ((i * 31 + j) % 200) as f32 / 255.0 + 0.2 } else { 0.0 }
    });
    let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
    let momentum = OptimizerKind::Sgd { momentum: 0.9, nesterov: false };
    let opt = Optimizer::new(momentum, 0.05, &net.tensor_sizes());
    net_cases(run, budget, "cnn_", &mut net, &data, &labels, 64, opt);
}

/// The three cases of one net, named `{prefix}train_step`, `{prefix}forward`
/// and `{prefix}stats`: a training step of `batch` with `opt`, an eval pass
/// over the 1,000 inputs, the layer statistics on 256 of them.
#[allow(clippy::too_many_arguments)]
fn net_cases(
    run: &dyn Fn(&str) -> bool,
    budget: Duration,
    prefix: &str,
    net: &mut Network,
    data: &Array2<f32>,
    labels: &[u8],
    batch: usize,
    mut opt: Optimizer,
) {
    if run(&format!("{prefix}train_step")) {
        let mut runner = StepRunner::new(net, batch, 0);
        // The team always: the bench measures the two-thread step itself
        // (`FITCHECK_BENCH_ALONE=1`: both parts on the caller instead).
        let alone = std::env::var_os("FITCHECK_BENCH_ALONE").is_some_and(|v| v != "0");
        runner.pin(if alone { Mode::Alone } else { Mode::Team });
        let mut offset = 0;
        let t = median_time(budget, || {
            let start = offset;
            offset = (offset + batch) % (1000 - batch);
            black_box(runner.step(net, &mut opt, Penalty::default(), batch, |r, mut x, y| {
                let rows = start + r.start..start + r.end;
                x.slice_mut(s![..r.len(), ..]).assign(&data.slice(s![rows.clone(), ..]));
                y[..r.len()].copy_from_slice(&labels[rows]);
            }));
        });
        report(&format!("{prefix}train_step (batch {batch})"), t, batch);
    }
    if run(&format!("{prefix}forward")) {
        let mut ws = net.workspace(1000, 0);
        let t = median_time(budget, || {
            black_box(net.evaluate(data.view(), labels, &mut ws));
        });
        report(&format!("{prefix}forward eval (batch 1000)"), t, 1000);
    }
    if run(&format!("{prefix}stats")) {
        let grads = net.grads();
        let before: Vec<Array2<f32>> = net.layers().iter().map(|l| l.w.clone()).collect();
        let mut ws = net.workspace(256, 0);
        let t = median_time(budget, || {
            black_box(layer_stats(net, &grads, Some(&before), data.slice(s![..256, ..]), &mut ws));
        });
        report(&format!("{prefix}layer_stats (probe 256)"), t, 256);
    }
}
