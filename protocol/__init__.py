"""interview-hub's protocol: messages, codec, the interview state machine, reason codes.

Pure code: no I/O, no clock, no randomness. The hub, the Python client, the load tests
and the web client's tests all follow it.
"""

SUBPROTOCOL = "interview-hub.v1"
MONITOR_SUBPROTOCOL = "interview-hub.monitor.v1"
