// The console's returns card: per date of the chosen concert, the waiting list (fans
// waiting, offers open), tickets returned and money refunded, the return cutoff, and
// the "cancel this show" action (asked twice: it refunds every paid order and takes
// the date off sale for good). English or Korean, as the fans' pages choose.
import { call, money, when } from "./api.js";
import { lang } from "./i18n.js";

const KEY = "frontrow.adminKey";
const REFRESH_MS = 5000;

const EN = {
  title: "Returns and waiting list",
  date: "Date",
  waiting: "Waiting",
  offered: "Offers open",
  returned: "Returned",
  refunded: "Refunded",
  cutoff: "Returns close (minutes before)",
  save: "Save",
  defaultCutoff: "default",
  cancel: "Cancel this show",
  cancelled: "Cancelled {at}",
  confirm: "Cancel the show of {date}? Every paid order is refunded, every ticket revoked, and the date is off sale for good.",
  confirmAgain: "This cannot be undone. Cancel the show of {date}?",
  done: "Show cancelled: {orders} orders refunded ({amount}), {tickets} tickets revoked.",
  saved: "Return cutoff saved.",
  none: "Choose a concert above.",
  failed: "Could not load the returns: {why}",
};

const KO = {
  title: "환불 및 대기자 명단",
  date: "날짜",
  waiting: "대기 중",
  offered: "제안 진행 중",
  returned: "반환됨",
  refunded: "환불 금액",
  cutoff: "반환 마감 (공연 시작 몇 분 전)",
  save: "저장",
  defaultCutoff: "기본값",
  cancel: "이 공연 취소",
  cancelled: "{at}에 취소됨",
  confirm: "{date} 공연을 취소할까요? 결제된 모든 주문이 환불되고 모든 티켓이 무효가 되며, 이 날짜는 다시 판매되지 않습니다.",
  confirmAgain: "되돌릴 수 없습니다. {date} 공연을 정말 취소할까요?",
  done: "공연 취소됨: 주문 {orders}건 환불 ({amount}), 티켓 {tickets}장 무효.",
  saved: "반환 마감이 저장되었습니다.",
  none: "위에서 공연을 선택하세요.",
  failed: "환불 정보를 불러오지 못했습니다: {why}",
};

const $ = (id) => document.getElementById(id);

function tr(key, vars = {}) {
  const table = lang() === "ko" ? KO : EN;
  const text = table[key] ?? EN[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? "" : String(vars[k])));
}

function admin(method, path, body) {
  return call(method, "/admin" + path, {
    body,
    headers: { "X-Admin-Key": sessionStorage.getItem(KEY) || "" },
  });
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function announce(text) {
  const r = $("announce");
  if (!r) return;
  r.textContent = "";
  setTimeout(() => { r.textContent = text; }, 60);
}

async function cancelShow(schedule, label) {
  if (!window.confirm(tr("confirm", { date: label }))) return;
  if (!window.confirm(tr("confirmAgain", { date: label }))) return;
  const { data } = await admin("POST", `/schedules/${schedule}/cancel`);
  announce(tr("done", { orders: data.orders_refunded, amount: money(data.amount_refunded), tickets: data.tickets_revoked }));
}

async function saveCutoff(schedule, input) {
  const raw = input.value.trim();
  const minutes = raw === "" ? null : Number(raw);
  await admin("PUT", `/schedules/${schedule}/returns`, { cutoff_minutes: minutes });
  announce(tr("saved"));
}

function row(schedule, s) {
  const tr_ = document.createElement("tr");
  const label = when(schedule.starts_at);
  const th = document.createElement("th");
  th.scope = "row";
  th.textContent = label;
  tr_.append(th, cell(String(s.waiting)), cell(String(s.offered)), cell(String(s.returned)), cell(money(s.refunded)));
  const cut = document.createElement("td");
  const input = document.createElement("input");
  input.type = "number";
  input.min = "0";
  input.max = "525600";
  input.step = "1";
  input.value = s.cutoff_set ? String(s.cutoff_minutes) : "";
  input.placeholder = `${s.cutoff_minutes} (${tr("defaultCutoff")})`;
  input.setAttribute("aria-label", `${tr("cutoff")} — ${label}`);
  const save = document.createElement("button");
  save.type = "button";
  save.textContent = tr("save");
  save.addEventListener("click", () => saveCutoff(schedule.id, input).then(refresh).catch(showError));
  cut.append(input, save);
  const act = document.createElement("td");
  if (s.cancelled_at) {
    act.textContent = tr("cancelled", { at: when(s.cancelled_at) });
    input.disabled = true;
    save.disabled = true;
  } else {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "danger";
    b.textContent = tr("cancel");
    b.setAttribute("aria-label", `${tr("cancel")} — ${label}`);
    b.addEventListener("click", () => cancelShow(schedule.id, label).then(refresh).catch(showError));
    act.append(b);
  }
  tr_.append(cut, act);
  return tr_;
}

function showError(e) {
  const p = $("returns-error");
  if (p) p.textContent = tr("failed", { why: e && e.message ? e.message : String(e) });
}

function skeleton(host) {
  host.textContent = "";
  const h = document.createElement("h2");
  h.id = "returns-h";
  h.textContent = tr("title");
  const err = document.createElement("p");
  err.id = "returns-error";
  err.className = "error";
  err.setAttribute("role", "alert");
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  const table = document.createElement("table");
  const head = document.createElement("thead");
  const hr = document.createElement("tr");
  for (const k of ["date", "waiting", "offered", "returned", "refunded", "cutoff"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = tr(k);
    hr.append(th);
  }
  hr.append(document.createElement("th"));
  head.append(hr);
  const body = document.createElement("tbody");
  body.id = "returns-rows";
  table.append(head, body);
  wrap.append(table);
  host.append(h, err, wrap);
}

let busy = false;

async function refresh() {
  const host = $("returns");
  const concert = $("concert") && $("concert").value;
  if (!host || busy || $("console").hidden) return;
  if (!host.querySelector("#returns-rows")) skeleton(host);
  host.hidden = false;
  const body = $("returns-rows");
  if (!concert) {
    body.textContent = "";
    showError(new Error(tr("none")));
    return;
  }
  busy = true;
  try {
    const { data: schedules } = await call("GET", `/concerts/${concert}/schedules`);
    const rows = [];
    for (const s of schedules) {
      const { data } = await admin("GET", `/schedules/${s.id}/returns`);
      rows.push(row(s, data));
    }
    // Leave a cutoff being typed alone.
    if (!host.contains(document.activeElement) || document.activeElement.tagName !== "INPUT") {
      body.replaceChildren(...rows);
    }
    $("returns-error").textContent = "";
  } catch (e) {
    showError(e);
  } finally {
    busy = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const select = $("concert");
  if (select) select.addEventListener("change", () => refresh());
  setInterval(refresh, REFRESH_MS);
  setTimeout(refresh, 500);
});
