// The console's presale codes of one date: create them (typed, or a number of random
// ones), see each code's window, what it opens and how many tickets it bought, cancel one,
// and export the date's codes as CSV to hand them out.
import { API, ApiError, el, when } from "./api.js";

const $ = (id) => document.getElementById(id);
const list = (text) => text.split(",").map((x) => x.trim()).filter(Boolean);

function toLocalInput(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:00`;
}

export class PresaleCodes {
  /** `admin(method, path, opts)` calls the operators' API with the key; `fail` and `say` report. */
  constructor({ admin, fail, say }) {
    this.admin = admin;
    this.fail = fail;
    this.say = say;
    this.schedule = null;
    const now = new Date();
    $("presale-starts").value = toLocalInput(now);
    $("presale-ends").value = toLocalInput(new Date(now.getTime() + 2 * 86400e3));
    $("presale-form").addEventListener("submit", (ev) => { ev.preventDefault(); this.create().catch(fail); });
    $("presale-csv-btn").addEventListener("click", () => this.exportCsv().catch(fail));
  }

  /** Shows the codes of `schedule` (a date's id; nothing when 0). */
  async show(schedule) {
    this.schedule = schedule || null;
    const body = $("presale-rows");
    $("presale-btn").disabled = !this.schedule;
    $("presale-csv-btn").disabled = !this.schedule;
    if (!this.schedule) {
      body.textContent = "";
      $("presale-date").textContent = "Choose a date above to see its codes.";
      return;
    }
    const { data } = await this.admin("GET", `/schedules/${this.schedule}/presale-codes`);
    if (schedule !== this.schedule) return;
    $("presale-date").textContent = `${data.length} code(s) for the date chosen above.`;
    body.textContent = "";
    for (const c of data) {
      const opens = [...c.categories.map((x) => `${x} (category)`), ...c.sections.map((x) => `${x} (section)`)].join(", ");
      const state = c.cancelled ? el("td", { text: "Cancelled" })
        : el("td", {}, el("button", { type: "button", class: "link", text: "Cancel", "aria-label": `Cancel code ${c.code}`,
          onclick: () => this.cancel(c.code).catch(this.fail) }));
      body.append(el("tr", { "data-code": c.code },
        el("th", { scope: "row" }, el("code", { text: c.code })),
        el("td", { text: opens }),
        el("td", { text: `${when(c.starts_at)} – ${when(c.ends_at)}` }),
        el("td", { text: `${c.used} of ${c.max_tickets}` }),
        el("td", { text: c.user_id ? `user ${c.user_id}` : "anyone" }),
        state));
    }
  }

  async create() {
    if (!this.schedule) return;
    const codes = $("presale-codes").value.split(/\s+/).map((x) => x.trim()).filter(Boolean);
    const starts = new Date($("presale-starts").value);
    const ends = new Date($("presale-ends").value);
    if (Number.isNaN(starts.getTime()) || Number.isNaN(ends.getTime())) {
      throw new Error("Enter when the codes start and stop being valid.");
    }
    const user = $("presale-user").value.trim();
    const body = {
      codes,
      count: codes.length ? 0 : Number($("presale-count").value || 0),
      categories: list($("presale-categories").value),
      sections: list($("presale-sections").value),
      starts_at: starts.toISOString(),
      ends_at: ends.toISOString(),
      max_tickets: Number($("presale-max").value),
      user_id: user ? Number(user) : null,
    };
    const { data } = await this.admin("POST", `/schedules/${this.schedule}/presale-codes`, { body });
    $("presale-codes").value = "";
    this.say(`Created ${data.length} presale code(s).`);
    await this.show(this.schedule);
  }

  async cancel(code) {
    if (!window.confirm(`Cancel presale code ${code}? It opens nothing from now on; orders already held with it keep their seats.`)) return;
    await this.admin("DELETE", `/schedules/${this.schedule}/presale-codes/${encodeURIComponent(code)}`);
    this.say(`Code ${code} cancelled.`);
    await this.show(this.schedule);
  }

  async exportCsv() {
    if (!this.schedule) return;
    const key = sessionStorage.getItem("frontrow.adminKey") || "";
    const res = await fetch(`${API}/admin/schedules/${this.schedule}/presale-codes.csv`, { headers: { "X-Admin-Key": key } });
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null), null);
    const url = URL.createObjectURL(await res.blob());
    const a = el("a", { href: url, download: `presale-codes-${this.schedule}.csv` });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    this.say("Codes exported.");
  }
}
