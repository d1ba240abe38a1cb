//! The convolutions' inner loops, apart from the layer logic in `conv.rs`:
//! im2col and col2im a few samples at a time, the direct convolution of the
//! first layer on 16-channel blocks, the weight gradient, max-pooling fused
//! with the activation and its backward pass, and the small copy helpers.
//! The blocked kernels are compiled for AVX-512F / AVX2 / baseline and
//! picked at run time (`simd_kernel!`).

#![allow(clippy::too_many_arguments)]

use super::*;

/// Splits the first `bounds.last()` samples of `buf` (`per` values each)
/// at the sample `bounds`.
pub(super) fn split_samples<'a, T>(buf: &'a mut [T], per: usize, bounds: &[usize]) -> Vec<&'a mut [T]> {
    let mut rest = buf;
    let mut parts = Vec::with_capacity(bounds.len().saturating_sub(1));
    for b in bounds.windows(2) {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut((b[1] - b[0]) * per);
        parts.push(head);
        rest = tail;
    }
    parts
}

/// `f` over `values` in place; ReLU on its own loop, so it vectorizes.
pub(super) fn apply_activation(values: &mut [f32], act: Activation) {
    match act {
        Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Linear => {}
        act => values.iter_mut().for_each(|v| *v = act.f(*v)),
    }
}

/// `δ ⊙= f'(a)` through the outputs `a`.
pub(super) fn scale_by_derivative(delta: &mut [f32], out: &[f32], act: Activation) {
    match act {
        Activation::Relu => delta.iter_mut().zip(out).for_each(|(d, &a)| *d = if a > 0.0 { *d } else { 0.0 }),
        Activation::Linear => {}
        act => delta.iter_mut().zip(out).for_each(|(d, &a)| *d *= act.df_from_output(a)),
    }
}

/// Defines `fn $name(args)` that runs `$body(args)` compiled for AVX-512F
/// or AVX2 when the CPU has them (checked at run time; the baseline x86-64
/// build has SSE2 only), else the baseline build. `$body` is
/// `#[inline(always)]`, so each copy gets its own code generation. No FMA
/// contraction: results are the same in all three.
macro_rules! simd_kernel {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $body:ident) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        pub(super) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F, checked just above.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

/// Channels per block of the kernels below: one AVX-512 register, two AVX2
/// ones. Whole blocks run on fixed-size arrays the compiler keeps in
/// registers; a narrower remainder takes a plain loop.
const BLOCK: usize = 16;

/// `dst.copy_from_slice(src)` in fixed 16-value blocks, inlined: a `memcpy`
/// call per short run (48 values for a 3×3 kernel on 16 channels) cost more
/// than the copy itself (17% of a step).
#[inline(always)]
pub(super) fn copy_short(dst: &mut [f32], src: &[f32]) {
    let mut d = dst.chunks_exact_mut(BLOCK);
    let mut s = src.chunks_exact(BLOCK);
    for (d, s) in (&mut d).zip(&mut s) {
        let d: &mut [f32; BLOCK] = d.try_into().expect("a whole block");
        *d = *<&[f32; BLOCK]>::try_from(s).expect("a whole block");
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}

#[inline(always)]
pub(super) fn add_short(dst: &mut [f32], src: &[f32]) {
    let mut d = dst.chunks_exact_mut(BLOCK);
    let mut s = src.chunks_exact(BLOCK);
    for (d, s) in (&mut d).zip(&mut s) {
        let d: &mut [f32; BLOCK] = d.try_into().expect("a whole block");
        let s: &[f32; BLOCK] = s.try_into().expect("a whole block");
        for j in 0..BLOCK {
            d[j] += s[j];
        }
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d += *s;
    }
}

simd_kernel! {
    /// `cols[(s,y,x), (dy,dx,ci)] = input[(s, y+dy-k/2, x+dx-k/2), ci]`, 0
    /// outside. The `k` taps of one kernel row are `k·c` contiguous input
    /// values when the row lies inside the map: one copy each.
    fn im2col(inp: &[f32], cols: &mut [f32], n: usize, h: usize, w: usize, c: usize, k: usize) => im2col_body
}

#[inline(always)]
pub(super) fn im2col_body(inp: &[f32], cols: &mut [f32], n: usize, h: usize, w: usize, c: usize, k: usize) {
    let pad = k / 2;
    let width = k * k * c;
    let run = k * c;
    for s in 0..n {
        for y in 0..h {
            for x in 0..w {
                let row = &mut cols[((s * h + y) * w + x) * width..][..width];
                for dy in 0..k {
                    let dst = &mut row[dy * run..(dy + 1) * run];
                    let Some(yy) = (y + dy).checked_sub(pad).filter(|&yy| yy < h) else {
                        dst.fill(0.0);
                        continue;
                    };
                    let line = &inp[(s * h + yy) * w * c..(s * h + yy + 1) * w * c];
                    if x >= pad && x + pad < w {
                        copy_short(dst, &line[(x - pad) * c..(x + pad + 1) * c]);
                    } else {
                        for dx in 0..k {
                            let d = &mut dst[dx * c..(dx + 1) * c];
                            match (x + dx).checked_sub(pad).filter(|&xx| xx < w) {
                                Some(xx) => copy_short(d, &line[xx * c..(xx + 1) * c]),
                                None => d.fill(0.0),
                            }
                        }
                    }
                }
            }
        }
    }
}

simd_kernel! {
    /// The adjoint of [`im2col`]: adds each column entry back onto its input position.
    fn col2im(cols: &[f32], dst: &mut [f32], n: usize, h: usize, w: usize, c: usize, k: usize) => col2im_body
}

#[inline(always)]
pub(super) fn col2im_body(cols: &[f32], dst: &mut [f32], n: usize, h: usize, w: usize, c: usize, k: usize) {
    let pad = k / 2;
    let width = k * k * c;
    for s in 0..n {
        for y in 0..h {
            for x in 0..w {
                let row = &cols[((s * h + y) * w + x) * width..][..width];
                for dy in 0..k {
                    let Some(yy) = (y + dy).checked_sub(pad).filter(|&yy| yy < h) else { continue };
                    let line = &mut dst[(s * h + yy) * w * c..(s * h + yy + 1) * w * c];
                    let src = &row[dy * k * c..(dy + 1) * k * c];
                    if x >= pad && x + pad < w {
                        add_short(&mut line[(x - pad) * c..(x + pad + 1) * c], src);
                    } else {
                        for dx in 0..k {
                            if let Some(xx) = (x + dx).checked_sub(pad).filter(|&xx| xx < w) {
                                add_short(&mut line[xx * c..(xx + 1) * c], &src[dx * c..(dx + 1) * c]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Copies each single-channel `h×w` image into the middle of a zeroed
/// `(h+k-1)×(w+k-1)` one, so the direct convolution needs no bounds tests.
pub(super) fn pad_images(inp: &[f32], padded: &mut [f32], n: usize, h: usize, w: usize, k: usize) {
    let pad = k / 2;
    let (hp, wp) = (h + 2 * pad, w + 2 * pad);
    for s in 0..n {
        let dst = &mut padded[s * hp * wp..(s + 1) * hp * wp];
        dst.fill(0.0);
        for y in 0..h {
            let src = &inp[(s * h + y) * w..(s * h + y + 1) * w];
            dst[(y + pad) * wp + pad..(y + pad) * wp + pad + w].copy_from_slice(src);
        }
    }
}

simd_kernel! {
    /// `out[(s,y,x), co] = b[co] + Σ_{dy,dx} padded[s, y+dy, x+dx] · W[(dy,dx), co]`:
    /// a convolution with one input channel, where im2col would copy each
    /// pixel `k²` times to feed a product with an inner dimension of `k²`.
    fn direct_conv(
        padded: &[f32], wts: &[f32], bias: &[f32], out: &mut [f32], n: usize, h: usize, w: usize, k: usize, c: usize,
    ) => direct_conv_body
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn direct_conv_body(
    padded: &[f32],
    wts: &[f32],
    bias: &[f32],
    out: &mut [f32],
    n: usize,
    h: usize,
    w: usize,
    k: usize,
    c: usize,
) {
    let whole = c - c % BLOCK;
    match k {
        3 => direct_conv_blocks::<3>(padded, wts, bias, out, n, h, w, c),
        5 => direct_conv_blocks::<5>(padded, wts, bias, out, n, h, w, c),
        _ => direct_conv_range(padded, wts, bias, out, n, h, w, k, c, 0..whole),
    }
    direct_conv_range(padded, wts, bias, out, n, h, w, k, c, whole..c);
}

/// The whole channel blocks of a `K×K` direct convolution: the block's
/// `K²` weight vectors are loaded once and stay in registers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn direct_conv_blocks<const K: usize>(
    padded: &[f32],
    wts: &[f32],
    bias: &[f32],
    out: &mut [f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
) {
    let wp = w + K - 1;
    let img = (h + K - 1) * wp;
    for c0 in (0..c - c % BLOCK).step_by(BLOCK) {
        let mut wv = [[[0.0f32; BLOCK]; K]; K];
        for (dy, row) in wv.iter_mut().enumerate() {
            for (dx, v) in row.iter_mut().enumerate() {
                *v = wts[(dy * K + dx) * c + c0..][..BLOCK].try_into().expect("a whole block");
            }
        }
        let b: [f32; BLOCK] = bias[c0..c0 + BLOCK].try_into().expect("a whole block");
        for s in 0..n {
            let pim = &padded[s * img..(s + 1) * img];
            for y in 0..h {
                for x in 0..w {
                    let mut acc = b;
                    for (dy, wrow) in wv.iter().enumerate() {
                        let line: &[f32; K] = pim[(y + dy) * wp + x..][..K].try_into().expect("K taps");
                        for (&v, wk) in line.iter().zip(wrow) {
                            for j in 0..BLOCK {
                                acc[j] += v * wk[j];
                            }
                        }
                    }
                    let o: &mut [f32; BLOCK] =
                        (&mut out[((s * h + y) * w + x) * c + c0..][..BLOCK]).try_into().expect("a whole block");
                    *o = acc;
                }
            }
        }
    }
}

/// Any kernel size, channels `chans` only: the plain loop.
#[allow(clippy::too_many_arguments)]
pub(super) fn direct_conv_range(
    padded: &[f32],
    wts: &[f32],
    bias: &[f32],
    out: &mut [f32],
    n: usize,
    h: usize,
    w: usize,
    k: usize,
    c: usize,
    chans: std::ops::Range<usize>,
) {
    if chans.is_empty() {
        return;
    }
    let wp = w + k - 1;
    let img = (h + k - 1) * wp;
    for s in 0..n {
        let pim = &padded[s * img..(s + 1) * img];
        for y in 0..h {
            for x in 0..w {
                let o = &mut out[((s * h + y) * w + x) * c..][..c];
                for co in chans.clone() {
                    let mut acc = bias[co];
                    for dy in 0..k {
                        for dx in 0..k {
                            acc += pim[(y + dy) * wp + x + dx] * wts[(dy * k + dx) * c + co];
                        }
                    }
                    o[co] = acc;
                }
            }
        }
    }
}

simd_kernel! {
    /// `dW[(dy,dx), co] += Σ_{s,y,x} padded[s, y+dy, x+dx] · δ[(s,y,x), co]`.
    fn direct_conv_weight_grad(
        padded: &[f32], delta: &[f32], gw: &mut [f32], n: usize, h: usize, w: usize, k: usize, c: usize,
    ) => weight_grad_body
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn weight_grad_body(
    padded: &[f32],
    delta: &[f32],
    gw: &mut [f32],
    n: usize,
    h: usize,
    w: usize,
    k: usize,
    c: usize,
) {
    let whole = c - c % BLOCK;
    match k {
        3 => weight_grad_blocks::<3>(padded, delta, gw, n, h, w, c),
        5 => weight_grad_blocks::<5>(padded, delta, gw, n, h, w, c),
        _ => weight_grad_range(padded, delta, gw, n, h, w, k, c, 0..whole),
    }
    weight_grad_range(padded, delta, gw, n, h, w, k, c, whole..c);
}

/// The whole channel blocks for a `K×K` kernel: all `K²` sums of a block in
/// registers over the batch, one pass over `δ`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn weight_grad_blocks<const K: usize>(
    padded: &[f32],
    delta: &[f32],
    gw: &mut [f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
) {
    let wp = w + K - 1;
    let img = (h + K - 1) * wp;
    for c0 in (0..c - c % BLOCK).step_by(BLOCK) {
        let mut acc = [[[0.0f32; BLOCK]; K]; K];
        for s in 0..n {
            let pim = &padded[s * img..(s + 1) * img];
            for y in 0..h {
                for x in 0..w {
                    let d: [f32; BLOCK] =
                        delta[((s * h + y) * w + x) * c + c0..][..BLOCK].try_into().expect("a whole block");
                    for (dy, arow) in acc.iter_mut().enumerate() {
                        let line: &[f32; K] = pim[(y + dy) * wp + x..][..K].try_into().expect("K taps");
                        for (&v, a) in line.iter().zip(arow.iter_mut()) {
                            for j in 0..BLOCK {
                                a[j] += v * d[j];
                            }
                        }
                    }
                }
            }
        }
        for (dy, arow) in acc.iter().enumerate() {
            for (dx, a) in arow.iter().enumerate() {
                gw[(dy * K + dx) * c + c0..][..BLOCK].iter_mut().zip(a).for_each(|(g, &v)| *g += v);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn weight_grad_range(
    padded: &[f32],
    delta: &[f32],
    gw: &mut [f32],
    n: usize,
    h: usize,
    w: usize,
    k: usize,
    c: usize,
    chans: std::ops::Range<usize>,
) {
    if chans.is_empty() {
        return;
    }
    let wp = w + k - 1;
    let img = (h + k - 1) * wp;
    for s in 0..n {
        let pim = &padded[s * img..(s + 1) * img];
        for y in 0..h {
            for x in 0..w {
                let d = &delta[((s * h + y) * w + x) * c..][..c];
                for dy in 0..k {
                    for dx in 0..k {
                        let v = pim[(y + dy) * wp + x + dx];
                        let g = &mut gw[(dy * k + dx) * c..][..c];
                        for co in chans.clone() {
                            g[co] += v * d[co];
                        }
                    }
                }
            }
        }
    }
}

simd_kernel! {
    /// p×p max-pooling with stride p; `argmax` gets each output's index
    /// within its sample's input map. With `act`, the outputs are
    /// `act(max)` (the preceding convolution left its pre-activations).
    /// Whole channel blocks compare and select without branches.
    fn max_pool(
        inp: &[f32], out: &mut [f32], argmax: &mut [u32], n: usize, h: usize, w: usize, c: usize, p: usize,
        act: Option<Activation>,
    ) => max_pool_body
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn max_pool_body(
    inp: &[f32],
    out: &mut [f32],
    argmax: &mut [u32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    p: usize,
    act: Option<Activation>,
) {
    let (ho, wo) = (h / p, w / p);
    let per_in = h * w * c;
    let whole = c - c % BLOCK;
    let lanes: [u32; BLOCK] = std::array::from_fn(|j| j as u32);
    for s in 0..n {
        let map = &inp[s * per_in..(s + 1) * per_in];
        for oy in 0..ho {
            for ox in 0..wo {
                let o = ((s * ho + oy) * wo + ox) * c;
                let first = ((oy * p) * w + ox * p) * c;
                for c0 in (0..whole).step_by(BLOCK) {
                    let mut best: [f32; BLOCK] = map[first + c0..][..BLOCK].try_into().expect("a whole block");
                    let mut at = [(first + c0) as u32; BLOCK];
                    for j in 0..BLOCK {
                        at[j] += lanes[j];
                    }
                    for dy in 0..p {
                        for dx in 0..p {
                            let base = ((oy * p + dy) * w + ox * p + dx) * c + c0;
                            let v: &[f32; BLOCK] = map[base..base + BLOCK].try_into().expect("a whole block");
                            let idx = base as u32;
                            // Selects as bit masks: written with `if`, the
                            // compiler emitted one scalar compare per lane.
                            for j in 0..BLOCK {
                                let m = u32::from(v[j] > best[j]).wrapping_neg();
                                best[j] = f32::from_bits((best[j].to_bits() & !m) | (v[j].to_bits() & m));
                                at[j] = (at[j] & !m) | ((idx + lanes[j]) & m);
                            }
                        }
                    }
                    match act {
                        Some(Activation::Relu) => {
                            for b in &mut best {
                                *b = b.max(0.0);
                            }
                        }
                        Some(act) => apply_activation(&mut best, act),
                        None => {}
                    }
                    let dst: &mut [f32; BLOCK] = (&mut out[o + c0..o + c0 + BLOCK]).try_into().expect("a whole block");
                    *dst = best;
                    let dst: &mut [u32; BLOCK] =
                        (&mut argmax[o + c0..o + c0 + BLOCK]).try_into().expect("a whole block");
                    *dst = at;
                }
                for ch in whole..c {
                    let (mut best, mut at) = (map[first + ch], first + ch);
                    for dy in 0..p {
                        for dx in 0..p {
                            let i = ((oy * p + dy) * w + ox * p + dx) * c + ch;
                            if map[i] > best {
                                (best, at) = (map[i], i);
                            }
                        }
                    }
                    out[o + ch] = act.map_or(best, |a| a.f(best));
                    argmax[o + ch] = at as u32;
                }
            }
        }
    }
}

simd_kernel! {
    /// The pool's backward pass: each input position gets `δ` of its window
    /// (times `f'(pooled)` when the pool applied the activation) if it held
    /// the window's maximum, else 0. Every position is written, so the
    /// gradient buffer needs no clearing first; whole channel blocks select
    /// without branches.
    fn pool_backward(
        dst: &mut [f32], delta: &[f32], pooled: &[f32], argmax: &[u32], n: usize, h: usize, w: usize, c: usize,
        p: usize, act: Option<Activation>,
    ) => pool_backward_body
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn pool_backward_body(
    dst: &mut [f32],
    delta: &[f32],
    pooled: &[f32],
    argmax: &[u32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    p: usize,
    act: Option<Activation>,
) {
    let (ho, wo) = (h / p, w / p);
    let per_in = h * w * c;
    let whole = c - c % BLOCK;
    let lanes: [u32; BLOCK] = std::array::from_fn(|j| j as u32);
    // Rows and columns no window covers (h or w not a multiple of p).
    if ho * p < h || wo * p < w {
        dst[..n * per_in].fill(0.0);
    }
    for s in 0..n {
        let map = &mut dst[s * per_in..(s + 1) * per_in];
        for oy in 0..ho {
            for ox in 0..wo {
                let o = ((s * ho + oy) * wo + ox) * c;
                let mut g = [0.0f32; BLOCK];
                for c0 in (0..whole).step_by(BLOCK) {
                    let d: &[f32; BLOCK] = delta[o + c0..][..BLOCK].try_into().expect("a whole block");
                    let a: &[f32; BLOCK] = pooled[o + c0..][..BLOCK].try_into().expect("a whole block");
                    let at: &[u32; BLOCK] = argmax[o + c0..][..BLOCK].try_into().expect("a whole block");
                    match act {
                        Some(Activation::Relu) => {
                            for j in 0..BLOCK {
                                g[j] = f32::from_bits(d[j].to_bits() & u32::from(a[j] > 0.0).wrapping_neg());
                            }
                        }
                        Some(act) => {
                            for j in 0..BLOCK {
                                g[j] = d[j] * act.df_from_output(a[j]);
                            }
                        }
                        None => g = *d,
                    }
                    for dy in 0..p {
                        for dx in 0..p {
                            let base = ((oy * p + dy) * w + ox * p + dx) * c + c0;
                            let idx = base as u32;
                            let out: &mut [f32; BLOCK] =
                                (&mut map[base..base + BLOCK]).try_into().expect("a whole block");
                            for j in 0..BLOCK {
                                let m = u32::from(at[j] == idx + lanes[j]).wrapping_neg();
                                out[j] = f32::from_bits(g[j].to_bits() & m);
                            }
                        }
                    }
                }
                for ch in whole..c {
                    let a = pooled[o + ch];
                    let g = delta[o + ch] * act.map_or(1.0, |f| f.df_from_output(a));
                    for dy in 0..p {
                        for dx in 0..p {
                            let i = ((oy * p + dy) * w + ox * p + dx) * c + ch;
                            map[i] = if argmax[o + ch] as usize == i { g } else { 0.0 };
                        }
                    }
                }
            }
        }
    }
}
