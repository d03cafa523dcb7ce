//! Where the capture filter runs: three stub functions, one per kind of frame the packet
//! programs see (XDP ingress, TC ingress, TC egress), each `FILTER_STUB_INSNS` instructions
//! long. User space translates libpcap's classic BPF into eBPF instructions for each kind
//! (tracer/src/filter/translate.rs) and writes them over the stub's instructions in the object
//! file before it is loaded (tracer/src/capture/splice.rs): the filter then runs as
//! straight-line code, called like any function (r1 = the context, r0 = how many bytes to
//! keep, 0 = not matched).
//!
//! The stubs are `goto +0` instructions (the verifier removes those after checking, and the
//! JIT emits nothing for them) ending in `w0 = -1; exit`: a translated filter takes the tail
//! of the stub and the `goto +0`s in front of it fall through into its first instruction.
//! Without a filter `FILTER_ON` is 0, a constant in the frozen read-only data the verifier
//! reads, so it never walks a stub and removes it with the other dead code: an unfiltered
//! capture carries no filter code at all.
//!
//! The stubs have internal linkage, so that their BTF says `static`: the verifier checks them
//! as part of each caller, knowing r1 is the context, which allows direct packet access.
//! Their bodies differ in the returned constant so that nothing merges them. The compiler may
//! add an instruction or two around the assembly: user space takes each stub's size from its
//! symbol, and the translated code ends in its own `exit`s.

use core::ffi::c_void;

use tracer_common::FILTER_STUB_INSNS;

/// 1 when the stubs hold a filter. Set by the loader.
#[unsafe(no_mangle)]
static FILTER_ON: u32 = 0;

// The `.rept` counts below are FILTER_STUB_INSNS - 2.
const _: () = assert!(FILTER_STUB_INSNS == 8192);

/// One stub: `goto +0`s, then `w0 = ret`, in one assembly block the compiler cannot look
/// into, followed by the function's `exit`. An ordinary function (not a naked one) so that
/// it gets its BTF description, which the kernel wants for every function of a program.
macro_rules! stub {
    ($name:ident, $ret:literal) => {
        #[inline(never)]
        fn $name(ctx: *mut c_void) -> u32 {
            let ret: u32;
            // SAFETY: no memory is touched; r1 holds the context for a spliced filter, which
            // may clobber r1–r5 (a call's clobbers) and leaves its result in r0.
            unsafe {
                core::arch::asm!(
                    ".rept 8190",
                    "goto +0",
                    ".endr",
                    concat!("w0 = ", $ret),
                    inout("r1") ctx => _,
                    lateout("r0") ret,
                    out("r2") _,
                    out("r3") _,
                    out("r4") _,
                    out("r5") _,
                    options(nostack),
                );
            }
            ret
        }
    };
}

stub!(tracer_filter_xdp, "-1");
stub!(tracer_filter_tc_ingress, "-2");
stub!(tracer_filter_tc_egress, "-3");

/// Which stub a hook runs.
#[derive(Clone, Copy)]
pub enum Stub {
    Xdp,
    TcIngress,
    TcEgress,
}

/// Runs the filter over the packet behind `ctx`: 0 when it does not match, else how many
/// bytes of it to keep. Without a filter every packet matches in full.
#[inline(always)]
pub fn run(ctx: *mut c_void, stub: Stub) -> u32 {
    // SAFETY: a global set once at load time; volatile so that the loader's value is read
    // (the verifier then knows it: read-only data is frozen).
    if unsafe { core::ptr::read_volatile(&FILTER_ON) } == 0 {
        return u32::MAX;
    }
    match stub {
        Stub::Xdp => tracer_filter_xdp(ctx),
        Stub::TcIngress => tracer_filter_tc_ingress(ctx),
        Stub::TcEgress => tracer_filter_tc_egress(ctx),
    }
}
