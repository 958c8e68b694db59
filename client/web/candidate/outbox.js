// What a closed tab, a reload or a network drop must not lose (protocol/SPEC.md §6.5):
// every chunk sent but not yet acked, and the answer as the candidate last saw it.
// Kept in IndexedDB, written before the chunk goes on the wire.
const DB_NAME = "interview-hub";
const VERSION = 1;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export async function openOutbox(interviewId) {
  const open = indexedDB.open(DB_NAME, VERSION);
  open.onupgradeneeded = () => {
    const db = open.result;
    db.createObjectStore("chunks", { keyPath: ["iv", "q", "seq"] });
    db.createObjectStore("drafts", { keyPath: "iv" });
  };
  const db = await request(open);
  const range = (q) => IDBKeyRange.bound([interviewId, q, 0], [interviewId, q, Infinity]);
  const all = IDBKeyRange.bound([interviewId, -Infinity, 0], [interviewId, Infinity, Infinity]);
  return {
    // Store the chunk and the draft together, so the draft never runs ahead of the chunks.
    async put(chunk, draft) {
      const tx = db.transaction(["chunks", "drafts"], "readwrite");
      tx.objectStore("chunks").put({ iv: interviewId, ...chunk });
      tx.objectStore("drafts").put({ iv: interviewId, ...draft });
      await done(tx);
    },
    async saveDraft(draft) {
      const tx = db.transaction("drafts", "readwrite");
      tx.objectStore("drafts").put({ iv: interviewId, ...draft });
      await done(tx);
    },
    async draft() {
      const tx = db.transaction("drafts");
      return (await request(tx.objectStore("drafts").get(interviewId))) || null;
    },
    async pending(q) {
      const tx = db.transaction("chunks");
      return await request(tx.objectStore("chunks").getAll(range(q)));
    },
    async count() {
      const tx = db.transaction("chunks");
      return await request(tx.objectStore("chunks").count(all));
    },
    // Drop what an ack covers (chunks of q up to seq), and save the draft in the same step.
    async ack(q, seq, draft = null) {
      const tx = db.transaction(["chunks", "drafts"], "readwrite");
      tx.objectStore("chunks").delete(IDBKeyRange.bound([interviewId, q, 0], [interviewId, q, seq]));
      if (draft) tx.objectStore("drafts").put({ iv: interviewId, ...draft });
      await done(tx);
    },
    // Drop chunks of every question but q (those questions are closed).
    async keepOnly(q) {
      const tx = db.transaction("chunks", "readwrite");
      const store = tx.objectStore("chunks");
      store.delete(IDBKeyRange.bound([interviewId, -Infinity, 0], [interviewId, q, 0], false, true));
      store.delete(IDBKeyRange.bound([interviewId, q + 1, 0], [interviewId, Infinity, Infinity]));
      await done(tx);
    },
    async clear() {
      const tx = db.transaction(["chunks", "drafts"], "readwrite");
      tx.objectStore("chunks").delete(all);
      tx.objectStore("drafts").delete(interviewId);
      await done(tx);
    },
    close() {
      db.close();
    },
  };
}

// The same interface in memory, for the practice interview (nothing is kept).
export function memoryOutbox() {
  let chunks = [];
  let draft = null;
  return {
    async put(chunk, newDraft) {
      chunks.push(chunk);
      draft = newDraft;
    },
    async saveDraft(newDraft) {
      draft = newDraft;
    },
    async draft() {
      return draft;
    },
    async pending(q) {
      return chunks.filter((c) => c.q === q).sort((a, b) => a.seq - b.seq);
    },
    async count() {
      return chunks.length;
    },
    async ack(q, seq, newDraft = null) {
      chunks = chunks.filter((c) => c.q !== q || c.seq > seq);
      if (newDraft) draft = newDraft;
    },
    async keepOnly(q) {
      chunks = chunks.filter((c) => c.q === q);
    },
    async clear() {
      chunks = [];
      draft = null;
    },
    close() {},
  };
}
