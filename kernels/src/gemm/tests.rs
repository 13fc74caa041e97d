//! Bit-exactness tests of the GEMM paths against a spec-literal reference.

use proptest::prelude::*;

use super::driver::gemm_core;
use super::*;
use crate::cpu::{SimdLevel, SimdPolicy};

/// The order of docs/numerics.md §6, written as literally as possible, with the K block size as
/// a parameter so that a test can show the block size matters.
fn reference(
    m: usize,
    n: usize,
    k: usize,
    a: impl Fn(usize, usize) -> f32,
    b: impl Fn(usize, usize) -> f32,
    block: usize,
) -> Vec<f32> {
    let mut c = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut total = 0.0f32;
            let mut start = 0;
            while start < k {
                let end = (start + block).min(k);
                let mut s = 0.0f32;
                for p in start..end {
                    s = a(i, p).mul_add(b(p, j), s);
                }
                total = if start == 0 { s } else { total + s };
                start = end;
            }
            c[i * n + j] = total;
        }
    }
    c
}

/// Deterministic values of widely varying magnitude and sign, with some signed zeros, so that
/// any change of summation order shows up in the bits.
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let r = (s >> 11) as u32;
            match r % 23 {
                0 => 0.0,
                1 => -0.0,
                _ => {
                    let mant = 1.0 + (r >> 8 & 0xFFFF) as f32 / 65536.0;
                    let exp = (r >> 3 & 15) as i32 - 8;
                    let sign = if r & 4 == 0 { 1.0 } else { -1.0 };
                    sign * mant * 2f32.powi(exp)
                }
            }
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn contexts() -> Vec<(&'static str, Cpu)> {
    vec![
        ("scalar", Cpu::scalar()),
        ("single", Cpu::single()),
        ("2 threads auto", Cpu::new(2, SimdPolicy::Auto).unwrap()),
        ("2 threads scalar", Cpu::new(2, SimdPolicy::Scalar).unwrap()),
        ("3 threads auto", Cpu::new(3, SimdPolicy::Auto).unwrap()),
    ]
}

/// Checks every context (through `sgemm` and through the core with threading forced on)
/// against the reference for one shape and transpose combination.
fn check_shape(m: usize, n: usize, k: usize, ta: bool, tb: bool, seed: u64) {
    let ad = values(m * k, seed);
    let bd = values(k * n, seed ^ 0xABCD);
    let av = if ta {
        MatRef::new(&ad, k, m).unwrap().t()
    } else {
        MatRef::new(&ad, m, k).unwrap()
    };
    let bv = if tb {
        MatRef::new(&bd, n, k).unwrap().t()
    } else {
        MatRef::new(&bd, k, n).unwrap()
    };
    let want = bits(&reference(
        m,
        n,
        k,
        |i, p| av.at(i, p),
        |p, j| bv.at(p, j),
        GEMM_K_BLOCK,
    ));
    for (name, cx) in contexts() {
        let mut c = vec![f32::NAN; m * n];
        sgemm(&cx, m, n, k, av, bv, &mut c).unwrap();
        assert!(
            bits(&c) == want,
            "{name}: m={m} n={n} k={k} ta={ta} tb={tb}"
        );
        if cx.threads() > 1 {
            let mut c = vec![f32::NAN; m * n];
            gemm_core(&cx, cx.simd(), m, n, k, &av, &bv, &mut c);
            assert!(
                bits(&c) == want,
                "{name} forced parallel: m={m} n={n} k={k}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn small_shapes_match_reference(
        m in 1usize..40, n in 1usize..40, k in 1usize..40,
        ta: bool, tb: bool, seed: u64,
    ) {
        check_shape(m, n, k, ta, tb, seed);
    }

    #[test]
    fn shapes_around_the_k_block_match_reference(
        m in 1usize..14, n in 1usize..34, k in 250usize..520, ta: bool, tb: bool, seed: u64,
    ) {
        check_shape(m, n, k, ta, tb, seed);
    }
}

#[test]
fn edge_sizes_match_reference() {
    let shapes = [
        (1, 1, 1),
        (7, 7, 7),
        (1, 1, 1023),
        (1023, 1, 7),
        (1, 1023, 257),
        (7, 255, 256),
        (255, 7, 257),
        (256, 257, 7),
        (257, 256, 1),
        (6, 16, 1023),
        (1023, 17, 255),
        (13, 1023, 256),
        (97, 130, 513),
        // Two or three column blocks (the last partial) on any L2 size; one K block per
        // packing group, packed in sliver shares when threaded.
        (30, 1040, 600),
        (13, 2100, 300),
    ];
    for (idx, &(m, n, k)) in shapes.iter().enumerate() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            check_shape(m, n, k, ta, tb, idx as u64);
        }
    }
}

#[test]
fn a_large_product_matches_reference() {
    check_shape(255, 257, 1023, false, false, 99);
}

#[test]
fn the_k_block_is_256_not_128() {
    // One huge term followed by ones: the ones of later blocks are summed separately, so the
    // block size decides how many survive.
    let (m, n, k) = (3, 5, 300);
    let ad: Vec<f32> = (0..m * k)
        .map(|i| if i % k == 0 { 1e8 } else { 1.0 })
        .collect();
    let bd = vec![1.0f32; k * n];
    let a = |i: usize, p: usize| ad[i * k + p];
    let b = |p: usize, j: usize| bd[p * n + j];
    let r256 = reference(m, n, k, a, b, 256);
    let r128 = reference(m, n, k, a, b, 128);
    assert_ne!(bits(&r256), bits(&r128));
    let got = matmul(
        &Cpu::single(),
        &Tensor::new(&[m, k], ad.clone()).unwrap(),
        &Tensor::new(&[k, n], bd.clone()).unwrap(),
    )
    .unwrap();
    assert_eq!(bits(got.data()), bits(&r256));
}

fn tensor(shape: &[usize], seed: u64) -> Tensor {
    Tensor::new(shape, values(shape.iter().product(), seed)).unwrap()
}

#[test]
fn tensor_variants_match_reference() {
    let (m, n, k) = (19, 23, 300);
    let a = tensor(&[m, k], 1);
    let at = tensor(&[k, m], 2);
    let b = tensor(&[k, n], 3);
    let bt = tensor(&[n, k], 4);
    let (ad, atd, bd, btd) = (a.data(), at.data(), b.data(), bt.data());
    let want_nn = reference(
        m,
        n,
        k,
        |i, p| ad[i * k + p],
        |p, j| bd[p * n + j],
        GEMM_K_BLOCK,
    );
    let want_tn = reference(
        m,
        n,
        k,
        |i, p| atd[p * m + i],
        |p, j| bd[p * n + j],
        GEMM_K_BLOCK,
    );
    let want_nt = reference(
        m,
        n,
        k,
        |i, p| ad[i * k + p],
        |p, j| btd[j * k + p],
        GEMM_K_BLOCK,
    );
    for (name, cx) in contexts() {
        let nn = matmul(&cx, &a, &b).unwrap();
        let tn = matmul_tn(&cx, &at, &b).unwrap();
        let nt = matmul_nt(&cx, &a, &bt).unwrap();
        assert_eq!(nn.shape(), [m, n]);
        assert_eq!(bits(nn.data()), bits(&want_nn), "{name} nn");
        assert_eq!(bits(tn.data()), bits(&want_tn), "{name} tn");
        assert_eq!(bits(nt.data()), bits(&want_nt), "{name} nt");
    }
}

#[test]
fn batched_variants_match_per_matrix_products() {
    let (m, n, k) = (9, 21, 270);
    for batch in [1, 2, 3] {
        let a = tensor(&[batch, m, k], 10 + batch as u64);
        let at = tensor(&[batch, k, m], 20 + batch as u64);
        let b = tensor(&[batch, k, n], 30 + batch as u64);
        let bt = tensor(&[batch, n, k], 40 + batch as u64);
        let mut want = [Vec::new(), Vec::new(), Vec::new()];
        for z in 0..batch {
            let ad = &a.data()[z * m * k..];
            let atd = &at.data()[z * m * k..];
            let bd = &b.data()[z * k * n..];
            let btd = &bt.data()[z * k * n..];
            let g = GEMM_K_BLOCK;
            want[0].extend(reference(
                m,
                n,
                k,
                |i, p| ad[i * k + p],
                |p, j| bd[p * n + j],
                g,
            ));
            want[1].extend(reference(
                m,
                n,
                k,
                |i, p| atd[p * m + i],
                |p, j| bd[p * n + j],
                g,
            ));
            want[2].extend(reference(
                m,
                n,
                k,
                |i, p| ad[i * k + p],
                |p, j| btd[j * k + p],
                g,
            ));
        }
        for (name, cx) in contexts() {
            let got = [
                bmm(&cx, &a, &b).unwrap(),
                bmm_tn(&cx, &at, &b).unwrap(),
                bmm_nt(&cx, &a, &bt).unwrap(),
            ];
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.shape(), [batch, m, n]);
                assert_eq!(bits(g.data()), bits(w), "{name} batch {batch}");
            }
        }
    }
}

#[test]
fn backward_is_nt_and_tn_products() {
    let (m, n, k) = (11, 300, 270);
    let a = tensor(&[m, k], 5);
    let b = tensor(&[k, n], 6);
    let dc = tensor(&[m, n], 7);
    let (ad, bd, dcd) = (a.data(), b.data(), dc.data());
    // dA[i,p] = Σ_j dC[i,j]·B[p,j]; dB[p,j] = Σ_i A[i,p]·dC[i,j]; blocked over j and i.
    let want_da = reference(
        m,
        k,
        n,
        |i, j| dcd[i * n + j],
        |j, p| bd[p * n + j],
        GEMM_K_BLOCK,
    );
    let want_db = reference(
        k,
        n,
        m,
        |p, i| ad[i * k + p],
        |i, j| dcd[i * n + j],
        GEMM_K_BLOCK,
    );
    for (name, cx) in contexts() {
        let (da, db) = matmul_backward(&cx, &a, &b, &dc).unwrap();
        assert_eq!(da.shape(), [m, k]);
        assert_eq!(db.shape(), [k, n]);
        assert_eq!(bits(da.data()), bits(&want_da), "{name} dA");
        assert_eq!(bits(db.data()), bits(&want_db), "{name} dB");
    }
    let (a3, b3, dc3) = (
        a.reshape(&[1, m, k]).unwrap(),
        b.reshape(&[1, k, n]).unwrap(),
        dc.reshape(&[1, m, n]).unwrap(),
    );
    let (da3, db3) = bmm_backward(&Cpu::single(), &a3, &b3, &dc3).unwrap();
    assert_eq!(bits(da3.data()), bits(&want_da));
    assert_eq!(bits(db3.data()), bits(&want_db));
}

#[test]
fn avx2_is_used_when_available() {
    // The AVX2 context must actually take the AVX2 path on machines that have it, otherwise the
    // comparisons above would only compare the portable path with itself.
    if SimdLevel::detect() == SimdLevel::Avx2Fma {
        assert_eq!(Cpu::single().simd(), SimdLevel::Avx2Fma);
    }
}

#[test]
fn bad_shapes_are_typed_errors() {
    let cx = Cpu::single();
    let a = tensor(&[2, 3], 1);
    let b = tensor(&[4, 5], 2);
    let e = Tensor::zeros(&[0, 3]);
    let r3 = tensor(&[1, 2, 3], 3);
    assert!(matches!(
        matmul(&cx, &a, &b),
        Err(KernelError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        matmul(&cx, &e, &b),
        Err(KernelError::Empty { .. })
    ));
    assert!(matches!(
        matmul(&cx, &r3, &b),
        Err(KernelError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        bmm(&cx, &a, &b),
        Err(KernelError::ShapeMismatch { .. })
    ));
    assert!(matmul_tn(&cx, &a, &tensor(&[2, 4], 4)).is_ok());
    assert!(matmul_nt(&cx, &a, &tensor(&[4, 3], 4)).is_ok());
    assert!(matches!(
        bmm(&cx, &tensor(&[2, 2, 3], 1), &tensor(&[3, 3, 2], 1)),
        Err(KernelError::ShapeMismatch { .. })
    ));
    let b_ok = tensor(&[3, 4], 5);
    assert!(matches!(
        matmul_backward(&cx, &a, &b_ok, &tensor(&[2, 5], 6)),
        Err(KernelError::ShapeMismatch { .. })
    ));
    assert!(matmul_backward(&cx, &a, &b_ok, &tensor(&[2, 4], 6)).is_ok());
}
