//! Building an [`Attempt`]'s record: when it started, how long it took, and what came of it.

use std::time::Instant;

use chrono::{DateTime, Utc};
use lead_inbox_domain::forwarding::{Attempt, Verdict};

/// Started when an attempt starts; turns into its [`Attempt`].
pub(crate) struct AttemptClock {
    at: DateTime<Utc>,
    started: Instant,
}

impl AttemptClock {
    pub(crate) fn start() -> AttemptClock {
        AttemptClock {
            at: Utc::now(),
            started: Instant::now(),
        }
    }

    /// The destination answered (an HTTP status), with this verdict on it.
    pub(crate) fn answered(
        self,
        status: u16,
        response: Option<String>,
        verdict: Verdict,
    ) -> Attempt {
        self.finish(Some(status), None, response, verdict)
    }

    /// The destination accepted it without an HTTP status (a JetStream ack).
    pub(crate) fn acknowledged(self, response: Option<String>) -> Attempt {
        self.finish(None, None, response, Verdict::Delivered)
    }

    /// No answer: `error` (already free of secrets) says why; it is retried.
    pub(crate) fn failed(self, error: String) -> Attempt {
        self.finish(None, Some(error), None, Verdict::of_transport_error())
    }

    fn finish(
        self,
        status_code: Option<u16>,
        error: Option<String>,
        response: Option<String>,
        verdict: Verdict,
    ) -> Attempt {
        Attempt {
            at: self.at,
            status_code,
            latency: self.started.elapsed(),
            error,
            response,
            verdict,
        }
    }
}
