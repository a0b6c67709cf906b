#!/usr/bin/env python3
"""rw_seqpub: publish events with sequence frames (docs/schema.md, "Sequence
numbers"), for tests of input-loss counting. Needs pyzmq (Debian python3-zmq).

    rw_seqpub.py --endpoint tcp://127.0.0.1:PORT [--connect] [--wait-ms MS]
                 [--four-frames N] PLAN...

Each PLAN is PUB:TOPIC:SEQS, SEQS a comma list of sequence numbers or
ranges ("1-3,6,7"): one message [TOPIC][one view event][{"pub":PUB,"seq":N}]
per number, in order, plans one after another. A gap in the numbers is a
loss rumwatch should count; a number not above the previous one is a
restart. Events are valid views stamped with the wall clock. --four-frames N
then sends N messages of four frames (one too many: rumwatch rejects them,
reason "shape"). Prints the number of messages sent.
"""
import argparse
import json
import sys
import time

import zmq


def seqs(spec):
    out = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--connect", action="store_true", help="connect instead of bind")
    ap.add_argument("--wait-ms", type=int, default=700, help="slow-joiner pause before sending")
    ap.add_argument("--four-frames", type=int, default=0)
    ap.add_argument("plans", nargs="+")
    a = ap.parse_args()
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUB)
    s.setsockopt(zmq.LINGER, 2000)
    (s.connect if a.connect else s.bind)(a.endpoint)
    time.sleep(a.wait_ms / 1000)
    sent = 0
    for plan in a.plans:
        pub, topic, spec = plan.split(":", 2)
        for n in seqs(spec):
            ev = {"v": 1, "type": "view", "ts": int(time.time() * 1000), "page": "/seq",
                  "seg": {"device": "desktop"}, "vitals": {"lcp": 1000.0}}
            meta = {"pub": pub, "seq": n}
            s.send_multipart([topic.encode(), json.dumps(ev).encode(), json.dumps(meta).encode()])
            sent += 1
            time.sleep(0.002)
    for _ in range(a.four_frames):
        ev = {"v": 1, "type": "view", "ts": int(time.time() * 1000), "page": "/seq"}
        s.send_multipart([b"rum.view.s00.", json.dumps(ev).encode(),
                          b'{"pub":"c9","seq":1}', b"extra"])
        sent += 1
    s.close()
    ctx.term()
    print(sent)


if __name__ == "__main__":
    sys.exit(main())
