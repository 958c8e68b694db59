// Camera and microphone to the hub over WebRTC (v2, SPEC §16): one RTCPeerConnection per
// joined socket. The offer goes out once ICE gathering is complete (no trickle); the hub's
// answer completes it. If the camera or the connection fails, the answer box keeps working
// and the hub is told why (media_stop{reason}), so HR sees it.
const GATHER_TIMEOUT_MS = 5000;

export class MediaLink {
  constructor({ send, onState }) {
    this.send = send;
    this.onState = onState;
    this.pc = null;
    this.stream = null;
  }

  async start() {
    this.close();
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640 }, audio: true });
    } catch (error) {
      const reason = error?.name === "NotAllowedError" ? "permission_denied" : "no_camera";
      this.send({ type: "media_stop", reason });
      this.onState("off", reason);
      return;
    }
    let iceServers = [];
    try {
      const config = await fetch("/api/candidate/media-config", { cache: "no-store" });
      if (config.ok) iceServers = (await config.json()).iceServers || [];
    } catch {
      // no config: host candidates only
    }
    const pc = new RTCPeerConnection({ iceServers });
    this.pc = pc;
    for (const track of this.stream.getTracks()) pc.addTrack(track, this.stream);
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed") this.onState("failed", "ice_failed");
    });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    if (this.pc !== pc) return; // closed meanwhile
    this.send({ type: "media_offer", sdp: pc.localDescription.sdp });
    this.onState("connecting", "");
  }

  async answer(sdp) {
    if (this.pc) await this.pc.setRemoteDescription({ type: "answer", sdp });
  }

  close() {
    if (this.pc) this.pc.close();
    this.pc = null;
    for (const track of this.stream?.getTracks() || []) track.stop();
    this.stream = null;
  }
}
