# pytest.mark.slow
# pytest.mark.native_only("umqtt.simple 1.8.0 sends no PINGREQ: a frozen broker blocks it for ever")
# pytest.mark.script_timeout(40)
# A dead peer over plain TCP: the test's own mosquitto is frozen with SIGSTOP (its sockets stay
# open, as on a lost link). With keepalive=2 the client raises OSError within 2 keepalive
# periods from wait_msg() and from a check_msg() loop; after SIGCONT the same object reconnects.
# (The control for test_tls_dead_peer.py.) Body in dead_peer.py.
from dead_peer import main

main(True)
