// The chat page: conversations (GET /conversations, GET/DELETE /conversations/{id}), streamed replies
// (POST /chat with "stream": true, stopped with an AbortController), files (PUT /files/{name}).
// Replies are Markdown rendered by markdown-it (raw HTML off) and then sanitised by DOMPurify.
import MarkdownIt from 'markdown-it';
import DOMPurify from 'dompurify';

const KEY_STORAGE = 'bedrock-agent.api-key';  // sessionStorage: gone when the tab closes (docs/api.md)
const md = new MarkdownIt({ html: false, linkify: true });
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

const $ = (id) => document.getElementById(id);
// listSeq numbers the conversation list's requests: a reply's refresh and a delete's can be in flight at
// once, and only the newest one's answer may fill the list (an older one can hold a deleted conversation).
const state = { conversation: null, attachments: [], controller: null, cursor: null, keyWaiters: [], listSeq: 0 };

export function renderMarkdown(text) {
  return DOMPurify.sanitize(md.render(text), { FORBID_ATTR: ['style'], FORBID_TAGS: ['style', 'form'] });
}

// --- API -----------------------------------------------------------------------------------------------

function apiKey() { return sessionStorage.getItem(KEY_STORAGE); }

function askForKey(message) {
  const dialog = $('key-dialog');
  $('key-error').hidden = !message;
  $('key-error').textContent = message || '';
  if (!dialog.open) dialog.showModal();
  $('key-input').focus();
  return new Promise((resolve) => state.keyWaiters.push(resolve));
}

class ApiError extends Error {
  constructor(status, type, message, retryAfter) {
    super(message);
    this.status = status;
    this.type = type;
    this.retryAfter = retryAfter;
  }
}

async function api(path, options = {}) {
  for (;;) {
    const headers = new Headers(options.headers || {});
    const key = apiKey();
    if (key) headers.set('Authorization', 'Bearer ' + key);
    const res = await fetch(path, { ...options, headers });
    if (res.status === 401) {
      const hadKey = !!key;
      sessionStorage.removeItem(KEY_STORAGE);
      await askForKey(hadKey ? 'That key was not accepted.' : '');
      continue;
    }
    if (!res.ok) throw await errorOf(res);
    return res;
  }
}

async function errorOf(res) {
  let type = 'error', message = res.statusText || 'request failed';
  try {
    const body = await res.json();
    if (body && body.error) ({ type, message } = body.error);
  } catch { /* not JSON */ }
  const after = res.headers.get('Retry-After');
  return new ApiError(res.status, type, message, after ? Number(after) : undefined);
}

function describe(err) {
  if (err instanceof ApiError) {
    let text = `${err.message} (${err.status} ${err.type})`;
    if (err.status === 429) {
      text = `Too many requests: ${err.message}.` +
        (err.retryAfter !== undefined ? ` Try again in ${err.retryAfter} s.` : ' Try again later.');
    }
    return text;
  }
  return `Could not reach the server: ${err.message}`;
}

function showError(text) {
  $('error').textContent = text;
  $('error').hidden = !text;
}

// --- conversations -----------------------------------------------------------------------------------------

function when(iso) {
  const d = new Date(iso);
  return isNaN(d) ? '' : d.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
}

async function loadConversations(append = false) {
  const params = new URLSearchParams({ limit: '30' });
  if (append && state.cursor) params.set('cursor', state.cursor);
  const seq = ++state.listSeq;
  try {
    const body = await (await api('/conversations?' + params)).json();
    if (seq !== state.listSeq) return;  // a newer request's answer fills the list
    const list = $('conversations');
    if (!append) list.replaceChildren();
    for (const c of body.conversations) list.append(conversationItem(c));
    state.cursor = body.next_cursor;
    $('more').hidden = !body.next_cursor;
  } catch (err) {
    if (seq === state.listSeq) showError(describe(err));
  }
}

function conversationItem(c) {
  const li = document.createElement('li');
  li.dataset.id = c.id;
  if (c.id === state.conversation) li.classList.add('active');
  const open = document.createElement('button');
  open.type = 'button';
  open.className = 'open';
  const title = document.createElement('span');
  title.className = 'title';
  title.textContent = c.title || c.id;
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.textContent = `${c.turns} ${c.turns === 1 ? 'turn' : 'turns'} · ${when(c.updated_at)}`;
  open.append(title, meta);
  open.addEventListener('click', () => selectConversation(c.id));
  const del = document.createElement('button');
  del.type = 'button';
  del.className = 'delete';
  del.textContent = '×';
  del.setAttribute('aria-label', `Delete conversation: ${c.title || c.id}`);
  del.addEventListener('click', () => deleteConversation(c.id));
  li.append(open, del);
  return li;
}

async function selectConversation(id) {
  stopStreaming();
  showError('');
  try {
    const body = await (await api('/conversations/' + encodeURIComponent(id))).json();
    state.conversation = id;
    $('messages').replaceChildren();
    for (const t of body.turns) {
      addUserMessage(t.input);
      const bubble = addAssistantMessage();
      bubble.body.innerHTML = renderMarkdown(t.response);
      addCopyButtons(bubble.body);
      bubble.info.textContent = t.model_id;
    }
    markActive();
  } catch (err) {
    showError(describe(err));
  }
}

async function deleteConversation(id) {
  try {
    await api('/conversations/' + encodeURIComponent(id), { method: 'DELETE' });
    if (state.conversation === id) newConversation();
    await loadConversations();
  } catch (err) {
    showError(describe(err));
  }
}

function newConversation() {
  stopStreaming();
  state.conversation = null;
  $('messages').replaceChildren();
  showError('');
  markActive();
  $('input').focus();
}

function markActive() {
  for (const li of $('conversations').children) li.classList.toggle('active', li.dataset.id === state.conversation);
}

// --- messages ----------------------------------------------------------------------------------------------

function addUserMessage(text) {
  const div = document.createElement('div');
  div.className = 'message user';
  div.textContent = text;
  $('messages').append(div);
  div.scrollIntoView({ block: 'end' });
  return div;
}

function addAssistantMessage() {
  const div = document.createElement('div');
  div.className = 'message assistant';
  const body = document.createElement('div');
  body.className = 'body';
  const info = document.createElement('div');
  info.className = 'info';
  div.append(body, info);
  $('messages').append(div);
  return { div, body, info };
}

function addCopyButtons(root) {
  for (const pre of root.querySelectorAll('pre')) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'copy secondary';
    button.textContent = 'Copy';
    button.setAttribute('aria-label', 'Copy code');
    button.addEventListener('click', () => navigator.clipboard?.writeText(pre.querySelector('code')?.textContent ?? ''));
    pre.append(button);
  }
}

// Server-Sent Events from a fetch body: calls onEvent(name, data) per event.
async function readEvents(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message', data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trimStart();
      }
      onEvent(name, data ? JSON.parse(data) : {});
    }
  }
}

function setBusy(busy) {
  $('send').disabled = busy;
  $('stop').hidden = !busy;
}

function stopStreaming() {
  if (state.controller) state.controller.abort();
}

async function send() {
  const input = $('input').value;
  if (!input.trim() || state.controller) return;
  showError('');
  const attached = state.attachments.filter((a) => a.id);
  const files = attached.map((a) => a.id);
  const question = addUserMessage(input + (files.length ? `\n\n[attached: ${attached.map((a) => a.name).join(', ')}]` : ''));
  $('input').value = '';
  state.attachments = [];
  renderAttachments();
  const bubble = addAssistantMessage();
  bubble.div.setAttribute('aria-busy', 'true');
  const controller = new AbortController();
  state.controller = controller;
  setBusy(true);
  let text = '', frame = 0;
  const paint = () => {
    frame = 0;
    bubble.body.innerHTML = renderMarkdown(text);
    bubble.div.scrollIntoView({ block: 'end' });
  };
  const body = { input, stream: true };
  if (state.conversation) body.conversation_id = state.conversation;
  if (files.length) body.files = files;
  try {
    const res = await api('/chat', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    await readEvents(res, (name, data) => {
      if (name === 'delta') {
        text += data.text || '';
        if (!frame) frame = requestAnimationFrame(paint);
      } else if (name === 'done') {
        state.conversation = data.conversation_id;
        bubble.info.textContent = `${data.model_id} · ${data.usage?.output_tokens ?? 0} tokens`;
      } else if (name === 'error') {
        const wait = data.retry_after_ms ? ` Try again in ${Math.ceil(data.retry_after_ms / 1000)} s.` : '';
        showError(`The reply failed: ${data.message} (${data.type}).${wait}`);
      }
    });
  } catch (err) {
    if (err.name === 'AbortError') {
      bubble.info.textContent = 'Stopped: this reply was not saved.';
    } else {
      showError(describe(err));
      if (!text) {
        // Refused before any reply (a 429, say): the message goes back into the box, files included.
        bubble.div.remove();
        question.remove();
        if (!$('input').value) $('input').value = input;
        state.attachments = [...attached, ...state.attachments];
        renderAttachments();
      }
    }
  } finally {
    if (frame) cancelAnimationFrame(frame);
    paint();
    addCopyButtons(bubble.body);
    for (const a of attached) if (a.preview && !state.attachments.includes(a)) URL.revokeObjectURL(a.preview);
    bubble.div.removeAttribute('aria-busy');
    state.controller = null;
    setBusy(false);
    loadConversations().then(markActive);
  }
}

// --- files -------------------------------------------------------------------------------------------------

function renderAttachments() {
  const list = $('attachments');
  list.replaceChildren();
  for (const a of state.attachments) {
    const li = document.createElement('li');
    if (a.preview) {
      const img = document.createElement('img');
      img.src = a.preview;
      img.alt = `Preview of ${a.name}`;
      li.append(img);
    }
    const name = document.createElement('span');
    name.textContent = a.id ? a.name : `${a.name} (uploading…)`;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'secondary';
    remove.textContent = '×';
    remove.setAttribute('aria-label', `Remove ${a.name}`);
    remove.addEventListener('click', () => {
      state.attachments = state.attachments.filter((x) => x !== a);
      renderAttachments();
    });
    li.append(name, remove);
    list.append(li);
  }
}

async function attach(fileList) {
  for (const file of fileList) {
    const a = { name: file.name, id: null, preview: file.type.startsWith('image/') ? URL.createObjectURL(file) : null };
    state.attachments.push(a);
    renderAttachments();
    try {
      const res = await api('/files/' + encodeURIComponent(file.name), {
        method: 'PUT',
        headers: { 'Content-Type': file.type || 'application/octet-stream' },
        body: file,
      });
      a.id = (await res.json()).id;
    } catch (err) {
      state.attachments = state.attachments.filter((x) => x !== a);
      showError(`Could not upload ${file.name}: ${describe(err)}`);
    }
    renderAttachments();
  }
}

// --- start -------------------------------------------------------------------------------------------------

async function showModel() {
  try {
    const health = await (await fetch('/health')).json();
    $('model').textContent = `Model: ${health.model?.id ?? 'unknown'}`;
  } catch {
    $('model').textContent = 'Model: unknown (the server did not answer /health)';
  }
}

function start() {
  $('key-form').addEventListener('submit', () => {
    sessionStorage.setItem(KEY_STORAGE, $('key-input').value.trim());
    $('key-input').value = '';
    const waiters = state.keyWaiters.splice(0);
    for (const w of waiters) w();
  });
  $('key-dialog').addEventListener('cancel', (e) => e.preventDefault());
  $('composer').addEventListener('submit', (e) => { e.preventDefault(); send(); });
  $('input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  $('stop').addEventListener('click', stopStreaming);
  $('new-chat').addEventListener('click', newConversation);
  $('more').addEventListener('click', () => loadConversations(true));
  $('file-input').addEventListener('change', (e) => { attach([...e.target.files]); e.target.value = ''; });
  const drop = $('composer');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('dragging'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('dragging'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('dragging');
    attach([...e.dataTransfer.files]);
  });
  showModel();
  loadConversations();
  $('input').focus();
}

start();
