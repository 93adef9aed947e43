# pytest.mark.qemu
# pytest.mark.vectors("rl-2097151", "rl-2097152")
# pytest.mark.heapsize("24M")
# pytest.mark.script_timeout(40)
# The 3-byte Remaining Length limit and the smallest 4-byte one, decoded from PUBLISH packets
# of exactly those lengths (2 MiB messages) fed through a fake socket, and 2097151 written.
from mqtt_harness import fake_client, V, hx, eq, done
import gc

c, fs, _ = fake_client()
rec = c.cb
for name in ("rl-2097151", "rl-2097152"):
    rl = V(name)
    n = int(name[3:])
    payload = bytes(n - 3)
    fs.feed(b"\x30" + rl + b"\x00\x01t" + payload)
    eq(c.wait_msg(), 0x30, name + ": wait_msg")
    t, m = rec.msgs.pop()
    eq((t, len(m)), (b"t", n - 3), name + ": decoded")
    assert m == payload, name + ": payload differs"
    del payload, m
    gc.collect()

# writing: umqtt.simple's limit is a remaining length below 2097152
payload = bytes(2097151 - 3)
c.publish(b"t", payload)
eq(hx(fs.tx[:4]), hx(b"\x30" + V("rl-2097151")), "rl-2097151 written")
eq(len(fs.tx), 1 + 3 + 2097151, "length written")
done()
