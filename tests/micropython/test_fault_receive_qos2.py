# @native-only: umqtt.simple 1.8.0 has no QoS 2
# @timeout: 120
# @known-bug: issue-6 finding: after a broker restart with QoS 1 and QoS 2 streams, about half of the QoS 1 messages the broker acknowledged are not delivered within 8 s (one reconnect; the former wedge on 33+ unreleased QoS 2 ids is fixed); cause not found yet
# As test_fault_receive.py with a QoS 1 and a QoS 2 stream: QoS 2 messages must arrive exactly once.
from fault_receive import main

main((1, 2))
