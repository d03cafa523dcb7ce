//! The rtnetlink requests classic tc needs besides what aya sends: list the
//! filters of a clsact hook (RTM_GETTFILTER dump, with each cls_bpf filter's
//! program name and id), tell whether a clsact qdisc is there
//! (RTM_GETQDISC), and delete a filter or the qdisc (RTM_DELTFILTER,
//! RTM_DELQDISC). Messages are built with netlink-packet-route; answers are
//! read attribute by attribute, so that a filter of a kind the crate cannot
//! parse (someone else's) never stops the listing.

use std::io;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NlasIterator, Parseable as _,
};
use netlink_packet_route::{
    RouteNetlinkMessage,
    tc::{TcAttribute, TcFilterBpfOption, TcHandle, TcHeader, TcMessage},
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWQDISC: u16 = 36;
const RTM_NEWTFILTER: u16 = 44;
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_CHAIN: u16 = 11;
/// `TC_H_CLSACT`: the clsact qdisc's parent (and the ingress qdisc's).
const TC_H_CLSACT: u32 = 0xffff_fff1;
/// The clsact qdisc's handle, `ffff:`.
const CLSACT_HANDLE: u32 = 0xffff_0000;
const RECV_BUF: usize = 64 * 1024;

/// One of the two hooks of a clsact qdisc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    Ingress,
    Egress,
}

impl Hook {
    pub const BOTH: [Hook; 2] = [Hook::Ingress, Hook::Egress];

    /// The filters' parent, `ffff:fff2` / `ffff:fff3`.
    pub fn parent(self) -> u32 {
        match self {
            Hook::Ingress => 0xffff_fff2,
            Hook::Egress => 0xffff_fff3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Hook::Ingress => "ingress",
            Hook::Egress => "egress",
        }
    }
}

/// A filter on a clsact hook, as the kernel lists it. Filters with the same
/// priority and protocol share a classifier instance, told apart by handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub hook: Hook,
    pub prio: u16,
    /// The ethertype it applies to, in network byte order as the kernel keeps it.
    pub protocol: u16,
    pub handle: u32,
    pub chain: u32,
    /// The classifier, e.g. `bpf`, `matchall`, `u32`.
    pub kind: String,
    /// cls_bpf only: the program name the loader gave (`TCA_BPF_NAME`).
    pub bpf_name: Option<String>,
    /// cls_bpf only: the id of the program the filter runs (`TCA_BPF_ID`).
    pub bpf_id: Option<u32>,
}

/// Why a tc request failed.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("opening a NETLINK_ROUTE socket: {0}")]
    Socket(#[source] io::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// The kernel refused the request: `source` holds its errno.
    #[error("{what}: {source}")]
    Kernel {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{what}: malformed answer: {detail}")]
    Decode { what: String, detail: String },
}

impl NetlinkError {
    /// The errno the kernel answered with, if it answered with one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Kernel { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// A NETLINK_ROUTE socket in the current network namespace.
pub struct RouteSocket {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl RouteSocket {
    pub fn open() -> Result<Self, NetlinkError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Socket)?;
        socket.bind_auto().map_err(NetlinkError::Socket)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(NetlinkError::Socket)?;
        Ok(Self {
            socket,
            seq: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    /// The filters on `hook` of interface `ifindex`, every chain. None when
    /// there is no clsact (or ingress) qdisc: the kernel then lists nothing.
    pub fn filters(&mut self, ifindex: u32, hook: Hook) -> Result<Vec<Filter>, NetlinkError> {
        let what = format!("listing the tc {} filters of interface {ifindex}", hook.name());
        let msg = tc_message(ifindex, hook.parent(), 0, 0)?;
        let seq = self.send(
            RouteNetlinkMessage::GetTrafficFilter(msg),
            NLM_F_REQUEST | NLM_F_DUMP,
            &what,
        )?;
        let mut out = Vec::new();
        self.read_dump(&what, |data| parse_filters(data, seq, hook, &mut out))?;
        Ok(out)
    }

    /// Whether interface `ifindex` has a clsact qdisc.
    pub fn has_clsact(&mut self, ifindex: u32) -> Result<bool, NetlinkError> {
        let what = format!("listing the qdiscs of interface {ifindex}");
        // A dump of every interface's qdiscs (the kernel filters dumps by
        // tcm_ifindex since 4.15; older ones list all: filtered here too).
        let msg = tc_message(ifindex, 0, 0, 0)?;
        let seq = self.send(
            RouteNetlinkMessage::GetQueueDiscipline(msg),
            NLM_F_REQUEST | NLM_F_DUMP,
            &what,
        )?;
        let mut found = false;
        self.read_dump(&what, |data| parse_clsact(data, seq, ifindex, &mut found))?;
        Ok(found)
    }

    /// Deletes the clsact qdisc of `ifindex` (and with it any filter on it:
    /// callers check there is none first).
    pub fn delete_clsact(&mut self, ifindex: u32) -> Result<(), NetlinkError> {
        let what = format!("deleting the clsact qdisc of interface {ifindex}");
        let mut msg = tc_message(ifindex, TC_H_CLSACT, CLSACT_HANDLE, 0)?;
        msg.attributes.push(TcAttribute::Kind("clsact".into()));
        let seq = self.send(
            RouteNetlinkMessage::DelQueueDiscipline(msg),
            NLM_F_REQUEST | NLM_F_ACK,
            &what,
        )?;
        self.read_ack(seq, &what)
    }

    /// Deletes one filter, named by what a dump listed.
    pub fn delete_filter(&mut self, ifindex: u32, f: &Filter) -> Result<(), NetlinkError> {
        let what = format!(
            "deleting tc {} filter pref {} handle {:#x} of interface {ifindex}",
            f.hook.name(),
            f.prio,
            f.handle
        );
        let info = (u32::from(f.prio) << 16) | u32::from(f.protocol);
        let mut msg = tc_message(ifindex, f.hook.parent(), f.handle, info)?;
        msg.attributes.push(TcAttribute::Kind(f.kind.clone()));
        if f.chain != 0 {
            msg.attributes.push(TcAttribute::Chain(f.chain));
        }
        let seq = self.send(
            RouteNetlinkMessage::DelTrafficFilter(msg),
            NLM_F_REQUEST | NLM_F_ACK,
            &what,
        )?;
        self.read_ack(seq, &what)
    }

    fn send(&mut self, payload: RouteNetlinkMessage, flags: u16, what: &str) -> Result<u32, NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(header, payload.into());
        msg.finalize();
        let mut bytes = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut bytes);
        self.socket.send(&bytes, 0).map_err(|source| NetlinkError::Io {
            what: format!("{what}: sending"),
            source,
        })?;
        Ok(self.seq)
    }

    /// Reads until `parse` says the answer is complete.
    fn read_dump(
        &mut self,
        what: &str,
        mut parse: impl FnMut(&[u8]) -> Result<bool, Answer>,
    ) -> Result<(), NetlinkError> {
        loop {
            let n = loop {
                match self.socket.recv(&mut &mut self.buf[..], 0) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(source) => {
                        return Err(NetlinkError::Io {
                            what: format!("{what}: reading"),
                            source,
                        });
                    }
                }
            };
            let data = self.buf.get(..n).unwrap_or_default();
            match parse(data) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(Answer::Errno(code)) => {
                    return Err(NetlinkError::Kernel {
                        what: what.to_owned(),
                        source: io::Error::from_raw_os_error(code),
                    });
                }
                Err(Answer::Malformed(detail)) => {
                    return Err(NetlinkError::Decode {
                        what: what.to_owned(),
                        detail,
                    });
                }
            }
        }
    }

    fn read_ack(&mut self, seq: u32, what: &str) -> Result<(), NetlinkError> {
        self.read_dump(what, |data| parse_ack(data, seq))
    }
}

/// A request's tc header.
fn tc_message(ifindex: u32, parent: u32, handle: u32, info: u32) -> Result<TcMessage, NetlinkError> {
    let index = i32::try_from(ifindex).map_err(|_| NetlinkError::Decode {
        what: "interface index".into(),
        detail: format!("{ifindex} does not fit tcm_ifindex"),
    })?;
    Ok(TcMessage::from_parts(
        TcHeader {
            index,
            parent: TcHandle::from(parent),
            handle: TcHandle::from(handle),
            info,
            ..TcHeader::default()
        },
        Vec::new(),
    ))
}

/// What ends reading an answer early.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// NLMSG_ERROR (or NLMSG_DONE) with this errno.
    Errno(i32),
    Malformed(String),
}

/// Splits one read into netlink messages and hands those of sequence `seq`
/// to `each` as (type, payload). Returns true at NLMSG_DONE or an ACK.
fn for_each_message(
    mut data: &[u8],
    seq: u32,
    mut each: impl FnMut(u16, &[u8]) -> Result<(), Answer>,
) -> Result<bool, Answer> {
    while !data.is_empty() {
        let buf = NetlinkBuffer::new_checked(data).map_err(|e| Answer::Malformed(e.to_string()))?;
        let len = usize::try_from(buf.length()).unwrap_or(usize::MAX);
        let step = len.checked_add(3).map_or(usize::MAX, |l| l & !3);
        let (kind, this_seq) = (buf.message_type(), buf.sequence_number());
        let payload = buf.payload();
        data = data.get(step..).unwrap_or_default();
        if this_seq != seq {
            continue;
        }
        match kind {
            NLMSG_DONE | NLMSG_ERROR => {
                let code = payload
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(i32::from_ne_bytes)
                    .ok_or_else(|| Answer::Malformed(format!("message type {kind} without an error code")))?;
                if code != 0 {
                    return Err(Answer::Errno(code.checked_neg().unwrap_or(i32::MAX)));
                }
                return Ok(true);
            }
            _ => each(kind, payload)?,
        }
    }
    Ok(false)
}

fn parse_ack(data: &[u8], seq: u32) -> Result<bool, Answer> {
    for_each_message(data, seq, |_, _| Ok(()))
}

/// Appends the filters one read of an RTM_GETTFILTER dump lists. Returns
/// true at the dump's end. Filters of other hooks (a dump answered for
/// another parent) are skipped.
pub fn parse_filters(data: &[u8], seq: u32, hook: Hook, out: &mut Vec<Filter>) -> Result<bool, Answer> {
    for_each_message(data, seq, |kind, payload| {
        if kind != RTM_NEWTFILTER {
            return Ok(());
        }
        let header = TcHeader::parse(payload).map_err(|e| Answer::Malformed(e.to_string()))?;
        if u32::from(header.parent) != hook.parent() {
            return Ok(());
        }
        let mut filter = Filter {
            hook,
            prio: (header.info >> 16) as u16,
            protocol: (header.info & 0xffff) as u16,
            handle: header.handle.into(),
            chain: 0,
            kind: String::new(),
            bpf_name: None,
            bpf_id: None,
        };
        let attrs = payload.get(TC_HEADER_LEN..).unwrap_or_default();
        let mut options = None;
        for nla in NlasIterator::new(attrs) {
            let nla = nla.map_err(|e| Answer::Malformed(e.to_string()))?;
            match nla.kind() {
                TCA_KIND => filter.kind = c_string(nla.value()),
                TCA_CHAIN => {
                    filter.chain = nla
                        .value()
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .map_or(0, u32::from_ne_bytes);
                }
                TCA_OPTIONS => options = Some(nla.value().to_vec()),
                _ => {}
            }
        }
        // The kernel lists a classifier instance with no filter in it too
        // (handle 0, no options): not a filter.
        if filter.handle == 0 {
            return Ok(());
        }
        if filter.kind == "bpf"
            && let Some(options) = options
        {
            for nla in NlasIterator::new(&options[..]) {
                let nla = nla.map_err(|e| Answer::Malformed(e.to_string()))?;
                match TcFilterBpfOption::parse(&nla) {
                    Ok(TcFilterBpfOption::ProgName(name)) => filter.bpf_name = Some(name),
                    Ok(TcFilterBpfOption::ProgId(id)) => filter.bpf_id = Some(id),
                    Ok(_) => {}
                    Err(e) => return Err(Answer::Malformed(format!("cls_bpf options: {e}"))),
                }
            }
        }
        out.push(filter);
        Ok(())
    })
}

/// Sets `found` when one read of an RTM_GETQDISC dump lists a clsact qdisc
/// on `ifindex`. Returns true at the dump's end.
pub fn parse_clsact(data: &[u8], seq: u32, ifindex: u32, found: &mut bool) -> Result<bool, Answer> {
    for_each_message(data, seq, |kind, payload| {
        if kind != RTM_NEWQDISC {
            return Ok(());
        }
        let header = TcHeader::parse(payload).map_err(|e| Answer::Malformed(e.to_string()))?;
        if u32::try_from(header.index).ok() != Some(ifindex) || u32::from(header.parent) != TC_H_CLSACT {
            return Ok(());
        }
        let attrs = payload.get(TC_HEADER_LEN..).unwrap_or_default();
        for nla in NlasIterator::new(attrs) {
            let nla = nla.map_err(|e| Answer::Malformed(e.to_string()))?;
            if nla.kind() == TCA_KIND && c_string(nla.value()) == "clsact" {
                *found = true;
            }
        }
        Ok(())
    })
}

/// The size of `struct tcmsg`.
const TC_HEADER_LEN: usize = 20;

/// A NUL-terminated attribute value as text (lossy; up to the first NUL).
fn c_string(value: &[u8]) -> String {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    String::from_utf8_lossy(value.get(..end).unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::NetlinkPayload;
    use netlink_packet_route::tc::{TcFilterMatchAllOption, TcOption};

    use super::*;

    const ETH_P_ALL_BE: u16 = 0x0300;

    /// One RTM_NEWTFILTER message as the kernel sends it in a dump.
    fn filter_msg(seq: u32, hook: Hook, prio: u16, handle: u32, kind: &str, options: Vec<TcOption>) -> Vec<u8> {
        let mut tc = tc_message(
            7,
            hook.parent(),
            handle,
            (u32::from(prio) << 16) | u32::from(ETH_P_ALL_BE),
        )
        .expect("ifindex fits");
        tc.attributes.push(TcAttribute::Kind(kind.into()));
        tc.attributes.push(TcAttribute::Chain(0));
        if !options.is_empty() {
            tc.attributes.push(TcAttribute::Options(options));
        }
        let mut header = NetlinkHeader::default();
        header.sequence_number = seq;
        header.flags = 2; // NLM_F_MULTI
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(RouteNetlinkMessage::NewTrafficFilter(tc)));
        msg.finalize();
        let mut bytes = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut bytes);
        bytes
    }

    fn done(seq: u32, code: i32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&20u32.to_ne_bytes());
        b.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        b.extend_from_slice(&2u16.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&code.to_ne_bytes());
        b
    }

    fn bpf(name: &str, id: u32) -> Vec<TcOption> {
        vec![
            TcOption::Bpf(TcFilterBpfOption::ProgId(id)),
            TcOption::Bpf(TcFilterBpfOption::ProgName(name.into())),
        ]
    }

    #[test]
    fn a_dump_lists_bpf_names_and_ids_and_other_kinds() {
        let mut data = filter_msg(5, Hook::Egress, 49151, 1, "bpf", bpf("tracer_tc_egress", 42));
        data.extend(filter_msg(
            5,
            Hook::Egress,
            49152,
            1,
            "matchall",
            vec![TcOption::MatchAll(TcFilterMatchAllOption::ClassId(TcHandle::from(
                0x10001,
            )))],
        ));
        // The classifier instance itself (no handle): not a filter.
        data.extend(filter_msg(5, Hook::Egress, 49151, 0, "bpf", Vec::new()));
        // Another request's answer.
        data.extend(filter_msg(4, Hook::Egress, 1, 1, "bpf", bpf("other", 1)));
        data.extend(done(5, 0));
        let mut out = Vec::new();
        assert_eq!(parse_filters(&data, 5, Hook::Egress, &mut out), Ok(true));
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].kind, "bpf");
        assert_eq!(out[0].prio, 49151);
        assert_eq!(out[0].handle, 1);
        assert_eq!(out[0].protocol, ETH_P_ALL_BE);
        assert_eq!(out[0].bpf_name.as_deref(), Some("tracer_tc_egress"));
        assert_eq!(out[0].bpf_id, Some(42));
        assert_eq!(out[1].kind, "matchall");
        assert_eq!(out[1].bpf_name, None);
        assert_eq!(out[1].bpf_id, None);
    }

    #[test]
    fn a_dump_in_several_reads_ends_at_done() {
        let first = filter_msg(9, Hook::Ingress, 1, 1, "bpf", bpf("tracer_tc_ingress", 3));
        let mut out = Vec::new();
        assert_eq!(parse_filters(&first, 9, Hook::Ingress, &mut out), Ok(false));
        assert_eq!(parse_filters(&done(9, 0), 9, Hook::Ingress, &mut out), Ok(true));
        assert_eq!(out.len(), 1);
        // Another parent's filters are not this hook's.
        let other = filter_msg(9, Hook::Egress, 1, 1, "bpf", bpf("tracer_tc_egress", 4));
        assert_eq!(parse_filters(&other, 9, Hook::Ingress, &mut out), Ok(false));
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn errors_and_garbage_are_errors_not_panics() {
        let mut out = Vec::new();
        assert_eq!(
            parse_filters(&done(3, -19), 3, Hook::Egress, &mut out),
            Err(Answer::Errno(19))
        );
        let msg = filter_msg(3, Hook::Egress, 1, 1, "bpf", bpf("tracer_tc_egress", 4));
        for cut in 0..msg.len() {
            let _ = parse_filters(&msg[..cut], 3, Hook::Egress, &mut out);
        }
        let mut bad = msg.clone();
        // An attribute length running past the message.
        bad[20 + 16] = 0xff;
        let _ = parse_filters(&bad, 3, Hook::Egress, &mut out);
    }
}
