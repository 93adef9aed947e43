# pytest.mark.slow
# pytest.mark.native_only("umqtt.simple 1.8.0 has no QoS 2")
# pytest.mark.script_timeout(90)
# Network faults under publish(): umqtt.robust with clean_session=False publishes a stream of
# QoS 1 and QoS 2 messages while the test's own mosquitto (persistence on) is stopped and
# restarted on the same port, with SIGTERM, SIGKILL, SIGTERM. Every publish() that returned
# (acknowledged) must reach the persistent paho peer after a SIGTERM restart (after SIGKILL the
# broker may lose what it did not autosave: counted, not asserted). Body in fault_publish.py.
from fault_publish import main

main(False)
