# pytest.mark.slow
# pytest.mark.native_only("umqtt.simple 1.8.0 has no QoS 2")
# pytest.mark.script_timeout(120)
# As test_fault_receive.py with a QoS 1 and a QoS 2 stream: QoS 2 messages must arrive exactly once.
from fault_receive import main

main((1, 2))
