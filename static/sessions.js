// SMTP sessions in the inbox: a message's Session tab (the conversation that delivered it, as a
// terminal shows it), the Sessions view of recent sessions (also the probes, refusals and
// failures that stored nothing), and the banner shown while fault injection is in force.
//
// Everything the client said is shown as text through h().

import { $, h, clear } from './dom.js';
import * as fmt from './format.js';

const enc = encodeURIComponent;

async function getJSON(path) {
  const res = await fetch(path, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`${res.status}: ${(await res.text()).slice(0, 200)}`);
  return res.json();
}

const OUTCOMES = {
  quit: 'ended with QUIT',
  dropped: 'dropped by the client',
  timeout: 'timed out',
  error: 'ended in an error',
  shutdown: 'ended by the server shutting down',
  fault: 'dropped by fault injection',
  refused: 'refused: too many connections',
  closed: 'closed by the server',
  api: 'sent through the HTTP API, not SMTP',
  '': 'in progress',
};

const DIRS = { C: 'C:', S: 'S:', '*': '**' };

/** summaryLine describes a session in a few words. */
function summaryParts(s) {
  const parts = [`client ${s.RemoteAddr}`];
  if (s.Helo) parts.push(`HELO ${s.Helo}`);
  parts.push(s.TLSVersion ? `${s.TLSVersion} (${s.TLSCipher})` : 'no TLS');
  if (s.AuthUsername) parts.push(`AUTH ${s.AuthMechanism} as ${s.AuthUsername}`);
  parts.push(OUTCOMES[s.Outcome] || s.Outcome);
  parts.push(`${s.Messages} message${s.Messages === 1 ? '' : 's'}`);
  return parts;
}

/** renderSession fills el with a session's summary, faults and transcript. */
function renderSession(el, s, { onMessage } = {}) {
  const head = h('p', { class: 'session-head' }, summaryParts(s).join(' · '));
  const faults = (s.Faults || []).length
    ? h('ul', { class: 'session-faults', 'aria-label': 'Faults injected' }, s.Faults.map((f) => h('li', { text: f })))
    : null;
  const err = s.Error ? h('p', { class: 'panel-note error', text: s.Error }) : null;
  const pre = h('pre', { class: 'transcript', tabindex: '0', 'aria-label': 'SMTP transcript' });
  for (const l of s.Transcript || []) {
    pre.append(h('span', { class: 'tl tl-' + (l.Dir === '*' ? 'note' : l.Dir.toLowerCase()) },
      h('span', { class: 'tl-at', text: String(l.At).padStart(6) + ' ms ' }),
      h('span', { class: 'tl-dir', text: (DIRS[l.Dir] || l.Dir) + ' ' }),
      l.Text), '\n');
  }
  const msgs = (s.MessageIDs || []).length && onMessage
    ? h('p', { class: 'session-msgs' }, 'Messages: ', s.MessageIDs.map((id, i) => [i ? ', ' : '',
      h('button', { type: 'button', class: 'link-btn', text: id, onclick: () => onMessage(id) })]))
    : null;
  el.replaceChildren(head, faults || '', err || '', pre, msgs || '');
}

/** fillSession is the message view's Session tab. */
export async function fillSession(panel, m) {
  if (!m.SessionID) {
    panel.replaceChildren(h('p', { class: 'panel-note', text: 'This message did not come over SMTP, or came before sessions were recorded.' }));
    return;
  }
  panel.replaceChildren(h('p', { class: 'panel-note', text: 'Loading the session…' }));
  let s;
  try {
    s = await getJSON(`api/v1/session/${enc(m.SessionID)}`);
  } catch {
    panel.replaceChildren(h('p', { class: 'panel-note', text: 'The session that delivered this message is no longer kept (see --max-sessions).' }));
    return;
  }
  renderSession(panel, s);
}

/** faultText describes what fault injection is in force, or '' when none. */
export function faultText(f) {
  if (!f || !f.Active) return '';
  const what = [];
  if (f.Rules) what.push(`${f.Rules} SMTP rule${f.Rules === 1 ? '' : 's'}`);
  if (f.Chaos) what.push("Mailpit's chaos");
  if (f.Jim) what.push("MailHog's Jim");
  if (f.Recipients) what.push(`a recipient list (${f.Recipients})`);
  return `SMTP fault injection is on (${what.join(', ')}): some mail is refused, delayed or dropped on purpose.`;
}

/** SessionsUI is the Sessions view and the fault injection banner. */
export class SessionsUI {
  constructor({ onMessage, loadConfig }) {
    this.onMessage = onMessage;
    this.loadConfig = loadConfig;
    this.dialog = $('sessions-dialog');
    this.rows = $('sessions-rows');
    this.detail = $('sessions-detail');
    this.filter = $('sessions-filter');
    this.banner = $('faults-banner');
    this.pending = 0;
    $('sessions-btn').addEventListener('click', () => this.open());
    $('sessions-close').addEventListener('click', () => this.dialog.close());
    $('sessions-refresh').addEventListener('click', () => this.load());
    this.filter.addEventListener('change', () => this.load());
    // The banner follows changes made through the API or a reloaded rules file.
    setInterval(() => this.refreshBanner(), 5000);
  }

  /** configure shows or hides the banner for /api/v1/webui's SMTPFaults. */
  configure(config) {
    const text = faultText(config && config.SMTPFaults);
    this.banner.hidden = !text;
    this.banner.textContent = text;
  }

  async refreshBanner() {
    if (document.hidden) return;
    this.configure(await this.loadConfig());
  }

  async open() {
    if (!this.dialog.open) this.dialog.showModal();
    await this.load();
  }

  async load() {
    const f = this.filter.value;
    const q = new URLSearchParams({ limit: '200' });
    if (f === 'mail') q.set('messages', 'true');
    else if (f === 'nomail') q.set('messages', 'false');
    else if (f) q.set('outcome', f);
    let res;
    try {
      res = await getJSON(`api/v1/sessions?${q}`);
    } catch (err) {
      clear(this.rows).append(h('tr', {}, h('td', { colspan: '6', text: 'Could not load the sessions: ' + err.message })));
      return;
    }
    $('sessions-count').textContent = `${res.total} session${res.total === 1 ? '' : 's'}`;
    clear(this.rows);
    for (const s of res.sessions) this.rows.append(this.row(s));
    if (!res.sessions.length) this.rows.append(h('tr', {}, h('td', { colspan: '6', class: 'muted', text: 'No sessions.' })));
  }

  row(s) {
    const tr = h('tr', { class: 'session-row', tabindex: '0', dataset: { id: s.ID } },
      h('td', {}, h('time', { datetime: s.Started, text: fmt.full(new Date(s.Started)) })),
      h('td', { text: s.RemoteAddr }),
      h('td', { text: s.Helo || '—' }),
      h('td', { text: s.Messages ? String(s.Messages) : '—' }),
      h('td', { class: 'outcome outcome-' + (s.Outcome || 'open'), text: s.Outcome || 'open' }),
      h('td', { text: (s.Faults || []).length ? `${s.Faults.length} fault${s.Faults.length === 1 ? '' : 's'}` : '' }));
    const show = () => this.show(s.ID, tr);
    tr.addEventListener('click', show);
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') show(); });
    return tr;
  }

  async show(id, tr) {
    for (const r of this.rows.children) r.classList.toggle('selected', r === tr);
    try {
      const s = await getJSON(`api/v1/session/${enc(id)}`);
      renderSession(this.detail, s, { onMessage: (mid) => { this.dialog.close(); this.onMessage(mid); } });
    } catch (err) {
      this.detail.replaceChildren(h('p', { class: 'panel-note error', text: 'Could not load the session: ' + err.message }));
    }
  }

  /** event takes a websocket "session" event: the open view reloads, the banner is checked. */
  event() {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = 0;
      if (this.dialog.open) this.load();
      this.refreshBanner();
    }, 250);
  }
}
