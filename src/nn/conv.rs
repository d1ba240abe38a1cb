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

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, s};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::matmul::matmul;
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
    Conv { k: usize, c_in: usize, c_out: usize, h: usize, w: usize, param: usize },
    Pool { p: usize, c: usize, h: usize, w: usize },
}

impl Op {
    /// Output `(h, w, c)`.
    fn out_shape(&self) -> (usize, usize, usize) {
        match *self {
            Op::Conv { c_out, h, w, .. } => (h, w, c_out),
            Op::Pool { p, c, h, w } => (h / p, w / p, c),
        }
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

/// Buffers of one batch through the stack, for up to `capacity` samples.
#[derive(Clone, Debug)]
pub struct ConvWorkspace {
    /// Per op: its output `[cap·h·w, c]` and the gradient there.
    out: Vec<Array2<f32>>,
    delta: Vec<Array2<f32>>,
    /// Per conv op: im2col of its input; per pool op: empty.
    cols: Vec<Array2<f32>>,
    /// Per pool op: flat input index of each output's maximum.
    argmax: Vec<Vec<u32>>,
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
        let (mut h, mut w, mut c) = input;
        let mut ops = Vec::new();
        let mut params = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            match *spec {
                ConvLayer::Conv { filters, kernel } => {
                    if filters == 0 || kernel == 0 || kernel.is_multiple_of(2) {
                        return Err(format!("conv layer {}: needs filters >= 1 and an odd kernel", i + 1));
                    }
                    let fan_in = kernel * kernel * c;
                    let wts = init.weights(activation, fan_in, filters, rng);
                    params.push(ConvParams { w: wts, b: Array1::zeros(filters) });
                    ops.push(Op::Conv { k: kernel, c_in: c, c_out: filters, h, w, param: params.len() - 1 });
                    c = filters;
                }
                ConvLayer::MaxPool(p) => {
                    if p < 2 || h / p == 0 || w / p == 0 {
                        return Err(format!("conv layer {}: MaxPool({p}) does not fit a {h}x{w} map", i + 1));
                    }
                    ops.push(Op::Pool { p, c, h, w });
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
        let (h, w, c) = self.ops.last().map_or(self.input, Op::out_shape);
        h * w * c
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
        let mut ws = ConvWorkspace { out: vec![], delta: vec![], cols: vec![], argmax: vec![] };
        for op in &self.ops {
            let (h, w, c) = op.out_shape();
            ws.out.push(Array2::zeros((capacity * h * w, c)));
            ws.delta.push(Array2::zeros((capacity * h * w, c)));
            match *op {
                Op::Conv { k, c_in, h, w, .. } => {
                    ws.cols.push(Array2::zeros((capacity * h * w, k * k * c_in)));
                    ws.argmax.push(Vec::new());
                }
                Op::Pool { .. } => {
                    ws.cols.push(Array2::zeros((0, 0)));
                    ws.argmax.push(vec![0; capacity * h * w * c]);
                }
            }
        }
        ws
    }

    /// Runs `x` (`[n, h·w·c]`) through the stack; returns `[n, output_len]`.
    pub fn forward<'w>(&self, x: ArrayView2<f32>, ws: &'w mut ConvWorkspace, act: Activation) -> ArrayView2<'w, f32> {
        let n = x.nrows();
        let x = x.as_standard_layout();
        let x_maps = x.view().into_shape_with_order((n * self.input.0 * self.input.1, self.input.2)).expect("NHWC");
        for (i, op) in self.ops.iter().enumerate() {
            let (before, after) = ws.out.split_at_mut(i);
            let input = if i == 0 { x_maps.view() } else { before[i - 1].view() };
            let (h, w, c) = op.out_shape();
            let rows = n * h * w;
            let mut out = after[0].slice_mut(s![..rows, ..]);
            match *op {
                Op::Conv { k, c_in, h, w, param, .. } => {
                    let input = input.slice(s![..n * h * w, ..]);
                    let mut cols = ws.cols[i].slice_mut(s![..rows, ..]);
                    im2col(input, cols.view_mut(), n, h, w, c_in, k);
                    let p = &self.params[param];
                    matmul(cols.view(), p.w.view(), out.view_mut(), false);
                    let b = p.b.as_slice().expect("contiguous");
                    for mut row in out.rows_mut() {
                        row.iter_mut().zip(b).for_each(|(z, &b)| *z = act.f(*z + b));
                    }
                }
                Op::Pool { p, c: _, h: hi, w: wi } => {
                    let input = input.slice(s![..n * hi * wi, ..]);
                    max_pool(input, out.view_mut(), &mut ws.argmax[i], n, hi, wi, c, p);
                }
            }
        }
        self.forward_output(ws, n)
    }

    /// The output of the last [`ConvStack::forward`] on `n` samples, `[n, output_len]`.
    pub fn forward_output<'w>(&self, ws: &'w ConvWorkspace, n: usize) -> ArrayView2<'w, f32> {
        let last = self.ops.len() - 1;
        let (h, w, c) = self.ops[last].out_shape();
        let flat = ws.out[last].slice(s![..n * h * w, ..]);
        let slice = flat.to_slice().expect("a row prefix is contiguous");
        ArrayView2::from_shape((n, h * w * c), slice).expect("flatten")
    }

    /// The gradient buffer of the stack's output, `[n, output_len]`, for the
    /// dense layers to fill before [`ConvStack::backward`].
    pub fn output_grad<'w>(&self, ws: &'w mut ConvWorkspace, n: usize) -> ArrayViewMut2<'w, f32> {
        let last = self.ops.len() - 1;
        let (h, w, c) = self.ops[last].out_shape();
        let flat = ws.delta[last].slice_mut(s![..n * h * w, ..]);
        let slice = flat.into_slice().expect("a row prefix is contiguous");
        ArrayViewMut2::from_shape((n, h * w * c), slice).expect("flatten")
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
        for i in (0..self.ops.len()).rev() {
            let (h, w, c) = self.ops[i].out_shape();
            let rows = n * h * w;
            let (d_before, d_after) = ws.delta.split_at_mut(i);
            let delta = &mut d_after[0];
            match self.ops[i] {
                Op::Conv { k, c_in, h, w, param, .. } => {
                    // δ ⊙= f'(out), through the outputs as in the dense layers.
                    let mut d = delta.slice_mut(s![..rows, ..]);
                    let out = ws.out[i].slice(s![..rows, ..]);
                    ndarray::Zip::from(&mut d).and(&out).for_each(|d, &a| *d *= act.df_from_output(a));
                    let cols = ws.cols[i].slice(s![..rows, ..]);
                    let (gw, gb) = &mut grads[param];
                    matmul(cols.t(), d.view(), gw.view_mut(), false);
                    gb.fill(0.0);
                    for row in d.rows() {
                        gb.iter_mut().zip(row).for_each(|(g, &v)| *g += v);
                    }
                    if i > 0 {
                        // dcols = δ · Wᵀ, then col2im onto the previous output's gradient.
                        let mut dcols = ws.cols[i].slice_mut(s![..rows, ..]);
                        matmul(d.view(), self.params[param].w.t(), dcols.view_mut(), false);
                        let mut prev = d_before[i - 1].slice_mut(s![..n * h * w, ..]);
                        prev.fill(0.0);
                        col2im(dcols.view(), prev, n, h, w, c_in, k);
                    }
                }
                Op::Pool { h: hi, w: wi, .. } => {
                    if i > 0 {
                        let mut prev = d_before[i - 1].slice_mut(s![..n * hi * wi, ..]);
                        prev.fill(0.0);
                        let prev = prev.as_slice_mut().expect("contiguous");
                        let d = delta.slice(s![..rows, ..]);
                        for (&g, &at) in d.as_slice().expect("contiguous").iter().zip(&ws.argmax[i][..rows * c]) {
                            prev[at as usize] += g;
                        }
                    }
                }
            }
        }
    }
}

/// `cols[(s,y,x), (dy,dx,ci)] = input[(s, y+dy-k/2, x+dx-k/2), ci]`, 0 outside.
fn im2col(input: ArrayView2<f32>, mut cols: ArrayViewMut2<f32>, n: usize, h: usize, w: usize, c: usize, k: usize) {
    let pad = (k / 2) as isize;
    let inp = input.as_slice().expect("contiguous maps");
    for s in 0..n {
        for y in 0..h {
            for x in 0..w {
                let mut row = cols.row_mut((s * h + y) * w + x);
                let row = row.as_slice_mut().expect("contiguous");
                for dy in 0..k {
                    let yy = y as isize + dy as isize - pad;
                    for dx in 0..k {
                        let xx = x as isize + dx as isize - pad;
                        let dst = &mut row[(dy * k + dx) * c..(dy * k + dx + 1) * c];
                        if yy < 0 || xx < 0 || yy >= h as isize || xx >= w as isize {
                            dst.fill(0.0);
                        } else {
                            let at = ((s * h + yy as usize) * w + xx as usize) * c;
                            dst.copy_from_slice(&inp[at..at + c]);
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each column entry back onto its input position.
fn col2im(cols: ArrayView2<f32>, mut out: ArrayViewMut2<f32>, n: usize, h: usize, w: usize, c: usize, k: usize) {
    let pad = (k / 2) as isize;
    let dst = out.as_slice_mut().expect("contiguous maps");
    for s in 0..n {
        for y in 0..h {
            for x in 0..w {
                let row = cols.row((s * h + y) * w + x);
                let row = row.as_slice().expect("contiguous");
                for dy in 0..k {
                    let yy = y as isize + dy as isize - pad;
                    if yy < 0 || yy >= h as isize {
                        continue;
                    }
                    for dx in 0..k {
                        let xx = x as isize + dx as isize - pad;
                        if xx < 0 || xx >= w as isize {
                            continue;
                        }
                        let at = ((s * h + yy as usize) * w + xx as usize) * c;
                        let src = &row[(dy * k + dx) * c..(dy * k + dx + 1) * c];
                        dst[at..at + c].iter_mut().zip(src).for_each(|(d, &v)| *d += v);
                    }
                }
            }
        }
    }
}

/// p×p max-pooling with stride p; `argmax` gets each output's input index.
#[allow(clippy::too_many_arguments)]
fn max_pool(
    input: ArrayView2<f32>,
    mut out: ArrayViewMut2<f32>,
    argmax: &mut [u32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    p: usize,
) {
    let inp = input.as_slice().expect("contiguous maps");
    let out = out.as_slice_mut().expect("contiguous maps");
    let (ho, wo) = (h / p, w / p);
    for s in 0..n {
        for oy in 0..ho {
            for ox in 0..wo {
                for ch in 0..c {
                    let (mut best, mut at) = (f32::NEG_INFINITY, 0usize);
                    for dy in 0..p {
                        for dx in 0..p {
                            let i = ((s * h + oy * p + dy) * w + ox * p + dx) * c + ch;
                            if inp[i] > best {
                                best = inp[i];
                                at = i;
                            }
                        }
                    }
                    let o = ((s * ho + oy) * wo + ox) * c + ch;
                    out[o] = best;
                    argmax[o] = at as u32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn convolution_matches_a_direct_sum() {
        let mut rng = StdRng::seed_from_u64(1);
        let stack = ConvStack::new(
            &[ConvLayer::Conv { filters: 2, kernel: 3 }],
            (4, 5, 1),
            Activation::Linear,
            Init::Glorot,
            &mut rng,
        )
        .unwrap();
        let x = Array2::from_shape_fn((2, 20), |(s, i)| ((s * 20 + i) as f32 * 0.3).sin());
        let mut ws = stack.workspace(2);
        let out = stack.forward(x.view(), &mut ws, Activation::Linear).to_owned();
        let p = &stack.params[0];
        for s in 0..2 {
            for y in 0..4i32 {
                for xx in 0..5i32 {
                    for f in 0..2 {
                        let mut want = p.b[f];
                        for dy in 0..3i32 {
                            for dx in 0..3i32 {
                                let (yy, xs) = (y + dy - 1, xx + dx - 1);
                                if (0..4).contains(&yy) && (0..5).contains(&xs) {
                                    want += x[[s, (yy * 5 + xs) as usize]] * p.w[[(dy * 3 + dx) as usize, f]];
                                }
                            }
                        }
                        let got = out[[s, ((y * 5 + xx) * 2) as usize + f]];
                        assert!((got - want).abs() < 1e-5, "s{s} y{y} x{xx} f{f}: {got} vs {want}");
                    }
                }
            }
        }
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
