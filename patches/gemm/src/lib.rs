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

/// Rows per band below which a product is not split across threads.
const MIN_ROWS_PER_BAND: usize = 32;

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
    // Addresses, so that the bands may cross threads.
    let (dst, lhs, rhs) = (dst as usize, lhs as usize, rhs as usize);
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        let (alpha, beta) = (
            *(&alpha as *const T as *const f32),
            *(&beta as *const T as *const f32),
        );
        let c_beta = if read_dst { alpha } else { 0.0 };
        banded(m, threads, |i0, rows| {
            matrixmultiply::sgemm(
                rows,
                k,
                n,
                beta,
                (lhs as *const f32).offset(i0 as isize * lhs_rs),
                lhs_rs,
                lhs_cs,
                rhs as *const f32,
                rhs_rs,
                rhs_cs,
                c_beta,
                (dst as *mut f32).offset(i0 as isize * dst_rs),
                dst_rs,
                dst_cs,
            )
        });
    } else if TypeId::of::<T>() == TypeId::of::<f64>() {
        let (alpha, beta) = (
            *(&alpha as *const T as *const f64),
            *(&beta as *const T as *const f64),
        );
        let c_beta = if read_dst { alpha } else { 0.0 };
        banded(m, threads, |i0, rows| {
            matrixmultiply::dgemm(
                rows,
                k,
                n,
                beta,
                (lhs as *const f64).offset(i0 as isize * lhs_rs),
                lhs_rs,
                lhs_cs,
                rhs as *const f64,
                rhs_rs,
                rhs_cs,
                c_beta,
                (dst as *mut f64).offset(i0 as isize * dst_rs),
                dst_rs,
                dst_cs,
            )
        });
    } else {
        panic!("tune's gemm stand-in supports f32 and f64 only");
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
        let (m, n, k) = (100, 7, 13);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let want = naive(m, n, k, &a, &b);
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
