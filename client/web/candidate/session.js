// One candidate session over a transport: the hub's websocket, or the practice simulator.
// It owns the answer stream: edits become chunks (../shared/answers.js), every chunk goes
// into the outbox before the wire, acks empty the outbox, and a reconnect resends what the
// hub does not have (protocol/SPEC.md §6.5). The UI only renders what it is told.
import { editChunk, foldText, splitChunk } from "/web/shared/answers.js";
import { postJson } from "/web/shared/wire.js";

// Closes after which the session must not reconnect by itself (SPEC §13).
const FINAL_CLOSES = new Set([4000, 4001, 4002, 4003, 4004, 4005, 4006]);
const FINAL_FACTS = new Set(["exited", "completed", "ended", "taken_over"]);

export class Session {
  constructor({ token, identity, device, openTransport, outbox, ui, practice = false }) {
    this.token = token;
    this.identity = identity;
    this.device = device;
    this.openTransport = openTransport;
    this.outbox = outbox;
    this.ui = ui;
    this.practice = practice;
    this.transport = null;
    this.joined = false;
    this.final = false;
    this.blocked = false; // test hook: keep the socket down
    this.q = -1;
    this.total = 0;
    this.text = "";
    this.sentText = "";
    this.nextSeq = 1;
    this.timeUp = false;
    this.exitViaHttp = false;
    this.work = Promise.resolve(); // answer edits and their outbox writes, one at a time
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
      const closed = await this.connectOnce();
      if (this.final || FINAL_CLOSES.has(closed)) break;
      this.ui.connection("reconnecting");
      this.retry = Math.min(this.retry + 1, 6);
      await sleep(Math.min(250 * 2 ** this.retry, 5000));
    }
  }

  // Resolves with the close code when the transport closes.
  connectOnce() {
    return new Promise((resolve) => {
      let transport;
      try {
        transport = this.openTransport({
          onOpen: () => {
            transport.send({ type: "join", token: this.token, identity: this.identity, device: this.device });
          },
          onMessage: (message) => this.onFact(message),
          onClose: (code) => {
            this.joined = false;
            this.transport = null;
            if (!this.final) this.ui.saveState(this.saveState());
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
    // Facts are handled in order, after any pending outbox work.
    this.work = this.work.then(() => this.handle(message)).catch((error) => this.ui.failure(error));
  }

  async handle(m) {
    switch (m.type) {
      case "joined":
        this.joined = true;
        this.retry = 0;
        this.ui.connection("online");
        this.ui.joined(m);
        break;
      case "answer_saved":
        this.ui.progress(m.progress);
        break;
      case "question":
        await this.openQuestion(m);
        break;
      case "ack":
        if (m.q === this.q) {
          await this.outbox.ack(m.q, m.seq);
          this.ui.saveState(await this.saveStateNow());
        }
        break;
      case "exit_preview":
        this.exitViaHttp = false;
        this.ui.exitPreview({ ...m, viaHttp: false, unsent: await this.outbox.count() });
        break;
      case "refused":
        await this.refused(m);
        break;
      default:
        if (FINAL_FACTS.has(m.type)) await this.finalFact(m);
    }
  }

  async openQuestion(m) {
    const draft = await this.outbox.draft();
    this.q = m.q;
    this.total = m.total;
    this.timeUp = false;
    if (draft && draft.q === m.q && draft.nextSeq - 1 >= m.acked_seq) {
      // This device wrote this answer: keep its text, resend what the hub lacks.
      await this.outbox.keepOnly(m.q);
      await this.outbox.ack(m.q, m.acked_seq);
      this.text = draft.text;
      this.sentText = draft.sentText;
      this.nextSeq = draft.nextSeq;
    } else {
      await this.outbox.keepOnly(m.q);
      await this.outbox.ack(m.q, Number.MAX_SAFE_INTEGER);
      this.text = this.sentText = "";
      this.nextSeq = 1;
      if (m.acked_seq > 0 && !this.practice) {
        // Another device wrote part of this answer: show it and go on from there.
        const saved = await postJson("/api/candidate/answer", { token: this.token, identity: this.identity });
        if (saved.ok && saved.body.q === m.q) {
          this.text = this.sentText = saved.body.text;
          this.nextSeq = saved.body.seq + 1;
        }
      }
      this.nextSeq = Math.max(this.nextSeq, m.acked_seq + 1);
      await this.outbox.saveDraft(this.draftRecord());
    }
    this.ui.question(m, this.text);
    await this.resend(m.q, 0);
    if (this.text !== this.sentText) await this.streamEdit(this.text);
    this.ui.saveState(await this.saveStateNow());
  }

  async refused(m) {
    const r = m.reason;
    if (r === "seq_gap" || r === "answer_incomplete") {
      await this.resend(this.q, m.expected_seq);
      if (r === "answer_incomplete") this.sendFinish();
    } else if (r === "time_up") {
      this.timeUp = true;
      this.ui.timeUp();
    } else if (m.fatal) {
      this.final = true;
      this.ui.refused(m);
    } else if (r === "not_current_question" || r === "already_joined") {
      // A late chunk or finish for a question the hub already closed: nothing to do.
    } else {
      this.ui.notice(m);
    }
  }

  async finalFact(m) {
    this.final = true;
    if (m.type !== "taken_over") await this.outbox.clear();
    this.ui[m.type](m);
  }

  // --- the answer ---------------------------------------------------------------------
  // The candidate's text changed: queue it as an edit chunk (serialised with the facts).
  edit(text) {
    this.text = text;
    this.work = this.work.then(() => this.streamEdit(text)).catch((error) => this.ui.failure(error));
    return this.work;
  }

  async streamEdit(text) {
    if (this.final || this.timeUp || this.q < 0) return;
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
    if (!this.connected) return;
    for (const chunk of await this.outbox.pending(q)) {
      if (chunk.seq >= fromSeq) this.transport.send({ type: "chunk", q, seq: chunk.seq, data: chunk.data });
    }
  }

  draftRecord() {
    return { q: this.q, text: this.text, sentText: this.sentText, nextSeq: this.nextSeq };
  }

  // Finish the open answer once every chunk of it is acked (SPEC §6.5 rule 5).
  async finish() {
    await this.edit(this.text);
    while (!this.final && (await this.outbox.pending(this.q)).length > 0) await sleep(100);
    if (this.connected) this.sendFinish();
    return this.connected;
  }

  sendFinish() {
    this.transport.send({ type: "finish", q: this.q, last_seq: this.nextSeq - 1 });
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
    if (this.connected) {
      this.transport.send({ type: "exit_request" });
      return;
    }
    // The socket is down: the same two steps over HTTP (SPEC §10.1).
    const preview = await postJson("/api/candidate/exit", { token: this.token, identity: this.identity });
    if (!preview.ok) throw Object.assign(new Error("exit preview refused"), { body: preview.body });
    this.exitViaHttp = true;
    this.ui.exitPreview({ ...preview.body, viaHttp: true, unsent: await this.outbox.count() });
  }

  cancelExit() {
    if (this.connected && !this.exitViaHttp) this.transport.send({ type: "exit_cancel" });
  }

  async confirmExit() {
    if (this.connected && !this.exitViaHttp) {
      this.transport.send({ type: "exit_confirm" });
      return;
    }
    const done = await postJson("/api/candidate/exit", { token: this.token, identity: this.identity, confirm: true });
    if (!done.ok) throw Object.assign(new Error("exit refused"), { body: done.body });
    this.final = true;
    await this.outbox.clear();
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
