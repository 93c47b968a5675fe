"""One process of bench.logs' WebSocket followers: `python -m bench.followers URL K N`.

Opens K WebSocket followers of one record's logstream (a thread each), reads until each is
closed (frames of one line, or batch frames: JSON arrays of lines), and prints one JSON
object: every line's receive time minus the write time it carries (ms), per follower whether
it got lines 0..N-1 once each and in order, and this process's CPU seconds and wall seconds,
so the parent can tell whether the clients were the bottleneck.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time

import websocket

LINE = re.compile(r"(\d+\.\d+) (\d+)")


def follow(url: str, n: int, out: dict[str, object], connected: threading.Event) -> None:
    latencies: list[float] = []
    seen: list[int] = []
    error = ""
    try:
        ws = websocket.create_connection(url, timeout=120)
    except (OSError, websocket.WebSocketException) as exc:
        out.update(error=f"{type(exc).__name__}: {exc}", ms=[], exact=False)
        connected.set()
        return
    connected.set()
    try:
        while True:
            opcode, data = ws.recv_data(control_frame=True)
            now = time.time()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            if opcode == websocket.ABNF.OPCODE_TEXT:
                text = data.decode("utf-8", "replace")
                # a batch frame (`?batch=true`) is a JSON array of lines; a line never
                # starts with "[" here
                for line in json.loads(text) if text.startswith("[") else [text]:
                    match = LINE.fullmatch(line)
                    if match:
                        latencies.append(round((now - float(match[1])) * 1000, 2))
                        seen.append(int(match[2]))
    except (OSError, websocket.WebSocketException) as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        ws.close()
    out.update(error=error, ms=latencies, exact=seen == list(range(n)))


def main(argv: list[str]) -> int:
    url, k, n = argv[0], int(argv[1]), int(argv[2])
    began, cpu0 = time.monotonic(), sum(os.times()[:2])
    results: list[dict[str, object]] = [{} for _ in range(k)]
    connected = [threading.Event() for _ in range(k)]
    threads = [
        threading.Thread(target=follow, args=(url, n, results[i], connected[i])) for i in range(k)
    ]
    for thread in threads:
        thread.start()
    for event in connected:
        event.wait(120)
    print(json.dumps({"connected": k}), flush=True)  # the parent starts the lines after this
    for thread in threads:
        thread.join()
    report = {
        "followers": results,
        "cpu_s": sum(os.times()[:2]) - cpu0,
        "wall_s": time.monotonic() - began,
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
