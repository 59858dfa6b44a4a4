// Shared by the app's and the reader's service workers (included in both; each defines
// SHELL_CACHE, the cache of its own shell).

// The shell and other static files: from the phone, and from the network the first time.
async function staticAnswer(request) {
  const kept = await caches.match(request, { ignoreVary: true });
  if (kept) {
    return kept;
  }
  const response = await fetch(request);
  if (response.ok) {
    const copy = response.clone();
    caches.open(SHELL_CACHE).then((cache) => cache.put(request, copy));
  }
  return response;
}

// What happened in the background, told to every page of the app that is open.
async function tellPages(message) {
  for (const client of await self.clients.matchAll({ includeUncontrolled: true })) {
    client.postMessage(message);
  }
}
