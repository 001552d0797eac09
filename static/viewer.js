// The message view: header, actions and the tabs (HTML, Text, Headers,
// Source, Attachments, MIME structure, Envelope, Session, Deliverability, Problems).
//
// Every mail-supplied string is shown as text. The HTML body is only ever
// loaded into an iframe with an empty sandbox (no scripts, no same-origin, no
// popups, no top navigation) from /view/{ID}.html, which the server sends
// with its own sandbox CSP.

import * as api from './api.js';
import { $, h, icon, clear, setIcon } from './dom.js';
import * as fmt from './format.js';
import { tagClass } from './list.js';
import { fillDeliverability } from './deliverability.js';
import { fillSession } from './sessions.js';

const WIDTHS = [
  { id: 'phone', label: 'Phone', px: 375 },
  { id: 'tablet', label: 'Tablet', px: 768 },
  { id: 'desktop', label: 'Desktop', px: 0 },
];
const WIDTH_KEY = 'letterbox.previewWidth';
const SOURCE_MAX = 2_000_000; // characters of source shown; the .eml has it all
const LINKIFY_MAX = 300_000;
const THUMB_TYPES = /^image\/(png|jpe?g|gif|webp|avif|bmp)$/i;

/**
 * Viewer shows one message. onAddress(field, address) and onTag(tag) ask the
 * app to filter the list; onError(err) reports failures.
 */
export class Viewer {
  constructor({ onAddress, onTag, onError }) {
    this.onAddress = onAddress;
    this.onTag = onTag;
    this.onError = onError;
    this.id = '';
    this.msg = null;
    this.tab = '';
    this.preferred = 'html';
    this.remote = false;
    this.abort = null;
    this.panels = new Map();
    this.el = $('viewer');
    this.body = $('viewer-body');
    this.loading = $('viewer-loading');
    $('tabs').addEventListener('keydown', (e) => this.tabKeys(e));
    // A very long subject is clamped; a click shows all of it.
    $('msg-subject').addEventListener('click', (e) => {
      if (e.currentTarget.classList.contains('long')) e.currentTarget.classList.toggle('expanded');
    });
  }

  /** open loads and shows a message; the server marks it read. */
  async open(id) {
    if (this.abort) this.abort.abort();
    const ctl = new AbortController();
    this.abort = ctl;
    this.id = id;
    performance.clearMarks('letterbox:open-start');
    performance.mark('letterbox:open-start');
    this.el.hidden = false;
    $('placeholder').hidden = true;
    this.el.setAttribute('aria-busy', 'true');
    this.loading.hidden = false;
    let msg;
    try {
      msg = await api.message(id, ctl.signal);
    } catch (err) {
      if (ctl.signal.aborted) return null;
      this.loading.hidden = true;
      this.el.removeAttribute('aria-busy');
      this.showError(err);
      return null;
    }
    if (ctl.signal.aborted) return null;
    this.msg = msg;
    this.remote = false;
    this.render();
    this.loading.hidden = true;
    this.el.removeAttribute('aria-busy');
    performance.clearMarks('letterbox:open-end');
    performance.mark('letterbox:open-end');
    performance.clearMeasures('letterbox:open');
    performance.measure('letterbox:open', 'letterbox:open-start', 'letterbox:open-end');
    return msg;
  }

  /** close hides the view. */
  close() {
    if (this.abort) this.abort.abort();
    this.abort = null;
    this.id = '';
    this.msg = null;
    this.el.hidden = true;
    clear($('panels'));
    clear($('tabs'));
    this.htmlPanel = this.frame = this.frameWrap = this.frameBar = null;
    $('placeholder').hidden = false;
  }

  showError(err) {
    this.msg = null;
    $('msg-subject').textContent = err && err.status === 404 ? 'This message no longer exists' : 'Could not load the message';
    clear($('msg-addrs'));
    clear($('msg-tags'));
    clear($('tabs'));
    clear($('panels')).append(h('p', { class: 'panel-note', text: String(err && err.message || err) }));
    this.htmlPanel = this.frame = this.frameWrap = this.frameBar = null;
    $('parse-notice').hidden = true;
  }

  /** setRead reflects a read-state change made elsewhere. */
  setRead(read) {
    if (!this.msg) return;
    this.msg.Read = read;
    $('read-btn-text').textContent = read ? 'Mark unread' : 'Mark read';
    setIcon($('read-btn'), read ? 'envelope' : 'envelope-open');
  }

  render() {
    const m = this.msg;
    this.panels.clear();
    const subj = $('msg-subject');
    subj.textContent = m.Subject || '(no subject)';
    subj.classList.toggle('none', !m.Subject);
    subj.classList.toggle('long', (m.Subject || '').length > 300);
    subj.classList.remove('expanded');
    this.setRead(true);
    $('eml-link').href = api.paths.raw(m.ID, true);
    $('eml-link').setAttribute('download', (m.ID || 'message') + '.eml');
    this.renderAddrs();
    clear($('msg-tags')).append(...(m.Tags || []).map((t) =>
      h('button', { type: 'button', class: 'tag tag-btn ' + tagClass(t), title: `Show messages tagged ${t}`, onclick: () => this.onTag(t) }, t)));

    const errors = m.ParseErrors || [];
    const notice = $('parse-notice');
    notice.hidden = errors.length === 0;
    if (errors.length) {
      clear(notice).append(icon('warn'),
        h('span', {}, `letterbox found ${errors.length} problem${errors.length > 1 ? 's' : ''} while parsing this message. `),
        h('button', { type: 'button', class: 'link-btn', onclick: () => this.show('problems', true) }, 'Show details'));
    }

    const atts = (m.Attachments || []).length + (m.Inline || []).length;
    const tabs = [
      m.HTML ? ['html', 'HTML'] : null,
      ['text', 'Text'],
      ['headers', 'Headers'],
      ['source', 'Source'],
      ['attachments', 'Attachments', atts],
      ['structure', 'MIME'],
      ['envelope', 'Envelope'],
      m.SessionID ? ['session', 'Session'] : null,
      ['deliverability', 'Deliverability'],
      errors.length ? ['problems', 'Problems', errors.length] : null,
    ].filter(Boolean);
    const tabsEl = clear($('tabs'));
    const panelsEl = $('panels');
    // The HTML panel (and its iframe) stays in the document between messages.
    if (!this.htmlPanel) {
      this.htmlPanel = h('div', { role: 'tabpanel', id: 'panel-html', class: 'panel panel-html', 'aria-labelledby': 'tab-html', tabindex: '0' });
    }
    for (const c of [...panelsEl.children]) if (c !== this.htmlPanel) c.remove();
    if (!this.htmlPanel.isConnected) panelsEl.append(this.htmlPanel);
    this.htmlPanel.hidden = true;
    for (const [id, label, n] of tabs) {
      tabsEl.append(h('button', {
        type: 'button', role: 'tab', id: 'tab-' + id, 'aria-controls': 'panel-' + id,
        'aria-selected': 'false', tabindex: '-1', class: 'tab', dataset: { tab: id },
        onclick: () => { this.preferred = id; this.show(id, true); },
      }, label, n ? h('span', { class: 'tab-count', text: String(n) }) : null));
      if (id !== 'html') panelsEl.append(h('div', { role: 'tabpanel', id: 'panel-' + id, class: 'panel panel-' + id, 'aria-labelledby': 'tab-' + id, tabindex: '0', hidden: true }));
    }
    // The tab the user last picked, when this message has it; else HTML, else Text.
    const want = tabs.some((t) => t[0] === this.preferred) && this.preferred !== 'problems' ? this.preferred : tabs[0][0];
    this.show(want, false);
    this.body.scrollTop = 0;
  }

  renderAddrs() {
    const m = this.msg;
    const dl = clear($('msg-addrs'));
    const row = (label, list, field) => {
      if (!list || !list.length) return;
      const dd = h('dd', { class: 'addr-list' });
      const shown = list.slice(0, 8);
      shown.forEach((a, i) => {
        dd.append(this.addrButton(a, field));
        if (i < shown.length - 1) dd.append(h('span', { class: 'sep', text: ', ' }));
      });
      if (list.length > shown.length) {
        const more = h('button', { type: 'button', class: 'link-btn more', text: `+${list.length - shown.length} more` });
        more.addEventListener('click', () => {
          more.remove();
          for (const a of list.slice(shown.length)) dd.append(h('span', { class: 'sep', text: ', ' }), this.addrButton(a, field));
        });
        dd.append(' ', more);
      }
      dl.append(h('div', { class: 'addr-row' }, h('dt', { text: label }), dd));
    };
    row('From', m.From && (m.From.Address || m.From.Name) ? [m.From] : [], 'from');
    row('To', m.To, 'to');
    row('Cc', m.Cc, 'cc');
    row('Bcc', m.Bcc, 'bcc');
    row('Reply-To', m.ReplyTo, 'reply-to');
    const received = new Date(m.Created);
    const date = m.Date ? new Date(m.Date) : null;
    const dd = h('dd', {},
      h('time', { datetime: m.Created || '', title: 'Received ' + fmt.full(received), text: fmt.full(received) }),
      h('span', { class: 'muted', text: ' · ' + fmt.size(m.Size) }));
    dl.append(h('div', { class: 'addr-row' }, h('dt', { text: 'Received' }), dd));
    if (date && Number.isFinite(date.getTime()) && Math.abs(date - received) > 120000) {
      dl.append(h('div', { class: 'addr-row' }, h('dt', { text: 'Date' }), h('dd', { text: fmt.full(date) })));
    }
  }

  addrButton(a, field) {
    const b = h('button', {
      type: 'button', class: 'addr',
      title: a.Address ? `Show only messages ${field === 'from' ? 'from' : field === 'reply-to' ? 'with Reply-To' : field === 'to' ? 'to' : field} ${a.Address}` : null,
    });
    if (a.Name) b.append(h('span', { class: 'addr-name', text: a.Name }), ' ');
    if (a.Address) b.append(h('span', { class: 'addr-email', text: a.Name ? `<${a.Address}>` : a.Address }));
    if (a.Address) b.addEventListener('click', () => this.onAddress(field, a.Address));
    else b.disabled = true;
    return b;
  }

  /** show selects a tab; focus moves keyboard focus to it. */
  show(id, focus) {
    this.tab = id;
    for (const b of $('tabs').children) {
      const on = b.dataset.tab === id;
      b.setAttribute('aria-selected', on ? 'true' : 'false');
      b.tabIndex = on ? 0 : -1;
      if (on && focus) b.focus();
    }
    for (const p of $('panels').children) p.hidden = p.id !== 'panel-' + id;
    const panel = $('panel-' + id);
    if (panel && !this.panels.has(id)) {
      this.panels.set(id, true);
      this.fill(id, panel);
    }
  }

  tabKeys(e) {
    const tabs = [...$('tabs').children];
    const i = tabs.findIndex((b) => b.dataset.tab === this.tab);
    let j = -1;
    if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = tabs.length - 1;
    if (j < 0) return;
    e.preventDefault();
    this.preferred = tabs[j].dataset.tab;
    this.show(this.preferred, true);
  }

  fill(id, panel) {
    const fn = {
      html: this.fillHTML, text: this.fillText, headers: this.fillHeaders, source: this.fillSource,
      attachments: this.fillAttachments, structure: this.fillStructure, envelope: this.fillEnvelope,
      problems: this.fillProblems, deliverability: fillDeliverability, session: fillSession,
    }[id];
    Promise.resolve(fn.call(this, panel, this.msg)).catch((err) => {
      panel.replaceChildren(h('p', { class: 'panel-note error', text: 'Could not load this view: ' + err.message }));
    });
  }

  // --- HTML ----------------------------------------------------------------

  fillHTML(panel, m) {
    // The iframe is made once and then only navigated: a sandboxed frame runs
    // in a process of its own, and keeping the frame keeps that process warm.
    if (!this.frame) {
      const width = localStorage.getItem(WIDTH_KEY) || 'desktop';
      this.frameWrap = h('div', { class: 'frame-wrap w-' + (WIDTHS.some((w) => w.id === width) ? width : 'desktop') });
      // sandbox is set before src, and empty: no scripts, no same-origin, no popups, no top navigation.
      // src is set before the frame enters the document, so it never loads about:blank first.
      this.frame = h('iframe', {
        sandbox: '', src: api.paths.view(m.ID, this.remote), title: 'HTML body of the message',
        referrerpolicy: 'no-referrer', class: 'html-frame', id: 'html-frame',
      });
      this.frame.addEventListener('load', () => {
        performance.clearMarks('letterbox:frame-loaded');
        performance.mark('letterbox:frame-loaded');
      });
      this.frameWrap.append(this.frame);
      this.frameBar = h('div', { class: 'panel-bar' });
      panel.append(this.frameBar, this.frameWrap);
    }
    const wrap = this.frameWrap;
    const group = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Preview width' });
    for (const w of WIDTHS) {
      const b = h('button', {
        type: 'button', class: 'seg', 'aria-pressed': String(wrap.classList.contains('w-' + w.id)),
        title: w.px ? `${w.label} (${w.px} px)` : 'Full width', dataset: { width: w.id },
      }, icon(w.id), h('span', { class: 'seg-label', text: w.label }));
      b.addEventListener('click', () => {
        for (const o of WIDTHS) wrap.classList.remove('w-' + o.id);
        wrap.classList.add('w-' + w.id);
        for (const x of group.children) x.setAttribute('aria-pressed', String(x === b));
        try { localStorage.setItem(WIDTH_KEY, w.id); } catch { /* private mode */ }
      });
      group.append(b);
    }
    const bar = this.frameBar;
    bar.replaceChildren(group);
    const remote = countRemote(m.HTML);
    if (remote > 0) {
      const notice = h('div', { class: 'remote-notice', id: 'remote-notice' },
        icon('image-off'),
        h('span', { text: `Remote content blocked (${remote} ${remote > 1 ? 'items' : 'item'})` }));
      const allow = h('button', { type: 'button', class: 'btn btn-sm', id: 'remote-btn', text: 'Load remote content' });
      allow.addEventListener('click', () => {
        this.remote = true;
        this.frame.setAttribute('src', api.paths.view(m.ID, true));
        notice.replaceChildren(icon('image-off'), h('span', { text: 'Remote content loaded for this message' }));
        notice.classList.add('allowed');
      });
      notice.append(allow);
      bar.append(notice);
    }
    bar.append(h('a', { class: 'btn btn-ghost btn-sm', href: api.paths.view(m.ID, false), target: '_blank', rel: 'noopener noreferrer', text: 'Open in new tab' }));
    const src = api.paths.view(m.ID, this.remote);
    if (this.frame.getAttribute('src') !== src) this.frame.setAttribute('src', src);
  }

  // --- Text ----------------------------------------------------------------

  fillText(panel, m) {
    if (!m.Text) {
      panel.append(h('p', { class: 'panel-note', text: m.HTML ? 'This message has no plain-text part.' : 'This message has no body.' }));
      return;
    }
    panel.append(linkify(h('pre', { class: 'text-body' }), m.Text));
  }

  // --- Headers -------------------------------------------------------------

  async fillHeaders(panel, m) {
    let list = Array.isArray(m.HeadersList) ? m.HeadersList : null;
    if (!list) {
      const map = await api.headers(m.ID);
      list = [];
      for (const [name, vals] of Object.entries(map || {})) for (const v of vals) list.push({ Name: name, Value: v });
    }
    const tbody = h('tbody');
    for (const hd of list) tbody.append(h('tr', {}, h('th', { scope: 'row', text: hd.Name }), h('td', { text: hd.Value })));
    panel.append(h('table', { class: 'headers-table' },
      h('caption', { class: 'visually-hidden', text: 'All header fields, in order' }), tbody));
  }

  // --- Source --------------------------------------------------------------

  async fillSource(panel, m) {
    const bar = h('div', { class: 'panel-bar' },
      h('span', { class: 'muted', text: fmt.size(m.Size) }),
      h('a', { class: 'btn btn-sm', href: api.paths.raw(m.ID, true), download: (m.ID || 'message') + '.eml' },
        icon('download'), 'Download .eml'),
      h('a', { class: 'btn btn-ghost btn-sm', href: api.paths.raw(m.ID, false), target: '_blank', rel: 'noopener noreferrer', text: 'Open raw' }));
    const pre = h('pre', { class: 'source', text: 'Loading…' });
    panel.append(bar, pre);
    const text = await api.raw(m.ID);
    pre.textContent = text.length > SOURCE_MAX ? text.slice(0, SOURCE_MAX) : text;
    if (text.length > SOURCE_MAX) {
      panel.append(h('p', { class: 'panel-note', text: `Only the first ${fmt.size(SOURCE_MAX)} are shown; download the .eml for the rest.` }));
    }
  }

  // --- Attachments -----------------------------------------------------------

  fillAttachments(panel, m) {
    const section = (title, parts) => {
      if (!parts.length) return;
      const ul = h('ul', { class: 'att-grid' });
      for (const p of parts) {
        const href = api.paths.part(m.ID, p.PartID);
        const name = p.FileName || `part-${p.PartID}`;
        const thumb = THUMB_TYPES.test(p.ContentType || '')
          ? h('img', { src: href, alt: '', loading: 'lazy', decoding: 'async', class: 'att-thumb' })
          : h('span', { class: 'att-icon' }, icon('file'), h('span', { class: 'att-ext', text: ext(name) }));
        ul.append(h('li', { class: 'att' },
          h('a', { class: 'att-preview', href, target: '_blank', rel: 'noopener noreferrer', title: `Open ${name}`, tabindex: '-1', 'aria-hidden': 'true' }, thumb),
          h('div', { class: 'att-info' },
            h('span', { class: 'att-name', title: name, text: name }),
            h('span', { class: 'att-meta', text: `${p.ContentType || 'application/octet-stream'} · ${fmt.size(p.Size)}` }),
            p.ContentID ? h('span', { class: 'att-meta', title: 'Content-ID', text: 'cid:' + p.ContentID }) : null),
          h('a', { class: 'btn btn-sm att-dl', href, download: name },
            icon('download'), h('span', { class: 'visually-hidden', text: `Download ${name}` }), h('span', { 'aria-hidden': 'true', text: 'Download' }))));
      }
      panel.append(h('h3', { class: 'panel-title', text: title }), ul);
    };
    section('Attachments', m.Attachments || []);
    section('Inline parts', m.Inline || []);
    if (!panel.children.length) panel.append(h('p', { class: 'panel-note', text: 'This message has no attachments.' }));
  }

  // --- MIME structure ----------------------------------------------------------

  fillStructure(panel, m) {
    if (!m.Structure || !m.Structure.ContentType) {
      panel.append(h('p', { class: 'panel-note', text: 'The server did not send the MIME structure of this message.' }));
      return;
    }
    // Nesting is drawn for the first levels; deeper parts are listed flat with
    // their depth, so a hostile 100-level message stays readable.
    const INDENT = 6;
    const MAX_NODES = 2000;
    let count = 0;
    const node = (n, depth, out) => {
      if (count++ >= MAX_NODES) return;
      const bits = [];
      if (n.Charset) bits.push(n.Charset);
      if (n.Disposition) bits.push(n.Disposition);
      if (n.Size || !/^multipart\//i.test(n.ContentType || '')) bits.push(fmt.size(n.Size));
      const li = h('li', { class: 'mime-node' },
        h('div', { class: 'mime-line' },
          depth > INDENT ? h('span', { class: 'mime-depth', title: 'Nesting depth', text: `depth ${depth}` }) : null,
          n.PartID ? h('span', { class: 'mime-id', text: n.PartID }) : null,
          h('span', { class: 'mime-type', text: n.ContentType || '(no type)' }),
          n.FileName ? h('span', { class: 'mime-file', text: n.FileName }) : null,
          bits.length ? h('span', { class: 'mime-meta', text: bits.join(' · ') }) : null));
      out.append(li);
      const kids = n.Children || [];
      if (!kids.length) return;
      const into = depth < INDENT ? li.appendChild(h('ul', { class: 'mime-tree' })) : out;
      for (const k of kids) node(k, depth + 1, into);
    };
    const root = h('ul', { class: 'mime-tree mime-root' });
    node(m.Structure, 0, root);
    panel.append(root);
    if (count > MAX_NODES) panel.append(h('p', { class: 'panel-note', text: `Only the first ${MAX_NODES} parts are shown.` }));
  }

  // --- Envelope ----------------------------------------------------------------

  fillEnvelope(panel, m) {
    const env = m.Envelope;
    const dl = h('dl', { class: 'kv' });
    const kv = (k, v, cls) => dl.append(h('div', { class: 'kv-row' }, h('dt', { text: k }), h('dd', { class: cls || null }, v)));
    if (env) {
      kv('MAIL FROM', env.MailFrom ? env.MailFrom : '<> (null sender)', 'mono');
      const rcpts = env.Recipients || [];
      kv('RCPT TO', rcpts.length ? h('ul', { class: 'plain-list mono' }, rcpts.map((r) => h('li', { text: r }))) : '(none)');
      kv('HELO', env.Helo || '(none)', 'mono');
      kv('Client', env.RemoteAddr || '(unknown)', 'mono');
      kv('TLS', env.TLS ? 'Yes' : 'No');
      kv('AUTH user', env.Username || m.Username || 'Not authenticated');
    } else {
      panel.append(h('p', { class: 'panel-note', text: 'The server did not send the SMTP envelope of this message.' }));
      if (m.Username) kv('AUTH user', m.Username);
    }
    if (m.ReturnPath) kv('Return-Path', m.ReturnPath, 'mono');
    kv('Received', fmt.full(new Date(m.Created)));
    kv('Size', `${fmt.size(m.Size)} (${Number(m.Size).toLocaleString()} bytes)`);
    if (m.MessageID) kv('Message-ID', m.MessageID, 'mono');
    kv('ID', m.ID, 'mono');
    panel.append(dl);
  }

  // --- Problems ------------------------------------------------------------------

  fillProblems(panel, m) {
    panel.append(
      h('p', { class: 'panel-note', text: 'letterbox stored this message exactly as received; these are the problems found while parsing it.' }),
      h('ul', { class: 'problems' }, (m.ParseErrors || []).map((e) => h('li', {}, icon('warn'), h('span', { text: e })))));
  }
}

function ext(name) {
  const i = name.lastIndexOf('.');
  return i > 0 && name.length - i <= 6 ? name.slice(i + 1).toUpperCase() : '';
}

/** linkify fills pre with text, turning http(s) URLs into links. */
function linkify(pre, text) {
  const head = text.slice(0, LINKIFY_MAX);
  const re = /\bhttps?:\/\/[^\s<>"'()[\]{}]+[^\s<>"'()[\]{}.,;:!?]/g;
  let last = 0;
  for (const match of head.matchAll(re)) {
    let url;
    try { url = new URL(match[0]); } catch { continue; }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    pre.append(head.slice(last, match.index),
      h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer', text: match[0] }));
    last = match.index + match[0].length;
  }
  pre.append(text.slice(last));
  return pre;
}

/**
 * countRemote counts references to remote resources (images, stylesheets,
 * backgrounds, media) in an HTML body, to offer loading them. It scans the
 * text: mail HTML is never parsed in the inbox's own document, not even an
 * inert one (whose style attributes would still trip the page's CSP).
 */
export function countRemote(html) {
  if (!html) return 0;
  const remote = String.raw`\s*["']?\s*(?:https?:)?//`;
  const patterns = [
    new RegExp(String.raw`\b(?:src|background|poster|srcset|data)\s*=` + remote, 'gi'),
    new RegExp(String.raw`<link\b[^>]*\bhref\s*=` + remote, 'gi'),
    new RegExp(String.raw`url\(` + remote, 'gi'),
    new RegExp(String.raw`@import` + remote, 'gi'),
  ];
  let n = 0;
  for (const re of patterns) n += (html.match(re) || []).length;
  return n;
}
