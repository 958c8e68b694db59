// The practice interview: the same screens and the same exit flow as the real one, played
// against this small simulation of the hub in the page. Nothing leaves the browser.
import { CLOSE } from "/web/shared/protocol.js";

const PROGRESS = (answered, partial, total) => ({
  answered,
  partial,
  total,
  percent: total ? Math.floor((answered * 100) / total) : 100,
});

export function practiceTransport(questions) {
  const total = questions.length;
  let q = 0;
  let stored = 0;
  let answered = 0;
  let partial = 0;
  let exitRequested = false;
  let open = true;
  let timer = null;
  let handlers = null;

  // Messages are delivered in order, like frames on a socket, even the one before a close.
  const emit = (message) => open && setTimeout(() => handlers.onMessage(message), 20);
  const close = (code) => {
    open = false;
    clearTimeout(timer);
    setTimeout(() => handlers.onClose(code), 40);
  };
  const ask = () => {
    const limit = questions[q].time_limit_s;
    stored = 0;
    clearTimeout(timer);
    if (limit) timer = setTimeout(() => closeQuestion("timed_out"), limit * 1000);
    emit({
      type: "question", q, text: questions[q].text, total, time_limit_s: limit,
      deadline_ms: limit ? Date.now() + limit * 1000 : 0, acked_seq: 0,
    });
  };
  const closeQuestion = (status) => {
    answered += 1;
    exitRequested = false;
    emit({ type: "answer_saved", q, status, last_seq: stored, progress: PROGRESS(answered, partial, total) });
    q += 1;
    if (q < total) ask();
    else {
      emit({ type: "completed", progress: PROGRESS(answered, partial, total) });
      close(CLOSE.COMPLETED);
    }
  };

  const commands = {
    join() {
      emit({
        type: "joined", interview_id: "practice", mode: "start", candidate: "", position: "",
        progress: PROGRESS(0, 0, total), second_entry: true, reentry_window_s: 86400, resume_grace_s: 300,
      });
      ask();
    },
    chunk(m) {
      if (m.q !== q) return;
      if (m.seq === stored + 1) stored = m.seq;
      emit({ type: "ack", q, seq: stored });
    },
    finish(m) {
      if (m.q === q) closeQuestion("answered");
    },
    exit_request() {
      exitRequested = true;
      emit({
        type: "exit_preview", progress: PROGRESS(answered, partial, total), current_q: q,
        saved_seq: stored, reentry_allowed: true, reentry_until_ms: Date.now() + 86400 * 1000,
      });
    },
    exit_cancel() {
      exitRequested = false;
    },
    exit_confirm() {
      if (!exitRequested) return;
      partial += 1;
      emit({
        type: "exited", progress: PROGRESS(answered, partial, total), partial_q: q,
        reentry_allowed: true, reentry_until_ms: Date.now() + 86400 * 1000,
      });
      close(CLOSE.EXITED);
    },
  };

  return (newHandlers) => {
    handlers = newHandlers;
    setTimeout(() => handlers.onOpen(), 10);
    return {
      isOpen: () => open,
      send: (message) => open && commands[message.type]?.(message),
      close: () => close(1000),
    };
  };
}
