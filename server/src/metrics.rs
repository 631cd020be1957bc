//! Counters the runtime updates and `/metrics` prints (Prometheus text format).

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Process-wide counters and gauges.
#[derive(Default, Debug)]
pub struct Metrics {
    /// SIP requests received (parsed).
    pub sip_requests: AtomicU64,
    /// SIP responses received.
    pub sip_responses: AtomicU64,
    /// Datagrams or stream messages that did not parse.
    pub sip_parse_errors: AtomicU64,
    /// Responses sent, by class 1xx..6xx.
    pub sip_responses_sent: [AtomicU64; 6],
    /// Successful registrations (new or refreshed).
    pub registrations: AtomicU64,
    /// Contacts bound now.
    pub registrations_active: AtomicU64,
    /// Digest failures.
    pub auth_failures: AtomicU64,
    /// Sources locked out.
    pub lockouts: AtomicU64,
    /// Live transactions.
    pub transactions_active: AtomicU64,
    /// 1 while new calls are turned away because the core cannot keep up.
    pub overloaded: AtomicU64,
    /// New calls turned away with 503 while overloaded.
    pub calls_shed: AtomicU64,
    /// Calls that arrived in a queue.
    pub calls_arrived: AtomicU64,
    /// Calls answered by an agent or senior.
    pub calls_answered: AtomicU64,
    /// Answered within the answer deadline (three rings).
    pub calls_answered_in_deadline: AtomicU64,
    /// Callers who hung up before an answer.
    pub calls_abandoned: AtomicU64,
    /// Sum of waits from arrival to answer, milliseconds.
    pub queue_wait_ms_sum: AtomicU64,
    /// Events committed to the audit trail by the event writer.
    pub events_written: AtomicU64,
    /// Transactions the event writer committed (events written divided by
    /// this: the group commit's batch size).
    pub event_commits: AtomicU64,
    /// RTP packets handed between the media sessions and the WebRTC
    /// gateway in memory, and those dropped on the way: read from the
    /// media engine when rendered.
    pub media_handoff: Probe,
}

/// A pair of counts kept elsewhere, read when `/metrics` is rendered.
#[derive(Default)]
pub struct Probe(OnceLock<Box<dyn Fn() -> (u64, u64) + Send + Sync>>);

impl Probe {
    /// Reads the counts with `read` from now on (the first call wins).
    pub fn set(&self, read: impl Fn() -> (u64, u64) + Send + Sync + 'static) {
        let _ = self.0.set(Box::new(read));
    }

    fn read(&self) -> Option<(u64, u64)> {
        self.0.get().map(|read| read())
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Probe").field(&self.read()).finish()
    }
}

impl Metrics {
    /// Counts a response sent with this status.
    pub fn response_sent(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 6) - 1;
        self.sip_responses_sent[class].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut counter = |name: &str, help: &str, kind: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            "careline_sip_requests_total",
            "SIP requests received.",
            "counter",
            get(&self.sip_requests),
        );
        counter(
            "careline_sip_responses_received_total",
            "SIP responses received.",
            "counter",
            get(&self.sip_responses),
        );
        counter(
            "careline_sip_parse_errors_total",
            "SIP messages that did not parse.",
            "counter",
            get(&self.sip_parse_errors),
        );
        counter(
            "careline_registrations_total",
            "Successful REGISTERs (new or refreshed bindings).",
            "counter",
            get(&self.registrations),
        );
        counter(
            "careline_registrations_active",
            "Contacts bound now.",
            "gauge",
            get(&self.registrations_active),
        );
        counter(
            "careline_auth_failures_total",
            "Digest authentications that failed.",
            "counter",
            get(&self.auth_failures),
        );
        counter(
            "careline_lockouts_total",
            "Source addresses locked out after repeated failures.",
            "counter",
            get(&self.lockouts),
        );
        counter(
            "careline_sip_transactions_active",
            "Live SIP transactions.",
            "gauge",
            get(&self.transactions_active),
        );
        counter(
            "careline_calls_arrived_total",
            "Calls that arrived in a queue.",
            "counter",
            get(&self.calls_arrived),
        );
        counter(
            "careline_calls_answered_total",
            "Calls answered by an agent or a senior.",
            "counter",
            get(&self.calls_answered),
        );
        counter(
            "careline_calls_answered_within_deadline_total",
            "Calls answered within the answer deadline (three rings).",
            "counter",
            get(&self.calls_answered_in_deadline),
        );
        counter(
            "careline_calls_abandoned_total",
            "Callers who hung up before an answer.",
            "counter",
            get(&self.calls_abandoned),
        );
        counter(
            "careline_queue_wait_milliseconds_total",
            "Sum of answered calls' waits from arrival to answer, ms (divided by careline_calls_answered_total: ASA).",
            "counter",
            get(&self.queue_wait_ms_sum),
        );
        counter(
            "careline_events_written_total",
            "Events committed to the audit trail.",
            "counter",
            get(&self.events_written),
        );
        counter(
            "careline_event_commits_total",
            "Transactions the event writer committed (events written per commit: the group commit's batch size).",
            "counter",
            get(&self.event_commits),
        );
        counter(
            "careline_overloaded",
            "1 while new calls are turned away because the server cannot keep up.",
            "gauge",
            get(&self.overloaded),
        );
        counter(
            "careline_calls_shed_total",
            "New calls answered 503 while overloaded.",
            "counter",
            get(&self.calls_shed),
        );
        if let Some((handed, dropped)) = self.media_handoff.read() {
            counter(
                "careline_media_handoff_packets_total",
                "RTP packets handed between the media sessions and the WebRTC gateway in memory.",
                "counter",
                handed,
            );
            counter(
                "careline_media_handoff_dropped_total",
                "RTP packets dropped because the media thread or gateway receiving them had fallen behind.",
                "counter",
                dropped,
            );
        }
        let _ = write!(
            out,
            "# HELP careline_sip_responses_sent_total SIP responses sent, by class.\n# TYPE careline_sip_responses_sent_total counter\n"
        );
        for (i, c) in self.sip_responses_sent.iter().enumerate() {
            let _ = writeln!(
                out,
                "careline_sip_responses_sent_total{{class=\"{}xx\"}} {}",
                i + 1,
                get(c)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.response_sent(401);
        m.response_sent(200);
        m.response_sent(200);
        assert!(
            !m.render().contains("handoff"),
            "no engine, no handoff counts"
        );
        m.media_handoff.set(|| (7, 1));
        let text = m.render();
        assert!(text.contains("careline_media_handoff_packets_total 7\n"));
        assert!(text.contains("careline_media_handoff_dropped_total 1\n"));
        assert!(text.contains("careline_sip_responses_sent_total{class=\"2xx\"} 2\n"));
        assert!(text.contains("careline_sip_responses_sent_total{class=\"4xx\"} 1\n"));
        assert!(text.contains("# TYPE careline_registrations_active gauge\n"));
    }
}
