//! Zero-copy header views, smoltcp style: one check_len() up front, then infallible accessors.
