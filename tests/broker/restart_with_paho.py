#!/usr/bin/env python3
"""The fault tests' broker restart with paho-mqtt on both ends (no umqtt at all): tells whether a
loss or a duplicate seen by test_fault_receive*.py is the broker's.

A persistent paho receiver (clean_session=False, keepalive 2) subscribes to a QoS 1 and a QoS 2
topic; a persistent paho peer streams N messages to each (8 ms apart) while the runner's
FaultBroker (tests/micropython/peers.py: mosquitto, persistence on) is stopped with SIGTERM and started
again. Prints, per QoS, what the peer had acknowledged, what the receiver got, lost and duplicates.

  tests/broker/restart_with_paho.py [--inflight 20] [--mosquitto PATH] [--runs 3]

--inflight sets max_inflight_messages (the fault tests use 0: no quota).
"""
import argparse
import importlib.machinery
import importlib.util
import os
import tempfile
import threading
import time

import paho.mqtt.client as mqtt

HERE = os.path.dirname(os.path.abspath(__file__))


def load_runner():
    path = os.path.join(HERE, "..", "micropython", "run")
    loader = importlib.machinery.SourceFileLoader("umqtt_test_runner", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def one_run(runner, binary, n):
    tmp = tempfile.mkdtemp(prefix="restart-with-paho-")
    broker = runner.FaultBroker(tmp, binary, "paho")
    got = {1: [], 2: []}
    lock = threading.Lock()

    def on_message(client, userdata, m):
        with lock:
            got[m.qos].append(m.payload.decode())

    subscribed = threading.Event()
    rx = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-rx", protocol=mqtt.MQTTv311,
                     clean_session=False)
    rx.reconnect_delay_set(0.2, 0.5)
    rx.on_message = on_message
    rx.on_subscribe = lambda *a: subscribed.set()
    rx.connect("127.0.0.1", broker.port, keepalive=2)
    rx.loop_start()
    try:
        broker.get_peer("paho-peer")
        rx.subscribe([("paho/q1", 1), ("paho/q2", 2)])
        if not subscribed.wait(10):
            raise RuntimeError("no SUBACK")
        ids = {q: broker.stream("paho/q%d" % q, n, q, 0.008, "m") for q in (1, 2)}
        broker.bounce_later(0.5, "TERM", 1.0)
        deadline = time.time() + 15
        while time.time() < deadline:
            time.sleep(0.5)
            if all(broker.streams[i]["done"] for i in ids.values()):
                with lock:
                    if all(set(broker.streams[ids[q]]["acked"]) <= set(got[q]) for q in (1, 2)):
                        break
        for q in (1, 2):
            acked = broker.streams[ids[q]]["acked"]
            with lock:
                mine = list(got[q])
            lost = [m for m in acked if m not in mine]
            print("QoS %d: peer acknowledged %d, receiver got %d, lost %d, duplicates %d" % (
                q, len(acked), len(mine), len(lost), len(mine) - len(set(mine))))
    finally:
        rx.loop_stop()
        broker.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inflight", default="0", help="mosquitto max_inflight_messages (default 0: none)")
    ap.add_argument("--mosquitto", default="/usr/sbin/mosquitto")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("-n", type=int, default=200, help="messages per stream")
    args = ap.parse_args()
    os.environ["UMQTT_FAULT_INFLIGHT"] = args.inflight
    runner = load_runner()
    print("mosquitto %s, max_inflight_messages %s, %d messages per QoS, SIGTERM restart" % (
        args.mosquitto, args.inflight, args.n))
    for i in range(args.runs):
        print("run %d" % (i + 1))
        one_run(runner, args.mosquitto, args.n)


if __name__ == "__main__":
    main()
