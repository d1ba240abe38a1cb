//! Matrix products over ndarray views, computed by the `gemm` crate.
//!
//! `c = a · b` or `c += a · b` for any strides, so transposed operands
//! (`w.t()`, `x.t()`) need no copy. `gemm` picks AVX2/AVX-512 kernels at run
//! time; ndarray's own `.dot()` (matrixmultiply without its AVX-512 kernel)
//! measured about half as fast on this machine (see `benches/README.md`).
//!
//! One shape is slow all the same: a few rows times a transposed weight
//! matrix (`δ · Wᵀ` in the backward pass, 32–64 rows): 657 µs for 32×512
//! times a 512×512 `Wᵀ` view, 150 µs with `Wᵀ` contiguous. [`transpose`]
//! makes that copy (~140 µs for 512×512) for the callers that gain from it.

use std::cell::Cell;

use gemm::Parallelism;
use ndarray::{ArrayView2, ArrayViewMut2};

thread_local! {
    /// Set while a caller already splits the work across threads.
    static SERIAL: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every product on the current thread only: for callers
/// that already run one task per core (the training step's replicas), so
/// parallelism is never nested.
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    let before = SERIAL.with(|s| s.replace(true));
    let out = f();
    SERIAL.with(|s| s.set(before));
    out
}

/// Whether this thread is inside a [`serial`] section (a caller that
/// already runs one task per core).
pub fn is_serial() -> bool {
    SERIAL.with(Cell::get)
}

/// Products smaller than this many multiply-adds run on one thread: splitting
/// them costs more than it saves.
const PARALLEL_MIN_FLOPS: usize = 1 << 18;
/// A product with an inner or outer dimension this small (the 10-class output
/// layer) does not speed up with threads in any library we measured.
const PARALLEL_MIN_SIDE: usize = 16;

fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    let threads = rayon::current_num_threads();
    if SERIAL.with(Cell::get) || threads < 2 || m * n * k < PARALLEL_MIN_FLOPS || n.min(k) <= PARALLEL_MIN_SIDE {
        Parallelism::None
    } else {
        Parallelism::Rayon(threads)
    }
}

/// `c = a · b` (when `accumulate` is false) or `c += a · b`.
///
/// Panics if the shapes disagree: that is a bug in the engine, never input.
pub fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>, mut c: ArrayViewMut2<f32>, accumulate: bool) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert_eq!(k, k2, "matmul: inner dimensions differ");
    assert_eq!(c.dim(), (m, n), "matmul: output shape");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    // SAFETY: the three views are valid for their shapes and strides (ndarray
    // guarantees that), `c` is borrowed mutably so it aliases neither input,
    // and the dimensions passed are the views' own.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism(m, n, k),
        );
    }
}

/// Edge of the square tiles [`transpose`] copies: eight rows of a tile
/// stay in L1 even when the row stride is a large power of two (which maps
/// every row of a taller tile to the same cache sets: 32-row tiles measured
/// twice as slow on 512×512).
const TILE: usize = 8;

/// `dst = srcᵀ`, `dst` being `[src.ncols(), src.nrows()]`, tile by tile.
///
/// Panics if the shapes disagree: that is a bug in the engine, never input.
pub fn transpose(src: ArrayView2<f32>, mut dst: ArrayViewMut2<f32>) {
    let (rows, cols) = src.dim();
    assert_eq!(dst.dim(), (cols, rows), "transpose: output shape");
    let (Some(s), Some(d)) = (src.as_slice(), dst.as_slice_mut()) else {
        // Not row-major: no tiling to gain from the layout.
        return dst.assign(&src.t());
    };
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                let row = &s[r * cols..(r + 1) * cols];
                for c in c0..(c0 + TILE).min(cols) {
                    d[c * rows + r] = row[c];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn naive(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
        let mut c = Array2::zeros((a.nrows(), b.ncols()));
        for i in 0..a.nrows() {
            for j in 0..b.ncols() {
                c[[i, j]] = (0..a.ncols()).map(|p| a[[i, p]] * b[[p, j]]).sum();
            }
        }
        c
    }

    fn filled(r: usize, c: usize, seed: f32) -> Array2<f32> {
        Array2::from_shape_fn((r, c), |(i, j)| ((i * 31 + j * 17) as f32 * seed).sin())
    }

    #[test]
    fn matches_naive_product_for_plain_and_transposed_views() {
        for &(m, k, n) in &[(1, 1, 1), (7, 5, 3), (64, 100, 70), (130, 300, 90)] {
            let a = filled(m, k, 0.37);
            let b = filled(k, n, 0.11);
            let mut c = Array2::zeros((m, n));
            matmul(a.view(), b.view(), c.view_mut(), false);
            let want = naive(a.view(), b.view());
            assert!((&c - &want).iter().all(|d| d.abs() < 1e-3), "{m}x{k}x{n}");
            // Transposed operands: (bᵀ aᵀ)ᵀ = a b.
            let at = a.t().to_owned();
            let bt = b.t().to_owned();
            let mut ct = Array2::zeros((n, m));
            matmul(bt.t().t(), at.t().t(), ct.view_mut(), false);
            assert!((&ct.t() - &want).iter().all(|d| d.abs() < 1e-3));
        }
    }

    #[test]
    fn transpose_copies_every_element_once() {
        for &(r, c) in &[(1, 1), (3, 17), (16, 8), (9, 40), (64, 33)] {
            let a = filled(r, c, 0.3);
            let mut t = Array2::from_elem((c, r), f32::NAN);
            transpose(a.view(), t.view_mut());
            assert_eq!(t, a.t(), "{r}x{c}");
            // A non-row-major source takes the plain path.
            let mut back = Array2::zeros((r, c));
            transpose(t.t(), back.view_mut().reversed_axes());
            assert_eq!(back, a);
        }
    }

    #[test]
    fn accumulate_adds_to_the_output() {
        let a = filled(20, 30, 0.5);
        let b = filled(30, 40, 0.2);
        let mut c = Array2::from_elem((20, 40), 1.0);
        matmul(a.view(), b.view(), c.view_mut(), true);
        let want = naive(a.view(), b.view()) + 1.0;
        assert!((&c - &want).iter().all(|d| d.abs() < 1e-3));
    }
}
