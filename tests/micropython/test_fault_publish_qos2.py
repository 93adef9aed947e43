# pytest.mark.slow
# pytest.mark.native_only("umqtt.simple 1.8.0 has no QoS 2")
# pytest.mark.script_timeout(90)
# As test_fault_publish.py, and QoS 2 messages must reach the peer exactly once: connect() finishes
# a QoS 2 publish cut by the restart under its packet id, and umqtt.robust's retry sends nothing more.
from fault_publish import main

main(True)
