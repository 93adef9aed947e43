# umqtt.robust of the native .mpy: micropython-lib's umqtt.robust, unchanged (scripts/build-natmod
# installs it beside this file as _robust), whose client's attributes are made the native
# client's, as the built-in module does when umqtt.robust is imported: `client.cb = f` on a
# robust client is then seen by subscribe().
from . import _properties
from ._robust import MQTTClient, simple

_properties(MQTTClient)
