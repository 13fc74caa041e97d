//! Choosing the sampled steps from a post-commitment seed.

/// blake3 `derive_key` context of the sampling key.
pub const SAMPLE_CONTEXT: &str = "pinpoint 2026 sampling verifier steps v1";

/// The `m` distinct steps in `1..=steps` a verifier re-runs, in the order they are checked.
///
/// `seed` must be fixed only *after* the trainer committed to `root` (e.g. a later block hash),
/// so the trainer cannot know which steps will be checked. Exactly:
/// 1. `key = blake3::derive_key(SAMPLE_CONTEXT, seed ‖ root)` (64 bytes in);
/// 2. a word stream: `w_0, w_1, …` are the consecutive little-endian `u64`s of the blake3 XOF
///    output of keyed `blake3(key, "")` (`Hasher::new_keyed(&key).finalize_xof()`);
/// 3. `uniform(n)` (`n ≥ 1`) takes the next word `w`, rejects it while
///    `w < 2^64 mod n` (computed as `n.wrapping_neg() % n`), and returns `w mod n`: exactly
///    uniform on `0..n`;
/// 4. a partial Fisher–Yates shuffle of the virtual array `a[i] = i` (`0 ≤ i < T`): for
///    `i = 0 … m−1`, `j = i + uniform(T − i)`, swap `a[i]` and `a[j]`, output `a[i] + 1`.
///    Only touched entries are stored, so the cost is `O(m log m)` for any `T`.
///
/// The result is a uniformly random `m`-subset (sampling without replacement) in a uniformly
/// random order. `m` is clamped to `T`; `T = 0` or `m = 0` gives no steps.
pub fn choose_steps(seed: [u8; 32], root: [u8; 32], steps: u64, m: u64) -> Vec<u64> {
    let m = m.min(steps);
    let mut input = [0u8; 64];
    input[..32].copy_from_slice(&seed);
    input[32..].copy_from_slice(&root);
    let key = blake3::derive_key(SAMPLE_CONTEXT, &input);
    let mut xof = blake3::Hasher::new_keyed(&key).finalize_xof();
    let mut next_word = move || {
        let mut b = [0u8; 8];
        xof.fill(&mut b);
        u64::from_le_bytes(b)
    };
    let mut uniform = move |n: u64| -> u64 {
        let reject_below = n.wrapping_neg() % n;
        loop {
            let w = next_word();
            if w >= reject_below {
                return w % n;
            }
        }
    };
    // Sparse virtual array: absent entries hold their own index.
    let mut moved = std::collections::BTreeMap::<u64, u64>::new();
    let mut out = Vec::with_capacity(usize::try_from(m.min(4096)).unwrap_or(0));
    for i in 0..m {
        let j = i + uniform(steps - i);
        let at_i = *moved.get(&i).unwrap_or(&i);
        let at_j = *moved.get(&j).unwrap_or(&j);
        moved.insert(j, at_i);
        moved.insert(i, at_j);
        out.push(at_j + 1);
    }
    out
}
