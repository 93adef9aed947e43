# A sensor node: joins Wi-Fi (on a board), connects with a Last Will, publishes
# a reading every few seconds, obeys commands sent to its command topic, and
# reconnects by itself when the connection drops (umqtt.robust, frozen into the
# firmware, on top of the built-in umqtt).
#
# Topics, under umqtt-native/<NODE>/:
#   status   "online" (retained) after connecting; the Last Will sets "offline"
#   reading  one reading per period
#   command  "period <seconds>" changes the period, "stop" ends the loop
#
# On a board, fill in the settings below. On the unix port:
#   micropython examples/sensor_robust.py [host [port [rounds]]]
# (or MQTT_HOST / MQTT_PORT / ROUNDS / PERIOD_S in the environment).
import sys
import time

from umqtt.robust import MQTTClient

WIFI_SSID = ""
WIFI_PASSWORD = ""
BROKER = "127.0.0.1"
PORT = 1883
NODE = "node-1"
PERIOD_S = 5
ROUNDS = 0  # 0: run until a "stop" command


def settings():
    host, port, rounds, period = BROKER, PORT, ROUNDS, PERIOD_S
    try:
        import os

        host = os.getenv("MQTT_HOST") or host
        port = int(os.getenv("MQTT_PORT") or port)
        rounds = int(os.getenv("ROUNDS") or rounds)
        period = int(os.getenv("PERIOD_S") or period)
    except (ImportError, AttributeError):
        pass  # a board: no environment
    argv = getattr(sys, "argv", [])
    if len(argv) > 1:
        host = argv[1]
    if len(argv) > 2:
        port = int(argv[2])
    if len(argv) > 3:
        rounds = int(argv[3])
    return host, port, rounds, period


def wifi_connect():
    try:
        import network
    except ImportError:
        return  # the unix port uses the host's network
    if not WIFI_SSID or not hasattr(network, "WLAN"):
        return
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(WIFI_SSID, WIFI_PASSWORD)
        for _ in range(150):
            if wlan.isconnected():
                break
            time.sleep_ms(200)
    print("wifi:", wlan.ifconfig())


def read_sensor():
    try:
        import esp32

        return esp32.mcu_temperature()  # ESP32-S2/S3/C3/C6
    except (ImportError, AttributeError):
        # No sensor here: a slowly changing stand-in value.
        return 20 + (time.ticks_ms() // 1000) % 10


def main():
    host, port, rounds, period = settings()
    wifi_connect()
    base = "umqtt-native/%s/" % NODE
    state = {"period": period, "run": True}

    def on_command(topic, msg):
        print("command:", msg)
        words = msg.split()
        if words[:1] == [b"period"] and len(words) == 2:
            state["period"] = max(1, int(words[1]))
        elif words == [b"stop"]:
            state["run"] = False

    class Node(MQTTClient):
        # umqtt.robust reconnects through connect(False): when the broker kept
        # no session for us, subscribe again (a subclass calling super(), as on
        # umqtt.simple).
        def connect(self, clean_session=True, timeout=None):
            present = super().connect(clean_session, timeout)
            if not present:
                self.subscribe(base + "command", qos=1)
            self.publish(base + "status", b"online", retain=True, qos=1)
            return present

    client = Node(NODE, host, port=port, keepalive=3 * period)
    client.DEBUG = True  # umqtt.robust prints why it reconnects
    client.set_last_will(base + "status", b"offline", retain=True, qos=1)
    client.set_callback(on_command)
    client.connect(clean_session=False)
    print("connected to %s:%d" % (host, port))

    done = 0
    while state["run"] and (rounds == 0 or done < rounds):
        reading = read_sensor()
        client.publish(base + "reading", str(reading), qos=1)
        print("published reading", reading)
        done += 1
        deadline = time.ticks_add(time.ticks_ms(), state["period"] * 1000)
        while state["run"] and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            # umqtt.robust's check_msg reconnects on a dropped connection.
            if client.check_msg() is None:
                time.sleep_ms(50)

    client.publish(base + "status", b"offline", retain=True, qos=1)
    client.disconnect()
    print("done after", done, "readings")


main()
