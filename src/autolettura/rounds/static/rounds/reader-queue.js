// The reader's visits kept on the phone (queue.js's queue, in a database of its own), and
// how one is sent: loaded by the round's page and by the reader's service worker. Each visit
// carries the Idempotency-Key made when it was recorded: sent twice, the server records it
// once and answers the second time with the first answer.
(function (scope) {
  "use strict";

  async function sendVisit(record, shared) {
    if (!shared.session) {
      let answer;
      try {
        // Whose account is signed in now, and today's anti-forgery token.
        answer = await fetch(record.stateUrl, { credentials: "same-origin", cache: "no-store" });
      } catch (error) {
        return "offline";
      }
      shared.session = answer.ok && !answer.redirected ? await answer.json() : {};
    }
    if (!shared.session.account || shared.session.account !== record.account) {
      return "wait"; // signed out, or another reader: it waits for its own
    }
    const body = new FormData();
    for (const [name, value] of record.fields) {
      body.append(name, value);
    }
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
        headers: { "Idempotency-Key": record.key, "X-CSRFToken": shared.session.csrf },
      });
    } catch (error) {
      return "offline";
    }
    if ([200, 201, 404, 409, 422].includes(response.status)) {
      const answer = await response.json().catch(() => ({}));
      record.label = answer.label || "";
      record.message =
        answer.message || (answer.errors || []).map((error) => error.message).join(" ");
      record.visitState = answer.state || "";
      record.receipt = answer.receipt || null;
      record.answerStatus = response.status;
      return response.status < 300 ? "sent" : "refused";
    }
    return "wait"; // busy, down, or signed out halfway: try again later
  }

  scope.ReaderQueue = scope.AutoletturaQueue.make({
    dbName: "autolettura-letturisti",
    syncTag: "autolettura-letturisti",
    send: sendVisit,
  });
})(self);
