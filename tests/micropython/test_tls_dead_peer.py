# pytest.mark.needs_tls
# pytest.mark.slow
# pytest.mark.native_only("umqtt.simple 1.8.0 sends no PINGREQ: a frozen broker blocks it for ever")
# pytest.mark.script_timeout(15)
# As test_dead_peer_plain.py over TLS (the test's own mosquitto with a TLS listener and the
# runner's CA): a frozen broker must give OSError within the keepalive window, not a hang.
from dead_peer import main

main(False)
