# The Last Will: published by the broker after an abrupt close (sock.close(), no DISCONNECT),
# with its QoS and retain flag; not published after disconnect().
from mqtt_harness import MQTTClient, HOST, PORT, client, client_id, topic, peer_sub, peer_pub, peer_msgs, Recorder, done, eq, hx
import time

peer_sub("will", 1)
c = client(keepalive=30)
c.set_last_will(topic("will"), b"gone", retain=False, qos=1)
c.connect()
c.sock.close()
got = peer_msgs("will", 1)
eq([(g["hex"], g["qos"], g["retain"]) for g in got], [(hx(b"gone"), 1, False)], "will seen by the peer")

# retained will, QoS 0: seen live, then again as a retained message on a new SUBSCRIBE
peer_sub("will-r", 1)
c2 = client()
c2.set_last_will(topic("will-r"), b"gone-retained", retain=True)
c2.connect()
c2.sock.close()
got = peer_msgs("will-r", 1)
eq([g["hex"] for g in got], [hx(b"gone-retained")], "retained will, live")
peer_sub("will-r", 1)
got = peer_msgs("will-r", 2)
eq([(g["hex"], g["retain"]) for g in got[1:]], [(hx(b"gone-retained"), True)], "retained will, stored")

# clean disconnect: no will
c3 = client()
c3.set_last_will(topic("will"), b"must-not-appear")
c3.connect()
c3.disconnect()
time.sleep_ms(500)
peer_pub("will", b"marker", qos=1)
got = peer_msgs("will", 2)
eq([g["hex"] for g in got], [hx(b"gone"), hx(b"marker")], "no will after disconnect()")

# a CONNECT whose will topic, will message and password each exceed the transmit buffer (three
# pieces written from the caller's objects): it must leave whole, or the broker refuses it
peer_sub("will-big/" + "t" * 1300, 1)
c5 = MQTTClient(client_id(), HOST, PORT, user=b"u", password=b"p" * 1400)
c5.set_last_will(topic("will-big/" + "t" * 1300), b"m" * 1500, qos=1)
eq(c5.connect(), 0, "connect with three large fields")
c5.ping()
c5.sock.close()
got = peer_msgs("will-big/" + "t" * 1300, 1)
eq([g["hex"] for g in got], [hx(b"m" * 1500)], "the large will, whole")

# clear the retained will
c4 = client()
c4.set_callback(Recorder())
c4.connect()
c4.publish(topic("will-r"), b"", retain=True, qos=1)
c4.disconnect()
done()
