//! `-Z USER`, as in tcpdump: once the programs are attached and the rings mapped, a capture
//! needs no privilege for what is left (reading the rings and maps through descriptors it
//! holds, printing, writing files; TCX links and perf links detach when their descriptors
//! close), except removing classic tc filters at the end, which needs CAP_NET_ADMIN. So the
//! process takes USER's uid, primary group and supplementary groups, and keeps no capability
//! but the ones the caller names: the printer and the file writer run unprivileged, and
//! capture files (rotated ones included) are created by USER.
//!
//! Capabilities outside the kept set are also removed from the bounding set while that is
//! still allowed, so that nothing executed later can regain them.

use std::{collections::HashSet, ffi::CString};

use caps::{CapSet, Capability};
use nix::unistd::{Gid, Uid, User, initgroups, setgid, setuid};

#[derive(Debug, thiserror::Error)]
pub enum PrivDropError {
    #[error("-Z {user}: no such user")]
    NoSuchUser { user: String },
    #[error("-Z {user}: {what}: {err}")]
    System {
        user: String,
        what: &'static str,
        err: String,
    },
}

fn sys(user: &str, what: &'static str, err: impl std::fmt::Display) -> PrivDropError {
    PrivDropError::System {
        user: user.to_owned(),
        what,
        err: err.to_string(),
    }
}

/// The user to switch to, looked up before anything is loaded.
#[derive(Debug, Clone)]
pub struct Account {
    name: String,
    uid: Uid,
    gid: Gid,
}

impl Account {
    pub fn lookup(user: &str) -> Result<Account, PrivDropError> {
        let account = User::from_name(user)
            .map_err(|e| sys(user, "looking the user up", e))?
            .ok_or_else(|| PrivDropError::NoSuchUser { user: user.to_owned() })?;
        Ok(Account {
            name: user.to_owned(),
            uid: account.uid,
            gid: account.gid,
        })
    }

    /// Switches to this user (when running as root) and drops every capability but `keep`.
    pub fn switch(&self, keep: &[Capability]) -> Result<(), PrivDropError> {
        let user = self.name.as_str();
        let permitted = caps::read(None, CapSet::Permitted).map_err(|e| sys(user, "reading the capabilities", e))?;
        let keep: HashSet<Capability> = keep.iter().copied().filter(|c| permitted.contains(c)).collect();
        // Not root (file capabilities, or a plain user): tcpdump switches only from root; the
        // capabilities go all the same.
        if Uid::effective().is_root() {
            for cap in caps::all() {
                if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
                    caps::drop(None, CapSet::Bounding, cap)
                        .map_err(|e| sys(user, "dropping from the bounding set", e))?;
                }
            }
            if !keep.is_empty() {
                // Keep the permitted set across the change of uid; the effective set is set
                // again below.
                caps::securebits::set_keepcaps(true).map_err(|e| sys(user, "PR_SET_KEEPCAPS", e))?;
            }
            let name = CString::new(user).map_err(|e| sys(user, "the user's name", e))?;
            initgroups(&name, self.gid).map_err(|e| sys(user, "setting the groups", e))?;
            setgid(self.gid).map_err(|e| sys(user, "setgid", e))?;
            setuid(self.uid).map_err(|e| sys(user, "setuid", e))?;
            if !keep.is_empty() {
                caps::securebits::set_keepcaps(false).map_err(|e| sys(user, "PR_SET_KEEPCAPS", e))?;
            }
        }
        caps::set(None, CapSet::Effective, &keep).map_err(|e| sys(user, "setting the effective capabilities", e))?;
        caps::set(None, CapSet::Permitted, &keep).map_err(|e| sys(user, "setting the permitted capabilities", e))?;
        caps::clear(None, CapSet::Inheritable).map_err(|e| sys(user, "clearing the inheritable capabilities", e))?;
        caps::clear(None, CapSet::Ambient).map_err(|e| sys(user, "clearing the ambient capabilities", e))?;
        Ok(())
    }
}
