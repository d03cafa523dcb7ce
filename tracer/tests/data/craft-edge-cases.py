# Generates crafted-edge-cases.pcap: hand-made packets for quirks of tcpdump's printers.
# Run from this directory: python3 craft-edge-cases.py
import struct, sys
def pcap(name, pkts, snap=65535):
    with open(name,'wb') as f:
        f.write(struct.pack('<IHHiIII',0xa1b2c3d4,2,4,0,0,snap,1))
        for i,(data,orig) in enumerate(pkts):
            f.write(struct.pack('<IIII',1000+i,0,len(data),orig)); f.write(data)
def eth(t): return b'\x02\0\0\0\0\x02\x02\0\0\0\0\x01'+struct.pack('>H',t)
def ip4(proto,l4,src=b'\x0a\0\0\x01',dst=b'\x0a\0\0\x02',tl=None,off=0x4000):
    tl=tl if tl is not None else 20+len(l4)
    return struct.pack('>BBHHHBBH',0x45,0,tl,1,off,64,proto,0)+src+dst+l4
def ip6(nh,l4,plen=None):
    plen=len(l4) if plen is None else plen
    return struct.pack('>IHBB',0x60000000,plen,nh,64)+b'\xfd'+b'\0'*14+b'\x01'+b'\xfd'+b'\0'*14+b'\x02'+l4
def tcp(sp,dp,seq,ack,flags,opts=b'',payload=b'',off=None):
    off=off if off is not None else (20+len(opts))//4
    return struct.pack('>HHIIBBHHH',sp,dp,seq,ack,off<<4,flags,1000,0,0)+opts+payload
P=[]
def add(frame, cut=None):
    P.append((frame[:cut] if cut else frame, len(frame)))
# TCP options truncated mid-list after first option
f=eth(0x800)+ip4(6,tcp(1234,80,1,2,0x02,opts=b'\x02\x04\x05\xb4\x08\x0a'+b'\0'*8+b'\x01\x01'))
add(f, 14+20+20+6)
add(f, 14+20+20+8)
add(f, 14+20+20+2)
# HTTP truncated in capture
f=eth(0x800)+ip4(6,tcp(1234,80,1,2,0x18,payload=b'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n'))
add(f, 14+40+10)
# HTTP response on 8080 with LF only
add(eth(0x800)+ip4(6,tcp(8080,5555,1,2,0x18,payload=b'HTTP/1.1 404 Not Found\nX: y\n')))
# ipv6 truncated-ip6 with tcp
f=eth(0x86dd)+ip6(6,tcp(1,2,3,4,0x10),plen=40)
add(f)
# sack with relative
add(eth(0x800)+ip4(6,tcp(5000,6000,100,200,0x10,opts=b'\x01\x01\x05\x0a'+struct.pack('>II',250,300))))
# urg, ece cwr
add(eth(0x800)+ip4(6,tcp(5000,6000,100,200,0xf0|0x20,payload=b'x')))
# md5 option
add(eth(0x800)+ip4(6,tcp(5000,179,100,200,0x02,opts=b'\x13\x12'+bytes(range(16))+b'\0\0')))
# tfo, uto, unknown, bad len
add(eth(0x800)+ip4(6,tcp(5000,6001,100,200,0x02,opts=b'\x22\x06\x01\x02\x03\x04\x1c\x04\x00\x03\x63\x02\x01\x00')))
add(eth(0x800)+ip4(6,tcp(5000,6001,100,200,0x02,opts=b'\x02\x05\x05\xb4\x00\x00\x00\x00')))
# tcp hlen too short / too long
add(eth(0x800)+ip4(6,tcp(5000,6001,100,200,0x02,off=3)))
add(eth(0x800)+ip4(6,tcp(5000,6001,100,200,0x02,off=15)))
# udp truncated header / short ulen
add(eth(0x800)+ip4(17,struct.pack('>HHHH',1000,2000,4,0)+b'abcd'))
add(eth(0x800)+ip4(17,struct.pack('>HHHH',1000,2000,12,0)+b'abcd'), 14+20+5)
# icmp types
add(eth(0x800)+ip4(1,b'\x0b\x00\0\0\0\0\0\0'+ip4(17,b'\0'*8)))
add(eth(0x800)+ip4(1,b'\x03\x04\0\0\0\0\x05\xdc'+ip4(6,b'\0'*8)))
add(eth(0x800)+ip4(1,b'\x03\x0d\0\0\0\0\0\0'+ip4(6,b'\0'*8)))
add(eth(0x800)+ip4(1,b'\x05\x01\0\0\x0a\0\0\x09'+ip4(6,b'\0'*8)))
add(eth(0x800)+ip4(1,b'\x0d\x00\0\0\0\x05\0\x06'+b'\0'*12))
add(eth(0x800)+ip4(1,b'\x2a\x00\0\0\0\x05\0\x06'))
# ip bad hlen / version / bad-len
add(eth(0x800)+b'\x43'+ip4(1,b'')[1:])
add(eth(0x800)+b'\x55'+ip4(1,b'')[1:])
add(eth(0x800)+ip4(6,tcp(1,2,3,4,0x10),tl=10))
# vlan tagged ip
add(eth(0x8100)[:12]+b'\x81\x00\x00\x05\x08\x00'+ip4(17,struct.pack('>HHHH',1000,2000,12,0)+b'abcd'))
# icmp6 too big, time exceeded, NS, RA
add(eth(0x86dd)+ip6(58,b'\x02\x00\0\0\0\0\x05\xdc'+ip6(17,b'\0'*8)))
add(eth(0x86dd)+ip6(58,b'\x03\x00\0\0\0\0\0\0'+ip6(17,b'\0'*8)))
add(eth(0x86dd)+ip6(58,b'\x86\x00\0\0\x40\0\x07\x08'+b'\0'*8))
add(eth(0x86dd)+ip6(58,b'\x01\x03\0\0\0\0\0\0'+ip6(17,b'\0'*8)))
# udp ipv6 frag? dstopt + udp
add(eth(0x86dd)+ip6(60,b'\x11\x00\x01\x04\0\0\0\0'+struct.pack('>HHHH',1000,2000,12,0)+b'abcd'))
pcap('crafted-edge-cases.pcap',P)
