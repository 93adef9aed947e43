# Frozen manifest of the unix firmware scripts/build-unix makes: the standard
# variant's content plus umqtt.robust.
include("$(PORT_DIR)/variants/standard/manifest.py")
include("manifest.py")
