"""Builds the events bench's stream from a recording of real engine events.

    /usr/bin/python3 tests/bench/events_stream.py RECORDED OUT N

RECORDED holds the events a real engine sent (one JSON object per line).
OUT gets N of them, cycled, with increasing time/timeNano, and container
names rewritten so that exactly one event in 100 names a container
"hit-..." (the 100th, 200th, ...; the last one too when N is a multiple of
100) and the rest "miss-...": the filtered run matches 1 in 100. Key order
and every other field stay as the engine wrote them.
"""
import json
import sys


def main():
    recorded, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(recorded) as f:
        events = [json.loads(line) for line in f if line.strip()]
    events = [e for e in events if e.get("Type") == "container"]
    if not events:
        sys.exit("no container events in " + recorded)
    base = events[0]["timeNano"]
    with open(out, "w") as f:
        for i in range(n):
            e = events[i % len(events)]
            t = base + i * 1000
            e["timeNano"] = t
            e["time"] = t // 1000000000
            name = ("hit-%d" if i % 100 == 99 else "miss-%d") % i
            e.setdefault("Actor", {}).setdefault("Attributes", {})["name"] = name
            f.write(json.dumps(e, separators=(",", ":")))
            f.write("\n")


if __name__ == "__main__":
    main()
