//! A small seeded PRNG (SplitMix64): every random choice of a run comes from one of these,
//! keyed by the run's seed and a purpose label, so adding a draw in one place does not shift
//! the draws of another.

/// SplitMix64 (Steele, Lea, Flood 2014): 64-bit state, one multiply-xorshift per output.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator for `seed` and `purpose` (the purpose label separates independent streams).
    pub fn new(seed: u64, purpose: &str) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"pinpoint-sim rng v1");
        h.update(&seed.to_le_bytes());
        h.update(purpose.as_bytes());
        let b = h.finalize();
        let mut w = [0u8; 8];
        w.copy_from_slice(&b.as_bytes()[..8]);
        Self {
            state: u64::from_le_bytes(w),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Uniform in `lo..=hi` (`lo` if `hi < lo`), by rejection (exactly uniform).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let n = hi - lo + 1;
        if n == 0 {
            return self.next_u64();
        }
        let reject_below = n.wrapping_neg() % n;
        loop {
            let w = self.next_u64();
            if w >= reject_below {
                return lo + w % n;
            }
        }
    }

    /// A uniformly random index below `n` (`n ≥ 1`; 0 for `n = 0`).
    pub fn index(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        self.range(0, n as u64 - 1) as usize
    }

    /// Shuffles `v` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.index(i + 1);
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_separated() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(1, "x").next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::new(1, "x").next_u64(), Rng::new(1, "y").next_u64());
        assert_ne!(Rng::new(1, "x").next_u64(), Rng::new(2, "x").next_u64());
    }

    #[test]
    fn range_stays_in_bounds_and_hits_both_ends() {
        let mut r = Rng::new(7, "range");
        let mut seen = [false; 4];
        for _ in 0..200 {
            let x = r.range(3, 6);
            assert!((3..=6).contains(&x));
            seen[(x - 3) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.range(5, 5), 5);
        assert_eq!(r.range(5, 2), 5);
        assert_eq!(r.index(0), 0);
    }
}
