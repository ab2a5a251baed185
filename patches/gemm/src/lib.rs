//! The `gemm` 0.15 entry point that dfdx 0.13 calls for every CPU matrix product, computed by
//! `matrixmultiply` (already in tune's dependency tree through ndarray). On this project's AVX2
//! machines matrixmultiply's sgemm runs at about 80 GFLOP/s on one core against gemm 0.15's 51
//! (`benches/throughput.rs` shows what that buys a trial; the root README has the figures).
//!
//! Only what dfdx uses is here: [`gemm`] for `f32` and `f64`, and [`Parallelism`]. With
//! `Parallelism::Rayon(n)` the product is cut into up to `n` blocks of rows and columns, one per
//! rayon task; every element is still summed in the same order whatever the cut (matrixmultiply
//! blocks the inner dimension by its size alone), so results do not depend on the number of threads.

use std::any::TypeId;

/// How many threads a product may use.
#[derive(Copy, Clone, Debug)]
pub enum Parallelism {
    None,
    Rayon(usize),
}

thread_local! {
    static LIMIT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Products called from this thread use at most `threads` threads from now on (`None`: as many
/// as their caller asks, dfdx asks for the whole rayon pool). Not part of gemm 0.15: tune's
/// trainer sets it as its share of the cores changes, and the results do not depend on it.
pub fn limit_threads(threads: Option<usize>) {
    LIMIT.set(threads);
}

/// Multiply-adds per band below which a product is not split across threads: a rayon task and
/// its wake-up cost about as much as a product of this size (measured on the wine study, where
/// splitting smaller products made two threads slower than one).
const MIN_WORK_PER_BAND: usize = 1 << 20;

/// Rows per band at the least (matrixmultiply's kernels work on 8-row panels).
const MIN_ROWS_PER_BAND: usize = 16;

/// Columns per band at the least (and its kernels on 8-column panels).
const MIN_COLS_PER_BAND: usize = 32;

/// A multiple of every matrixmultiply kernel's tile height and width: bands start on it.
const TILE: usize = 16;

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
        Parallelism::Rayon(t) => t.max(1).min(LIMIT.get().unwrap_or(usize::MAX)),
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

    /// The address of element (`i`, `j`).
    fn at<E>(&self, i: usize, j: usize) -> *mut E {
        (self.p as *mut E).wrapping_offset(i as isize * self.rs + j as isize * self.cs)
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
    /// Runs the product in blocks of rows and columns ([`blocks`]), each one matrixmultiply call.
    unsafe fn run<E: Real>(&self, alpha: E, beta: E) {
        let keep = if self.read_dst { alpha } else { E::ZERO };
        let s = self;
        let work = s.m * s.n * s.k;
        let tasks = s.threads.min(work / MIN_WORK_PER_BAND);
        in_blocks(s.m, s.n, s.k, tasks, |i0, rows, j0, cols| {
            E::mm(
                rows,
                s.k,
                cols,
                beta,
                s.lhs.at(i0, 0),
                s.lhs.rs,
                s.lhs.cs,
                s.rhs.at(0, j0),
                s.rhs.rs,
                s.rhs.cs,
                keep,
                s.dst.at(i0, j0),
                s.dst.rs,
                s.dst.cs,
            )
        });
    }
}

/// How to cut an m×n product with inner size k into at most `tasks` blocks: `(row bands, column
/// bands)`. As many blocks as allowed (no band thinner than [`MIN_ROWS_PER_BAND`] rows or
/// [`MIN_COLS_PER_BAND`] columns), and among those the cut that packs the least: each block packs
/// its rows of the left matrix and its columns of the right one, so c column bands pack the left
/// matrix c times and r row bands the right one r times. Rows alone cannot split the 16-row
/// products of a batch of 16; columns alone would pack a 1024-row left matrix once per thread.
fn blocks(m: usize, n: usize, k: usize, tasks: usize) -> (usize, usize) {
    let max_r = (m / MIN_ROWS_PER_BAND).max(1);
    let max_c = (n / MIN_COLS_PER_BAND).max(1);
    let mut best = (1, 1);
    let mut best_key = (usize::MAX, usize::MAX);
    for r in 1..=tasks.min(max_r) {
        let c = (tasks / r).min(max_c);
        // Fewer blocks first (negated count), then less packing.
        let key = (usize::MAX - r * c, c * m * k + r * k * n);
        if key < best_key {
            best_key = key;
            best = (r, c);
        }
    }
    best
}

/// Calls `block(first_row, rows, first_column, columns)` over an m×n product: once, or in up to
/// `tasks` blocks ([`blocks`]) on rayon.
fn in_blocks(
    m: usize,
    n: usize,
    k: usize,
    tasks: usize,
    block: impl Fn(usize, usize, usize, usize) + Sync,
) {
    let (r, c) = blocks(m, n, k, tasks.max(1));
    if r * c == 1 {
        return block(0, m, 0, n);
    }
    // Band edges on multiples of the kernels' tiles (8 or 16 rows and columns, 4 for f64's): a
    // tile cut by a band edge is computed by matrixmultiply's masked kernel, which rounds a
    // scaled product added to `dst` (`alpha·dst + beta·a·b`, beta ≠ 1) unlike its full kernel.
    let (per_r, per_c) = (
        m.div_ceil(r).next_multiple_of(TILE),
        n.div_ceil(c).next_multiple_of(TILE),
    );
    rayon::scope(|s| {
        for bi in 0..r {
            for bj in 0..c {
                let (i0, j0) = (bi * per_r, bj * per_c);
                if i0 >= m || j0 >= n {
                    continue;
                }
                let (rows, cols) = (per_r.min(m - i0), per_c.min(n - j0));
                let block = &block;
                s.spawn(move |_| block(i0, rows, j0, cols));
            }
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

    /// `dst := alpha·dst + beta·a·b` for row-major m×k `a` and k×n `b`, with `dst` m×n of row
    /// stride `rs` and column stride `cs`, on a pool of `threads` threads.
    #[allow(clippy::too_many_arguments)]
    fn product_on(
        threads: usize,
        (m, n, k): (usize, usize, usize),
        dst: &mut [f32],
        (rs, cs): (isize, isize),
        a: &[f32],
        b: &[f32],
        alpha: f32,
        beta: f32,
    ) {
        assert!(dst.len() == m * n && a.len() == m * k && b.len() == k * n);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        // SAFETY: the slices hold the three matrices those shapes and strides describe.
        pool.install(|| unsafe {
            gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                cs,
                rs,
                true,
                a.as_ptr(),
                1,
                k as isize,
                b.as_ptr(),
                1,
                n as isize,
                alpha,
                beta,
                false,
                false,
                false,
                Parallelism::Rayon(threads),
            )
        });
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
            // dst column-major (row stride 1, column stride m), read with alpha = 2: 2·dst + a·b.
            let mut c = vec![1.0f32; m * n];
            product_on(
                threads,
                (m, n, k),
                &mut c,
                (1, m as isize),
                &a,
                &b,
                2.0,
                1.0,
            );
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

    /// A product cut into blocks (rows, columns or both) gives the same bits as one call, for
    /// shapes where each kind of cut is chosen and sizes that leave short last bands.
    #[test]
    fn blocks_of_any_cut_give_the_same_bits_as_one_call() {
        let product = |m: usize, n: usize, k: usize, threads: usize| {
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut c: Vec<f32> = (0..m * n).map(|i| (i as f32 * 0.05).sin()).collect();
            product_on(
                threads,
                (m, n, k),
                &mut c,
                (n as isize, 1),
                &a,
                &b,
                0.5,
                1.5,
            );
            c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        let mut differ = Vec::new();
        for (m, n, k, threads, cut) in [
            (16, 520, 600, 4, (1, 4)),
            (1000, 70, 600, 3, (3, 1)),
            (600, 600, 100, 4, (2, 2)),
            (600, 600, 100, 16, (4, 4)),
        ] {
            let tasks = threads.min(m * n * k / MIN_WORK_PER_BAND);
            assert_eq!(blocks(m, n, k, tasks), cut);
            if product(m, n, k, 1) != product(m, n, k, threads) {
                differ.push((m, n, k, threads));
            }
        }
        assert!(differ.is_empty(), "differ from one call: {differ:?}");
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
