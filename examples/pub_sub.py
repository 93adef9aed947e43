# Publish and subscribe with the built-in umqtt module: connect, subscribe with a
# callback, publish at QoS 0 and QoS 1, wait until the broker has delivered both
# messages back to us, disconnect.
#
# On a board, set BROKER (the board must be on the network already). On the
# unix port:  micropython examples/pub_sub.py [host [port]]
# or with MQTT_HOST / MQTT_PORT in the environment.
import sys
import time

from umqtt.simple import MQTTClient

BROKER = "127.0.0.1"
PORT = 1883
TIMEOUT_MS = 5000


def broker_address():
    host, port = BROKER, PORT
    try:
        import os

        host = os.getenv("MQTT_HOST") or host
        port = int(os.getenv("MQTT_PORT") or port)
    except (ImportError, AttributeError):
        pass  # a board: no environment
    argv = getattr(sys, "argv", [])
    if len(argv) > 1:
        host = argv[1]
    if len(argv) > 2:
        port = int(argv[2])
    return host, port


def main():
    host, port = broker_address()
    client_id = "umqtt-example-%x" % time.ticks_ms()
    prefix = "umqtt-native/example/" + client_id
    received = []

    def on_message(topic, msg):
        print("received", topic, msg)
        received.append((topic, msg))

    client = MQTTClient(client_id, host, port=port, keepalive=30)
    client.set_callback(on_message)
    print("connecting to %s:%d as %s" % (host, port, client_id))
    print("session present:", client.connect())
    client.subscribe(prefix + "/#", qos=1)

    sent = [(prefix + "/qos0", b"hello at QoS 0", 0), (prefix + "/qos1", b"hello at QoS 1", 1)]
    for topic, msg, qos in sent:
        client.publish(topic, msg, qos=qos)
        print("published", topic, "qos", qos)

    # A QoS 1 publish waits for its PUBACK and may deliver messages meanwhile;
    # wait for whatever has not arrived yet, without blocking forever.
    start = time.ticks_ms()
    while len(received) < len(sent) and time.ticks_diff(time.ticks_ms(), start) < TIMEOUT_MS:
        if client.check_msg() is None:
            time.sleep_ms(10)
    client.disconnect()

    expected = sorted((topic.encode(), msg) for topic, msg, _ in sent)
    if sorted(received) != expected:
        print("FAILED: expected", expected, "got", received)
        sys.exit(1)
    print("OK: both messages came back")


main()
