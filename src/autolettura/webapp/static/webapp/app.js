// The Sportello Online as an app: the service worker, the install offer (once, never
// pressing), and "Send the reading" without signal: a reading sent with no connection is
// kept on the phone (queue.js) and sent when the connection returns.
(function () {
  "use strict";

  const Queue = window.AutoletturaQueue;
  const INSTALL_ANSWERED = "autolettura-install-answered";
  const works = "serviceWorker" in navigator && "indexedDB" in window && Queue;

  function words(name, values) {
    const panel = document.getElementById("app-queue");
    let text = (panel && panel.dataset[name]) || "";
    for (const [key, value] of Object.entries(values || {})) {
      text = text.split("{" + key + "}").join(value);
    }
    return text;
  }

  // --- The readings kept on this phone ------------------------------------------------

  function item(record) {
    const li = document.createElement("li");
    const values = { reading: record.reading, supply: record.label, when: record.keptAt };
    const text = document.createElement("span");
    li.appendChild(text);
    if (record.state === "sent") {
      text.textContent = words("sent", values) + " ";
      const link = document.createElement("a");
      link.href = record.receipt;
      link.textContent = words("receipt");
      li.appendChild(link);
    } else if (record.state === "refused") {
      text.textContent = words("refused", values) + " ";
      const link = document.createElement("a");
      link.href = record.action;
      link.textContent = words("again");
      li.appendChild(link);
    } else {
      text.textContent = words("waiting", values);
    }
    li.dataset.state = record.state;
    return li;
  }

  // Sent and refused readings told on this page, by key: the phone forgets them once told,
  // the page keeps showing them (with the receipt) until the customer leaves it. A reading
  // told as sent stays sent: the page and the worker may both send it, and the one that
  // came second may not be the one that took it.
  const told = new Map();

  async function show() {
    const panel = document.getElementById("app-queue");
    if (!panel || !works) {
      return;
    }
    const records = await Queue.all();
    for (const record of records) {
      if (record.state !== "waiting" && (told.get(record.key) || {}).state !== "sent") {
        told.set(record.key, record);
      }
    }
    const waiting = records.filter((r) => r.state === "waiting" && !told.has(r.key));
    const shown = [...told.values(), ...waiting];
    const list = panel.querySelector("ul");
    list.replaceChildren(...shown.map(item));
    panel.hidden = shown.length === 0;
    const kept = document.getElementById("app-kept");
    if (kept && waiting.length === 0) {
      kept.hidden = true; // sent: the list above now says so, with the receipt
    }
    // Told once, here: then forgotten by the phone.
    for (const record of records) {
      if (record.state !== "waiting") {
        await Queue.remove(record.key);
      }
    }
    // Each drawing of the list says so: the browser tests wait on it rather than on time.
    panel.dispatchEvent(new CustomEvent("queue-shown"));
  }

  async function flush() {
    if (!navigator.onLine) {
      return;
    }
    await Queue.flush();
    await show();
  }

  async function keep(form, data, key) {
    const supply = form.querySelector("select[name=supply]");
    const photo = data.get("photo");
    const record = {
      key,
      account: form.dataset.queueAccount,
      action: form.action,
      fields: [],
      photo: photo && photo.size ? photo : null,
      photoName: photo && photo.size ? photo.name : "",
      label: supply ? supply.options[supply.selectedIndex].text : "",
      reading: String(data.get("reading") || ""),
      keptAt: new Date().toLocaleString(document.documentElement.lang || undefined),
      state: "waiting",
    };
    for (const [name, value] of data.entries()) {
      if (!["csrfmiddlewaretoken", "idempotency_key", "photo"].includes(name)) {
        record.fields.push([name, String(value)]);
      }
    }
    await Queue.put(record);
    const registration = await navigator.serviceWorker.ready;
    if (registration.sync) {
      // Background Sync: the browser sends it when the connection returns, page open or not.
      await registration.sync.register(Queue.SYNC_TAG).catch(() => null);
    }
    const kept = document.getElementById("app-kept");
    if (kept) {
      kept.hidden = false;
      kept.focus();
    }
    form.reset();
    await show();
  }

  // The form's own way: with the button pressed (its name and value go with it), and
  // without passing through this handler again.
  function submitNatively(form, submitter) {
    form.dataset.native = "yes";
    form.requestSubmit(submitter || undefined);
  }

  function offlineForm(form) {
    form.addEventListener("submit", async (event) => {
      if (form.dataset.native) {
        delete form.dataset.native;
        return;
      }
      const submitter = event.submitter;
      const reading = form.querySelector("[name=reading]");
      if (submitter && submitter.value === "photo") {
        // "Read the photo" needs the server; without signal, the customer types the
        // reading and the photo is kept with it.
        if (!navigator.onLine && reading) {
          event.preventDefault();
          const notice = document.getElementById("app-offline-photo");
          if (notice) {
            notice.hidden = false;
          }
          reading.focus();
        }
        return;
      }
      if (!works || !reading || !reading.value.trim()) {
        return; // the server's answer says what is missing
      }
      event.preventDefault();
      const key = Queue.newKey();
      const data = new FormData(form, submitter || undefined);
      data.set("idempotency_key", key);
      if (submitter) {
        submitter.disabled = true;
      }
      try {
        if (navigator.onLine) {
          try {
            const response = await fetch(form.action, {
              method: "POST",
              body: data,
              credentials: "same-origin",
              headers: { "Idempotency-Key": key },
            });
            if (response.redirected) {
              window.location.assign(response.url);
            } else {
              // Nothing was taken: the server's page says what to fix, so let the form go
              // the ordinary way (with the same key) and show it.
              let field = form.querySelector("input[name=idempotency_key]");
              if (!field) {
                field = document.createElement("input");
                field.type = "hidden";
                field.name = "idempotency_key";
                form.appendChild(field);
              }
              field.value = key;
              if (submitter) {
                submitter.disabled = false;
              }
              submitNatively(form, submitter);
            }
            return;
          } catch (error) {
            // No connection after all (a cellar often says "online"): keep it.
          }
        }
        await keep(form, data, key);
      } finally {
        if (submitter) {
          submitter.disabled = false;
        }
      }
    });
  }

  // --- The install offer --------------------------------------------------------------

  function offerInstall() {
    const offer = document.getElementById("app-install");
    if (!offer) {
      return;
    }
    window.addEventListener("beforeinstallprompt", (event) => {
      event.preventDefault();
      if (localStorage.getItem(INSTALL_ANSWERED)) {
        return; // offered once: whatever the answer, never again
      }
      offer.hidden = false;
      offer.querySelector("[data-install]").addEventListener("click", async () => {
        offer.hidden = true;
        localStorage.setItem(INSTALL_ANSWERED, "install");
        event.prompt();
        await event.userChoice.catch(() => null);
      });
      offer.querySelector("[data-install-dismiss]").addEventListener("click", () => {
        offer.hidden = true;
        localStorage.setItem(INSTALL_ANSWERED, "no");
      });
    });
    window.addEventListener("appinstalled", () => {
      offer.hidden = true;
      localStorage.setItem(INSTALL_ANSWERED, "installed");
    });
  }

  // --- Start ----------------------------------------------------------------------------

  offerInstall();
  if (!works) {
    return;
  }
  navigator.serviceWorker.register(document.documentElement.dataset.serviceWorker || "/sw.js");
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data && event.data.type === "queue-flushed") {
      show();
    }
  });
  window.addEventListener("online", flush);
  // A signal that comes and goes (a cellar's stairs) may fail a send halfway: while the page
  // is open, what is still waiting is tried again now and then (nothing is sent twice).
  window.setInterval(flush, 15000);
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form[data-offline-queue]").forEach(offlineForm);
    document.querySelectorAll("form[data-sign-out]").forEach((form) =>
      form.addEventListener("submit", () => {
        const worker = navigator.serviceWorker.controller;
        if (worker) {
          worker.postMessage({ type: "signed-out" });
        }
      })
    );
    show().then(flush);
  });
})();
