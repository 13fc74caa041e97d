//! Export of named f32 tensors in the safetensors format (bytes only; the store writes files).
//!
//! Layout: `N` (u64 LE) ‖ header (`N` bytes of JSON, padded with spaces to a multiple of 8) ‖
//! data. The header maps each tensor name to `{"dtype": "F32", "shape": [...],
//! "data_offsets": [begin, end]}` (byte offsets into the data section) and has an optional
//! `"__metadata__"` object of string values. Tensors are stored in name order (bytewise),
//! contiguously, elements little-endian; the JSON keys are written in sorted order.

use serde_json::{Map, Value, json};

use crate::error::StateError;
use pinpoint_kernels::tensor::Tensor;

/// The metadata key reserved by the format.
pub const METADATA_KEY: &str = "__metadata__";

fn decode_err(problem: impl Into<String>) -> StateError {
    StateError::Decode {
        offset: 0,
        problem: format!("safetensors: {}", problem.into()),
    }
}

/// The safetensors bytes of `tensors` with string `metadata`. Names must be unique, non-empty
/// and not `__metadata__`.
pub fn to_bytes(
    tensors: &[(String, Tensor)],
    metadata: &[(String, String)],
) -> Result<Vec<u8>, StateError> {
    let mut sorted: Vec<&(String, Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for w in sorted.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(StateError::BadName {
                name: w[0].0.clone(),
                problem: "appears twice",
            });
        }
    }
    let mut header = Map::new();
    if !metadata.is_empty() {
        let mut meta: Vec<&(String, String)> = metadata.iter().collect();
        meta.sort();
        let m: Map<String, Value> = meta
            .into_iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        header.insert(METADATA_KEY.to_string(), Value::Object(m));
    }
    let mut offset = 0usize;
    for (name, t) in &sorted {
        if name.is_empty() || name == METADATA_KEY {
            return Err(StateError::BadName {
                name: name.clone(),
                problem: "empty or reserved by safetensors",
            });
        }
        let end = offset + 4 * t.numel();
        header.insert(
            name.clone(),
            json!({"dtype": "F32", "shape": t.shape(), "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut json = serde_json::to_vec(&Value::Object(header))
        .map_err(|e| decode_err(format!("header: {e}")))?;
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for (_, t) in &sorted {
        for v in t.data() {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
    }
    Ok(out)
}

/// Parses safetensors bytes holding only F32 tensors: the tensors in data order, and the
/// metadata (sorted by key).
#[allow(clippy::type_complexity)]
pub fn from_bytes(
    bytes: &[u8],
) -> Result<(Vec<(String, Tensor)>, Vec<(String, String)>), StateError> {
    if bytes.len() < 8 {
        return Err(decode_err("shorter than the 8-byte header length"));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("invariant: 8 bytes"));
    let data_start = 8u64
        .checked_add(n)
        .filter(|&e| e <= bytes.len() as u64)
        .ok_or_else(|| decode_err(format!("header length {n} exceeds the file")))?
        as usize;
    let header: Map<String, Value> = serde_json::from_slice(&bytes[8..data_start])
        .map_err(|e| decode_err(format!("header JSON: {e}")))?;
    let data = &bytes[data_start..];
    let mut metadata = Vec::new();
    let mut tensors = Vec::new();
    for (name, v) in header {
        if name == METADATA_KEY {
            let m = v
                .as_object()
                .ok_or_else(|| decode_err("__metadata__ is not an object"))?;
            for (k, v) in m {
                let s = v
                    .as_str()
                    .ok_or_else(|| decode_err(format!("metadata {k} is not a string")))?;
                metadata.push((k.clone(), s.to_string()));
            }
            continue;
        }
        let bad = |what: &str| decode_err(format!("tensor {name:?}: {what}"));
        if v.get("dtype").and_then(Value::as_str) != Some("F32") {
            return Err(bad("dtype is not F32"));
        }
        let shape: Vec<usize> = v
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no shape"))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("bad shape"))?;
        let off: Vec<usize> = v
            .get("data_offsets")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 2)
            .and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect())
            .ok_or_else(|| bad("bad data_offsets"))?;
        let numel = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| bad("shape too large"))?;
        if off[0] > off[1] || off[1] > data.len() || off[1] - off[0] != 4 * numel {
            return Err(bad("data_offsets do not match the shape and the file"));
        }
        let vals = data[off[0]..off[1]]
            .chunks_exact(4)
            .map(|c| f32::from_bits(u32::from_le_bytes(c.try_into().expect("invariant"))))
            .collect();
        let t = Tensor::new(&shape, vals).expect("invariant: numel values");
        tensors.push((off[0], name, t));
    }
    tensors.sort_by_key(|(o, n, _)| (*o, n.clone()));
    metadata.sort();
    Ok((
        tensors.into_iter().map(|(_, n, t)| (n, t)).collect(),
        metadata,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(String, Tensor)> {
        vec![
            (
                "w".to_string(),
                Tensor::new(&[2, 3], vec![1.0, -2.0, 3.5, 0.0, -0.0, 1e-30]).unwrap(),
            ),
            (
                "b".to_string(),
                Tensor::new(&[3], vec![0.5, 0.25, -1.0]).unwrap(),
            ),
            ("s".to_string(), Tensor::scalar(7.0)),
        ]
    }

    #[test]
    fn round_trip() {
        let meta = vec![("step".to_string(), "10".to_string())];
        let bytes = to_bytes(&sample(), &meta).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        let (tensors, m) = from_bytes(&bytes).unwrap();
        assert_eq!(m, meta);
        let mut want = sample();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(tensors.len(), 3);
        for ((na, ta), (nb, tb)) in tensors.iter().zip(&want) {
            assert_eq!(na, nb);
            assert_eq!(ta.hash(), tb.hash());
        }
        assert!(to_bytes(&[sample()[0].clone(), sample()[0].clone()], &[]).is_err());
        assert!(from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    /// The reference implementation (the `safetensors` crate, which Python's package wraps)
    /// reads our files.
    #[test]
    fn reference_reader_accepts_our_files() {
        let bytes = to_bytes(&sample(), &[("k".into(), "v".into())]).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = st.names();
        names.sort();
        assert_eq!(names, vec!["b", "s", "w"]);
        let w = st.tensor("w").unwrap();
        assert_eq!(w.dtype(), safetensors::Dtype::F32);
        assert_eq!(w.shape(), &[2, 3]);
        assert_eq!(&w.data()[..4], &1.0f32.to_le_bytes());
        let s = st.tensor("s").unwrap();
        assert!(s.shape().is_empty());
        assert_eq!(s.data(), &7.0f32.to_le_bytes());
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(
            meta.metadata()
                .as_ref()
                .unwrap()
                .get("k")
                .map(String::as_str),
            Some("v")
        );
    }
}
