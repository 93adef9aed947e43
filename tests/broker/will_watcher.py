"""An independent MQTT peer (paho-mqtt) that records what arrives on PREFIX/will/#.

    python3 will_watcher.py HOST PORT USER PASSWORD PREFIX TIMEOUT_S

Prints "READY" once its subscription is acknowledged, then one JSON line per
message ({"topic", "payload_hex", "qos", "retain"}), and exits 0 after
PREFIX/will/end arrives; 3 when TIMEOUT_S passes first, 2 when it cannot
connect or subscribe. Used by tests/broker.rs to see Last Wills from outside.
"""

import json
import sys
import time

try:
    import paho.mqtt.client as mqtt
except ImportError:
    print("paho-mqtt is not installed (pip install paho-mqtt)", file=sys.stderr)
    sys.exit(4)


def main():
    host, port, user, password, prefix, timeout_s = sys.argv[1:7]
    filt = prefix + "/will/#"
    end_topic = prefix + "/will/end"
    state = {"subscribed": False, "end": False, "failed": None}

    def on_connect(client, userdata, flags, rc, *rest):
        if rc != 0:
            state["failed"] = "CONNACK %s" % rc
            return
        client.subscribe(filt, qos=1)

    def on_subscribe(client, userdata, mid, granted, *rest):
        codes = [getattr(g, "value", g) for g in granted]
        if any(c >= 0x80 for c in codes):
            state["failed"] = "SUBACK %s" % codes
            return
        state["subscribed"] = True
        print("READY", flush=True)

    def on_message(client, userdata, msg):
        line = {"topic": msg.topic, "payload_hex": msg.payload.hex(), "qos": msg.qos, "retain": bool(msg.retain)}
        print(json.dumps(line), flush=True)
        if msg.topic == end_topic:
            state["end"] = True

    kwargs = {"client_id": prefix.replace("/", "-") + "-paho", "protocol": mqtt.MQTTv311, "clean_session": True}
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    else:
        client = mqtt.Client(**kwargs)
    client.username_pw_set(user, password)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect(host, int(port), keepalive=30)
    except OSError as e:
        print("cannot connect: %s" % e, file=sys.stderr)
        return 2

    deadline = time.monotonic() + float(timeout_s)
    while not state["end"] and time.monotonic() < deadline:
        client.loop(timeout=0.05)
        if state["failed"]:
            print("refused: %s" % state["failed"], file=sys.stderr)
            return 2
    client.disconnect()
    return 0 if state["end"] else 3


if __name__ == "__main__":
    sys.exit(main())
