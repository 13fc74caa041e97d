//! The restart intensity: at most R restarts in any window of W seconds (Erlang/OTP's
//! `intensity`/`period`). Time is tokio's clock ([`tokio::time::Instant`]), so a paused or
//! simulated runtime controls it.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::SupervisionConfig;

/// Restarts within the sliding window.
#[derive(Debug, Clone)]
pub struct Intensity {
    max_restarts: u32,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl Intensity {
    /// From the config's R and W.
    pub fn new(cfg: SupervisionConfig) -> Self {
        Self {
            max_restarts: cfg.max_restarts,
            window: Duration::from_secs(cfg.window_s),
            recent: VecDeque::new(),
        }
    }

    /// R.
    pub fn max_restarts(&self) -> u32 {
        self.max_restarts
    }

    /// W.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Records a failure at `now`: true if a restart is allowed (and counts it), false if it
    /// would be restart number R + 1 within W.
    pub fn allow(&mut self, now: Instant) -> bool {
        while let Some(&t) = self.recent.front() {
            if now.saturating_duration_since(t) >= self.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() as u64 >= u64::from(self.max_restarts) {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_restarts_per_sliding_window() {
        let mut i = Intensity::new(SupervisionConfig {
            max_restarts: 2,
            window_s: 10,
        });
        let t0 = Instant::now();
        assert!(i.allow(t0));
        assert!(i.allow(t0 + Duration::from_secs(1)));
        assert!(!i.allow(t0 + Duration::from_secs(9)), "third within 10 s");
        // The first restart leaves the window at t0 + 10 s.
        assert!(i.allow(t0 + Duration::from_secs(10)));
        assert!(!i.allow(t0 + Duration::from_secs(10)));
        let mut never = Intensity::new(SupervisionConfig {
            max_restarts: 0,
            window_s: 1,
        });
        assert!(!never.allow(t0));
    }
}
