# pytest.mark.native_only("umqtt.simple acknowledges on whatever socket it has, callbacks nested or not")
# A message is acknowledged only on the connection it came on. Here the callback of message 5
# reconnects (a new socket assigned, as umqtt.robust's reconnect does), and the new connection
# delivers another message 5 whose callback raises: neither may be acknowledged on the new
# connection (the new one's callback failed; the old one's connection is gone, so its broker
# delivers it again).
from mqtt_harness import fake_client, FakeSocket, publish_packet, eq, done


class Boom(Exception):
    pass


c, old, _ = fake_client(publish_packet(b"t/a", b"outer", qos=1, pid=5), eof=False)
new = FakeSocket(publish_packet(b"t/b", b"inner", qos=1, pid=5), eof=False)
seen = []


def cb(t, m):
    seen.append(m)
    if m == b"outer":
        c.sock = new  # reconnected inside the callback
        try:
            c.wait_msg()
        except Boom:
            pass
    else:
        raise Boom(m)


c.set_callback(cb)
c.wait_msg()
eq(seen, [b"outer", b"inner"], "both delivered")
eq(new.take(), [], "nothing acknowledged on the new connection")
eq(old.take(), [], "nothing acknowledged on the old one")
done()
