//! A wake-up for whoever follows the event log (the live feed's reader, the
//! forwarding dispatcher): "new events may be there". Bumped after a local commit that
//! added events, and, on PostgreSQL, by a listener when another instance committed
//! some (LISTEN/NOTIFY). Followers still poll now and then, so a lost wake-up (or a
//! store that cannot notify across processes) costs latency, never an event.

use tokio::sync::watch;

/// The signal: cheap to clone, shared by the writers and the followers of one process.
#[derive(Debug, Clone)]
pub struct EventSignal {
    sender: watch::Sender<u64>,
}

impl Default for EventSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl EventSignal {
    pub fn new() -> Self {
        EventSignal {
            sender: watch::Sender::new(0),
        }
    }

    /// Says that new events may be in the log: every follower waiting in
    /// [`EventWatch::changed`] wakes up.
    pub fn bump(&self) {
        self.sender
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// A follower's end: it sees every bump made after this call.
    pub fn watch(&self) -> EventWatch {
        EventWatch {
            receiver: self.sender.subscribe(),
        }
    }
}

/// One follower's end of an [`EventSignal`].
#[derive(Debug)]
pub struct EventWatch {
    receiver: watch::Receiver<u64>,
}

impl EventWatch {
    /// Waits until the signal is bumped after the last return of this method (at
    /// once if it was bumped meanwhile; several bumps wake it once).
    pub async fn changed(&mut self) {
        // The sender lives as long as any `EventSignal`; if none is left, nothing will
        // ever wake this follower, so it waits for ever (its poll timer still runs).
        if self.receiver.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_bump_wakes_every_follower_once_and_none_before() {
        let signal = EventSignal::new();
        let mut first = signal.watch();
        let mut second = signal.watch();
        let idle = tokio::time::timeout(Duration::from_millis(20), first.changed()).await;
        assert!(idle.is_err(), "woke without a bump");
        signal.bump();
        signal.bump();
        tokio::time::timeout(Duration::from_secs(1), first.changed())
            .await
            .expect("the first follower wakes");
        tokio::time::timeout(Duration::from_secs(1), second.changed())
            .await
            .expect("the second follower wakes");
        let again = tokio::time::timeout(Duration::from_millis(20), first.changed()).await;
        assert!(again.is_err(), "two bumps woke it twice");
    }
}
