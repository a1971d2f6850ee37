// The chat page of `hyperlm serve` (served from src/serve/page by src/serve/server.c). Plain
// script, no build step. The page's Content-Security-Policy only runs scripts from this origin,
// so none is inline. The model's output is untrusted text: it only ever reaches the page through
// textContent and Text nodes, never as markup.
//
// A reply streams from POST /v1/chat/completions as server-sent events: `data: {chunk}` lines,
// an `{"error": ...}` event if the generation fails, a last chunk with the usage (asked for with
// stream_options.include_usage), then `data: [DONE]`. Stop aborts the fetch; the server sees the
// connection close and cancels the generation.
'use strict';

const $ = (id) => document.getElementById(id);
const ui = {
  messages: $('messages'),
  empty: $('empty'),
  input: $('input'),
  send: $('send'),
  stop: $('stop'),
  stats: $('stats'),
  model: $('model'),
  composer: $('composer'),
  clear: $('clear'),
  settings: $('settings'),
  settingsToggle: $('settings-toggle'),
  temperature: $('temperature'),
  maxTokens: $('max-tokens'),
  system: $('system'),
  apiKey: $('api-key'),
};

// The conversation as sent to the server, without the system prompt (added at each turn from the
// settings, so that changing it applies to the next turn).
const history = [];
let modelId = null;
let controller = null; // the AbortController of the reply being streamed, null when idle

// ---- settings, kept in localStorage ----

const STORE = 'hyperlm.chat.';
const SAVED = { temperature: ui.temperature, maxTokens: ui.maxTokens, system: ui.system, apiKey: ui.apiKey };

function storageGet(key) {
  try { return localStorage.getItem(STORE + key); } catch (e) { return null; }
}

function storageSet(key, value) {
  try {
    if (value === '') localStorage.removeItem(STORE + key);
    else localStorage.setItem(STORE + key, value);
  } catch (e) { /* storage disabled: the setting lasts as long as the page */ }
}

for (const [key, el] of Object.entries(SAVED)) {
  const v = storageGet(key);
  if (v !== null) el.value = v;
  el.addEventListener('input', () => storageSet(key, el.value));
}
ui.apiKey.addEventListener('change', () => loadModel());

ui.settingsToggle.addEventListener('click', () => {
  ui.settings.hidden = !ui.settings.hidden;
  ui.settingsToggle.setAttribute('aria-expanded', String(!ui.settings.hidden));
});

function headers() {
  const h = { 'Content-Type': 'application/json' };
  const key = ui.apiKey.value.trim();
  if (key) h.Authorization = 'Bearer ' + key;
  return h;
}

// The message of an error answer ({"error": {"message": ...}}), or the status line.
async function errorMessage(resp) {
  let msg = `HTTP ${resp.status} ${resp.statusText}`.trim();
  try {
    const body = await resp.json();
    if (body && body.error && body.error.message) msg = body.error.message;
  } catch (e) { /* not JSON: the status says it */ }
  if (resp.status === 401) msg += ' (set the API key in Settings)';
  return msg;
}

// ---- the model ----

async function loadModel() {
  try {
    const resp = await fetch('/v1/models', { headers: headers() });
    if (!resp.ok) throw new Error(await errorMessage(resp));
    const body = await resp.json();
    const m = body.data && body.data[0];
    if (!m) throw new Error('the server lists no model');
    modelId = m.id;
    ui.model.classList.remove('bad');
    ui.model.textContent = m.max_model_len ? `${m.id} · context ${m.max_model_len}` : m.id;
    ui.model.title = 'the model this server serves (GET /v1/models)';
    return true;
  } catch (e) {
    modelId = null;
    ui.model.textContent = e.message;
    ui.model.title = e.message;
    ui.model.classList.add('bad');
    if (/API key/.test(e.message)) {
      ui.settings.hidden = false;
      ui.settingsToggle.setAttribute('aria-expanded', 'true');
    }
    return false;
  }
}

// ---- the conversation view ----

function nearBottom() {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
}

function scrollDown() { ui.messages.scrollTop = ui.messages.scrollHeight; }

// A message bubble; its text is a Text node that the stream appends to.
function addMessage(role, text) {
  ui.empty.hidden = true;
  const el = document.createElement('div');
  el.className = 'msg ' + role;
  const content = document.createElement('div');
  content.className = 'content';
  const textNode = document.createTextNode(text);
  content.append(textNode);
  el.append(content);
  ui.messages.append(el);
  scrollDown();
  return { el, content, textNode };
}

function addMeta(msg, text) {
  const meta = document.createElement('div');
  meta.className = 'meta';
  meta.textContent = text;
  msg.el.append(meta);
}

function setBusy(busy) {
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  ui.stop.disabled = !busy;
  ui.clear.disabled = busy;
}

function autosize() {
  ui.input.style.height = 'auto';
  ui.input.style.height = ui.input.scrollHeight + 'px';
}

// ---- a turn ----

// The request body from the settings; a setting left empty is not sent (the server's default).
function requestBody() {
  const messages = [];
  const system = ui.system.value.trim();
  if (system) messages.push({ role: 'system', content: system });
  messages.push(...history);
  const body = { model: modelId, messages, stream: true, stream_options: { include_usage: true } };
  const t = ui.temperature.value.trim();
  if (t !== '') body.temperature = Number(t);
  const n = ui.maxTokens.value.trim();
  if (n !== '') body.max_tokens = Number(n);
  return body;
}

// Reads the event stream of resp, calling onEvent with each JSON event; returns true when
// [DONE] came, false when the stream ended without it.
async function readEvents(resp, onEvent) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    buf += decoder.decode(value, { stream: true });
    const lines = buf.split(/\r\n|\r|\n/);
    buf = lines.pop(); // a line not yet ended
    for (const line of lines) {
      if (!line.startsWith('data:')) continue; // blank lines, ": keep-alive" comments
      const data = line.slice(line.startsWith('data: ') ? 6 : 5);
      if (data === '[DONE]') {
        reader.cancel().catch(() => {});
        return true;
      }
      let event;
      try {
        event = JSON.parse(data);
      } catch (e) {
        throw new Error('the server sent an event that is not JSON: ' + data.slice(0, 80));
      }
      onEvent(event);
    }
  }
}

function statsText(r) {
  const parts = [];
  if (r.usage) {
    const n = r.usage.completion_tokens;
    parts.push(`${n} token${n === 1 ? '' : 's'}`);
    // the decoding speed: tokens after the first over the time since the first arrived; when
    // they all came at once (a fast model, one network read) the time since the request instead
    const since = r.tFirst !== null && r.tEnd - r.tFirst >= 1 && n > 1;
    const seconds = since ? (r.tEnd - r.tFirst) / 1000 : (r.tEnd - r.t0) / 1000;
    const count = since ? n - 1 : n;
    if (seconds > 0) parts.push(`${(count / seconds).toFixed(1)} tokens/s`);
    parts.push(`prompt ${r.usage.prompt_tokens}`);
  }
  if (r.tFirst !== null) parts.push(`first token ${Math.round(r.tFirst - r.t0)} ms`);
  if (r.finish === 'length') parts.push('cut at max tokens');
  if (r.stopped) parts.push(`stopped after ${((r.tEnd - r.t0) / 1000).toFixed(1)} s`);
  return parts.join(' · ');
}

async function send() {
  const text = ui.input.value;
  if (!text.trim() || controller) return;
  controller = new AbortController();
  setBusy(true);
  ui.stats.textContent = '';
  if (!modelId && !(await loadModel())) {
    controller = null;
    setBusy(false);
    ui.stats.textContent = 'No model: ' + ui.model.textContent;
    return;
  }
  history.push({ role: 'user', content: text });
  const userMsg = addMessage('user', text);
  ui.input.value = '';
  autosize();
  const reply = addMessage('assistant', '');
  reply.el.classList.add('streaming');

  const r = { t0: performance.now(), tFirst: null, tEnd: 0, usage: null, finish: null, stopped: false, error: null };
  let done = false;
  try {
    const resp = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify(requestBody()),
      signal: controller.signal,
    });
    if (!resp.ok) {
      r.error = await errorMessage(resp);
    } else {
      done = await readEvents(resp, (ev) => {
        if (ev.error) {
          r.error = ev.error.message || 'the generation failed';
          return;
        }
        const choice = ev.choices && ev.choices[0];
        if (choice) {
          const piece = choice.delta && choice.delta.content;
          if (piece) {
            if (r.tFirst === null) r.tFirst = performance.now();
            const follow = nearBottom();
            reply.textNode.appendData(piece);
            if (follow) scrollDown();
          }
          if (choice.finish_reason) r.finish = choice.finish_reason;
        }
        if (ev.usage) r.usage = ev.usage;
      });
      if (!done && !r.error) r.error = 'the connection closed before the reply ended';
    }
  } catch (e) {
    if (e.name === 'AbortError') r.stopped = true;
    else r.error = e.message || String(e);
  }
  r.tEnd = performance.now();
  reply.el.classList.remove('streaming');
  const got = reply.textNode.data;

  if (!got && (r.error || r.stopped)) {
    // nothing came back: the turn did not happen, so it leaves the conversation (and the text
    // goes back into the box to retry)
    history.pop();
    reply.el.remove();
    userMsg.el.classList.add('failed');
    if (r.error) addMessage('error', r.error);
    if (!ui.input.value) ui.input.value = text;
    autosize();
    ui.stats.textContent = r.error ? 'Error: ' + r.error : 'Stopped before the first token';
  } else {
    history.push({ role: 'assistant', content: got });
    if (r.error) addMessage('error', r.error);
    const stats = statsText(r);
    if (stats) addMeta(reply, stats);
    ui.stats.textContent = r.error ? 'Error: ' + r.error : stats;
  }
  controller = null;
  setBusy(false);
  ui.input.focus();
}

// ---- events ----

ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});

ui.input.addEventListener('keydown', (e) => {
  // Enter sends, Shift+Enter is a new line; Enter that ends an IME composition is neither
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    send();
  }
});
ui.input.addEventListener('input', autosize);

ui.stop.addEventListener('click', () => {
  if (controller) controller.abort();
});

ui.clear.addEventListener('click', () => {
  if (controller) return;
  history.length = 0;
  for (const el of [...ui.messages.querySelectorAll('.msg')]) el.remove();
  ui.empty.hidden = false;
  ui.stats.textContent = '';
  ui.input.focus();
});

loadModel();
ui.input.focus();
