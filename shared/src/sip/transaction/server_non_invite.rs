//! The non-INVITE server transaction (RFC 3261 §17.2.2): the one behind
//! every REGISTER, OPTIONS, BYE and CANCEL this element answers.
//!
//! It only repeats: a retransmitted request gets the last response again,
//! and after the final, Timer J keeps the transaction around long enough
//! (64·T1 on UDP) to absorb the client's last retransmissions instead of
//! handing them to the TU as new requests.

use bytes::Bytes;

use super::io::Io;
use super::timer::Timer;
use super::{Error, State};
use crate::sip::StatusCode;

/// A non-INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerNonInvite {
    state: State,
    /// The last response sent, for retransmitted requests.
    last: Option<Bytes>,
}

impl ServerNonInvite {
    pub(crate) fn new() -> ServerNonInvite {
        ServerNonInvite {
            state: State::Trying,
            last: None,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    pub(crate) fn respond(
        &mut self,
        io: &mut Io<'_>,
        status: StatusCode,
        bytes: Bytes,
    ) -> Result<(), Error> {
        if !matches!(self.state, State::Trying | State::Proceeding) {
            return Err(Error::FinalAlreadySent);
        }
        io.send(&bytes);
        self.last = Some(bytes);
        if status.is_provisional() {
            self.state = State::Proceeding;
        } else if io.reliable {
            // Timer J is zero: a stream delivers no retransmissions.
            self.state = State::Terminated;
        } else {
            self.state = State::Completed;
            io.start(Timer::J, io.config.timeout());
        }
        Ok(())
    }

    /// A retransmitted request: silence while Trying (the TU is still
    /// working on it), the last response afterwards.
    pub(crate) fn on_retransmission(&mut self, io: &mut Io<'_>) {
        if let (State::Proceeding | State::Completed, Some(last)) = (self.state, &self.last) {
            io.send(last);
        }
    }

    pub(crate) fn on_timer(&mut self, timer: Timer) {
        if (self.state, timer) == (State::Completed, Timer::J) {
            self.state = State::Terminated;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::sip::StatusCode;
    use crate::sip::transaction::testing::*;
    use crate::sip::transaction::{Error, Event, State, Timer};

    #[test]
    fn retransmitted_request_gets_last_response() {
        let mut layer = layer();
        let t0 = origin();
        let bye = request("BYE", "z9hG4bKbye1", 2);
        let key = receive(&mut layer, t0, &bye);

        // Trying: the TU has said nothing, so there is nothing to repeat.
        layer.handle_request(t0 + ms(500), bye.clone(), CLIENT, false);
        assert!(drain_transmits(&mut layer).is_empty());
        assert!(drain_events(&mut layer).is_empty());

        let trying = reply_bytes(&bye, 100, None);
        layer
            .respond(t0 + ms(600), key, StatusCode::TRYING, trying.clone())
            .unwrap();
        assert_eq!(layer.state(key), Some(State::Proceeding));
        layer.handle_request(t0 + ms(1_500), bye.clone(), CLIENT, false);
        let sent: Vec<_> = drain_transmits(&mut layer)
            .into_iter()
            .map(|t| t.bytes)
            .collect();
        assert_eq!(sent, [trying.clone(), trying]);

        let ok = reply_bytes(&bye, 200, Some("b"));
        layer
            .respond(t0 + ms(2_000), key, StatusCode::OK, ok.clone())
            .unwrap();
        layer.handle_request(t0 + ms(3_500), bye, CLIENT, false);
        let sent: Vec<_> = drain_transmits(&mut layer)
            .into_iter()
            .map(|t| t.bytes)
            .collect();
        assert_eq!(sent, [ok.clone(), ok]);
        assert!(
            drain_events(&mut layer).is_empty(),
            "no retransmission reaches the TU"
        );
    }

    #[test]
    fn timer_j_absorbs_request_retransmissions() {
        let mut layer = layer();
        let t0 = origin();
        let register = request("REGISTER", "z9hG4bKreg1", 1);
        let key = receive(&mut layer, t0, &register);
        layer
            .respond(
                t0 + ms(10),
                key,
                StatusCode::OK,
                reply_bytes(&register, 200, Some("r")),
            )
            .unwrap();
        drain_transmits(&mut layer);
        assert_eq!(layer.deadline(key, Timer::J), Some(t0 + ms(32_010)));
        assert_eq!(layer.poll_timeout(), Some(t0 + ms(32_010)));
        for at in [500, 1_500, 3_500, 31_000] {
            layer.handle_request(t0 + ms(at), register.clone(), CLIENT, false);
        }
        assert_eq!(drain_transmits(&mut layer).len(), 4);
        assert!(drain_events(&mut layer).is_empty());
        layer.handle_timeout(t0 + ms(32_009));
        assert_eq!(layer.state(key), Some(State::Completed));
        layer.handle_timeout(t0 + ms(32_010));
        assert_eq!(layer.state(key), None);
        assert_eq!(layer.len(), 0);
    }

    #[test]
    fn timer_j_is_zero_on_reliable_transports() {
        let mut layer = layer();
        let register = request("REGISTER", "z9hG4bKreg2", 1);
        layer.handle_request(origin(), register.clone(), CLIENT, true);
        let key = request_key(&drain_events(&mut layer));
        layer
            .respond(
                origin(),
                key,
                StatusCode::OK,
                reply_bytes(&register, 200, Some("r")),
            )
            .unwrap();
        assert_eq!(layer.state(key), None);
        assert_eq!(layer.poll_timeout(), None);
        let sent = drain_transmits(&mut layer);
        // On a stream the response goes back to the connection's address.
        assert_eq!(
            (sent.len(), sent[0].destination, sent[0].reliable),
            (1, CLIENT, true)
        );
    }

    #[test]
    fn responding_after_the_final_is_refused() {
        let mut layer = layer();
        let options = request("OPTIONS", "z9hG4bKopt1", 1);
        let key = receive(&mut layer, origin(), &options);
        layer
            .respond(
                origin(),
                key,
                StatusCode::OK,
                reply_bytes(&options, 200, None),
            )
            .unwrap();
        let again = layer.respond(
            origin(),
            key,
            StatusCode::OK,
            reply_bytes(&options, 200, None),
        );
        assert_eq!(again, Err(Error::FinalAlreadySent));
        assert_eq!(drain_transmits(&mut layer).len(), 1);
        layer.handle_timeout(origin() + Duration::from_secs(32));
        let gone = layer.respond(
            origin(),
            key,
            StatusCode::OK,
            reply_bytes(&options, 200, None),
        );
        assert_eq!(gone, Err(Error::UnknownTransaction));
        assert!(
            !drain_events(&mut layer)
                .iter()
                .any(|e| matches!(e, Event::Timeout { .. }))
        );
    }

    #[test]
    fn respond_and_forget_sends_once_and_keeps_no_state() {
        let mut layer = layer();
        let t0 = origin();
        let register = request("REGISTER", "z9hG4bKreg1", 1);
        let key = receive(&mut layer, t0, &register);
        let ok = reply_bytes(&register, 200, Some("r"));
        layer
            .respond_and_forget(t0, key, StatusCode::OK, ok.clone())
            .unwrap();
        let sent: Vec<_> = drain_transmits(&mut layer)
            .into_iter()
            .map(|t| t.bytes)
            .collect();
        assert_eq!(sent, [ok]);
        assert_eq!(layer.len(), 0);
        assert_eq!(layer.poll_timeout(), None, "no Timer J is left running");
        // A retransmission is new to the layer: the TU answers it again.
        layer.handle_request(t0 + ms(500), register, CLIENT, false);
        assert!(matches!(
            drain_events(&mut layer).as_slice(),
            [Event::Request { .. }]
        ));
    }
}
