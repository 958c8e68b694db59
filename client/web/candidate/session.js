// One candidate session over a transport: the hub's websocket, or the practice simulator.
// It owns the answer stream: edits become chunks (../shared/answers.js), every chunk goes
// into the outbox before the wire, acks empty the outbox, and a reconnect resends what the
// hub does not have (protocol/SPEC.md §6.5). The UI only renders what it is told.
//
// What this device knows about the open answer (kept in the outbox's draft):
//   text       what the box shows            sentText  the fold of every chunk sent
//   ackedText  the fold of chunks 1..ackedSeq (stored, the hub said so)
//   nextSeq    the seq of the next chunk
// The box itself is also mirrored synchronously on every keystroke (localStorage), so a
// tab closed within the send interval loses nothing either.
import { editChunk, foldText, splitChunk } from "/web/shared/answers.js";
import { CANDIDATE_FINAL_CLOSES, CLOSE } from "/web/shared/protocol.js";
import { postJson } from "/web/shared/wire.js";
import { MediaLink } from "./media.js";

// Closes after which the session must not reconnect by itself (SPEC §13; from protocol/)
const FINAL_CLOSES = new Set(CANDIDATE_FINAL_CLOSES);
const FINAL_FACTS = new Set(["exited", "completed", "ended", "taken_over"]);
const IDLE_CLOSE = CLOSE.IDLE;
const HOLDER_CHECK_MS = 5000;

export class Session {
  constructor({ token, identity, device, deviceId = "", openTransport, outbox, ui, practice = false, camera = true }) {
    this.token = token;
    this.identity = identity;
    this.device = device;
    this.deviceId = deviceId;
    this.openTransport = openTransport;
    this.outbox = outbox;
    this.ui = ui;
    this.practice = practice;
    this.camera = camera; // the candidate's camera consent: without it only the microphone
    this.boxKey = practice ? "" : `interview-hub.box.${token.split(".")[0]}`;
    this.transport = null;
    this.joined = false;
    this.final = false;
    this.blocked = false; // test hook: keep the socket down
    this.q = -1;
    this.total = 0;
    this.text = "";
    this.sentText = "";
    this.ackedText = "";
    this.ackedSeq = 0;
    this.nextSeq = 1;
    this.timeUp = false;
    this.locked = false; // time up or answer too long: no more chunks for this question
    this.exitPending = false;
    this.exitViaHttp = false;
    this.graceMs = 0;
    this.lostAt = 0;
    this.wake = null; // set while paused after an idle close: call it to reconnect
    this.mediaLink = null; // camera and microphone, on a v2 socket
    this.mediaStarted = false; // a media link was opened at least once (a status to keep true)
    this.joinedOnce = false; // a rejoin first asks whether another device took over meanwhile
    this.work = Promise.resolve(); // facts and edits, one at a time
    this.retry = 0;
  }

  get connected() {
    return Boolean(this.transport && this.transport.isOpen() && this.joined);
  }

  // --- connection -------------------------------------------------------------------
  async start() {
    while (!this.final) {
      if (this.blocked) {
        await sleep(200);
        continue;
      }
      if (this.graceMs && this.lostAt && Date.now() - this.lostAt > this.graceMs) {
        // Past the resume grace, stop coming back by ourselves: the interview still waits at
        // the same question (SPEC §8.1), but the candidate may have moved to another device
        // meanwhile, and a join here would take it back from there (§8.4). Continuing is
        // one click in the centre.
        this.final = true;
        this.stopMedia("stopped", "offline");
        this.ui.graceOver();
        break;
      }
      const holder = this.joinedOnce ? await this.heldElsewhere() : null;
      if (holder !== null) {
        // Another device took the interview while this one was away: a join would take it
        // back unasked (SPEC §8.4). Stop here; the candidate chooses.
        this.final = true;
        this.stopMedia("stopped", "taken_over");
        this.ui.heldElsewhere(holder);
        break;
      }
      const closed = await this.connectOnce();
      if (this.final || FINAL_CLOSES.has(closed)) break;
      if (closed === IDLE_CLOSE) {
        // Closed for inactivity (SPEC §13): come back when the candidate does something.
        this.ui.connection("paused");
        await new Promise((resolve) => {
          this.wake = resolve;
        });
        this.wake = null;
        continue;
      }
      if (!this.lostAt) this.lostAt = Date.now();
      this.ui.connection("reconnecting");
      this.retry = Math.min(this.retry + 1, 6);
      await sleep(Math.min(250 * 2 ** this.retry, 5000));
    }
  }

  // The device holding the interview, when it is not this one ("" if it gave no name), by
  // the candidate centre (SPEC §10.2); null when nobody else holds it or it cannot be told.
  // This device's own earlier socket that the hub has not dropped yet is told by the device
  // id (`connected_here`); without one, a device described exactly like this one is taken
  // for this one.
  async heldElsewhere() {
    if (this.practice) return null;
    try {
      const answer = await Promise.race([
        postJson("/api/candidate/centre", { token: this.token, identity: this.identity, device_id: this.deviceId }),
        sleep(HOLDER_CHECK_MS).then(() => null), // a dead path: do not wait for ever
      ]);
      if (!answer?.ok) return null;
      const id = this.token.split(".")[0];
      const item = answer.body.interviews.find((i) => i.interview_id === id);
      const own = this.deviceId ? item?.connected_here : item?.connected_device === this.device;
      if (item?.connected && !own) return item.connected_device;
    } catch {
      // unreachable: the join will tell
    }
    return null;
  }

  // Resolves with the close code when the transport closes.
  connectOnce() {
    return new Promise((resolve) => {
      let transport;
      try {
        transport = this.openTransport({
          onOpen: () => {
            const join = { type: "join", token: this.token, identity: this.identity, device: this.device };
            if (this.deviceId) join.device_id = this.deviceId; // SPEC §2.1
            transport.send(join);
          },
          onMessage: (message) => this.onFact(message),
          onClose: (code) => {
            this.joined = false;
            this.transport = null;
            // the hub closed its side with the socket: nothing is recorded until a rejoin
            if (!this.final) this.stopMedia("paused", "offline");
            if (!this.final) this.ui.saveState(this.quickState());
            resolve(code);
          },
        });
      } catch {
        resolve(1006);
        return;
      }
      this.transport = transport;
    });
  }

  // --- facts from the hub -------------------------------------------------------------
  onFact(message) {
    this.work = this.work.then(() => this.handle(message)).catch((error) => this.failed(error));
  }

  failed(error) {
    this.ui.failure(error);
    // A step of the resume failed (e.g. the saved answer could not be loaded): start over.
    if (this.transport) this.transport.close();
  }

  async handle(m) {
    switch (m.type) {
      case "joined":
        this.joined = true;
        this.joinedOnce = true;
        this.retry = 0;
        this.lostAt = 0;
        this.graceMs = m.resume_grace_s * 1000;
        if (m.mode === "start") await this.forgetDevice(); // a new attempt (e.g. after a reset)
        this.ui.connection("online");
        this.ui.joined(m);
        this.startMedia();
        // A join clears a pending exit request (SPEC §5.4): ask again for a fresh preview.
        if (this.exitPending && !this.exitViaHttp) this.transport.send({ type: "exit_request" });
        break;
      case "answer_saved":
        this.ui.answerSaved(m);
        break;
      case "question":
        await this.openQuestion(m);
        break;
      case "ack":
        await this.acked(m.q, m.seq);
        break;
      case "exit_preview":
        this.exitViaHttp = false;
        this.exitShown = m;
        this.ui.exitPreview({ ...m, viaHttp: false, unsent: await this.outbox.count() });
        break;
      case "refused":
        await this.refused(m);
        break;
      case "media_answer":
        await this.mediaLink?.answer(m.sdp);
        break;
      case "media_state":
        // The hub has given up on this link (failed) or stores no more of it (limited): stop
        // the tracks, so the camera light does not stay on while nothing is recorded.
        if (m.state === "failed" || m.state === "limited") this.mediaLink?.close();
        this.ui.mediaState(m.state, m.reason);
        break;
      default:
        if (FINAL_FACTS.has(m.type)) await this.finalFact(m);
    }
  }

  async acked(q, seq) {
    if (q !== this.q || seq <= this.ackedSeq) return;
    const covered = (await this.outbox.pending(q)).filter((c) => c.seq <= seq).sort((a, b) => a.seq - b.seq);
    this.ackedText = foldText([this.ackedText, ...covered.map((c) => c.data)]);
    this.ackedSeq = seq;
    await this.outbox.ack(q, seq, this.draftRecord());
    this.ui.saveState(await this.saveStateNow());
  }

  async openQuestion(m) {
    const draft = await this.outbox.draft();
    const stillShown = this.q === m.q; // the same question, live in this page (a reconnect)
    this.q = m.q;
    this.total = m.total;
    this.timeUp = this.locked = false;
    let mine = Boolean(draft && draft.q === m.q);
    let saved = null;
    if (mine && m.acked_seq > draft.ackedSeq) {
      // The hub holds more than this device saw acked: its own chunks whose acks were lost,
      // or another device's. Only the stored text can tell.
      const pending = (await this.outbox.pending(m.q)).sort((a, b) => a.seq - b.seq);
      const expected = foldText([draft.ackedText, ...pending.filter((c) => c.seq <= m.acked_seq).map((c) => c.data)]);
      saved = m.acked_seq <= draft.nextSeq - 1 ? await this.savedAnswer(m.q) : null;
      mine = saved !== null && saved.seq === m.acked_seq && saved.text === expected;
    }
    await this.outbox.keepOnly(m.q);
    if (mine) {
      const pending = (await this.outbox.pending(m.q)).filter((c) => c.seq <= m.acked_seq).sort((a, b) => a.seq - b.seq);
      this.ackedText = foldText([draft.ackedText, ...pending.map((c) => c.data)]);
      this.ackedSeq = Math.max(draft.ackedSeq, m.acked_seq);
      this.sentText = draft.sentText;
      this.nextSeq = draft.nextSeq;
      this.text = stillShown ? this.text : (this.mirroredBox(m.q) ?? draft.text);
    } else {
      // Nothing of this device's counts for this answer: start from what the hub stored.
      await this.outbox.ack(m.q, Number.MAX_SAFE_INTEGER);
      if (m.acked_seq > 0 && !this.practice) saved = saved || (await this.savedAnswer(m.q));
      this.ackedText = this.sentText = this.text = saved ? saved.text : "";
      this.ackedSeq = saved ? saved.seq : m.acked_seq;
      this.nextSeq = this.ackedSeq + 1;
      if (!stillShown) this.mirrorBox("");
    }
    await this.outbox.ack(m.q, this.ackedSeq, this.draftRecord());
    this.ui.question(m, this.text, { keepBox: stillShown && mine });
    await this.resend(m.q, 0);
    if (this.text !== this.sentText) await this.streamEdit(this.text);
    this.ui.saveState(await this.saveStateNow());
  }

  // The stored text of the open question (another device may have written it), retried.
  async savedAnswer(q) {
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        const r = await postJson("/api/candidate/answer", { token: this.token, identity: this.identity });
        if (r.ok && r.body.q === q) return { text: r.body.text, seq: r.body.seq };
        if (r.status < 500 && r.status !== 0) break;
      } catch {
        // network: try again
      }
      await sleep(300 * (attempt + 1));
    }
    throw new Error("the saved answer could not be loaded");
  }

  async refused(m) {
    const r = m.reason;
    if (r === "seq_gap" || r === "answer_incomplete") {
      // the question refused, taken before the await: a deadline may close it and open
      // the next meanwhile, and the next must not be finished in its place
      const q = this.q;
      await this.resend(q, m.expected_seq);
      if (r === "answer_incomplete" && this.q === q) this.sendFinish(q);
    } else if (r === "time_up" || r === "answer_too_long") {
      // No more chunks can be stored for this question: stop sending, keep the box as is.
      this.timeUp = r === "time_up";
      this.locked = true;
      if (r === "answer_too_long") {
        // The answer is full: what was not stored never will be. "Next" then finishes it
        // with what is stored (the ack for that came before this refusal).
        const unstored = (await this.outbox.pending(this.q)).filter((c) => c.seq > this.ackedSeq);
        for (const c of unstored) await this.outbox.ack(this.q, c.seq); // (drops up to it)
        this.sentText = this.ackedText;
        this.nextSeq = this.ackedSeq + 1;
        await this.outbox.saveDraft(this.draftRecord());
      }
      this.ui.locked(m);
    } else if (m.fatal && (m.refused_type === "join" || r === "malformed" || r === "bad_field")) {
      this.final = true;
      this.stopMedia("stopped", r);
      this.ui.refused(m);
    } else if (m.fatal) {
      // internal_error (1011), not_in_progress (1000): the socket closes; joining again
      // tells what is true now (SPEC §13).
      this.ui.notice(m);
    } else if (r === "not_current_question" || r === "already_joined" || r === "no_exit_requested") {
      // Late chunks or commands for a question or exit the hub already moved past.
    } else {
      this.ui.notice(m);
    }
  }

  // Each joined v2 socket gets a new peer connection (the hub closed the old one with it).
  startMedia() {
    this.mediaLink?.close();
    this.mediaLink = null;
    if (this.practice || !this.transport?.media?.()) return;
    const transport = this.transport;
    this.mediaStarted = true;
    this.mediaLink = new MediaLink({
      send: (message) => transport.send(message),
      onState: (state, reason) => {
        if (state === "failed") this.mediaLink?.close(); // the light goes off with it
        this.ui.mediaState(state, reason);
      },
      camera: this.camera,
    });
    this.mediaLink.start().catch((error) => {
      this.ui.mediaState("off", "no_camera");
      this.ui.failure(error);
    });
  }

  // Close the peer connection and stop the tracks (the camera light goes off), and say so:
  // "paused" until a rejoin starts them again, "stopped" for good.
  stopMedia(state, why) {
    const had = this.mediaLink !== null;
    this.mediaLink?.close();
    this.mediaLink = null;
    // (a session that never recorded, e.g. practice, has no status to correct)
    if (had || (state === "stopped" && this.mediaStarted)) this.ui.mediaState(state, why);
  }

  async finalFact(m) {
    this.final = true;
    this.stopMedia("stopped", m.type);
    this.exitPending = false;
    if (m.type !== "taken_over") await this.forgetDevice();
    this.ui[m.type](m);
  }

  async forgetDevice() {
    await this.outbox.clear();
    this.mirrorBox("");
  }

  // --- the answer ---------------------------------------------------------------------
  // Every keystroke: remember the box at once (synchronously), send later (edit()).
  typed(text) {
    this.text = text;
    if (this.q >= 0) this.mirrorBox(text);
  }

  mirrorBox(text) {
    if (!this.boxKey) return;
    if (text) localStorage.setItem(this.boxKey, JSON.stringify({ q: this.q, text }));
    else localStorage.removeItem(this.boxKey);
  }

  mirroredBox(q) {
    if (!this.boxKey) return null;
    try {
      const box = JSON.parse(localStorage.getItem(this.boxKey) || "null");
      return box && box.q === q ? box.text : null;
    } catch {
      return null;
    }
  }

  // The candidate's text changed: queue it as an edit chunk (serialised with the facts).
  edit(text) {
    this.typed(text);
    this.work = this.work.then(() => this.streamEdit(text)).catch((error) => this.failed(error));
    return this.work;
  }

  async streamEdit(text) {
    if (this.final || this.locked || this.q < 0) return;
    const chunk = editChunk(this.sentText, text);
    if (!chunk) return;
    for (const part of splitChunk(chunk)) {
      const seq = this.nextSeq++;
      this.sentText = foldText([this.sentText, part]);
      // Written down before it is sent: a reload after this line loses nothing.
      await this.outbox.put({ q: this.q, seq, data: part }, this.draftRecord());
      if (this.connected) this.transport.send({ type: "chunk", q: this.q, seq, data: part });
    }
    this.ui.saveState(await this.saveStateNow());
  }

  async resend(q, fromSeq) {
    if (!this.connected || this.locked) return;
    const pending = (await this.outbox.pending(q)).sort((a, b) => a.seq - b.seq);
    for (const chunk of pending) {
      if (chunk.seq >= fromSeq) this.transport.send({ type: "chunk", q, seq: chunk.seq, data: chunk.data });
    }
  }

  draftRecord() {
    return {
      q: this.q,
      text: this.text,
      sentText: this.sentText,
      ackedText: this.ackedText,
      ackedSeq: this.ackedSeq,
      nextSeq: this.nextSeq,
    };
  }

  // Finish the open answer once every chunk of it is acked (SPEC §6.5 rule 5). Gives up,
  // returning false, when that question is closed meanwhile (time up, another device).
  async finish() {
    const q = this.q;
    await this.edit(this.text);
    while (!this.final && this.q === q && !this.locked && (await this.outbox.pending(q)).length > 0) {
      await sleep(100);
    }
    if (this.final || this.q !== q || !this.connected) return false;
    if (this.timeUp) return false; // the hub's timer closes it
    if (this.locked) {
      this.sendFinish(q); // a full answer: finish with what is stored
      return true;
    }
    this.sendFinish(q);
    return true;
  }

  sendFinish(q) {
    if (this.connected) this.transport.send({ type: "finish", q, last_seq: this.nextSeq - 1 });
  }

  quickState() {
    return this.lastSaveState === "saved" || this.lastSaveState === "empty" ? this.lastSaveState : "offline";
  }

  saveState() {
    return this.lastSaveState || "empty";
  }

  async saveStateNow() {
    const pending = this.q >= 0 ? (await this.outbox.pending(this.q)).length : 0;
    let state = "saved";
    if (pending > 0 || this.text !== this.sentText) state = this.connected ? "saving" : "offline";
    else if (!this.text) state = "empty";
    this.lastSaveState = state;
    return state;
  }

  // --- exit ---------------------------------------------------------------------------
  async requestExit() {
    await this.edit(this.text);
    this.exitPending = true;
    if (this.connected) {
      this.exitViaHttp = false;
      this.transport.send({ type: "exit_request" });
      return;
    }
    // The socket is down: the same two steps over HTTP (SPEC §10.1).
    const preview = await postJson("/api/candidate/exit", { token: this.token, identity: this.identity });
    if (!preview.ok) throw Object.assign(new Error("exit preview refused"), { body: preview.body });
    await this.showHttpPreview(preview.body);
  }

  async showHttpPreview(body) {
    this.exitViaHttp = true;
    this.exitShown = body;
    this.ui.exitPreview({ ...body, viaHttp: true, unsent: await this.outbox.count() });
  }

  // The hub may learn of the lost socket only after the HTTP preview (its keep-alive, or a
  // close still on its way), and that disconnect clears the request (SPEC §8.1). If a fresh
  // preview says exactly what the candidate confirmed, the confirm stands; otherwise they
  // see the new one and decide again.
  async exitAgainIfUnchanged() {
    const shown = this.exitShown;
    const preview = await postJson("/api/candidate/exit", { token: this.token, identity: this.identity });
    if (!preview.ok) throw Object.assign(new Error("exit preview refused"), { body: preview.body });
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    if (shown && same(shown.progress, preview.body.progress) && shown.current_q === preview.body.current_q) {
      return postJson("/api/candidate/exit", { token: this.token, identity: this.identity, confirm: true });
    }
    await this.showHttpPreview(preview.body);
    return null;
  }

  cancelExit() {
    this.exitPending = false;
    if (this.connected && !this.exitViaHttp) this.transport.send({ type: "exit_cancel" });
  }

  async confirmExit() {
    if (this.connected && !this.exitViaHttp) {
      this.transport.send({ type: "exit_confirm" });
      return;
    }
    let done = await postJson("/api/candidate/exit", { token: this.token, identity: this.identity, confirm: true });
    if (!done.ok && done.body.reason === "no_exit_requested") {
      if (this.connected) {
        // A reconnect cleared the request in between: show a fresh preview to confirm.
        await this.requestExit();
        return;
      }
      done = await this.exitAgainIfUnchanged();
      if (done === null) return;
    }
    if (!done.ok) throw Object.assign(new Error("exit refused"), { body: done.body });
    this.final = true;
    this.exitPending = false;
    this.stopMedia("stopped", "exited");
    await this.forgetDevice();
    if (this.transport) this.transport.close();
    this.ui.exited({ ...done.body, viaHttp: true });
  }

  // --- test hooks: cut the live connection and keep it down, or let it come back ----------
  block() {
    this.blocked = true;
    if (this.transport) this.transport.close();
  }

  unblock() {
    this.blocked = false;
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
