//! One printer per protocol, tcpdump 4.99.3 output.
