# Generates trunc-ipv4.pcap and trunc-ipv6.pcap: a few packets of each kind, each repeated
# with every capture length from the end of the link header to the whole frame, so that every header and field is
# cut at every byte (where tcpdump either longjmps out of its printers or prints ` [|proto]`
# and returns, which -x/-X/-A tell apart by where the dump starts).
# Run from this directory: python3 trunc-craft.py
import struct


def pcap(name, frames, linktype=1):
    with open(name, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, linktype))
        n = 0
        for frame in frames:
            # From the end of the link header (VLAN included) on: the link printers are
            # tested elsewhere.
            start = 18 if frame[12:14] == b'\x81\x00' else 14
            for cut in range(start, len(frame) + 1):
                f.write(struct.pack('<IIII', 1000 + n, 0, cut, len(frame)))
                f.write(frame[:cut])
                n += 1


def eth(t, vlan=False):
    h = b'\x02\0\0\0\0\x02\x02\0\0\0\0\x01'
    if vlan:
        h += struct.pack('>HH', 0x8100, 10)
    return h + struct.pack('>H', t)


A = b'\x0a\0\0\x01'
B = b'\x0a\0\0\x02'


def ip4(proto, l4, opts=b'', src=A, dst=B, off=0x4000):
    hl = 5 + len(opts) // 4
    return struct.pack('>BBHHHBBH', 0x40 | hl, 0, hl * 4 + len(l4), 1, off, 64, proto, 0) + src + dst + opts + l4


S6 = b'\xfd' + b'\0' * 14 + b'\x01'
D6 = b'\xfd' + b'\0' * 14 + b'\x02'


def ip6(nh, l4, plen=None):
    plen = len(l4) if plen is None else plen
    return struct.pack('>IHBB', 0x60000000, plen, nh, 64) + S6 + D6 + l4


def tcp(sp, dp, seq, ack, flags, opts=b'', payload=b''):
    off = (20 + len(opts)) // 4
    return struct.pack('>HHIIBBHHH', sp, dp, seq, ack, off << 4, flags, 1000, 0, 0) + opts + payload


def udp(sp, dp, payload):
    return struct.pack('>HHHH', sp, dp, 8 + len(payload), 0) + payload


def name(s):
    out = b''
    for part in s.split('.'):
        out += bytes([len(part)]) + part.encode()
    return out + b'\0'


def dns_query(qid, qname, rd=True):
    return struct.pack('>HHHHHH', qid, 0x0100 if rd else 0, 1, 0, 0, 0) + name(qname) + struct.pack('>HH', 1, 1)


def dns_response(qid, qname):
    q = name(qname) + struct.pack('>HH', 1, 1)
    an = b'\xc0\x0c' + struct.pack('>HHIH', 1, 1, 300, 4) + b'\x5d\xb8\xd8\x22'
    an += b'\xc0\x0c' + struct.pack('>HHIH', 5, 1, 60, 6) + b'\x03www\xc0\x0c'
    ns = b'\xc0\x0c' + struct.pack('>HHIH', 2, 1, 3600, 6) + b'\x03ns1\xc0\x0c'
    ar = b'\0' + struct.pack('>HHIH', 41, 4096, 0, 8) + struct.pack('>HH', 10, 4) + b'abcd'
    return struct.pack('>HHHHHH', qid, 0x8180, 1, 2, 1, 1) + q + an + ns + ar


SYN_OPTS = b'\x02\x04\x05\xb4\x04\x02\x08\x0a\0\0\x01\x00\0\0\0\0\x01\x03\x03\x07'
ACK_OPTS = b'\x01\x01\x08\x0a\0\0\x01\x01\0\0\x02\x02\x01\x01\x05\x0a\0\0\x03\xe8\0\0\x07\xd0'
ODD_OPTS = b'\x1e\x0c\x02\x00\x12\x34\x56\x78\x9a\xbc\xde\xf0' + b'\x22\x06\x01\x02\x03\x04' + b'\x63\x04\xab\xcd'
SIG_OPTS = b'\x13\x12' + bytes(range(16)) + b'\x1c\x04\x00\x03'
HTTP = b'GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n'

v4 = [
    eth(0x800) + ip4(6, tcp(40000, 80, 1000, 0, 0x02, SYN_OPTS)),
    eth(0x800) + ip4(6, tcp(80, 40000, 5000, 1001, 0x12, SYN_OPTS)),
    eth(0x800) + ip4(6, tcp(40000, 80, 1001, 5001, 0x18, ACK_OPTS, HTTP)),
    eth(0x800) + ip4(6, tcp(40000, 5555, 1, 2, 0x18, ODD_OPTS, b'xy')),
    eth(0x800) + ip4(6, tcp(40000, 179, 1, 2, 0x02, SIG_OPTS)),
    eth(0x800) + ip4(6, tcp(40000, 22, 1, 2, 0x18, b'', b'SSH-2.0-OpenSSH_9.2\r\n')),
    eth(0x800) + ip4(6, tcp(25, 40000, 1, 2, 0x18, b'', b'220 mail.example ESMTP\r\n')),
    eth(0x800) + ip4(6, tcp(40000, 9999, 1, 2, 0x14, b'', b'connection reset')),
    eth(0x800) + ip4(6, tcp(40000, 53, 1, 2, 0x18, b'', struct.pack('>H', 29) + dns_query(7, 'example.com'))),
    eth(0x800) + ip4(17, udp(40000, 53, dns_query(0x1234, 'www.example.org'))),
    eth(0x800) + ip4(17, udp(53, 40000, dns_response(0x1234, 'example.org'))),
    eth(0x800) + ip4(17, udp(5353, 5353, dns_query(0, 'host.local', rd=False))),
    eth(0x800) + ip4(17, udp(40000, 4444, b'hello')),
    # IP options: RR, NOP, timestamp
    eth(0x800) + ip4(6, tcp(40000, 8080, 1, 2, 0x10), opts=b'\x07\x07\x04\x0a\0\0\x05\x01\x44\x0c\x05\x00\0\0\0\x01\0\0\0\x02'),
    # ICMP port unreachable quoting IPv4 + UDP
    eth(0x800) + ip4(1, struct.pack('>BBHI', 3, 3, 0, 0) + ip4(17, udp(40000, 4444, b'hi'), src=B, dst=A)[:28]),
    # IPv4 in IPv4 with TCP inside
    eth(0x800) + ip4(4, ip4(6, tcp(1, 2, 3, 4, 0x02, b'\x02\x04\x05\xb4'))),
    # VLAN, IPv4, UDP
    eth(0x800, vlan=True) + ip4(17, udp(1000, 2000, b'abcd')),
    # TCP-AO, SACK permitted, window scale; an HTTP response (-v prints each line)
    eth(0x800) + ip4(6, tcp(80, 40000, 5001, 1045, 0x18, b'\x1d\x08\x01\x02\xaa\xbb\xcc\xdd\x04\x02\x03\x03\x07\x00',
                            b'HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 2\r\n\r\nhi')),
    # ICMP time exceeded quoting IPv4 + TCP
    eth(0x800) + ip4(1, struct.pack('>BBHI', 11, 0, 0, 0) + ip4(6, tcp(40000, 80, 1, 0, 0x02), src=A, dst=B)[:28]),
    # DNS response over TCP
    eth(0x800) + ip4(6, tcp(53, 40000, 1, 2, 0x18, b'', struct.pack('>H', len(dns_response(7, 'example.com')))
                                                 + dns_response(7, 'example.com'))),
    # a later fragment
    eth(0x800) + ip4(17, b'abcdefgh', off=0x00b9),
]

v6 = [
    eth(0x86dd) + ip6(6, tcp(40000, 80, 1000, 0, 0x02, SYN_OPTS)),
    eth(0x86dd) + ip6(6, tcp(40000, 80, 1001, 5001, 0x18, ACK_OPTS, HTTP)),
    eth(0x86dd) + ip6(17, udp(40000, 53, dns_query(0x4321, 'example.net'))),
    eth(0x86dd) + ip6(17, udp(40000, 4444, b'hello')),
    # hop-by-hop (router alert, padn), destination options, routing type 0, fragment, UDP
    eth(0x86dd) + ip6(0, b'\x3c\x00\x05\x02\x00\x00\x01\x00'
                      + b'\x2b\x00\x01\x04\x00\x00\x00\x00'
                      + b'\x2c\x02\x00\x01\x00\x00\x00\x00' + S6
                      + b'\x11\x00\x00\x00\x12\x34\x56\x78'
                      + udp(1000, 2000, b'abcd')),
    # segment routing header (type 4) then TCP
    eth(0x86dd) + ip6(43, b'\x06\x02\x04\x00\x00\x00\x00\x00' + D6 + tcp(1, 2, 3, 4, 0x02)),
    # IPv6 in IPv6
    eth(0x86dd) + ip6(41, ip6(17, udp(1, 2, b'xyz'))),
    # ICMPv6 echo request
    eth(0x86dd) + ip6(58, b'\x80\x00\x00\x00\x00\x05\x00\x01abcd'),
    # hop-by-hop Jumbo Payload option with a zero payload length, then UDP
    eth(0x86dd) + ip6(0, b'\x11\x00\xc2\x04\x00\x01\x00\x10' + udp(1, 2, b'abcd') + b'\0' * 4, plen=0),
    # IPv4 in IPv6, TCP inside
    eth(0x86dd) + ip6(4, ip4(6, tcp(1, 2, 3, 4, 0x10, b'\x01\x01\x08\x0a\0\0\0\1\0\0\0\2'))),
    # a later fragment; an atomic fragment with TCP
    eth(0x86dd) + ip6(44, b'\x11\x00\x05\xc8\x12\x34\x56\x78' + b'abcdefgh'),
    eth(0x86dd) + ip6(44, b'\x06\x00\x00\x00\x12\x34\x56\x78' + tcp(1, 2, 3, 4, 0x02, b'\x02\x04\x05\xb4')),
    # mDNS response over IPv6
    eth(0x86dd) + ip6(17, udp(5353, 5353, dns_response(0, 'host.local'))),
]

pcap('trunc-ipv4.pcap', v4)
pcap('trunc-ipv6.pcap', v6)
