#!/usr/bin/env bash
# bench/evloop/check.sh ENGINE: correctness of the prototype (EV, default
# /tmp/evloop-ev) with -engine gnet or epoll: lanes, 404s, pipelining,
# and the rejections. Uses UPB and LOAD like cmp.sh.
set -u
read -r A B C P X <<<"$(${LOAD:-/tmp/evloop-load} ports -n 5)"
${UPB:-/tmp/evloop-up} -listen "v1=127.0.0.1:$A,v2=127.0.0.1:$B,v3=127.0.0.1:$C" >/tmp/evloop-t-up.log 2>&1 & U=$!
GOMAXPROCS=1 ${EV:-/tmp/evloop-ev} -engine $1 -listen 127.0.0.1:$P -up "v1=127.0.0.1:$A,v2=127.0.0.1:$B,v3=127.0.0.1:$C" >/tmp/evloop-t-ev.log 2>&1 & E=$!
trap 'kill $E $U' EXIT
sleep 0.5
python3 - $P <<'EOF'
import socket,sys
p=int(sys.argv[1])
def talk(data):
    s=socket.create_connection(("127.0.0.1",p)); s.sendall(data); s.settimeout(1)
    out=b""
    try:
        while True:
            b=s.recv(65536)
            if not b: break
            out+=b
    except socket.timeout: out+=b"<timeout>"
    return out
def bodies(r): return [x.split(b"\r\n\r\n",1)[1][:9] for x in r.split(b"HTTP/1.1 ")[1:]]
r=talk(b'GET /mock HTTP/1.1\r\nHost: x\r\nx-asm-prefer-tag: v1\r\n\r\nGET /mock HTTP/1.1\r\nHost: x\r\nX-ASM-Prefer-Tag: v2\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\nx-asm-prefer-tag: v1\r\n\r\nGET /mock HTTP/1.1\r\nHost: x\r\nx-asm-prefer-tag: v4\r\n\r\nGET /mock HTTP/1.1\r\nHost: x\r\nx-asm-prefer-tag: v3\r\nConnection: close\r\n\r\n')
print("pipelined:", bodies(r), "closed" if not r.endswith(b"<timeout>") else "NOT CLOSED")
for name,req in [("dup CL",b'GET /mock HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx'),
  ("obs-fold",b'GET /mock HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n'),
  ("chunked",b'GET /mock HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
  ("http/1.0",b'GET /mock HTTP/1.0\r\n\r\n'),
  ("big head",b'GET /mock HTTP/1.1\r\nX: '+b'a'*9000+b'\r\n\r\n'),
  ("body",b'GET /mock HTTP/1.1\r\nx-asm-prefer-tag: v2\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello')]:
    print(name+":", talk(req)[:40])
EOF
