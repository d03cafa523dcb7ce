//! Network interfaces of the current network namespace. Uses if_nameindex()
//! and ioctls, not /sys/class/net: under `nsenter --net` sysfs still shows the
//! namespace it was mounted in.

use std::ffi::{CStr, CString};

use super::CaptureError;

pub const ARPHRD_ETHER: u16 = 1;
pub const ARPHRD_LOOPBACK: u16 = 772;
pub const ARPHRD_NONE: u16 = 0xfffe;

/// One capture interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    /// Hardware type (ARPHRD_*), as in SIOCGIFHWADDR.
    pub arphrd: u16,
    pub mac: [u8; 6],
    pub up: bool,
    pub loopback: bool,
}

impl Interface {
    /// Whether packets on it start with an Ethernet header.
    pub fn has_ethernet_header(&self) -> bool {
        matches!(self.arphrd, ARPHRD_ETHER | ARPHRD_LOOPBACK)
    }
}

struct Socket(libc::c_int);

impl Socket {
    fn new() -> Result<Self, CaptureError> {
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(CaptureError::Io {
                what: "socket(AF_INET)".into(),
                err: std::io::Error::last_os_error(),
            });
        }
        Ok(Self(fd))
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

fn ifreq_for(name: &str) -> Option<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return None;
    }
    // SAFETY: ifreq is plain old data; all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Some(req)
}

/// Looks an interface up by name. Unknown names give tcpdump's wording.
pub fn lookup(name: &str) -> Result<Interface, CaptureError> {
    let no_such = || CaptureError::NoSuchDevice { name: name.to_owned() };
    let c_name = CString::new(name).map_err(|_| no_such())?;
    // SAFETY: valid C string.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        return Err(no_such());
    }
    let sock = Socket::new()?;
    let mut req = ifreq_for(name).ok_or_else(no_such)?;
    // SAFETY: valid socket and ifreq.
    if unsafe { libc::ioctl(sock.0, libc::SIOCGIFFLAGS as libc::Ioctl, &mut req) } < 0 {
        return Err(no_such());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member.
    let flags = unsafe { req.ifr_ifru.ifru_flags } as libc::c_int;
    let mut req = ifreq_for(name).ok_or_else(no_such)?;
    // SAFETY: valid socket and ifreq.
    let (arphrd, mac) = if unsafe { libc::ioctl(sock.0, libc::SIOCGIFHWADDR as libc::Ioctl, &mut req) } < 0 {
        (ARPHRD_NONE, [0; 6])
    } else {
        // SAFETY: SIOCGIFHWADDR filled the hwaddr member.
        let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
        let mut mac = [0u8; 6];
        for (dst, src) in mac.iter_mut().zip(sa.sa_data.iter()) {
            *dst = *src as u8;
        }
        (sa.sa_family, mac)
    };
    Ok(Interface {
        name: name.to_owned(),
        index,
        arphrd,
        mac,
        up: flags & libc::IFF_UP != 0,
        loopback: flags & libc::IFF_LOOPBACK != 0,
    })
}

/// pcap_lookupnet(): the IPv4 network and netmask of an interface (its primary address
/// masked), `None` when it has no IPv4 address. tcpdump names only hosts on this network.
pub fn local_net(name: &str) -> Option<([u8; 4], [u8; 4])> {
    let sock = Socket::new().ok()?;
    // The request's type is the C library's (unsigned long in glibc, int in musl).
    let get = |request: libc::Ioctl| -> Option<[u8; 4]> {
        let mut req = ifreq_for(name)?;
        // SAFETY: valid socket and ifreq.
        if unsafe { libc::ioctl(sock.0, request, &mut req) } < 0 {
            return None;
        }
        // SAFETY: SIOCGIFADDR/SIOCGIFNETMASK filled the addr member with a sockaddr_in.
        let sa = unsafe { req.ifr_ifru.ifru_addr };
        let d = sa.sa_data;
        // sockaddr_in: 2 bytes of port, then the address.
        Some([d[2] as u8, d[3] as u8, d[4] as u8, d[5] as u8])
    };
    let addr = get(libc::SIOCGIFADDR as libc::Ioctl)?;
    let mask = get(libc::SIOCGIFNETMASK as libc::Ioctl)?;
    Some((std::array::from_fn(|i| addr[i] & mask[i]), mask))
}

/// Every interface of this network namespace, in ifindex order.
pub fn all() -> Result<Vec<Interface>, CaptureError> {
    let mut names = Vec::new();
    // SAFETY: if_nameindex returns an array terminated by a zero entry, freed below.
    unsafe {
        let list = libc::if_nameindex();
        if list.is_null() {
            return Err(CaptureError::Io {
                what: "if_nameindex".into(),
                err: std::io::Error::last_os_error(),
            });
        }
        let mut p = list;
        while (*p).if_index != 0 && !(*p).if_name.is_null() {
            names.push((
                (*p).if_index,
                CStr::from_ptr((*p).if_name).to_string_lossy().into_owned(),
            ));
            p = p.add(1);
        }
        libc::if_freenameindex(list);
    }
    names.sort();
    let mut out = Vec::new();
    for (_, name) in names {
        // An interface can vanish between the listing and the lookup.
        if let Ok(iface) = lookup(&name) {
            out.push(iface);
        }
    }
    Ok(out)
}

/// tcpdump's default: the first interface that is up and not loopback.
pub fn default_interface() -> Result<Interface, CaptureError> {
    all()?
        .into_iter()
        .find(|i| i.up && !i.loopback)
        .ok_or(CaptureError::NoDefaultInterface)
}
