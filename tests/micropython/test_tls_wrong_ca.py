# pytest.mark.needs_tls
# A TLS server certificate from another CA is refused at connect() with a certificate error
# (OSError or ValueError whose text names the certificate / verification), and the same object
# then connects with the right CA. Against the runner's TLS listener.
from mqtt_harness import MQTTClient, CFG, HOST, client_id, skip, eq, done

try:
    import ssl
except ImportError:
    skip("no ssl module in this firmware")


def ctx(ca_path):
    x = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    x.verify_mode = ssl.CERT_REQUIRED
    x.load_verify_locations(cafile=ca_path)
    return x


c = MQTTClient(client_id(), HOST, CFG["tls_port"], ssl=ctx(CFG["wrong_ca_der"]))
try:
    c.connect()
    raise AssertionError("connect with the wrong CA succeeded")
except (OSError, ValueError) as e:
    print("wrong CA:", repr(e))
    msg = str(e).upper()
    assert "CERT" in msg or "VERIF" in msg, "not a clear certificate error: %r" % (e,)
c.ssl = ctx(CFG["ca_der"])
eq(c.connect(), 0, "connect with the right CA")
c.ping()
eq(c.wait_msg(), None, "PINGRESP")
c.disconnect()
done()
