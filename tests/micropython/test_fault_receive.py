# pytest.mark.slow
# pytest.mark.native_only("umqtt.simple 1.8.0 sends no PINGREQ: wait_msg() blocks while nothing arrives, the loop never checks")
# pytest.mark.script_timeout(120)
# Network faults while receiving at QoS 1: a persistent paho peer streams QoS 1 messages to a
# umqtt.robust client (clean_session=False, keepalive=2) looping in wait_msg() and then in
# check_msg(), while the test's own mosquitto (persistence on) is stopped with SIGTERM and
# restarted on the same port. Every message the broker acknowledged to the peer must reach the
# client (the session queues them while it is away). Body in fault_receive.py.
from fault_receive import main

main((1,))
