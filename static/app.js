// letterbox web inbox: wiring of the list, the message view, the search, the
// live connection, keyboard shortcuts and the theme.
//
// State lives in the URL fragment (#q=<search>&m=<message ID>), so reload,
// back/forward and links to a message all work.

import * as api from './api.js';
import { $, h, icon, clear, setIcon, toast, isTyping, copyText } from './dom.js';
import * as fmt from './format.js';
import { Live } from './live.js';
import { MessageList, tagClass } from './list.js';
import { Viewer } from './viewer.js';
import { RelayUI } from './relay.js';
import { SessionsUI } from './sessions.js';

performance.mark('letterbox:script-start');

const layout = $('layout');
const qInput = $('q');
const narrow = matchMedia('(max-width: 820px)');
let config = {};
let route = { q: null, m: null };
let firstRender = true;

// --- routing -------------------------------------------------------------------

function parseHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  return { q: p.get('q') || '', m: p.get('m') || '' };
}

function urlFor({ q, m }) {
  const p = new URLSearchParams();
  if (q) p.set('q', q);
  if (m) p.set('m', m);
  const s = p.toString();
  return s ? '#' + s : location.pathname + location.search;
}

function navigate(next, { replace = false } = {}) {
  const target = { q: route.q ?? '', m: route.m ?? '', ...next };
  const url = urlFor(target);
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  apply();
}

function apply() {
  const r = parseHash();
  if (r.q !== route.q) {
    route.q = r.q;
    if (document.activeElement !== qInput) qInput.value = r.q;
    list.setQuery(r.q);
    updateChips();
    relay.updateMbox();
  }
  if (r.m !== route.m) {
    route.m = r.m;
    list.setOpen(r.m);
    layout.classList.toggle('has-message', !!r.m);
    if (r.m) {
      list.select(r.m);
      viewer.open(r.m).then((msg) => {
        // Opening marks the message read on the server; reflect it at once.
        if (msg) list.onUpdate({ ID: msg.ID, Read: true });
        relay.show(msg);
      });
    } else {
      viewer.close();
      relay.show(null);
    }
  }
}

addEventListener('popstate', apply);
addEventListener('hashchange', apply);

// --- list --------------------------------------------------------------------

const list = new MessageList({
  root: $('list'),
  spacer: $('list-spacer'),
  rowsEl: $('list-rows'),
  hrefFor: (id) => urlFor({ q: route.q, m: id }),
  onChange: () => listChanged(),
  onError: (err) => toast('Could not load messages: ' + err.message, 'error'),
});

$('list-rows').addEventListener('click', (e) => {
  const a = e.target.closest('a.row-link');
  if (!a || !a.dataset.id || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  // Replace the history entry when switching between messages; push when leaving the list.
  navigate({ m: a.dataset.id }, { replace: !!route.m && !narrow.matches });
});

function listChanged() {
  const n = list.total;
  const loaded = list.loaded;
  $('count').textContent = !loaded ? 'Loading…'
    : route.q ? `${n.toLocaleString()} ${n === 1 ? 'match' : 'matches'}${list.unread ? ` · ${list.unread.toLocaleString()} unread` : ''}`
      : `${n.toLocaleString()} ${n === 1 ? 'message' : 'messages'}${list.unread ? ` · ${list.unread.toLocaleString()} unread` : ''}`;
  $('delete-all-text').textContent = route.q ? 'Delete matches' : 'Delete all';
  $('delete-all').disabled = n === 0;
  $('delete-all').hidden = !!config.HideDeleteAllButton;
  $('mark-all-read').disabled = list.unread === 0;
  const unread = list.storeUnread;
  const name = config.Label ? `${config.Label} · letterbox` : 'letterbox';
  document.title = unread > 0 ? `(${unread > 9999 ? '9999+' : unread}) ${name}` : name;
  updateTagChips();
  updateEmpty();
  if (firstRender && loaded) {
    firstRender = false;
    requestAnimationFrame(() => performance.mark('letterbox:list-rendered'));
  }
}

// --- filter chips ------------------------------------------------------------

const baseChips = [
  { term: 'is:unread', label: 'Unread' },
  { term: 'has:attachment', label: 'Attachments', icon: 'clip' },
];

function tokens(q) {
  return q.match(/[-!]?[^\s"]*"[^"]*"?|\S+/g) || [];
}

function hasTerm(q, term) {
  const t = term.toLowerCase();
  return tokens(q).some((x) => x.toLowerCase() === t);
}

function toggleTerm(term) {
  const q = route.q || '';
  const next = hasTerm(q, term)
    ? tokens(q).filter((x) => x.toLowerCase() !== term.toLowerCase()).join(' ')
    : (q ? q + ' ' : '') + term;
  navigate({ q: next.trim() });
}

function chip(term, label, iconName, cls = '') {
  const on = hasTerm(route.q || '', term);
  return h('button', {
    type: 'button', class: ('chip ' + cls).trim(), 'aria-pressed': String(on), dataset: { term },
    title: on ? `Remove ${term} from the search` : `Add ${term} to the search`,
    onclick: () => toggleTerm(term),
  }, iconName ? icon(iconName) : null, label);
}

let chipTags = '';
function updateChips() {
  chipTags = null;
  updateTagChips();
}

function updateTagChips() {
  const tags = list.tags.slice(0, 20);
  const sig = (route.q || '') + '\u0000' + tags.join('\u0000');
  if (sig === chipTags) return;
  chipTags = sig;
  const box = clear($('chips'));
  for (const c of baseChips) box.append(chip(c.term, c.label, c.icon));
  for (const t of tags) box.append(chip('tag:' + fmt.quoteTerm(t), t, null, 'chip-tag ' + tagClass(t)));
  // A filter set by clicking an address is shown as a removable chip.
  for (const tok of tokens(route.q || '')) {
    if (/^(to|from|cc|bcc|reply-to|addressed):/i.test(tok)) {
      box.append(h('button', {
        type: 'button', class: 'chip chip-filter', 'aria-pressed': 'true', title: `Remove ${tok} from the search`,
        onclick: () => toggleTerm(tok),
      }, tok, icon('x')));
    }
  }
}

// --- empty states ----------------------------------------------------------------

function smtpAddress() {
  let host = location.hostname || 'localhost';
  let port = '1025';
  const a = config.SMTPAddr || '';
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(String(a));
  if (m) {
    port = m[2];
    if (m[1] && !['0.0.0.0', '::', '*'].includes(m[1])) host = m[1];
  }
  return { host, port };
}

let emptyKind = '';
function updateEmpty() {
  const empty = $('empty');
  const kind = !list.loaded || list.total > 0 ? '' : list.error ? 'error:' + list.error : route.q ? 'search:' + route.q : 'inbox';
  if (kind === emptyKind) return;
  emptyKind = kind;
  layout.classList.toggle('is-empty', kind === 'inbox');
  empty.hidden = !kind;
  $('list').hidden = !!kind;
  clear(empty);
  if (!kind) return;
  if (list.error) {
    empty.append(
      h('h2', { text: 'This search is not valid' }),
      h('p', {}, h('code', { text: route.q })),
      h('p', { class: 'muted', text: list.error }),
      h('button', { type: 'button', class: 'btn', onclick: (e) => { e.stopPropagation(); toggleHelp(true); } }, 'Search syntax'));
    return;
  }
  if (kind !== 'inbox') {
    empty.append(
      h('h2', { text: 'No messages match' }),
      h('p', {}, h('code', { text: route.q })),
      h('button', { type: 'button', class: 'btn', onclick: () => navigate({ q: '' }) }, 'Clear the search'));
    return;
  }
  const { host, port } = smtpAddress();
  const hostPort = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const swaks = `swaks --server ${hostPort} --from app@example.com --to you@example.com --header "Subject: Hello from swaks" --body "It works."`;
  const curl = `printf 'From: app@example.com\\r\\nTo: you@example.com\\r\\nSubject: Hello from curl\\r\\n\\r\\nIt works.\\r\\n' | curl -sS smtp://${hostPort} --mail-from app@example.com --mail-rcpt you@example.com -T -`;
  const snippet = (label, text) => {
    const code = h('code', { text });
    return h('div', { class: 'snippet' },
      h('div', { class: 'snippet-head' }, h('span', { text: label }),
        h('button', { type: 'button', class: 'btn btn-ghost btn-sm', onclick: () => copyText(text, code) }, icon('copy'), 'Copy')),
      h('pre', {}, code));
  };
  empty.append(
    icon('envelope-open', 'empty-icon'),
    h('h2', { text: 'No mail yet' }),
    h('p', { text: 'Point your application\u2019s SMTP settings at letterbox. Every message is caught here and never delivered.' }),
    h('dl', { class: 'smtp-box' },
      h('div', {}, h('dt', { text: 'SMTP host' }), h('dd', {}, h('code', { text: host }))),
      h('div', {}, h('dt', { text: 'Port' }), h('dd', {}, h('code', { text: port }))),
      h('div', {}, h('dt', { text: 'TLS / login' }), h('dd', { text: 'Not needed' }))),
    h('p', { class: 'muted', text: 'Or send a test message from a terminal:' }),
    snippet('swaks', swaks),
    snippet('curl', curl),
    h('p', { class: 'muted', text: 'New messages appear here instantly, without reloading.' }));
}

// --- viewer ------------------------------------------------------------------------

const viewer = new Viewer({
  onAddress: (field, address) => navigate({ q: `${field}:${fmt.quoteTerm(address)}` }),
  onTag: (t) => navigate({ q: 'tag:' + fmt.quoteTerm(t) }),
  onError: (err) => toast(err.message, 'error'),
});

const relay = new RelayUI({ getQuery: () => route.q });
const sessions = new SessionsUI({ onMessage: (id) => navigate({ m: id }), loadConfig: () => api.webui() });

$('back-btn').addEventListener('click', () => closeMessage());
$('read-btn').addEventListener('click', () => toggleRead(viewer.id));
$('delete-btn').addEventListener('click', () => deleteMessage(viewer.id));
$('newer-btn').addEventListener('click', () => step(-1, true));
$('older-btn').addEventListener('click', () => step(1, true));

function closeMessage() {
  const id = route.m;
  navigate({ m: '' }, { replace: !narrow.matches });
  if (id) requestAnimationFrame(() => list.select(id, { focus: true }));
}

async function toggleRead(id) {
  if (!id) return;
  const s = list.get(id);
  const read = viewer.id === id && viewer.msg ? !viewer.msg.Read : !(s && s.Read);
  try {
    await api.setRead([id], read);
    list.onUpdate({ ID: id, Read: read });
    if (viewer.id === id) viewer.setRead(read);
    toast(read ? 'Marked as read' : 'Marked as unread');
  } catch (err) {
    toast('Could not change the message: ' + err.message, 'error');
  }
}

async function deleteMessage(id) {
  if (!id) return;
  const next = (await list.neighbour(id, 1)) || (await list.neighbour(id, -1));
  deleting.add(id);
  try {
    await api.remove([id]);
  } catch (err) {
    toast('Could not delete: ' + err.message, 'error');
    return;
  } finally {
    setTimeout(() => deleting.delete(id), 5000);
  }
  list.removeLocal(id);
  toast('Message deleted');
  if (route.m === id) {
    if (next && !narrow.matches) navigate({ m: next }, { replace: true });
    else closeMessage();
  }
  if (next) list.select(next, { focus: !route.m });
}

// IDs this page is deleting: their delete events must not close the view first.
const deleting = new Set();

/** step moves the cursor; with open (or a message open) it opens the neighbour. */
async function step(delta, open) {
  const from = list.selectedId || route.m;
  const id = await list.neighbour(from, delta);
  if (!id) return;
  if (open || route.m) navigate({ m: id }, { replace: true });
  else list.select(id, { focus: true });
}

// --- bulk actions --------------------------------------------------------------------

async function confirmDialog(title, text, ok) {
  const d = $('confirm-dialog');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = ok;
  d.returnValue = '';
  d.showModal();
  return new Promise((resolve) => {
    const onClose = () => {
      // The close event is dispatched later than the close: one from the previous use of the
      // dialog can arrive after this showModal. It is not this dialog's answer.
      if (d.open) return;
      d.removeEventListener('close', onClose);
      resolve(d.returnValue === 'ok');
    };
    d.addEventListener('close', onClose);
  });
}

$('delete-all').addEventListener('click', async () => {
  const q = route.q;
  const n = list.total;
  const ok = await confirmDialog(
    q ? 'Delete matching messages?' : 'Delete all messages?',
    q ? `This deletes the ${n.toLocaleString()} ${n === 1 ? 'message' : 'messages'} matching \u201c${q}\u201d. This cannot be undone.`
      : `This deletes all ${n.toLocaleString()} ${n === 1 ? 'message' : 'messages'}. This cannot be undone.`,
    q ? 'Delete matches' : 'Delete all');
  if (!ok) return;
  try {
    if (q) {
      await api.removeMatching(q);
      list.reload();
    } else {
      await api.removeAll();
      list.onTruncate();
    }
    if (route.m) navigate({ m: '' }, { replace: true });
    toast(q ? 'Matching messages deleted' : 'All messages deleted');
  } catch (err) {
    toast('Could not delete: ' + err.message, 'error');
  }
});

$('mark-all-read').addEventListener('click', async () => {
  try {
    await api.setRead([], true, route.q);
    list.reload();
    toast('Marked as read');
  } catch (err) {
    toast('Could not mark as read: ' + err.message, 'error');
  }
});

// --- search ------------------------------------------------------------------------

let typingTimer = 0;
$('search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  clearTimeout(typingTimer);
  const q = qInput.value.trim();
  if (q !== route.q) navigate({ q });
});
qInput.addEventListener('input', () => {
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => {
    const q = qInput.value.trim();
    if (q !== route.q) navigate({ q }, { replace: true });
  }, 350);
});

const helpRows = [
  ['from:alice@example.com', 'Sender address or name'],
  ['to:bob', 'Recipient (also cc: bcc: reply-to: addressed:)'],
  ['subject:"reset password"', 'Words in the subject'],
  ['is:unread', 'Unread messages (is:read, is:tagged)'],
  ['has:attachment', 'With attachments (has:inline)'],
  ['tag:signup', 'Tagged messages'],
  ['after:2024-01-31', 'Received after a date (before:)'],
  ['larger:100k', 'Bigger than a size (smaller:)'],
  ['message-id:abc@host', 'By Message-ID'],
  ['-from:noreply', 'Exclude matches'],
];
{
  const tbody = $('help-rows');
  for (const [ex, what] of helpRows) {
    tbody.append(h('tr', {},
      h('td', {}, h('button', {
        type: 'button', class: 'example', onclick: () => {
          qInput.value = ex;
          toggleHelp(false);
          navigate({ q: ex });
        },
      }, h('code', { text: ex }))),
      h('td', { text: what })));
  }
}

function toggleHelp(show) {
  const panel = $('search-help');
  const open = show ?? panel.hidden;
  panel.hidden = !open;
  $('help-btn').setAttribute('aria-expanded', String(open));
}
$('help-btn').addEventListener('click', () => toggleHelp());
$('help-close').addEventListener('click', () => { toggleHelp(false); $('help-btn').focus(); });
document.addEventListener('click', (e) => {
  if (!$('search-help').hidden && !e.target.closest('#search-help, #help-btn')) toggleHelp(false);
});

// --- theme -------------------------------------------------------------------------

const THEME_KEY = 'letterbox.theme';
const themes = { auto: ['auto', 'Theme: follow system'], light: ['sun', 'Theme: light'], dark: ['moon', 'Theme: dark'] };

function applyTheme(t) {
  if (!themes[t]) t = 'auto';
  if (t === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  setIcon($('theme-btn'), themes[t][0]);
  $('theme-text').textContent = themes[t][1];
  $('theme-btn').title = themes[t][1] + ' (click to change)';
  return t;
}
let theme = applyTheme(safeGet(THEME_KEY));
$('theme-btn').addEventListener('click', () => {
  theme = applyTheme({ auto: 'light', light: 'dark', dark: 'auto' }[theme]);
  try { localStorage.setItem(THEME_KEY, theme); } catch { /* private mode */ }
});

function safeGet(k) {
  try { return localStorage.getItem(k); } catch { return null; }
}

// --- keyboard --------------------------------------------------------------------------

$('keys-btn').addEventListener('click', () => $('keys-dialog').showModal());

document.addEventListener('keydown', (e) => {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  if (document.querySelector('dialog[open]')) return;
  if (isTyping(e.target)) {
    if (e.key === 'Escape' && e.target === qInput) {
      qInput.blur();
      list.focusSelected();
    }
    return;
  }
  const inList = $('list').contains(e.target);
  switch (e.key) {
    case 'j':
      step(1, false);
      break;
    case 'k':
      step(-1, false);
      break;
    case 'ArrowDown':
    case 'ArrowUp':
      if (!inList) return;
      step(e.key === 'ArrowDown' ? 1 : -1, false);
      break;
    case 'Enter':
      if (e.target !== document.body && !inList) return;
      if (inList && e.target.matches('a.row-link')) {
        e.preventDefault();
        navigate({ m: e.target.dataset.id }, { replace: !!route.m && !narrow.matches });
        break;
      }
      if (list.selectedId) navigate({ m: list.selectedId });
      break;
    case 'Delete':
      deleteMessage(inList || !route.m ? list.selectedId || route.m : route.m);
      break;
    case 'u':
      toggleRead(route.m || list.selectedId);
      break;
    case '/':
      qInput.focus();
      qInput.select();
      break;
    case '?':
      $('keys-dialog').showModal();
      break;
    case 'Escape':
      if (!$('search-help').hidden) toggleHelp(false);
      else if (route.m) closeMessage();
      else return;
      break;
    default:
      return;
  }
  e.preventDefault();
});

// --- live connection -------------------------------------------------------------------

const conn = $('conn');
const live = new Live({
  onEvent: (ev) => {
    const d = ev.Data || {};
    switch (ev.Type) {
      case 'new':
        list.onNew(d);
        break;
      case 'update':
        list.onUpdate(d);
        if (viewer.id === d.ID && typeof d.Read === 'boolean') viewer.setRead(d.Read);
        break;
      case 'delete':
        list.onDelete(d);
        if (route.m === d.ID && !deleting.has(d.ID)) {
          toast('This message was deleted');
          closeMessage();
        }
        break;
      case 'truncate':
        list.onTruncate();
        if (route.m) navigate({ m: '' }, { replace: true });
        break;
      case 'prune':
        list.scheduleReload();
        break;
      case 'stats':
        list.onStats(d);
        break;
      case 'relay':
        relay.event(d);
        break;
      case 'session':
        sessions.event(d);
        break;
      default:
        break;
    }
  },
  onState: (state, delay) => {
    conn.dataset.state = state;
    conn.querySelector('.conn-text').textContent = state === 'open' ? 'Live'
      : state === 'connecting' ? 'Connecting…' : `Offline, retrying in ${Math.ceil(delay / 1000)} s`;
    conn.title = state === 'open' ? 'New messages appear as they arrive' : 'The live connection to letterbox is down';
  },
  onReconnect: () => list.reload(),
});

// --- start -----------------------------------------------------------------------------

apply();
live.connect();
api.webui().then((cfg) => {
  config = cfg || {};
  relay.configure(config);
  sessions.configure(config);
  if (config.Label) {
    $('label').textContent = config.Label;
    $('label').hidden = false;
  }
  emptyKind = '';
  listChanged();
});

// Exposed for tests and debugging; not an API.
window.letterbox = { list, viewer, live, navigate, sessions };
