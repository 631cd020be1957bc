//! The provider's trunks as calls see them: whose calls come in from a
//! trunk (its address, or the contact of the account it registers here
//! as), the trunk's numbers (DIDs) and the queues they land in, and the
//! digest answer when the trunk challenges an INVITE we send it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use careline_shared::sip::transaction::{Key, TransactionLayer};
use careline_shared::sip::{Challenge, HeaderName, Message, Uri};

use super::outgoing::{Again, OutgoingInvite};
use super::{B2bua, CALL_HEADER};
use crate::sip::registrar::Registrar;

/// A trunk whose calls we take.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InboundTrunk {
    /// Its name (logs).
    pub name: String,
    /// The addresses its calls come from.
    pub sources: Vec<IpAddr>,
    /// The account here it registers as, if it does.
    pub registers_as: Option<String>,
    /// Its numbers (digits only) and the queue number each lands in.
    pub dids: HashMap<String, String>,
}

/// The user part of a URI, if it is a SIP URI with one.
fn user_of(uri: Option<&Uri>) -> Option<String> {
    uri?.as_sip()?.user.as_ref().map(|u| u.to_string())
}

impl B2bua {
    /// The trunk a request from `source` comes from, if any.
    fn trunk_from(&self, source: SocketAddr, registrar: &Registrar) -> Option<&InboundTrunk> {
        self.settings.inbound.iter().find(|t| {
            t.sources.contains(&source.ip())
                || t.registers_as
                    .as_deref()
                    .is_some_and(|user| registrar.bindings(user).iter().any(|b| b.source == source))
        })
    }

    /// The number an INVITE dials: a trunk's DID becomes the queue number
    /// it lands in (from the Request-URI, else the To header, as providers
    /// differ); anything else is the Request-URI's user as it is.
    pub(super) fn dialled_number(
        &self,
        msg: &Message,
        source: SocketAddr,
        registrar: &Registrar,
    ) -> Option<String> {
        let ruri = user_of(msg.request_uri());
        if let Some(trunk) = self.trunk_from(source, registrar) {
            let to = user_of(msg.headers.to.as_ref().map(|t| &t.uri));
            let landed = [&ruri, &to]
                .into_iter()
                .flatten()
                .find_map(|n| trunk.dids.get(&crate::config::trunk_digits(n)).cloned());
            if landed.is_some() {
                return landed;
            }
        }
        ruri
    }

    /// The trunk challenged an INVITE we sent through it (401/407): the
    /// same INVITE again, once, with our credentials. The new INVITE's
    /// transaction, or `None` when there is nothing to answer with.
    pub(super) fn answer_challenge(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: Key,
        msg: &Message,
    ) -> Option<Key> {
        let leg = self.legs.get(&key)?;
        let route = self.settings.trunk.as_ref()?;
        if leg.auth_tried || leg.flow.remote != route.remote {
            return None;
        }
        let (user, password) = route.credentials.clone()?;
        let proxy = msg.status()?.as_u16() == 407;
        let (asked, answer) = if proxy {
            (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
            )
        } else {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        };
        let challenge = msg
            .headers
            .all
            .iter()
            .filter(|h| h.name == asked)
            .find_map(|h| Challenge::parse(h.value_str().as_bytes()))?;
        let invite = leg.invite.clone();
        let (call, who, flow, dialout) = (leg.call, leg.agent.clone(), leg.flow, leg.dialout);
        let request_uri = invite.request_uri()?.clone();
        let cnonce = self.next_tag();
        let value = challenge.authorization(
            &user,
            &password,
            "INVITE",
            &request_uri.to_string(),
            cnonce.as_str(),
        );
        let again = Again {
            call_id: invite.call_id()?.as_str().to_string(),
            from_tag: invite.from_tag()?,
            cseq: invite.cseq()?.seq + 1,
            authorization: (answer, value),
        };
        let content_type = invite.headers.content_type.as_ref().map(|c| c.to_string());
        let sent = self.send_invite(
            now,
            layer,
            OutgoingInvite {
                call,
                who: &who,
                request_uri: &request_uri,
                to: invite.headers.to.clone()?,
                from: invite.headers.from.clone()?,
                flow,
                content_type: content_type.as_deref(),
                body: &invite.body,
                dialout,
                again: Some(again),
            },
        )?;
        // The challenged leg is done with (its transaction ACKed the 401).
        self.remove_leg(key);
        debug_assert!(CALL_HEADER.starts_with("X-"));
        Some(sent)
    }
}
