# pytest.mark.native_only("umqtt.simple 1.8.0 checks no arguments (asserts or sends bad packets)")
# Bad arguments give ValueError/TypeError naming the argument, send nothing, and leave the
# client usable.
from mqtt_harness import client, topic, peer_sub, peer_msgs, pump, Recorder, raises, done, eq, hx, MQTTClient

c = client()
rec = Recorder()
c.set_callback(rec)

e = raises((ValueError, TypeError), c.publish, topic("x"), b"m")
print("publish before connect:", repr(e))

c.connect()


def bad(exc, word, fn, *a, **kw):
    e = raises(exc, fn, *a, **kw)
    assert word in str(e).lower(), "%s: message %r does not name %r" % (fn, str(e), word)
    return e


bad(ValueError, "qos", c.publish, topic("x"), b"m", False, 3)
bad(ValueError, "qos", c.publish, topic("x"), b"m", qos=-1)
bad(ValueError, "qos", c.subscribe, topic("x"), 3)
bad(ValueError, "topic", c.publish, b"a/+/b", b"m")
bad(ValueError, "topic", c.publish, b"a/#", b"m")
bad(ValueError, "topic", c.publish, b"", b"m")
bad(ValueError, "topic", c.subscribe, b"")
bad(ValueError, "topic", c.unsubscribe, b"")
raises(TypeError, c.publish, 123, b"m")
raises(TypeError, c.publish, topic("x"), 123)
raises(TypeError, c.publish, topic("x"), None)
raises(TypeError, c.subscribe, None)
bad(ValueError, "qos", c.set_last_will, b"w", b"m", False, 3)
bad(ValueError, "topic", c.set_last_will, b"", b"m")

# still connected and consistent
peer_sub("y", 1)
c.subscribe(topic("y"), 1)
c.publish(topic("y"), b"fine", qos=1)
pump(c, lambda: rec.msgs, what="own message")
eq(rec.msgs, [(topic("y"), b"fine")], "delivered")
eq([g["hex"] for g in peer_msgs("y", 1)], [hx(b"fine")], "peer got only the good publish")
eq(c.pid, 2, "pid untouched by rejected calls")
c.disconnect()
raises(TypeError, MQTTClient)
raises(TypeError, MQTTClient, b"id")
done()
