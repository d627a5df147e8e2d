#!/usr/bin/env python3
# Derives, without the simulator or its dependencies, the nine latency draws pinned by
# sim/src/net/latency.rs `draws_are_the_same_on_every_platform`: its own BLAKE3 (one
# block) and ChaCha8 give the Network stream of seed 1 (the first two words are the ones
# engine::rng pins), and statistics.NormalDist gives the normal quantile. Prints the words
# and the draws in microseconds. Run: python3 scripts/latency-draws.py
import struct, math
from statistics import NormalDist
M32=0xffffffff
IV=[0x6A09E667,0xBB67AE85,0x3C6EF372,0xA54FF53A,0x510E527F,0x9B05688C,0x1F83D9AB,0x5BE0CD19]
PERM=[2,6,3,10,7,0,4,13,1,11,12,5,9,14,15,8]
def rotr(x,n): return ((x>>n)|(x<<(32-n)))&M32
def g(v,a,b,c,d,x,y):
    v[a]=(v[a]+v[b]+x)&M32; v[d]=rotr(v[d]^v[a],16)
    v[c]=(v[c]+v[d])&M32; v[b]=rotr(v[b]^v[c],12)
    v[a]=(v[a]+v[b]+y)&M32; v[d]=rotr(v[d]^v[a],8)
    v[c]=(v[c]+v[d])&M32; v[b]=rotr(v[b]^v[c],7)
def compress(cv,block,counter,blen,flags):
    m=list(struct.unpack('<16I',block))
    v=cv[:]+IV[:4]+[counter&M32,counter>>32,blen,flags]
    for r in range(7):
        g(v,0,4,8,12,m[0],m[1]);g(v,1,5,9,13,m[2],m[3]);g(v,2,6,10,14,m[4],m[5]);g(v,3,7,11,15,m[6],m[7])
        g(v,0,5,10,15,m[8],m[9]);g(v,1,6,11,12,m[10],m[11]);g(v,2,7,8,13,m[12],m[13]);g(v,3,4,9,14,m[14],m[15])
        m=[m[PERM[i]] for i in range(16)]
    return [v[i]^v[i+8] for i in range(8)]
def blake3_short(data):  # one block (< 64 bytes): CHUNK_START|CHUNK_END|ROOT
    assert len(data)<=64
    out=compress(IV,data.ljust(64,b'\0'),0,len(data),1|2|8)
    return struct.pack('<8I',*out)
assert blake3_short(b'').hex()=='af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'
def chacha8_words(key):
    k=list(struct.unpack('<8I',key)); ctr=0
    while True:
        s=[0x61707865,0x3320646e,0x79622d32,0x6b206574]+k+[ctr&M32,ctr>>32,0,0]
        x=s[:]
        def qr(a,b,c,d):
            x[a]=(x[a]+x[b])&M32; x[d]=rotr(x[d]^x[a],16)
            x[c]=(x[c]+x[d])&M32; x[b]=rotr(x[b]^x[c],20)
            x[a]=(x[a]+x[b])&M32; x[d]=rotr(x[d]^x[a],24)
            x[c]=(x[c]+x[d])&M32; x[b]=rotr(x[b]^x[c],25)
        for _ in range(4):
            qr(0,4,8,12);qr(1,5,9,13);qr(2,6,10,14);qr(3,7,11,15)
            qr(0,5,10,15);qr(1,6,11,12);qr(2,7,8,13);qr(3,4,9,14)
        for i in range(16): yield (x[i]+s[i])&M32
        ctr+=1
def u64s(key):
    w=chacha8_words(key)
    while True:
        lo=next(w); hi=next(w); yield lo|(hi<<32)
seed=blake3_short(b'dbft-sim/rng/v1'+struct.pack('<Q',1)+b'network')
it=u64s(seed); words=[next(it) for _ in range(9)]
print([hex(w) for w in words])
assert words[0]==0x7d87954092db0897 and words[1]==0xe39800c8ddd5f49, "rng test's pinned words"
nu=lambda w:(2*(w>>12)+1)/2**53
unit=lambda w:(w>>11)/2**53
inv=NormalDist().inv_cdf
ln=[round(80*math.exp(0.4*inv(nu(w))-0.08)*1000) for w in words[0:3]]
no=[round(max(0.0,1.0+0.3*inv(nu(w)))*1000) for w in words[3:6]]
pa=[round(min(10000.0,20*math.exp(-math.log(1-unit(w))/1.5))*1000) for w in words[6:9]]
print(ln+no+pa)
pinned=[73138, 39047, 94039, 757, 424, 958, 65981, 28577, 36402]
assert ln+no+pa==pinned, f"the test pins {pinned}"
