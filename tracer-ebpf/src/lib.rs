#![no_std]
//! Library target so that `tracer` can name this crate as a build dependency
//! (cargo then rebuilds the daemon when the kernel programs change).
