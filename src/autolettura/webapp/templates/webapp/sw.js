{% autoescape off %}// The Sportello Online's service worker: the app shell and the public pages kept on the
// phone, "Send the reading" opening without signal, readings saved offline sent when the
// connection returns (Background Sync where the browser has it; the page does it otherwise).
"use strict";

const VERSION = "{{ version }}";
const SHELL_CACHE = "autolettura-shell-" + VERSION;
const PAGES_CACHE = "autolettura-pages-" + VERSION;
// A signed-in customer's pages: dropped when they sign out (see the "signed-out" message).
const PRIVATE_CACHE = "autolettura-private";
const SHELL = {{ shell }};
const PUBLIC_PAGES = {{ public_pages }};
const PRIVATE_PAGES = {{ private_pages }};
const OFFLINE_PAGE = {{ offline_page }};

importScripts({{ queue_script }});

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const shell = await caches.open(SHELL_CACHE);
      await shell.addAll(SHELL);
      const pages = await caches.open(PAGES_CACHE);
      // One by one: a page that fails (a server restarting) must not lose the others.
      await Promise.all(
        PUBLIC_PAGES.concat([OFFLINE_PAGE]).map((url) =>
          fetch(url, { credentials: "same-origin", cache: "reload" })
            .then((response) => (response.ok ? pages.put(url, response) : null))
            .catch(() => null)
        )
      );
      await self.skipWaiting();
    })()
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const keep = new Set([SHELL_CACHE, PAGES_CACHE, PRIVATE_CACHE]);
      for (const name of await caches.keys()) {
        if (name.startsWith("autolettura-") && !keep.has(name)) {
          await caches.delete(name);
        }
      }
      await self.clients.claim();
    })()
  );
});

function isShell(url) {
  return url.origin === self.location.origin && SHELL.includes(url.pathname);
}

function isStatic(url) {
  return url.origin === self.location.origin && url.pathname.startsWith("/static/");
}

// Pages: the network first, so that online a customer always sees today's page; the copy
// kept on the phone only when there is no network.
async function pageAnswer(request) {
  const url = new URL(request.url);
  const cacheName = PRIVATE_PAGES.includes(url.pathname)
    ? PRIVATE_CACHE
    : PUBLIC_PAGES.includes(url.pathname)
      ? PAGES_CACHE
      : null;
  try {
    const response = await fetch(request);
    // A page answered after a redirect (to sign in) is not the page asked for.
    if (cacheName && response.ok && !response.redirected) {
      const copy = response.clone();
      caches.open(cacheName).then((cache) => cache.put(url.pathname, copy));
    }
    return response;
  } catch (error) {
    const kept = cacheName ? await caches.match(url.pathname) : undefined;
    return kept || (await caches.match(OFFLINE_PAGE)) || Response.error();
  }
}

{% include "webapp/sw_common.js" %}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") {
    return; // submissions always go to the network (the page keeps them when it fails)
  }
  const url = new URL(request.url);
  if (request.mode === "navigate") {
    event.respondWith(pageAnswer(request));
  } else if (isShell(url) || isStatic(url)) {
    event.respondWith(staticAnswer(request));
  }
  // Anything else (the API, data the pages fetch) is fresh from the network.
});

self.addEventListener("sync", (event) => {
  if (event.tag === AutoletturaQueue.SYNC_TAG) {
    event.waitUntil(
      AutoletturaQueue.flush().then((result) => tellPages({ type: "queue-flushed", result }))
    );
  }
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "signed-out") {
    // A customer's page does not stay on a shared phone after they sign out. Readings
    // waiting to be sent stay: each is sent only once its own account is signed in again.
    event.waitUntil(caches.delete(PRIVATE_CACHE));
  }
});
{% endautoescape %}
