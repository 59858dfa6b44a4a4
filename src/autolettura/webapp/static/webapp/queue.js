// Readings kept on the phone while there is no connection, and sent when it returns.
// Loaded by the pages (app.js) and by the service worker (Background Sync), so that both
// send them the same way. Each reading carries an Idempotency-Key made when it was kept:
// sent twice (by the page and the worker at once, or a retry after a lost answer), the
// server takes it once and answers both times with the same receipt.
//
// `AutoletturaQueue` is the customer's queue. `AutoletturaQueue.make(options)` makes another
// one, in an IndexedDB database of its own, for another app on the same site (the readers'
// app, /letturisti/): the same keeping, the same one-flush-at-a-time, its own way of sending
// a record (`options.send`).
(function (scope) {
  "use strict";

  // The receipt page a submission lands on, and the form's anti-forgery token and account.
  const RECEIPT_PATH = /\/area-clienti\/letture\/[^/]+\/$/;
  const TOKEN = /name="csrfmiddlewaretoken" value="([^"]+)"/;
  const ACCOUNT = /data-queue-account="([^"]+)"/;

  function newKey() {
    if (scope.crypto && scope.crypto.randomUUID) {
      return scope.crypto.randomUUID();
    }
    const bytes = scope.crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // options: {dbName, syncTag, send(record, shared)}; `send` answers "offline" (stop for
  // now), "wait" (leave it waiting) or the record's new state ("sent" or "refused"), having
  // written what the page shows on the record. `shared` is an object one flush passes to
  // every send (what one request learnt, such as the anti-forgery token).
  function make(options) {
    const DB_NAME = options.dbName;
    const STORE = "readings";
    const SYNC_TAG = options.syncTag;

    function open() {
      return new Promise((resolve, reject) => {
        const request = indexedDB.open(DB_NAME, 1);
        request.onupgradeneeded = () => {
          request.result.createObjectStore(STORE, { keyPath: "key" });
        };
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    }

    async function run(mode, work) {
      const db = await open();
      try {
        return await new Promise((resolve, reject) => {
          const tx = db.transaction(STORE, mode);
          const result = work(tx.objectStore(STORE));
          tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
          tx.onerror = () => reject(tx.error);
          tx.onabort = () => reject(tx.error);
        });
      } finally {
        db.close();
      }
    }

    // record: {key, account, action, fields: [[name, value]], photo: Blob|null,
    //          photoName, label, keptAt, state: "waiting" | "sent" | "refused", receipt}
    function put(record) {
      return run("readwrite", (store) => store.put(record));
    }

    function all() {
      return run("readonly", (store) => store.getAll());
    }

    function remove(key) {
      return run("readwrite", (store) => store.delete(key));
    }

    let flushing = null;

    // Send every waiting reading of the account signed in now. Returns what changed.
    function flush() {
      // One flush at a time in this context; the key makes two contexts safe anyway.
      if (!flushing) {
        flushing = flushOnce().finally(() => {
          flushing = null;
        });
      }
      return flushing;
    }

    async function flushOnce() {
      const waiting = (await all()).filter((r) => r.state === "waiting");
      const changed = [];
      const shared = {};
      for (const record of waiting) {
        const state = await options.send(record, shared);
        if (state === "offline") {
          break; // still no connection: try again later
        }
        if (state === "wait") {
          continue;
        }
        record.state = state;
        record.photo = null; // sent or refused, the photo need not stay on the phone
        await put(record);
        changed.push(record);
      }
      return changed;
    }

    return { SYNC_TAG, newKey, put, all, remove, flush };
  }

  // The customer's readings: sent as the form "Send the reading" sends them.
  async function sendReading(record) {
    let form;
    try {
      // A fresh page of the form: today's anti-forgery token, and whose account is in.
      form = await fetch(record.action, { credentials: "same-origin", cache: "no-store" });
    } catch (error) {
      return "offline";
    }
    const page = form.ok && !form.redirected ? await form.text() : "";
    const token = TOKEN.exec(page);
    const account = ACCOUNT.exec(page);
    if (!token || !account || account[1] !== record.account) {
      return "wait"; // signed out, or another customer is signed in: it waits for its own
    }
    const body = new FormData();
    for (const [name, value] of record.fields) {
      body.append(name, value);
    }
    body.append("csrfmiddlewaretoken", token[1]);
    body.append("idempotency_key", record.key);
    if (record.photo) {
      body.append("photo", record.photo, record.photoName || "photo.jpg");
    }
    let response;
    try {
      response = await fetch(record.action, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "Idempotency-Key": record.key },
      });
    } catch (error) {
      return "offline";
    }
    if (response.redirected && RECEIPT_PATH.test(new URL(response.url).pathname)) {
      record.receipt = response.url;
      return "sent";
    }
    if (response.status === 200 || response.status === 400) {
      // The form came back with what to fix: the customer sends it again by hand.
      return "refused";
    }
    return "wait"; // the service is busy or down: try again later
  }

  const customer = make({
    dbName: "autolettura",
    syncTag: "autolettura-readings",
    send: sendReading,
  });
  scope.AutoletturaQueue = Object.assign(customer, { make });
})(self);
