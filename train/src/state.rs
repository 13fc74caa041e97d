//! [`TrainState`] `S_t`: step, parameters, optimizer state, data cursor; its canonical
//! encoding and its hash `h(S_t)`.
//!
//! Tensors are named; within each section (`params`, `optim`) names are unique, sorted
//! bytewise ascending, 1..=255 bytes of `[A-Za-z0-9._/-]`. [`TrainState::new`] sorts;
//! [`TrainState::validate`] checks. A state holding a NaN or infinity is an error, never
//! hashed or written.
//!
//! **Hash** (`docs/training.md`): `h(S) = blake3_derive_key("pinpoint 2026 train state v1", P)`
//! with `P = step u64 ‖ data_cursor u64 ‖ section(params) ‖ section(optim)`,
//! `section = count u64 ‖ per tensor: name_len u64 ‖ name ‖ tensor_hash (32 bytes)`, all
//! integers little-endian, `tensor_hash` = [`Tensor::hash`]. Hashing per tensor first lets a
//! referee check one tensor against `h(S)` given the list of tensor hashes.
//!
//! **Encoding** (inside checkpoint files): `step u64 ‖ data_cursor u64 ‖ section(params) ‖
//! section(optim)` with `section = count u64 ‖ per tensor: name_len u64 ‖ name ‖ rank u64 ‖
//! dims u64 each ‖ elements as u32 LE bit patterns`.

use crate::digest::Digest;
use crate::error::StateError;
use pinpoint_kernels::tensor::{Tensor, numel};

/// Domain tag of [`TrainState::hash`].
pub const STATE_HASH_CONTEXT: &str = "pinpoint 2026 train state v1";
/// Longest tensor name, bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Highest tensor rank accepted by the decoder.
pub const MAX_RANK: usize = 8;

/// The full training state after a step.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainState {
    /// Steps completed (`S_0` has step 0).
    pub step: u64,
    /// Model parameters by name, sorted.
    pub params: Vec<(String, Tensor)>,
    /// Optimizer state (moments, momentum buffers, …) by name, sorted.
    pub optim: Vec<(String, Tensor)>,
    /// Index of the next batch the data sampler will produce (equals `step` for every
    /// dataset of [`crate::data`], whose batch `t` is a pure function of `(seed, t)`).
    pub data_cursor: u64,
}

fn check_name(name: &str) -> Result<(), StateError> {
    let bad = |problem| {
        Err(StateError::BadName {
            name: name.to_string(),
            problem,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("longer than 255 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
    {
        return bad("has a character outside [A-Za-z0-9._/-]");
    }
    Ok(())
}

fn check_section(section: &'static str, list: &[(String, Tensor)]) -> Result<(), StateError> {
    let mut prev: Option<&str> = None;
    for (name, t) in list {
        check_name(name)?;
        if prev.is_some_and(|p| p.as_bytes() >= name.as_bytes()) {
            return Err(StateError::Order {
                section,
                name: name.clone(),
            });
        }
        prev = Some(name);
        t.check_finite(&format!("{section}/{name}"))
            .map_err(StateError::NonFinite)?;
    }
    Ok(())
}

fn find<'a>(list: &'a [(String, Tensor)], name: &str) -> Option<&'a Tensor> {
    list.binary_search_by(|(n, _)| n.as_bytes().cmp(name.as_bytes()))
        .ok()
        .map(|i| &list[i].1)
}

impl TrainState {
    /// A state with both sections sorted by name, then validated.
    pub fn new(
        step: u64,
        mut params: Vec<(String, Tensor)>,
        mut optim: Vec<(String, Tensor)>,
        data_cursor: u64,
    ) -> Result<Self, StateError> {
        params.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        optim.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let s = Self {
            step,
            params,
            optim,
            data_cursor,
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks names (valid, sorted, unique) and that every element is finite.
    pub fn validate(&self) -> Result<(), StateError> {
        check_section("params", &self.params)?;
        check_section("optim", &self.optim)
    }

    /// The parameter named `name`.
    pub fn param(&self, name: &str) -> Option<&Tensor> {
        find(&self.params, name)
    }

    /// The optimizer tensor named `name`.
    pub fn optim_tensor(&self, name: &str) -> Option<&Tensor> {
        find(&self.optim, name)
    }

    /// The hash preimage `P` (module docs), after validation.
    pub fn hash_preimage(&self) -> Result<Vec<u8>, StateError> {
        self.validate()?;
        let mut p = Vec::new();
        p.extend_from_slice(&self.step.to_le_bytes());
        p.extend_from_slice(&self.data_cursor.to_le_bytes());
        for list in [&self.params, &self.optim] {
            p.extend_from_slice(&(list.len() as u64).to_le_bytes());
            for (name, t) in list {
                p.extend_from_slice(&(name.len() as u64).to_le_bytes());
                p.extend_from_slice(name.as_bytes());
                p.extend_from_slice(&t.hash().0);
            }
        }
        Ok(p)
    }

    /// `h(S)`: `blake3_derive_key(STATE_HASH_CONTEXT, hash_preimage())`.
    pub fn hash(&self) -> Result<Digest, StateError> {
        Ok(Digest::derive(STATE_HASH_CONTEXT, &self.hash_preimage()?))
    }

    /// The canonical encoding (module docs), after validation.
    pub fn encode(&self) -> Result<Vec<u8>, StateError> {
        self.validate()?;
        let elems: usize = self
            .params
            .iter()
            .chain(&self.optim)
            .map(|(_, t)| t.numel())
            .sum();
        let mut out = Vec::with_capacity(32 + 4 * elems);
        out.extend_from_slice(&self.step.to_le_bytes());
        out.extend_from_slice(&self.data_cursor.to_le_bytes());
        for list in [&self.params, &self.optim] {
            out.extend_from_slice(&(list.len() as u64).to_le_bytes());
            for (name, t) in list {
                out.extend_from_slice(&(name.len() as u64).to_le_bytes());
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(&(t.rank() as u64).to_le_bytes());
                for &d in t.shape() {
                    out.extend_from_slice(&(d as u64).to_le_bytes());
                }
                for v in t.data() {
                    out.extend_from_slice(&v.to_bits().to_le_bytes());
                }
            }
        }
        Ok(out)
    }

    /// Decodes [`TrainState::encode`]'s output; rejects short input, trailing bytes, bad or
    /// unsorted names, ranks above [`MAX_RANK`] and non-finite values.
    pub fn decode(bytes: &[u8]) -> Result<Self, StateError> {
        let mut r = Reader { bytes, pos: 0 };
        let step = r.u64("step")?;
        let data_cursor = r.u64("data cursor")?;
        let params = r.section()?;
        let optim = r.section()?;
        if r.pos != bytes.len() {
            return Err(r.err(format!("{} trailing bytes", bytes.len() - r.pos)));
        }
        let s = Self {
            step,
            params,
            optim,
            data_cursor,
        };
        s.validate()?;
        Ok(s)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn err(&self, problem: String) -> StateError {
        StateError::Decode {
            offset: self.pos,
            problem,
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], StateError> {
        if self.bytes.len() - self.pos < n {
            return Err(self.err(format!(
                "{what}: needs {n} bytes, {} left",
                self.bytes.len() - self.pos
            )));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u64(&mut self, what: &str) -> Result<u64, StateError> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes(
            b.try_into().expect("invariant: 8 bytes"),
        ))
    }

    /// A count or size that must fit in memory: at most `limit`.
    fn len(&mut self, what: &str, limit: u64) -> Result<usize, StateError> {
        let v = self.u64(what)?;
        if v > limit {
            return Err(self.err(format!("{what} {v} exceeds {limit}")));
        }
        Ok(v as usize)
    }

    fn section(&mut self) -> Result<Vec<(String, Tensor)>, StateError> {
        let remaining = (self.bytes.len() - self.pos) as u64;
        let count = self.len("tensor count", remaining / 16)?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let n = self.len("name length", MAX_NAME_LEN as u64)?;
            let at = self.pos;
            let name = String::from_utf8(self.take(n, "name")?.to_vec()).map_err(|_| {
                StateError::Decode {
                    offset: at,
                    problem: "name is not UTF-8".to_string(),
                }
            })?;
            let rank = self.len("rank", MAX_RANK as u64)?;
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                let left = (self.bytes.len() - self.pos) as u64;
                shape.push(self.len("dimension", left / 4 + 1)?);
            }
            let elems = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .filter(|&n| n.checked_mul(4).is_some())
                .ok_or_else(|| self.err(format!("shape {shape:?} too large")))?;
            debug_assert_eq!(elems, numel(&shape));
            let raw = self.take(4 * elems, "tensor data")?;
            let data = raw
                .chunks_exact(4)
                .map(|c| f32::from_bits(u32::from_le_bytes(c.try_into().expect("invariant"))))
                .collect();
            let t = Tensor::new(&shape, data).expect("invariant: numel(shape) elements read");
            out.push((name, t));
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pinpoint_kernels::rng::Philox;

    pub(crate) fn sample_state(step: u64) -> TrainState {
        let g = Philox::from_seed(step);
        TrainState::new(
            step,
            vec![
                ("w1".into(), g.normal_tensor(1, &[3, 4], 0.0, 1.0)),
                ("b1".into(), g.normal_tensor(2, &[4], 0.0, 1.0)),
                ("s".into(), Tensor::scalar(-0.0)),
            ],
            vec![("adam.m/w1".into(), g.normal_tensor(3, &[3, 4], 0.0, 0.1))],
            step,
        )
        .unwrap()
    }

    #[test]
    fn round_trip_and_hash() {
        let s = sample_state(3);
        assert_eq!(s.params[0].0, "b1");
        let bytes = s.encode().unwrap();
        let back = TrainState::decode(&bytes).unwrap();
        assert_eq!(back.hash().unwrap(), s.hash().unwrap());
        assert_eq!(back.encode().unwrap(), bytes);
        assert_ne!(sample_state(4).hash().unwrap(), s.hash().unwrap());
        assert_eq!(s.param("w1").unwrap().shape(), &[3, 4]);
        assert!(s.param("nope").is_none());
        // Every field is hashed.
        let mut t = s.clone();
        t.data_cursor += 1;
        assert_ne!(t.hash().unwrap(), s.hash().unwrap());
        let mut t = s.clone();
        t.optim[0].1.data_mut()[0] += 1.0;
        assert_ne!(t.hash().unwrap(), s.hash().unwrap());
        let mut t = s.clone();
        t.params[2].1 = Tensor::scalar(0.0);
        assert_ne!(t.hash().unwrap(), s.hash().unwrap());
    }

    #[test]
    fn hash_is_pinned() {
        let s = TrainState::new(
            1,
            vec![("w".into(), Tensor::new(&[2], vec![1.0, -2.5]).unwrap())],
            vec![],
            1,
        )
        .unwrap();
        assert_eq!(
            s.hash().unwrap().to_hex(),
            "7868365d9e400901093f042830b52f2c9d2cf53073deac76603eb044957ed3a8"
        );
    }

    #[test]
    fn rejects_bad_states() {
        let mut s = sample_state(1);
        s.params[0].1.data_mut()[0] = f32::NAN;
        assert!(matches!(s.hash(), Err(StateError::NonFinite(_))));
        assert!(matches!(s.encode(), Err(StateError::NonFinite(_))));
        let mut s = sample_state(1);
        s.params.swap(0, 1);
        assert!(matches!(s.validate(), Err(StateError::Order { .. })));
        let dup = TrainState::new(
            0,
            vec![
                ("a".into(), Tensor::scalar(1.0)),
                ("a".into(), Tensor::scalar(1.0)),
            ],
            vec![],
            0,
        );
        assert!(matches!(dup, Err(StateError::Order { .. })));
        for bad in ["", "a b", "é"] {
            let r = TrainState::new(0, vec![(bad.into(), Tensor::scalar(1.0))], vec![], 0);
            assert!(matches!(r, Err(StateError::BadName { .. })), "{bad:?}");
        }
    }

    #[test]
    fn decode_rejects_malformed_bytes() {
        let bytes = sample_state(2).encode().unwrap();
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            TrainState::decode(&long),
            Err(StateError::Decode { .. })
        ));
        for cut in [0, 7, 20, bytes.len() - 1] {
            assert!(TrainState::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        // A huge tensor count is refused before allocating.
        let mut huge = bytes.clone();
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            TrainState::decode(&huge),
            Err(StateError::Decode { .. })
        ));
    }
}
