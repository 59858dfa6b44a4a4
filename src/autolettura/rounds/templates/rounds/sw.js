{% autoescape off %}// The reader's app's service worker (scope /letturisti/): the round's page and its shell
// kept on the phone, so that a whole street can be worked without signal; visits recorded
// offline sent when the connection returns (Background Sync where the browser has it; the
// page does it otherwise). Its caches are named "letturisti-", apart from the customer's.
"use strict";

const VERSION = "{{ version }}";
const SHELL_CACHE = "letturisti-shell-" + VERSION;
// The day's round as last loaded: the reader's own, dropped when they sign out.
const ROUND_CACHE = "letturisti-round";
const SHELL = {{ shell }};
const ROUND_PAGE = {{ round_page }};

importScripts({{ queue_script }}, {{ reader_queue_script }});

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const shell = await caches.open(SHELL_CACHE);
      await shell.addAll(SHELL);
      await self.skipWaiting();
    })()
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const keep = new Set([SHELL_CACHE, ROUND_CACHE]);
      for (const name of await caches.keys()) {
        if (name.startsWith("letturisti-") && !keep.has(name)) {
          await caches.delete(name);
        }
      }
      await self.clients.claim();
    })()
  );
});

// The round: the network first, so that online the reader sees what the office sees; the
// copy on the phone when there is no network.
async function roundAnswer(request) {
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) {
      const copy = response.clone();
      await (await caches.open(ROUND_CACHE)).put(ROUND_PAGE, copy);
    }
    return response;
  } catch (error) {
    const kept = await caches.match(ROUND_PAGE);
    return kept || Response.error();
  }
}

{% include "webapp/sw_common.js" %}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") {
    return; // visits always go to the network (the page keeps them when it fails)
  }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    return;
  }
  if (url.pathname === ROUND_PAGE) {
    event.respondWith(roundAnswer(request));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(staticAnswer(request));
  }
});

self.addEventListener("sync", (event) => {
  if (event.tag === ReaderQueue.SYNC_TAG) {
    event.waitUntil(ReaderQueue.flush().then((result) => tellPages({ type: "round-flushed", result })));
  }
});
self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "signed-out") {
    // The round (names and addresses) does not stay on a shared phone after sign-out. Visits
    // waiting to be sent stay: each is sent only once its own reader is signed in again.
    event.waitUntil(caches.delete(ROUND_CACHE));
  }
});
{% endautoescape %}
