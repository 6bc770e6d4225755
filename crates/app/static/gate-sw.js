// The scanner page's service worker (scope /static/): keeps the page and its files so that
// it loads and works with the network cut. Network first, so a new version of the service
// is seen at once; the cached copy when the network fails. The API is never cached (the
// page keeps its kit and scans in IndexedDB).
const CACHE = "frontrow-gate-v1";
const FILES = ["/static/gate.html", "/static/gate.js", "/static/gate-verify.js", "/static/gate.css",
  "/static/style.css", "/static/gate.webmanifest", "/static/gate-icon.svg"];

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== self.location.origin || !FILES.includes(url.pathname)) return;
  ev.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const res = await fetch(ev.request, { cache: "no-cache" });
      if (res.ok) await cache.put(url.pathname, res.clone());
      return res;
    } catch {
      const hit = await cache.match(url.pathname);
      if (hit) return hit;
      throw new Error("offline and not cached");
    }
  })());
});
