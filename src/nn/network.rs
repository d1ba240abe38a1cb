//! A multilayer perceptron: dense layers `a_l = f(a_{l-1} W_l + b_l)` with
//! one hidden activation `f` and linear logits at the end, trained with the
//! fused softmax cross-entropy of [`super::loss`].
//!
//! Shapes: a batch is `[n, features]` row-major; `W_l` is `[in, out]`, so the
//! forward product is `x · W` and the backward ones are
//! `dW = a_{l-1}ᵀ · δ_l`, `db = Σ_rows δ_l`, `δ_{l-1} = (δ_l · W_lᵀ) ⊙ f'(a_{l-1})`.
//! Every buffer a step needs lives in a [`Workspace`] sized once for the
//! largest batch, so the steady-state step allocates nothing.

use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use rand::Rng;

use super::loss::{LossSum, softmax_cross_entropy};
use super::matmul::matmul;
use super::optim::{Optimizer, Penalty};
use super::{Activation, Init};

/// One dense layer: `W` is `[in, out]`, `b` is `[out]`.
#[derive(Clone, Debug)]
pub struct Dense {
    pub w: Array2<f32>,
    pub b: Array1<f32>,
}

#[derive(Clone, Debug)]
pub struct Network {
    layers: Vec<Dense>,
    activation: Activation,
    grad_w: Vec<Array2<f32>>,
    grad_b: Vec<Array1<f32>>,
}

/// Per-batch buffers: each layer's output and its gradient, `[capacity, out]`.
#[derive(Debug)]
pub struct Workspace {
    capacity: usize,
    acts: Vec<Array2<f32>>,
    deltas: Vec<Array2<f32>>,
}

impl Workspace {
    /// The largest batch this workspace holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Network {
    /// A freshly initialised `input -> hidden... -> outputs` network.
    pub fn new(
        input: usize,
        hidden: &[usize],
        outputs: usize,
        activation: Activation,
        init: Init,
        rng: &mut impl Rng,
    ) -> Self {
        let mut sizes = vec![input];
        sizes.extend_from_slice(hidden);
        sizes.push(outputs);
        let layers: Vec<Dense> = sizes
            .windows(2)
            .enumerate()
            .map(|(i, io)| {
                // The output layer feeds softmax, not `activation`: Glorot suits it.
                let act = if i + 2 == sizes.len() { Activation::Linear } else { activation };
                let init = if i + 2 == sizes.len() { Init::Glorot } else { init };
                Dense { w: init.weights(act, io[0], io[1], rng), b: Array1::zeros(io[1]) }
            })
            .collect();
        Self::from_layers(layers, activation)
    }

    /// A network with the given layers (weights `[in, out]`, chained).
    pub fn from_layers(layers: Vec<Dense>, activation: Activation) -> Self {
        for pair in layers.windows(2) {
            assert_eq!(pair[0].w.ncols(), pair[1].w.nrows(), "layer widths must chain");
        }
        let grad_w = layers.iter().map(|l| Array2::zeros(l.w.dim())).collect();
        let grad_b = layers.iter().map(|l| Array1::zeros(l.b.len())).collect();
        Network { layers, activation, grad_w, grad_b }
    }

    pub fn layers(&self) -> &[Dense] {
        &self.layers
    }

    pub fn activation(&self) -> Activation {
        self.activation
    }

    pub fn input_size(&self) -> usize {
        self.layers[0].w.nrows()
    }

    pub fn output_size(&self) -> usize {
        self.layers[self.layers.len() - 1].w.ncols()
    }

    /// Widths of the hidden layers.
    pub fn hidden(&self) -> Vec<usize> {
        self.layers[..self.layers.len() - 1].iter().map(|l| l.w.ncols()).collect()
    }

    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(|l| l.w.len() + l.b.len()).sum()
    }

    /// Lengths of the parameter tensors in optimizer order: `W0, b0, W1, b1, ...`.
    pub fn tensor_sizes(&self) -> Vec<usize> {
        self.layers.iter().flat_map(|l| [l.w.len(), l.b.len()]).collect()
    }

    /// Buffers for batches of up to `capacity` samples.
    pub fn workspace(&self, capacity: usize) -> Workspace {
        let widths = self.layers.iter().map(|l| l.w.ncols());
        Workspace {
            capacity,
            acts: widths.clone().map(|w| Array2::zeros((capacity, w))).collect(),
            deltas: widths.map(|w| Array2::zeros((capacity, w))).collect(),
        }
    }

    /// Runs the batch `x` (`[n, input]`, `n <= capacity`) forward; returns the logits.
    pub fn forward<'w>(&self, x: ArrayView2<f32>, ws: &'w mut Workspace) -> ArrayView2<'w, f32> {
        let n = x.nrows();
        assert!(n <= ws.capacity, "batch of {n} exceeds workspace capacity {}", ws.capacity);
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, after) = ws.acts.split_at_mut(l);
            let input = if l == 0 { x } else { before[l - 1].slice(s![..n, ..]) };
            let mut out = after[0].slice_mut(s![..n, ..]);
            matmul(input, layer.w.view(), out.view_mut(), false);
            // Bias and activation fused into one pass over the output.
            let act = if l == last { Activation::Linear } else { self.activation };
            let b = layer.b.as_slice().expect("bias is contiguous");
            for mut row in out.rows_mut() {
                let row = row.as_slice_mut().expect("rows are contiguous");
                match act {
                    Activation::Linear => row.iter_mut().zip(b).for_each(|(z, &b)| *z += b),
                    Activation::Relu => row.iter_mut().zip(b).for_each(|(z, &b)| *z = (*z + b).max(0.0)),
                    act => row.iter_mut().zip(b).for_each(|(z, &b)| *z = act.f(*z + b)),
                }
            }
        }
        ws.acts[last].slice(s![..n, ..])
    }

    /// Loss and accuracy of a batch without training (eval mode).
    pub fn evaluate(&self, x: ArrayView2<f32>, labels: &[u8], ws: &mut Workspace) -> LossSum {
        let logits = self.forward(x, ws);
        softmax_cross_entropy(logits, labels, None, 1.0)
    }

    /// Forward, backward and the gradients of the mean loss over the batch,
    /// left in the network's gradient buffers. Returns the summed data loss.
    pub fn backward(&mut self, x: ArrayView2<f32>, labels: &[u8], ws: &mut Workspace) -> LossSum {
        let n = x.nrows();
        let last = self.layers.len() - 1;
        self.forward(x, ws);
        let sum = {
            let logits = ws.acts[last].slice(s![..n, ..]);
            let grad = ws.deltas[last].slice_mut(s![..n, ..]);
            softmax_cross_entropy(logits, labels, Some(grad), 1.0 / n as f32)
        };
        for l in (0..=last).rev() {
            let input = if l == 0 { x } else { ws.acts[l - 1].slice(s![..n, ..]) };
            let (before, after) = ws.deltas.split_at_mut(l);
            let delta = after[0].slice(s![..n, ..]);
            matmul(input.t(), delta, self.grad_w[l].view_mut(), false);
            let gb = &mut self.grad_b[l];
            gb.fill(0.0);
            for row in delta.rows() {
                gb.iter_mut().zip(row).for_each(|(g, &d)| *g += d);
            }
            if l > 0 {
                let mut prev = before[l - 1].slice_mut(s![..n, ..]);
                matmul(delta, self.layers[l].w.t(), prev.view_mut(), false);
                let act = self.activation;
                let a_prev = ws.acts[l - 1].slice(s![..n, ..]);
                // δ_{l-1} ⊙= f'(a_{l-1}), with f' written through the outputs.
                ndarray::Zip::from(&mut prev).and(&a_prev).for_each(|d, &a| *d *= act.df_from_output(a));
            }
        }
        sum
    }

    /// One optimizer step from the gradients left by [`Network::backward`].
    pub fn apply_gradients(&mut self, opt: &mut Optimizer, penalty: Penalty) {
        opt.begin_step();
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let w = layer.w.as_slice_mut().expect("weights are contiguous");
            let gw = self.grad_w[l].as_slice().expect("grads are contiguous");
            opt.update(2 * l, w, gw, Some(penalty));
            let b = layer.b.as_slice_mut().expect("bias is contiguous");
            let gb = self.grad_b[l].as_slice().expect("grads are contiguous");
            opt.update(2 * l + 1, b, gb, None);
        }
    }

    /// A full training step on one batch. Returns the summed data loss and correct count.
    pub fn train_step(
        &mut self,
        x: ArrayView2<f32>,
        labels: &[u8],
        ws: &mut Workspace,
        opt: &mut Optimizer,
        penalty: Penalty,
    ) -> LossSum {
        let sum = self.backward(x, labels, ws);
        self.apply_gradients(opt, penalty);
        sum
    }

    /// The L1/L2 penalty of the current weights (reported apart from the data loss).
    pub fn penalty_value(&self, penalty: Penalty) -> f64 {
        self.layers.iter().map(|l| penalty.value(l.w.as_slice().expect("contiguous"))).sum()
    }

    /// Gradients of the last `backward` (weights, biases) per layer.
    pub fn gradients(&self) -> impl Iterator<Item = (&Array2<f32>, &Array1<f32>)> {
        self.grad_w.iter().zip(self.grad_b.iter())
    }

    /// Mean of each output over a batch, `[outputs]` (for tests and probes).
    pub fn mean_logits(&self, x: ArrayView2<f32>, ws: &mut Workspace) -> Array1<f32> {
        self.forward(x, ws).mean_axis(Axis(0)).expect("non-empty batch")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::OptimizerKind;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn sample_batch(n: usize, d: usize) -> (Array2<f32>, Vec<u8>) {
        let x = Array2::from_shape_fn((n, d), |(i, j)| ((i * 7 + j * 3) as f32 * 0.37).sin());
        // A learnable target: the index of the largest of the first three features.
        let y =
            x.rows().into_iter().map(|r| (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap_or(0) as u8).collect();
        (x, y)
    }

    /// Every weight and bias gradient of a small network against central
    /// differences of the mean loss, for every activation.
    #[test]
    fn gradcheck_dense_network_matches_finite_differences() {
        let (x, y) = sample_batch(5, 4);
        for act in Activation::ALL {
            let mut rng = StdRng::seed_from_u64(3);
            let mut net = Network::new(4, &[6, 5], 3, act, Init::Auto, &mut rng);
            // Non-zero biases so no unit sits exactly on a kink.
            for layer in &mut net.layers {
                layer.b.mapv_inplace(|_| rng.random_range(-0.3..0.3));
            }
            let mut ws = net.workspace(5);
            net.backward(x.view(), &y, &mut ws);
            let grads: Vec<(Array2<f32>, Array1<f32>)> = net.gradients().map(|(w, b)| (w.clone(), b.clone())).collect();
            let loss = |net: &Network, ws: &mut Workspace| net.evaluate(x.view(), &y, ws).loss / 5.0;
            let eps = 1e-2f32;
            for (l, (grad_w, grad_b)) in grads.iter().enumerate() {
                for idx in [(0, 0), (1, 2), (3, 1)] {
                    let orig = net.layers[l].w[idx];
                    net.layers[l].w[idx] = orig + eps;
                    let lp = loss(&net, &mut ws);
                    net.layers[l].w[idx] = orig - eps;
                    let lm = loss(&net, &mut ws);
                    net.layers[l].w[idx] = orig;
                    let numerical = (lp - lm) / (2.0 * eps as f64);
                    let theoretical = grad_w[idx] as f64;
                    assert!(
                        (numerical - theoretical).abs() < 2e-3 + 2e-2 * numerical.abs(),
                        "{act:?} layer {l} w{idx:?}: numerical={numerical}, theoretical={theoretical}"
                    );
                }
                let orig = net.layers[l].b[1];
                net.layers[l].b[1] = orig + eps;
                let lp = loss(&net, &mut ws);
                net.layers[l].b[1] = orig - eps;
                let lm = loss(&net, &mut ws);
                net.layers[l].b[1] = orig;
                let numerical = (lp - lm) / (2.0 * eps as f64);
                let theoretical = grad_b[1] as f64;
                assert!(
                    (numerical - theoretical).abs() < 2e-3 + 2e-2 * numerical.abs(),
                    "{act:?} layer {l} b1: numerical={numerical}, theoretical={theoretical}"
                );
            }
        }
    }

    #[test]
    fn partial_batches_use_a_prefix_of_the_workspace() {
        let mut rng = StdRng::seed_from_u64(5);
        let net = Network::new(4, &[8], 3, Activation::Relu, Init::Auto, &mut rng);
        let (x, y) = sample_batch(10, 4);
        let mut big = net.workspace(10);
        let mut small = net.workspace(3);
        let a = net.evaluate(x.slice(s![..3, ..]), &y[..3], &mut big);
        let b = net.evaluate(x.slice(s![..3, ..]), &y[..3], &mut small);
        assert_eq!(a, b);
    }

    #[test]
    fn training_steps_drive_the_loss_down() {
        let mut rng = StdRng::seed_from_u64(9);
        let mut net = Network::new(4, &[16], 3, Activation::Relu, Init::Auto, &mut rng);
        let (x, y) = sample_batch(30, 4);
        let mut ws = net.workspace(30);
        let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: 0.9, nesterov: false }, 0.1, &net.tensor_sizes());
        let first = net.evaluate(x.view(), &y, &mut ws).loss;
        for _ in 0..200 {
            net.train_step(x.view(), &y, &mut ws, &mut opt, Penalty::default());
        }
        let last = net.evaluate(x.view(), &y, &mut ws).loss;
        assert!(last < 0.3 * first, "loss {first} -> {last}");
    }
}
