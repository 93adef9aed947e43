# check_msg() returns None at once when nothing is pending, and delivers like wait_msg
# otherwise; wait_msg still blocks afterwards (check_msg's non-blocking mode does not stick).
from mqtt_harness import subscribed_client, topic, peer_pub, done, eq
import time

c, rec = subscribed_client("in", qos=1)
for i in range(5):
    eq(c.check_msg(), None, "check_msg with nothing pending")
peer_pub("in", b"m1", qos=0)
peer_pub("in", b"m2", qos=1)
ops = []
t0 = time.ticks_ms()
while len(rec.msgs) < 2 and time.ticks_diff(time.ticks_ms(), t0) < 5000:
    op = c.check_msg()
    if op is not None:
        ops.append(op)
eq(rec.msgs, [(topic("in"), b"m1"), (topic("in"), b"m2")], "delivered by check_msg")
# Each call returns the type of the first message it handled (the native client also handles
# those that came in the same read, so one call may deliver both).
eq([op & 0xF6 for op in ops], [0x30, 0x32][: len(ops)], "check_msg return values")
eq(c.check_msg(), None, "nothing left")
# blocking again: wait_msg waits for a message published a bit later
peer_pub("in", b"late", delay=0.3)
op = None
while op is None:
    op = c.wait_msg()
eq(rec.msgs[-1], (topic("in"), b"late"), "wait_msg after check_msg")
c.disconnect()
done()
