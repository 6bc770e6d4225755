// The fan's account (#/account): who they are, and every device signed in as them (the
// server's session list), each with a button that signs it out at once.
import { call, el, when } from "./api.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
let seq = 0;

// A User-Agent is long: the browser and the system it names are what a fan recognises.
export function deviceName(ua) {
  if (!ua) return t("unknownDevice");
  const browser = /(Edg|OPR|SamsungBrowser|Firefox|Chrome|Chromium|Safari)\/[\d.]+/.exec(ua);
  const system = /(Android [\d.]+|iPhone|iPad|Mac OS X|Windows NT [\d.]+|Linux|CrOS)/.exec(ua);
  const parts = [browser && browser[0].split("/")[0].replace("Edg", "Edge").replace("OPR", "Opera"), system && system[0]].filter(Boolean);
  return parts.length ? parts.join(" · ") : ua.slice(0, 60);
}

/** Opens the account view: the profile and the signed-in devices. */
export async function openAccount(ctx) {
  const mine = ++seq;
  const list = $("sessions-list");
  list.setAttribute("aria-busy", "true");
  try {
    const [{ data: me }, { data: sessions }] = await Promise.all([
      call("GET", "/users/me", { headers: ctx.auth() }),
      call("GET", "/sessions", { headers: ctx.auth() }),
    ]);
    if (mine !== seq) return;
    $("account-name").textContent = me.name;
    $("account-email").textContent = me.email || t("noEmail");
    list.textContent = "";
    for (const s of sessions) list.append(sessionItem(ctx, s));
    if (!sessions.length) list.append(el("li", { class: "muted", text: t("noSessions") }));
  } catch (e) {
    if (e.status === 401) { ctx.forget(); return; }
    ctx.fail(e);
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}

function sessionItem(ctx, s) {
  const name = deviceName(s.device);
  const button = el("button", { type: "button", class: "revoke-btn", "data-session": s.id,
    "aria-label": `${s.current ? t("signOutHere") : t("signOutDevice")}: ${name}, ${when(s.created_at)}`,
    text: s.current ? t("signOutHere") : t("signOutDevice"), onclick: () => revoke(ctx, s, name) });
  return el("li", { class: "session", "data-session": s.id, "data-current": s.current ? "true" : "false" },
    el("p", {}, el("strong", { text: name }), s.current ? el("span", { class: "badge", text: t("thisDevice") }) : null),
    el("p", { class: "muted", text: t("signedInOn", { at: when(s.created_at), until: when(s.expires_at) }) }),
    el("p", { class: "muted small", text: s.device || "" }),
    button);
}

async function revoke(ctx, s, name) {
  try {
    await call("DELETE", `/sessions/${encodeURIComponent(s.id)}`, { headers: ctx.auth() });
  } catch (e) {
    if (e.status === 401) { ctx.forget(); return; }
    if (e.status !== 404) { ctx.fail(e); return; }
  }
  if (s.current) { ctx.forget(); return; }
  ctx.say(t("deviceSignedOut", { name }));
  await openAccount(ctx);
  $("account-h").focus();
}
