//! What the B2BUA writes on the wire: responses, ACKs, CANCELs and BYEs,
//! with our Via and Contact for the transport each leg uses.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use careline_shared::sip::transaction::{Key, TransactionLayer};
use careline_shared::sip::{
    Branch, HeaderName, Host, Message, MessageWriter, Method, NameAddr, SipUri, StatusCode, Tag,
    Uri, Via, parse_datagram, response_to,
};

use super::{AgentLeg, AgentLegState, B2bua, CALL_HEADER, Call, Flow};
use crate::config::Transport;

/// An INVITE starting a leg we place (to an agent, a staff member, a patient).
pub(super) struct OutgoingInvite<'a> {
    /// The call it belongs to.
    pub call: u64,
    /// Whom it rings (an extension, or the patient's number).
    pub who: &'a str,
    /// Where it goes.
    pub request_uri: &'a Uri,
    /// Its To.
    pub to: NameAddr,
    /// Its From (our tag is put on it).
    pub from: NameAddr,
    /// How to reach the peer.
    pub flow: Flow,
    /// The body's type, if it has one.
    pub content_type: Option<&'a str>,
    /// The offer.
    pub body: &'a Bytes,
    /// A leg of a call the server placed.
    pub dialout: bool,
    /// The same INVITE sent again with credentials (after a challenge).
    pub again: Option<Again>,
}

/// What an INVITE sent again after a digest challenge keeps and adds.
pub(super) struct Again {
    /// The first INVITE's Call-ID.
    pub call_id: String,
    /// Its From tag.
    pub from_tag: Tag,
    /// Its CSeq plus one.
    pub cseq: u32,
    /// The `Authorization` or `Proxy-Authorization` header and value.
    pub authorization: (HeaderName, String),
}

impl B2bua {
    /// Sends an INVITE and tracks its leg (state `Calling`); `None` when
    /// it could not be sent.
    pub(super) fn send_invite(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        inv: OutgoingInvite<'_>,
    ) -> Option<Key> {
        let transport = inv.flow.transport;
        let branch = layer.new_branch();
        let tag = match &inv.again {
            Some(a) => a.from_tag.clone(),
            None => self.next_tag(),
        };
        let call_id = match &inv.again {
            Some(a) => a.call_id.clone(),
            None => format!("{}-{}@careline", Self::call_ref(inv.call), branch.as_str()),
        };
        let cseq = inv.again.as_ref().map_or(1, |a| a.cseq);
        let mut from = inv.from;
        from.params = careline_shared::sip::Params::new();
        from.params.set("tag", Some(tag.as_str().into()));
        let mut w = MessageWriter::request(&Method::Invite, inv.request_uri);
        w.header(&HeaderName::Via, self.via(transport, &branch))
            .header(&HeaderName::MaxForwards, 70)
            .header(&HeaderName::From, &from)
            .header(&HeaderName::To, &inv.to)
            .header(&HeaderName::CallId, &call_id)
            .header(&HeaderName::CSeq, format_args!("{cseq} INVITE"))
            .header(
                &HeaderName::Contact,
                format_args!("<{}>", self.contact(transport)),
            )
            .header(&HeaderName::Allow, crate::sip::endpoint::ALLOW)
            .header(&HeaderName::UserAgent, &self.settings.server_name)
            .header_named(CALL_HEADER, Self::call_ref(inv.call));
        if let Some(a) = &inv.again {
            w.header(&a.authorization.0, &a.authorization.1);
        }
        let bytes = w.finish_with_body(inv.content_type, inv.body);
        let Ok(invite) = parse_datagram(bytes.clone()) else {
            // We wrote it; failing to read it back would be our bug.
            tracing::error!(call = inv.call, "could not read back our own INVITE");
            return None;
        };
        match layer.send_request(now, &invite, bytes, inv.flow.remote, transport.is_stream()) {
            Ok(key) => {
                self.legs.insert(
                    key,
                    Box::new(AgentLeg {
                        call: inv.call,
                        agent: inv.who.to_string(),
                        invite,
                        flow: inv.flow,
                        state: AgentLegState::Calling,
                        dialog: None,
                        dialout: inv.dialout,
                        auth_tried: inv.again.is_some(),
                        webrtc: None,
                    }),
                );
                Some(key)
            }
            Err(e) => {
                tracing::error!(call = inv.call, error = %e, "could not send INVITE");
                None
            }
        }
    }

    pub(super) fn local(&self, transport: Transport) -> SocketAddr {
        let (first, second) = match transport {
            Transport::Udp => (self.settings.udp, self.settings.tcp),
            Transport::Tcp => (self.settings.tcp, self.settings.udp),
            Transport::Ws | Transport::Wss => (self.settings.ws, self.settings.udp),
        };
        first
            .or(second)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)))
    }

    pub(super) fn via(&self, transport: Transport, branch: &Branch) -> Via {
        let local = self.local(transport);
        Via::new(
            transport.via_name(),
            Host::from(local.ip()),
            Some(local.port()),
            branch,
        )
    }

    pub(super) fn contact(&self, transport: Transport) -> Uri {
        let local = self.local(transport);
        let mut uri = SipUri::new(Some("careline"), Host::from(local.ip()), Some(local.port()));
        if transport.is_stream() {
            uri.params
                .set("transport", Some(transport.to_string().into()));
        }
        Uri::Sip(uri)
    }

    /// CANCELs a ringing agent leg (or marks it, until a provisional arrives:
    /// RFC 3261 §9.1 forbids a CANCEL before one).
    pub(super) fn cancel_leg(&mut self, now: Instant, layer: &mut TransactionLayer, key: Key) {
        let Some(leg) = self.legs.get_mut(&key) else {
            return;
        };
        match leg.state {
            AgentLegState::Calling => leg.state = AgentLegState::CancelPending,
            AgentLegState::Ringing | AgentLegState::CancelPending => {
                leg.state = AgentLegState::Cancelling;
                let inv = &leg.invite;
                let (Some(uri), Some(via), Some(from), Some(to), Some(call_id), Some(cseq)) = (
                    inv.request_uri(),
                    inv.top_via(),
                    inv.headers.from.as_ref(),
                    inv.headers.to.as_ref(),
                    inv.call_id(),
                    inv.cseq(),
                ) else {
                    return;
                };
                let mut w = MessageWriter::request(&Method::Cancel, uri);
                w.header(&HeaderName::Via, via)
                    .header(&HeaderName::MaxForwards, 70)
                    .header(&HeaderName::From, from)
                    .header(&HeaderName::To, to)
                    .header(&HeaderName::CallId, call_id)
                    .header(&HeaderName::CSeq, format_args!("{} CANCEL", cseq.seq));
                let bytes = w.finish();
                let flow = leg.flow;
                if let Ok(cancel) = parse_datagram(bytes.clone())
                    && let Err(e) = layer.send_request(
                        now,
                        &cancel,
                        bytes,
                        flow.remote,
                        flow.transport.is_stream(),
                    )
                {
                    tracing::warn!(error = %e, "could not send CANCEL");
                }
            }
            AgentLegState::Cancelling | AgentLegState::Connected => {}
        }
    }

    pub(super) fn ack_agent(&mut self, layer: &mut TransactionLayer, key: Key) {
        let Some(leg) = self.legs.get(&key) else {
            return;
        };
        let Some(dialog) = &leg.dialog else { return };
        let Some(cseq) = leg.invite.cseq() else {
            return;
        };
        let branch = layer.new_branch();
        let bytes = dialog
            .ack(
                cseq.seq,
                &self.via(leg.flow.transport, &branch),
                &self.contact(leg.flow.transport),
            )
            .finish();
        layer.send_stateless(leg.flow.remote, leg.flow.transport.is_stream(), bytes);
    }

    pub(super) fn bye_agent(&mut self, now: Instant, layer: &mut TransactionLayer, key: Key) {
        self.bye_agent_because(now, layer, key, None);
    }

    /// A BYE to the agent, with a Reason header (RFC 3326) when given.
    pub(super) fn bye_agent_because(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: Key,
        reason: Option<&str>,
    ) {
        let Some(mut leg) = self.remove_leg(key) else {
            return;
        };
        let Some(dialog) = leg.dialog.as_mut() else {
            return;
        };
        let branch = layer.new_branch();
        let via = self.via(leg.flow.transport, &branch);
        let contact = self.contact(leg.flow.transport);
        let mut bye = dialog.request(&Method::Bye, &via, &contact);
        if let Some(reason) = reason {
            bye.header(&HeaderName::Reason, reason);
        }
        self.send_in_dialog(now, layer, leg.flow, bye.finish());
    }

    /// A BYE to the caller, with a Reason header (RFC 3326) when given.
    pub(super) fn bye_caller_because(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        c: &Call,
        reason: Option<&str>,
    ) {
        let mut dialog = c.caller.dialog.clone();
        let branch = layer.new_branch();
        let via = self.via(c.caller.flow.transport, &branch);
        let contact = self.contact(c.caller.flow.transport);
        let mut bye = dialog.request(&Method::Bye, &via, &contact);
        if let Some(reason) = reason {
            bye.header(&HeaderName::Reason, reason);
        }
        self.send_in_dialog(now, layer, c.caller.flow, bye.finish());
    }

    pub(super) fn send_in_dialog(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        flow: Flow,
        bytes: Bytes,
    ) {
        match parse_datagram(bytes.clone()) {
            Ok(req) => {
                if let Err(e) =
                    layer.send_request(now, &req, bytes, flow.remote, flow.transport.is_stream())
                {
                    tracing::warn!(error = %e, "could not send an in-dialog request");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not read back our own request"),
        }
    }

    /// A response with our Server header, our Contact where it starts or
    /// confirms a dialog, and `sdp` as its body when there is one.
    #[allow(clippy::too_many_arguments)]
    fn reply(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: Key,
        req: &Message,
        tag: &Tag,
        status: StatusCode,
        sdp: &[u8],
        add: impl FnOnce(&mut MessageWriter),
    ) {
        // An UPDATE without an offer gets no answer (RFC 3311 §5.2).
        let update = req.method() == Some(&Method::Update);
        let sdp = if update && req.body.is_empty() {
            &[][..]
        } else {
            sdp
        };
        let mut w = response_to(req, status, Some(tag));
        w.header(&HeaderName::Server, &self.settings.server_name);
        let confirms =
            status.is_success() || (status.is_provisional() && status != StatusCode::TRYING);
        // INVITE and UPDATE refresh the dialog's target (RFC 3311 §5.2).
        if confirms && (req.method() == Some(&Method::Invite) || update || !sdp.is_empty()) {
            let transport = self.transport_of(req);
            w.header(
                &HeaderName::Contact,
                format_args!("<{}>", self.contact(transport)),
            );
        }
        add(&mut w);
        let bytes = if sdp.is_empty() {
            w.finish()
        } else {
            w.finish_with_body(Some("application/sdp"), sdp)
        };
        if let Err(e) = layer.respond(now, key, status, bytes) {
            tracing::debug!(error = %e, "response not sent");
        }
    }

    /// A response without a body.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn respond(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: Key,
        req: &Message,
        tag: &Tag,
        status: StatusCode,
        add: impl FnOnce(&mut MessageWriter),
    ) {
        self.reply(now, layer, key, req, tag, status, &[], add);
    }

    /// A provisional or final response carrying SDP (183 with early media).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn respond_sdp_status(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: Key,
        req: &Message,
        tag: &Tag,
        status: StatusCode,
        sdp: &Bytes,
    ) {
        self.reply(now, layer, key, req, tag, status, sdp, |_| {});
    }

    /// The 200 OK to an INVITE, re-INVITE or UPDATE, with our SDP.
    pub(super) fn respond_sdp(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: Key,
        req: &Message,
        tag: &Tag,
        sdp: &Bytes,
    ) {
        self.reply(now, layer, key, req, tag, StatusCode::OK, sdp, |w| {
            w.header(&HeaderName::Allow, crate::sip::endpoint::ALLOW);
        });
    }

    /// The 200 OK to a caller's INVITE, re-INVITE or UPDATE, with the
    /// session interval when the session is timed (RFC 4028).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn respond_sdp_timed(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: Key,
        req: &Message,
        tag: &Tag,
        sdp: &Bytes,
        session: Option<String>,
    ) {
        self.reply(now, layer, key, req, tag, StatusCode::OK, sdp, |w| {
            w.header(&HeaderName::Allow, crate::sip::endpoint::ALLOW);
            if let Some(value) = session {
                // The caller must refresh: it has to know (RFC 4028 §9).
                if value.ends_with("refresher=uac") {
                    w.header(&HeaderName::Require, "timer");
                }
                w.header(&HeaderName::SessionExpires, value);
            }
        });
    }

    pub(super) fn transport_of(&self, req: &Message) -> Transport {
        match req.top_via().map(|v| v.transport.to_ascii_uppercase()) {
            Some(t) if t == "TCP" => Transport::Tcp,
            Some(t) if t == "WS" => Transport::Ws,
            Some(t) if t == "WSS" => Transport::Wss,
            _ => Transport::Udp,
        }
    }
}
