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
function when(epoch) { return new Date(epoch * 1000).toLocaleString(); }
function canPublish() { return state.who && state.who.scopes.includes("admin"); }
function saveEdit() { sessionStorage.setItem(EDIT, JSON.stringify(state.edit)); }
function textOf(name) { return name in state.edit ? state.edit[name] : (state.files || {})[name]; }

async function api(path, options) {
  const init = Object.assign({ headers: {} }, options || {});
  init.headers = Object.assign({ Authorization: "Bearer " + state.key }, init.headers);
  if (init.json !== undefined) {
    init.body = JSON.stringify(init.json);
    init.headers["Content-Type"] = "application/json";
    init.method = init.method || "POST";
  }
  const response = await fetch("/console/api/" + path, init);
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (response.status === 401) { signOut("Sign in again: " + ((body && body.error) || "the key was refused")); }
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
      state.who = await api("whoami");
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
  show(h("h1", { text: "Triggers" }),
    h("p", {}, "Live configuration ", h("code", { id: "live-version", text: found.live_version }),
      ". The last 24 hours of each trigger:"),
    h("table", {}, h("thead", {}, h("tr", {}, ["trigger", "kind", "category", "state", "decisions by outcome",
      "sends", "conversions"].map((c, i) => h("th", { scope: "col", class: i > 4 ? "num" : null, text: c })))),
    h("tbody", {}, rows)));
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

function spliceField(name, field, value) {
  const lines = textOf(name).split("\n");
  if (field.block) {
    const pad = " ".repeat(field.indent);
    const replaced = value.split("\n").map((line) => (line ? pad + line : ""));
    lines.splice(field.first - 1, field.last - field.first + 1, ...replaced);
  } else {
    const line = lines[field.line - 1];
    const quoted = (field.quoted && field.value !== "") || value === "" || /^[\s]|[:#]\s|[\s]$|^[\[\]{}&*!|>'"%@`]/.test(value);
    const written = quoted ? JSON.stringify(value) : value;
    const before = line.slice(0, field.start);
    lines[field.line - 1] = before + (before.endsWith(":") ? " " : "") + written + line.slice(field.end);
  }
  return lines.join("\n");
}

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
  function drawFields() {
    const fields = (state.fields[name] || []).filter((f) => !["id", "kind", "trigger"].includes(f.path));
    const shown = Array.from(form.querySelectorAll("[data-path]"));
    if (pending) return; // changes still on their way: the values shown are newer than the check's
    if (shown.length && shown.map((i) => i.dataset.path).join("\n") === fields.map((f) => f.path).join("\n")) {
      // the same settings: refresh their values in place (never the one being typed in)
      shown.forEach((input, i) => { if (input !== document.activeElement) input.value = fields[i].value; });
      return;
    }
    form.replaceChildren(h("h2", { text: "Settings" }),
      h("p", { class: "hint", text: "Change a value here or in the text; both stay in step." }),
      ...fields.map((field) => {
        const id = "field-" + field.path.replace(/[^A-Za-z0-9_-]/g, "_");
        const input = field.block
          ? h("textarea", { id, rows: Math.min(8, field.value.split("\n").length + 1), "data-path": field.path })
          : h("input", { id, type: "text", "data-path": field.path });
        input.value = field.value;
        input.addEventListener("change", () => {
          const value = input.value; // as typed now, whatever a check in between shows
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
        });
        return h("div", { class: "field" }, h("label", { for: id, text: field.path }), input);
      }));
  }
  textarea.addEventListener("input", () => { changed(textarea.value); scheduleCheck(300); });
  textarea.addEventListener("scroll", () => { gutter.scrollTop = textarea.scrollTop; drawProblems(); });
  const onChecked = () => {
    if (!document.body.contains(textarea)) { document.removeEventListener("checked", onChecked); return; }
    drawProblems();
    drawFields();
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
  const trigger = h("select", { id: "preview-trigger" }, found.triggers.filter((t) => t.enabled).map((t) => h("option", { value: t.id, text: t.id })));
  const locale = h("select", { id: "preview-locale" }, ["zh-TW", "zh-HK", "zh-CN", "en"].map((l) => h("option", { value: l, text: l })));
  const tier = h("select", { id: "preview-tier" }, h("option", { value: "", text: "(none)" }), h("option", { value: "vip", text: "vip" }));
  const customer = h("input", { id: "preview-customer", type: "text", size: 16, placeholder: "the sample customer" });
  const out = h("div", { id: "preview-result", "aria-live": "polite" });
  async function run() {
    out.replaceChildren(h("p", { text: "Rendering…" }));
    try {
      const result = await api("preview", { json: { files: state.edit, trigger: trigger.value, locale: locale.value, tier: tier.value || null,
        customer: customer.value.trim() || null } });
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
      h("div", {}, h("button", { class: "primary", id: "preview-run", type: "button", onclick: run, text: "Preview" }))),
    out);
}

function renderPreview(result) {
  const who = h("p", { class: "hint", text: `Customer ${result.customer}, configuration ${result.version}` });
  if (!result.decisions.length) return [who, h("p", { text: "No decision: the trigger never fired for this customer." })];
  return result.decisions.map((d) => {
    const head = h("p", {}, h("strong", { text: d.outcome }), d.reason ? ` (${d.reason})` : "", ` at ${when(d.at)}`);
    if (!d.message) return h("div", {}, head);
    const m = d.message;
    const template = m.template
      ? h("p", {}, `WhatsApp template ${m.template.name} (${m.template.language}) `,
          h("span", { class: "badge " + (m.template.status || ""), id: "template-status", text: m.template.status || "not synced" }))
      : h("p", { text: "Free-form text (delivered only inside the 24 h service window)." });
    const bubble = h("div", { class: "bubble", id: "bubble", lang: m.locale },
      m.header ? h("div", { class: "header", text: m.header }) : "", h("div", { class: "body", text: m.body }),
      m.footer ? h("div", { class: "footer", text: m.footer }) : "");
    const buttons = (m.buttons || []).length ? h("div", { class: "bubble-buttons" }, m.buttons.map((b) => h("span", { text: b }))) : "";
    return h("div", {}, head, template, h("div", { class: "chat" }, bubble, buttons));
  }).reduce((all, node) => [...all, node], [who]);
}

// ---- backtest ----------------------------------------------------------------------------

function dayInput(id, days) {
  const date = new Date(Date.now() - days * 86400000).toISOString().slice(0, 10);
  return h("input", { id, type: "date", value: date });
}

function backtestPage() {
  const from = dayInput("backtest-from", 7);
  const to = dayInput("backtest-to", 0);
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
      say(`Backtest: ${job.state}, ${Math.round(job.progress * 100)} % of ${job.events.toLocaleString()} events`);
    }
    bar.hidden = true;
    if (job.state === "failed") { out.replaceChildren(h("p", { class: "error", text: job.error })); return; }
    say("Backtest done.", "ok");
    out.replaceChildren(...renderBacktest(job));
  }
  show(h("h1", { text: "Backtest" }),
    h("p", { class: "hint", text: "Your edit, replayed on the recorded traffic of these days, against the live configuration." }),
    h("div", { class: "row" }, h("div", {}, h("label", { for: "backtest-from", text: "From (UTC day)" }), from),
      h("div", {}, h("label", { for: "backtest-to", text: "To (UTC day)" }), to),
      h("div", {}, h("button", { class: "primary", id: "backtest-run", type: "button", onclick: start, text: "Run the backtest" }))),
    h("p", {}, bar), out);
}

function renderBacktest(job) {
  const r = job.result;
  const table = h("table", { id: "backtest-table" },
    h("thead", {}, h("tr", {}, ["trigger", "sends before", "sends after", "gained", "lost", "moved", "reworded"].map((c, i) => h("th", { class: i ? "num" : null, text: c })))),
    h("tbody", {}, r.triggers.map((t) => h("tr", { "data-trigger": t.trigger }, h("td", { text: t.trigger }),
      [t.sends_before, t.sends_after, "+" + t.gained, "-" + t.lost, t.moved, t.reworded].map((v) => h("td", { class: "num", text: v }))))));
  const moves = r.triggers.filter((t) => t.moves.length).map((t) => h("div", {}, h("h2", { text: t.trigger }),
    h("ul", {}, t.moves.map((m) => h("li", { text: `${m.from} → ${m.to}: ${m.count} (e.g. ${m.examples.join(", ")})` })))));
  const chart = h("div", { class: "chart", id: "backtest-chart", role: "img", "aria-label": "Sends per day, live and with the edit" });
  chart.innerHTML = r.chart; // drawn by the server (matplotlib) from numbers and dates only
  return [h("p", { text: `${job.events.toLocaleString()} events: live ${r.baseline_version} (${r.decisions[0]} decisions) → edit ${r.new_version} (${r.decisions[1]} decisions)` }),
    table, h("h2", { text: "Sends per day" }), chart, ...moves];
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

function warningList(warnings) {
  // each warning must be ticked before publishing; the ticks are sent and kept with the version
  if (!warnings.length) return h("div", { id: "publish-warnings" });
  return h("fieldset", { id: "publish-warnings", class: "warnings" },
    h("legend", { text: "This edit can hurt customers: acknowledge each warning to publish it" }),
    warnings.map((w) => h("label", { class: "ack" },
      h("input", { type: "checkbox", class: "ack-box", "data-name": w.name }),
      " ", h("strong", { text: w.trigger }), ": ", w.message)));
}

function publishPage() {
  const names = Object.keys(state.edit).sort();
  const note = h("textarea", { id: "publish-note", rows: 3, cols: 60, required: true });
  const out = h("div", { id: "publish-result", "aria-live": "polite" });
  let warnings = h("div", { id: "publish-warnings" });
  const button = h("button", { class: "primary", id: "publish-run", type: "button", disabled: !names.length || !canPublish(), text: "Publish" });
  const acknowledged = () => [...warnings.querySelectorAll(".ack-box")].filter((b) => b.checked).map((b) => b.dataset.name);
  const showWarnings = (found) => { const next = warningList(found || []); warnings.replaceWith(next); warnings = next; };
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const done = await api("publish", { json: { files: state.edit, note: note.value, acknowledged: acknowledged() } });
      out.replaceChildren(h("p", { text: `Published as version ${done.number} (configuration ${done.config_version}); waiting for it to go live…` }));
      state.edit = {}; saveEdit(); state.files = null;
      await waitLive(done.config_version, out);
    } catch (error) {
      button.disabled = false;
      if (error.status === 409 && error.body && error.body.warnings) showWarnings(error.body.warnings);
      out.replaceChildren(h("p", { class: "error", text: error.message }),
        h("ul", {}, ((error.body && error.body.problems) || []).map((p) => h("li", { text: `${p.file}:${p.line}: ${p.message}` }))));
    }
  });
  show(h("h1", { text: "Publish" }),
    names.length ? h("p", {}, "Files changed: ", names.join(", ")) : h("p", { text: "Nothing to publish: edit a trigger or a message first." }),
    canPublish() ? "" : h("p", { class: "warning", text: "Your key has no admin scope: you can check, preview and backtest, not publish." }),
    warnings, h("label", { for: "publish-note", text: "Note: what changes and why" }), note, h("p", {}, button), out);
  if (names.length) api("check", { json: { files: state.edit } }).then((found) => showWarnings(found.warnings)).catch(() => {});
}

async function versionsPage(notice) {
  const found = await api("versions");
  const out = h("div", { id: "rollback-result", "aria-live": "polite" }, notice instanceof Node ? notice : "");
  const rows = found.versions.map((v) => {
    const live = v.config_version === found.live_version;
    const undo = h("button", { type: "button", "data-version": v.number, disabled: live || !canPublish(), text: "Roll back to this version" });
    const rollBack = async (acknowledged) => {
      undo.disabled = true;
      try {
        const done = await api(`versions/${v.number}/rollback`, { json: { acknowledged } });
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
      h("td", { text: v.number }), h("td", { text: when(v.at) }), h("td", { text: v.author }), h("td", { text: v.note }),
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
  const input = h("input", { id: "customer-id", type: "text", value: id || "", size: 30 });
  const out = h("div", { id: "timeline", "aria-live": "polite" });
  const form = h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); location.hash = "#/customer/" + encodeURIComponent(input.value.trim()); } },
    h("div", {}, h("label", { for: "customer-id", text: "Customer id" }), input), h("div", {}, h("button", { class: "primary", type: "submit", text: "Show" })));
  show(h("h1", { text: "Customer timeline" }), form, out);
  if (!id) return;
  api("customers/" + encodeURIComponent(id)).then((found) => {
    if (!found.items.length) { out.replaceChildren(h("p", { text: "Nothing recorded for " + id + "." })); return; }
    out.replaceChildren(h("table", {}, h("thead", {}, h("tr", {}, ["time", "what", "", "details"].map((c) => h("th", { text: c })))),
      h("tbody", {}, found.items.map((item) => h("tr", { class: item.what },
        h("td", { text: item.at }), h("td", { text: item.what }), h("td", { text: item.type || "" }), h("td", {}, describeItem(item)))))));
  }).catch((error) => out.replaceChildren(h("p", { class: "error", text: error.message })));
}

function describeItem(item) {
  const d = item.detail;
  if (item.what === "event") {
    const skip = new Set(["event_id", "type", "customer_id", "occurred_at"]);
    return Object.entries(d).filter(([k]) => !skip.has(k)).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
  }
  const parts = [`${d.outcome}${d.reason ? " (" + d.reason + ")" : ""}`];
  if (d.message && d.message.body) parts.push(`“${d.message.body}”`);
  if (item.send) parts.push(`send ${item.send.status}`);
  for (const s of item.statuses || []) parts.push(`${s.status} at ${when(s.at)}`);
  return parts.join(" · ");
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
