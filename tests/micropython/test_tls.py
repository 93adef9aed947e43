# pytest.mark.needs_tls
# TLS against mosquitto's TLS listener (CA made by the runner): ssl=True with ssl_params
# (umqtt's legacy path), and an SSLContext with cafile and with cadata; a QoS 1 round trip and
# check_msg over each; a certificate from another CA is refused.
from mqtt_harness import MQTTClient, CFG, HOST, client_id, topic, pump, Recorder, raises, skip, done, eq

try:
    import ssl
except ImportError:
    skip("no ssl module in this firmware")

port = CFG["tls_port"]
ca = open(CFG["ca_der"], "rb").read()


def round_trip(c, tag):
    rec = Recorder()
    c.set_callback(rec)
    eq(c.connect(), 0, tag + ": session present")
    c.subscribe(topic(tag), qos=1)
    eq(c.check_msg(), None, tag + ": check_msg with nothing pending")
    c.publish(topic(tag), b"secret-" + tag.encode(), qos=1)
    c.publish(topic(tag), b"x" * 5000, qos=0)
    pump(c, lambda: len(rec.msgs) >= 2, what=tag + " messages")
    eq(rec.msgs[0], (topic(tag), b"secret-" + tag.encode()), tag)
    eq(rec.msgs[1], (topic(tag), b"x" * 5000), tag)
    c.disconnect()


params = {"cadata": ca, "cert_reqs": ssl.CERT_REQUIRED, "server_hostname": "127.0.0.1"}
round_trip(MQTTClient(client_id(), HOST, port, ssl=True, ssl_params=params), "legacy")

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(cafile=CFG["ca_der"])
round_trip(MQTTClient(client_id(), HOST, port, ssl=ctx), "cafile")

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(cadata=ca)
round_trip(MQTTClient(client_id(), HOST, port, ssl=ctx), "cadata")

wrong = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
wrong.verify_mode = ssl.CERT_REQUIRED
wrong.load_verify_locations(cadata=open(CFG["wrong_ca_der"], "rb").read())
c = MQTTClient(client_id(), HOST, port, ssl=wrong)
raises((OSError, ValueError), c.connect)
done()
