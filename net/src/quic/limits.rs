//! Connection accounting: totals and per-IP counts, released by a guard when a connection ends.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;

use crate::error::{NetError, Result};

/// Live connection counts of one node.
#[derive(Debug, Default)]
pub(crate) struct ConnCounts {
    total: AtomicUsize,
    per_ip: DashMap<IpAddr, usize>,
}

/// Holds one connection slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct ConnSlot {
    counts: Arc<ConnCounts>,
    inbound_ip: Option<IpAddr>,
}

impl ConnCounts {
    /// Takes a slot, refusing when `max_total` connections exist or (inbound only) `ip` already
    /// has `max_per_ip`.
    pub(crate) fn acquire(
        self: &Arc<Self>,
        inbound_ip: Option<IpAddr>,
        max_total: usize,
        max_per_ip: usize,
    ) -> Result<ConnSlot> {
        let prev = self.total.fetch_add(1, Ordering::AcqRel);
        if prev >= max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(NetError::Refused(format!(
                "connection limit of {max_total} reached"
            )));
        }
        if let Some(ip) = inbound_ip {
            let mut n = self.per_ip.entry(ip).or_insert(0);
            if *n >= max_per_ip {
                drop(n);
                self.total.fetch_sub(1, Ordering::AcqRel);
                return Err(NetError::Refused(format!(
                    "limit of {max_per_ip} connections from {ip} reached"
                )));
            }
            *n += 1;
        }
        Ok(ConnSlot {
            counts: Arc::clone(self),
            inbound_ip,
        })
    }

    /// Connections now open.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        if let Some(ip) = self.inbound_ip {
            if let Some(mut n) = self.counts.per_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
            }
            self.counts.per_ip.remove_if(&ip, |_, n| *n == 0);
        }
        self.counts.total.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_and_per_ip_limits() {
        let c = Arc::new(ConnCounts::default());
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let s1 = c.acquire(Some(a), 3, 2).expect("first");
        let s2 = c.acquire(Some(a), 3, 2).expect("second");
        assert!(matches!(
            c.acquire(Some(a), 3, 2),
            Err(NetError::Refused(_))
        ));
        let s3 = c.acquire(Some(b), 3, 2).expect("other ip");
        assert!(matches!(c.acquire(None, 3, 2), Err(NetError::Refused(_))));
        assert_eq!(c.total(), 3);
        drop(s1);
        let _s4 = c.acquire(Some(a), 3, 2).expect("slot freed");
        drop((s2, s3));
        assert_eq!(c.total(), 1);
    }
}
