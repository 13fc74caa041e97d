//! The executor's journal: the request in flight, kept in the store under
//! [`RefKey::request`] so that a restarted executor (or node) resumes it; and the job's
//! hash-log segments ([`RefKey::hashes`]), from which a resumed job rebuilds `h(S_0) … h(S_c)`.
//!
//! Request encoding: magic `PPEXREQ1`, kind `u8` (0 = train), job id (32 bytes), spec length
//! `u32` LE and the spec's canonical encoding, text flag `u8` (0/1), then text length `u64` LE
//! and the bytes.
//!
//! Segment encoding: magic `PPHSEG01`, first step `u64` LE, count `u32` LE, `count` hashes of
//! 32 bytes: `h(S_first) … h(S_{first+count−1})`.

use std::sync::Arc;

use pinpoint_protocol::id::JobId;
use pinpoint_train::{Digest, JobSpec};

use super::request::{ComputeRequest, TrainJob};
use crate::store::{Kind, RefKey, Store, StoreError};

const REQUEST_MAGIC: &[u8; 8] = b"PPEXREQ1";
const SEGMENT_MAGIC: &[u8; 8] = b"PPHSEG01";

/// Encodes a request for the journal.
pub fn encode_request(r: &ComputeRequest) -> Result<Vec<u8>, String> {
    let ComputeRequest::Train(t) = r;
    let spec = t.spec.encode().map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(64 + spec.len());
    out.extend_from_slice(REQUEST_MAGIC);
    out.push(0);
    out.extend_from_slice(&t.job);
    out.extend_from_slice(&(spec.len() as u32).to_le_bytes());
    out.extend_from_slice(&spec);
    match &t.text {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            out.extend_from_slice(&(text.len() as u64).to_le_bytes());
            out.extend_from_slice(text);
        }
    }
    Ok(out)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated".to_string());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

/// Decodes a journal entry.
pub fn decode_request(bytes: &[u8]) -> Result<ComputeRequest, String> {
    let mut r = Reader(bytes);
    if r.take(8)? != REQUEST_MAGIC {
        return Err("not an executor request".to_string());
    }
    let [kind] = r.array::<1>()?;
    if kind != 0 {
        return Err(format!("unknown request kind {kind}"));
    }
    let job: JobId = r.array()?;
    let len = u32::from_le_bytes(r.array()?) as usize;
    let spec = JobSpec::decode(r.take(len)?).map_err(|e| e.to_string())?;
    let text = match r.array::<1>()? {
        [0] => None,
        [1] => {
            let n = usize::try_from(u64::from_le_bytes(r.array()?))
                .map_err(|_| "text too large".to_string())?;
            Some(Arc::new(r.take(n)?.to_vec()))
        }
        _ => return Err("bad text flag".to_string()),
    };
    if !r.0.is_empty() {
        return Err("trailing bytes".to_string());
    }
    Ok(ComputeRequest::Train(TrainJob { job, spec, text }))
}

/// Encodes a hash-log segment starting at step `first`.
pub fn encode_segment(first: u64, hashes: &[Digest]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + 32 * hashes.len());
    out.extend_from_slice(SEGMENT_MAGIC);
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(&(hashes.len() as u32).to_le_bytes());
    for h in hashes {
        out.extend_from_slice(&h.0);
    }
    out
}

fn decode_segment(bytes: &[u8]) -> Result<(u64, Vec<Digest>), String> {
    let mut r = Reader(bytes);
    if r.take(8)? != SEGMENT_MAGIC {
        return Err("not a hash segment".to_string());
    }
    let first = u64::from_le_bytes(r.array()?);
    let count = u32::from_le_bytes(r.array()?) as usize;
    let mut hashes = Vec::with_capacity(count.min(1 << 20));
    for _ in 0..count {
        hashes.push(Digest(r.array()?));
    }
    if !r.0.is_empty() {
        return Err("trailing bytes".to_string());
    }
    Ok((first, hashes))
}

/// `h(S_0) … h(S_step)` rebuilt from the job's segments, if they are complete and end in
/// `last` (the checkpoint's verified state hash). `None` otherwise: the caller starts over.
pub fn hash_prefix(
    store: &mut Store,
    job: &JobId,
    step: u64,
    last: Digest,
) -> Result<Option<Vec<Digest>>, StoreError> {
    let mut out: Vec<Digest> = Vec::new();
    for end in store.steps(job, Kind::Hashes) {
        if end > step {
            break;
        }
        let Some(bytes) = store.get(&RefKey::hashes(*job, end))? else {
            return Ok(None);
        };
        let Ok((first, hashes)) = decode_segment(&bytes) else {
            tracing::warn!(step = end, "unreadable hash segment; the job starts over");
            return Ok(None);
        };
        if first != out.len() as u64 || first + hashes.len() as u64 != end + 1 {
            return Ok(None);
        }
        out.extend(hashes);
    }
    let complete = out.len() as u64 == step + 1 && out.last() == Some(&last);
    Ok(complete.then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_requests_round_trip() {
        let h: Vec<Digest> = (0..5u8).map(|i| Digest([i; 32])).collect();
        let bytes = encode_segment(3, &h);
        assert_eq!(decode_segment(&bytes), Ok((3, h)));
        assert!(decode_segment(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_request(b"PPEXREQ1").is_err());
    }
}
