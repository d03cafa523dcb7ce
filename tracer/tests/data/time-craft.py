# Generates time-nsec.pcap, time-nsec-be.pcap, time-usec.pcap and time-usec-be.pcap: one UDP packet
# per record, whose time stamp fields are out of range in every way a capture file allows, for
# tcpdump's -t ... -ttttt and --nano. libpcap hands the fields to tcpdump unnormalised as `long`s:
# sign-extended from a file in the host's byte order, zero-extended from a byte-swapped one; a
# nanosecond field is divided by 1000 without --nano (truncated toward zero), a microsecond one
# multiplied by 1000 with it; tcpdump prints the result with %06u / %09u of an unsigned int.
# Run from this directory: python3 time-craft.py
import struct

# (seconds, sub-second field), in this order: the deltas of -ttt and -ttttt go back and forth.
RECORDS = [
    (0, 500),  # zero at microsecond precision: the delta formats' reference is "not set"
    (1000, 5),
    (1000, 999999999),  # the largest valid nanosecond field
    (1001, 1000000),  # one past the largest microsecond field
    (1001, 1000000000),  # one past the largest nanosecond field
    (1001, 2147483647),
    (1002, 2147483648),  # bit 31: negative in the host's byte order
    (1002, 4292819813),
    (1003, 4294967295),
    (1003, 0),  # earlier than the packet before it: a negative delta
    (0x80000000, 7),  # seconds with bit 31 set: "[Error converting time]"
    (1004, 1),
    (0xFFFFFFFF, 999999),
    (1005, 1234567),
]


def udp_frame(i):
    udp = struct.pack('>HHHH', 40000 + i, 40100, 12, 0) + b'time'
    ip = struct.pack('>BBHHHBBH', 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0) + bytes([10, 0, 0, 1, 10, 0, 0, 2])
    return b'\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00' + ip + udp


def pcap(name, magic, endian):
    with open(name, 'wb') as f:
        f.write(struct.pack(endian + 'IHHiIII', magic, 2, 4, 0, 0, 65535, 1))
        for i, (sec, frac) in enumerate(RECORDS):
            data = udp_frame(i)
            f.write(struct.pack(endian + 'IIII', sec, frac, len(data), len(data)))
            f.write(data)


pcap('time-nsec.pcap', 0xA1B23C4D, '<')
pcap('time-nsec-be.pcap', 0xA1B23C4D, '>')
pcap('time-usec.pcap', 0xA1B2C3D4, '<')
pcap('time-usec-be.pcap', 0xA1B2C3D4, '>')
