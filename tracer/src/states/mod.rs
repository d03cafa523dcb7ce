//! TCP socket states: names, the tracker that turns socket events into
//! transitions, and how they are printed.

pub mod diag;
pub mod format;
pub mod hooks;
pub mod model;
pub mod namespaces;
pub mod owners;
pub mod run;
pub mod seed;
pub mod stat;
pub mod sysctl;
pub mod tracker;

/// The kernel's state names, indexed by its numbering (include/net/tcp_states.h).
const STATE_NAMES: [&str; 13] = [
    "UNKNOWN",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NEW_SYN_RECV",
];

/// [`STATE_NAMES`] padded to 16 bytes, with their lengths: a name is then
/// appended with one fixed-size copy (see `format`).
const STATE_NAMES_PADDED: [([u8; 16], usize); 13] = {
    let mut t = [([0u8; 16], 0usize); 13];
    let mut i = 0;
    while i < 13 {
        let name = STATE_NAMES[i].as_bytes();
        let mut j = 0;
        while j < name.len() {
            t[i].0[j] = name[j];
            j += 1;
        }
        t[i].1 = name.len();
        i += 1;
    }
    t
};

/// [`state_name`], padded to 16 bytes, and its length.
fn state_name_padded(state: u8) -> (&'static [u8; 16], usize) {
    let (chunk, len) = STATE_NAMES_PADDED
        .get(usize::from(state))
        .unwrap_or(&STATE_NAMES_PADDED[0]);
    (chunk, *len)
}

/// Name of a kernel TCP state number.
pub fn state_name(state: u8) -> &'static str {
    STATE_NAMES.get(usize::from(state)).copied().unwrap_or("UNKNOWN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(state_name(1), "ESTABLISHED");
        assert_eq!(state_name(12), "NEW_SYN_RECV");
        assert_eq!(state_name(0), "UNKNOWN");
        assert_eq!(state_name(99), "UNKNOWN");
    }
}
