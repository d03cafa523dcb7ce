//! Helpers for the privileged end-to-end tests of `tracer`.
//!
//! The tests create their own network namespaces joined by a veth pair
//! ([`NetnsPair`]), start processes inside them with
//! `nsenter --net=/var/run/netns/NAME` ([`Bg`], [`in_netns`]) — not
//! `ip netns exec`, which remounts /sys and hides tracefs — and compare what
//! the tracer prints and writes with what the real tcpdump sees on the same
//! interface. Everything started is killed and removed by guards, even when
//! a test fails or panics.
//!
//! These tests need root. They are not part of plain `cargo test`; run them
//! with `cargo xtask test`, which sets `TRACER_TESTS_NO_SKIP=1` so that a
//! missing precondition fails instead of skipping.

pub mod env;
pub mod lines;
pub mod netns;
pub mod process;
pub mod states;
pub mod states_json;

pub use env::{artifact_dir, require_privileges, scaled, tracer_bin};
pub use netns::NetnsPair;
pub use process::{Bg, Finished, in_netns, run};
