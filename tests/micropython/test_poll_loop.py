# pytest.mark.native_only("umqtt.simple's client is no stream (select.poll cannot take it)")
# A loop that polls before each check_msg() sees every message, even when several arrive in one
# read: check_msg()/wait_msg() handle all whole packets already buffered before they return. The
# loop may poll client.sock, or the client itself (readable while it holds a buffered packet or
# its socket is readable), a umqtt.robust client too.
from mqtt_harness import MQTTClient, HOST, PORT, client_id, topic, peer_pub, Recorder, done, eq
from umqtt.robust import MQTTClient as RobustClient
import select
import time

N = 5


def burst(c, name):
    for i in range(N):
        peer_pub(name, b"%s-%d" % (name, i), qos=1)
    time.sleep_ms(300)  # all of them reach the socket before the loop reads: one read takes them


def poll_loop(c, rec, target, what):
    p = select.poll()
    p.register(target, select.POLLIN)
    t0 = time.ticks_ms()
    while len(rec.msgs) < N and time.ticks_diff(time.ticks_ms(), t0) < 3000:
        if p.poll(200):
            c.check_msg()
    eq(len(rec.msgs), N, what + ": messages seen")


for kind, target in (("plain", "sock"), ("plain", "client"), ("robust", "client"), ("robust", "sock")):
    cls = MQTTClient if kind == "plain" else RobustClient
    c = cls(client_id(), HOST, PORT)
    rec = Recorder()
    c.set_callback(rec)
    c.connect()
    name = "in-%s-%s" % (kind, target)
    c.subscribe(topic(name), qos=1)
    burst(c, name)
    poll_loop(c, rec, c.sock if target == "sock" else c, "%s client, polling its %s" % (kind, target))
    eq([m for t, m in rec.msgs], [b"%s-%d" % (name, i) for i in range(N)], name + ": in order")
    c.disconnect()

# Once everything is handled the client polls as not readable.
c = MQTTClient(client_id(), HOST, PORT)
rec = Recorder()
c.set_callback(rec)
c.connect()
p = select.poll()
p.register(c, select.POLLIN)
eq(p.poll(0), [], "idle client")
c.disconnect()
done()
