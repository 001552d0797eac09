// Mail out of the inbox: the Release button (POST /api/v1/message/{ID}/release through the
// configured relay, recipients prefilled from the message and editable), the message's relay
// status (GET /api/v1/message/{ID}/relay, kept live by the websocket's relay events), and
// "Download mbox" of the current search (GET /api/v1/mbox?query=).
//
// Everything from the message and the relay is shown as text through h().

import { $, h, clear, toast } from './dom.js';

const enc = encodeURIComponent;

/** recipientsOf lists a message's To, Cc and Bcc addresses, each once. */
export function recipientsOf(m) {
  const seen = new Set();
  const out = [];
  for (const list of [m.To, m.Cc, m.Bcc]) {
    for (const a of list || []) {
      const k = (a.Address || '').toLowerCase();
      if (k && !seen.has(k)) { seen.add(k); out.push(a.Address); }
    }
  }
  return out;
}

/** splitAddresses reads a list of addresses ("Name <a@b>" or bare) separated by commas, semicolons or lines. */
export function splitAddresses(s) {
  return s.split(/[,;\n]+/).map((x) => x.trim()).filter(Boolean);
}

const STATE_TEXT = {
  queued: 'Relay: queued',
  sending: 'Relay: sending',
  sent: 'Relayed',
  failed: 'Relay failed',
};

/** RelayUI is the relay's part of the inbox. */
export class RelayUI {
  constructor({ getQuery }) {
    this.getQuery = getQuery;
    this.config = {};
    this.msg = null;
    this.button = $('release-btn');
    this.status = $('relay-status');
    this.dialog = $('release-dialog');
    this.button.addEventListener('click', () => this.openDialog());
    $('release-form').addEventListener('submit', (e) => { e.preventDefault(); this.release(); });
    $('release-cancel').addEventListener('click', () => this.dialog.close());
    this.updateMbox();
  }

  /** configure applies /api/v1/webui: the Release button shows only with a relay. */
  configure(config) {
    this.config = config || {};
    this.button.hidden = !this.enabled() || !this.msg;
  }

  enabled() { return !!(this.config.MessageRelay && this.config.MessageRelay.Enabled); }

  /** updateMbox points the mbox link at the current search. */
  updateMbox() {
    const q = this.getQuery() || '';
    const a = $('mbox-link');
    a.href = 'api/v1/mbox' + (q ? '?query=' + enc(q) : '');
    a.title = q ? 'Download the matching messages as one mbox file' : 'Download every message as one mbox file';
  }

  /** show is called with each message opened (null when closed). */
  async show(m) {
    this.msg = m;
    this.button.hidden = !this.enabled() || !m;
    clear(this.status).hidden = true;
    if (!m) return;
    try {
      const res = await fetch(`api/v1/message/${enc(m.ID)}/relay`, { headers: { Accept: 'application/json' } });
      if (!res.ok || !this.msg || this.msg.ID !== m.ID) return;
      this.render(await res.json());
    } catch { /* the status is a nicety; the message is shown without it */ }
  }

  /** event handles a websocket relay event {ID, State, Attempts, Reply}. */
  event(d) {
    if (this.msg && d && d.ID === this.msg.ID) this.show(this.msg);
  }

  /** render shows the newest job, replacing what is shown: two fetches that cross (the release's and
   * the websocket event's) must not show it twice. */
  render(st) {
    const jobs = (st && st.Jobs) || [];
    clear(this.status).hidden = true;
    if (!jobs.length) return;
    const last = jobs[jobs.length - 1];
    const parts = [h('span', { class: 'relay-state relay-' + last.State, text: STATE_TEXT[last.State] || last.State })];
    if (last.Recipients && last.Recipients.length) parts.push(h('span', { text: ' to ' + last.Recipients.join(', ') }));
    if (last.Attempts > 1) parts.push(h('span', { class: 'muted', text: ` · ${last.Attempts} attempts` }));
    if (last.State === 'queued' && last.Due) parts.push(h('span', { class: 'muted', text: ' · next try ' + new Date(last.Due).toLocaleTimeString() }));
    if (last.Reply) parts.push(h('span', { class: 'relay-reply', text: ' · ' + last.Reply }));
    this.status.append(...parts);
    this.status.hidden = false;
  }

  openDialog() {
    if (!this.msg) return;
    const r = this.config.MessageRelay || {};
    $('release-to').value = recipientsOf(this.msg).join(', ');
    const notes = [`Through ${r.SMTPServer || 'the configured relay'}.`];
    if (r.AllowedRecipients) notes.push(`Only recipients matching ${r.AllowedRecipients}.`);
    if (r.BlockedRecipients) notes.push(`Never to ${r.BlockedRecipients}.`);
    if (r.OverrideFrom) notes.push(`From is replaced by ${r.OverrideFrom}.`);
    $('release-note').textContent = notes.join(' ');
    clear($('release-result')).hidden = true;
    $('release-send').disabled = false;
    this.dialog.showModal();
    $('release-to').focus();
  }

  async release() {
    const m = this.msg;
    const to = splitAddresses($('release-to').value);
    const out = $('release-result');
    if (!m || !to.length) {
      clear(out).append(h('p', { class: 'error', text: 'Give at least one recipient.' }));
      out.hidden = false;
      return;
    }
    $('release-send').disabled = true;
    let res;
    let text = '';
    try {
      res = await fetch(`api/v1/message/${enc(m.ID)}/release`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ To: to }),
      });
      text = (await res.text()).trim();
    } catch (err) {
      text = String(err.message || err);
    }
    $('release-send').disabled = false;
    if (res && res.ok) {
      this.dialog.close();
      toast(`Released to ${to.join(', ')}: ${res.headers.get('X-Relay-Reply') || 'sent'}`);
      this.show(m);
      return;
    }
    clear(out).append(h('p', { class: 'error', text: text || 'The release failed.' }));
    out.hidden = false;
    this.show(m);
  }
}
