//! The protocol state of one connection, with no I/O: packet ids, what awaits
//! acknowledgement in either direction, and keepalive. The driver feeds it the
//! packets it reads and sends the replies it gets back.

use crate::codec::{ConnectReturnCode, Packet, PacketId, QoS, SubackCode};
use heapless::Vec;

/// Operations that may await acknowledgement at once (nesting depth of callbacks that publish).
pub const MAX_OUTBOUND: usize = 8;
/// Inbound QoS 2 messages received but not yet released (PUBREL) by the broker; beyond
/// this the oldest id is forgotten (a duplicate of it would then be delivered again).
pub const MAX_INBOUND_QOS2: usize = 32;
/// Delivered QoS 1/2 messages whose acknowledgement waits for the application (callbacks
/// nested this deep); beyond this the oldest stays unacknowledged, so the broker delivers it
/// again after a reconnect (never lost).
pub const MAX_OWED_ACKS: usize = 8;

/// Where an operation this client started stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    Puback,
    Pubrec,
    Pubcomp,
    Suback,
    Unsuback,
    /// Acknowledged; for SUBSCRIBE, with the granted QoS or 0x80.
    Done(u8),
}

impl Pending {
    /// A QoS 1/2 publish flow not yet complete: what a resumed session must send again.
    const fn is_unfinished_publish(self) -> bool {
        matches!(self, Pending::Puback | Pending::Pubrec | Pending::Pubcomp)
    }
}

/// The caller's handles on an outgoing message (opaque here: e.g. the MicroPython objects of its
/// topic and payload), kept so that an unfinished publish can be sent again after a reconnect
/// without the engine holding a copy of its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageRef {
    /// The handle on the topic.
    pub topic: usize,
    /// The handle on the payload.
    pub payload: usize,
    /// The publish's QoS (1 or 2: only those are kept).
    pub qos: QoS,
    /// The publish's retain flag.
    pub retain: bool,
}

#[derive(Clone, Copy, Debug)]
struct Outbound {
    /// What the caller awaits it by: the packet id it was first sent under (a publish sent again
    /// as a new message on a new session gets a new `pid`, its ticket stays).
    ticket: PacketId,
    pid: PacketId,
    state: Pending,
    /// A publish whose caller gave handles on it: the engine sends it again itself.
    message: Option<MessageRef>,
    /// Nobody waits for it any more; drop it when it completes.
    abandoned: bool,
    /// An unfinished publish of an earlier connection, not yet sent again on this one.
    unsent: bool,
}

/// A packet the session did not expect from the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unexpected {
    /// CONNACK on a connection already open.
    Connack,
    /// A packet only a client sends (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT).
    ClientPacket,
    /// A SUBACK whose return code count differs from the one filter sent.
    SubackCount,
    /// A PUBLISH given to [`Session::on_control`] (the caller's mistake).
    Publish,
}

impl Unexpected {
    /// A short English text for error messages.
    #[inline(always)]
    pub const fn message(self) -> &'static str {
        match self {
            Unexpected::Connack => "CONNACK on an open connection",
            Unexpected::ClientPacket => "packet a broker never sends to a client",
            Unexpected::SubackCount => "SUBACK with a return code count other than the filters sent",
            Unexpected::Publish => "PUBLISH handed to on_control",
        }
    }
}

/// Something the session refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// A packet a broker must not send to a client, or one out of turn.
    Unexpected(Unexpected),
    /// An acknowledgement of the wrong kind for an operation in flight.
    WrongAck,
    /// Too many operations await acknowledgement.
    Busy,
}

impl SessionError {
    /// A short English text for error messages.
    #[inline(always)]
    pub const fn message(self) -> &'static str {
        match self {
            SessionError::Unexpected(u) => u.message(),
            SessionError::WrongAck => "acknowledgement of the wrong kind for a packet id in flight",
            SessionError::Busy => "too many operations awaiting acknowledgement",
        }
    }
}

/// An unfinished publish of an earlier connection, to be sent again ([`Session::next_unsent_message`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsent {
    /// What its caller awaits it by.
    pub ticket: PacketId,
    /// The packet id it last went out under.
    pub pid: PacketId,
    /// The caller's handles on its message (None: only its PUBREL is left to send).
    pub message: Option<MessageRef>,
    /// What it awaits: PUBLISH again while PUBACK/PUBREC is, PUBREL while PUBCOMP is.
    pub state: Pending,
}

/// What to do with an inbound PUBLISH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inbound {
    /// Hand the message to the application (false: a QoS 2 duplicate).
    pub deliver: bool,
    /// The acknowledgement to send once the message is in (PUBACK or PUBREC).
    pub ack: Option<Reply>,
}

/// A packet the session wants sent in reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    Puback(PacketId),
    Pubrec(PacketId),
    Pubrel(PacketId),
    Pubcomp(PacketId),
}

impl Reply {
    /// The packet id it answers.
    pub fn pid(self) -> PacketId {
        match self {
            Reply::Puback(p) | Reply::Pubrec(p) | Reply::Pubrel(p) | Reply::Pubcomp(p) => p,
        }
    }

    pub fn packet(self) -> Packet<'static> {
        match self {
            Reply::Puback(p) => Packet::Puback(p),
            Reply::Pubrec(p) => Packet::Pubrec(p),
            Reply::Pubrel(p) => Packet::Pubrel(p),
            Reply::Pubcomp(p) => Packet::Pubcomp(p),
        }
    }
}

/// Keepalive's verdict at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keepalive {
    /// Nothing due; check again within this many ms (None: never).
    Idle(Option<u32>),
    /// Send PINGREQ now.
    SendPing,
    /// The broker has been silent too long: the connection is lost.
    Lost,
}

#[derive(Debug)]
pub struct Session {
    connected: bool,
    /// The last CONNACK said the broker kept the session.
    resumed: bool,
    keepalive_ms: u32,
    last_tx: u32,
    ping_sent_at: Option<u32>,
    last_pid: u16,
    outbound: Vec<Outbound, MAX_OUTBOUND>,
    inbound_qos2: Vec<PacketId, MAX_INBOUND_QOS2>,
    owed: Vec<Reply, MAX_OWED_ACKS>,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    pub const fn new() -> Self {
        Session {
            connected: false,
            resumed: false,
            keepalive_ms: 0,
            last_tx: 0,
            ping_sent_at: None,
            last_pid: 0,
            outbound: Vec::new(),
            inbound_qos2: Vec::new(),
            owed: Vec::new(),
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn last_pid(&self) -> u16 {
        self.last_pid
    }

    /// The last CONNACK said the broker kept the session (unfinished publishes resume under
    /// their packet ids).
    pub fn resume_kept(&self) -> bool {
        self.resumed
    }

    /// A CONNECT is about to be sent. A clean session forgets every operation of an
    /// earlier connection; otherwise its unfinished publishes wait for [`Session::resume`].
    pub fn begin_connect(&mut self, keepalive_s: u16, clean_session: bool, now: u32) {
        self.connected = false;
        self.keepalive_ms = u32::from(keepalive_s) * 1000;
        if clean_session {
            self.retain_outbound(&|_| false);
        }
        self.ping_sent_at = None;
        self.last_tx = now;
    }

    /// The CONNACK arrived. Without a session on the broker, nothing of the old one is
    /// resumed: unfinished publishes and QoS 2 receive state are dropped.
    #[inline(never)]
    pub fn on_connack(&mut self, code: ConnectReturnCode, session_present: bool) {
        self.connected = code == ConnectReturnCode::Accepted;
        self.resumed = session_present;
        if !session_present {
            self.inbound_qos2.clear();
            // Those with handles go out again as new messages (the caller sends them).
            self.drop_unsent_without_message();
        }
    }

    /// The connection is gone (error, DISCONNECT, reset). Unfinished publishes are
    /// kept, marked unsent, for a resumed session (MQTT 3.1.1 4.4); completed
    /// operations someone still waits for are kept so that the waiter sees the result.
    #[inline(always)]
    pub fn disconnected(&mut self) {
        self.connected = false;
        self.ping_sent_at = None;
        // Acknowledgements owed on this connection: the broker delivers those messages again.
        self.owed.clear();
        self.retain_outbound(&|o| o.state.is_unfinished_publish() || (matches!(o.state, Pending::Done(_)) && !o.abandoned));
        for o in self.outbound.iter_mut() {
            o.unsent = o.state.is_unfinished_publish();
        }
    }

    /// Takes up the unfinished publish `pid` of an earlier connection on a resumed
    /// session: returns what it awaits, so the caller sends PUBLISH again (DUP=1)
    /// while PUBACK/PUBREC is awaited, PUBREL while PUBCOMP is, or nothing once it
    /// is done. None: no such publish (it never left, or the session was not resumed).
    pub fn resume(&mut self, pid: PacketId) -> Option<Pending> {
        let o = self.outbound.iter_mut().find(|o| o.pid == pid && (o.unsent || matches!(o.state, Pending::Done(_))))?;
        o.unsent = false;
        o.abandoned = false;
        Some(o.state)
    }

    /// The next unfinished publish of an earlier connection that the session sends again itself
    /// (one tracked with a [`MessageRef`], or any past PUBREC): its ticket, packet id, handles and
    /// what it awaits.
    #[inline(always)]
    pub fn next_unsent_message(&self) -> Option<Unsent> {
        // One past PUBREC needs only its PUBREL, handles or not.
        let o = self.outbound.iter().find(|o| o.unsent && (o.message.is_some() || o.state == Pending::Pubcomp))?;
        Some(Unsent { ticket: o.ticket, pid: o.pid, message: o.message, state: o.state })
    }

    /// The unfinished publish `ticket` goes out again: under its own packet id on a resumed
    /// session (`renewed` None), or as a new message under `renewed` on a new one.
    #[inline(never)]
    pub fn resent(&mut self, ticket: PacketId, renewed: Option<PacketId>) {
        if let Some(o) = self.outbound.iter_mut().find(|o| o.ticket == ticket) {
            o.unsent = false;
            if let (Some(pid), Some(m)) = (renewed, o.message) {
                o.pid = pid;
                o.state = first_ack(m.qos).unwrap_or(Pending::Done(0));
            }
        }
    }

    /// The unfinished publish `ticket` needs nothing more (the broker that had it is gone with
    /// its session): done, for whoever awaits it (a retry of it too, until the next operation).
    pub fn complete(&mut self, ticket: PacketId) {
        if let Some(o) = self.outbound.iter_mut().find(|o| o.ticket == ticket) {
            o.unsent = false;
            o.state = Pending::Done(0);
        }
    }

    /// A retry of a publish whose caller gave up on it (its call failed) while it was still
    /// unfinished: the first such publish at `qos` and `retain` whose message `same` recognises
    /// (the caller compares the bytes behind the handles) is waited for again instead of being
    /// sent twice. Its ticket, or None when there is none.
    #[inline(always)]
    pub fn adopt_retry(&mut self, qos: QoS, retain: bool, same: &mut dyn FnMut(&MessageRef) -> bool) -> Option<PacketId> {
        let o = self.outbound.iter_mut().find(|o| {
            o.abandoned && !o.unsent && o.message.is_some_and(|m| m.qos == qos && m.retain == retain && same(&m))
        })?;
        o.abandoned = false;
        Some(o.ticket)
    }

    /// Forgets the unfinished publishes nobody resumed.
    fn drop_unsent(&mut self) {
        self.retain_outbound(&|o| !o.unsent);
    }

    /// Forgets the unfinished publishes nobody can send again (no handles on their message).
    fn drop_unsent_without_message(&mut self) {
        self.retain_outbound(&|o| !o.unsent || o.message.is_some());
    }

    /// A packet id that is not 0 and not in flight. A new operation ends the resuming:
    /// unfinished publishes not resumed are forgotten.
    #[inline(always)]
    pub fn next_pid(&mut self) -> Result<PacketId, SessionError> {
        self.drop_unsent();
        self.reap();
        if self.outbound.is_full() {
            return Err(SessionError::Busy);
        }
        Ok(self.free_pid())
    }

    /// A packet id neither in flight nor a ticket still awaited (at most MAX_OUTBOUND are taken).
    #[inline(never)]
    pub fn free_pid(&mut self) -> PacketId {
        loop {
            self.last_pid = self.last_pid.wrapping_add(1);
            if let Some(pid) = PacketId::new(self.last_pid) {
                if !self.outbound.iter().any(|o| o.pid == pid || o.ticket == pid) {
                    return pid;
                }
            }
        }
    }

    /// A fresh packet id for an operation about to be sent that will await `state`.
    #[inline(always)]
    pub fn start(&mut self, state: Pending) -> Result<PacketId, SessionError> {
        let pid = self.next_pid()?;
        self.track(pid, state)?;
        Ok(pid)
    }

    /// Records an operation sent with `pid` that awaits `state`.
    pub fn track(&mut self, pid: PacketId, state: Pending) -> Result<(), SessionError> {
        self.track_message(pid, state, None)
    }

    /// Records an operation sent with `pid` that awaits `state`; a publish with handles on its
    /// message (`message`) is sent again by the session's owner after a reconnect.
    pub fn track_message(&mut self, pid: PacketId, state: Pending, message: Option<MessageRef>) -> Result<(), SessionError> {
        self.reap();
        self.outbound.push(Outbound { ticket: pid, pid, state, message, abandoned: false, unsent: false }).map_err(|_| SessionError::Busy)
    }

    /// The acknowledgement awaited for `ticket`, or None if unknown (or not resumed).
    pub fn pending(&self, ticket: PacketId) -> Option<Pending> {
        self.outbound.iter().find(|o| o.ticket == ticket && !o.unsent).map(|o| o.state)
    }

    /// If `ticket` completed, forgets it and returns its result.
    #[inline(always)]
    pub fn take_done(&mut self, ticket: PacketId) -> Option<u8> {
        let o = self.outbound.iter().find(|o| o.ticket == ticket)?;
        match o.state {
            Pending::Done(result) => {
                self.untrack(ticket);
                Some(result)
            }
            _ => None,
        }
    }

    /// Nobody waits for `ticket` any more (the waiter failed or gave up).
    #[inline(never)]
    pub fn abandon(&mut self, ticket: PacketId) {
        if let Some(o) = self.outbound.iter_mut().find(|o| o.ticket == ticket) {
            o.abandoned = true;
        }
        self.reap();
    }

    /// Forgets `ticket` (its packet could not be sent).
    #[inline(never)]
    pub fn untrack(&mut self, ticket: PacketId) {
        self.retain_outbound(&|o| o.ticket != ticket);
    }

    /// Forgets the completed operations nobody waits for (a publish completed on a reconnect
    /// whose retry never came, say).
    pub fn forget_abandoned_done(&mut self) {
        self.reap();
    }

    #[inline(never)]
    fn reap(&mut self) {
        self.retain_outbound(&|o| !(o.abandoned && matches!(o.state, Pending::Done(_))));
    }

    pub fn on_sent(&mut self, now: u32) {
        self.last_tx = now;
    }

    pub fn on_ping_sent(&mut self, now: u32) {
        self.last_tx = now;
        if self.ping_sent_at.is_none() {
            self.ping_sent_at = Some(now);
        }
    }

    /// Input from the broker (any bytes) shows it is alive.
    pub fn on_received(&mut self) {
        self.ping_sent_at = None;
    }

    /// Keepalive at `now`: PINGREQ once half the interval passed without sending;
    /// the connection is lost when half an interval more passes without an answer.
    pub fn keepalive(&self, now: u32) -> Keepalive {
        if self.keepalive_ms == 0 || !self.connected {
            return Keepalive::Idle(None);
        }
        let half = (self.keepalive_ms / 2).max(1);
        if let Some(sent) = self.ping_sent_at {
            let waited = now.wrapping_sub(sent);
            return if waited >= half { Keepalive::Lost } else { Keepalive::Idle(Some(half - waited)) };
        }
        let idle = now.wrapping_sub(self.last_tx);
        if idle >= half {
            Keepalive::SendPing
        } else {
            Keepalive::Idle(Some(half - idle))
        }
    }

    /// An inbound PUBLISH at `qos` with `pid` and the DUP flag: deliver it or not, and how
    /// to acknowledge. A QoS 2 duplicate is a redelivery (DUP=1) of an id whose PUBREC went
    /// out and that is not yet released: acknowledged again, not delivered. DUP=0 is a first
    /// delivery, so a new message even if its id looks unreleased (a broker that restored its
    /// flows a step back moves on without PUBREL): delivered, not lost. A message to deliver
    /// is acknowledged only once the application has it ([`Session::owe`], [`Session::acknowledge`]).
    #[inline(always)]
    pub fn on_publish(&mut self, qos: QoS, pid: Option<PacketId>, dup: bool) -> Result<Inbound, SessionError> {
        Ok(match (qos, pid) {
            (QoS::AtLeastOnce, Some(pid)) => Inbound { deliver: true, ack: Some(Reply::Puback(pid)) },
            (QoS::ExactlyOnce, Some(pid)) => {
                if !dup {
                    // A new message under this id: the old one is over.
                    self.forget_received_qos2(pid);
                }
                Inbound { deliver: !(dup && self.inbound_qos2.contains(&pid)), ack: Some(Reply::Pubrec(pid)) }
            }
            _ => Inbound { deliver: true, ack: None },
        })
    }

    /// A message was handed to the application; `ack` is owed once it returns normally.
    #[inline(always)]
    pub fn owe(&mut self, ack: Reply) {
        // One message per id: a new delivery under an id still owed (a redelivery, or a broker
        // reusing the id) stands for it, with its own QoS.
        self.forget_owed(ack.pid());
        if let (true, Some(oldest)) = (self.owed.is_full(), self.owed.first()) {
            // The oldest stays unacknowledged: the broker delivers it again after a reconnect.
            self.forget_owed(oldest.pid());
        }
        let _ = self.owed.push(ack);
    }

    /// The application finished with the delivered message `pid`: the acknowledgement
    /// owed for it, if any (None: not owed, e.g. the connection it came on is gone).
    /// A PUBREC sent makes `pid` received until the broker's PUBREL.
    #[inline(always)]
    pub fn acknowledge(&mut self, pid: PacketId) -> Option<Reply> {
        // At most one is owed per id (owe() replaces an earlier one).
        let reply = self.owed_for(pid)?;
        self.forget_owed(pid);
        if let Reply::Pubrec(pid) = reply {
            self.received_qos2(pid);
        }
        Some(reply)
    }

    /// The acknowledgement owed for the delivered message `pid`, left owed.
    pub fn owed_for(&self, pid: PacketId) -> Option<Reply> {
        self.owed.iter().copied().find(|r| r.pid() == pid)
    }

    /// Records that PUBREC went out for the QoS 2 message `pid`.
    #[inline(always)]
    pub fn received_qos2(&mut self, pid: PacketId) {
        if self.inbound_qos2.contains(&pid) {
            return;
        }
        // A broker resuming a session may send more than fit before any PUBREL: forget the
        // oldest rather than refuse (refusing wedges the session, as the same burst comes
        // again after every reconnect).
        if let (true, Some(&oldest)) = (self.inbound_qos2.is_full(), self.inbound_qos2.first()) {
            self.forget_received_qos2(oldest);
        }
        let _ = self.inbound_qos2.push(pid);
    }

    /// An acknowledgement or other non-PUBLISH packet from the broker.
    #[inline(always)]
    pub fn on_control(&mut self, packet: &Packet<'_>) -> Result<Option<Reply>, SessionError> {
        match *packet {
            Packet::Puback(pid) => self.advance(pid, Pending::Puback, Pending::Done(0)).map(|_| None),
            Packet::Pubrec(pid) => {
                // Answer with PUBREL even for an id we forgot, so the broker can finish.
                self.advance(pid, Pending::Pubrec, Pending::Pubcomp)?;
                Ok(Some(Reply::Pubrel(pid)))
            }
            Packet::Pubcomp(pid) => self.advance(pid, Pending::Pubcomp, Pending::Done(0)).map(|_| None),
            Packet::Pubrel(pid) => {
                self.forget_received_qos2(pid);
                Ok(Some(Reply::Pubcomp(pid)))
            }
            Packet::Suback(ref s) => {
                let code = s.codes().next().map_or(0x80, SubackCode::to_u8);
                if s.codes.len() != 1 {
                    return Err(SessionError::Unexpected(Unexpected::SubackCount));
                }
                self.advance(s.pid, Pending::Suback, Pending::Done(code)).map(|_| None)
            }
            Packet::Unsuback(pid) => self.advance(pid, Pending::Unsuback, Pending::Done(0)).map(|_| None),
            Packet::Pingresp => Ok(None),
            Packet::Connack(_) => Err(SessionError::Unexpected(Unexpected::Connack)),
            Packet::Publish(_) => Err(SessionError::Unexpected(Unexpected::Publish)),
            Packet::Connect(_) | Packet::Subscribe(_) | Packet::Unsubscribe(_) | Packet::Pingreq | Packet::Disconnect => {
                Err(SessionError::Unexpected(Unexpected::ClientPacket))
            }
        }
    }

    /// Moves `pid` from `from` to `to`. An unknown id is ignored (a late or stray ack).
    fn advance(&mut self, pid: PacketId, from: Pending, to: Pending) -> Result<(), SessionError> {
        let Some(i) = self.outbound.iter().position(|o| o.pid == pid && !o.unsent) else {
            return Ok(());
        };
        let Some(entry) = self.outbound.get_mut(i) else {
            return Ok(());
        };
        if entry.state != from {
            // A repeated ack for something already done is harmless; anything else is not.
            return if matches!(entry.state, Pending::Done(_)) || (from == Pending::Pubrec && entry.state == Pending::Pubcomp) {
                Ok(())
            } else {
                Err(SessionError::WrongAck)
            };
        }
        entry.state = to;
        self.reap();
        Ok(())
    }
}

impl Session {
    /// Keeps the outbound entries `keep` says, in order, and overwrites the slots that freed:
    /// a removed entry left past the list's end would keep its message handles there, and a
    /// garbage collector that scans the engine's memory conservatively (MicroPython's) would
    /// keep the objects behind them alive.
    fn retain_outbound(&mut self, keep: &dyn Fn(&Outbound) -> bool) {
        const BLANK: Outbound = Outbound {
            ticket: PacketId::MAX,
            pid: PacketId::MAX,
            state: Pending::Done(0),
            // Some, so that the handle words are written (None may leave them as they were).
            message: Some(MessageRef { topic: 0, payload: 0, qos: QoS::AtMostOnce, retain: false }),
            abandoned: false,
            unsent: false,
        };
        let mut kept = 0;
        for i in 0..self.outbound.len() {
            let Some(&o) = self.outbound.get(i) else { break };
            if !keep(&o) {
                continue;
            }
            if let Some(slot) = self.outbound.get_mut(kept) {
                *slot = o;
            }
            kept += 1;
        }
        for slot in self.outbound.get_mut(kept..).unwrap_or(&mut []) {
            *slot = BLANK;
        }
        self.outbound.truncate(kept);
    }

    /// Forgets the acknowledgement owed for `pid` (ids are unique in the list).
    fn forget_owed(&mut self, pid: PacketId) {
        if let Some(i) = self.owed.iter().position(|r| r.pid() == pid) {
            remove_at(&mut self.owed, i);
        }
    }

    /// Forgets that `pid` was received at QoS 2 (released, or a new message under it).
    fn forget_received_qos2(&mut self, pid: PacketId) {
        if let Some(i) = self.inbound_qos2.iter().position(|p| *p == pid) {
            remove_at(&mut self.inbound_qos2, i);
        }
    }
}

/// Removes entry `i`, keeping the order (the oldest first). For lists without handles in them
/// (what stays in the freed slot keeps nothing alive).
pub(crate) fn remove_at<T: Copy, const N: usize>(list: &mut Vec<T, N>, i: usize) {
    let len = list.len();
    if i < len {
        for j in i + 1..len {
            if let Some(&next) = list.get(j) {
                if let Some(slot) = list.get_mut(j - 1) {
                    *slot = next;
                }
            }
        }
        list.pop();
    }
}

/// The acknowledgement an operation of this kind waits for first.
pub fn first_ack(qos: QoS) -> Option<Pending> {
    match qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce => Some(Pending::Puback),
        QoS::ExactlyOnce => Some(Pending::Pubrec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(n: u16) -> PacketId {
        PacketId::new(n).unwrap()
    }

    #[test]
    fn remove_at_keeps_the_order_of_the_rest() {
        let mut list: Vec<PacketId, 4> = [1, 2, 3, 4].map(pid).into_iter().collect();
        remove_at(&mut list, 1);
        assert_eq!(list.as_slice(), &[pid(1), pid(3), pid(4)]);
        remove_at(&mut list, 2);
        assert_eq!(list.as_slice(), &[pid(1), pid(3)]);
        remove_at(&mut list, 5); // out of range: nothing
        assert_eq!(list.as_slice(), &[pid(1), pid(3)]);
        remove_at(&mut list, 0);
        assert_eq!(list.as_slice(), &[pid(3)]);
    }

    #[test]
    fn an_acknowledgement_owed_again_replaces_the_first_and_the_oldest_goes_when_full() {
        let mut s = Session::new();
        for n in 1..=MAX_OWED_ACKS as u16 {
            s.owe(Reply::Puback(pid(n)));
        }
        s.owe(Reply::Pubrec(pid(3))); // the same id again: one entry, the newest reply
        assert_eq!(s.owed.len(), MAX_OWED_ACKS);
        assert_eq!(s.owed_for(pid(3)), Some(Reply::Pubrec(pid(3))));
        s.owe(Reply::Puback(pid(100))); // full: id 1, the oldest, stays unacknowledged
        assert_eq!(s.owed_for(pid(1)), None);
        assert_eq!(s.owed.first().map(|r| r.pid()), Some(pid(2)));
        assert_eq!(s.owed.last().map(|r| r.pid()), Some(pid(100)));
    }

    #[test]
    fn a_forgotten_publish_keeps_its_order_and_leaves_no_handle_behind() {
        let mut s = Session::new();
        let handles = |n: usize| Some(MessageRef { topic: 0x1000 + n, payload: 0x2000 + n, qos: QoS::AtLeastOnce, retain: false });
        for n in 1..=4u16 {
            s.track_message(pid(n), Pending::Puback, handles(usize::from(n))).unwrap();
        }
        s.untrack(pid(2));
        s.untrack(pid(4));
        let left: std::vec::Vec<_> = s.outbound.iter().map(|o| (o.ticket, o.message)).collect();
        assert_eq!(left, [(pid(1), handles(1)), (pid(3), handles(3))]);
        // The two freed slots past the end were overwritten: a conservative garbage collector
        // scanning this memory finds no handle of a forgotten message there.
        for i in s.outbound.len()..4 {
            // SAFETY: slots 0..4 were all written (pushed, then overwritten), so reading them is sound.
            let stale = unsafe { *s.outbound.as_ptr().add(i) };
            let (topic, payload) = stale.message.map_or((0, 0), |m| (m.topic, m.payload));
            assert!(topic < 0x1000 && payload < 0x2000, "slot {i} still holds {topic:#x}/{payload:#x}");
        }
    }
}
