# umqtt.simple of the native .mpy: the package's own client and exception, as umqtt.simple is
# in a firmware with the built-in module. (Board scripts written for micropython-lib's
# umqtt.simple import from here unchanged.)
from . import MQTTClient, MQTTException
