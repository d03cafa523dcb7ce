//! Tracepoint record layouts: the kernel programs read tracepoint records at
//! fixed offsets (the `*Raw` structs of `tracer_common`), and those layouts
//! change between kernel versions. Before attaching, the offsets and sizes of
//! the fields a program reads are checked against the running kernel's
//! `events/<category>/<name>/format` file.

use std::{mem::offset_of, path::Path};

use tracer_common::{
    INET_SOCK_SET_STATE_OFFSET, InetSockSetStateRaw, SysExitRaw, TcpReceiveResetRaw, TcpRetransmitSkbRaw,
    TcpRetransmitSynackRaw,
};

use super::preflight::TRACEFS;

const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

/// A field the program reads: name, byte offset in the record, size.
pub type Expected = (&'static str, usize, usize);

/// Why a tracepoint's layout is not the one the program was built for.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("reading the format of {event}: {source}")]
    Io {
        event: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{event} has no field {field}")]
    Missing { event: String, field: &'static str },
    #[error(
        "{event}: field {field} is at offset {offset} size {size}, the program reads offset {want_offset} size {want_size}"
    )]
    Moved {
        event: String,
        field: &'static str,
        offset: usize,
        size: usize,
        want_offset: usize,
        want_size: usize,
    },
}

/// One `field:` line of a format file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub offset: usize,
    pub size: usize,
}

/// The fields of a format file (`field:TYPE NAME[N];\toffset:O;\tsize:S;...`).
/// Lines that do not parse are skipped.
pub fn parse(text: &str) -> Vec<Field> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Field> {
    let mut decl = None;
    let mut offset = None;
    let mut size = None;
    for part in line.trim().split(';') {
        let part = part.trim();
        if let Some(d) = part.strip_prefix("field:") {
            decl = Some(d);
        } else if let Some(o) = part.strip_prefix("offset:") {
            offset = o.parse().ok();
        } else if let Some(s) = part.strip_prefix("size:") {
            size = s.parse().ok();
        }
    }
    // The name is the declaration's last word, without an array suffix.
    let last = decl?.split_whitespace().last()?;
    let name = last.split('[').next()?.trim_start_matches('*');
    Some(Field {
        name: name.to_owned(),
        offset: offset?,
        size: size?,
    })
}

/// Checks that every expected field is where the program reads it.
pub fn check(event: &str, text: &str, expected: &[Expected]) -> Result<(), FormatError> {
    let fields = parse(text);
    for &(name, want_offset, want_size) in expected {
        let f = fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| FormatError::Missing {
                event: event.to_owned(),
                field: name,
            })?;
        if f.offset != want_offset || f.size != want_size {
            return Err(FormatError::Moved {
                event: event.to_owned(),
                field: name,
                offset: f.offset,
                size: f.size,
                want_offset,
                want_size,
            });
        }
    }
    Ok(())
}

/// Reads `events/<category>/<name>/format` from tracefs and checks it.
pub fn check_running(category: &str, name: &str, expected: &[Expected]) -> Result<(), FormatError> {
    let text = read_running(category, name)?;
    check(&format!("{category}:{name}"), &text, expected)
}

/// The text of `events/<category>/<name>/format` (tracefs, else debugfs).
pub fn read_running(category: &str, name: &str) -> Result<String, FormatError> {
    let mut last_err = None;
    for root in [TRACEFS, DEBUGFS_TRACING] {
        let path = Path::new(root).join("events").join(category).join(name).join("format");
        match std::fs::read_to_string(&path) {
            Ok(text) => return Ok(text),
            Err(e) => last_err = Some(e),
        }
    }
    Err(FormatError::Io {
        event: format!("{category}:{name}"),
        source: last_err.unwrap_or_else(|| std::io::ErrorKind::NotFound.into()),
    })
}

/// The offset of field `name` of `size` bytes in a format file, if it has one.
pub fn optional_field(text: &str, name: &str, size: usize) -> Option<usize> {
    parse(text)
        .into_iter()
        .find(|f| f.name == name && f.size == size)
        .map(|f| f.offset)
}

/// Where the running kernel's `tcp:tcp_retransmit_skb` has its `int err`
/// (kernels from 6.13 on); 0 when it has none or the format cannot be read.
pub fn retransmit_err_offset() -> u32 {
    read_running("tcp", "tcp_retransmit_skb")
        .ok()
        .and_then(|text| optional_field(&text, "err", 4))
        .and_then(|off| u32::try_from(off).ok())
        .unwrap_or(0)
}

macro_rules! field {
    ($ty:ty, $field:ident, $base:expr) => {
        (
            stringify!($field),
            $base + offset_of!($ty, $field),
            size_of_field(|r: &$ty| &r.$field),
        )
    };
}

const fn size_of_field<T, F>(_: fn(&T) -> &F) -> usize {
    std::mem::size_of::<F>()
}

/// What `tracer_inet_sock_set_state` reads.
pub fn inet_sock_set_state() -> Vec<Expected> {
    type R = InetSockSetStateRaw;
    let b = INET_SOCK_SET_STATE_OFFSET;
    vec![
        field!(R, skaddr, b),
        field!(R, oldstate, b),
        field!(R, newstate, b),
        field!(R, sport, b),
        field!(R, dport, b),
        field!(R, family, b),
        field!(R, protocol, b),
        field!(R, saddr, b),
        field!(R, daddr, b),
        field!(R, saddr_v6, b),
        field!(R, daddr_v6, b),
    ]
}

/// What `tracer_rst_rx` reads of `tcp:tcp_receive_reset`.
pub fn tcp_receive_reset() -> Vec<Expected> {
    type R = TcpReceiveResetRaw;
    vec![
        field!(R, skaddr, 0),
        field!(R, sport, 0),
        field!(R, dport, 0),
        field!(R, family, 0),
        field!(R, saddr, 0),
        field!(R, daddr, 0),
        field!(R, saddr_v6, 0),
        field!(R, daddr_v6, 0),
    ]
}

/// What `tracer_syn_rtx` reads of `tcp:tcp_retransmit_skb` at fixed offsets
/// (`err`, where there is one, is read where [`retransmit_err_offset`] finds it).
pub fn tcp_retransmit_skb() -> Vec<Expected> {
    type R = TcpRetransmitSkbRaw;
    vec![
        field!(R, skbaddr, 0),
        field!(R, skaddr, 0),
        field!(R, state, 0),
        field!(R, sport, 0),
        field!(R, dport, 0),
        field!(R, family, 0),
        field!(R, saddr, 0),
        field!(R, daddr, 0),
        field!(R, saddr_v6, 0),
        field!(R, daddr_v6, 0),
    ]
}

/// What `tracer_synack_rtx` reads of `tcp:tcp_retransmit_synack`.
pub fn tcp_retransmit_synack() -> Vec<Expected> {
    type R = TcpRetransmitSynackRaw;
    vec![
        field!(R, skaddr, 0),
        field!(R, req, 0),
        field!(R, sport, 0),
        field!(R, dport, 0),
        field!(R, family, 0),
        field!(R, saddr, 0),
        field!(R, daddr, 0),
        field!(R, saddr_v6, 0),
        field!(R, daddr_v6, 0),
    ]
}

/// What `tracer_sys_connect` / `tracer_sys_accept` read of `syscalls:sys_exit_*`.
pub fn sys_exit() -> Vec<Expected> {
    vec![
        ("__syscall_nr", offset_of!(SysExitRaw, syscall_nr), 4),
        field!(SysExitRaw, ret, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// /sys/kernel/tracing/events/tcp/tcp_retransmit_synack/format on 6.18.
    const SYNACK_6_18: &str = "name: tcp_retransmit_synack
ID: 2275
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:const void * req;\toffset:16;\tsize:8;\tsigned:0;
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:30;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:34;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:38;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:54;\tsize:16;\tsigned:0;

print fmt: \"family=%s sport=%hu\", REC->sport
";

    /// /sys/kernel/tracing/events/tcp/tcp_retransmit_skb/format on 6.1 (Debian 12):
    /// no `err` (added in 6.13, after `daddr_v6`).
    const RETRANSMIT_SKB_6_1: &str = "name: tcp_retransmit_skb
ID: 1449
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:const void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:const void * skaddr;\toffset:16;\tsize:8;\tsigned:0;
\tfield:int state;\toffset:24;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:32;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:34;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:38;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:42;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:58;\tsize:16;\tsigned:0;

print fmt: \"family=%s\", REC->family
";

    #[test]
    fn retransmit_skb_err_is_optional() {
        // 6.1: every field the program reads at a fixed offset, and no err.
        check("tcp:tcp_retransmit_skb", RETRANSMIT_SKB_6_1, &tcp_retransmit_skb()).unwrap();
        assert_eq!(optional_field(RETRANSMIT_SKB_6_1, "err", 4), None);
        // 6.18: err after daddr_v6 and two bytes of padding.
        let with_err = RETRANSMIT_SKB_6_1.replace(
            "\n\nprint fmt",
            "\n\tfield:int err;\toffset:76;\tsize:4;\tsigned:1;\n\nprint fmt",
        );
        check("tcp:tcp_retransmit_skb", &with_err, &tcp_retransmit_skb()).unwrap();
        assert_eq!(optional_field(&with_err, "err", 4), Some(76));
        // A field of another size is not taken for it.
        assert_eq!(optional_field(&with_err, "err", 8), None);
    }

    #[test]
    fn parses_fields() {
        let f = parse(SYNACK_6_18);
        assert_eq!(f.len(), 13);
        assert_eq!(
            f[4],
            Field {
                name: "skaddr".into(),
                offset: 8,
                size: 8
            }
        );
        assert_eq!(
            f[9],
            Field {
                name: "saddr".into(),
                offset: 30,
                size: 4
            }
        );
    }

    #[test]
    fn accepts_the_layout_built_for_and_refuses_others() {
        check("tcp:tcp_retransmit_synack", SYNACK_6_18, &tcp_retransmit_synack()).unwrap();
        let moved = SYNACK_6_18.replace("req;\toffset:16", "req;\toffset:20");
        assert!(matches!(
            check("x", &moved, &tcp_retransmit_synack()),
            Err(FormatError::Moved {
                field: "req",
                offset: 20,
                want_offset: 16,
                ..
            })
        ));
        let gone = SYNACK_6_18.replace("family;", "fam;");
        assert!(matches!(
            check("x", &gone, &tcp_retransmit_synack()),
            Err(FormatError::Missing { field: "family", .. })
        ));
        // Another event's layout does not pass for this one.
        assert!(check("x", SYNACK_6_18, &tcp_receive_reset()).is_err());
    }

    /// The running kernel's formats, when tracefs is mounted.
    #[test]
    fn running_kernel_matches() {
        let events: [(&str, &str, Vec<Expected>); 7] = [
            ("syscalls", "sys_exit_connect", sys_exit()),
            ("syscalls", "sys_exit_accept", sys_exit()),
            ("syscalls", "sys_exit_accept4", sys_exit()),
            ("sock", "inet_sock_set_state", inet_sock_set_state()),
            ("tcp", "tcp_receive_reset", tcp_receive_reset()),
            ("tcp", "tcp_retransmit_skb", tcp_retransmit_skb()),
            ("tcp", "tcp_retransmit_synack", tcp_retransmit_synack()),
        ];
        for (category, name, expected) in events {
            match check_running(category, name, &expected) {
                Ok(()) => {}
                Err(FormatError::Io { .. }) => eprintln!("{category}:{name}: no tracefs, skipped"),
                Err(e) => panic!("{e}"),
            }
        }
    }
}
