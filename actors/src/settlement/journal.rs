//! The settlement actor's journal: three small files in its directory (by default
//! `<node.data_dir>/settlement/`), each replaced atomically
//! ([`pinpoint_train::fs::store::write_atomic`]: temp file, fsync, rename, fsync the
//! directory), so a crash leaves either the old or the new version, never a torn one.
//!
//! - `cursor`: the next block whose events are to be delivered. Magic `PPSTCUR1`, then the
//!   block number, `u64` LE.
//! - `intent`: the transaction being sent, if any (sends are one at a time). Magic
//!   `PPSTINT1`, the account's nonce before the send (`u64` LE), the key (`u16` LE length,
//!   UTF-8), the contract (20 bytes) and the calldata (`u32` LE length, bytes).
//! - `done`: the keys whose transactions reached the chain, the newest [`MAX_DONE_KEYS`].
//!   Magic `PPSTDON1`, a count (`u32` LE), then per key: the key (`u16` LE length, UTF-8), a
//!   flag (`0`: the receipt was not seen, `1`: it was) and the receipt's block (`u64` LE).
//!
//! A file that does not decode is an error naming it ([`SettlementError::Corrupt`]): with
//! atomic writes that means the disk or an operator changed it, and guessing could send a
//! transaction twice.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use pinpoint_chain::alloy::primitives::{Address, Bytes};
use pinpoint_train::StoreError as FileError;
use pinpoint_train::fs::store::{sync_dir, write_atomic};

use super::SettlementError;

/// Keys remembered as done (older ones are forgotten first). A caller re-submitting a key
/// older than this is not recognised: keys are for retries, not for history.
pub const MAX_DONE_KEYS: usize = 4096;
/// Longest intent key, bytes.
pub const MAX_KEY_BYTES: usize = 256;

const CURSOR_MAGIC: &[u8; 8] = b"PPSTCUR1";
const INTENT_MAGIC: &[u8; 8] = b"PPSTINT1";
const DONE_MAGIC: &[u8; 8] = b"PPSTDON1";

/// A transaction about to be sent: journalled before the send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The caller's idempotency key.
    pub key: String,
    /// The account's nonce (transactions the chain knew of) just before the send.
    pub nonce: u64,
    /// The contract called.
    pub to: Address,
    /// The calldata.
    pub data: Bytes,
}

/// The on-disk journal (module docs).
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    done: BTreeMap<String, Option<u64>>,
    order: VecDeque<String>,
}

/// What [`Journal::open`] found.
#[derive(Debug)]
pub struct Recovered {
    /// The journal.
    pub journal: Journal,
    /// The persisted cursor, if any.
    pub cursor: Option<u64>,
    /// The intent left by the previous incarnation, if any.
    pub intent: Option<Intent>,
}

fn corrupt(path: &Path, why: impl Into<String>) -> SettlementError {
    SettlementError::Corrupt {
        path: path.display().to_string(),
        why: why.into(),
    }
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
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn key(&mut self) -> Result<String, String> {
        let n = usize::from(u16::from_le_bytes(self.array()?));
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "key is not UTF-8".to_string())
    }
    fn magic(&mut self, magic: &[u8; 8]) -> Result<(), String> {
        if self.take(8)? != magic {
            return Err("wrong magic".to_string());
        }
        Ok(())
    }
    fn end(&self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err("trailing bytes".to_string())
        }
    }
}

/// Checks a caller's key: non-empty, at most [`MAX_KEY_BYTES`].
pub fn check_key(key: &str) -> Result<(), SettlementError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(SettlementError::InvalidKey(format!(
            "an intent key has 1..={MAX_KEY_BYTES} bytes, {key:?} has {}",
            key.len()
        )));
    }
    Ok(())
}

fn put_key(out: &mut Vec<u8>, key: &str) {
    // check_key bounds every key well below u16::MAX.
    out.extend_from_slice(&(key.len().min(MAX_KEY_BYTES) as u16).to_le_bytes());
    out.extend_from_slice(&key.as_bytes()[..key.len().min(MAX_KEY_BYTES)]);
}

/// Encodes an intent.
pub fn encode_intent(i: &Intent) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + i.key.len() + i.data.len());
    out.extend_from_slice(INTENT_MAGIC);
    out.extend_from_slice(&i.nonce.to_le_bytes());
    put_key(&mut out, &i.key);
    out.extend_from_slice(i.to.as_slice());
    out.extend_from_slice(&(i.data.len() as u32).to_le_bytes());
    out.extend_from_slice(&i.data);
    out
}

/// Decodes an intent.
pub fn decode_intent(bytes: &[u8]) -> Result<Intent, String> {
    let mut r = Reader(bytes);
    r.magic(INTENT_MAGIC)?;
    let nonce = r.u64()?;
    let key = r.key()?;
    let to = Address::from(r.array::<20>()?);
    let n = u32::from_le_bytes(r.array()?) as usize;
    let data = Bytes::copy_from_slice(r.take(n)?);
    r.end()?;
    Ok(Intent {
        key,
        nonce,
        to,
        data,
    })
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, SettlementError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FileError::io(path, &e).into()),
    }
}

impl Journal {
    /// Opens (creating) the journal in `dir` and reads what a previous incarnation left.
    pub fn open(dir: &Path) -> Result<Recovered, SettlementError> {
        fs::create_dir_all(dir).map_err(|e| FileError::io(dir, &e))?;
        let mut journal = Journal {
            dir: dir.to_path_buf(),
            done: BTreeMap::new(),
            order: VecDeque::new(),
        };
        let cursor = match read_opt(&journal.cursor_path())? {
            None => None,
            Some(b) => {
                let mut r = Reader(&b);
                let v = r
                    .magic(CURSOR_MAGIC)
                    .and_then(|()| r.u64())
                    .and_then(|v| r.end().map(|()| v))
                    .map_err(|why| corrupt(&journal.cursor_path(), why))?;
                Some(v)
            }
        };
        let intent = match read_opt(&journal.intent_path())? {
            None => None,
            Some(b) => Some(decode_intent(&b).map_err(|why| corrupt(&journal.intent_path(), why))?),
        };
        if let Some(b) = read_opt(&journal.done_path())? {
            journal
                .load_done(&b)
                .map_err(|why| corrupt(&journal.done_path(), why))?;
        }
        Ok(Recovered {
            journal,
            cursor,
            intent,
        })
    }

    fn cursor_path(&self) -> PathBuf {
        self.dir.join("cursor")
    }
    fn intent_path(&self) -> PathBuf {
        self.dir.join("intent")
    }
    fn done_path(&self) -> PathBuf {
        self.dir.join("done")
    }

    fn load_done(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut r = Reader(bytes);
        r.magic(DONE_MAGIC)?;
        let count = u32::from_le_bytes(r.array()?);
        for _ in 0..count {
            let key = r.key()?;
            let [seen] = r.array::<1>()?;
            let block = r.u64()?;
            let block = match seen {
                0 => None,
                1 => Some(block),
                _ => return Err("bad receipt flag".to_string()),
            };
            self.remember(key, block);
        }
        r.end()
    }

    fn remember(&mut self, key: String, block: Option<u64>) {
        if self.done.insert(key.clone(), block).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > MAX_DONE_KEYS {
            if let Some(old) = self.order.pop_front() {
                self.done.remove(&old);
            }
        }
    }

    fn encode_done(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.order.len() * 48);
        out.extend_from_slice(DONE_MAGIC);
        out.extend_from_slice(&(self.order.len() as u32).to_le_bytes());
        for key in &self.order {
            let block = self.done.get(key).copied().flatten();
            put_key(&mut out, key);
            out.push(u8::from(block.is_some()));
            out.extend_from_slice(&block.unwrap_or(0).to_le_bytes());
        }
        out
    }

    /// Whether `key`'s transaction reached the chain: `Some(block)` with the receipt's block
    /// when it was seen.
    pub fn done(&self, key: &str) -> Option<Option<u64>> {
        self.done.get(key).copied()
    }

    /// Persists the cursor: events of blocks `< next_block` have been delivered.
    pub fn write_cursor(&self, next_block: u64) -> Result<(), SettlementError> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(CURSOR_MAGIC);
        out.extend_from_slice(&next_block.to_le_bytes());
        Ok(write_atomic(&self.cursor_path(), &out)?)
    }

    /// Journals an intent before its transaction is sent.
    pub fn write_intent(&self, intent: &Intent) -> Result<(), SettlementError> {
        Ok(write_atomic(&self.intent_path(), &encode_intent(intent))?)
    }

    /// Records that `key`'s transaction reached the chain (and persists it), then drops the
    /// intent: in that order, so a crash in between leaves an intent whose key is done.
    pub fn finish(&mut self, key: &str, block: Option<u64>) -> Result<(), SettlementError> {
        self.remember(key.to_string(), block);
        write_atomic(&self.done_path(), &self.encode_done())?;
        self.clear_intent()
    }

    /// Drops the intent (its transaction did not reach the chain, or is recorded as done).
    pub fn clear_intent(&self) -> Result<(), SettlementError> {
        let path = self.intent_path();
        match fs::remove_file(&path) {
            Ok(()) => Ok(sync_dir(&self.dir)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(FileError::io(&path, &e).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_corruption_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rec = Journal::open(dir.path()).expect("open");
        assert!(rec.cursor.is_none() && rec.intent.is_none());
        let mut j = rec.journal;
        let intent = Intent {
            key: "job/1/commit".into(),
            nonce: 7,
            to: Address::repeat_byte(3),
            data: Bytes::from(vec![1, 2, 3]),
        };
        j.write_cursor(42).expect("cursor");
        j.write_intent(&intent).expect("intent");
        j.finish("a", Some(5)).expect("finish");
        j.write_intent(&intent).expect("intent again");
        j.finish("b", None).expect("finish");
        j.write_intent(&intent).expect("intent left behind");
        let rec = Journal::open(dir.path()).expect("reopen");
        assert_eq!(rec.cursor, Some(42));
        assert_eq!(rec.intent, Some(intent));
        assert_eq!(rec.journal.done("a"), Some(Some(5)));
        assert_eq!(rec.journal.done("b"), Some(None));
        assert_eq!(rec.journal.done("c"), None);
        fs::write(dir.path().join("cursor"), b"PPSTCUR1\x01").expect("write");
        let err = Journal::open(dir.path()).expect_err("corrupt cursor");
        assert!(err.to_string().contains("cursor"), "{err}");
    }

    #[test]
    fn done_keys_are_bounded_oldest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut j = Journal::open(dir.path()).expect("open").journal;
        for i in 0..MAX_DONE_KEYS + 2 {
            j.remember(format!("k{i}"), Some(i as u64));
        }
        assert_eq!(j.done("k0"), None);
        assert_eq!(j.done("k1"), None);
        assert_eq!(j.done("k2"), Some(Some(2)));
        assert!(check_key("").is_err());
        assert!(check_key(&"x".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(check_key("ok").is_ok());
    }
}
