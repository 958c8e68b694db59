// Camera and microphone to the hub over WebRTC (v2, SPEC §16): one RTCPeerConnection per
// joined socket. The offer goes out once ICE gathering is complete (no trickle); the hub's
// answer completes it. If the camera or the connection fails, the answer box keeps working
// and the hub is told why (media_stop{reason}), so HR sees it.
const GATHER_TIMEOUT_MS = 5000;

export class MediaLink {
  constructor({ send, onState, camera = true }) {
    this.send = send;
    this.camera = camera; // false: the candidate did not consent to video; never opened
    this.onState = onState;
    this.pc = null;
    this.stream = null;
    this.generation = 0;
  }

  async start() {
    this.close();
    const generation = ++this.generation; // a close() meanwhile makes this start give up
    const stale = () => generation !== this.generation;
    let stream;
    try {
      const video = this.camera ? { width: 640 } : false;
      stream = await navigator.mediaDevices.getUserMedia({ video, audio: true });
    } catch (error) {
      if (stale()) return;
      const reason = error?.name === "NotAllowedError" ? "permission_denied" : "no_camera";
      this.send({ type: "media_stop", reason });
      this.onState("off", reason);
      return;
    }
    if (stale()) return stopTracks(stream); // ended, taken over or dropped while asking
    this.stream = stream;
    let iceServers = [];
    try {
      const config = await fetch("/api/candidate/media-config", { cache: "no-store" });
      if (config.ok) iceServers = (await config.json()).iceServers || [];
    } catch {
      // no config: host candidates only
    }
    if (stale()) return;
    const pc = new RTCPeerConnection({ iceServers });
    this.pc = pc;
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed") this.onState("failed", "ice_failed");
    });
    try {
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
    } catch {
      if (stale()) return;
      this.close();
      this.send({ type: "media_stop", reason: "offer_failed" });
      this.onState("off", "offer_failed");
      return;
    }
    if (stale()) return;
    this.send({ type: "media_offer", sdp: pc.localDescription.sdp });
    this.onState("connecting", "");
  }

  async answer(sdp) {
    if (this.pc) await this.pc.setRemoteDescription({ type: "answer", sdp });
  }

  close() {
    this.generation++;
    if (this.pc) this.pc.close();
    this.pc = null;
    stopTracks(this.stream);
    this.stream = null;
  }
}

function stopTracks(stream) {
  for (const track of stream?.getTracks() || []) track.stop();
}
