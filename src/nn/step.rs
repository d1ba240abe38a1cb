//! The parallel training step. A batch is cut into [`PARTS`] fixed parts,
//! one replica each: a replica runs the whole forward and backward pass on
//! its part with single-threaded matrix products (`matmul::serial`), into
//! gradient buffers of its own. The parts' gradients are then summed and
//! the optimizer applied, each large tensor split across the threads. One
//! level of parallelism at a time, a handful of synchronisations per step,
//! no allocation.
//!
//! Which thread computes which part is the team's and the governor's call
//! (`team`, `governor`): both parts on the team's two threads, or both on
//! the caller alone when two threads are measured slower than one (the host
//! running both of the guest's CPUs on one core).
//!
//! Determinism: the parts depend only on the batch size and the network
//! (never on the thread count or the governor), each part is always
//! computed by the same code into the same replica, and the parts'
//! gradients and losses are summed in part order. So a seeded run gives the
//! same bits on one thread or two, and whatever the governor decides; the
//! dropout masks already did (each row's is drawn from its place in the
//! batch). The price: a step on one thread computes two half batches one
//! after the other, which costs more than one whole batch (each part reads
//! the full weights and writes a full weight gradient): measured +20% on
//! mnist-mlp's net (parts of 32 rows) until the backward pass stopped
//! multiplying by a transposed view (`network::times_transposed`), which
//! made one thread as fast as the whole batch was before (~21,000
//! samples/s both); the bench's 784-256-128-10 net (batch 128) stays 6.5%
//! slower on one thread and the convolutional net 3%. Two threads cost the
//! same as before (README, Determinism).

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use ndarray::{Array2, ArrayViewMut2, s};

use super::governor::{Governor, Mode};
use super::loss::LossSum;
use super::matmul;
use super::network::{Grads, Network, Workspace};
use super::optim::{Optimizer, Penalty};
use super::team::{Parts, Team};

/// The parts a splittable batch is cut into, whatever the number of threads
/// (fixed, so the result does not depend on it). Two: this machine has two
/// cores; more parts than threads cost (each part reads all the weights
/// and writes a whole gradient), and more threads than parts only help
/// with the update.
pub const PARTS: usize = 2;
/// Each part gets at least this many samples, or the batch is not split.
const MIN_ROWS_PER_PART: usize = 16;
/// A step with fewer multiply-adds than this (samples × parameters) runs
/// unsplit: for the tiny 2-D nets, a part costs more than it saves.
const MIN_PARALLEL_WORK: usize = 1 << 20;

/// One part's replica: its input, workspace and gradients.
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
    /// One per part ([`PARTS`]), whatever the team's size.
    replicas: Vec<Replica>,
    /// Shared by the runners of one trainer (a rebuilt runner, a fork's
    /// branch): they step one after the other on the trainer's thread, and
    /// a second team would only add helpers spinning on the same cores.
    team: Arc<Team>,
    batch: usize,
    table: Vec<TensorParts>,
    governor: Governor,
    last_threads: usize,
    /// The dropout masks' stream and the steps taken.
    seed: u64,
    steps: u64,
}

/// How many parts a batch of `n` samples is cut into for a network of
/// `params` parameters: a function of the batch and the network alone.
fn parts_for(n: usize, params: usize) -> usize {
    let big = n * params >= MIN_PARALLEL_WORK;
    if big && n >= MIN_ROWS_PER_PART * PARTS { PARTS } else { 1 }
}

impl StepRunner {
    /// Replicas for batches of up to `batch` samples, and a team of one
    /// thread per rayon thread (the machine's cores unless
    /// `RAYON_NUM_THREADS` says otherwise). `seed` drives the dropout masks
    /// (the same masks however the batch is split: see
    /// `Workspace::place_masks`).
    pub fn new(net: &Network, batch: usize, seed: u64) -> StepRunner {
        let threads = rayon::current_num_threads().max(1);
        StepRunner::new_on(net, batch, seed, Arc::new(Team::new(threads)))
    }

    /// [`StepRunner::new`] on an existing team.
    fn new_on(net: &Network, batch: usize, seed: u64, team: Arc<Team>) -> StepRunner {
        let share = batch.div_ceil(PARTS);
        let replicas = (0..PARTS)
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
            team,
            batch,
            table: Vec::new(),
            governor: Governor::from_env(),
            last_threads: 1,
            seed,
            steps: 0,
        }
    }

    /// Runs every split step in `mode` (no governor): for benchmarks of one
    /// way, and tests that the other gives the same bits.
    pub fn pin(&mut self, mode: Mode) {
        self.governor = Governor::fixed(mode);
    }

    /// A runner for a new shape or batch size that keeps this one's policy
    /// (governed or pinned); the governor's measurements start afresh.
    pub fn rebuilt(&self, net: &Network, batch: usize, seed: u64) -> StepRunner {
        let mut runner = StepRunner::new_on(net, batch, seed, self.team.clone());
        runner.governor = self.governor.policy();
        runner
    }

    /// A second runner for `net` (a copy of this runner's network, maybe
    /// changed) that draws the same dropout masks at the same steps: the
    /// same seed and step count, the same policy, the same team. A fork's
    /// branch steps with it in lockstep with this one.
    pub fn twin(&self, net: &Network) -> StepRunner {
        let mut runner = StepRunner::new_on(net, self.batch, self.seed, self.team.clone());
        runner.governor = self.governor.policy();
        runner.steps = self.steps;
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

    /// Steps taken: where the dropout masks' stream stands.
    pub fn steps_taken(&self) -> u64 {
        self.steps
    }

    /// Puts the masks' stream back to `steps` (steps trained on a copy of
    /// the network, as the range test does, leave the run's masks as they were).
    pub fn rewind(&mut self, steps: u64) {
        self.steps = steps;
    }

    /// The largest batch a step takes.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The gradients of the last step (summed over the parts).
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
        // The parts come from the batch and the network only; the governor
        // picks, from measured step times, whether the team computes them
        // or this thread alone (see `governor`). Either way the same parts.
        let parts = parts_for(n, net.parameter_count());
        let governed = parts > 1 && self.team.size() > 1;
        let mode = if governed { self.governor.mode() } else { Mode::Alone };
        let started = Instant::now();
        if governed && mode == Mode::Alone && self.last_threads > 1 {
            // Alone by the governor's choice (not a batch too small to
            // split): the caller runs on the least contended of the cores.
            self.team.caller_alone();
        }
        let members = if governed && mode == Mode::Team { self.team.size() } else { 1 };
        self.last_threads = members;
        let share = n.div_ceil(parts);
        let scale = 1.0 / n as f32;
        let (seed, step) = (self.seed, self.steps);
        self.steps += 1;
        let shared: &Network = net;
        let replicas = Parts::new(&mut self.replicas);
        // Member `m` of `members` computes parts m, m + members, ...: each
        // part into its own replica, so who computes it changes nothing.
        let backward = |m: usize| {
            for i in (m..parts).step_by(members) {
                // SAFETY: part i is computed by exactly one member, the only
                // one touching replica i.
                let r = unsafe { replicas.get(i) };
                let range = (i * share).min(n)..((i + 1) * share).min(n);
                let len = range.len();
                r.ws.place_masks(seed, step, range.start);
                fill(range, r.x.view_mut(), &mut r.y);
                let x = r.x.slice(s![..len, ..]);
                r.loss = matmul::serial(|| shared.backward(x, &r.y[..len], &mut r.ws, &mut r.grads, scale));
            }
        };
        if members > 1 {
            self.team.run(&backward)
        } else {
            backward(0)
        }
        // In part order, whoever computed them.
        let mut total = LossSum::default();
        for r in &self.replicas[..parts] {
            total.loss += r.loss.loss;
            total.correct += r.loss.correct;
        }

        // Sum the parts' gradients into replica 0's, in part order, and
        // update: member i takes part i of every tensor, in one fork. The
        // sum is elementwise, so how the tensors are cut between members
        // does not change it.
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
        if governed {
            self.governor.record(mode, started.elapsed().as_secs_f64() / n as f64);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::conv::ConvLayer;
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
                runner.pin(mode);
                assert_eq!(runner.replicas.len(), PARTS);
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

    /// How the steps of a run are computed.
    #[derive(Clone, Copy, Debug)]
    enum Schedule {
        /// Every step in one mode.
        Pinned(Mode),
        /// Team and alone in turn, as a governor switching at every step.
        Switching,
    }

    /// `steps` steps of `net` on `threads` threads, the last one on a short
    /// batch (61 of 64: parts of 31 and 30); returns the losses, correct
    /// counts and final weights, as bits.
    fn train(mut net: Network, kind: OptimizerKind, threads: usize, schedule: Schedule) -> Vec<u64> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let width = net.input_size();
            let x = Array2::from_shape_fn((64, width), |(i, j)| (((i * 13 + j * 7) % 17) as f32 / 17.0).powi(2));
            let y: Vec<u8> = (0..64).map(|i| (i % 3) as u8).collect();
            let mut opt = Optimizer::new(kind, 0.05, &net.tensor_sizes());
            let mut runner = StepRunner::new(&net, 64, 9);
            assert_eq!(runner.threads(), threads);
            let mut bits = Vec::new();
            for step in 0..6 {
                let mode = match schedule {
                    Schedule::Pinned(mode) => mode,
                    Schedule::Switching if step % 2 == 0 => Mode::Team,
                    Schedule::Switching => Mode::Alone,
                };
                runner.pin(mode);
                let n = if step == 5 { 61 } else { 64 };
                let pen = Penalty { l1: 0.0, l2: 1e-4 };
                let l = runner.step(&mut net, &mut opt, pen, n, |r, mut xo, yo| {
                    xo.slice_mut(s![..r.len(), ..]).assign(&x.slice(s![r.clone(), ..]));
                    yo[..r.len()].copy_from_slice(&y[r]);
                });
                let expected = if threads > 1 && mode == Mode::Team { threads } else { 1 };
                assert_eq!(runner.last_threads(), expected, "{schedule:?} step {step}");
                bits.extend([l.loss.to_bits(), l.correct as u64]);
            }
            bits.extend((0..net.tensor_count()).flat_map(|t| net.tensor_mut(t).to_vec()).map(|w| w.to_bits() as u64));
            bits
        })
    }

    /// The point of the fixed parts: a dense net with dropout and a
    /// convolutional net train to the same bits on one thread or two, split
    /// across the team, alone, or switching between the two at every step
    /// (what a governor does under load), short last batch included.
    #[test]
    fn the_same_bits_on_one_thread_or_two_and_whatever_the_mode() {
        let mut rng = StdRng::seed_from_u64(4);
        let mut mlp = Network::new(400, &[300, 64], 3, Activation::Tanh, Init::Auto, &mut rng);
        mlp.set_dropout(0.3);
        let specs = [
            ConvLayer::Conv { filters: 16, kernel: 3 },
            ConvLayer::MaxPool(2),
            ConvLayer::Conv { filters: 32, kernel: 3 },
            ConvLayer::MaxPool(2),
        ];
        let mut rng = StdRng::seed_from_u64(7);
        let cnn = Network::with_conv((20, 20, 1), &specs, &[64], 3, Activation::Relu, Init::Auto, &mut rng).unwrap();
        let adam = OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 };
        let momentum = OptimizerKind::Sgd { momentum: 0.9, nesterov: false };
        for (name, net, kind) in [("mlp", mlp, adam), ("cnn", cnn, momentum)] {
            // Big enough that every step is cut in two.
            assert_eq!(parts_for(61, net.parameter_count()), 2, "{name}");
            let reference = train(net.clone(), kind, 2, Schedule::Pinned(Mode::Team));
            for (threads, schedule) in
                [(2, Schedule::Pinned(Mode::Alone)), (2, Schedule::Switching), (1, Schedule::Pinned(Mode::Team))]
            {
                let got = train(net.clone(), kind, threads, schedule);
                let differ = reference.iter().zip(&got).filter(|(a, b)| a != b).count();
                assert!(differ == 0, "{name} on {threads} thread(s), {schedule:?}: {differ} values differ");
            }
        }
    }

    /// A convolutional step, split, lands within float rounding of the
    /// serial step on the whole batch (the parts' sums in another order).
    #[test]
    fn the_split_conv_step_matches_the_serial_step() {
        let specs = [
            ConvLayer::Conv { filters: 16, kernel: 3 },
            ConvLayer::MaxPool(2),
            ConvLayer::Conv { filters: 32, kernel: 3 },
        ];
        let mut rng = StdRng::seed_from_u64(7);
        let net = Network::with_conv((20, 20, 1), &specs, &[64], 3, Activation::Relu, Init::Auto, &mut rng).unwrap();
        let momentum = OptimizerKind::Sgd { momentum: 0.9, nesterov: false };
        let x = Array2::from_shape_fn((64, 400), |(i, j)| (((i * 13 + j * 7) % 17) as f32 / 17.0).powi(2));
        let y: Vec<u8> = (0..64).map(|i| (i % 3) as u8).collect();
        let (mut a, mut b) = (net.clone(), net);
        let mut opt_a = Optimizer::new(momentum, 0.05, &a.tensor_sizes());
        let mut opt_b = Optimizer::new(momentum, 0.05, &b.tensor_sizes());
        let mut runner = StepRunner::new(&a, 64, 0);
        let (mut ws, mut grads) = (b.workspace(64, 0), b.grads());
        for _ in 0..5 {
            let la = runner.step(&mut a, &mut opt_a, Penalty::default(), 64, |r, mut xo, yo| {
                xo.slice_mut(s![..r.len(), ..]).assign(&x.slice(s![r.clone(), ..]));
                yo[..r.len()].copy_from_slice(&y[r]);
            });
            let lb = b.train_step(x.view(), &y, &mut ws, &mut grads, &mut opt_b, Penalty::default());
            assert!((la.loss - lb.loss).abs() < 1e-3 * lb.loss.abs().max(1.0), "{} vs {}", la.loss, lb.loss);
        }
        let weights =
            |n: &mut Network| (0..n.tensor_count()).flat_map(|t| n.tensor_mut(t).to_vec()).collect::<Vec<_>>();
        let diff = weights(&mut a).iter().zip(&weights(&mut b)).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(diff < 1e-4, "split and serial weights differ by {diff}");
    }

    /// The parts depend on the batch and the network only.
    #[test]
    fn a_batch_is_cut_by_its_size_and_the_network_alone() {
        assert_eq!(parts_for(64, 1_000_000), PARTS);
        assert_eq!(parts_for(MIN_ROWS_PER_PART * PARTS - 1, 1_000_000), 1, "too few rows per part");
        assert_eq!(parts_for(64, 100), 1, "too little work to be worth a part");
    }
}
