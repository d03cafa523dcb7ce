#!/usr/bin/env python3
"""Crafted ICMP / ICMPv6 / ARP frames (Ethernet) for comparing tracer with tcpdump 4.99.3.

usage: icmp-craft.py DIR            writes DIR/icmp-crafted.pcap, DIR/arp-crafted.pcap and
                                    DIR/icmp-truncated.pcap (each frame cut at several lengths)
       icmp-craft.py OUT --fuzz N SEED   N randomly corrupted and cut frames (not committed)"""
import struct, sys, random

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

SRC = bytes([10,0,0,1]); DST = bytes([10,0,0,2])
MAC1 = bytes.fromhex('020000000001'); MAC2 = bytes.fromhex('de54c5a3e073')

def ip4(proto, payload, src=SRC, dst=DST, ttl=64, ident=1, off=0x4000, tos=0, opts=b'', tot=None):
    hl = 5 + len(opts)//4
    tl = tot if tot is not None else 20 + len(opts) + len(payload)
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | hl, tos, tl, ident, off, ttl, proto, 0, src, dst) + opts
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + payload

def icmp(t, c, rest, body=b'', good=True):
    m = struct.pack('!BBH', t, c, 0) + rest + body
    if good:
        m = m[:2] + struct.pack('!H', csum(m)) + m[4:]
    else:
        m = m[:2] + b'\x12\x34' + m[4:]
    return m

def eth(t, payload, dst=MAC2, src=MAC1):
    return dst + src + struct.pack('!H', t) + payload

def udp(sp, dp, data=b''):
    return struct.pack('!HHHH', sp, dp, 8 + len(data), 0) + data

def tcp(sp, dp):
    return struct.pack('!HHIIBBHHH', sp, dp, 1000, 0, 0x50, 0x02, 8192, 0, 0)

S6 = bytes.fromhex('fe800000000000000000000000000001')
D6 = bytes.fromhex('20010db8000000000000000000000002')
M6 = bytes.fromhex('ff020000000000000000000000000001')

def ip6(nh, payload, src=S6, dst=D6, hlim=255, plen=None):
    pl = len(payload) if plen is None else plen
    return struct.pack('!IHBB', 0x60000000, pl, nh, hlim) + src + dst + payload

def icmp6(t, c, rest, body=b'', src=S6, dst=D6, good=True):
    m = struct.pack('!BBH', t, c, 0) + rest + body
    ph = src + dst + struct.pack('!IxxxB', len(m), 58)
    s = csum(ph + m) if good else 0x1234
    return ip6(58, m[:2] + struct.pack('!H', s) + m[4:], src, dst)

def e4(p): return eth(0x0800, p)
def e6(p): return eth(0x86dd, p)

pk = []
# ---- ICMPv4
q_udp = ip4(17, udp(12345, 53, b'abcd'), src=DST, dst=SRC)
q_tcp = ip4(6, tcp(40000, 80), src=DST, dst=SRC)
q_other = ip4(99, b'\0\0\x08\0' * 2, src=DST, dst=SRC)
q_icmp = ip4(1, icmp(8, 0, b'\0\1\0\1', b'x'*8), src=DST, dst=SRC)
for t, c in [(8,0),(0,0)]:
    pk.append(e4(ip4(1, icmp(t, c, struct.pack('!HH', 1, 1), bytes(range(56))))))
pk.append(e4(ip4(1, icmp(8, 0, struct.pack('!HH', 77, 9), b'hello', good=False))))
for code in list(range(16)) + [99]:
    pk.append(e4(ip4(1, icmp(3, code, b'\0\0\0\0', q_udp))))
for q in (q_tcp, q_other, q_icmp):
    pk.append(e4(ip4(1, icmp(3, 3, b'\0\0\0\0', q))))
    pk.append(e4(ip4(1, icmp(3, 2, b'\0\0\0\0', q))))
pk.append(e4(ip4(1, icmp(3, 3, b'\0\0\0\0', ip4(17, udp(5353, 161), src=DST, dst=SRC)))))
pk.append(e4(ip4(1, icmp(3, 4, b'\0\0\x05\x78', q_udp))))
pk.append(e4(ip4(1, icmp(3, 4, b'\0\0\0\0', q_tcp))))
for code in (0, 1, 2, 3, 7):
    pk.append(e4(ip4(1, icmp(5, code, bytes([192,168,1,254]), q_tcp))))
for code in (0, 1, 5):
    pk.append(e4(ip4(1, icmp(11, code, b'\0\0\0\0', q_udp))))
pk.append(e4(ip4(1, icmp(12, 0, b'\x14\0\0\0', q_udp))))
pk.append(e4(ip4(1, icmp(12, 1, b'\0\0\0\0', q_udp))))
pk.append(e4(ip4(1, icmp(4, 0, b'\0\0\0\0', q_tcp))))
pk.append(e4(ip4(1, icmp(13, 0, struct.pack('!HH', 5, 6), struct.pack('!III', 3723004, 0, 0)))))
pk.append(e4(ip4(1, icmp(14, 0, struct.pack('!HH', 5, 6), struct.pack('!III', 3723004, 3723010, 86399999)))))
pk.append(e4(ip4(1, icmp(9, 0, struct.pack('!BBH', 2, 2, 1800), bytes([10,0,0,9,0,0,0,5,10,0,0,8,0,0,0,1])))))
pk.append(e4(ip4(1, icmp(9, 0, struct.pack('!BBH', 1, 2, 30), bytes([10,0,0,9,0,0,0,5])))))
pk.append(e4(ip4(1, icmp(9, 0, struct.pack('!BBH', 1, 3, 7200), bytes([10,0,0,9,0,0,0,5,0,0,0,0])))))
pk.append(e4(ip4(1, icmp(10, 0, b'\0\0\0\0'))))
for t in (15, 16, 17):
    pk.append(e4(ip4(1, icmp(t, 0, struct.pack('!HH', 3, 4)))))
pk.append(e4(ip4(1, icmp(18, 0, struct.pack('!HH', 3, 4), bytes([255,255,255,0])))))
pk.append(e4(ip4(1, icmp(40, 3, b'\0\0\0\0', b'zz'))))
pk.append(e4(ip4(1, icmp(8, 0, struct.pack('!HH', 1, 2), b'A'*100), off=0x2000)))  # MF: no checksum with -v
# multipart extension: time exceeded with 128 bytes of original datagram + MPLS label stack object
orig = ip4(17, udp(33434, 33435, b'\0' * 100), src=DST, dst=bytes([8,8,8,8]), ttl=1)[:128]
obj = struct.pack('!HBB', 8, 1, 1) + struct.pack('!I', (16 << 12) | (0 << 9) | 0x100 | 1)
ext = struct.pack('!BBH', 0x20, 0, 0) + obj
ext = ext[:2] + struct.pack('!H', csum(ext)) + ext[4:]
pk.append(e4(ip4(1, icmp(11, 0, b'\0\x20\0\0', orig + ext))))
ext2 = struct.pack('!BBH', 0x20, 0, 0) + struct.pack('!HBB', 12, 2, 3) + b'\1\2\3\4\5\6\7\x08'
ext2 = ext2[:2] + struct.pack('!H', csum(ext2)) + ext2[4:]
pk.append(e4(ip4(1, icmp(3, 3, b'\0\x20\0\0', orig + ext2))))
pk.append(e4(ip4(1, icmp(11, 0, b'\0\0\0\0', orig + b'\x20\0\xff\xff' + obj))))   # no length, bad ext cksum: silent
pk.append(e4(ip4(1, icmp(11, 0, b'\0\x20\0\0', orig + b'\x10\0\0\0' + obj))))    # version 1
# ---- ICMPv6
q6 = ip6(17, udp(5000, 53, b'q'), src=D6, dst=S6)
q6t = ip6(6, tcp(5000, 443), src=D6, dst=S6)
q6h = ip6(0, bytes([17, 0, 1, 4, 0, 0, 0, 0]) + udp(5000, 123), src=D6, dst=S6)
q6x = ip6(50, b'\0' * 16, src=D6, dst=S6)
for code in range(6):
    pk.append(e6(icmp6(1, code, b'\0\0\0\0', q6)))
pk.append(e6(icmp6(1, 4, b'\0\0\0\0', q6t)))
pk.append(e6(icmp6(1, 4, b'\0\0\0\0', q6h)))
pk.append(e6(icmp6(1, 4, b'\0\0\0\0', q6x)))
pk.append(e6(icmp6(2, 0, struct.pack('!I', 1280), q6)))
for code in (0, 1, 2):
    pk.append(e6(icmp6(3, code, b'\0\0\0\0', q6)))
for code in (0, 1, 2, 3, 4):
    pk.append(e6(icmp6(4, code, struct.pack('!I', 40), q6)))
pk.append(e6(icmp6(128, 0, struct.pack('!HH', 7, 1), b'ping')))
pk.append(e6(icmp6(129, 0, struct.pack('!HH', 7, 1), b'ping')))
pk.append(e6(icmp6(128, 0, struct.pack('!HH', 7, 2), b'ping', good=False)))
mc = bytes.fromhex('ff0200000000000000000001ff000002')
pk.append(e6(icmp6(130, 0, struct.pack('!HH', 1000, 0), bytes(16), dst=M6)))
pk.append(e6(icmp6(130, 0, struct.pack('!HH', 10000, 0), bytes(16) + bytes([0x0a, 125, 0, 0]), dst=M6)))
pk.append(e6(icmp6(130, 0, struct.pack('!HH', 0x8123, 0), mc + bytes([0x02, 0x90, 0, 2]) + S6 + D6, dst=M6)))
pk.append(e6(icmp6(130, 0, struct.pack('!HH', 1, 0), mc + bytes([0x02, 0x90, 0, 5]) + S6, dst=M6)))
pk.append(e6(icmp6(130, 0, struct.pack('!HH', 1, 0), mc[:10], dst=M6)))
pk.append(e6(icmp6(131, 0, b'\0\0\0\0', mc, dst=mc)))
pk.append(e6(icmp6(132, 0, b'\0\0\0\0', mc, dst=M6)))
grp = lambda t, n: bytes([t, 0]) + struct.pack('!H', n) + mc + S6 * n
pk.append(e6(icmp6(143, 0, struct.pack('!HH', 0, 3), grp(4, 0) + grp(3, 2) + grp(9, 1), dst=bytes.fromhex('ff020000000000000000000000000016'))))
pk.append(e6(icmp6(143, 0, struct.pack('!HH', 0, 3), grp(1, 0), dst=M6)))
pk.append(e6(icmp6(143, 0, struct.pack('!HH', 0, 1), grp(2, 5), dst=M6)))
sll = bytes([1, 1]) + MAC1
tll = bytes([2, 1]) + MAC1
pk.append(e6(icmp6(133, 0, b'\0\0\0\0', sll, dst=bytes.fromhex('ff020000000000000000000000000002'))))
pk.append(e6(icmp6(133, 0, b'\0\0\0\0', b'', dst=bytes.fromhex('ff020000000000000000000000000002'))))
pi = bytes([3, 4, 64, 0xe0]) + struct.pack('!III', 2592000, 604800, 0) + bytes.fromhex('20010db8000100000000000000000000')
mtu = bytes([5, 1, 0, 0]) + struct.pack('!I', 1500)
rdnss = bytes([25, 5, 0, 0]) + struct.pack('!I', 3600) + D6 + S6
dnssl = bytes([31, 3, 0, 0]) + struct.pack('!I', 600) + b'\x07example\x03com\x00\x00\x00\x00'
advi = bytes([7, 1, 0, 0]) + struct.pack('!I', 5000)
hai = bytes([8, 1, 0, 0]) + struct.pack('!HH', 10, 1800)
rti1 = bytes([24, 1, 0, 0x08]) + struct.pack('!I', 0xffffffff)
rti2 = bytes([24, 2, 48, 0x18]) + struct.pack('!I', 300) + bytes.fromhex('20010db800010000')
rti3 = bytes([24, 3, 64, 0x10]) + struct.pack('!I', 300) + bytes.fromhex('20010db8000100020000000000000000')
unk = bytes([99, 1, 1, 2, 3, 4, 5, 6])
ra = lambda opts, fl=0xc0: icmp6(134, 0, struct.pack('!BBH', 64, fl, 1800), struct.pack('!II', 30000, 1000) + opts, dst=M6)
pk.append(e6(ra(sll + pi + mtu + rdnss)))
pk.append(e6(ra(dnssl + advi + hai + rti1 + rti2 + rti3, 0x3a)))
pk.append(e6(ra(unk + sll, 0x18)))
pk.append(e6(ra(mtu[:2] + b'\0\0\0\0\0\0' + bytes([5, 2]) + b'\0' * 14)))
pk.append(e6(ra(bytes([3, 3]) + pi[2:24])))
pk.append(e6(ra(bytes([1, 0, 0, 0]))))
pk.append(e6(ra(sll + bytes([4, 2]) + b'\0' * 14)))
tgt = bytes.fromhex('fe800000000000000000000000000002')
pk.append(e6(icmp6(135, 0, b'\0\0\0\0', tgt + sll, dst=bytes.fromhex('ff0200000000000000000001ff000002'))))
pk.append(e6(icmp6(135, 0, b'\0\0\0\0', tgt, dst=tgt)))
for fl in (0xe0000000, 0x40000000, 0):
    pk.append(e6(icmp6(136, 0, struct.pack('!I', fl), tgt + tll, dst=S6)))
pk.append(e6(icmp6(137, 0, b'\0\0\0\0', tgt + D6 + tll + bytes([4, 2]) + b'\0' * 14)))
pk.append(e6(icmp6(138, 0, struct.pack('!I', 0), bytes([0, 0xf8, 0, 5, 0, 0, 0, 1]) + bytes([1, 7, 1, 48, 0, 128, 0, 0]) + bytes.fromhex('fec00000000000000000000000000000') + bytes([48, 16, 0xff, 0xc0]) + struct.pack('!III', 0xffffffff, 600, 0xc0000000) + bytes.fromhex('3ffe05010000fffe0000000000000000'))))
pk.append(e6(icmp6(138, 1, struct.pack('!I', 2), bytes(8))))
pk.append(e6(icmp6(138, 255, struct.pack('!I', 2), bytes(8))))
pk.append(e6(icmp6(139, 0, struct.pack('!HH', 2, 0), bytes(8) + b'\x04host\x05local\x00')))
pk.append(e6(icmp6(139, 1, struct.pack('!HH', 2, 0), bytes(8) + b'\x04host\x05local\x00')))
pk.append(e6(icmp6(139, 2, struct.pack('!HH', 4, 0), bytes(8) + bytes([10, 0, 0, 3]))))
pk.append(e6(icmp6(139, 0, struct.pack('!HH', 1, 1), bytes(8))))
pk.append(e6(icmp6(139, 0, struct.pack('!HH', 0, 0), bytes(8))))
pk.append(e6(icmp6(139, 0, struct.pack('!HH', 3, 0x7e), bytes(8) + tgt)))
pk.append(e6(icmp6(139, 0, b'\0\0\0\0', b'1234')))
pk.append(e6(icmp6(140, 0, struct.pack('!HH', 2, 1), bytes(8) + struct.pack('!I', 300) + b'\x04host\x05local\x00')))
pk.append(e6(icmp6(140, 0, struct.pack('!HH', 3, 0x7f), bytes(8) + struct.pack('!I', 300) + tgt + struct.pack('!I', 10) + D6)))
pk.append(e6(icmp6(140, 1, struct.pack('!HH', 3, 0), bytes(8))))
pk.append(e6(icmp6(140, 2, struct.pack('!HH', 3, 0), bytes(10))))
pk.append(e6(icmp6(140, 0, struct.pack('!HH', 0, 0), bytes(8))))
pk.append(e6(icmp6(140, 0, struct.pack('!HH', 1, 1), bytes(8))))
pk.append(e6(icmp6(141, 0, b'\0\0\0\0', sll)))
pk.append(e6(icmp6(142, 0, b'\0\0\0\0', tll)))
pk.append(e6(icmp6(144, 0, struct.pack('!HH', 0x1234, 0))))
pk.append(e6(icmp6(145, 0, struct.pack('!HH', 0x1234, 0), D6 + tgt)))
pk.append(e6(icmp6(146, 0, struct.pack('!HH', 0x4321, 0))))
pk.append(e6(icmp6(147, 0, struct.pack('!HH', 0x4321, 0xc000), pi)))
dio = bytes([1, 2, 0, 0x80, 0x88 | 2, 7, 0, 0]) + tgt + bytes([0]) + bytes([4, 2, 1, 2])
pk.append(e6(icmp6(155, 1, dio[:4], dio[4:], dst=M6)))
dao = bytes([1, 0xc0, 0, 9]) + tgt + bytes([5, 4, 0, 64, 0x20, 0x01])
pk.append(e6(icmp6(155, 2, dao[:4], dao[4:], dst=M6)))
pk.append(e6(icmp6(155, 2, bytes([1, 0x00, 0, 9]), bytes(16), dst=M6)))
pk.append(e6(icmp6(155, 3, bytes([1, 0x80, 9, 0]), tgt, dst=M6)))
pk.append(e6(icmp6(155, 0, bytes([0, 0, 0, 0]), b'', dst=M6)))
pk.append(e6(icmp6(155, 0x81, bytes([0, 0, 0, 0]), b'', dst=M6)))
pk.append(e6(icmp6(155, 9, bytes([0, 0, 0, 0]), b'', dst=M6)))
pk.append(e6(icmp6(200, 0, b'\0\0\0\0', b'mtrace')))
pk.append(e6(icmp6(151, 0, b'\0\0\0\0', b'')))
pk.append(e6(icmp6(250, 3, b'\1\2\3\4', b'zzzz')))
# ICMPv6 over an IPv6 fragment header (first fragment): no checksum with -v
frag = bytes([58, 0, 0, 1, 0, 0, 0, 7])
m = icmp6(128, 0, struct.pack('!HH', 9, 9), b'x' * 32)[40:]
pk.append(e6(ip6(44, frag + m)))
# ---- ARP
def arp(hrd, pro, hln, pln, op, sha, spa, tha, tpa):
    return struct.pack('!HHBBH', hrd, pro, hln, pln, op) + sha + spa + tha + tpa
A1 = bytes([10, 0, 0, 1]); A2 = bytes([10, 0, 0, 2])
BC = b'\xff' * 6
pk.append(eth(0x0806, arp(1, 0x0800, 6, 4, 1, MAC1, A1, bytes(6), A2), dst=BC))
pk.append(eth(0x0806, arp(1, 0x0800, 6, 4, 1, MAC1, A1, MAC2, A2), dst=BC))
pk.append(eth(0x0806, arp(1, 0x0800, 6, 4, 1, MAC1, A1, BC, A2), dst=BC))
pk.append(eth(0x0806, arp(1, 0x0800, 6, 4, 2, MAC2, A2, MAC1, A1) + bytes(18), dst=MAC1, src=MAC2))
pk.append(eth(0x0806, arp(1, 0x0800, 6, 4, 1, MAC1, A1, bytes(6), A1), dst=BC))  # gratuitous
pk.append(eth(0x8035, arp(1, 0x0800, 6, 4, 3, MAC1, bytes(4), MAC1, bytes(4)), dst=BC))
pk.append(eth(0x8035, arp(1, 0x0800, 6, 4, 4, MAC2, A2, MAC1, A1), dst=MAC1))
pk.append(eth(0x0806, arp(1, 0x0800, 6, 4, 8, MAC1, A1, MAC2, bytes(4))))
pk.append(eth(0x0806, arp(1, 0x0800, 6, 4, 9, MAC2, A2, MAC1, A1)))
pk.append(eth(0x0806, arp(1, 0x0800, 6, 4, 10, MAC2, A2, MAC1, A1)))
pk.append(eth(0x0806, arp(1, 0x0800, 6, 4, 77, MAC2, A2, MAC1, A1)))
pk.append(eth(0x0806, arp(6, 0x0800, 6, 4, 1, MAC1, A1, bytes(6), A2)))
pk.append(eth(0x0806, arp(1, 0x0800, 8, 4, 1, MAC1 + b'\1\2', A1, bytes(8), A2)))
pk.append(eth(0x0806, arp(1, 0x0800, 8, 4, 2, MAC1 + b'\1\2', A1, bytes(8), A2)))
pk.append(eth(0x0806, arp(1, 0x0800, 0, 4, 1, b'', A1, b'', A2)))
pk.append(eth(0x0806, arp(1, 0x0800, 6, 6, 1, MAC1, A1 + b'\0\0', bytes(6), A2 + b'\0\0')))
pk.append(eth(0x0806, arp(1, 0x86dd, 6, 16, 1, MAC1, S6, bytes(6), D6)))
pk.append(eth(0x0806, arp(1, 0x1234, 6, 4, 1, MAC1, A1, bytes(6), A2)))
pk.append(eth(0x0806, arp(1, 0x1000, 6, 4, 1, MAC1, A1, bytes(6), A2)))
pk.append(eth(0x0806, arp(999, 0x0800, 6, 4, 1, MAC1, A1, bytes(6), A2)))
pk.append(eth(0x0806, arp(15, 0x0800, 2, 4, 9, b'\x04\x01', A1, b'\x04\x11', A2)))
pk.append(eth(0x0806, arp(15, 0x0800, 4, 4, 8, b'\x04\x10\x20\x41', A1, b'\x04\x11\x20\x41', A2)))
pk.append(eth(0x0806, arp(15, 0x0800, 3, 4, 1, b'\x04\x10\x21', A1, b'\x05\x11\x21', A2)))
pk.append(eth(0x0806, arp(15, 0x0800, 1, 4, 1, b'\x04', A1, b'\x04', A2)))
pk.append(eth(0x0806, arp(1, 0x0800, 6, 4, 1, MAC1, A1, bytes(6), A2)[:20]))
atm = lambda op, sh, ss, sp, th, ts, tp, tpl=4, spl=4: struct.pack('!HHBBHBBBB', 19, 0x0800, len(sh) | 0x40 * 0, len(ss), op, spl, len(th), len(ts), tpl) + sh + ss + sp + th + ts + tp
pk.append(eth(0x0806, atm(1, b'\x47' * 20, b'', A1, b'', b'', A2)))
pk.append(eth(0x0806, atm(1, b'\x47' * 20, b'\1\2', A1, b'\x39' * 20, b'\3', A2)))
pk.append(eth(0x0806, atm(2, b'\x47' * 20, b'\1\2', A1, b'\x39' * 20, b'', A2)))
pk.append(eth(0x0806, atm(8, b'\x47' * 3, b'', A1, b'', b'', A2)))
pk.append(eth(0x0806, atm(9, b'\x47' * 3, b'\1', A1, b'\2', b'', A2)))
pk.append(eth(0x0806, atm(10, b'\x47' * 3, b'', A1, b'', b'', A2)))
pk.append(eth(0x0806, atm(3, b'\x47' * 3, b'', A1, b'', b'', A2)))
pk.append(eth(0x0806, atm(1, b'\x47' * 3, b'', A1, b'', b'', A2 + b'\0', tpl=5)))
pk.append(eth(0x0806, atm(1, b'\x47' * 3, b'', A1 + b'\0', b'', b'', A2, spl=5)))
# VLAN-tagged ARP and ICMP
pk.append(eth(0x8100, struct.pack('!HH', 100, 0x0806) + arp(1, 0x0800, 6, 4, 1, MAC1, A1, bytes(6), A2), dst=BC))
pk.append(eth(0x8100, struct.pack('!HH', 0x2064, 0x0800) + ip4(1, icmp(8, 0, struct.pack('!HH', 1, 1), b'v'))))

def write(path, frames, cuts=None):
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        for i, fr in enumerate(frames):
            wl = len(fr)
            cap = fr if cuts is None or cuts[i] is None else fr[:cuts[i]]
            f.write(struct.pack('<IIII', 1000000000 + i, i, len(cap), wl))
            f.write(cap)

def is_arp(f):
    return f[12:14] in (b'\x08\x06', b'\x80\x35') or (f[12:14] == b'\x81\x00' and f[16:18] == b'\x08\x06')

if __name__ == '__main__':
    out = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == '--fuzz':
        n, seed = int(sys.argv[3]), int(sys.argv[4])
        rnd = random.Random(seed)
        frames, cuts = [], []
        for _ in range(n):
            base = bytearray(rnd.choice(pk))
            k = rnd.choice([0, 0, 1, 2, 3, 6])
            for _ in range(k):
                pos = rnd.randrange(14, len(base)) if len(base) > 14 else 0
                base[pos] = rnd.choice([0, 1, 2, 4, 0x80, 0xff, rnd.randrange(256)])
            frames.append(bytes(base))
            cuts.append(rnd.choice([None, None, rnd.randrange(14, len(base) + 1)]))
        write(out, frames, cuts)
    else:
        write(out + '/icmp-crafted.pcap', [f for f in pk if not is_arp(f)])
        write(out + '/arp-crafted.pcap', [f for f in pk if is_arp(f)])
        frames, cuts = [], []
        for fr in pk:
            for c in range(14, len(fr), max(1, len(fr) // 5)):
                frames.append(fr)
                cuts.append(c)
        write(out + '/icmp-truncated.pcap', frames, cuts)
