//! A caller whose agent's line broke off is not left to silence and a
//! sudden hang-up: they hear the dropped-line message (a configured
//! recording such as "we apologise, the line was cut; we will call you
//! back", or three information tones) for `[calls] dropped_announcement`,
//! then get the BYE. The call itself is over — ended as dropped, a
//! call-back task opened — while the message plays.

use std::time::Instant;

use careline_shared::sdp::{CodecKind, Sdp};
use careline_shared::sip::transaction::{Key, TransactionLayer};
use careline_shared::sip::{Dialog, HeaderName, Message, Method, StatusCode};

use super::{B2bua, Call, CallTimer, DialogOwner, Flow};
use crate::calls::media::Anchor;
use crate::media::{Leg, Mode};

/// A caller hearing the dropped-line message.
#[derive(Debug)]
pub(super) struct Farewell {
    dialog: Dialog,
    flow: Flow,
    anchor: Anchor,
}

impl B2bua {
    /// Plays the message to the dropped call's caller (`c`, whose media
    /// `anchor` was kept), or hangs up at once when it cannot be played.
    pub(super) fn farewell(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        call: u64,
        c: &Call,
        anchor: Anchor,
    ) {
        let codec = Sdp::parse(&c.sdp_for_caller)
            .ok()
            .and_then(|s| s.audio().map(|m| m.codecs()))
            .unwrap_or_default()
            .into_iter()
            .find(|c| matches!(c.kind(), CodecKind::Pcmu | CodecKind::Pcma));
        let (Some(codec), Some(media)) = (codec, self.media.as_mut()) else {
            if let Some(media) = self.media.as_mut() {
                media.destroy(anchor.id);
            }
            self.bye_caller_because(now, layer, c, Some(super::hold::DROPPED_REASON));
            return;
        };
        media.set_mode(anchor.id, Mode::Announce { leg: Leg::A, codec });
        let dialog = c.caller.dialog.clone();
        self.index_dialog(dialog.call_id.as_str(), DialogOwner::Farewell(call));
        self.farewells.insert(
            call,
            Farewell {
                dialog,
                flow: c.caller.flow,
                anchor,
            },
        );
        self.timers.set(
            CallTimer::Farewell(call),
            now + self.settings.dropped_announcement,
        );
    }

    /// The message has played: hang up.
    pub(super) fn farewell_over(&mut self, now: Instant, layer: &mut TransactionLayer, call: u64) {
        let Some(mut f) = self.end_farewell(call) else {
            return;
        };
        let branch = layer.new_branch();
        let via = self.via(f.flow.transport, &branch);
        let contact = self.contact(f.flow.transport);
        let mut bye = f.dialog.request(&Method::Bye, &via, &contact);
        bye.header(&HeaderName::Reason, super::hold::DROPPED_REASON);
        self.send_in_dialog(now, layer, f.flow, bye.finish());
    }

    /// A request from a caller hearing the message: a BYE ends it early.
    pub(super) fn farewell_request(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: Key,
        msg: &Message,
        call: u64,
    ) {
        let Some(tag) = self
            .farewells
            .get(&call)
            .map(|f| f.dialog.local_tag.clone())
        else {
            return;
        };
        self.respond(now, layer, key, msg, &tag, StatusCode::OK, |_| {});
        if msg.method() == Some(&Method::Bye) {
            self.end_farewell(call);
        }
    }

    /// Whether `msg` belongs to the caller of `call`, hearing the message.
    pub(super) fn in_farewell(&self, call: u64, msg: &Message) -> bool {
        self.farewells
            .get(&call)
            .is_some_and(|f| f.dialog.matches_request(msg))
    }

    fn end_farewell(&mut self, call: u64) -> Option<Farewell> {
        let f = self.farewells.remove(&call)?;
        self.timers.stop(CallTimer::Farewell(call));
        self.unindex_dialog(f.dialog.call_id.as_str(), DialogOwner::Farewell(call));
        if let Some(media) = self.media.as_mut() {
            media.destroy(f.anchor.id);
        }
        Some(f)
    }
}
