# @native-only: umqtt.simple 1.8.0 has no QoS 2
# @timeout: 90
# @known-bug: issue-6 finding: a QoS 2 publish() cut by the restart is published again by umqtt.robust under a new id; the module does not resend the unfinished PUBLISH/PUBREL on the resumed session
# As test_fault_publish.py, and QoS 2 messages must reach the peer exactly once.
from fault_publish import main

main(True)
