// A steady pinger for the soak and measure (11): ICMP echo requests at a fixed rate (100 a
// second) for as long as it runs. iputils ping cannot keep such a rate
// cheaply on this machine: `ping -i 0.01` sends one every ~17 ms (its waits
// are rounded up), and below 10 ms it busy-waits, a whole CPU per ping. This
// one sends on an absolute schedule and sleeps in select() between sends.
// Its output is ping -D's reply line (`[EPOCH] … icmp_seq=N`, N counting on
// past 65,535: the payload carries a 32-bit number) with the request's own
// send time after it (` sent=EPOCH`, carried in the payload: a reply held up
// in a queue and seen late does not move the dating of the pings lost
// before it) and, when it is stopped
// (SIGINT or SIGTERM), ping's summary line (`N packets transmitted, M
// received`), which soak-summary.ts PingLog reads (it drops repeated replies).

import { type Proc, start } from './proc.js';
import type { Host } from './topology.js';

const PINGER_PY = `
import os, select, signal, socket, struct, sys, time
dst, interval = sys.argv[1], float(sys.argv[2])
ident = os.getpid() & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sent = received = 0
stop = False
def ask_stop(*_):
    global stop
    stop = True
signal.signal(signal.SIGINT, ask_stop)
signal.signal(signal.SIGTERM, ask_stop)
def checksum(b):
    if len(b) % 2:
        b += b'\\0'
    c = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    c = (c >> 16) + (c & 0xffff)
    c += c >> 16
    return ~c & 0xffff
t = time.perf_counter()
while not stop:
    now = time.perf_counter()
    if now >= t:
        sent += 1
        body = struct.pack('!Id', sent, time.time()) + bytes(44)
        head = struct.pack('!BBHHH', 8, 0, 0, ident, sent & 0xffff)
        head = struct.pack('!BBHHH', 8, 0, checksum(head + body), ident, sent & 0xffff)
        try:
            s.sendto(head + body, (dst, 0))
        except OSError:
            pass
        t += interval
        if t < now:  # fell behind (descheduled): no burst to catch up
            t = now + interval
    try:
        r, _, _ = select.select([s], [], [], max(0.0, t - time.perf_counter()))
    except InterruptedError:
        continue
    if not r:
        continue
    pkt = s.recv(2048)
    ihl = (pkt[0] & 0x0f) * 4
    if len(pkt) < ihl + 12:
        continue
    typ, _, _, pid, _ = struct.unpack('!BBHHH', pkt[ihl:ihl + 8])
    if typ != 0 or pid != ident:
        continue
    if len(pkt) < ihl + 20:
        continue
    n, at = struct.unpack('!Id', pkt[ihl + 8:ihl + 20])
    received += 1
    sys.stdout.write('[%.6f] 64 bytes from %s: icmp_seq=%d sent=%.6f\\n' % (time.time(), dst, n, at))
    sys.stdout.flush()
sys.stdout.write('%d packets transmitted, %d received\\n' % (sent, received))
sys.stdout.flush()
`;

/** Echo requests from `from` to `to` every intervalMs until stopped with SIGINT (then the summary line). */
export function startPinger(python: string, from: Host, to: Host, intervalMs: number): Proc {
  return start(`pinger ${from.ns}`, 'ip', ['netns', 'exec', from.ns, python, '-c', PINGER_PY, to.ip, String(intervalMs / 1000)], { keep: 1 << 16 });
}
