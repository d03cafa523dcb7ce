//! Reading pcap and pcapng files.
