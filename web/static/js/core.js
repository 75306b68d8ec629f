// Shared helpers for page scripts: boot data, messages, money, times, and calls to the API.
export const boot = JSON.parse(document.getElementById("boot").textContent);

export function t(key, values = {}) {
  const text = boot.messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

// A message whose id is built at run time ("status." + status); its ids are listed in web/i18n.py
// COMPUTED_KEYS, as extraction cannot see them here.
export function tOf(prefix, name, values = {}) {
  return t(prefix + name, values);
}

// Yuan from integer fen by integer arithmetic only (no floating point on money).
export function yuan(fen) {
  const n = Number(fen) || 0;
  const sign = n < 0 ? "-" : "";
  const abs = Math.abs(Math.trunc(n));
  const whole = Math.floor(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}${whole}.${String(abs % 100).padStart(2, "0")}`;
}

const timeFormat = new Intl.DateTimeFormat(boot.lang, { timeZone: boot.tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const whenFormat = new Intl.DateTimeFormat(boot.lang, {
  timeZone: boot.tz, month: "short", day: "numeric", weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});

export const clock = (iso) => timeFormat.format(new Date(iso));
export const when = (iso) => whenFormat.format(new Date(iso));

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) node.append(c);
  return node;
}

// An idempotency key from the CSPRNG; crypto.randomUUID needs a secure context, which a
// plain-HTTP internal deployment is not, so build it from getRandomValues.
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

// Calls the API with the sign-in cookie; the X-Requested-With header is what the API asks of
// cookie-authenticated changes (a cross-site page cannot send it without a CORS preflight).
export async function api(method, path, { json, form, headers = {} } = {}) {
  // The page's own language, so problem details come back in it (the browser's may differ).
  const language = document.documentElement.lang || "zh-CN";
  const init = {
    method,
    credentials: "same-origin",
    headers: { "X-Requested-With": "fetch", Accept: "application/json", "Accept-Language": language, ...headers },
  };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  const response = await fetch(path, init);
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, typeof body === "object" ? body : { detail: body });
  return body;
}

export async function signIn(username, password) {
  const form = new FormData();
  form.set("username", username);
  form.set("password", password);
  const user = await api("POST", "/login", { form });
  boot.user = user;
  return user;
}

export async function register(username, password, displayName) {
  await api("POST", "/api/auth/register", { json: { username, password, display_name: displayName } });
  return signIn(username, password);
}

export function show(node, visible = true) {
  if (node) node.hidden = !visible;
}

export function showError(node, error) {
  if (!node) return;
  node.textContent = error ? (error instanceof ApiError ? error.message : t("common.error")) : "";
  node.hidden = !error;
}
