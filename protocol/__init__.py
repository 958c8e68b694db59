"""interview-hub's protocol: messages, codec, the interview state machine, reason codes.

Pure code: no I/O, no clock, no randomness. The hub, the Python client, the load tests
and the web client's tests all follow it.
"""

SUBPROTOCOL = "interview-hub.v1"
# v2 = v1 plus camera and microphone over WebRTC (signalling messages, SPEC §16); a hub
# speaks both and picks v2 when the client offers it
SUBPROTOCOL_V2 = "interview-hub.v2"
MONITOR_SUBPROTOCOL = "interview-hub.monitor.v1"
