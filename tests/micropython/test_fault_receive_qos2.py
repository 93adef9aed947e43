# @native-only: umqtt.simple 1.8.0 has no QoS 2
# @timeout: 120
# @known-bug: issue-6 finding: after a broker restart with QoS 1 and QoS 2 streams, mosquitto 2.0.11 stops forwarding QoS 1 messages to the client (its log: 40 QoS 1 PUBLISH sent after the restart, all 40 PUBACKed, ~97 more received from the peer never sent) while QoS 2 flows on; under investigation whether anything on the client side provokes it
# As test_fault_receive.py with a QoS 1 and a QoS 2 stream: QoS 2 messages must arrive exactly once.
from fault_receive import main

main((1, 2))
