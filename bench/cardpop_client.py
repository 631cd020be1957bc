"""The agents' screens for bench/cardpop.

Logs every agent in (POST /api/login), opens one /api/ws per agent and
records when each `call_offered` arrived (epoch ms), how many cards it
carried and when the server says it sent it. It stops after --seconds, or
once --calls pops have arrived, and writes one line per call: call_id,
popped_at, cards, sent_at. (The arrival times come from the server's own
event log afterwards.)

    python3 cardpop_client.py --http 127.0.0.1:8080 --agents 2000-3999 \
        --password-prefix pw --seconds 60 --calls 20000 --out pops.txt \
        --ready-file ready
"""

import argparse
import asyncio
import json
import sys
import time
import urllib.request

import websockets


def login(http, ext, password):
    req = urllib.request.Request(
        f"http://{http}/api/login",
        data=json.dumps({"extension": ext, "password": password}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)["token"]


async def listen(http, token, on_message, ready, stop):
    async with websockets.connect(
        f"ws://{http}/api/ws?token={token}", max_queue=None, open_timeout=60
    ) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        ready()
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except asyncio.TimeoutError:
                continue
            on_message(json.loads(raw), time.time() * 1000.0)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--http", required=True)
    p.add_argument("--agents", required=True, help="FIRST-LAST extensions")
    p.add_argument("--password-prefix", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--calls", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--ready-file", required=True)
    a = p.parse_args()

    first, last = (int(x) for x in a.agents.split("-"))
    loop = asyncio.get_running_loop()
    tokens = {}
    # Logins check argon2 hashes: a few at a time, off the event loop.
    sem = asyncio.Semaphore(8)

    async def get_token(ext, pw):
        async with sem:
            tokens[ext] = await loop.run_in_executor(None, login, a.http, ext, pw)

    await asyncio.gather(
        *(get_token(str(e), f"{a.password_prefix}{e}") for e in range(first, last + 1)),
    )

    popped = {}
    stop = asyncio.Event()
    opened = 0

    def ready():
        nonlocal opened
        opened += 1
        if opened == len(tokens):
            with open(a.ready_file, "w") as f:
                f.write("ready\n")

    def on_agent(msg, now):
        if msg.get("type") == "call_offered":
            popped.setdefault(
                msg["call_id"], (now, len(msg.get("patients", [])), msg.get("sent_at", 0))
            )
            if len(popped) >= a.calls:
                stop.set()

    tasks = []
    for e in range(first, last + 1):
        tasks.append(asyncio.create_task(listen(a.http, tokens[str(e)], on_agent, ready, stop)))
    try:
        await asyncio.wait_for(stop.wait(), timeout=a.seconds)
    except asyncio.TimeoutError:
        pass
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)

    with open(a.out, "w") as f:
        for call, (at, cards, sent) in sorted(popped.items()):
            f.write(f"{call} {at:.1f} {cards} {sent}\n")
    print(f"pops {len(popped)}", file=sys.stderr)


asyncio.run(main())
