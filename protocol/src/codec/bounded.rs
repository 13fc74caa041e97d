//! [`BoundedVec`]: a `Vec` whose element count is capped by its type.

use std::io;
use std::ops::Deref;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::error::{ProtocolError, Result};

/// A vector of at most `MAX` elements, encoded exactly like a `Vec<T>` (a `u32` count, then the
/// elements). Decoding refuses a count above `MAX` right after reading it, before allocating or
/// reading any element.
///
/// Use it for wire fields whose natural size is far below the frame limit (proof paths, lists of
/// hashes), so a peer cannot make a node walk millions of elements.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BoundedVec<T, const MAX: u32>(Vec<T>);

impl<T, const MAX: u32> BoundedVec<T, MAX> {
    /// Wraps `items`, or fails with [`ProtocolError::TooLarge`] if there are more than `MAX`.
    pub fn new(items: Vec<T>) -> Result<Self> {
        if items.len() > MAX as usize {
            return Err(ProtocolError::TooLarge {
                what: "bounded vector (elements)",
                len: items.len(),
                limit: MAX as usize,
            });
        }
        Ok(Self(items))
    }

    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }

    /// Unwraps into the plain vector.
    pub fn into_inner(self) -> Vec<T> {
        self.0
    }
}

impl<T, const MAX: u32> Deref for BoundedVec<T, MAX> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: BorshSerialize, const MAX: u32> BorshSerialize for BoundedVec<T, MAX> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        let len = u32::try_from(self.0.len())
            .ok()
            .filter(|&n| n <= MAX)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bounded vector too long"))?;
        len.serialize(writer)?;
        self.0.iter().try_for_each(|item| item.serialize(writer))
    }
}

impl<T: BorshDeserialize, const MAX: u32> BorshDeserialize for BoundedVec<T, MAX> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let len = u32::deserialize_reader(reader)?;
        if len > MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bounded vector of {len} elements exceeds its cap of {MAX}"),
            ));
        }
        // Preallocate at most 4 KiB: the count is trusted only up to what the input delivers.
        let cap = (len as usize).min(4096 / std::mem::size_of::<T>().max(1));
        let mut items = Vec::with_capacity(cap);
        for _ in 0..len {
            items.push(T::deserialize_reader(reader)?);
        }
        Ok(Self(items))
    }
}
