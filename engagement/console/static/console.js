// The engagement console: plain JavaScript, no build step. Every request carries the API key the
// user signed in with (kept in this tab's session storage); the server checks its scopes.
"use strict";

const KEY = "engagement.key";
const EDIT = "engagement.edit";
const state = {
  key: sessionStorage.getItem(KEY),
  who: null,
  files: null, // the live files: name -> text
  fields: {}, // name -> fields of its current text
  edit: JSON.parse(sessionStorage.getItem(EDIT) || "{}"), // name -> edited text
  problems: [],
  version: null, // what the edit would go live as
  checking: Promise.resolve(),
  timer: null,
};

// ---- small helpers -----------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function main() { return document.getElementById("main"); }
function say(text, kind) {
  const status = document.getElementById("status");
  status.textContent = text || "";
  status.className = "status " + (kind || "");
}
function show(...nodes) {
  main().replaceChildren(...nodes);
  main().focus();
}
function when(epoch, zone) {
  // a time as the customer lives it: in their zone (the page's viewer may be elsewhere)
  const options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false };
  try { return new Intl.DateTimeFormat("sv-SE", { ...options, timeZone: zone || "UTC" }).format(new Date(epoch * 1000)) + (zone ? "" : " UTC"); }
  catch (_) { return new Date(epoch * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC"; }
}
function canPublish() { return state.who && state.who.scopes.includes("admin"); }
function saveEdit() { sessionStorage.setItem(EDIT, JSON.stringify(state.edit)); }
function textOf(name) { return name in state.edit ? state.edit[name] : (state.files || {})[name]; }

async function api(path, options) {
  const { signingIn, ...asked } = options || {}; // signing in: a refusal is said on the sign-in form itself
  const init = Object.assign({ headers: {} }, asked);
  init.headers = Object.assign({ Authorization: "Bearer " + state.key }, init.headers);
  if (init.json !== undefined) {
    init.body = JSON.stringify(init.json);
    init.headers["Content-Type"] = "application/json";
    init.method = init.method || "POST";
  }
  const response = await fetch(path.startsWith("/") ? path : "/console/api/" + path, init);
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (response.status === 401 && !signingIn) { signOut("Sign in again: " + ((body && body.error) || "the key was refused")); }
  if (!response.ok) {
    const error = new Error((body && body.error) || response.status + " " + response.statusText);
    error.status = response.status;
    error.body = body;
    throw error;
  }
  return body;
}

async function loadFiles(force) {
  if (state.files && !force) return;
  const found = await api("files");
  state.files = found.files;
  for (const [name, fields] of Object.entries(found.fields)) {
    if (!(name in state.edit)) state.fields[name] = fields;
  }
}

// ---- sign in -----------------------------------------------------------------------------

function signOut(reason) {
  state.key = null;
  state.who = null;
  state.options = null;
  sessionStorage.removeItem(KEY);
  document.getElementById("nav").hidden = true;
  document.getElementById("who").replaceChildren();
  state.notice = reason ? [reason, "error"] : null; // shown once the sign-in page is drawn
  if (location.hash === "#/signin") signInPage(); else location.hash = "#/signin";
}

function signInPage() {
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", required: true, size: 40 });
  const form = h("form", { class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    state.key = input.value.trim();
    try {
      state.who = await api("whoami", { signingIn: true });
    } catch (error) {
      state.key = null;
      say(error.status === 401 ? "That key was refused: " + error.message : error.message, "error");
      return;
    }
    sessionStorage.setItem(KEY, state.key);
    say("Signed in as " + state.who.name, "ok");
    location.hash = "#/triggers";
  } },
  h("h1", { text: "Sign in" }),
  h("label", { for: "api-key", text: "API key" }),
  h("p", { class: "hint", text: "A key with the read scope to look, admin to publish (engagement keys create)." }),
  input, " ", h("button", { class: "primary", type: "submit", id: "sign-in", text: "Sign in" }));
  show(form);
  input.focus();
  if (state.notice) { say(...state.notice); state.notice = null; }
}

async function ensureSignedIn() {
  if (!state.key) return false;
  if (!state.who) {
    try { state.who = await api("whoami"); } catch (_) { return false; }
  }
  if (!state.options) {
    try { state.options = await api("options"); } catch (_) { state.options = { locales: [], tiers: [], kinds: [], require_approval: false }; }
  }
  document.getElementById("nav").hidden = false;
  document.getElementById("who").replaceChildren(
    `${state.who.name} (${state.who.scopes.join(", ")}) `,
    h("button", { type: "button", onclick: () => signOut("Signed out."), text: "Sign out" }));
  return true;
}

// ---- triggers ----------------------------------------------------------------------------

async function triggersPage() {
  const found = await api("triggers");
  const rows = found.triggers.map((t) => h("tr", { "data-trigger": t.id },
    h("td", {}, h("a", { href: `#/edit/triggers/${t.id}.yaml` , text: t.id })),
    h("td", { text: t.kind }), h("td", { text: t.category }),
    h("td", {}, h("span", { class: "badge " + (t.enabled ? "on" : "off"), text: t.enabled ? "enabled" : "disabled" }),
      t.holdout_percent ? ` holdout ${t.holdout_percent} %` : ""),
    h("td", { text: Object.entries(t.decisions).map(([k, n]) => `${k} ${n}`).join(", ") || "none" }),
    h("td", { class: "num", text: t.sent }), h("td", { class: "num", text: t.conversions })));
  show(h("div", { class: "row between" }, h("h1", { text: "Triggers" }),
      h("a", { class: "button", id: "new-trigger", href: "#/new", text: "New trigger" })),
    h("p", {}, "Live configuration ", h("code", { id: "live-version", text: found.live_version }),
      ". The last 24 hours of each trigger:"),
    h("table", {}, h("thead", {}, h("tr", {}, ["trigger", "kind", "category", "state", "decisions by outcome",
      "sends", "conversions"].map((c, i) => h("th", { scope: "col", class: i > 4 ? "num" : null, text: c })))),
    h("tbody", {}, rows)));
}

// ---- a new trigger -------------------------------------------------------------------------

function newTriggerPage() {
  const kinds = (state.options && state.options.kinds) || [];
  const kind = h("select", { id: "new-kind" }, kinds.map((k) => h("option", { value: k.kind, text: k.label || k.kind })));
  const id = h("input", { id: "new-id", type: "text", size: 28, placeholder: "cart_reminder_30m", pattern: "[a-z][a-z0-9_]*" });
  const values = h("p", { class: "hint", id: "new-values" });
  const out = h("div", { id: "new-result", "aria-live": "polite" });
  const describe = () => {
    const found = kinds.find((k) => k.kind === kind.value);
    values.textContent = found ? "Its messages may use: " + found.values.map((v) => "{{" + v + "}}").join(", ") : "";
  };
  kind.addEventListener("change", describe);
  const form = h("form", { class: "new-trigger", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const made = await api(`new-trigger?kind=${encodeURIComponent(kind.value)}&id=${encodeURIComponent(id.value.trim())}`);
      await loadFiles();
      for (const [name, text] of Object.entries(made.files)) { state.edit[name] = text; state.fields[name] = []; }
      saveEdit();
      say(`Trigger ${id.value.trim()} created in your edit (disabled): set it up, then preview and publish.`, "ok");
      location.hash = "#/edit/triggers/" + id.value.trim() + ".yaml";
    } catch (error) { out.replaceChildren(h("p", { class: "error", text: error.message })); }
  } },
    h("div", { class: "row" },
      h("div", {}, h("label", { for: "new-kind", text: "Kind" }), kind),
      h("div", {}, h("label", { for: "new-id", text: "Id" }), id),
      h("div", {}, h("button", { class: "primary", type: "submit", id: "new-create", text: "Create" }))),
    values);
  show(h("h1", { text: "New trigger" }),
    h("p", { class: "hint", text: "A trigger of any kind, or a moment like one of the shipped sequence examples (written without code: a start event, what stops it, when to remind), with a message file of its own, starting from the shipped one. It starts disabled and goes live only when you publish it." }),
    form, out);
  describe();
}

// ---- edit --------------------------------------------------------------------------------

async function editIndex() {
  await loadFiles();
  const items = Object.keys(state.files).sort().map((name) => h("li", {},
    h("a", { href: "#/edit/" + name, text: name }), name in state.edit ? h("span", { class: "badge", text: " edited" }) : ""));
  show(h("h1", { text: "Edit a trigger or a message" }),
    h("p", { class: "hint", text: "Changes stay in this browser tab until you publish them." }), h("ul", {}, items));
}

function scheduleCheck(delay) {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => { state.checking = state.checking.then(check); }, delay);
}

async function check() {
  try {
    const result = await api("check", { json: { files: state.edit } });
    state.problems = result.problems;
    state.version = result.version;
    for (const [name, fields] of Object.entries(result.fields)) state.fields[name] = fields;
  } catch (error) {
    state.problems = [{ file: "", line: 0, severity: "error", where: "", message: error.message }];
    state.version = null;
  }
  document.dispatchEvent(new Event("checked"));
}

function yamlWord(word) {
  // a word of a list, plain only when nothing in it can be read as more than a word
  return /^[A-Za-z0-9_.\u00C0-\uFFFF-]+$/.test(word) && yamlText(word, false) === word ? word : JSON.stringify(word);
}

function yamlText(value, quoted) {
  // a text as YAML reads it back the same: quoted when YAML would read it otherwise (a comment
  // after " #", a key after ": ", yes/no/on/off, a number, a date, a leading indicator, spaces)
  const plain = value !== "" && !quoted && !/^\s|\s$|:(\s|$)|(^|\s)#|^[-?:,\[\]{}&*!|>'"%@`]/.test(value)
    && !/^(y|n|yes|no|on|off|true|false|null|~)$/i.test(value)
    && !/^[-+]?(\.?[0-9]|0[xo])|^\.(inf|nan)$/i.test(value) && !/[\u0000-\u001f\u007f\u2028\u2029]/.test(value);
  return plain ? value : JSON.stringify(value);
}

function spliceField(name, field, value) {
  const lines = textOf(name).split("\n");
  if (field.list) {
    const words = value; // an array of words
    if (field.block) {
      const pad = " ".repeat(field.indent);
      lines.splice(field.first - 1, field.last - field.first + 1, ...words.map((w) => pad + "- " + yamlWord(w)));
      return lines.join("\n");
    }
    const line = lines[field.line - 1];
    lines[field.line - 1] = line.slice(0, field.start) + "[" + words.map(yamlWord).join(", ") + "]" + line.slice(field.end);
    return lines.join("\n");
  }
  if (field.block) {
    const pad = " ".repeat(field.indent);
    const replaced = value.split("\n").map((line) => (line ? pad + line : ""));
    lines.splice(field.first - 1, field.last - field.first + 1, ...replaced);
  } else {
    const line = lines[field.line - 1];
    const raw = ["number", "duration", "switch", "choice", "hours", "fixed"].includes(field.widget) || value === "null";
    const written = raw ? value : yamlText(value, field.quoted);
    const before = line.slice(0, field.start);
    lines[field.line - 1] = before + (before.endsWith(":") ? " " : "") + written + line.slice(field.end);
  }
  return lines.join("\n");
}

// ---- the form's widgets: each shows one setting the way its type reads best ----------------

const UNITS = [["s", "seconds"], ["m", "minutes"], ["h", "hours"], ["d", "days"]];
const DAYS = [["1", "Mon"], ["2", "Tue"], ["3", "Wed"], ["4", "Thu"], ["5", "Fri"], ["6", "Sat"], ["0", "Sun"]];

function makeWidget(field, submit) {
  const id = "field-" + field.path.replace(/[^A-Za-z0-9_-]/g, "_");
  const problems = h("div", { class: "field-problems", "aria-live": "polite" });
  const label = h("label", { for: id, text: field.label || field.path });
  const help = field.help ? h("p", { class: "hint", id: id + "-help", text: field.help }) : null;
  const build = WIDGETS[field.widget] || (field.list ? chipsWidget : field.block ? textareaWidget : textWidget);
  const made = build(id, field, submit);
  const kind = field.widget || (field.list ? "chips" : field.block ? "textarea" : "text");
  const node = h("div", { class: "field", "data-path": field.path, "data-widget": kind },
    label, made.control, help, problems);
  made.write(field.value);
  return { node, field, problems, write: made.write };
}

function textWidget(id, field, submit) {
  const input = h("input", { id, type: "text", "data-path": field.path, "aria-describedby": id + "-help" });
  input.addEventListener("change", () => submit(input.value));
  return { control: input, write: (v) => { input.value = Array.isArray(v) ? v.join(", ") : v; } };
}

function textareaWidget(id, field, submit) {
  const input = h("textarea", { id, rows: Math.min(8, String(field.value).split("\n").length + 1), "data-path": field.path });
  input.addEventListener("change", () => submit(input.value));
  return { control: input, write: (v) => { input.value = v; } };
}

function fixedWidget(id, field) {
  const shown = h("output", { id, class: "fixed" });
  return { control: shown, write: (v) => { shown.textContent = v; } };
}

function noneBox(id, field, onToggle) {
  if (!field.nullable) return null;
  const box = h("input", { id: id + "-none", type: "checkbox" });
  box.addEventListener("change", () => onToggle(box.checked));
  return { box, node: h("label", { class: "inline", for: id + "-none" }, box, " none (no limit)") };
}

function durationWidget(id, field, submit) {
  const amount = h("input", { id, type: "number", min: 0, step: 1, "data-path": field.path, class: "amount" });
  const unit = h("select", { id: id + "-unit", "aria-label": "unit" }, UNITS.map(([u, words]) => h("option", { value: u, text: words })));
  const none = noneBox(id, field, (on) => submit(on ? "null" : (amount.value || "0") + unit.value));
  const send = () => { if (none) none.box.checked = false; submit((amount.value === "" ? "0" : amount.value) + unit.value); };
  amount.addEventListener("change", send);
  unit.addEventListener("change", send);
  const write = (v) => {
    const found = /^(\d+)(s|m|h|d)$/.exec(String(v).trim());
    if (none) none.box.checked = v === "null" || v === "";
    if (found) { amount.value = found[1]; unit.value = found[2]; amount.setCustomValidity(""); }
    else if (v !== "null") { amount.value = ""; amount.setCustomValidity(`"${v}" in the text: edit it there`); }
  };
  return { control: h("div", { class: "inline-row" }, amount, unit, none && none.node), write };
}

function switchWidget(id, field, submit) {
  const box = h("input", { id, type: "checkbox", role: "switch", "data-path": field.path });
  box.addEventListener("change", () => submit(box.checked ? "true" : "false"));
  return { control: h("div", { class: "switch" }, box, h("span", { "aria-hidden": "true" })),
    write: (v) => { box.checked = String(v).toLowerCase() === "true"; } };
}

function numberWidget(id, field, submit) {
  const input = h("input", { id, type: "number", "data-path": field.path, min: field.min ?? null, max: field.max ?? null,
    step: field.step || "any", class: "amount" });
  const none = noneBox(id, field, (on) => submit(on ? "null" : input.value || "0"));
  input.addEventListener("change", () => {
    if (!input.checkValidity()) { input.reportValidity(); return; }
    if (none) none.box.checked = false;
    submit(input.value);
  });
  return { control: h("div", { class: "inline-row" }, input, none && none.node),
    write: (v) => { if (none) none.box.checked = v === "null"; input.value = v === "null" ? "" : v; } };
}

function choiceWidget(id, field, submit) {
  const select = h("select", { id, "data-path": field.path }, (field.options || []).map((o) => h("option", { value: o, text: o })));
  select.addEventListener("change", () => submit(select.value));
  return { control: select, write: (v) => { select.value = v; } };
}

function chipsWidget(id, field, submit) {
  const box = h("div", { class: "chips", "data-path": field.path });
  let words = [];
  if (field.options) { // a fixed set: one box each
    const boxes = field.options.map((o) => {
      const b = h("input", { type: "checkbox", value: o, id: id + "-" + o.replace(/\W/g, "_") });
      b.addEventListener("change", () => submit(boxes.filter((x) => x.checked).map((x) => x.value)));
      box.append(h("label", { class: "inline", for: b.id }, b, " " + o));
      return b;
    });
    return { control: box, write: (v) => { const set = new Set(Array.isArray(v) ? v : []); boxes.forEach((b) => { b.checked = set.has(b.value); }); } };
  }
  const input = h("input", { id, type: "text", size: 12, placeholder: "add…", "aria-label": (field.label || field.path) + ": add a word" });
  const draw = () => {
    box.replaceChildren(...words.map((w, i) => h("span", { class: "chip" }, w,
      h("button", { type: "button", class: "chip-remove", "aria-label": "remove " + w, text: "×",
        onclick: () => { words = words.filter((_, j) => j !== i); draw(); submit(words); } }))), input);
  };
  input.addEventListener("keydown", (e) => {
    if ((e.key === "Enter" || e.key === ",") && input.value.trim()) {
      e.preventDefault();
      words = [...words, input.value.trim()];
      input.value = "";
      draw();
      submit(words);
      input.focus();
    }
  });
  return { control: box, write: (v) => { words = Array.isArray(v) ? [...v] : []; draw(); } };
}

function parseHours(cron) {
  // "* 9-20 * * *" (every minute from 09:00 to 20:59, every day) or with days "* 9-20 * * 1-5"
  const parts = String(cron).trim().split(/\s+/);
  if (parts.length !== 5 || parts[0] !== "*" || parts[2] !== "*" || parts[3] !== "*") return null;
  const overnight = /^(\d{1,2})-23,0-(\d{1,2})$/.exec(parts[1]); // from 21:00 to 08:59: across midnight
  const hours = overnight || /^(\d{1,2})-(\d{1,2})$/.exec(parts[1]) || /^(\d{1,2})$/.exec(parts[1]);
  if (!hours) return null;
  const from = Number(hours[1]), to = Number(hours[2] ?? hours[1]);
  const days = new Set();
  if (parts[4] === "*") DAYS.forEach(([d]) => days.add(d));
  else for (const item of parts[4].split(",")) {
    const range = /^(\d)-(\d)$/.exec(item);
    if (range) for (let d = Number(range[1]); d <= Number(range[2]); d++) days.add(String(d % 7));
    else if (/^\d$/.test(item)) days.add(String(Number(item) % 7));
    else return null;
  }
  return { from, to, days };
}

function hoursWidget(id, field, submit) {
  const hourOptions = (last) => Array.from({ length: 24 }, (_, i) => h("option", { value: i, text: last ? `${String(i).padStart(2, "0")}:59` : `${String(i).padStart(2, "0")}:00` }));
  const from = h("select", { id, "aria-label": "from" }, hourOptions(false));
  const to = h("select", { id: id + "-to", "aria-label": "until" }, hourOptions(true));
  const boxes = DAYS.map(([d, name]) => h("input", { type: "checkbox", value: d, id: `${id}-day-${d}`, "aria-label": name }));
  const days = h("div", { class: "days" }, DAYS.map(([d, name], i) => h("label", { class: "inline day", for: boxes[i].id }, boxes[i], " " + name)));
  const raw = h("input", { id: id + "-cron", type: "text", class: "cron" });
  const picker = h("div", { class: "hours" }, h("div", { class: "inline-row" }, "from ", from, " to ", to), days);
  const send = () => {
    const chosen = boxes.filter((b) => b.checked).map((b) => Number(b.value)).sort();
    const dayField = chosen.length === 7 || !chosen.length ? "*" : chosen.join(",");
    const a = Number(from.value), b = Number(to.value);
    const range = a === b ? String(a) : a < b ? `${a}-${b}` : `${a}-23,0-${b}`; // a later start runs across midnight
    submit(`* ${range} * * ${dayField}`);
  };
  [from, to, ...boxes].forEach((c) => c.addEventListener("change", send));
  raw.addEventListener("change", () => submit(raw.value));
  const write = (v) => {
    const found = parseHours(v);
    picker.hidden = !found;
    raw.hidden = !!found;
    raw.value = v;
    if (found) { from.value = found.from; to.value = found.to; boxes.forEach((b) => { b.checked = found.days.has(b.value); }); }
  };
  return { control: h("div", {}, picker, raw, h("p", { class: "hint", text: "in the customer's time zone" })), write };
}

const WIDGETS = { duration: durationWidget, switch: switchWidget, number: numberWidget, choice: choiceWidget,
  chips: chipsWidget, hours: hoursWidget, fixed: fixedWidget, text: textWidget };

async function editPage(name) {
  await loadFiles();
  if (!(name in state.files) && !(name in state.edit)) { show(h("p", { class: "error", text: "No file " + name })); return; }
  const textarea = h("textarea", { id: "yaml", spellcheck: "false", "aria-label": name + " as YAML", wrap: "off" });
  textarea.value = textOf(name);
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const notes = h("div", { class: "notes", id: "notes", "aria-label": "Problems at their lines" });
  const form = h("form", { class: "fields", id: "fields", onsubmit: (e) => e.preventDefault() });
  const summary = h("div", { id: "summary", role: "region", "aria-live": "polite" });
  let pending = 0; // field changes not yet written and checked

  function changed(text) {
    if (text === state.files[name]) delete state.edit[name]; else state.edit[name] = text;
    saveEdit();
    drawGutter();
  }
  function drawGutter() {
    const count = textarea.value.split("\n").length;
    gutter.replaceChildren(...Array.from({ length: count }, (_, i) => h("div", { class: "ln", "data-line": i + 1, text: i + 1 })));
    drawProblems();
  }
  function drawProblems() {
    const mine = state.problems.filter((p) => p.file === name);
    for (const ln of gutter.children) ln.classList.remove("has-error", "has-warning");
    notes.replaceChildren(...mine.map((p) => {
      const ln = gutter.children[p.line - 1];
      if (ln) ln.classList.add(p.severity === "error" ? "has-error" : "has-warning");
      return h("div", { class: "problem " + p.severity, "data-line": p.line, title: p.message,
        style: `top: ${(p.line - 1) * 20 - textarea.scrollTop}px`, text: `${p.where ? p.where + ": " : ""}${p.message}` });
    }));
    const errors = state.problems.filter((p) => p.severity === "error").length;
    const others = state.problems.filter((p) => p.file !== name && p.severity === "error");
    summary.replaceChildren(
      errors ? h("p", { class: "error", id: "check-result", text: `${errors} error${errors > 1 ? "s" : ""}: nothing can be published until they are fixed.` })
        : h("p", { class: "ok", id: "check-result", text: state.version ? `Valid: this edit goes live as configuration ${state.version}.` : "Checking…" }),
      h("ul", { class: "problems" }, mine.map((p) => h("li", { class: p.severity, text: `line ${p.line}: ${p.where ? p.where + ": " : ""}${p.message}` })),
        others.map((p) => h("li", { class: "error" }, h("a", { href: "#/edit/" + p.file, text: p.file }), `:${p.line}: ${p.message}`))));
  }
  let widgets = []; // the form's widgets, in the order of the fields they show
  function fieldProblems(field) {
    return state.problems.filter((p) => p.file === name && p.where && (p.where === field.path
      || p.where.startsWith(field.path + ".") || p.where.startsWith(field.path + "[")));
  }
  function drawFieldProblems() {
    for (const widget of widgets) {
      const mine = fieldProblems(widget.field);
      widget.problems.replaceChildren(...mine.map((p) => h("span", { class: "field-problem " + p.severity, text: p.message })));
      widget.node.classList.toggle("has-error", mine.some((p) => p.severity === "error"));
    }
  }
  function drawFields() {
    const fields = (state.fields[name] || []).filter((f) => !["id", "kind", "trigger"].includes(f.path));
    if (pending) return; // changes still on their way: the values shown are newer than the check's
    if (widgets.length && widgets.map((w) => w.field.path).join("\n") === fields.map((f) => f.path).join("\n")) {
      // the same settings: refresh their values in place (never the one being typed in)
      widgets.forEach((widget, i) => { widget.field = fields[i]; if (!widget.node.contains(document.activeElement)) widget.write(fields[i].value); });
      drawFieldProblems();
      return;
    }
    const submit = (field, value) => {
      pending += 1;
      state.checking = state.checking.then(async () => {
        const current = (state.fields[name] || []).find((f) => f.path === field.path);
        if (current) {
          textarea.value = spliceField(name, current, value);
          changed(textarea.value);
          await check();
        }
        pending -= 1;
        if (!pending) drawFields();
      });
    };
    let group = null;
    const nodes = [];
    widgets = fields.map((field) => {
      const widget = makeWidget(field, (value) => submit(field, value));
      const parent = field.path.includes(".") ? field.path.split(".").slice(0, -1).join(" › ").replace(/_/g, " ") : "";
      if (parent !== group) { group = parent; if (parent) nodes.push(h("h3", { class: "group", text: parent })); }
      nodes.push(widget.node);
      return widget;
    });
    form.replaceChildren(h("h2", { text: "Settings" }),
      h("p", { class: "hint", text: "Change a value here or in the text; both stay in step." }), ...nodes);
    drawFieldProblems();
  }
  textarea.addEventListener("input", () => { changed(textarea.value); scheduleCheck(300); });
  textarea.addEventListener("scroll", () => { gutter.scrollTop = textarea.scrollTop; drawProblems(); });
  const onChecked = () => {
    if (!document.body.contains(textarea)) { document.removeEventListener("checked", onChecked); return; }
    drawProblems();
    drawFields();
    drawFieldProblems();
  };
  document.addEventListener("checked", onChecked);
  const reset = h("button", { type: "button", onclick: () => { textarea.value = state.files[name]; changed(textarea.value); scheduleCheck(0); }, text: "Undo my changes to this file" });
  show(h("h1", { text: "Edit " + name }),
    h("div", { class: "edit-layout" }, form,
      h("div", {}, h("div", { class: "editor" }, gutter, textarea, notes), summary,
        h("p", { class: "row" }, reset, h("a", { href: "#/preview", text: "Preview" }), h("a", { href: "#/backtest", text: "Backtest" }),
          h("a", { href: "#/publish", text: "Publish" })))));
  drawGutter();
  drawFields();
  scheduleCheck(0);
}

// ---- preview -----------------------------------------------------------------------------

async function previewPage() {
  const found = await api("triggers");
  // the live triggers, and those your edit adds
  const edited = Object.keys(state.edit).filter((n) => n.startsWith("triggers/")).map((n) => n.slice(9).replace(/\.ya?ml$/, ""));
  const ids = [...new Set([...found.triggers.filter((t) => t.enabled).map((t) => t.id), ...edited])].sort();
  const trigger = h("select", { id: "preview-trigger" }, ids.map((id) => h("option", { value: id, text: id + (edited.includes(id) ? " (edited)" : "") })));
  const options = state.options || { locales: [], tiers: [] };
  const locale = h("select", { id: "preview-locale" }, h("option", { value: "", text: "(the customer's own)" }),
    options.locales.map((l) => h("option", { value: l, text: l })));
  const tier = h("select", { id: "preview-tier" }, h("option", { value: "", text: "(none)" }),
    options.tiers.map((t) => h("option", { value: t, text: t })));
  const customer = h("input", { id: "preview-customer", type: "text", size: 16, placeholder: "the sample customer" });
  const channel = h("select", { id: "preview-channel" }, h("option", { value: "", text: "(the trigger's order)" }),
    Object.entries(CHANNEL_NAMES).map(([value, text]) => h("option", { value, text: text + " first" })));
  const out = h("div", { id: "preview-result", "aria-live": "polite" });
  async function run() {
    out.replaceChildren(h("p", { text: "Rendering…" }));
    try {
      const result = await api("preview", { json: { files: state.edit, trigger: trigger.value, locale: locale.value || null, tier: tier.value || null,
        customer: customer.value.trim() || null, channel: channel.value || null } });
      out.replaceChildren(...renderPreview(result));
    } catch (error) {
      out.replaceChildren(h("p", { class: "error", text: error.message }),
        h("ul", {}, ((error.body && error.body.problems) || []).map((p) => h("li", { text: `${p.file}:${p.line}: ${p.message}` }))));
    }
  }
  show(h("h1", { text: "Preview" }),
    h("p", { class: "hint", text: "The message as the sample customer (or a recorded customer, by id) would get it, with your unpublished edit." }),
    h("div", { class: "row" },
      h("div", {}, h("label", { for: "preview-trigger", text: "Trigger" }), trigger),
      h("div", {}, h("label", { for: "preview-locale", text: "Locale" }), locale),
      h("div", {}, h("label", { for: "preview-tier", text: "Tier" }), tier),
      h("div", {}, h("label", { for: "preview-customer", text: "Customer id" }), customer),
      h("div", {}, h("label", { for: "preview-channel", text: "Channel" }), channel),
      h("div", {}, h("button", { class: "primary", id: "preview-run", type: "button", onclick: run, text: "Preview" }))),
    out);
}

function renderPreview(result) {
  const who = h("p", { class: "hint", text: `Customer ${result.customer} (times in ${result.timezone}), configuration ${result.version}` });
  if (!result.decisions.length) return [who, h("p", { text: "No decision: the trigger never fired for this customer." })];
  return result.decisions.map((d) => {
    const head = h("p", {}, h("strong", { text: d.outcome }), d.reason ? ` (${d.reason})` : "", ` at ${when(d.at, result.timezone)}`);
    if (!d.message) return h("div", {}, head);
    const m = d.message;
    const time = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: result.timezone }).format(new Date(d.at * 1000));
    const answered = d.outcome === "send" ? answerBubbles(result.answers || [], m.locale, time) : "";
    const after = Math.round((d.fallback_after || 0) / 60);
    const fallbacks = (d.fallbacks || []).map((f, n) => h("div", { class: "fallback", "data-channel": f.channel },
      h("p", { class: "hint", text: `${n ? "Then, if" : "If"} ${CHANNEL_NAMES[n ? d.fallbacks[n - 1].channel : m.channel]} refuses it or reports no delivery within ${after} min: on ${CHANNEL_NAMES[f.channel]}` }),
      channelChat(f, time)));
    const refused = Object.entries(d.refused || {});
    const skipped = refused.length ? h("p", { class: "hint", id: "preview-refused", text: "Not on " + refused.map(([c, why]) => `${CHANNEL_NAMES[c]} (${why.replace(/_/g, " ")})`).join(", ") }) : "";
    if (m.channel && m.channel !== "whatsapp") return h("div", { class: "preview-item" }, head, channelChat(m, time), ...fallbacks, skipped, answered);
    const template = m.template
      ? h("p", {}, `WhatsApp template ${m.template.name} (${m.template.language}) `,
          h("span", { class: "badge " + (m.template.status || ""), id: "template-status", text: m.template.status || "not in the registry" }),
          m.template.example ? h("span", { class: "hint", text: " (the shipped example registry: sync yours on the Templates page)" }) : "")
      : h("p", { text: "Free-form text (delivered only inside the 24 h service window)." });
    const bubble = h("div", { class: "bubble", id: "bubble", lang: m.locale },
      m.header ? h("div", { class: "header", text: m.header }) : "", h("div", { class: "body", text: m.body }),
      m.footer ? h("div", { class: "footer", text: m.footer }) : "", h("div", { class: "time", text: time }));
    const buttons = (m.buttons || []).length ? h("div", { class: "bubble-buttons", id: "bubble-buttons" }, m.buttons.map((b) => h("span", { text: b }))) : "";
    const chat = h("div", { class: "chat" }, h("div", { class: "chat-head" }, h("span", { class: "avatar", "aria-hidden": "true", text: "S" }),
      h("span", { class: "business", text: "Your shop" }), h("span", { class: "verified", title: "business account", text: "✓" })), bubble, buttons);
    return h("div", { class: "preview-item" }, head, template, chat, ...fallbacks, skipped, answered);
  }).reduce((all, node) => [...all, node], [who]);
}

const CHANNEL_NAMES = { whatsapp: "WhatsApp", line: "LINE", sms: "SMS" };

// A message on LINE (its chat: a text or a Flex bubble, quick replies under it) or as an SMS.
function channelChat(m, time) {
  if (m.channel === "line") {
    const lines = m.flex || null;
    const body = lines ? h("div", { class: "flex" }, lines.map((text, n) => h("div", { class: n ? "" : "flex-title", text })))
      : h("div", { class: "body", text: m.body });
    const replies = (m.buttons || []).length ? h("div", { class: "quick-replies", id: "line-quick-replies" }, m.buttons.map((b) => h("span", { text: b }))) : "";
    return h("div", { class: "chat line", "data-channel": "line" },
      h("div", { class: "chat-head" }, h("span", { class: "avatar", "aria-hidden": "true", text: "S" }), h("span", { class: "business", text: "Your shop (LINE)" })),
      h("div", { class: "bubble", id: "line-bubble", lang: m.locale }, body, h("div", { class: "time", text: time })),
      lines ? h("p", { class: "hint", text: "Notification text: " + m.body }) : "", replies);
  }
  if (m.channel === "sms") {
    const parts = m.sms ? `${m.sms.parts} part${m.sms.parts === 1 ? "" : "s"} (${m.sms.encoding}, ${m.sms.units} units)` : "";
    return h("div", { class: "chat sms", "data-channel": "sms" },
      h("div", { class: "chat-head" }, h("span", { class: "business", text: "SMS · " + parts })),
      h("div", { class: "bubble", id: "sms-bubble", lang: m.locale }, h("div", { class: "body", text: m.body }), h("div", { class: "time", text: time })));
  }
  const bubble = h("div", { class: "bubble", lang: m.locale }, h("div", { class: "body", text: m.body }), h("div", { class: "time", text: time }));
  const buttons = (m.buttons || []).length ? h("div", { class: "bubble-buttons" }, m.buttons.map((b) => h("span", { text: b }))) : "";
  return h("div", { class: "chat", "data-channel": "whatsapp" }, h("div", { class: "chat-head" }, h("span", { class: "business", text: "Your shop (WhatsApp)" })), bubble, buttons);
}

function answerBubbles(answers, locale, time) {
  if (!answers.length) return "";
  const what = (a) => a.outcome === "answer" ? h("div", { class: "bubble", lang: locale }, h("div", { class: "body", text: a.body }), h("div", { class: "time", text: time }))
    : h("p", { class: "hint", text: a.outcome === "handoff" ? `→ handed to people (${a.reason === "asked:default" ? "the message's default" : a.reason})` : `→ ${a.reason === "opt_out" ? "opts out of marketing" : a.reason === "not_me" ? "reported to the security team" : "ignored (" + a.reason + ")"}` });
  return h("section", { id: "preview-answers" }, h("h2", { text: "Replies and their answers" }),
    h("div", { class: "chat" }, answers.map((a) => h("div", { class: "exchange", "data-reply": a.reply },
      h("div", { class: "bubble mine", text: a.reply }), what(a)))));
}

// ---- backtest ----------------------------------------------------------------------------

function dayInput(id, days) {
  const date = new Date(Date.now() - days * 86400000).toISOString().slice(0, 10);
  return h("input", { id, type: "date", value: date });
}

function backtestPage() {
  const from = dayInput("backtest-from", 7);
  const to = dayInput("backtest-to", 1); // yesterday: days that are over, whose live side a second backtest reuses
  const today = new Date().toISOString().slice(0, 10);
  const toHint = h("p", { id: "backtest-today", class: "hint" });
  const showToHint = () => {
    toHint.textContent = to.value >= today
      ? "Today is still coming in: each backtest that takes it in replays the live configuration again."
      : "Days that are over: a second backtest of the same days replays only your edit, while the live configuration stays the same and no more of their events arrive.";
  };
  to.addEventListener("change", showToHint);
  showToHint();
  const bar = h("progress", { id: "backtest-progress", max: 1, value: 0, hidden: true, "aria-label": "Backtest progress" });
  const out = h("div", { id: "backtest-result", "aria-live": "polite" });
  async function start() {
    const since = Date.parse(from.value + "T00:00:00Z") / 1000;
    const until = Math.min(Date.now() / 1000, Date.parse(to.value + "T00:00:00Z") / 1000 + 86400);
    out.replaceChildren();
    bar.hidden = false; bar.value = 0;
    let job;
    try {
      job = await api("backtests", { json: { files: state.edit, since, until } });
    } catch (error) { bar.hidden = true; out.replaceChildren(h("p", { class: "error", text: error.message })); return; }
    while (job.state === "reading" || job.state === "replaying") {
      await new Promise((r) => setTimeout(r, 400));
      job = await api("backtests/" + job.id);
      bar.value = job.progress;
      say(backtestStatus(job));
    }
    bar.hidden = true;
    if (job.state === "failed") { out.replaceChildren(h("p", { class: "error", text: job.error })); return; }
    say("Backtest done.", "ok");
    state.backtest = { id: job.id, edit: JSON.stringify(state.edit) }; // the publish review weighs it, for this edit
    out.replaceChildren(...renderBacktest(job));
  }
  show(h("h1", { text: "Backtest" }),
    h("p", { class: "hint", text: "Your edit, replayed on the recorded traffic of these days, against the live configuration." }),
    h("div", { class: "row" }, h("div", {}, h("label", { for: "backtest-from", text: "From (UTC day)" }), from),
      h("div", {}, h("label", { for: "backtest-to", text: "To (UTC day)" }), to),
      h("div", {}, h("button", { class: "primary", id: "backtest-run", type: "button", onclick: start, text: "Run the backtest" }))),
    toHint, h("p", {}, bar), out);
}

function backtestStatus(job) {
  const done = `${Math.round(job.progress * 100)} %`;
  if (job.phase === "edit" && job.customers) {
    const c = job.customers;
    return `Backtest ${done}: replaying your edit for the ${c.replayed.toLocaleString()} customers it can change; ` +
      `${c.skipped.toLocaleString()} skipped as unchanged`;
  }
  if (job.phase === "live") return `Backtest ${done}: replaying ${job.events.toLocaleString()} events under the live configuration`;
  return `Backtest: ${job.state}, ${job.events.toLocaleString()} events`;
}

function renderBacktest(job) {
  const r = job.result;
  const table = h("table", { id: "backtest-table" },
    h("thead", {}, h("tr", {}, ["trigger", "sends before", "sends after", "gained", "lost", "moved", "reworded"].map((c, i) => h("th", { class: i ? "num" : null, text: c })))),
    h("tbody", {}, r.triggers.map((t) => h("tr", { "data-trigger": t.trigger }, h("td", { text: t.trigger }),
      [t.sends_before, t.sends_after, t.gained ? "+" + t.gained : "0", t.lost ? "−" + t.lost : "0", t.moved, t.reworded]
        .map((v) => h("td", { class: "num", text: typeof v === "number" ? v.toLocaleString() : v }))))));
  const moves = r.triggers.filter((t) => t.moves.length).map((t) => h("div", {}, h("h2", { text: t.trigger }),
    h("ul", {}, t.moves.map((m) => h("li", { text: `${m.from} → ${m.to}: ${m.count}` +
      (m.examples.length ? ` (e.g. ${m.examples.join(", ")})` : "") })))));
  const withdrawn = r.examples_withdrawn
    ? [h("p", { id: "backtest-withdrawn", class: "hint", text: "The example customers are not shown: a customer may have been erased while this backtest ran, or since. Run it again to see examples." })]
    : [];
  const chart = h("div", { class: "chart", id: "backtest-chart", role: "img", "aria-label": "Sends per day, live and with the edit" });
  chart.innerHTML = r.chart; // drawn by the server (matplotlib) from numbers and dates only
  const c = r.customers;
  const scope = (c.skipped
    ? `${c.replayed.toLocaleString()} customers replayed under the edit; ${c.skipped.toLocaleString()} skipped as ` +
      "unchanged (they sent nothing that starts a changed trigger)"
    : `All ${c.replayed.toLocaleString()} customers replayed under the edit`) +
    (r.baseline_kept ? "; the live side kept from an earlier backtest." : ".");
  return [h("p", { text: `${job.events.toLocaleString()} events: live ${r.baseline_version} (${r.decisions[0]} decisions) → edit ${r.new_version} (${r.decisions[1]} decisions)` }),
    h("p", { id: "backtest-scope", class: "hint", text: scope }),
    table, h("h2", { text: "Sends per day" }), chart, ...moves, ...withdrawn];
}

// ---- publish and versions -------------------------------------------------------------------

async function waitLive(version, out) {
  for (let i = 0; i < 120; i++) {
    const found = await api("triggers");
    if (found.live_version === version) {
      out.replaceChildren(h("p", { class: "ok", id: "now-live" }, "Configuration ", h("code", { text: version }), " is live."));
      return true;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  out.replaceChildren(h("p", { class: "error", text: `Configuration ${version} has not gone live within a minute: see the server log.` }));
  return false;
}

function warningList(warnings, id = "publish-warnings") {
  // each warning must be ticked before publishing; the ticks are sent and kept with the version
  if (!warnings.length) return h("div", { id });
  return h("fieldset", { id, class: "warnings" },
    h("legend", { text: "This edit can hurt customers: acknowledge each warning to publish it" }),
    warnings.map((w) => h("label", { class: "ack" },
      h("input", { type: "checkbox", class: "ack-box", "data-name": w.name }),
      " ", h("strong", { text: w.trigger }), ": ", w.message)));
}

function diffView(diffs, id = "publish-diff") {
  // each changed file's lines, added in green and removed in red (text only: never markup)
  return h("div", { id }, diffs.map((d) => h("details", { open: true, class: "file-diff" },
    h("summary", {}, h("code", { text: d.file }), d.new ? h("span", { class: "badge", text: " new file" }) : "",
      d.removed ? h("span", { class: "badge", text: " removed" }) : ""),
    h("pre", { class: "diff" }, d.diff.split("\n").filter((line) => !line.startsWith("---") && !line.startsWith("+++")).map((line) =>
      h("span", { class: line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "", text: line + "\n" }))))));
}

async function publishPage() {
  const names = Object.keys(state.edit).sort();
  const approval = state.options && state.options.require_approval;
  const note = h("textarea", { id: "publish-note", rows: 3, cols: 60, required: true });
  const out = h("div", { id: "publish-result", "aria-live": "polite" });
  let warnings = h("div", { id: "publish-warnings" });
  const summary = h("div", { id: "publish-summary" });
  let diff = h("div", { id: "publish-diff" });
  const button = h("button", { class: "primary", id: "publish-run", type: "button", disabled: !names.length || (!approval && !canPublish()),
    text: approval ? "Propose for approval" : "Publish" });
  const acknowledged = () => [...warnings.querySelectorAll(".ack-box")].filter((b) => b.checked).map((b) => b.dataset.name);
  const showWarnings = (found) => { const next = warningList(found || []); warnings.replaceWith(next); warnings = next; };
  const backtest = state.backtest && state.backtest.edit === JSON.stringify(state.edit) ? state.backtest.id : null;
  let base = null; // the live files this review's diff was made against: a publish since is caught
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const request = { files: state.edit, note: note.value, acknowledged: acknowledged(), backtest, base };
      if (approval) {
        const proposed = await api("proposals", { json: request });
        out.replaceChildren(h("p", { class: "ok", id: "proposed" }, `Proposed (${proposed.id}): another admin key approves it below.`));
        state.edit = {}; saveEdit();
        await drawProposals();
        return;
      }
      const done = await api("publish", { json: request });
      out.replaceChildren(h("p", { text: `Published as version ${done.number} (configuration ${done.config_version}); waiting for it to go live…` }));
      state.edit = {}; saveEdit(); state.files = null;
      await waitLive(done.config_version, out);
    } catch (error) {
      button.disabled = false;
      if (error.status === 409 && error.body && error.body.warnings) showWarnings(error.body.warnings);
      if (error.status === 409 && error.body && error.body.code === "live_changed") {
        out.replaceChildren(h("p", { class: "error", id: "live-changed", text: "Another publish changed the live files since this review: the diff, checks and warnings above are now against them. Look again, then publish." }));
        await drawReview();
        return;
      }
      out.replaceChildren(h("p", { class: "error", text: error.message }),
        h("ul", {}, ((error.body && error.body.problems) || []).map((p) => h("li", { text: `${p.file}:${p.line}: ${p.message}` }))));
    }
  });
  const proposals = h("div", { id: "proposals" });
  async function drawProposals(notice) {
    if (!approval) return;
    const found = await api("proposals");
    proposals.replaceChildren(h("h2", { text: "Waiting for approval" }), notice instanceof Node ? notice : "",
      found.proposals.length ? h("ul", { class: "proposals" }, found.proposals.map((p) => proposalItem(p, drawProposals)))
        : h("p", { class: "hint", text: "No edit waits for approval." }));
  }
  show(h("h1", { text: approval ? "Review and propose" : "Review and publish" }),
    names.length ? h("p", {}, "Files changed in your edit: ", names.join(", ")) : h("p", { text: "Nothing to publish: edit a trigger or a message first." }),
    !approval && !canPublish() ? h("p", { class: "warning", text: "Your key has no admin scope: you can check, preview and backtest, not publish." }) : "",
    approval ? h("p", { class: "hint", text: "This console publishes with approval: your edit is proposed, and another admin key approves it." }) : "",
    summary, diff, warnings, h("label", { for: "publish-note", text: "Note: what changes and why" }), note, h("p", {}, button), out, proposals);
  drawProposals().catch((error) => proposals.replaceChildren(h("p", { class: "error", text: error.message })));
  if (!names.length) return;
  await drawReview();
  async function drawReview() {
  try {
    const review = await api("review", { json: { files: state.edit, backtest } });
    base = review.base;
    summary.replaceChildren(h("p", { id: "publish-checks", class: review.errors ? "error" : "ok",
      text: review.errors ? `${review.errors} errors: nothing can be published until they are fixed.`
        : `Checked: no errors, ${review.warnings_count} lint warnings; goes live as configuration ${review.version}.` }),
      review.errors ? h("ul", { class: "problems", id: "publish-problems" }, review.problems.filter((p) => p.severity === "error").map((p) =>
        h("li", { class: "error" }, h("a", { href: "#/edit/" + p.file, text: p.file }), `:${p.line}: ${p.where ? p.where + ": " : ""}${p.message}`))) : "",
      review.backtest ? h("p", { class: "hint", text: `Weighed with your backtest of ${review.backtest.events.toLocaleString()} events.` })
        : h("p", { class: "hint", text: "No backtest of this edit yet: run one to see what it changes before publishing." }));
    const shown = diffView(review.diffs);
    diff.replaceWith(shown);
    diff = shown;
    showWarnings(review.warnings);
  } catch (error) { summary.replaceChildren(h("p", { class: "error", text: error.message })); }
  }
}

function proposalItem(p, redraw) {
  // the approver sees what approving does now (each file's diff against the live one, the checks,
  // the warnings to tick) before the button publishes it
  const out = h("span", { class: "proposal-result", "aria-live": "polite" });
  const mine = state.who && p.author === state.who.name;
  const review = h("div", { class: "proposal-review" });
  let loaded = false;
  const approve = h("button", { type: "button", class: "primary", "data-proposal": p.id, disabled: mine || !canPublish(),
    title: mine ? "a proposer cannot approve their own edit" : "", text: "Review to approve" });
  const acknowledged = () => [...review.querySelectorAll(".ack-box")].filter((b) => b.checked).map((b) => b.dataset.name);
  async function load() {
    const found = await api(`proposals/${p.id}`);
    const r = found.review;
    review.replaceChildren(
      found.stale ? h("p", { class: "warning", text: "The live configuration changed since this was proposed: it must be proposed again." }) : "",
      h("p", { class: r.errors ? "error" : "ok", text: r.errors ? `${r.errors} errors: it cannot be published.`
        : `Checked: no errors, ${r.warnings_count} lint warnings; goes live as configuration ${r.version}.` }),
      diffView(r.diffs, "proposal-diff-" + p.id), warningList(r.warnings, "proposal-warnings-" + p.id));
    loaded = true;
    approve.textContent = "Approve and publish";
  }
  approve.addEventListener("click", async () => {
    approve.disabled = true;
    try {
      if (!loaded) { await load(); approve.disabled = false; return; }
      const done = await api(`proposals/${p.id}/approve`, { json: { acknowledged: acknowledged() } });
      out.replaceChildren(h("span", { class: "ok", id: "approved", text: `Published as version ${done.number}, approved by ${done.approved_by}; waiting for it to go live…` }));
      state.files = null;
      const live = h("div", { "aria-live": "polite" });
      if (await waitLive(done.config_version, live)) await redraw(live); // the list changes; the news stays
    } catch (error) {
      if (error.status === 409 && error.body && error.body.warnings) {
        const ticked = new Set(acknowledged());
        const list = warningList(error.body.warnings, "proposal-warnings-" + p.id);
        for (const box of list.querySelectorAll(".ack-box")) box.checked = ticked.has(box.dataset.name);
        const old = review.querySelector(`#proposal-warnings-${p.id}`);
        if (old) old.replaceWith(list); else review.append(list);
      }
      out.replaceChildren(h("span", { class: "error", text: error.message }));
      approve.disabled = false;
    }
  });
  const withdraw = h("button", { type: "button", disabled: !mine && !canPublish(), text: mine ? "Withdraw" : "Turn down",
    onclick: async () => { try { await api(`proposals/${p.id}`, { method: "DELETE" }); await redraw(); } catch (error) { out.replaceChildren(h("span", { class: "error", text: error.message })); } } });
  const look = h("button", { type: "button", class: "show-changes", text: "Show what it changes",
    onclick: async () => { try { await load(); look.remove(); } catch (error) { out.replaceChildren(h("span", { class: "error", text: error.message })); } } });
  const what = p.rollback !== null && p.rollback !== undefined ? `a roll back to version ${p.rollback}` : p.files.join(", ");
  return h("li", { "data-proposal": p.id }, h("strong", { text: p.author }), ` proposed ${what}: “${p.note}” `,
    h("span", { class: "hint", text: when(p.at, state.options && state.options.default_timezone) }), " ", approve, " ",
    approve.disabled ? look : "", " ", withdraw, review, out);
}

async function versionsPage(notice) {
  const found = await api("versions");
  const out = h("div", { id: "rollback-result", "aria-live": "polite" }, notice instanceof Node ? notice : "");
  const rows = found.versions.map((v) => {
    const live = v.config_version === found.live_version;
    const approval = state.options && state.options.require_approval;
    const undo = h("button", { type: "button", "data-version": v.number, disabled: live || !canPublish(),
      text: approval ? "Propose a roll back to this version" : "Roll back to this version" });
    const rollBack = async (acknowledged) => {
      undo.disabled = true;
      try {
        const done = await api(`versions/${v.number}/rollback`, { json: { acknowledged } });
        if (done.proposed) { // maker/checker: another admin key approves it on the publish page
          out.replaceChildren(h("p", { class: "ok", id: "rollback-proposed" }, `Roll back to version ${v.number} proposed (${done.proposed.id}): another admin key approves it on `,
            h("a", { href: "#/publish", text: "the publish page" }), "."));
          return;
        }
        out.replaceChildren(h("p", { text: `Rolled back: version ${done.number}; waiting for it to go live…` }));
        state.files = null;
        if (await waitLive(done.config_version, out)) await versionsPage(out.firstChild);
      } catch (error) {
        undo.disabled = false;
        if (error.status !== 409 || !(error.body && error.body.warnings)) {
          out.replaceChildren(h("p", { class: "error", text: error.message }));
          return;
        }
        // the version does what needs an acknowledgement again, as a publish does
        const warnings = warningList(error.body.warnings);
        const again = h("button", { type: "button", id: "rollback-acknowledged", text: `Roll back to version ${v.number}` });
        again.addEventListener("click", () => rollBack([...warnings.querySelectorAll(".ack-box")].filter((b) => b.checked).map((b) => b.dataset.name)));
        out.replaceChildren(warnings, h("p", {}, again));
      }
    };
    undo.addEventListener("click", () => rollBack([]));
    return h("tr", { "data-version": v.number },
      h("td", { text: v.number }), h("td", { text: when(v.at, state.options && state.options.default_timezone) }),
      h("td", {}, v.author, v.approved_by ? h("div", { class: "hint", text: "approved by " + v.approved_by }) : ""),
      h("td", {}, v.note, (v.acknowledged || []).length ? h("div", { class: "hint warning", text: "acknowledged: " + v.acknowledged.join(", ") }) : ""),
      h("td", {}, h("code", { text: v.config_version }), live ? h("span", { class: "badge live", text: " live" }) : ""),
      h("td", {}, v.changed.join(", "), v.diff ? h("details", {}, h("summary", { text: "diff" }), h("pre", { class: "diff", text: v.diff })) : ""),
      h("td", {}, undo));
  });
  show(h("h1", { text: "Published versions" }),
    h("p", {}, "Live configuration ", h("code", { id: "live-version", text: found.live_version })), out,
    found.versions.length ? h("table", {}, h("thead", {}, h("tr", {}, ["#", "when", "author", "note", "configuration", "changed", ""].map((c) => h("th", { text: c })))), h("tbody", {}, rows))
      : h("p", { text: "Nothing published from the console yet." }));
}

// ---- customer timeline and report ---------------------------------------------------------------

function customerPage(id) {
  const input = h("input", { id: "customer-id", type: "text", value: id || "", size: 30, placeholder: "c-1042 or +886912345678" });
  const out = h("div", { id: "timeline", "aria-live": "polite" });
  const form = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    const asked = input.value.trim();
    if (/^\+?[0-9 ()-]{7,}$/.test(asked)) { // a customer id of digits, or a phone number: find who holds it
      if (/^[0-9]+$/.test(asked)) {
        try { await api("customers/" + encodeURIComponent(asked)); location.hash = "#/customer/" + asked; return; }
        catch (error) { if (error.status !== 404) { out.replaceChildren(h("p", { class: "error", text: error.message })); return; } }
      }
      if (!canPublish()) {
        out.replaceChildren(h("p", { class: "error", text: "Finding a customer by phone number needs an admin key (each look-up is logged); enter their customer id." }));
        return;
      }
      try {
        const found = await api("customers?phone=" + encodeURIComponent(asked.replace(/[ ()-]/g, "").replace(/^(?!\+)/, "+")));
        location.hash = "#/customer/" + encodeURIComponent(found.customer_id);
      } catch (error) { out.replaceChildren(h("p", { class: "error", text: error.message })); }
      return;
    }
    location.hash = "#/customer/" + encodeURIComponent(asked);
  } },
    h("div", {}, h("label", { for: "customer-id", text: "Customer id or phone number" }), input),
    h("div", {}, h("button", { class: "primary", type: "submit", text: "Show" })));
  show(h("h1", { text: "Customer" }), form, out);
  if (!id) return;
  api("customers/" + encodeURIComponent(id)).then((found) => {
    const zone = (found.profile && found.profile.timezone) || (state.options && state.options.default_timezone) || "UTC";
    out.replaceChildren(profileCard(found, zone), h("h2", { text: `Timeline (times in ${zone})` }),
      found.items.length ? h("table", { id: "timeline-table" }, h("thead", {}, h("tr", {}, ["time", "what", "", "details"].map((c) => h("th", { text: c })))),
        h("tbody", {}, found.items.map((item) => h("tr", { class: item.what },
          h("td", { class: "nowrap", text: when(item.at, zone) }), h("td", { text: item.what }), h("td", { text: item.type || "" }),
          h("td", {}, describeItem(item, zone))))))
        : h("p", { text: "Nothing recorded yet." }));
  }).catch((error) => out.replaceChildren(h("p", { class: "error", text: error.message })));
}

function profileCard(found, zone) {
  const p = found.profile;
  if (!p) return h("p", { class: "hint", text: "This runtime holds no state for this customer (a worker holds only its partitions' customers)." });
  const phone = h("span", { id: "customer-phone", text: p.phone || "no number" });
  const reveal = h("button", { type: "button", id: "reveal-phone", disabled: !canPublish() || !p.phone, text: "Reveal",
    title: canPublish() ? "shows the whole number; the reveal is logged with your key's name" : "needs an admin key" });
  reveal.addEventListener("click", async () => {
    try { phone.textContent = (await api(`customers/${encodeURIComponent(found.customer_id)}/reveal`, { method: "POST" })).phone; reveal.disabled = true; }
    catch (error) { say(error.message, "error"); }
  });
  const yes = (b) => h("span", { class: "badge " + (b ? "on" : "off"), text: b ? "yes" : "no" });
  const channels = p.channels.map((c) => h("tr", {}, h("td", { text: c.channel }), h("td", {}, yes(c.consent)),
    h("td", {}, c.marketing_opt_out ? h("span", { class: "badge off", text: "opted out" }) : h("span", { class: "badge on", text: "subscribed" })),
    h("td", { text: c.unreachable_until ? "unreachable until " + when(c.unreachable_until, zone) : c.marketing_paused_until ? "marketing paused until " + when(c.marketing_paused_until, zone) : "reachable" })));
  const pending = p.pending.length ? h("ul", { id: "pending-timers" }, p.pending.map((t) => h("li", {},
    h("strong", { text: t.trigger }), ` due ${when(t.due, zone)} (window until ${when(t.deadline, zone)})`)))
    : h("p", { class: "hint", id: "pending-timers", text: "No timer pending." });
  const waiting = p.waiting_events ? h("p", { class: "warning", id: "waiting-events",
    text: `${p.waiting_events} of this customer's events wait to be applied (events are applied in time order, once the events that may still arrive before them are in): what follows does not count them yet.` }) : "";
  return h("section", { class: "profile", id: "profile" }, waiting,
    h("dl", {},
      h("dt", { text: "Customer" }), h("dd", { text: found.customer_id }),
      h("dt", { text: "Name" }), h("dd", { text: p.name || "—" }),
      h("dt", { text: "Phone" }), h("dd", {}, phone, " ", reveal),
      h("dt", { text: "Locale" }), h("dd", { text: p.locale || "— (the default)" }),
      h("dt", { text: "Time zone" }), h("dd", { text: p.timezone + (p.timezone_given ? "" : " (the default)") }),
      h("dt", { text: "Tier" }), h("dd", { text: p.tier || "—" })),
    h("h2", { text: "Consent and opt-outs" }),
    h("table", { class: "channels" }, h("thead", {}, h("tr", {}, ["channel", "consent", "marketing", "reachable"].map((c) => h("th", { text: c })))), h("tbody", {}, channels)),
    h("h2", { text: "Pending" }), pending,
    h("h2", { text: "Conversation" }), conversationCard(found, zone));
}

function conversationCard(found, zone) {
  const c = found.profile.conversation;
  const open = c.handoff_until && c.handoff_until * 1000 > Date.now();
  const box = h("div", { id: "conversation" });
  const lines = [];
  if (open) {
    const resolve = h("button", { type: "button", id: "resolve-conversation", disabled: !canPublish(),
      title: canPublish() ? "automatic answers resume for this customer" : "needs an admin key", text: "Mark resolved" });
    resolve.addEventListener("click", async () => {
      resolve.disabled = true;
      try {
        await api(`/v1/conversations/${encodeURIComponent(found.customer_id)}/resolve`, { method: "POST" });
        box.replaceChildren(h("p", { class: "ok", text: "Resolved: automatic answers resume." }));
      } catch (error) { resolve.disabled = false; say(error.message, "error"); }
    });
    lines.push(h("p", { class: "warning" }, `With people since ${when(c.handoff_at, zone)}: automatic answers pause until it is resolved, or until ${when(c.handoff_until, zone)}. `, resolve));
  } else {
    lines.push(h("p", { class: "hint", text: "Automatic answers are on: replies get the answers of the message they follow, or go to people." }));
  }
  const lastHour = c.answers.filter((t) => Date.now() / 1000 - t < 3600).length;
  lines.push(h("p", { text: `${lastHour} automatic answer${lastHour === 1 ? "" : "s"} in the last hour (at most 5).` }));
  if (c.recent_sends.length) {
    lines.push(h("p", { text: "Replies may answer: " + c.recent_sends.map((s) => `${s.trigger} (${when(s.at, zone)})`).join(", ") + "." }));
  }
  box.replaceChildren(...lines);
  return box;
}

function describeItem(item, zone) {
  if (item.what === "event") return item.text;
  const parts = [h("strong", { text: item.outcome + (item.reason ? " (" + item.reason + ")" : "") })];
  if (item.text) parts.push(" · ", h("q", { text: item.text }));
  if (item.send) parts.push(item.outcome === "handoff" ? ` · hand-off ${item.send === "sent" ? "delivered" : item.send}` : " · send " + item.send);
  for (const status of item.statuses || []) parts.push(` · ${status.status} at ${when(status.at, zone)}`);
  if (item.delivery) parts.push(h("br"), h("span", { class: "delivery", text: deliveryText(item.delivery) }));
  return h("span", {}, ...parts);
}

// Where a send went: the channels it moved on from (and why), the one it is on, what delivered it.
const MOVED_WHY = { no_report: "no delivery report in time", unknown: "outcome unknown", 131026: "not on WhatsApp",
  131050: "marketing paused", 131047: "outside the 24 h window", 21610: "SMS STOP", 21614: "not a mobile number" };
function deliveryText(d) {
  const name = (c) => CHANNEL_NAMES[c] || c;
  const said = (why) => !MOVED_WHY[why] ? `error ${why}` : /^\d+$/.test(why) ? `${MOVED_WHY[why]}, ${why}` : MOVED_WHY[why];
  const moved = d.tried.map(([c, why]) => `${name(c)} (${said(why)})`);
  const path = moved.length ? `Tried ${moved.join(", then ")}, then ${name(d.channel)}` : `On ${name(d.channel)}`;
  const got = d.delivered.length > 1 ? `delivered on ${d.delivered.map(name).join(" and ")}: twice`
    : d.delivered.length ? `delivered on ${name(d.delivered[0])}` : "no delivery reported yet";
  return `${path}; ${got}.`;
}

// ---- templates ------------------------------------------------------------------------------

async function templatesPage() {
  const found = await api("templates");
  const out = h("div", { id: "templates-result", "aria-live": "polite" });
  const registry = found.registry;
  const about = !registry ? h("p", { class: "warning", id: "registry-about", text: "No template registry: nothing checks the templates the messages name. Sync it from WhatsApp." })
    : registry.example ? h("p", { class: "warning", id: "registry-about", text: "The shipped example registry: the templates these message files need, as WhatsApp would approve them. Sync yours to check them against your account." })
    : h("p", { id: "registry-about", text: `Synced from ${registry.source} at ${registry.synced_at}.` });
  const sync = h("button", { type: "button", id: "templates-sync", class: "primary", disabled: !canPublish() || !found.can_sync,
    title: found.can_sync ? "" : "set ENGAGEMENT_WHATSAPP_BUSINESS_ACCOUNT_ID and ENGAGEMENT_WHATSAPP_TOKEN", text: "Sync from WhatsApp" });
  sync.addEventListener("click", async () => {
    sync.disabled = true;
    try { const done = await api("templates/sync", { method: "POST" }); say(`Synced ${done.templates} templates.`, "ok"); await templatesPage(); }
    catch (error) { sync.disabled = false; out.replaceChildren(h("p", { class: "error", text: error.message })); }
  });
  const rows = found.templates.map((t) => h("tr", { "data-template": `${t.name}:${t.language}` },
    h("td", {}, h("code", { text: t.name })), h("td", { text: t.language }), h("td", { text: t.category }),
    h("td", {}, h("span", { class: "badge " + t.status, text: t.status })), h("td", { text: t.quality || "—" })));
  const triggers = [...new Set(found.needed.map((n) => n.trigger))];
  const needed = found.needed.map((n) => h("tr", {}, h("td", { text: n.trigger }), h("td", { text: n.locale + (n.tier ? ` (tier ${n.tier})` : "") }),
    h("td", {}, h("code", { text: `${n.name} (${n.language})` })),
    h("td", {}, h("span", { class: "badge " + (n.status || "off"), text: n.status || "not in the registry" }))));
  const submitTrigger = h("select", { id: "submit-trigger" }, triggers.map((t) => h("option", { value: t, text: t })));
  const submit = h("button", { type: "button", id: "templates-submit", disabled: !canPublish() || !found.can_sync, text: "Submit for approval" });
  submit.addEventListener("click", async () => {
    try { const done = await api("templates/submit", { json: { trigger: submitTrigger.value } });
      out.replaceChildren(h("p", { class: "ok", text: "Submitted: " + done.submitted.map((s) => `${s.name} (${s.language}): ${s.status}`).join("; ") })); }
    catch (error) { out.replaceChildren(h("p", { class: "error", text: error.message })); }
  });
  const testTrigger = h("select", { id: "test-trigger" }, triggers.map((t) => h("option", { value: t, text: t })));
  const testLocale = h("select", { id: "test-locale" }, h("option", { value: "", text: "(default)" }), (state.options.locales || []).map((l) => h("option", { value: l, text: l })));
  const to = h("input", { id: "test-to", type: "tel", size: 18, placeholder: "+886912345678" });
  const test = h("button", { type: "button", id: "test-send", disabled: !canPublish() || !found.can_test, text: "Send a test to my phone" });
  test.addEventListener("click", async () => {
    try { const done = await api("templates/test", { json: { trigger: testTrigger.value, locale: testLocale.value || null, to: to.value.trim() } });
      out.replaceChildren(h("p", { class: "ok", id: "test-sent", text: `Test sent to ${done.to} (${done.sent}).` })); }
    catch (error) { out.replaceChildren(h("p", { class: "error", id: "test-refused", text: error.message })); }
  });
  const why = !found.can_sync ? h("span", { class: "hint", text: " set ENGAGEMENT_WHATSAPP_BUSINESS_ACCOUNT_ID and ENGAGEMENT_WHATSAPP_TOKEN to sync and submit" })
    : !canPublish() ? h("span", { class: "hint", text: " syncing needs an admin key" }) : "";
  show(h("h1", { text: "Templates" }), about, h("p", {}, sync, why), out,
    h("h2", { text: "What the live messages are sent as" }),
    h("table", { id: "templates-needed" }, h("thead", {}, h("tr", {}, ["trigger", "locale", "template", "at WhatsApp"].map((c) => h("th", { text: c })))), h("tbody", {}, needed)),
    h("h2", { text: "Submit a message's templates" }),
    h("div", { class: "row" }, h("div", {}, h("label", { for: "submit-trigger", text: "Trigger" }), submitTrigger), h("div", {}, submit)),
    h("h2", { text: "Send a test" }),
    h("p", { class: "hint", text: found.test_numbers.length ? "Allowed numbers (ENGAGEMENT_TEST_NUMBERS): " + found.test_numbers.join(", ") : "No number is allowed: set ENGAGEMENT_TEST_NUMBERS." }),
    h("div", { class: "row" }, h("div", {}, h("label", { for: "test-trigger", text: "Trigger" }), testTrigger),
      h("div", {}, h("label", { for: "test-locale", text: "Locale" }), testLocale),
      h("div", {}, h("label", { for: "test-to", text: "To" }), to), h("div", {}, test)),
    h("h2", { text: "The registry" }),
    rows.length ? h("table", { id: "templates-table" }, h("thead", {}, h("tr", {}, ["name", "language", "category", "status", "quality"].map((c) => h("th", { text: c })))), h("tbody", {}, rows))
      : h("p", { text: "Empty." }));
}

async function reportPage() {
  const days = h("select", { id: "report-days" }, [1, 7, 30, 90].map((d) => h("option", { value: d, selected: d === 7, text: `the last ${d} days` })));
  const frame = h("iframe", { class: "report", id: "report-frame", sandbox: "", title: "The outcomes report" });
  async function load() {
    say("Computing the report…");
    const found = await api("report?days=" + days.value);
    frame.srcdoc = found.page;
    say(`Report of ${found.rows.length} triggers.`, "ok");
  }
  days.addEventListener("change", load);
  show(h("h1", { text: "Report" }), h("div", { class: "row" }, h("div", {}, h("label", { for: "report-days", text: "Period" }), days)), frame);
  await load();
}

// ---- routing ------------------------------------------------------------------------------

const PAGES = [
  [/^#\/triggers$/, triggersPage],
  [/^#\/edit$/, editIndex],
  [/^#\/edit\/((?:triggers|messages)\/[A-Za-z0-9_.-]+)$/, (m) => editPage(m[1])],
  [/^#\/preview$/, previewPage],
  [/^#\/backtest$/, backtestPage],
  [/^#\/publish$/, publishPage],
  [/^#\/versions$/, () => versionsPage()],
  [/^#\/customer(?:\/(.*))?$/, (m) => customerPage(m[1] ? decodeURIComponent(m[1]) : "")],
  [/^#\/templates$/, templatesPage],
  [/^#\/new$/, newTriggerPage],
  [/^#\/report$/, reportPage],
];

async function route() {
  const hash = location.hash || "#/triggers";
  if (hash === "#/signin" || !(await ensureSignedIn())) { signInPage(); return; }
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", hash.startsWith(link.getAttribute("href")));
    if (link.hasAttribute("aria-current")) link.setAttribute("aria-current", "page");
  }
  for (const [pattern, page] of PAGES) {
    const match = hash.match(pattern);
    if (match) {
      try { await page(match); } catch (error) { show(h("p", { class: "error", text: error.message })); }
      return;
    }
  }
  location.hash = "#/triggers";
}

window.addEventListener("hashchange", () => { say(""); route(); });
window.addEventListener("DOMContentLoaded", route);
