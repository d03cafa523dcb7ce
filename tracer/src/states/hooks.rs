//! What state tracing uses on this kernel, said once at start: where a
//! mechanism is not the preferred one (the kernel lacks a function or a
//! tracepoint, or refuses BPF trampolines), one line says what stands in and
//! what it costs. The decisions themselves are made where the hooks are
//! attached (`capture::load`), from what the kernel's BTF, its tracepoint
//! format files and the load and attach calls say, never from its version.

use tracer_common::sock_kind;

use crate::capture::load::{Failure, Hook, HookFailure, StateHooks};

/// The start-up lines for `hooks`: a warning for each hook that failed for
/// an unexpected reason (a verifier rejection, a field at another offset),
/// then at most one line for the state program, one for the events of the
/// hooks the kernel refused or lacks, and one for the accept() fallback.
pub fn startup_notes(hooks: &StateHooks) -> Vec<String> {
    let mut lines: Vec<String> = hooks
        .failed
        .iter()
        .filter(|f| f.why == Failure::Other)
        .map(|f| format!("warning: {f}"))
        .collect();
    lines.extend(hooks.program.note());
    lines.extend(missing_note(hooks));
    if hooks.attached.contains(&Hook::AcceptSys) || hooks.attached.contains(&Hook::Accept4Sys) {
        lines.push(
            "accepting processes from syscalls:sys_exit_accept/accept4 (fexit inet_csk_accept cannot be used): \
             the returned descriptor is followed to its socket, about 0.8 µs per accept() of the host"
                .into(),
        );
    }
    lines
}

/// One line: why hooks are missing, and what replaces their events.
fn missing_note(hooks: &StateHooks) -> Option<String> {
    let missing = hooks.missing_kinds();
    let lost = |f: &&HookFailure| missing.contains(&f.hook.kind());
    let mut what = Vec::new();
    let has = |k| missing.contains(&k);
    if has(sock_kind::TW_START) || has(sock_kind::TW_END) {
        what.push("TIME_WAIT is derived from FIN_WAIT2/CLOSING -> CLOSE and ended 60 s later");
    }
    if has(sock_kind::REQ_START) {
        what.push(if has(sock_kind::SYNACK_RETRANS) {
            "half-open connections from the socket table (this namespace's only)"
        } else {
            "half-open connections from SYN-ACK retransmissions and the socket table"
        });
    } else if has(sock_kind::SYNACK_RETRANS) {
        what.push("SYN-ACK retransmissions are not counted");
    }
    if has(sock_kind::ACCEPT) {
        what.push("accepted sockets keep the listener's owner");
    }
    if has(sock_kind::RESET_RX) {
        what.push("a refused connect shows as a timeout");
    }
    if has(sock_kind::SYN_RETRANS) {
        what.push("SYN retransmissions are not counted");
    }
    // CONNECT missing costs nothing visible: a CLOSE -> SYN_SENT line waits
    // for the socket's next event, which tells the source port.
    if what.is_empty() {
        return None;
    }
    let mut why = Vec::new();
    if hooks.failed.iter().filter(lost).any(|f| f.why == Failure::Refused) {
        why.push("fentry/fexit programs are not permitted by this kernel (EPERM)".to_owned());
    }
    let mut absent: Vec<String> = hooks
        .failed
        .iter()
        .filter(lost)
        .filter(|f| f.why == Failure::Absent)
        .map(|f| f.hook.to_string())
        .collect();
    absent.dedup();
    if !absent.is_empty() {
        why.push(format!("this kernel has no {}", absent.join(", ")));
    }
    if hooks.failed.iter().filter(lost).any(|f| f.why == Failure::Other) {
        why.push("some hooks failed (above)".to_owned());
    }
    Some(format!("{}: {}", why.join("; "), what.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::load::StateProgram;

    fn failed(hook: Hook, why: Failure) -> HookFailure {
        HookFailure {
            hook,
            why,
            err: match why {
                Failure::Refused => "the BPF_PROG_LOAD syscall returned Operation not permitted (os error 1)".into(),
                Failure::Absent => "absent".into(),
                Failure::Other => "format mismatch".into(),
            },
        }
    }

    fn hooks(failed: Vec<HookFailure>) -> StateHooks {
        let attached = Hook::ALL
            .into_iter()
            .filter(|h| !failed.iter().any(|f| f.hook == *h))
            .collect();
        StateHooks {
            program: StateProgram::Btf,
            attached,
            failed,
        }
    }

    #[test]
    fn nothing_to_say_when_everything_is_there() {
        assert!(startup_notes(&hooks(Vec::new())).is_empty());
        // CONNECT alone missing: the held line gets its port from the next event.
        let h = hooks(vec![
            failed(Hook::Connect4, Failure::Refused),
            failed(Hook::Connect6, Failure::Refused),
        ]);
        assert!(startup_notes(&h).is_empty());
    }

    #[test]
    fn refused_trampolines_make_one_line() {
        let h = hooks(
            [
                Hook::Connect4,
                Hook::Connect6,
                Hook::Accept,
                Hook::TwStart,
                Hook::TwEnd,
                Hook::ReqStart,
                Hook::ReqDrop,
                Hook::ReqDropPut,
            ]
            .into_iter()
            .map(|h| failed(h, Failure::Refused))
            .collect(),
        );
        assert_eq!(
            startup_notes(&h),
            [
                "fentry/fexit programs are not permitted by this kernel (EPERM): TIME_WAIT is derived from \
                 FIN_WAIT2/CLOSING -> CLOSE and ended 60 s later, half-open connections from SYN-ACK \
                 retransmissions and the socket table, accepted sockets keep the listener's owner"
            ]
        );
    }

    #[test]
    fn what_the_kernel_lacks_is_named_in_the_same_line() {
        let h = hooks(vec![
            failed(Hook::TwStart, Failure::Absent),
            failed(Hook::SynackRetrans, Failure::Absent),
        ]);
        assert_eq!(
            startup_notes(&h),
            [
                "this kernel has no fentry inet_twsk_hashdance_schedule, tracepoint tcp:tcp_retransmit_synack: \
                 TIME_WAIT is derived from FIN_WAIT2/CLOSING -> CLOSE and ended 60 s later, SYN-ACK \
                 retransmissions are not counted"
            ]
        );
    }

    #[test]
    fn unexpected_failures_are_warned_about_one_by_one() {
        let mut h = hooks(vec![
            failed(Hook::SynackRetrans, Failure::Other),
            failed(Hook::ReqStart, Failure::Refused),
        ]);
        h.program = StateProgram::Classic {
            btf_err: "no kernel BTF".into(),
        };
        let notes = startup_notes(&h);
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].starts_with("warning: tracepoint tcp:tcp_retransmit_synack: format mismatch"));
        assert!(
            notes[1].starts_with("state changes from the classic tracepoint"),
            "{notes:?}"
        );
        assert!(notes[1].contains("three times"), "{notes:?}");
        assert_eq!(
            notes[2],
            "fentry/fexit programs are not permitted by this kernel (EPERM); some hooks failed (above): \
             half-open connections from the socket table (this namespace's only)"
        );
    }

    #[test]
    fn the_accept_fallback_says_what_it_costs() {
        let mut h = hooks(vec![failed(Hook::Accept, Failure::Refused)]);
        h.attached.push(Hook::AcceptSys);
        h.attached.push(Hook::Accept4Sys);
        let notes = startup_notes(&h);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("0.8 µs per accept"), "{notes:?}");
    }
}
