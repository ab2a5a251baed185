//! The `gemm` 0.15 entry point that dfdx 0.13 calls for every CPU matrix product, computed by
//! `matrixmultiply` (already in tune's dependency tree through ndarray). On this project's AVX2
//! machines matrixmultiply's sgemm runs at about 80 GFLOP/s on one core against gemm 0.15's 51
//! (`benches/throughput.rs` shows what that buys a trial; the root README has the figures).
//!
//! Only what dfdx uses is here: [`gemm`] for `f32` and `f64`, and [`Parallelism`]. With
//! `Parallelism::Rayon(n)` the rows of the product are split into `n` bands, one per rayon task;
//! every element is still summed in the same order whatever `n` is, so results do not depend on the
//! number of threads.

use std::any::TypeId;

/// How many threads a product may use.
#[derive(Copy, Clone, Debug)]
pub enum Parallelism {
    None,
    Rayon(usize),
}

/// Multiply-adds per band below which a product is not split across threads: a rayon task and
/// its wake-up cost about as much as a product of this size (measured on the wine study, where
/// splitting smaller products made two threads slower than one).
const MIN_WORK_PER_BAND: usize = 1 << 20;

/// Rows per band at the least (matrixmultiply's kernels work on 8-row panels).
const MIN_ROWS_PER_BAND: usize = 16;

/// `dst := alpha·dst + beta·lhs·rhs` (or `beta·lhs·rhs` when `read_dst` is false) for an m×k `lhs`
/// and a k×n `rhs`, each matrix given by a pointer, a column stride and a row stride (in elements).
/// `conj_*` are ignored: only real types are supported.
///
/// # Safety
/// The pointers and strides must describe valid matrices of those shapes, and `dst` must not alias
/// `lhs` or `rhs`. `T` must be `f32` or `f64` (anything else panics).
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm<T: 'static>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_cs: isize,
    dst_rs: isize,
    read_dst: bool,
    lhs: *const T,
    lhs_cs: isize,
    lhs_rs: isize,
    rhs: *const T,
    rhs_cs: isize,
    rhs_rs: isize,
    alpha: T,
    beta: T,
    _conj_dst: bool,
    _conj_lhs: bool,
    _conj_rhs: bool,
    parallelism: Parallelism,
) {
    let threads = match parallelism {
        Parallelism::Rayon(t) => t.max(1),
        Parallelism::None => 1,
    };
    let call = Call {
        m,
        n,
        k,
        dst: Mat::new(dst, dst_cs, dst_rs),
        read_dst,
        lhs: Mat::new(lhs, lhs_cs, lhs_rs),
        rhs: Mat::new(rhs, rhs_cs, rhs_rs),
        threads,
    };
    // SAFETY of the reads: `T` is the type each branch tests for.
    let scalars = |x: &T| x as *const T;
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        let (a, b) = (scalars(&alpha) as *const f32, scalars(&beta) as *const f32);
        call.run(*a, *b);
    } else if TypeId::of::<T>() == TypeId::of::<f64>() {
        let (a, b) = (scalars(&alpha) as *const f64, scalars(&beta) as *const f64);
        call.run(*a, *b);
    } else {
        panic!("tune's gemm stand-in supports f32 and f64 only");
    }
}

/// A matrix: its address (a number, so that bands may cross threads) and strides in elements.
#[derive(Clone, Copy)]
struct Mat {
    p: usize,
    cs: isize,
    rs: isize,
}

impl Mat {
    fn new<T>(p: *const T, cs: isize, rs: isize) -> Mat {
        Mat {
            p: p as usize,
            cs,
            rs,
        }
    }

    /// The address of row `i`.
    fn row<E>(&self, i: usize) -> *mut E {
        (self.p as *mut E).wrapping_offset(i as isize * self.rs)
    }
}

/// One product: gemm's `dst := alpha·dst + beta·lhs·rhs` (m×k times k×n).
struct Call {
    m: usize,
    n: usize,
    k: usize,
    dst: Mat,
    read_dst: bool,
    lhs: Mat,
    rhs: Mat,
    threads: usize,
}

/// The element types matrixmultiply multiplies: its `c := alpha·a·b + beta·c`, in its argument order.
trait Real: Copy + Send + Sync + 'static {
    const ZERO: Self;
    #[allow(clippy::too_many_arguments)]
    unsafe fn mm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! real {
    ($t:ty, $f:path) => {
        impl Real for $t {
            const ZERO: $t = 0.0;
            unsafe fn mm(
                m: usize,
                k: usize,
                n: usize,
                alpha: $t,
                a: *const $t,
                rsa: isize,
                csa: isize,
                b: *const $t,
                rsb: isize,
                csb: isize,
                beta: $t,
                c: *mut $t,
                rsc: isize,
                csc: isize,
            ) {
                $f(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
            }
        }
    };
}
real!(f32, matrixmultiply::sgemm);
real!(f64, matrixmultiply::dgemm);

impl Call {
    /// Runs the product in row bands, each one matrixmultiply call.
    unsafe fn run<E: Real>(&self, alpha: E, beta: E) {
        let keep = if self.read_dst { alpha } else { E::ZERO };
        let s = self;
        let work = s.m * s.n * s.k;
        let threads = s.threads.min(work / MIN_WORK_PER_BAND);
        banded(s.m, threads, |i0, rows| {
            E::mm(
                rows,
                s.k,
                s.n,
                beta,
                s.lhs.row(i0),
                s.lhs.rs,
                s.lhs.cs,
                s.rhs.row(0),
                s.rhs.rs,
                s.rhs.cs,
                keep,
                s.dst.row(i0),
                s.dst.rs,
                s.dst.cs,
            )
        });
    }
}

/// Calls `band(first_row, rows)` over `m` rows: once, or in up to `threads` bands on rayon.
fn banded(m: usize, threads: usize, band: impl Fn(usize, usize) + Sync) {
    let bands = threads.min(m / MIN_ROWS_PER_BAND).max(1);
    if bands == 1 {
        return band(0, m);
    }
    let per = m.div_ceil(bands);
    rayon::scope(|s| {
        for b in 0..bands {
            let (i0, rows) = (b * per, per.min(m - b * per));
            let band = &band;
            s.spawn(move |_| band(i0, rows));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn matches_a_naive_product_with_strides_accumulation_and_threads() {
        // Large enough for three bands of at least MIN_WORK_PER_BAND each.
        let (m, n, k) = (512, 64, 96);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let want = naive(m, n, k, &a, &b);
        assert!(m * n * k / MIN_WORK_PER_BAND >= 3);
        for threads in [1, 3] {
            // dst column-major (cs = 1·m … here rs = 1, cs = m), read with alpha = 1: 2·dst + a·b.
            let mut c = vec![0.0f32; m * n];
            for i in 0..m {
                for j in 0..n {
                    c[j * m + i] = 1.0;
                }
            }
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| unsafe {
                gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    m as isize,
                    1,
                    true,
                    a.as_ptr(),
                    1,
                    k as isize,
                    b.as_ptr(),
                    1,
                    n as isize,
                    2.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    Parallelism::Rayon(threads),
                )
            });
            for i in 0..m {
                for j in 0..n {
                    let got = c[j * m + i];
                    assert!(
                        (got - (2.0 + want[i * n + j])).abs() < 1e-4,
                        "{threads} threads, ({i},{j}): {got}"
                    );
                }
            }
        }
    }

    #[test]
    fn without_read_dst_ignores_what_dst_held() {
        let a = [1.0f32, 2.0, 3.0, 4.0];
        let b = [1.0f32, 0.0, 0.0, 1.0];
        let mut c = [f32::NAN; 4];
        unsafe {
            gemm(
                2,
                2,
                2,
                c.as_mut_ptr(),
                1,
                2,
                false,
                a.as_ptr(),
                1,
                2,
                b.as_ptr(),
                1,
                2,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                Parallelism::None,
            )
        };
        assert_eq!(c, a);
    }
}
