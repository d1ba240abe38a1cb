//! A multilayer perceptron: dense layers `a_l = f(a_{l-1} W_l + b_l)` with
//! one hidden activation `f`, dropout on every hidden layer's output while
//! training, and linear logits at the end, trained with the fused softmax
//! cross-entropy of [`super::loss`].
//!
//! Shapes: a batch is `[n, features]` row-major; `W_l` is `[in, out]`, so the
//! forward product is `x · W` and the backward ones are
//! `dW = a_{l-1}ᵀ · δ_l`, `db = Σ_rows δ_l`, `δ_{l-1} = (δ_l · W_lᵀ) ⊙ f'(a_{l-1})`.
//! Every buffer a step needs lives in a [`Workspace`] (activations, deltas,
//! dropout masks) and a [`Grads`], sized once, so a step allocates nothing:
//! the backward pass computes `δ_l · W_lᵀ` before `dW_l`, through a
//! contiguous `W_lᵀ` held for that moment in `dW_l`'s buffer (`gemm` is ~4x
//! slower on the transposed view for a batch's few rows).
//!
//! Dropout (rate p, on hidden outputs `h`, training only): each unit is kept
//! with probability `1 - p` and becomes `A h + B`, or `D` when dropped.
//! Inverted dropout: `A = 1/(1-p)`, `B = D = 0`, so evaluation (no dropout)
//! needs no rescaling. AlphaDropout for SELU (Klambauer et al.): dropped
//! units take SELU's negative saturation `α' = -λα`, then
//! `A = ((1-p)(1 + p α'²))^-½`, `B = -A α' p`, `D = A α' + B`, which keeps
//! the mean and variance of self-normalized activations.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Zip, s};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

use super::activation::{SELU_ALPHA, SELU_LAMBDA};
use super::conv::{ConvLayer, ConvStack, ConvWorkspace};
use super::loss::{Loss, LossSum};
use super::matmul::{matmul, transpose};
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
    /// An optional convolutional front end before the dense layers.
    conv: Option<ConvStack>,
    layers: Vec<Dense>,
    activation: Activation,
    /// Dropout rate on every hidden layer's output while training.
    dropout: f32,
    loss: Loss,
}

/// Gradients of every layer's weights and bias.
#[derive(Clone, Debug)]
pub struct Grads {
    /// Per convolution: `(dW, db)`.
    pub conv: Vec<(Array2<f32>, Array1<f32>)>,
    pub w: Vec<Array2<f32>>,
    pub b: Vec<Array1<f32>>,
}

impl Grads {
    /// Tensor `i` in optimizer order (convolutions first, then `W0, b0, W1,
    /// b1, ...`) as a slice.
    pub fn tensor(&self, i: usize) -> &[f32] {
        let nc = 2 * self.conv.len();
        let t = match i {
            i if i < nc && i.is_multiple_of(2) => self.conv[i / 2].0.as_slice(),
            i if i < nc => self.conv[i / 2].1.as_slice(),
            i if (i - nc).is_multiple_of(2) => self.w[(i - nc) / 2].as_slice(),
            i => self.b[(i - nc) / 2].as_slice(),
        };
        t.expect("gradients are contiguous")
    }

    pub fn tensor_mut(&mut self, i: usize) -> &mut [f32] {
        let nc = 2 * self.conv.len();
        let t = match i {
            i if i < nc && i.is_multiple_of(2) => self.conv[i / 2].0.as_slice_mut(),
            i if i < nc => self.conv[i / 2].1.as_slice_mut(),
            i if (i - nc).is_multiple_of(2) => self.w[(i - nc) / 2].as_slice_mut(),
            i => self.b[(i - nc) / 2].as_slice_mut(),
        };
        t.expect("gradients are contiguous")
    }

    /// The L2 norm of each layer's weight gradient.
    pub fn weight_norms(&self) -> Vec<f32> {
        self.w.iter().map(|g| g.iter().map(|x| x * x).sum::<f32>().sqrt()).collect()
    }
}

/// Per-batch buffers: each layer's output and its gradient, `[capacity, out]`,
/// the dropout keep-masks of the hidden layers, and where the masks come from.
#[derive(Debug)]
pub struct Workspace {
    capacity: usize,
    acts: Vec<Array2<f32>>,
    deltas: Vec<Array2<f32>>,
    keep: Vec<Array2<f32>>,
    masks: Masks,
    conv: Option<ConvWorkspace>,
}

/// The dropout masks' source. Each row's mask is drawn from its own stream,
/// seeded by (seed, step, the row's position in the whole batch, layer), so
/// the masks of a batch do not depend on how it is split across replicas:
/// one thread, two, or a governor switching between them draw the same ones.
#[derive(Clone, Copy, Debug)]
struct Masks {
    seed: u64,
    /// Advanced after every training forward pass; a step runner sets it.
    step: u64,
    /// The batch position of this workspace's first row.
    first_row: usize,
}

impl Masks {
    /// The stream of `row` (of this workspace) in hidden layer `layer`.
    fn row(&self, row: usize, layer: usize) -> SmallRng {
        let z = self.seed
            ^ self.step.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ ((self.first_row + row) as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ (layer as u64).wrapping_mul(0x1656_67B1_9E37_79F9);
        SmallRng::seed_from_u64(z)
    }
}

impl Workspace {
    /// Places this workspace's rows in a batch: the next training pass draws
    /// the masks of rows `first_row..` of step `step` of stream `seed`.
    pub fn place_masks(&mut self, seed: u64, step: u64, first_row: usize) {
        self.masks = Masks { seed, step, first_row };
    }
}

impl Workspace {
    /// The largest batch this workspace holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The convolutional front end's buffers (its activations after a forward pass).
    pub fn conv(&self) -> Option<&ConvWorkspace> {
        self.conv.as_ref()
    }

    /// The output of layer `l` for the first `n` samples of the last forward pass.
    pub fn activations(&self, l: usize, n: usize) -> ArrayView2<'_, f32> {
        self.acts[l].slice(s![..n, ..])
    }
}

/// How dropout maps a hidden output `h`: kept `A h + B`, dropped `D`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropAffine {
    pub a: f32,
    pub b: f32,
    pub dropped: f32,
}

impl DropAffine {
    /// The transform for `rate` after `act`; `None` when there is no dropout.
    pub fn new(rate: f32, act: Activation) -> Option<DropAffine> {
        if rate <= 0.0 {
            return None;
        }
        let keep = 1.0 - rate;
        if act == Activation::Selu {
            let alpha = -SELU_LAMBDA * SELU_ALPHA;
            let a = 1.0 / (keep * (1.0 + rate * alpha * alpha)).sqrt();
            let b = -a * alpha * rate;
            Some(DropAffine { a, b, dropped: a * alpha + b })
        } else {
            Some(DropAffine { a: 1.0 / keep, b: 0.0, dropped: 0.0 })
        }
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
                let last = i + 2 == sizes.len();
                let act = if last { Activation::Linear } else { activation };
                let init = if last { Init::Glorot } else { init };
                Dense { w: init.weights(act, io[0], io[1], rng), b: Array1::zeros(io[1]) }
            })
            .collect();
        Self::from_layers(layers, activation)
    }

    /// A network with the given layers (weights `[in, out]`, chained), no dropout.
    pub fn from_layers(layers: Vec<Dense>, activation: Activation) -> Self {
        assert!(!layers.is_empty(), "a network needs at least its output layer");
        for pair in layers.windows(2) {
            assert_eq!(pair[0].w.ncols(), pair[1].w.nrows(), "layer widths must chain");
        }
        Network { conv: None, layers, activation, dropout: 0.0, loss: Loss::CrossEntropy }
    }

    /// A network with a convolutional front end on `(h, w, c)` images:
    /// `conv` layers, then dense `hidden` layers, then `outputs`.
    #[allow(clippy::too_many_arguments)]
    pub fn with_conv(
        image: (usize, usize, usize),
        conv: &[ConvLayer],
        hidden: &[usize],
        outputs: usize,
        activation: Activation,
        init: Init,
        rng: &mut impl Rng,
    ) -> Result<Self, String> {
        let stack = ConvStack::new(conv, image, activation, init, rng)?;
        let mut net = Network::new(stack.output_len(), hidden, outputs, activation, init, rng);
        net.conv = Some(stack);
        Ok(net)
    }

    pub fn conv(&self) -> Option<&ConvStack> {
        self.conv.as_ref()
    }

    fn conv_tensors(&self) -> usize {
        self.conv.as_ref().map_or(0, |c| 2 * c.params().len())
    }

    pub fn layers(&self) -> &[Dense] {
        &self.layers
    }

    pub fn activation(&self) -> Activation {
        self.activation
    }

    pub fn dropout(&self) -> f32 {
        self.dropout
    }

    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// The loss training minimises (and evaluation reports) from the next step.
    pub fn set_loss(&mut self, loss: Loss) {
        self.loss = loss;
    }

    /// Dropout rate in [0, 1) on every hidden output; the next step uses it.
    pub fn set_dropout(&mut self, rate: f32) {
        assert!((0.0..1.0).contains(&rate), "dropout rate {rate} outside [0, 1)");
        self.dropout = rate;
    }

    pub fn input_size(&self) -> usize {
        self.conv.as_ref().map_or_else(|| self.layers[0].w.nrows(), ConvStack::input_len)
    }

    pub fn output_size(&self) -> usize {
        self.layers[self.layers.len() - 1].w.ncols()
    }

    /// Widths of the hidden layers.
    pub fn hidden(&self) -> Vec<usize> {
        self.layers[..self.layers.len() - 1].iter().map(|l| l.w.ncols()).collect()
    }

    pub fn parameter_count(&self) -> usize {
        let conv: usize = self.conv.iter().flat_map(|c| c.params()).map(|p| p.w.len() + p.b.len()).sum();
        conv + self.layers.iter().map(|l| l.w.len() + l.b.len()).sum::<usize>()
    }

    /// Number of parameter tensors (what [`Network::tensor_sizes`] lists).
    pub fn tensor_count(&self) -> usize {
        self.conv_tensors() + 2 * self.layers.len()
    }

    /// Lengths of the parameter tensors in optimizer order: the
    /// convolutions' `W, b`, then `W0, b0, W1, b1, ...`.
    pub fn tensor_sizes(&self) -> Vec<usize> {
        let conv = self.conv.iter().flat_map(|c| c.params().iter().flat_map(|p| [p.w.len(), p.b.len()]));
        conv.chain(self.layers.iter().flat_map(|l| [l.w.len(), l.b.len()])).collect()
    }

    /// Parameter tensor `i` in optimizer order, as a mutable slice.
    pub fn tensor_mut(&mut self, i: usize) -> &mut [f32] {
        let nc = self.conv_tensors();
        let t = if i < nc {
            let p = &mut self.conv.as_mut().expect("i < nc").params_mut()[i / 2];
            if i.is_multiple_of(2) { p.w.as_slice_mut() } else { p.b.as_slice_mut() }
        } else {
            let layer = &mut self.layers[(i - nc) / 2];
            if (i - nc).is_multiple_of(2) { layer.w.as_slice_mut() } else { layer.b.as_slice_mut() }
        };
        t.expect("parameters are contiguous")
    }

    /// Zeroed gradient buffers for this network.
    pub fn grads(&self) -> Grads {
        let conv = self.conv.iter().flat_map(|c| c.params().iter());
        Grads {
            conv: conv.map(|p| (Array2::zeros(p.w.dim()), Array1::zeros(p.b.len()))).collect(),
            w: self.layers.iter().map(|l| Array2::zeros(l.w.dim())).collect(),
            b: self.layers.iter().map(|l| Array1::zeros(l.b.len())).collect(),
        }
    }

    /// Buffers for batches of up to `capacity` samples; `seed` drives the
    /// dropout masks drawn in this workspace.
    pub fn workspace(&self, capacity: usize, seed: u64) -> Workspace {
        let widths: Vec<usize> = self.layers.iter().map(|l| l.w.ncols()).collect();
        let buf = |w: &usize| Array2::zeros((capacity, *w));
        Workspace {
            capacity,
            acts: widths.iter().map(buf).collect(),
            deltas: widths.iter().map(buf).collect(),
            keep: widths[..widths.len() - 1].iter().map(buf).collect(),
            masks: Masks { seed, step: 0, first_row: 0 },
            conv: self.conv.as_ref().map(|c| c.workspace(capacity)),
        }
    }

    /// Runs the batch `x` (`[n, input]`, `n <= capacity`) forward in eval
    /// mode (no dropout); returns the logits.
    pub fn forward<'w>(&self, x: ArrayView2<f32>, ws: &'w mut Workspace) -> ArrayView2<'w, f32> {
        self.forward_mode(x, ws, None)
    }

    fn forward_mode<'w>(
        &self,
        x: ArrayView2<f32>,
        ws: &'w mut Workspace,
        drop: Option<DropAffine>,
    ) -> ArrayView2<'w, f32> {
        let n = x.nrows();
        assert!(n <= ws.capacity, "batch of {n} exceeds workspace capacity {}", ws.capacity);
        assert_eq!(x.ncols(), self.input_size(), "input width");
        let last = self.layers.len() - 1;
        let Workspace { acts, keep, masks, conv, .. } = ws;
        let features = match (&self.conv, conv) {
            (Some(stack), Some(cws)) => stack.forward(x, cws, self.activation),
            _ => x,
        };
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, after) = acts.split_at_mut(l);
            let input = if l == 0 { features } else { before[l - 1].slice(s![..n, ..]) };
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
            if l < last
                && let Some(d) = drop
            {
                let keep = keep[l].slice_mut(s![..n, ..]);
                apply_dropout(out, keep, d, self.dropout, |row| masks.row(row, l));
            }
        }
        if drop.is_some() {
            masks.step += 1;
        }
        acts[last].slice(s![..n, ..])
    }

    /// Loss and accuracy of a batch without training (eval mode).
    pub fn evaluate(&self, x: ArrayView2<f32>, labels: &[u8], ws: &mut Workspace) -> LossSum {
        let logits = self.forward(x, ws);
        self.loss.compute(logits, labels, None, 1.0)
    }

    /// Forward in training mode (dropout on), then the gradients of
    /// `grad_scale ×` the summed loss into `grads` (overwritten). Returns the
    /// summed data loss. `grad_scale` is `1 / batch` for the mean loss; a
    /// share of a batch split across threads uses the whole batch's size.
    pub fn backward(
        &self,
        x: ArrayView2<f32>,
        labels: &[u8],
        ws: &mut Workspace,
        grads: &mut Grads,
        grad_scale: f32,
    ) -> LossSum {
        let n = x.nrows();
        let last = self.layers.len() - 1;
        let drop = DropAffine::new(self.dropout, self.activation);
        self.forward_mode(x, ws, drop);
        let sum = {
            let logits = ws.acts[last].slice(s![..n, ..]);
            let grad = ws.deltas[last].slice_mut(s![..n, ..]);
            self.loss.compute(logits, labels, Some(grad), grad_scale)
        };
        for l in (0..=last).rev() {
            let (before, after) = ws.deltas.split_at_mut(l);
            let delta = after[0].slice(s![..n, ..]);
            // `δ · Wᵀ` before `dW`: its contiguous `Wᵀ` borrows the buffer
            // `dW` is written into next (same size, no memory of its own).
            let gw = &mut grads.w[l];
            let w = &self.layers[l].w;
            let input = match (l, &self.conv, &mut ws.conv) {
                (0, Some(stack), Some(cws)) => {
                    // The features the stack produced are still in its workspace;
                    // the gradient with respect to them goes back through it.
                    let mut d_features = stack.output_grad(cws, n);
                    times_transposed(delta, w, gw, d_features.view_mut());
                    stack.forward_output(cws, n)
                }
                (0, _, _) => x,
                _ => ws.acts[l - 1].slice(s![..n, ..]),
            };
            if l > 0 {
                let mut prev = before[l - 1].slice_mut(s![..n, ..]);
                times_transposed(delta, w, gw, prev.view_mut());
                let act = self.activation;
                let a_prev = ws.acts[l - 1].slice(s![..n, ..]);
                match drop {
                    // δ_{l-1} ⊙= f'(a_{l-1}), with f' written through the outputs.
                    None => Zip::from(&mut prev).and(&a_prev).for_each(|d, &a| *d *= act.df_from_output(a)),
                    // Through dropout: dropped units pass nothing back; kept
                    // ones scale by A, and f' needs h = (out - B) / A.
                    Some(t) => {
                        let keep = ws.keep[l - 1].slice(s![..n, ..]);
                        Zip::from(&mut prev).and(&a_prev).and(&keep).for_each(|d, &a, &k| {
                            *d = if k > 0.0 { *d * t.a * act.df_from_output((a - t.b) / t.a) } else { 0.0 };
                        });
                    }
                }
            }
            matmul(input.t(), delta, gw.view_mut(), false);
            let gb = grads.b[l].as_slice_mut().expect("contiguous");
            gb.fill(0.0);
            for row in delta.rows() {
                gb.iter_mut().zip(row).for_each(|(g, &d)| *g += d);
            }
        }
        if let (Some(stack), Some(cws)) = (&self.conv, &mut ws.conv) {
            stack.backward(x, cws, self.activation, &mut grads.conv);
        }
        sum
    }

    /// One optimizer step from `grads` (serially; the parallel step is in
    /// [`super::step`]).
    pub fn apply_gradients(&mut self, grads: &Grads, opt: &mut Optimizer, penalty: Penalty) {
        let rule = opt.begin_step();
        for i in 0..self.tensor_count() {
            let penalty = i.is_multiple_of(2).then_some(penalty);
            opt.update(&rule, i, self.tensor_mut(i), grads.tensor(i), penalty);
        }
    }

    /// A full serial training step on one batch. Returns the summed data loss
    /// and correct count.
    pub fn train_step(
        &mut self,
        x: ArrayView2<f32>,
        labels: &[u8],
        ws: &mut Workspace,
        grads: &mut Grads,
        opt: &mut Optimizer,
        penalty: Penalty,
    ) -> LossSum {
        let sum = self.backward(x, labels, ws, grads, 1.0 / x.nrows() as f32);
        self.apply_gradients(grads, opt, penalty);
        sum
    }

    /// The L1/L2 penalty of the current weights (reported apart from the data loss).
    pub fn penalty_value(&self, penalty: Penalty) -> f64 {
        let conv = self.conv.iter().flat_map(|c| c.params().iter().map(|p| &p.w));
        conv.chain(self.layers.iter().map(|l| &l.w)).map(|w| penalty.value(w.as_slice().expect("contiguous"))).sum()
    }

    /// Changes the hidden activation in place; the weights are kept.
    pub fn set_activation(&mut self, activation: Activation) {
        self.activation = activation;
    }

    /// Inserts a hidden layer just before the output layer, as wide as its
    /// input, with identity weights and zero bias (Net2DeeperNet). The new
    /// layer computes `f(a)` of its input `a`: that is `a` exactly when `f`
    /// is linear, or ReLU fed by a ReLU layer (`a ≥ 0`); for any other
    /// activation the network's function changes (sigmoid squashes, tanh
    /// shrinks, LeakyReLU/ELU/SELU bend the negative part), and training
    /// goes on from there.
    pub fn insert_identity_layer(&mut self) -> Fidelity {
        let width = self.layers[self.layers.len() - 1].w.nrows();
        let exact = match self.activation {
            Activation::Linear => true,
            Activation::Relu => self.layers.len() >= 2,
            _ => false,
        };
        let identity = Dense { w: Array2::eye(width), b: Array1::zeros(width) };
        self.layers.insert(self.layers.len() - 1, identity);
        if exact { Fidelity::Exact } else { Fidelity::Approximate }
    }

    /// Removes the last hidden layer, folding it into the output layer as if
    /// its activation were linear: `W' = W_k W_out`, `b' = b_k W_out + b_out`.
    /// Exact for a linear activation, an approximation otherwise; `None`
    /// when there is no hidden layer to remove.
    pub fn remove_last_hidden_layer(&mut self) -> Option<Fidelity> {
        if self.layers.len() < 2 {
            return None;
        }
        let out = self.layers.pop().expect("checked above");
        let hidden = self.layers.pop().expect("checked above");
        let mut w = Array2::zeros((hidden.w.nrows(), out.w.ncols()));
        matmul(hidden.w.view(), out.w.view(), w.view_mut(), false);
        let b = hidden.b.dot(&out.w) + &out.b;
        self.layers.push(Dense { w, b });
        Some(if self.activation == Activation::Linear { Fidelity::Exact } else { Fidelity::Approximate })
    }
}

/// `out = δ · Wᵀ` through a contiguous copy of `Wᵀ` in `scratch` (a buffer
/// of `W`'s size, overwritten): with a batch's few rows, `gemm` runs this
/// product ~4x faster than on the transposed view (see `matmul`), and a
/// step split in parts runs it once per part.
fn times_transposed(delta: ArrayView2<f32>, w: &Array2<f32>, scratch: &mut Array2<f32>, out: ArrayViewMut2<f32>) {
    let (fan_in, fan_out) = w.dim();
    let buf = scratch.as_slice_mut().expect("gradients are contiguous");
    let mut wt = ArrayViewMut2::from_shape((fan_out, fan_in), buf).expect("a gradient is as large as its weights");
    transpose(w.view(), wt.view_mut());
    matmul(delta, wt.view(), out, false);
}

/// Whether a live edit of the architecture kept the function the network computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fidelity {
    Exact,
    Approximate,
}

/// Draws a keep-mask for `out` (rate `rate`), each row from the stream
/// `stream(row)` gives, and applies `t` in place. Four 16-bit draws per
/// `u64`: a resolution of 1/65536 is plenty for a rate.
fn apply_dropout(
    mut out: ndarray::ArrayViewMut2<f32>,
    mut keep: ndarray::ArrayViewMut2<f32>,
    t: DropAffine,
    rate: f32,
    stream: impl Fn(usize) -> SmallRng,
) {
    let threshold = (rate * 65536.0).round() as u32;
    for (r, (mut out, mut keep)) in out.rows_mut().into_iter().zip(keep.rows_mut()).enumerate() {
        let out = out.as_slice_mut().expect("rows are contiguous");
        let keep = keep.as_slice_mut().expect("rows are contiguous");
        let mut rng = stream(r);
        let (mut bits, mut left) = (0u64, 0);
        for (o, k) in out.iter_mut().zip(keep.iter_mut()) {
            if left == 0 {
                bits = rng.next_u64();
                left = 4;
            }
            let kept = (bits & 0xFFFF) as u32 >= threshold;
            bits >>= 16;
            left -= 1;
            *k = f32::from(u8::from(kept));
            *o = if kept { t.a * *o + t.b } else { t.dropped };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::OptimizerKind;
    use rand::rngs::StdRng;

    fn sample_batch(n: usize, d: usize) -> (Array2<f32>, Vec<u8>) {
        let x = Array2::from_shape_fn((n, d), |(i, j)| ((i * 7 + j * 3) as f32 * 0.37).sin());
        // A learnable target: the index of the largest of the first three features.
        let y =
            x.rows().into_iter().map(|r| (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap_or(0) as u8).collect();
        (x, y)
    }

    /// Every weight and bias gradient of a small network against central
    /// differences of the mean training-mode loss, for every activation,
    /// without and with dropout (the same masks on each evaluation: each
    /// uses a workspace with the same seed).
    #[test]
    fn gradcheck_dense_network_matches_finite_differences() {
        let (x, y) = sample_batch(5, 4);
        let cases = [(0.0, Loss::CrossEntropy), (0.3, Loss::CrossEntropy), (0.0, Loss::Mse)];
        for (dropout, loss_kind) in cases {
            for act in Activation::ALL {
                let mut rng = StdRng::seed_from_u64(3);
                let mut net = Network::new(4, &[6, 5], 3, act, Init::Auto, &mut rng);
                net.set_dropout(dropout);
                net.set_loss(loss_kind);
                // Non-zero biases so no unit sits exactly on a kink.
                for layer in &mut net.layers {
                    layer.b.mapv_inplace(|_| rng.random_range(-0.3..0.3));
                }
                let mut grads = net.grads();
                net.backward(x.view(), &y, &mut net.workspace(5, 11), &mut grads, 0.2);
                let mut scratch = net.grads();
                let loss = |net: &Network, scratch: &mut Grads| {
                    net.backward(x.view(), &y, &mut net.workspace(5, 11), scratch, 0.2).loss / 5.0
                };
                // Small enough that no ReLU unit crosses its kink (1e-2 did, for
                // one weight under some dropout masks), large enough for f32.
                let eps = 1e-3f32;
                let check = |numerical: f64, theoretical: f64, what: String| {
                    assert!(
                        (numerical - theoretical).abs() < 2e-3 + 2e-2 * numerical.abs(),
                        "{act:?} dropout {dropout} {loss_kind:?} {what}: numerical={numerical}, theoretical={theoretical}"
                    );
                };
                for l in 0..net.layers.len() {
                    for idx in [(0, 0), (1, 2), (3, 1)] {
                        let orig = net.layers[l].w[idx];
                        net.layers[l].w[idx] = orig + eps;
                        let lp = loss(&net, &mut scratch);
                        net.layers[l].w[idx] = orig - eps;
                        let lm = loss(&net, &mut scratch);
                        net.layers[l].w[idx] = orig;
                        check((lp - lm) / (2.0 * eps as f64), grads.w[l][idx] as f64, format!("layer {l} w{idx:?}"));
                    }
                    let orig = net.layers[l].b[1];
                    net.layers[l].b[1] = orig + eps;
                    let lp = loss(&net, &mut scratch);
                    net.layers[l].b[1] = orig - eps;
                    let lm = loss(&net, &mut scratch);
                    net.layers[l].b[1] = orig;
                    check((lp - lm) / (2.0 * eps as f64), grads.b[l][1] as f64, format!("layer {l} b1"));
                }
            }
        }
    }

    /// The convolutional front end's gradients (both convolutions, through
    /// a max-pool) against central differences, for a smooth and a
    /// piecewise activation.
    #[test]
    fn gradcheck_conv_network_matches_finite_differences() {
        use crate::nn::conv::ConvLayer;
        // The second convolution unpooled, then pooled (its pool fused with it).
        let plain = [
            ConvLayer::Conv { filters: 3, kernel: 3 },
            ConvLayer::MaxPool(2),
            ConvLayer::Conv { filters: 2, kernel: 3 },
        ];
        let pooled = [
            ConvLayer::Conv { filters: 3, kernel: 3 },
            ConvLayer::MaxPool(2),
            ConvLayer::Conv { filters: 2, kernel: 3 },
            ConvLayer::MaxPool(2),
        ];
        let x = Array2::from_shape_fn((3, 25), |(i, j)| ((i * 25 + j) as f32 * 0.61).sin());
        let y = [0u8, 2, 1];
        for (specs, act) in [
            (&plain[..], Activation::Tanh),
            (&plain[..], Activation::Relu),
            (&pooled[..], Activation::Tanh),
            (&pooled[..], Activation::Relu),
        ] {
            let mut rng = StdRng::seed_from_u64(12);
            let mut net = Network::with_conv((5, 5, 1), specs, &[4], 3, act, Init::Auto, &mut rng).unwrap();
            assert_eq!(net.input_size(), 25);
            for t in 0..net.tensor_count() {
                if t % 2 == 1 {
                    net.tensor_mut(t).iter_mut().enumerate().for_each(|(i, b)| *b = 0.05 * (i as f32 - 1.0));
                }
            }
            let mut grads = net.grads();
            net.backward(x.view(), &y, &mut net.workspace(3, 0), &mut grads, 1.0 / 3.0);
            let mut scratch = net.grads();
            let eps = 1e-2f32;
            for t in 0..net.tensor_count() {
                for idx in [0, 5, 11] {
                    if idx >= net.tensor_mut(t).len() {
                        continue;
                    }
                    let orig = net.tensor_mut(t)[idx];
                    net.tensor_mut(t)[idx] = orig + eps;
                    let lp = net.backward(x.view(), &y, &mut net.workspace(3, 0), &mut scratch, 1.0).loss / 3.0;
                    net.tensor_mut(t)[idx] = orig - eps;
                    let lm = net.backward(x.view(), &y, &mut net.workspace(3, 0), &mut scratch, 1.0).loss / 3.0;
                    net.tensor_mut(t)[idx] = orig;
                    let numerical = (lp - lm) / (2.0 * eps as f64);
                    let theoretical = grads.tensor(t)[idx] as f64;
                    assert!(
                        (numerical - theoretical).abs() < 2e-3 + 3e-2 * numerical.abs(),
                        "{act:?} tensor {t}[{idx}]: numerical={numerical}, theoretical={theoretical}"
                    );
                }
            }
        }
    }

    #[test]
    fn partial_batches_use_a_prefix_of_the_workspace() {
        let mut rng = StdRng::seed_from_u64(5);
        let net = Network::new(4, &[8], 3, Activation::Relu, Init::Auto, &mut rng);
        let (x, y) = sample_batch(10, 4);
        let a = net.evaluate(x.slice(s![..3, ..]), &y[..3], &mut net.workspace(10, 0));
        let b = net.evaluate(x.slice(s![..3, ..]), &y[..3], &mut net.workspace(3, 0));
        assert_eq!(a, b);
    }

    #[test]
    fn dropout_is_identity_in_eval_mode() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut net = Network::new(4, &[8, 8], 3, Activation::Relu, Init::Auto, &mut rng);
        let (x, y) = sample_batch(10, 4);
        let plain = net.evaluate(x.view(), &y, &mut net.workspace(10, 0));
        net.set_dropout(0.5);
        assert_eq!(net.evaluate(x.view(), &y, &mut net.workspace(10, 0)), plain);
        // ... while training mode does drop units.
        let mut grads = net.grads();
        let trained = net.backward(x.view(), &y, &mut net.workspace(10, 0), &mut grads, 0.1);
        assert_ne!(trained.loss, plain.loss);
    }

    fn mean_var(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        (mean, v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n)
    }

    fn dropped(h: &Array2<f32>, rate: f32, act: Activation) -> Array2<f32> {
        let mut out = h.clone();
        let mut keep = Array2::zeros(h.dim());
        let t = DropAffine::new(rate, act).unwrap();
        apply_dropout(out.view_mut(), keep.view_mut(), t, rate, |r| SmallRng::seed_from_u64(r as u64));
        let kept = keep.iter().filter(|&&k| k > 0.0).count() as f32 / keep.len() as f32;
        assert!((kept - (1.0 - rate)).abs() < 0.01, "kept fraction {kept}");
        out
    }

    #[test]
    fn alpha_dropout_keeps_mean_and_variance_of_selu_activations() {
        let normal = rand_distr::Normal::new(0.0f32, 1.0).unwrap();
        let mut rng = StdRng::seed_from_u64(2);
        let h = Array2::from_shape_simple_fn((400, 500), || Activation::Selu.f(rng.sample(normal)));
        let (m0, v0) = mean_var(h.as_slice().unwrap());
        assert!(m0.abs() < 0.02 && (v0 - 1.0).abs() < 0.03, "SELU fixed point: {m0} {v0}");
        let out = dropped(&h, 0.2, Activation::Selu);
        let (m1, v1) = mean_var(out.as_slice().unwrap());
        assert!((m1 - m0).abs() < 0.02 && (v1 - v0).abs() < 0.03, "{m0} {v0} -> {m1} {v1}");
    }

    #[test]
    fn inverted_dropout_keeps_the_mean() {
        let h = Array2::from_shape_fn((300, 300), |(i, j)| ((i * 13 + j) % 7) as f32);
        let (m0, _) = mean_var(h.as_slice().unwrap());
        let (m1, _) = mean_var(dropped(&h, 0.5, Activation::Relu).as_slice().unwrap());
        assert!((m1 - m0).abs() / m0 < 0.02, "{m0} -> {m1}");
    }

    #[test]
    fn inserting_an_identity_layer_keeps_a_relu_network_s_outputs() {
        let mut rng = StdRng::seed_from_u64(8);
        let mut net = Network::new(6, &[10, 7], 4, Activation::Relu, Init::Auto, &mut rng);
        let x = Array2::from_shape_fn((9, 6), |(i, j)| ((i * 3 + j) as f32 * 0.7).sin() * 2.0);
        let before = net.forward(x.view(), &mut net.workspace(9, 0)).to_owned();
        assert_eq!(net.insert_identity_layer(), Fidelity::Exact);
        assert_eq!(net.hidden(), vec![10, 7, 7]);
        let after = net.forward(x.view(), &mut net.workspace(9, 0)).to_owned();
        assert!((&after - &before).iter().all(|d| d.abs() < 1e-6));
        // Sigmoid: the same edit changes the function, and says so.
        let mut sig = Network::new(6, &[10], 4, Activation::Sigmoid, Init::Auto, &mut rng);
        let before = sig.forward(x.view(), &mut sig.workspace(9, 0)).to_owned();
        assert_eq!(sig.insert_identity_layer(), Fidelity::Approximate);
        let after = sig.forward(x.view(), &mut sig.workspace(9, 0)).to_owned();
        assert!((&after - &before).iter().any(|d| d.abs() > 1e-3));
    }

    #[test]
    fn removing_a_linear_hidden_layer_is_exact() {
        let mut rng = StdRng::seed_from_u64(8);
        let mut net = Network::new(5, &[8, 6], 3, Activation::Linear, Init::Auto, &mut rng);
        let x = Array2::from_shape_fn((4, 5), |(i, j)| (i + j) as f32 * 0.1);
        let before = net.forward(x.view(), &mut net.workspace(4, 0)).to_owned();
        assert_eq!(net.remove_last_hidden_layer(), Some(Fidelity::Exact));
        assert_eq!(net.hidden(), vec![8]);
        let after = net.forward(x.view(), &mut net.workspace(4, 0)).to_owned();
        assert!((&after - &before).iter().all(|d| d.abs() < 1e-5));
        net.remove_last_hidden_layer();
        assert_eq!(net.remove_last_hidden_layer(), None);
    }

    #[test]
    fn training_steps_drive_the_loss_down() {
        let mut rng = StdRng::seed_from_u64(9);
        let mut net = Network::new(4, &[16], 3, Activation::Relu, Init::Auto, &mut rng);
        let (x, y) = sample_batch(30, 4);
        let mut ws = net.workspace(30, 0);
        let mut grads = net.grads();
        let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: 0.9, nesterov: false }, 0.1, &net.tensor_sizes());
        let first = net.evaluate(x.view(), &y, &mut ws).loss;
        for _ in 0..200 {
            net.train_step(x.view(), &y, &mut ws, &mut grads, &mut opt, Penalty::default());
        }
        let last = net.evaluate(x.view(), &y, &mut ws).loss;
        assert!(last < 0.3 * first, "loss {first} -> {last}");
    }
}
