# pytest.mark.native_only("umqtt.simple 1.8.0 switches the socket back to blocking after the first byte and waits for the rest")
# With only part of a PUBLISH received, check_msg() returns None at once (again and again) and
# keeps the part; once the rest arrives the message is delivered whole. Split inside the
# fixed header, then inside the payload.
from mqtt_harness import MQTTClient, HOST, client_id, fake_broker, peer, publish_packet, Recorder, done, eq
import time

payload = b"p" * 200
t = b"t/partial"
pkt = publish_packet(t, payload)
eq(pkt[:3], b"\x30\xd3\x01", "test packet header")  # 2-byte remaining length: split after its 1st byte
fid, port = fake_broker(["accept"], ["recv"], ["send", "20020000"],
                        ["send", pkt[:2].hex()], ["wait_signal", "rest1", 15], ["send", pkt[2:].hex()],
                        ["send", pkt[:40].hex()], ["wait_signal", "rest2", 15], ["send", pkt[40:].hex()],
                        ["drain", 10])
c = MQTTClient(client_id(), HOST, port)
rec = Recorder()
c.set_callback(rec)
c.connect()
for part, sig in ((1, "rest1"), (2, "rest2")):
    time.sleep_ms(200)  # let the partial packet arrive
    for i in range(5):
        eq(c.check_msg(), None, "check_msg %d with a partial packet pending" % part)
    eq(len(rec.msgs), part - 1, "nothing delivered early")
    peer("signal", id=fid, name=sig)
    t0 = time.ticks_ms()
    while len(rec.msgs) < part and time.ticks_diff(time.ticks_ms(), t0) < 5000:
        if c.check_msg() is None:
            time.sleep_ms(5)
    eq(rec.msgs[-1:], [(t, payload)], "message %d delivered whole" % part)
done()
