//! A small reader of the kernel's BTF (`/sys/kernel/btf/vmlinux`; format in
//! include/uapi/linux/btf.h): enough to find a struct by name and the byte
//! offset and size of a member, so the kernel programs read socket fields at
//! the running kernel's offsets ([`sock_offsets`]).
//!
//! The blob is a header, a type section and a string section. Type ids start
//! at 1 and follow the order of the type section; each type is a 12-byte
//! `btf_type` followed by kind-specific data, which is skipped exactly so the
//! walk stays aligned. Bitfield members are refused, never rounded.

use std::{collections::HashMap, path::Path};

use tracer_common::{FileOffsets, SockOffsets};

const MAGIC: u16 = 0xeb9f;
/// Size of `struct btf_header` in version 1 (the smallest `hdr_len` we accept).
const HEADER_LEN: usize = 24;
const TYPE_LEN: usize = 12;
/// Type chains (typedef → const → …) longer than this are treated as a loop.
const MAX_CHAIN: usize = 32;

const KIND_INT: u8 = 1;
const KIND_PTR: u8 = 2;
const KIND_ARRAY: u8 = 3;
const KIND_STRUCT: u8 = 4;
const KIND_UNION: u8 = 5;
const KIND_ENUM: u8 = 6;
const KIND_FWD: u8 = 7;
const KIND_TYPEDEF: u8 = 8;
const KIND_VOLATILE: u8 = 9;
const KIND_CONST: u8 = 10;
const KIND_RESTRICT: u8 = 11;
const KIND_FUNC: u8 = 12;
const KIND_FUNC_PROTO: u8 = 13;
const KIND_VAR: u8 = 14;
const KIND_DATASEC: u8 = 15;
const KIND_FLOAT: u8 = 16;
const KIND_DECL_TAG: u8 = 17;
const KIND_TYPE_TAG: u8 = 18;
const KIND_ENUM64: u8 = 19;

/// Why BTF could not be read or did not hold what was asked for.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// Not read: only the socket-state programs need it, and they were not asked for.
    #[error("the kernel's BTF was not read (no socket-state programs)")]
    NotRead,
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("not BTF: magic {magic:#06x}")]
    BadMagic { magic: u16 },
    #[error("BTF {what} lies outside the {len}-byte blob")]
    Truncated { what: &'static str, len: usize },
    #[error("BTF type {id} has unknown kind {kind}")]
    UnknownKind { id: u32, kind: u8 },
    #[error("BTF type id {id} does not exist")]
    NoType { id: u32 },
    #[error("BTF type chain from id {id} is too long (a loop?)")]
    Loop { id: u32 },
    #[error("BTF has no struct {name}")]
    NoStruct { name: String },
    #[error("struct {strukt} has no member {member}")]
    NoMember { strukt: String, member: String },
    #[error("{strukt}.{member} is not a struct or union, cannot look inside it")]
    NotComposite { strukt: String, member: String },
    #[error("{strukt}.{member} is a bitfield")]
    Bitfield { strukt: String, member: String },
    #[error("{strukt}.{member} has no fixed size")]
    Unsized { strukt: String, member: String },
    #[error("{strukt}.{member} is {found} bytes, expected {expected}")]
    Size {
        strukt: String,
        member: String,
        expected: u32,
        found: u32,
    },
    #[error("{strukt}.{member} lies beyond 4 GiB")]
    TooFar { strukt: String, member: String },
}

/// Where a member lies, in bytes from the start of the outer struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    pub offset: u32,
    pub size: u32,
}

/// A parsed BTF blob: its bytes and where each type record starts.
pub struct Btf {
    data: Vec<u8>,
    big_endian: bool,
    /// Start of the string section in `data`, and its length.
    strings: (usize, usize),
    /// `types[id - 1]` = start of type `id`'s `btf_type` in `data`.
    types: Vec<usize>,
    /// Struct name → id of the first STRUCT with that name and members.
    structs: HashMap<String, u32>,
}

/// One decoded `btf_type` header.
#[derive(Clone, Copy, Debug)]
struct Type {
    name_off: u32,
    kind: u8,
    kind_flag: bool,
    vlen: u16,
    /// `size` for INT/STRUCT/UNION/ENUM/FLOAT/DATASEC, `type` for the others.
    size_or_type: u32,
    /// Start of the kind-specific data after the header.
    extra: usize,
}

impl Btf {
    /// Reads the running kernel's BTF.
    pub fn from_sys_fs() -> Result<Self, BtfError> {
        Self::from_file(Path::new(super::preflight::BTF_PATH))
    }

    pub fn from_file(path: &Path) -> Result<Self, BtfError> {
        let data = std::fs::read(path).map_err(|source| BtfError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(data)
    }

    /// Parses a BTF blob of either byte order.
    pub fn parse(data: Vec<u8>) -> Result<Self, BtfError> {
        let len = data.len();
        let truncated = |what| BtfError::Truncated { what, len };
        let magic = data.get(..2).ok_or(truncated("header"))?;
        let big_endian = match u16::from_le_bytes([magic[0], magic[1]]) {
            MAGIC => false,
            m if m.swap_bytes() == MAGIC => true,
            m => return Err(BtfError::BadMagic { magic: m }),
        };
        let mut btf = Self {
            data,
            big_endian,
            strings: (0, 0),
            types: Vec::new(),
            structs: HashMap::new(),
        };
        let hdr_len = btf.u32_at(4).ok_or(truncated("header"))? as usize;
        if hdr_len < HEADER_LEN || hdr_len > len {
            return Err(truncated("header"));
        }
        let field = |i: usize| btf.u32_at(8 + 4 * i).map(|v| v as usize).ok_or(truncated("header"));
        let (type_off, type_len, str_off, str_len) = (field(0)?, field(1)?, field(2)?, field(3)?);
        let section = |off: usize, n: usize, what| {
            let start = hdr_len.checked_add(off).ok_or(truncated(what))?;
            let end = start.checked_add(n).ok_or(truncated(what))?;
            if end > len {
                Err(truncated(what))
            } else {
                Ok((start, end))
            }
        };
        let (types_start, types_end) = section(type_off, type_len, "type section")?;
        let (str_start, str_end) = section(str_off, str_len, "string section")?;
        btf.strings = (str_start, str_end - str_start);

        let mut pos = types_start;
        while pos < types_end {
            let id = btf.types.len() as u32 + 1;
            let t = btf
                .type_at(pos)
                .filter(|t| t.extra <= types_end)
                .ok_or(truncated("type"))?;
            let end = t
                .extra
                .checked_add(trailing_len(&t).ok_or(BtfError::UnknownKind { id, kind: t.kind })?)
                .filter(|&e| e <= types_end)
                .ok_or(truncated("type"))?;
            btf.types.push(pos);
            if t.kind == KIND_STRUCT
                && t.vlen > 0
                && let Some(name) = btf.string(t.name_off).filter(|n| !n.is_empty())
            {
                btf.structs.entry(name.to_owned()).or_insert(id);
            }
            pos = end;
        }
        Ok(btf)
    }

    /// Number of types (ids 1..=count).
    pub fn type_count(&self) -> usize {
        self.types.len()
    }

    /// Offset and size of `path` ("a", or "a.b.c" through nested structs) in
    /// struct `strukt`. Anonymous struct/union members are searched through.
    pub fn member(&self, strukt: &str, path: &str) -> Result<Member, BtfError> {
        let mut id = *self
            .structs
            .get(strukt)
            .ok_or_else(|| BtfError::NoStruct { name: strukt.into() })?;
        let mut offset = 0u64;
        let mut size = None;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let err_ctx = || (strukt.to_owned(), path.to_owned());
            let (bits, member_type) = self.find_member(id, part)?.ok_or_else(|| {
                let (strukt, member) = err_ctx();
                BtfError::NoMember { strukt, member }
            })?;
            if bits % 8 != 0 {
                let (strukt, member) = err_ctx();
                return Err(BtfError::Bitfield { strukt, member });
            }
            offset += bits / 8;
            let (resolved, t) = self.resolve(member_type)?;
            if parts.peek().is_some() {
                if t.kind != KIND_STRUCT && t.kind != KIND_UNION {
                    let (strukt, member) = err_ctx();
                    return Err(BtfError::NotComposite { strukt, member });
                }
                id = resolved;
            } else {
                size = self.size_of(member_type)?;
            }
        }
        let (strukt, member) = (strukt.to_owned(), path.to_owned());
        let size = size.ok_or_else(|| BtfError::Unsized {
            strukt: strukt.clone(),
            member: member.clone(),
        })?;
        let offset = u32::try_from(offset).map_err(|_| BtfError::TooFar { strukt, member })?;
        Ok(Member { offset, size })
    }

    /// Like [`Btf::member`], and the member must be `size` bytes.
    pub fn member_sized(&self, strukt: &str, path: &str, size: u32) -> Result<u32, BtfError> {
        let m = self.member(strukt, path)?;
        if m.size != size {
            return Err(BtfError::Size {
                strukt: strukt.into(),
                member: path.into(),
                expected: size,
                found: m.size,
            });
        }
        Ok(m.offset)
    }

    /// Bit offset and type of member `name` of the struct/union `id`, looking
    /// inside anonymous members. `Err(Bitfield)` for a bitfield.
    fn find_member(&self, id: u32, name: &str) -> Result<Option<(u64, u32)>, BtfError> {
        self.find_member_depth(id, name, 0)
    }

    fn find_member_depth(&self, id: u32, name: &str, depth: usize) -> Result<Option<(u64, u32)>, BtfError> {
        if depth > MAX_CHAIN {
            return Err(BtfError::Loop { id });
        }
        let t = self.get(id)?;
        for i in 0..usize::from(t.vlen) {
            let at = t.extra + i * 12;
            let (name_off, member_type, raw_offset) = (
                self.u32_at(at).ok_or(self.truncated())?,
                self.u32_at(at + 4).ok_or(self.truncated())?,
                self.u32_at(at + 8).ok_or(self.truncated())?,
            );
            // With kind_flag, the top 8 bits are the bitfield size.
            let (bitfield_size, bit_offset) = if t.kind_flag {
                (raw_offset >> 24, u64::from(raw_offset & 0x00ff_ffff))
            } else {
                (0, u64::from(raw_offset))
            };
            let member_name = self.string(name_off).unwrap_or("");
            if member_name.is_empty() {
                let (inner, it) = self.resolve(member_type)?;
                if (it.kind == KIND_STRUCT || it.kind == KIND_UNION)
                    && let Some((off, ty)) = self.find_member_depth(inner, name, depth + 1)?
                {
                    return Ok(Some((bit_offset + off, ty)));
                }
                continue;
            }
            if member_name != name {
                continue;
            }
            if bitfield_size != 0 || self.is_int_bitfield(member_type)? {
                return Err(BtfError::Bitfield {
                    strukt: self.string(t.name_off).unwrap_or("").to_owned(),
                    member: name.to_owned(),
                });
            }
            return Ok(Some((bit_offset, member_type)));
        }
        Ok(None)
    }

    /// Old-style bitfields (kind_flag 0) are INTs whose encoding has fewer
    /// bits than the INT's size, or a bit offset.
    fn is_int_bitfield(&self, id: u32) -> Result<bool, BtfError> {
        let (_, t) = self.resolve(id)?;
        if t.kind != KIND_INT {
            return Ok(false);
        }
        let enc = self.u32_at(t.extra).ok_or(self.truncated())?;
        let bits = enc & 0xff;
        let offset = (enc >> 16) & 0xff;
        Ok(offset != 0 || bits != t.size_or_type * 8)
    }

    /// Size in bytes of type `id`, through typedefs and qualifiers; `None`
    /// for types without one (void, functions, forward declarations).
    fn size_of(&self, id: u32) -> Result<Option<u32>, BtfError> {
        let (_, t) = self.resolve(id)?;
        Ok(match t.kind {
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 | KIND_FLOAT => Some(t.size_or_type),
            KIND_PTR => Some(8),
            KIND_ARRAY => {
                let elem = self.u32_at(t.extra).ok_or(self.truncated())?;
                let n = self.u32_at(t.extra + 8).ok_or(self.truncated())?;
                self.size_of(elem)?.and_then(|s| s.checked_mul(n))
            }
            _ => None,
        })
    }

    /// Follows typedefs, qualifiers and type tags to the underlying type.
    fn resolve(&self, mut id: u32) -> Result<(u32, Type), BtfError> {
        for _ in 0..MAX_CHAIN {
            let t = self.get(id)?;
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => id = t.size_or_type,
                _ => return Ok((id, t)),
            }
        }
        Err(BtfError::Loop { id })
    }

    fn get(&self, id: u32) -> Result<Type, BtfError> {
        let pos = id
            .checked_sub(1)
            .and_then(|i| self.types.get(i as usize))
            .ok_or(BtfError::NoType { id })?;
        self.type_at(*pos).ok_or(self.truncated())
    }

    fn type_at(&self, pos: usize) -> Option<Type> {
        let info = self.u32_at(pos + 4)?;
        Some(Type {
            name_off: self.u32_at(pos)?,
            kind: ((info >> 24) & 0x1f) as u8,
            kind_flag: info >> 31 != 0,
            vlen: (info & 0xffff) as u16,
            size_or_type: self.u32_at(pos + 8)?,
            extra: pos + TYPE_LEN,
        })
    }

    fn string(&self, off: u32) -> Option<&str> {
        let (start, len) = self.strings;
        let off = off as usize;
        if off >= len {
            return None;
        }
        let bytes = &self.data[start + off..start + len];
        let end = bytes.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&bytes[..end]).ok()
    }

    fn u32_at(&self, pos: usize) -> Option<u32> {
        let b: [u8; 4] = self.data.get(pos..pos.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn truncated(&self) -> BtfError {
        BtfError::Truncated {
            what: "type",
            len: self.data.len(),
        }
    }
}

/// Bytes of kind-specific data after a `btf_type`; `None` for an unknown kind.
fn trailing_len(t: &Type) -> Option<usize> {
    let n = usize::from(t.vlen);
    Some(match t.kind {
        KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
        KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_FUNC | KIND_FLOAT
        | KIND_TYPE_TAG => 0,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * n,
        KIND_ENUM | KIND_FUNC_PROTO => 8 * n,
        _ => return None,
    })
}

/// The socket field offsets the kernel programs read (see [`SockOffsets`]),
/// each checked for the width the programs read it with.
pub fn sock_offsets(btf: &Btf) -> Result<SockOffsets, BtfError> {
    let sc = |path, size| btf.member_sized("sock_common", path, size);
    Ok(SockOffsets {
        valid: 1,
        skc_daddr: sc("skc_daddr", 4)?,
        skc_rcv_saddr: sc("skc_rcv_saddr", 4)?,
        skc_dport: sc("skc_dport", 2)?,
        skc_num: sc("skc_num", 2)?,
        skc_family: sc("skc_family", 2)?,
        skc_net: sc("skc_net.net", 8)?,
        skc_v6_daddr: sc("skc_v6_daddr", 16)?,
        skc_v6_rcv_saddr: sc("skc_v6_rcv_saddr", 16)?,
        net_ns_inum: btf.member_sized("net", "ns.inum", 4)?,
        tcp_bytes_acked: btf.member_sized("tcp_sock", "bytes_acked", 8)?,
        tcp_bytes_received: btf.member_sized("tcp_sock", "bytes_received", 8)?,
        tw_substate: btf.member_sized("inet_timewait_sock", "tw_substate", 1)?,
        sk_protocol: btf.member_sized("sock", "sk_protocol", 2)?,
    })
}

/// The offsets for following a file descriptor of the current task to its
/// socket (see [`FileOffsets`]); all pointers.
pub fn file_offsets(btf: &Btf) -> Result<FileOffsets, BtfError> {
    Ok(FileOffsets {
        valid: 1,
        task_files: btf.member_sized("task_struct", "files", 8)?,
        files_fdt: btf.member_sized("files_struct", "fdt", 8)?,
        fdt_fd: btf.member_sized("fdtable", "fd", 8)?,
        file_private_data: btf.member_sized("file", "private_data", 8)?,
        socket_sk: btf.member_sized("socket", "sk", 8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a little-endian BTF blob from (kind, name, vlen, size_or_type,
    /// kind_flag, trailing u32s) records.
    struct Builder {
        types: Vec<u8>,
        strings: Vec<u8>,
    }

    impl Builder {
        fn new() -> Self {
            Self {
                types: Vec::new(),
                strings: vec![0],
            }
        }

        fn name(&mut self, s: &str) -> u32 {
            if s.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(s.as_bytes());
            self.strings.push(0);
            off
        }

        fn ty(&mut self, kind: u8, name: &str, vlen: u16, size_or_type: u32, kind_flag: bool, extra: &[u32]) {
            let name = self.name(name);
            let info = (u32::from(kind) << 24) | u32::from(vlen) | (u32::from(kind_flag) << 31);
            for v in [name, info, size_or_type].iter().chain(extra) {
                self.types.extend_from_slice(&v.to_le_bytes());
            }
        }

        fn int(&mut self, name: &str, bytes: u32) {
            self.ty(KIND_INT, name, 0, bytes, false, &[bytes * 8]);
        }

        /// Members as (name, type id, bit offset or bitfield-encoded offset).
        fn composite(&mut self, kind: u8, name: &str, size: u32, kind_flag: bool, members: &[(&str, u32, u32)]) {
            let mut extra = Vec::new();
            for &(n, t, off) in members {
                extra.extend([self.name(n), t, off]);
            }
            self.ty(kind, name, members.len() as u16, size, kind_flag, &extra);
        }

        fn build(&self) -> Vec<u8> {
            let mut out = Vec::new();
            for v in [
                u32::from(MAGIC) | (1 << 16),
                HEADER_LEN as u32,
                0,
                self.types.len() as u32,
                self.types.len() as u32,
                self.strings.len() as u32,
            ] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&self.types);
            out.extend_from_slice(&self.strings);
            out
        }
    }

    /// A blob with every kind before the structs, so a wrong skip length for
    /// any of them would shift the ids and the member lookups would fail.
    fn sample() -> Vec<u8> {
        let mut b = Builder::new();
        b.int("unsigned int", 4); // 1
        b.int("u16", 2); // 2
        b.ty(KIND_PTR, "", 0, 0, false, &[]); // 3: void *
        b.ty(KIND_ARRAY, "", 0, 0, false, &[1, 1, 4]); // 4: unsigned int[4]
        b.ty(KIND_ENUM, "e", 2, 4, false, &[0, 0, 0, 1]); // 5
        b.ty(KIND_FWD, "fwd", 0, 0, false, &[]); // 6
        b.ty(KIND_TYPEDEF, "u32", 0, 1, false, &[]); // 7
        b.ty(KIND_VOLATILE, "", 0, 7, false, &[]); // 8
        b.ty(KIND_CONST, "", 0, 8, false, &[]); // 9
        b.ty(KIND_RESTRICT, "", 0, 3, false, &[]); // 10
        b.ty(KIND_FUNC_PROTO, "", 2, 1, false, &[0, 1, 0, 3]); // 11
        b.ty(KIND_FUNC, "f", 0, 11, false, &[]); // 12
        b.ty(KIND_VAR, "v", 0, 1, false, &[1]); // 13
        b.ty(KIND_DATASEC, ".data", 1, 4, false, &[13, 0, 4]); // 14
        b.ty(KIND_FLOAT, "float", 0, 4, false, &[]); // 15
        b.ty(KIND_DECL_TAG, "tag", 0, 12, false, &[u32::MAX]); // 16
        b.ty(KIND_TYPE_TAG, "rcu", 0, 1, false, &[]); // 17
        b.ty(KIND_ENUM64, "e64", 1, 8, false, &[0, 1, 0]); // 18
        b.ty(KIND_ARRAY, "", 0, 0, false, &[19 + 5, 1, 16]); // 19: u8[16] (u8 is id 24)
        // 20: struct inner { u32 x; u16 y; }
        b.composite(KIND_STRUCT, "inner", 8, false, &[("x", 7, 0), ("y", 2, 32)]);
        // 21: anonymous union { unsigned int u; struct inner in; }
        b.composite(KIND_UNION, "", 8, false, &[("u", 1, 0), ("in", 20, 0)]);
        // 22: anonymous struct { u32 a; u32 b; }
        b.composite(KIND_STRUCT, "", 8, false, &[("a", 9, 0), ("b", 17, 32)]);
        // 23: struct outer { struct {a, b}; union {u, in}; u16 bf:4 (kind_flag); void *p; u8 v6[16]; }
        b.composite(
            KIND_STRUCT,
            "outer",
            48,
            true,
            &[
                ("", 22, 0),
                ("", 21, 64),
                ("bf", 2, (4 << 24) | 128),
                ("p", 10, 192),
                ("v6", 19, 256),
            ],
        );
        b.int("u8", 1); // 24
        // 25: struct old { u8 whole; unsigned int bits:3 (old style, INT of 3 bits) }
        b.ty(KIND_INT, "bits3", 0, 4, false, &[3]);
        b.composite(
            KIND_STRUCT,
            "old",
            8,
            false,
            &[("whole", 24, 0), ("bits", 25, 32), ("odd", 24, 44)],
        );
        b.build()
    }

    #[test]
    fn walks_every_kind_and_finds_members() {
        let btf = Btf::parse(sample()).unwrap();
        assert_eq!(btf.type_count(), 26);
        let m = |p| btf.member("outer", p);
        // Inside the anonymous struct, through const → volatile → typedef.
        assert_eq!(m("a").unwrap(), Member { offset: 0, size: 4 });
        assert_eq!(m("b").unwrap(), Member { offset: 4, size: 4 });
        // Inside the anonymous union, and a path through a named struct member.
        assert_eq!(m("u").unwrap(), Member { offset: 8, size: 4 });
        assert_eq!(m("in.y").unwrap(), Member { offset: 12, size: 2 });
        assert_eq!(m("in").unwrap(), Member { offset: 8, size: 8 });
        assert_eq!(m("p").unwrap(), Member { offset: 24, size: 8 });
        assert_eq!(m("v6").unwrap(), Member { offset: 32, size: 16 });
        assert_eq!(btf.member_sized("outer", "in.x", 4).unwrap(), 8);
    }

    #[test]
    fn refuses_bitfields_and_bad_paths() {
        let btf = Btf::parse(sample()).unwrap();
        assert!(matches!(btf.member("outer", "bf"), Err(BtfError::Bitfield { .. })));
        assert!(matches!(btf.member("old", "bits"), Err(BtfError::Bitfield { .. })));
        assert!(matches!(btf.member("old", "odd"), Err(BtfError::Bitfield { .. })));
        assert_eq!(btf.member("old", "whole").unwrap(), Member { offset: 0, size: 1 });
        assert!(matches!(btf.member("outer", "nope"), Err(BtfError::NoMember { .. })));
        assert!(matches!(btf.member("outer", "a.b"), Err(BtfError::NotComposite { .. })));
        assert!(matches!(btf.member("absent", "a"), Err(BtfError::NoStruct { .. })));
        // The anonymous struct has no name to be found by.
        assert!(matches!(btf.member("", "a"), Err(BtfError::NoStruct { .. })));
        assert!(matches!(
            btf.member_sized("outer", "a", 8),
            Err(BtfError::Size {
                expected: 8,
                found: 4,
                ..
            })
        ));
    }

    #[test]
    fn refuses_bad_blobs() {
        let good = sample();
        assert!(matches!(Btf::parse(vec![0; 30]), Err(BtfError::BadMagic { .. })));
        assert!(matches!(Btf::parse(vec![0x9f]), Err(BtfError::Truncated { .. })));
        for cut in [10, 30, good.len() - 1] {
            assert!(Btf::parse(good[..cut].to_vec()).is_err(), "cut at {cut}");
        }
        // Kind 20 does not exist: the walk cannot know its length.
        let mut b = Builder::new();
        b.ty(20, "x", 0, 0, false, &[]);
        assert!(matches!(
            Btf::parse(b.build()),
            Err(BtfError::UnknownKind { id: 1, kind: 20 })
        ));
        // A type section that ends inside a type's trailing data.
        let mut b = Builder::new();
        b.int("int", 4);
        let mut blob = b.build();
        blob[12..16].copy_from_slice(&14u32.to_le_bytes()); // type_len 14 instead of 16
        assert!(matches!(Btf::parse(blob), Err(BtfError::Truncated { .. })));
        // A typedef loop.
        let mut b = Builder::new();
        b.ty(KIND_TYPEDEF, "a", 0, 2, false, &[]);
        b.ty(KIND_TYPEDEF, "b", 0, 1, false, &[]);
        b.composite(KIND_STRUCT, "s", 4, false, &[("m", 1, 0)]);
        let btf = Btf::parse(b.build()).unwrap();
        assert!(matches!(btf.member("s", "m"), Err(BtfError::Loop { .. })));
    }

    #[test]
    fn reads_big_endian_blobs() {
        // Swap every 4-byte word of the types and header; strings stay.
        let le = sample();
        let str_start = HEADER_LEN + u32::from_le_bytes(le[12..16].try_into().unwrap()) as usize;
        let mut be = le.clone();
        be[..2].copy_from_slice(&MAGIC.to_be_bytes());
        for w in (4..str_start).step_by(4) {
            let v = u32::from_le_bytes(le[w..w + 4].try_into().unwrap());
            be[w..w + 4].copy_from_slice(&v.to_be_bytes());
        }
        let btf = Btf::parse(be).unwrap();
        assert_eq!(btf.member("outer", "in.y").unwrap(), Member { offset: 12, size: 2 });
    }

    /// The running kernel's BTF, when there is one.
    #[test]
    fn resolves_the_running_kernels_offsets() {
        let btf = match Btf::from_sys_fs() {
            Ok(btf) => btf,
            Err(BtfError::Io { .. }) => {
                eprintln!("no {}: skipped", crate::capture::preflight::BTF_PATH);
                return;
            }
            Err(e) => panic!("{e}"),
        };
        assert!(btf.type_count() > 10_000);
        let o = sock_offsets(&btf).unwrap();
        assert_eq!(o.valid, 1);
        // Fixed by the layout of sock_common since 2.6: the address pair first,
        // then the hash, then the port pair (dport before num).
        assert_eq!((o.skc_daddr, o.skc_rcv_saddr), (0, 4));
        assert_eq!((o.skc_dport, o.skc_num), (12, 14));
        assert_eq!(o.skc_family, 16);
        assert!(o.skc_net > o.skc_family && o.skc_net.is_multiple_of(8));
        assert!(o.skc_v6_daddr > o.skc_net && o.skc_v6_rcv_saddr == o.skc_v6_daddr + 16);
        // tcp_sock embeds sock (≥ a few hundred bytes) before its own fields.
        let sock_size = btf.member("tcp_sock", "inet_conn").unwrap().size;
        assert!(o.tcp_bytes_acked >= sock_size && o.tcp_bytes_received >= sock_size);
        assert_ne!(o.tcp_bytes_acked, o.tcp_bytes_received);
        // inet_timewait_sock starts with its sock_common.
        let common = btf.member("inet_timewait_sock", "__tw_common").unwrap();
        assert_eq!(common.offset, 0);
        assert!(o.tw_substate >= common.size && o.tw_substate < common.size + 16);
        assert!(o.net_ns_inum > 0 && o.net_ns_inum.is_multiple_of(4));
        let f = file_offsets(&btf).unwrap();
        assert_eq!(f.valid, 1);
        // fdtable starts with max_fds, then the fd array pointer.
        assert_eq!(f.fdt_fd, 8);
        assert!(f.task_files > 1000 && f.task_files.is_multiple_of(8));
    }
}
