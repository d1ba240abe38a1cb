//! The convolutional front end: Conv2d (k×k kernel, zero padding k/2,
//! stride 1, the network's activation) and MaxPool (p×p windows, stride p),
//! whose output is flattened into the dense layers.
//!
//! Layout: a batch of feature maps is `[n·h·w, c]`, row-major (NHWC), so a
//! sample's map is one contiguous block and flattening is free. A
//! convolution is im2col + one matrix product:
//! `cols[(s,y,x), (dy,dx,ci)] = in[s, y+dy-k/2, x+dx-k/2, ci]` (0 outside),
//! `z = cols · W + b` with `W` `[k·k·c_in, c_out]`. Backward:
//! `dW = colsᵀ · δ`, `db = Σ_rows δ`, `dcols = δ · Wᵀ`, and col2im adds
//! `dcols` back onto the input positions. Max-pooling keeps the index of
//! each window's maximum and routes the gradient to it.
//!
//! Where the time goes decided the shape of the code (`benches/README.md`):
//! - the first convolution (one input channel, nothing trainable before it)
//!   is direct, over a zero-padded copy of the images: im2col would copy
//!   each pixel k² times to feed a product with an inner dimension of k²;
//! - im2col runs a few samples at a time into a buffer that stays in L2,
//!   and runs again in the backward pass rather than keeping a batch's
//!   matrix (megabytes) that has to come back from memory;
//! - a convolution followed by a pool runs as one, a few samples at a time:
//!   the pool applies the activation to the window's maximum (`f(max z) =
//!   max f(z)`, every activation here is non-decreasing), so `z` and its
//!   gradient live only in a small buffer and f' is applied once per window;
//! - the elementwise kernels work on fixed 16-channel blocks, compiled for
//!   AVX-512F / AVX2 / baseline and picked at run time;
//! - evaluation (outside [`matmul::serial`]) splits the batch by samples
//!   across the rayon pool; a training replica runs serially.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::matmul::{self, matmul};
use super::{Activation, Init};

/// One layer of a preset's `conv` field.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ConvLayer {
    Conv { filters: usize, kernel: usize },
    MaxPool(usize),
}

/// A built operation with its spatial sizes.
#[derive(Clone, Debug)]
enum Op {
    Conv {
        k: usize,
        c_in: usize,
        c_out: usize,
        h: usize,
        w: usize,
        param: usize,
        /// A max-pool follows and applies the activation (see [`Op::Pool`]):
        /// this op's output is the pre-activation `z`.
        pooled: bool,
        /// One input channel and nothing trainable before: a direct
        /// convolution over a zero-padded copy of the input, no im2col.
        direct: bool,
    },
    Pool {
        p: usize,
        c: usize,
        h: usize,
        w: usize,
        /// Follows a convolution whose activation it applies: `f(max z) =
        /// max f(z)` for every activation here (all are non-decreasing), so
        /// `f` runs on a quarter of the values, and the backward pass hands
        /// the convolution `δ_z = δ f'(pooled)` at each window's maximum.
        fused: bool,
    },
}

impl Op {
    /// Output `(h, w, c)`.
    fn out_shape(&self) -> (usize, usize, usize) {
        match *self {
            Op::Conv { c_out, h, w, .. } => (h, w, c_out),
            Op::Pool { p, c, h, w, .. } => (h / p, w / p, c),
        }
    }

    /// Values per sample in this op's scratch buffer: the im2col matrix, or
    /// the padded input of a direct convolution.
    fn scratch_len(&self) -> usize {
        match *self {
            Op::Conv { k, h, w, direct: true, .. } => (h + k - 1) * (w + k - 1),
            Op::Conv { k, c_in, h, w, .. } => h * w * k * k * c_in,
            Op::Pool { .. } => 0,
        }
    }

    /// Samples per im2col pass of a convolution through the products: few
    /// enough that the im2col matrix stays in the core's L2 cache between
    /// being written and being read (a whole batch's is megabytes).
    fn chunk_samples(&self) -> usize {
        (IM2COL_BYTES / (4 * self.scratch_len().max(1))).max(1)
    }

    /// Samples per pass of a convolution followed by its pool: the
    /// convolution's output (`z`) and its gradient live only in a buffer of
    /// this many samples, small enough to stay in L2 between the
    /// convolution writing it and the pool reading it (a batch's is
    /// megabytes, written to memory and read back).
    fn fused_samples(&self) -> usize {
        let by_z = (Z_BYTES / (4 * self.out_len().max(1))).max(1);
        if self.is_im2col() { by_z.min(self.chunk_samples()) } else { by_z }
    }

    /// Whether this op's output and gradient buffers hold one fused pass
    /// per thread instead of a whole batch.
    fn is_pooled_conv(&self) -> bool {
        matches!(self, Op::Conv { pooled: true, .. })
    }

    /// Samples of scratch one part of a batch holds: a whole part for a
    /// direct convolution (its padded input serves the backward pass too),
    /// one im2col chunk otherwise.
    fn is_im2col(&self) -> bool {
        matches!(self, Op::Conv { direct: false, .. })
    }

    /// Values per sample at this op's input.
    fn in_len(&self) -> usize {
        match *self {
            Op::Conv { c_in, h, w, .. } => h * w * c_in,
            Op::Pool { c, h, w, .. } => h * w * c,
        }
    }

    fn out_len(&self) -> usize {
        let (h, w, c) = self.out_shape();
        h * w * c
    }
}

/// The weights of one convolution: `W` `[k·k·c_in, c_out]`, `b` `[c_out]`.
#[derive(Clone, Debug)]
pub struct ConvParams {
    pub w: Array2<f32>,
    pub b: Array1<f32>,
}

#[derive(Clone, Debug)]
pub struct ConvStack {
    ops: Vec<Op>,
    params: Vec<ConvParams>,
    input: (usize, usize, usize),
}

/// Buffers of one batch through the stack, for up to `capacity` samples,
/// each sample-major (a sample's values are one contiguous block), so a
/// range of samples is a sub-slice and evaluation can split a batch.
#[derive(Clone, Debug)]
pub struct ConvWorkspace {
    capacity: usize,
    /// Per op: its output and the gradient there (for a pooled convolution,
    /// both with respect to `z`).
    out: Vec<Vec<f32>>,
    delta: Vec<Vec<f32>>,
    /// Per conv op: the im2col matrix or the padded input; per pool: empty.
    scratch: Vec<Vec<f32>>,
    /// Per pool op: the within-sample index of each output's maximum.
    argmax: Vec<Vec<u32>>,
}

/// The im2col chunk's budget (the L2 cache is 1–2 MB per core on current x86).
const IM2COL_BYTES: usize = 512 * 1024;

/// The budget of a fused convolution + pool pass's `z` buffer.
const Z_BYTES: usize = 256 * 1024;

/// Evaluation splits a batch across threads only with at least this many
/// samples per part (a part costs a rayon fork, ~0.1 ms here).
const MIN_SAMPLES_PER_PART: usize = 32;

/// One part of a batch: its samples' slices of every buffer.
struct Part<'a> {
    n: usize,
    x: &'a [f32],
    out: Vec<&'a mut [f32]>,
    scratch: Vec<&'a mut [f32]>,
    argmax: Vec<&'a mut [u32]>,
}

impl ConvStack {
    /// Builds `specs` on `(h, w, c)` images; errors name what does not fit.
    pub fn new(
        specs: &[ConvLayer],
        input: (usize, usize, usize),
        activation: Activation,
        init: Init,
        rng: &mut impl Rng,
    ) -> Result<ConvStack, String> {
        if specs.is_empty() {
            return Err("the list of conv layers is empty (write `conv: None` for no convolutions)".into());
        }
        let (mut h, mut w, mut c) = input;
        if h == 0 || w == 0 || c == 0 {
            return Err(format!("the images are {h}x{w} with {c} channel(s): nothing to convolve"));
        }
        let mut ops = Vec::new();
        let mut params = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            match *spec {
                ConvLayer::Conv { filters, kernel } => {
                    if filters == 0 || kernel == 0 || kernel.is_multiple_of(2) {
                        return Err(format!("conv layer {}: needs filters >= 1 and an odd kernel", i + 1));
                    }
                    if kernel > 2 * h.min(w) + 1 {
                        return Err(format!("conv layer {}: a {kernel}x{kernel} kernel on a {h}x{w} map", i + 1));
                    }
                    let fan_in = kernel * kernel * c;
                    let wts = init.weights(activation, fan_in, filters, rng);
                    params.push(ConvParams { w: wts, b: Array1::zeros(filters) });
                    let direct = c == 1 && params.len() == 1;
                    let param = params.len() - 1;
                    ops.push(Op::Conv { k: kernel, c_in: c, c_out: filters, h, w, param, pooled: false, direct });
                    c = filters;
                }
                ConvLayer::MaxPool(p) => {
                    if p < 2 || h / p == 0 || w / p == 0 {
                        return Err(format!("conv layer {}: MaxPool({p}) does not fit a {h}x{w} map", i + 1));
                    }
                    let fused = matches!(ops.last(), Some(Op::Conv { .. }));
                    if let Some(Op::Conv { pooled, .. }) = ops.last_mut() {
                        *pooled = true;
                    }
                    ops.push(Op::Pool { p, c, h, w, fused });
                    (h, w) = (h / p, w / p);
                }
            }
        }
        Ok(ConvStack { ops, params, input })
    }

    /// Values per input sample.
    pub fn input_len(&self) -> usize {
        self.input.0 * self.input.1 * self.input.2
    }

    /// Values per sample after the stack (the dense layers' input).
    pub fn output_len(&self) -> usize {
        self.ops.last().map_or(self.input_len(), Op::out_len)
    }

    pub fn params(&self) -> &[ConvParams] {
        &self.params
    }

    /// `(kernel, c_in, c_out)` of each convolution, in order.
    pub fn conv_shapes(&self) -> Vec<(usize, usize, usize)> {
        self.ops
            .iter()
            .filter_map(|op| match *op {
                Op::Conv { k, c_in, c_out, .. } => Some((k, c_in, c_out)),
                Op::Pool { .. } => None,
            })
            .collect()
    }

    pub fn params_mut(&mut self) -> &mut [ConvParams] {
        &mut self.params
    }

    pub fn workspace(&self, capacity: usize) -> ConvWorkspace {
        let mut ws = ConvWorkspace { capacity, out: vec![], delta: vec![], scratch: vec![], argmax: vec![] };
        let threads = rayon::current_num_threads().max(1);
        for op in &self.ops {
            // A pooled convolution's output and gradient: one pass per thread.
            let samples = if op.is_pooled_conv() { op.fused_samples().min(capacity) * threads } else { capacity };
            ws.out.push(vec![0.0; samples * op.out_len()]);
            ws.delta.push(vec![0.0; samples * op.out_len()]);
            // An im2col buffer holds one chunk per thread that may run a part.
            let samples = if op.is_im2col() { op.chunk_samples().min(capacity) * threads } else { capacity };
            ws.scratch.push(vec![0.0; samples * op.scratch_len()]);
            let pooled = if matches!(op, Op::Pool { .. }) { op.out_len() } else { 0 };
            ws.argmax.push(vec![0; capacity * pooled]);
        }
        ws
    }

    /// Runs `x` (`[n, h·w·c]`) through the stack; returns `[n, output_len]`.
    /// Outside a [`matmul::serial`] section (evaluation), the batch is split
    /// across the rayon pool by samples, every part with serial products.
    pub fn forward<'w>(&self, x: ArrayView2<f32>, ws: &'w mut ConvWorkspace, act: Activation) -> ArrayView2<'w, f32> {
        let n = x.nrows();
        assert!(n <= ws.capacity, "batch of {n} exceeds the conv workspace's {}", ws.capacity);
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout is contiguous");
        let threads = if matmul::is_serial() { 1 } else { rayon::current_num_threads() };
        // Never more parts than the im2col buffers have chunks for.
        let slots = self
            .ops
            .iter()
            .zip(&ws.scratch)
            .filter(|(op, _)| op.is_im2col())
            .map(|(op, buf)| buf.len() / (op.chunk_samples().min(ws.capacity.max(1)) * op.scratch_len()))
            .chain(
                self.ops
                    .iter()
                    .zip(&ws.out)
                    .filter(|(op, _)| op.is_pooled_conv())
                    .map(|(op, buf)| buf.len() / (op.fused_samples().min(ws.capacity.max(1)) * op.out_len())),
            )
            .min()
            .unwrap_or(usize::MAX);
        let parts = threads.min(n / MIN_SAMPLES_PER_PART).min(slots).max(1);
        let bounds: Vec<usize> = (0..=parts).map(|i| n * i / parts).collect();
        let mut split: Vec<Part> = bounds
            .windows(2)
            .map(|b| Part {
                n: b[1] - b[0],
                x: &xs[b[0] * self.input_len()..b[1] * self.input_len()],
                out: Vec::new(),
                scratch: Vec::new(),
                argmax: Vec::new(),
            })
            .collect();
        let cap = ws.capacity.max(1);
        let buffers = ws.out.iter_mut().zip(ws.scratch.iter_mut()).zip(ws.argmax.iter_mut());
        for (op, ((out, scratch), argmax)) in self.ops.iter().zip(buffers) {
            let per_arg = argmax.len() / cap;
            if op.is_pooled_conv() {
                let each = out.len() / bounds.len().saturating_sub(1).max(1);
                for (part, s) in split.iter_mut().zip(out.chunks_mut(each.max(1))) {
                    part.out.push(s);
                }
            } else {
                for (part, s) in split.iter_mut().zip(split_samples(out, op.out_len(), &bounds)) {
                    part.out.push(s);
                }
            }
            if op.is_im2col() {
                let each = scratch.len() / bounds.len().saturating_sub(1).max(1);
                for (part, s) in split.iter_mut().zip(scratch.chunks_mut(each.max(1))) {
                    part.scratch.push(s);
                }
            } else {
                for (part, s) in split.iter_mut().zip(split_samples(scratch, op.scratch_len(), &bounds)) {
                    part.scratch.push(s);
                }
            }
            for (part, s) in split.iter_mut().zip(split_samples(argmax, per_arg, &bounds)) {
                part.argmax.push(s);
            }
        }
        if parts == 1 {
            let part = split.pop().expect("one part");
            self.forward_part(part, act);
        } else {
            split.into_par_iter().for_each(|part| matmul::serial(|| self.forward_part(part, act)));
        }
        self.forward_output(ws, n)
    }

    /// The forward pass of one part of a batch. A convolution followed by
    /// its pool runs as one, a few samples at a time (see [`Op::fused_samples`]).
    fn forward_part(&self, part: Part, act: Activation) {
        let Part { n, x, mut out, mut scratch, mut argmax } = part;
        let mut i = 0;
        while i < self.ops.len() {
            let (before, after) = out.split_at_mut(i);
            let input: &[f32] = if i == 0 { x } else { &*before[i - 1] };
            match self.ops[i] {
                Op::Conv { k, h, w, pooled: true, direct, .. } => {
                    let Op::Pool { p, c, .. } = self.ops[i + 1] else {
                        unreachable!("a pooled conv precedes its pool")
                    };
                    let (z_buf, rest) = after.split_at_mut(1);
                    let (z_buf, pooled_out) = (&mut *z_buf[0], &mut *rest[0]);
                    let scratch = &mut *scratch[i];
                    if direct {
                        pad_images(input, scratch, n, h, w, k);
                    }
                    let op = &self.ops[i];
                    let (per_in, per_z, per_pool) = (op.in_len(), op.out_len(), self.ops[i + 1].out_len());
                    let chunk = op.fused_samples().min(z_buf.len() / per_z).max(1);
                    for s0 in (0..n).step_by(chunk) {
                        let m = chunk.min(n - s0);
                        let z = &mut z_buf[..m * per_z];
                        let inp = &input[s0 * per_in..(s0 + m) * per_in];
                        let scr = if direct { &mut scratch[s0 * op.scratch_len()..] } else { &mut *scratch };
                        self.conv_z(op, inp, scr, z, m);
                        let pooled = &mut pooled_out[s0 * per_pool..(s0 + m) * per_pool];
                        let at = &mut argmax[i + 1][s0 * per_pool..(s0 + m) * per_pool];
                        max_pool(z, pooled, at, m, h, w, c, p, Some(act));
                    }
                    i += 2;
                }
                Op::Conv { k, h, w, direct, .. } => {
                    let out = &mut *after[0];
                    let scratch = &mut *scratch[i];
                    if direct {
                        pad_images(input, scratch, n, h, w, k);
                    }
                    self.conv_z(&self.ops[i], input, scratch, out, n);
                    apply_activation(out, act);
                    i += 1;
                }
                Op::Pool { p, c, h, w, .. } => {
                    max_pool(input, &mut *after[0], argmax[i], n, h, w, c, p, None);
                    i += 1;
                }
            }
        }
    }

    /// `z = conv(input) + b` for `m` samples into `z` (no activation).
    /// `scratch` holds the samples' padded images (direct) or is the im2col
    /// buffer, filled here a chunk at a time.
    fn conv_z(&self, op: &Op, input: &[f32], scratch: &mut [f32], z: &mut [f32], m: usize) {
        let Op::Conv { k, c_in, c_out, h, w, param, direct, .. } = *op else { unreachable!("conv_z on a pool") };
        let p = &self.params[param];
        let wts = p.w.as_slice().expect("contiguous");
        let bias = p.b.as_slice().expect("contiguous");
        if direct {
            return direct_conv(scratch, wts, bias, z, m, h, w, k, c_out);
        }
        let (per_in, per_out, per_cols) = (h * w * c_in, h * w * c_out, op.scratch_len());
        let chunk = op.chunk_samples().min(scratch.len() / per_cols).max(1);
        for s0 in (0..m).step_by(chunk) {
            let mm = chunk.min(m - s0);
            let cols = &mut scratch[..mm * per_cols];
            im2col(&input[s0 * per_in..(s0 + mm) * per_in], cols, mm, h, w, c_in, k);
            let o = &mut z[s0 * per_out..(s0 + mm) * per_out];
            // The bias first, then the product accumulates onto it.
            for row in o.chunks_exact_mut(c_out) {
                row.copy_from_slice(bias);
            }
            let cols = ArrayView2::from_shape((mm * h * w, k * k * c_in), &*cols).expect("im2col shape");
            let zv = ArrayViewMut2::from_shape((mm * h * w, c_out), o).expect("output shape");
            matmul(cols, p.w.view(), zv, true);
        }
    }

    /// Per convolution, its activations from the last [`ConvStack::forward`]
    /// on `n` samples, `[positions, c_out]`: the pool's output when a
    /// max-pool follows (it applies the activation),
    /// else the convolution's own.
    pub fn conv_activations<'w>(&self, ws: &'w ConvWorkspace, n: usize) -> Vec<ArrayView2<'w, f32>> {
        self.ops
            .iter()
            .enumerate()
            .filter(|(_, op)| matches!(op, Op::Conv { .. }))
            .map(|(i, op)| {
                let j = if matches!(op, Op::Conv { pooled: true, .. }) { i + 1 } else { i };
                let (h, w, c) = self.ops[j].out_shape();
                ArrayView2::from_shape((n * h * w, c), &ws.out[j][..n * h * w * c]).expect("activation shape")
            })
            .collect()
    }

    /// The output of the last [`ConvStack::forward`] on `n` samples, `[n, output_len]`.
    pub fn forward_output<'w>(&self, ws: &'w ConvWorkspace, n: usize) -> ArrayView2<'w, f32> {
        let len = self.output_len();
        let last = ws.out.last().expect("a stack has at least one op");
        ArrayView2::from_shape((n, len), &last[..n * len]).expect("flatten")
    }

    /// The gradient buffer of the stack's output, `[n, output_len]`, for the
    /// dense layers to fill before [`ConvStack::backward`].
    pub fn output_grad<'w>(&self, ws: &'w mut ConvWorkspace, n: usize) -> ArrayViewMut2<'w, f32> {
        let len = self.output_len();
        let last = ws.delta.last_mut().expect("a stack has at least one op");
        ArrayViewMut2::from_shape((n, len), &mut last[..n * len]).expect("flatten")
    }

    /// Back through the stack from the gradient in [`ConvStack::output_grad`]
    /// (after a [`ConvStack::forward`] of the same `x`), into `grads`
    /// (`(dW, db)` per convolution, overwritten).
    pub fn backward(
        &self,
        x: ArrayView2<f32>,
        ws: &mut ConvWorkspace,
        act: Activation,
        grads: &mut [(Array2<f32>, Array1<f32>)],
    ) {
        let n = x.nrows();
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout is contiguous");
        // Op i needs the gradient at its input only if a convolution precedes it.
        let first_conv = self.ops.iter().position(|op| matches!(op, Op::Conv { .. })).unwrap_or(self.ops.len());
        let mut i = self.ops.len();
        while i > 0 {
            i -= 1;
            match self.ops[i] {
                Op::Pool { p, c, h, w, fused: true } => {
                    // The pool and its convolution together, a few samples at a time.
                    let conv = i - 1;
                    let Op::Conv { c_out, param, .. } = self.ops[conv] else {
                        unreachable!("a fused pool follows a conv")
                    };
                    let op = &self.ops[conv];
                    let (per_z, per_pool) = (op.out_len(), self.ops[i].out_len());
                    let (d_before, d_rest) = ws.delta.split_at_mut(conv);
                    let (dz_buf, d_pool) = d_rest.split_at_mut(1);
                    let (dz_buf, d_pool) = (&mut dz_buf[0], &d_pool[0][..n * per_pool]);
                    let pooled = &ws.out[i][..n * per_pool];
                    let input: &[f32] = if conv == 0 { xs } else { &ws.out[conv - 1] };
                    let (gw, gb) = &mut grads[param];
                    gw.fill(0.0);
                    gb.fill(0.0);
                    let chunk = op.fused_samples().min(dz_buf.len() / per_z).max(1);
                    for s0 in (0..n).step_by(chunk) {
                        let m = chunk.min(n - s0);
                        let dz = &mut dz_buf[..m * per_z];
                        let range = s0 * per_pool..(s0 + m) * per_pool;
                        let at = &ws.argmax[i][range.clone()];
                        pool_backward(dz, &d_pool[range.clone()], &pooled[range], at, m, h, w, c, p, Some(act));
                        let prev = (conv > first_conv).then(|| &mut *d_before[conv - 1]);
                        self.conv_backward(op, input, &mut ws.scratch[conv], dz, s0, m, gw, gb, prev);
                    }
                    debug_assert_eq!(c, c_out);
                    i -= 1;
                }
                Op::Pool { p, c, h, w, fused: false } => {
                    if i > first_conv {
                        let per_in = self.ops[i].in_len();
                        let rows = n * self.ops[i].out_len();
                        let (d_before, d_after) = ws.delta.split_at_mut(i);
                        let prev = &mut d_before[i - 1][..n * per_in];
                        let (delta, out) = (&d_after[0][..rows], &ws.out[i][..rows]);
                        pool_backward(prev, delta, out, &ws.argmax[i][..rows], n, h, w, c, p, None);
                    }
                }
                Op::Conv { param, .. } => {
                    // Not pooled: the next op left `δ` at the outputs, whole batch.
                    let op = &self.ops[i];
                    let rows = n * op.out_len();
                    let (d_before, d_after) = ws.delta.split_at_mut(i);
                    let delta = &mut d_after[0][..rows];
                    scale_by_derivative(delta, &ws.out[i][..rows], act);
                    let input: &[f32] = if i == 0 { xs } else { &ws.out[i - 1] };
                    let (gw, gb) = &mut grads[param];
                    gw.fill(0.0);
                    gb.fill(0.0);
                    let prev = (i > first_conv).then(|| &mut *d_before[i - 1]);
                    self.conv_backward(op, input, &mut ws.scratch[i], delta, 0, n, gw, gb, prev);
                }
            }
        }
    }

    /// The backward pass of convolution `op` for samples `s0..s0+m`, from
    /// their `δz` (`[m·h·w, c_out]`): adds to the weight and bias gradients
    /// and, with `prev`, writes the gradient at the op's input (whole-batch
    /// buffer) for those samples. `input` and `scratch` are the forward
    /// pass's (the whole batch's input; the padded images, or an im2col
    /// buffer filled again here chunk by chunk).
    #[allow(clippy::too_many_arguments)]
    fn conv_backward(
        &self,
        op: &Op,
        input: &[f32],
        scratch: &mut [f32],
        dz: &[f32],
        s0: usize,
        m: usize,
        gw: &mut Array2<f32>,
        gb: &mut Array1<f32>,
        prev: Option<&mut [f32]>,
    ) {
        let Op::Conv { k, c_in, c_out, h, w, param, direct, .. } = *op else { unreachable!("conv_backward on a pool") };
        let gbs = gb.as_slice_mut().expect("contiguous");
        for row in dz.chunks_exact(c_out) {
            gbs.iter_mut().zip(row).for_each(|(g, &v)| *g += v);
        }
        let per_cols = op.scratch_len();
        if direct {
            // Nothing trainable before a direct convolution: no input gradient.
            let padded = &scratch[s0 * per_cols..(s0 + m) * per_cols];
            direct_conv_weight_grad(padded, dz, gw.as_slice_mut().expect("contiguous"), m, h, w, k, c_out);
            return;
        }
        let mut prev = prev;
        let (per_in, per_out) = (h * w * c_in, h * w * c_out);
        let chunk = op.chunk_samples().min(scratch.len() / per_cols).max(1);
        for t0 in (0..m).step_by(chunk) {
            let mm = chunk.min(m - t0);
            let a = s0 + t0;
            let cols = &mut scratch[..mm * per_cols];
            // im2col again: cheaper than keeping a batch's matrix, out of cache.
            im2col(&input[a * per_in..(a + mm) * per_in], cols, mm, h, w, c_in, k);
            let d = ArrayView2::from_shape((mm * h * w, c_out), &dz[t0 * per_out..(t0 + mm) * per_out])
                .expect("delta shape");
            {
                let cols = ArrayView2::from_shape((mm * h * w, k * k * c_in), &*cols).expect("im2col shape");
                matmul(cols.t(), d, gw.view_mut(), true);
            }
            if let Some(prev) = prev.as_deref_mut() {
                // dcols = δ · Wᵀ over the im2col buffer, then col2im onto the input's gradient.
                let mut dcols =
                    ArrayViewMut2::from_shape((mm * h * w, k * k * c_in), &mut *cols).expect("im2col shape");
                matmul(d, self.params[param].w.t(), dcols.view_mut(), false);
                let prev = &mut prev[a * per_in..(a + mm) * per_in];
                prev.fill(0.0);
                col2im(cols, prev, mm, h, w, c_in, k);
            }
        }
    }
}

/// The elementwise and copying kernels of the convolutions: im2col/col2im,
/// the direct first-layer convolution, pooling, activations.
mod kernels;
use kernels::*;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// The stack's output against a direct sum over the kernel, on `c`
    /// input channels (1: the direct convolution; more: im2col + product).
    fn check_against_direct_sum(c: usize) {
        let mut rng = StdRng::seed_from_u64(1);
        let (h, w) = (4usize, 5usize);
        let stack = ConvStack::new(
            &[ConvLayer::Conv { filters: 3, kernel: 3 }],
            (h, w, c),
            Activation::Linear,
            Init::Glorot,
            &mut rng,
        )
        .unwrap();
        let mut stack = stack;
        stack.params[0].b = Array1::from(vec![0.1, -0.2, 0.3]);
        let len = h * w * c;
        let x = Array2::from_shape_fn((2, len), |(s, i)| ((s * len + i) as f32 * 0.3).sin());
        let mut ws = stack.workspace(2);
        let out = stack.forward(x.view(), &mut ws, Activation::Linear).to_owned();
        let p = &stack.params[0];
        for s in 0..2 {
            for y in 0..h as i32 {
                for xx in 0..w as i32 {
                    for f in 0..3 {
                        let mut want = p.b[f];
                        for dy in 0..3i32 {
                            for dx in 0..3i32 {
                                let (yy, xs) = (y + dy - 1, xx + dx - 1);
                                if (0..h as i32).contains(&yy) && (0..w as i32).contains(&xs) {
                                    for ci in 0..c {
                                        let v = x[[s, (yy as usize * w + xs as usize) * c + ci]];
                                        want += v * p.w[[(dy * 3 + dx) as usize * c + ci, f]];
                                    }
                                }
                            }
                        }
                        let got = out[[s, ((y as usize * w + xx as usize) * 3) + f]];
                        assert!((got - want).abs() < 1e-5, "c{c} s{s} y{y} x{xx} f{f}: {got} vs {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn convolution_matches_a_direct_sum() {
        check_against_direct_sum(1);
        check_against_direct_sum(2);
    }

    /// Evaluation splits a batch across threads; the outputs are those of
    /// one serial pass.
    #[test]
    fn a_batch_split_across_threads_gives_the_serial_outputs() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| {
            let mut rng = StdRng::seed_from_u64(3);
            let specs = [
                ConvLayer::Conv { filters: 4, kernel: 3 },
                ConvLayer::MaxPool(2),
                ConvLayer::Conv { filters: 5, kernel: 3 },
                ConvLayer::MaxPool(2),
            ];
            let stack = ConvStack::new(&specs, (8, 8, 1), Activation::Relu, Init::Auto, &mut rng).unwrap();
            let x = Array2::from_shape_fn((100, 64), |(s, i)| ((s * 64 + i) as f32 * 0.17).sin());
            let mut ws = stack.workspace(100);
            let split = stack.forward(x.view(), &mut ws, Activation::Relu).to_owned();
            let serial = matmul::serial(|| stack.forward(x.view(), &mut ws, Activation::Relu).to_owned());
            assert_eq!(split.dim(), (100, 2 * 2 * 5));
            assert!((&split - &serial).iter().all(|d| d.abs() < 1e-6));
        });
    }

    #[test]
    fn an_empty_stack_is_an_error_not_a_panic() {
        let mut rng = StdRng::seed_from_u64(1);
        let err = ConvStack::new(&[], (28, 28, 1), Activation::Relu, Init::Auto, &mut rng).unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let net = crate::nn::Network::with_conv((28, 28, 1), &[], &[8], 10, Activation::Relu, Init::Auto, &mut rng);
        assert!(net.is_err());
    }

    #[test]
    fn max_pool_keeps_each_window_maximum() {
        let mut rng = StdRng::seed_from_u64(1);
        let stack =
            ConvStack::new(&[ConvLayer::MaxPool(2)], (4, 4, 1), Activation::Relu, Init::Auto, &mut rng).unwrap();
        let x = Array2::from_shape_fn((1, 16), |(_, i)| i as f32);
        let mut ws = stack.workspace(1);
        let out = stack.forward(x.view(), &mut ws, Activation::Relu).to_owned();
        assert_eq!(out.as_slice().unwrap(), &[5.0, 7.0, 13.0, 15.0]);
        assert_eq!(stack.output_len(), 4);
    }

    #[test]
    fn shapes_that_do_not_fit_are_errors() {
        let mut rng = StdRng::seed_from_u64(1);
        let even = [ConvLayer::Conv { filters: 4, kernel: 2 }];
        assert!(ConvStack::new(&even, (8, 8, 1), Activation::Relu, Init::Auto, &mut rng).is_err());
        let big = [ConvLayer::MaxPool(16)];
        assert!(ConvStack::new(&big, (8, 8, 1), Activation::Relu, Init::Auto, &mut rng).is_err());
    }
}
