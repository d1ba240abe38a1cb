//! Optimizers and the L1/L2 penalties they fold into the gradient.
//!
//! Each parameter tensor has an index; the optimizer keeps its per-tensor
//! state (velocity, moments) in buffers allocated once, so a step allocates
//! nothing. Update rules (g = gradient + penalty gradient, η = learning rate):
//! - SGD: `v = μ v + g`; classic `θ -= η v`, Nesterov `θ -= η (g + μ v)`
//!   (PyTorch's formulation; μ = 0 is plain SGD).
//! - Adagrad: `s += g²; θ -= η g / (√s + 1e-10)`.
//! - RMSProp: `s = ρ s + (1-ρ) g²; θ -= η g / (√s + 1e-8)`.
//! - Adam: `m = β1 m + (1-β1) g; v = β2 v + (1-β2) g²;
//!   θ -= η m̂ / (√v̂ + 1e-8)` with bias-corrected `m̂, v̂`.
//!
//! Penalties (weights only, never biases): `l1 Σ|w|` adds `l1 sign(w)`,
//! `(l2 / 2) Σw²` adds `l2 w` (PyTorch's `weight_decay`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum OptimizerKind {
    Sgd { momentum: f32, nesterov: bool },
    Adam { beta1: f32, beta2: f32 },
    RmsProp { rho: f32 },
    Adagrad,
}

impl OptimizerKind {
    /// Short display name.
    pub fn label(&self) -> String {
        match *self {
            OptimizerKind::Sgd { momentum, nesterov } if momentum > 0.0 => {
                format!("SGD+{}m {momentum}", if nesterov { "N" } else { "" })
            }
            OptimizerKind::Sgd { .. } => "SGD".to_string(),
            OptimizerKind::Adam { .. } => "Adam".to_string(),
            OptimizerKind::RmsProp { .. } => "RMSProp".to_string(),
            OptimizerKind::Adagrad => "Adagrad".to_string(),
        }
    }

    fn slots(&self) -> usize {
        match *self {
            OptimizerKind::Sgd { momentum: 0.0, .. } => 0,
            OptimizerKind::Adam { .. } => 2,
            _ => 1,
        }
    }
}

/// L1 and L2 penalty strengths.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Penalty {
    pub l1: f32,
    pub l2: f32,
}

impl Penalty {
    /// The penalty's value over one weight tensor (reported apart from the data loss).
    pub fn value(&self, w: &[f32]) -> f64 {
        if self.l1 == 0.0 && self.l2 == 0.0 {
            return 0.0;
        }
        let (mut abs, mut sq) = (0.0f64, 0.0f64);
        for &x in w {
            abs += x.abs() as f64;
            sq += (x * x) as f64;
        }
        self.l1 as f64 * abs + 0.5 * self.l2 as f64 * sq
    }
}

/// `Clone`: a fork's branch starts from a copy of the run's optimizer state, and
/// the learning-rate range test trains a copy and puts this one back.
#[derive(Clone)]
pub struct Optimizer {
    kind: OptimizerKind,
    lr: f32,
    /// Steps taken (Adam's bias correction).
    t: i32,
    /// Per tensor: the first and second state buffers (empty when unused).
    state: Vec<(Vec<f32>, Vec<f32>)>,
}

/// Everything one step's update needs besides the slices: the rule with
/// this step's learning rate and bias corrections. `Copy`, so threads that
/// update disjoint parts of a tensor each hold one.
#[derive(Clone, Copy, Debug)]
pub struct StepRule {
    kind: OptimizerKind,
    lr: f32,
    /// Adam's bias corrections `1 - β1^t`, `1 - β2^t`.
    c1: f32,
    c2: f32,
}

impl Optimizer {
    /// An optimizer for tensors of the given lengths, with fresh state.
    pub fn new(kind: OptimizerKind, lr: f32, sizes: &[usize]) -> Self {
        let slots = kind.slots();
        let buf = |n: usize, used: bool| if used { vec![0.0; n] } else { Vec::new() };
        let state = sizes.iter().map(|&n| (buf(n, slots >= 1), buf(n, slots >= 2))).collect();
        Optimizer { kind, lr, t: 0, state }
    }

    pub fn kind(&self) -> OptimizerKind {
        self.kind
    }

    pub fn learning_rate(&self) -> f32 {
        self.lr
    }

    /// Takes effect at the next step; the optimizer's state is kept.
    pub fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }

    /// Call once per training step, before that step's updates.
    pub fn begin_step(&mut self) -> StepRule {
        self.t = self.t.saturating_add(1);
        let (c1, c2) = match self.kind {
            OptimizerKind::Adam { beta1, beta2 } => (1.0 - beta1.powi(self.t), 1.0 - beta2.powi(self.t)),
            _ => (1.0, 1.0),
        };
        StepRule { kind: self.kind, lr: self.lr, c1, c2 }
    }

    /// The state buffers of tensor `index` (each empty or of the tensor's length).
    pub fn state_mut(&mut self, index: usize) -> (&mut [f32], &mut [f32]) {
        let (a, b) = &mut self.state[index];
        (a, b)
    }

    /// One step's update of tensor `index` (after `begin_step`). `penalty`
    /// is `None` for biases.
    pub fn update(&mut self, rule: &StepRule, index: usize, param: &mut [f32], grad: &[f32], penalty: Option<Penalty>) {
        let (s1, s2) = self.state_mut(index);
        rule.apply(param, grad, s1, s2, penalty);
    }
}

impl StepRule {
    /// Updates `param` from `grad` and the matching parts of the state
    /// buffers (`s1`, `s2` empty when the rule keeps no such state).
    pub fn apply(&self, param: &mut [f32], grad: &[f32], s1: &mut [f32], s2: &mut [f32], penalty: Option<Penalty>) {
        debug_assert_eq!(param.len(), grad.len());
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.apply_avx2(param, grad, s1, s2, penalty) };
        }
        self.apply_any(param, grad, s1, s2, penalty)
    }

    /// The same loops compiled for AVX2 (8 lanes; no FMA contraction, so
    /// the results are bit-identical to the baseline build's).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn apply_avx2(&self, param: &mut [f32], grad: &[f32], s1: &mut [f32], s2: &mut [f32], p: Option<Penalty>) {
        self.apply_any(param, grad, s1, s2, p)
    }

    #[inline(always)]
    fn apply_any(&self, param: &mut [f32], grad: &[f32], s1: &mut [f32], s2: &mut [f32], penalty: Option<Penalty>) {
        match penalty {
            // Monomorphised: without a penalty the loops are plain vector code.
            Some(p) if p.l1 != 0.0 || p.l2 != 0.0 => self.apply_with::<true>(param, grad, s1, s2, p),
            _ => self.apply_with::<false>(param, grad, s1, s2, Penalty::default()),
        }
    }

    #[inline(always)]
    fn apply_with<const PENALTY: bool>(
        &self,
        param: &mut [f32],
        grad: &[f32],
        s1: &mut [f32],
        s2: &mut [f32],
        p: Penalty,
    ) {
        let reg = move |g: f32, w: f32| {
            if PENALTY { g + p.l2 * w + p.l1 * w.signum() * f32::from(w != 0.0) } else { g }
        };
        let lr = self.lr;
        // Indexed loops over slices cut to one length: these vectorize,
        // where zips of four iterators did not (Adam's update was half of a
        // small network's step).
        let n = param.len();
        let g = &grad[..n];
        match self.kind {
            OptimizerKind::Sgd { momentum: 0.0, .. } => {
                for i in 0..n {
                    param[i] -= lr * reg(g[i], param[i]);
                }
            }
            OptimizerKind::Sgd { momentum, nesterov } => {
                let v = &mut s1[..n];
                for i in 0..n {
                    let gi = reg(g[i], param[i]);
                    v[i] = momentum * v[i] + gi;
                    param[i] -= lr * if nesterov { gi + momentum * v[i] } else { v[i] };
                }
            }
            OptimizerKind::Adagrad => {
                let acc = &mut s1[..n];
                for i in 0..n {
                    let gi = reg(g[i], param[i]);
                    acc[i] += gi * gi;
                    param[i] -= lr * gi / (acc[i].sqrt() + 1e-10);
                }
            }
            OptimizerKind::RmsProp { rho } => {
                let acc = &mut s1[..n];
                for i in 0..n {
                    let gi = reg(g[i], param[i]);
                    acc[i] = rho * acc[i] + (1.0 - rho) * gi * gi;
                    param[i] -= lr * gi / (acc[i].sqrt() + 1e-8);
                }
            }
            OptimizerKind::Adam { beta1, beta2 } => {
                // Reciprocals of the bias corrections: one division per element, not three.
                let (ic1, ic2) = (1.0 / self.c1, 1.0 / self.c2);
                let (m, v) = (&mut s1[..n], &mut s2[..n]);
                for i in 0..n {
                    let gi = reg(g[i], param[i]);
                    m[i] = beta1 * m[i] + (1.0 - beta1) * gi;
                    v[i] = beta2 * v[i] + (1.0 - beta2) * gi * gi;
                    param[i] -= lr * (m[i] * ic1) / ((v[i] * ic2).sqrt() + 1e-8);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: OptimizerKind, lr: f32, grads: &[[f32; 2]]) -> [f32; 2] {
        let mut opt = Optimizer::new(kind, lr, &[2]);
        let mut w = [1.0f32, -2.0];
        for g in grads {
            let rule = opt.begin_step();
            opt.update(&rule, 0, &mut w, g, None);
        }
        w
    }

    fn close(a: [f32; 2], b: [f64; 2]) {
        for i in 0..2 {
            assert!((a[i] as f64 - b[i]).abs() < 1e-5, "got {a:?}, want {b:?}");
        }
    }

    // Reference values: three steps of the gradients G on w = [1, -2], computed in
    // float64 by `tests/reference/optim_reference.py`, written from the published
    // update rules independently of this file.
    const G: [[f32; 2]; 3] = [[0.5, -1.0], [0.2, 0.3], [-0.4, 0.1]];

    #[test]
    fn sgd_plain_and_momentum_match_reference_values() {
        close(run(OptimizerKind::Sgd { momentum: 0.0, nesterov: false }, 0.1, &G), [0.97, -1.94]);
        // v1 = g1, v2 = 0.9 v1 + g2, v3 = 0.9 v2 + g3; w -= 0.1 (v1 + v2 + v3).
        close(run(OptimizerKind::Sgd { momentum: 0.9, nesterov: false }, 0.1, &G), [0.8665, -1.796]);
        // Nesterov: w -= 0.1 (g_t + 0.9 v_t).
        close(run(OptimizerKind::Sgd { momentum: 0.9, nesterov: true }, 0.1, &G), [0.84985, -1.7564]);
    }

    #[test]
    fn adaptive_optimizers_match_reference_values() {
        close(run(OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 }, 0.01, &G), [0.979251, -1.983039]);
        close(run(OptimizerKind::Adagrad, 0.1, &G), [0.922489, -1.938269]);
        close(run(OptimizerKind::RmsProp { rho: 0.9 }, 0.01, &G), [0.976129, -1.981243]);
    }

    #[test]
    fn l2_penalty_adds_weight_decay_to_the_gradient() {
        let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: 0.0, nesterov: false }, 0.1, &[1]);
        let mut w = [2.0f32];
        let rule = opt.begin_step();
        opt.update(&rule, 0, &mut w, &[0.0], Some(Penalty { l1: 0.0, l2: 0.5 }));
        assert!((w[0] - (2.0 - 0.1 * 0.5 * 2.0)).abs() < 1e-6);
        let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: 0.0, nesterov: false }, 0.1, &[1]);
        let rule = opt.begin_step();
        opt.update(&rule, 0, &mut w, &[0.0], Some(Penalty { l1: 1.0, l2: 0.0 }));
        assert!((w[0] - (1.9 - 0.1)).abs() < 1e-6);
    }
}
