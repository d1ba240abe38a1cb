//! Matrix products over ndarray views, computed by the `gemm` crate.
//!
//! `c = a · b` or `c += a · b` for any strides, so transposed operands
//! (`w.t()`, `x.t()`) cost nothing. `gemm` picks AVX2/AVX-512 kernels at run
//! time; ndarray's own `.dot()` (matrixmultiply without its AVX-512 kernel)
//! measured about half as fast on this machine (see `benches/README.md`).

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
    fn accumulate_adds_to_the_output() {
        let a = filled(20, 30, 0.5);
        let b = filled(30, 40, 0.2);
        let mut c = Array2::from_elem((20, 40), 1.0);
        matmul(a.view(), b.view(), c.view_mut(), true);
        let want = naive(a.view(), b.view()) + 1.0;
        assert!((&c - &want).iter().all(|d| d.abs() < 1e-3));
    }
}
