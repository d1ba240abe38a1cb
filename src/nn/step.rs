//! The parallel training step. A batch is split across replicas, one per
//! thread of the rayon pool: each runs the whole forward and backward pass
//! on its share with single-threaded matrix products (`matmul::serial`),
//! into gradient
//! buffers of its own. The shares' gradients are then summed and the
//! optimizer applied, each large tensor split across the threads. One level
//! of parallelism at a time, a handful of synchronisations per step, no
//! allocation.
//!
//! Whether a step is split at all is the governor's call (`governor`): when
//! two threads are measured slower than one — the host running both of the
//! guest's CPUs on one core — steps run as one replica on the caller.
//!
//! Determinism: for a given thread count and a fixed split
//! ([`StepRunner::fix_split`], `FITCHECK_GOVERNOR=0`) the order of the
//! sums is fixed, so runs repeat exactly; a different thread count
//! (`RAYON_NUM_THREADS`) or a governor's switch changes the summation order
//! and so the last bits.

use std::ops::Range;
use std::time::Instant;

use ndarray::{Array2, ArrayViewMut2, s};

use super::governor::{Governor, Mode};
use super::loss::LossSum;
use super::matmul;
use super::network::{Grads, Network, Workspace};
use super::optim::{Optimizer, Penalty};
use super::team::{Parts, Team};

/// Each replica gets at least this many samples, or the batch is not split.
const MIN_ROWS_PER_REPLICA: usize = 16;
/// A step with fewer multiply-adds than this (samples × parameters) runs on
/// one thread: for the tiny 2-D nets, a fork costs more than it saves.
const MIN_PARALLEL_WORK: usize = 1 << 20;

/// One thread's share of a step: its input, workspace and gradients.
pub struct Replica {
    x: Array2<f32>,
    y: Vec<u8>,
    ws: Workspace,
    grads: Grads,
    loss: LossSum,
}

/// Raw views of one parameter tensor and what updates it, rebuilt at every
/// step (the buffers may be replaced between steps).
#[derive(Clone, Copy)]
struct TensorParts {
    param: Parts<f32>,
    grad: Parts<f32>,
    s1: Parts<f32>,
    s2: Parts<f32>,
    weights: bool,
}

pub struct StepRunner {
    replicas: Vec<Replica>,
    team: Team,
    batch: usize,
    table: Vec<TensorParts>,
    governor: Governor,
    last_threads: usize,
    /// The dropout masks' stream and the steps taken.
    seed: u64,
    steps: u64,
}

impl StepRunner {
    /// Replicas for batches of up to `batch` samples, one per rayon thread
    /// (the machine's cores unless `RAYON_NUM_THREADS` says otherwise).
    /// `seed` drives the dropout masks (the same masks however the batch is
    /// split: see `Workspace::place_masks`).
    pub fn new(net: &Network, batch: usize, seed: u64) -> StepRunner {
        let threads = rayon::current_num_threads().max(1);
        let share = batch.div_ceil(threads);
        let replicas = (0..threads)
            .map(|i| {
                // Replica 0 can take a whole batch, for batches too small to split.
                let cap = if i == 0 { batch } else { share };
                Replica {
                    x: Array2::zeros((cap, net.input_size())),
                    y: vec![0; cap],
                    ws: net.workspace(cap, seed),
                    grads: net.grads(),
                    loss: LossSum::default(),
                }
            })
            .collect();
        StepRunner {
            replicas,
            team: Team::new(threads),
            batch,
            table: Vec::new(),
            governor: Governor::from_env(),
            last_threads: 1,
            seed,
            steps: 0,
        }
    }

    /// Keeps every splittable step on the whole team (no governor): runs
    /// repeat bit for bit.
    pub fn fix_split(&mut self) {
        self.governor = Governor::new(false);
    }

    /// A runner for a new shape or batch size that keeps this one's policy
    /// (governed or fixed); the governor's measurements start afresh.
    pub fn rebuilt(&self, net: &Network, batch: usize, seed: u64) -> StepRunner {
        let mut runner = StepRunner::new(net, batch, seed);
        if !self.governor.adaptive() {
            runner.fix_split();
        }
        runner
    }

    /// Threads in the step's team.
    pub fn threads(&self) -> usize {
        self.team.size()
    }

    /// Threads the last step ran on: the team's size, or 1 (alone, or too
    /// small to split).
    pub fn last_threads(&self) -> usize {
        self.last_threads
    }

    /// The largest batch a step takes.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The gradients of the last step (summed over the replicas).
    pub fn grads(&self) -> &Grads {
        &self.replicas[0].grads
    }

    /// One training step on a batch of `n <= batch` samples. `fill(range, x,
    /// y)` writes samples `range` of the batch into the first rows of `x`
    /// and `y`. Returns the summed data loss and correct count.
    pub fn step<F>(&mut self, net: &mut Network, opt: &mut Optimizer, penalty: Penalty, n: usize, fill: F) -> LossSum
    where
        F: Fn(Range<usize>, ArrayViewMut2<f32>, &mut [u8]) + Sync,
    {
        assert!(n > 0 && n <= self.batch, "batch of {n} outside 1..={}", self.batch);
        let big = n * net.parameter_count() >= MIN_PARALLEL_WORK;
        let splittable = big && n >= MIN_ROWS_PER_REPLICA * self.replicas.len() && self.replicas.len() > 1;
        // The governor picks, from measured step times, whether this step
        // runs split or on this thread alone (see `governor`).
        let mode = if splittable { self.governor.mode() } else { Mode::Alone };
        let started = Instant::now();
        let parts = if mode == Mode::Team { self.replicas.len() } else { 1 };
        if splittable && parts == 1 && self.last_threads > 1 {
            // Alone by the governor's choice (not a batch too small to
            // split): the caller runs on the least contended of the cores.
            self.team.caller_alone();
        }
        self.last_threads = if parts > 1 { self.team.size() } else { 1 };
        let share = n.div_ceil(parts);
        let scale = 1.0 / n as f32;
        let (seed, step) = (self.seed, self.steps);
        self.steps += 1;
        let shared: &Network = net;
        let replicas = Parts::new(&mut self.replicas);
        let backward = |i: usize| {
            if i >= parts {
                return;
            }
            // SAFETY: member i is the only one touching replica i.
            let r = unsafe { replicas.get(i) };
            let range = (i * share).min(n)..((i + 1) * share).min(n);
            let len = range.len();
            r.ws.place_masks(seed, step, range.start);
            fill(range, r.x.view_mut(), &mut r.y);
            let x = r.x.slice(s![..len, ..]);
            r.loss = matmul::serial(|| shared.backward(x, &r.y[..len], &mut r.ws, &mut r.grads, scale));
        };
        if parts > 1 {
            self.team.run(&backward)
        } else {
            backward(0)
        }
        let mut total = LossSum::default();
        for r in &self.replicas[..parts] {
            total.loss += r.loss.loss;
            total.correct += r.loss.correct;
        }

        // Sum the replicas' gradients into replica 0's and update: member i
        // takes part i of every tensor, in one fork.
        let rule = opt.begin_step();
        let (first, others) = self.replicas.split_at_mut(1);
        let others = &others[..parts - 1];
        self.table.clear();
        for t in 0..net.tensor_count() {
            let param = Parts::new(net.tensor_mut(t));
            let grad = Parts::new(first[0].grads.tensor_mut(t));
            let (s1, s2) = opt.state_mut(t);
            self.table.push(TensorParts { param, grad, s1: Parts::new(s1), s2: Parts::new(s2), weights: t % 2 == 0 });
        }
        let table = &self.table;
        // Small steps update on this thread alone, like their backward pass.
        let members = if parts > 1 { self.team.size() } else { 1 };
        let update = |i: usize| {
            if i >= members {
                return;
            }
            for (t, tp) in table.iter().enumerate() {
                // SAFETY: member i touches only part i of each buffer, and
                // nothing else uses them during this run.
                let (param, grad) = unsafe { (tp.param.part(i, members), tp.grad.part(i, members)) };
                let (s1, s2) = unsafe { (tp.s1.part(i, members), tp.s2.part(i, members)) };
                let start = super::team::split_range(tp.param.len(), i, members).0;
                for r in others {
                    let other = &r.grads.tensor(t)[start..start + grad.len()];
                    grad.iter_mut().zip(other).for_each(|(a, &b)| *a += b);
                }
                rule.apply(param, grad, s1, s2, tp.weights.then_some(penalty));
            }
        };
        if members > 1 {
            self.team.run(&update)
        } else {
            update(0)
        }
        self.table.clear();
        if splittable {
            self.governor.record(mode, started.elapsed().as_secs_f64() / n as f64);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Activation, Init, OptimizerKind};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// The parallel step computes the same update as the serial one (up to
    /// the order of float sums), split across the team or, as the governor
    /// may choose, on the caller alone — with dropout too: each row's mask
    /// comes from its position in the batch, not from the replica, so the
    /// serial pass (same seed) draws the same masks.
    #[test]
    fn parallel_step_matches_the_serial_step() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| {
            for mode in [Mode::Team, Mode::Alone] {
                let mut rng = StdRng::seed_from_u64(4);
                let mut a = Network::new(20, &[300, 64], 5, Activation::Tanh, Init::Auto, &mut rng);
                a.set_dropout(0.3);
                let mut b = a.clone();
                let x = Array2::from_shape_fn((64, 20), |(i, j)| ((i * 5 + j * 11) as f32 * 0.13).cos());
                let y: Vec<u8> = (0..64).map(|i| (i % 5) as u8).collect();
                let kind = OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 };
                let mut opt_a = Optimizer::new(kind, 0.01, &a.tensor_sizes());
                let mut opt_b = Optimizer::new(kind, 0.01, &b.tensor_sizes());
                let pen = Penalty { l1: 1e-4, l2: 1e-3 };
                let mut runner = StepRunner::new(&a, 64, 0);
                runner.governor = Governor::pinned(mode);
                assert_eq!(runner.replicas.len(), 2);
                let (mut ws, mut grads) = (b.workspace(64, 0), b.grads());
                for _ in 0..3 {
                    let la = runner.step(&mut a, &mut opt_a, pen, 64, |r, mut xo, yo| {
                        xo.slice_mut(s![..r.len(), ..]).assign(&x.slice(s![r.clone(), ..]));
                        yo[..r.len()].copy_from_slice(&y[r]);
                    });
                    let lb = b.train_step(x.view(), &y, &mut ws, &mut grads, &mut opt_b, pen);
                    assert_eq!(runner.last_threads(), if mode == Mode::Team { 2 } else { 1 });
                    assert!((la.loss - lb.loss).abs() < 1e-4, "{} vs {}", la.loss, lb.loss);
                    assert_eq!(la.correct, lb.correct);
                }
                for (la, lb) in a.layers().iter().zip(b.layers()) {
                    let diff = (&la.w - &lb.w).iter().fold(0.0f32, |m, d| m.max(d.abs()));
                    // Adam divides by √v, so summation-order differences in tiny
                    // gradients show at ~0.1% of a step (lr 0.01).
                    assert!(diff < 5e-5, "{mode:?}: weights differ by {diff}");
                }
            }
        });
    }

    /// A convolutional net trained twice from the same seed, on two threads,
    /// ends with the same weights and accuracy bit for bit (the parts of a
    /// step may run on either thread, but each always computes the same
    /// share), and within float rounding of the serial step.
    #[test]
    fn the_same_seed_trains_the_same_conv_net() {
        use crate::nn::conv::ConvLayer;
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| {
            let specs = [
                ConvLayer::Conv { filters: 16, kernel: 3 },
                ConvLayer::MaxPool(2),
                ConvLayer::Conv { filters: 32, kernel: 3 },
                ConvLayer::MaxPool(2),
            ];
            let x = Array2::from_shape_fn((64, 400), |(i, j)| (((i * 13 + j * 7) % 17) as f32 / 17.0).powi(2));
            let y: Vec<u8> = (0..64).map(|i| (i % 3) as u8).collect();
            let kind = OptimizerKind::Sgd { momentum: 0.9, nesterov: false };
            let train = |parallel: bool| {
                let mut rng = StdRng::seed_from_u64(7);
                let mut net =
                    Network::with_conv((20, 20, 1), &specs, &[64], 3, Activation::Relu, Init::Auto, &mut rng).unwrap();
                let mut opt = Optimizer::new(kind, 0.05, &net.tensor_sizes());
                let mut runner = StepRunner::new(&net, 64, 0);
                runner.fix_split();
                // Big enough that the step splits the batch across both threads.
                assert!(64 * net.parameter_count() >= MIN_PARALLEL_WORK);
                let (mut ws, mut grads) = (net.workspace(64, 0), net.grads());
                for _ in 0..5 {
                    if parallel {
                        runner.step(&mut net, &mut opt, Penalty::default(), 64, |r, mut xo, yo| {
                            xo.slice_mut(s![..r.len(), ..]).assign(&x.slice(s![r.clone(), ..]));
                            yo[..r.len()].copy_from_slice(&y[r]);
                        });
                    } else {
                        net.train_step(x.view(), &y, &mut ws, &mut grads, &mut opt, Penalty::default());
                    }
                }
                let eval = net.evaluate(x.view(), &y, &mut ws);
                let weights: Vec<f32> = (0..net.tensor_count()).flat_map(|t| net.tensor_mut(t).to_vec()).collect();
                (eval, weights)
            };
            let (a, wa) = train(true);
            let (b, wb) = train(true);
            assert_eq!(a, b, "same seed, same accuracy and loss");
            assert!(wa.iter().zip(&wb).all(|(p, q)| p.to_bits() == q.to_bits()), "same weights bit for bit");
            let (c, wc) = train(false);
            assert!((a.loss - c.loss).abs() < 1e-3 * c.loss.abs().max(1.0), "{} vs {}", a.loss, c.loss);
            let diff = wa.iter().zip(&wc).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
            assert!(diff < 1e-4, "parallel and serial weights differ by {diff}");
        });
    }
}
