//! The executor's job slot.

use crate::shim::{Arc, AtomicBool, Condvar, Mutex, MutexGuard, Ordering};

/// Errors of the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    /// A job is already queued or running.
    #[error("a job is already in flight")]
    Busy,
    /// The ticket is not the slot's current job (already collected, or never issued).
    #[error("unknown or stale ticket")]
    Stale,
    /// A thread panicked while holding the slot's lock.
    #[error("the slot's lock is poisoned")]
    Poisoned,
}

/// Identifies one submitted job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<R> {
    /// The executor finished it.
    Done(R),
    /// It was cancelled before a result was handed off.
    Cancelled,
}

#[derive(Debug)]
enum State<J, R> {
    Idle,
    Queued { id: u64, job: J },
    Running { id: u64 },
    Finished { id: u64, outcome: Outcome<R> },
}

#[derive(Debug)]
struct Inner<J, R> {
    state: State<J, R>,
    next_id: u64,
}

/// One job in flight between a submitter and the executor thread.
///
/// Call order: the submitter [`JobSlot::submit`]s, the executor [`JobSlot::take`]s it (with its
/// cancel flag) and later [`JobSlot::complete`]s it; the submitter [`JobSlot::wait`]s for the
/// [`Outcome`] (or [`JobSlot::cancel`]s first), which frees the slot. Exactly one outcome is
/// handed off per ticket.
#[derive(Debug)]
pub struct JobSlot<J, R> {
    inner: Mutex<Inner<J, R>>,
    changed: Condvar,
    cancel: Arc<AtomicBool>,
}

/// What the executor takes: the job, its id for [`JobSlot::complete`], and its cancel flag
/// (checked between compute steps).
#[derive(Debug)]
pub struct Taken<J> {
    /// The job.
    pub job: J,
    /// Its ticket.
    pub ticket: Ticket,
    /// Set when the submitter cancels.
    pub cancelled: Arc<AtomicBool>,
}

impl<J, R> Default for JobSlot<J, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<J, R> JobSlot<J, R> {
    /// An idle slot.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: State::Idle,
                next_id: 1,
            }),
            changed: Condvar::new(),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner<J, R>>, SlotError> {
        self.inner.lock().map_err(|_| SlotError::Poisoned)
    }

    /// Queues `job`. Errors: [`SlotError::Busy`] while another job is in flight.
    pub fn submit(&self, job: J) -> Result<Ticket, SlotError> {
        let mut g = self.lock()?;
        if !matches!(g.state, State::Idle) {
            return Err(SlotError::Busy);
        }
        let id = g.next_id;
        g.next_id += 1;
        self.cancel.store(false, Ordering::SeqCst);
        g.state = State::Queued { id, job };
        drop(g);
        self.changed.notify_all();
        Ok(Ticket(id))
    }

    /// The executor takes the queued job, if any (it is then running).
    pub fn take(&self) -> Result<Option<Taken<J>>, SlotError> {
        let mut g = self.lock()?;
        match std::mem::replace(&mut g.state, State::Idle) {
            State::Queued { id, job } => {
                g.state = State::Running { id };
                Ok(Some(Taken {
                    job,
                    ticket: Ticket(id),
                    cancelled: Arc::clone(&self.cancel),
                }))
            }
            other => {
                g.state = other;
                Ok(None)
            }
        }
    }

    /// The executor hands off `result` for `ticket`. Returns `false` (and drops the result)
    /// when the job was cancelled meanwhile.
    pub fn complete(&self, ticket: Ticket, result: R) -> Result<bool, SlotError> {
        let mut g = self.lock()?;
        match g.state {
            State::Running { id } if id == ticket.0 => {
                g.state = State::Finished {
                    id,
                    outcome: Outcome::Done(result),
                };
                drop(g);
                self.changed.notify_all();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Cancels `ticket`'s job if no result was handed off yet; frees the slot.
    ///
    /// Returns the outcome: [`Outcome::Cancelled`], or the result if it won the race.
    /// Errors: [`SlotError::Stale`] for another ticket.
    pub fn cancel(&self, ticket: Ticket) -> Result<Outcome<R>, SlotError> {
        let mut g = self.lock()?;
        let id = match &g.state {
            State::Queued { id, .. } | State::Running { id } | State::Finished { id, .. } => *id,
            State::Idle => return Err(SlotError::Stale),
        };
        if id != ticket.0 {
            return Err(SlotError::Stale);
        }
        self.cancel.store(true, Ordering::SeqCst);
        let out = match std::mem::replace(&mut g.state, State::Idle) {
            State::Finished { outcome, .. } => outcome,
            _ => Outcome::Cancelled,
        };
        drop(g);
        self.changed.notify_all();
        Ok(out)
    }

    /// Blocks until `ticket`'s job has an outcome, takes it and frees the slot.
    /// Errors: [`SlotError::Stale`] if the ticket is not the current job.
    pub fn wait(&self, ticket: Ticket) -> Result<Outcome<R>, SlotError> {
        let mut g = self.lock()?;
        loop {
            match &g.state {
                State::Finished { id, .. } if *id == ticket.0 => {
                    return match std::mem::replace(&mut g.state, State::Idle) {
                        State::Finished { outcome, .. } => Ok(outcome),
                        _ => Err(SlotError::Stale),
                    };
                }
                State::Queued { id, .. } | State::Running { id } if *id == ticket.0 => {
                    g = self.changed.wait(g).map_err(|_| SlotError::Poisoned)?;
                }
                _ => return Err(SlotError::Stale),
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn one_job_in_flight_result_once_cancel_discards() {
        let slot: JobSlot<u32, u32> = JobSlot::new();
        let t = slot.submit(1).expect("submit");
        assert_eq!(slot.submit(2), Err(SlotError::Busy));
        let taken = slot.take().expect("lock").expect("a job");
        assert_eq!((taken.job, taken.ticket), (1, t));
        assert!(slot.take().expect("lock").is_none());
        assert_eq!(slot.complete(t, 10), Ok(true));
        assert_eq!(slot.wait(t), Ok(Outcome::Done(10)));
        assert_eq!(slot.wait(t), Err(SlotError::Stale));
        let t2 = slot.submit(3).expect("free again");
        assert_ne!(t, t2);
        let taken = slot.take().expect("lock").expect("a job");
        assert_eq!(slot.cancel(t2), Ok(Outcome::Cancelled));
        assert!(taken.cancelled.load(Ordering::SeqCst));
        assert_eq!(slot.complete(t2, 30), Ok(false));
        assert_eq!(slot.cancel(t2), Err(SlotError::Stale));
    }
}
