// The round's page: a visit recorded is kept on the phone first (reader-queue.js), then
// sent at once when there is a connection, or when it returns; its outcome shows on the
// visit's card. The page itself is kept on the phone by the reader's service worker.
(function () {
  "use strict";

  const Queue = window.ReaderQueue;
  const round = document.querySelector(".reader-round");
  const works = "serviceWorker" in navigator && "indexedDB" in window && Queue && round;

  function stopOf(visit) {
    return document.getElementById("visit-" + visit);
  }

  function showConnection() {
    const line = document.getElementById("reader-connection");
    if (line) {
      line.textContent = navigator.onLine ? line.dataset.online : line.dataset.offline;
    }
  }

  function tell(stop, state, label, message) {
    stop.dataset.state = state;
    stop.querySelector("[data-label]").textContent = label;
    stop.querySelector("[data-outcome]").textContent = message;
    const actions = stop.querySelector("[data-actions]");
    if (actions) {
      // Recorded (here or on the server): nothing more to record; refused: try again.
      actions.hidden = state !== "planned";
    }
  }

  async function show() {
    const records = await Queue.all();
    const waiting = records.filter((record) => record.state === "waiting");
    for (const record of records) {
      const stop = stopOf(record.visit);
      if (!stop) {
        continue;
      }
      if (record.state === "waiting") {
        tell(stop, "kept", round.dataset.keptLabel, round.dataset.kept);
      } else if (record.state === "sent") {
        tell(stop, record.visitState || "made", record.label, record.message);
      } else if (record.answerStatus === 422) {
        // A value or a detail to fix: the forms stay open for the reader to record it again.
        tell(stop, "planned", round.dataset.refusedLabel, record.message);
      } else {
        tell(stop, "refused", round.dataset.refusedLabel, record.message);
      }
    }
    const notice = document.getElementById("reader-waiting");
    if (notice) {
      notice.hidden = waiting.length === 0;
      notice.textContent = notice.dataset.text.replace("{count}", String(waiting.length));
    }
    // Sent and refused ones are told once, on their card, then forgotten by the phone.
    let sent = false;
    for (const record of records) {
      if (record.state !== "waiting") {
        sent = sent || record.state === "sent";
        await Queue.remove(record.key);
      }
    }
    if (sent) {
      // The copy of the round the phone keeps now shows these visits as recorded.
      fetch(window.location.pathname, { credentials: "same-origin" }).catch(() => null);
    }
  }

  async function flush() {
    showConnection();
    if (!navigator.onLine) {
      return;
    }
    await Queue.flush();
    await show();
  }

  function position() {
    return new Promise((resolve) => {
      if (!("geolocation" in navigator)) {
        resolve(null);
        return;
      }
      navigator.geolocation.getCurrentPosition(
        (found) => resolve(found.coords),
        () => resolve(null), // refused or unknown: the visit goes without it
        { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 }
      );
    });
  }

  // A phone's camera may give a photo larger than the server takes (5 MB): a large one is
  // made smaller here, before it is kept, so that a visit recorded offline is not refused
  // for its photo once the reader has moved on. Anything the browser cannot draw (HEIC on
  // most browsers) is kept as it is.
  const PHOTO_MAX_BYTES = 3 * 1024 * 1024;
  const PHOTO_MAX_SIDE = 2000;

  async function smaller(photo) {
    if (!photo || !photo.size || photo.size <= PHOTO_MAX_BYTES || !window.createImageBitmap) {
      return photo;
    }
    try {
      const bitmap = await createImageBitmap(photo);
      const scale = Math.min(1, PHOTO_MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
      return blob ? new File([blob], "photo.jpg", { type: "image/jpeg" }) : photo;
    } catch (error) {
      return photo;
    }
  }

  async function record(form) {
    const stop = form.closest(".reader-stop");
    const data = new FormData(form);
    const photo = await smaller(data.get("photo"));
    const fields = [];
    for (const [name, value] of data.entries()) {
      if (!["csrfmiddlewaretoken", "photo"].includes(name)) {
        fields.push([name, String(value)]);
      }
    }
    const wanted = form.querySelector("[data-position]");
    if (wanted && wanted.checked) {
      const coords = await position();
      if (coords) {
        fields.push(["latitude", coords.latitude.toFixed(6)]);
        fields.push(["longitude", coords.longitude.toFixed(6)]);
        fields.push(["accuracy", coords.accuracy.toFixed(1)]);
      }
    }
    await Queue.put({
      key: Queue.newKey(),
      account: round.dataset.account,
      stateUrl: round.dataset.stateUrl,
      visit: stop.dataset.visit,
      kind: form.dataset.visitForm,
      action: form.action,
      fields,
      photo: photo && photo.size ? photo : null,
      photoName: photo && photo.size ? photo.name : "",
      keptAt: new Date().toISOString(),
      state: "waiting",
    });
    form.reset();
    const details = form.closest("details");
    if (details) {
      details.open = false; // kept: folded away, to be opened again only if refused
    }
    await show();
    const registration = await navigator.serviceWorker.ready;
    if (registration.sync) {
      // Background Sync: the browser sends it when the connection returns, page open or not.
      await registration.sync.register(Queue.SYNC_TAG).catch(() => null);
    }
    await flush();
  }

  if (!works) {
    return;
  }
  navigator.serviceWorker.register(document.documentElement.dataset.serviceWorker, {
    scope: new URL(".", new URL(document.documentElement.dataset.serviceWorker, location.href))
      .pathname,
  });
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data && event.data.type === "round-flushed") {
      show();
    }
  });
  window.addEventListener("online", flush);
  window.addEventListener("offline", showConnection);
  // A signal that comes and goes: what is still waiting is tried again now and then.
  window.setInterval(flush, 15000);
  document.querySelectorAll("form[data-visit-form]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      record(form).finally(() => {
        button.disabled = false;
      });
    });
  });
  document.querySelectorAll("form[data-sign-out]").forEach((form) =>
    form.addEventListener("submit", () => {
      const worker = navigator.serviceWorker.controller;
      if (worker) {
        worker.postMessage({ type: "signed-out" });
      }
    })
  );
  showConnection();
  show().then(flush);
})();
