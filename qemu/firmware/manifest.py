# Frozen part of the QEMU test firmware: what a board gets (umqtt.robust), nothing else.
include("../../micropython_port/manifest.py")
