# What the module costs per message, without a network: N QoS 0 publishes into a stream stand-in
# that discards them, or N QoS 0 messages received from one that feeds them (bench/run-engine-cost
# runs it under callgrind).  micropython cost.py N SIZE pub0|rx
import sys, io
from umqtt import MQTTClient

N, SIZE, MODE = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


class Stream(io.IOBase):
    def __init__(self, data=b""):
        self.data = memoryview(data)
        self.pos = 0

    def write(self, b):
        return len(b)

    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n

    def read(self, n):  # modules before issue 10 read with read(), not readinto()
        b = bytes(self.data[self.pos : self.pos + n])
        self.pos += len(b)
        return b

    def ioctl(self, req, arg):
        return arg if req == 3 else 0

    def setblocking(self, flag):
        pass

    def close(self):
        pass


topic = b"bench/t"
payload = bytes(SIZE)
c = MQTTClient(b"cg", "127.0.0.1", keepalive=0)
got = [0]


def cb(t, m):
    got[0] += 1


c.set_callback(cb)
if MODE == "pub0":
    c.sock = Stream()
    for i in range(N):
        c.publish(topic, payload, qos=0)
else:
    rl = 2 + len(topic) + SIZE
    hdr = bytearray([0x30])
    while True:
        b = rl & 0x7F
        rl >>= 7
        hdr.append(b | (0x80 if rl else 0))
        if not rl:
            break
    one = bytes(hdr) + bytes([0, len(topic)]) + topic + payload
    c.sock = Stream(one * N)
    while got[0] < N:
        c.wait_msg()
print("done", N, got[0])
