// The Deliverability tab: the report of GET /api/v1/message/{ID}/deliverability
// (verdict, DKIM/SPF/DMARC, the providers' checklist, HTML compatibility next
// to the lines of HTML it concerns, links and SpamAssassin when asked for).
//
// Everything from the report and the message is shown as text through h();
// the only links are the rules' sources and caniemail's feature pages.

import { h, clear } from './dom.js';

const enc = encodeURIComponent;
const CONTEXT = 1; // lines of HTML shown around each line with findings
const MAX_LINE = 240; // characters of a line of HTML shown

/** fetchReport asks for a message's report. */
async function fetchReport(id, { ips = '', links = false, refresh = false } = {}) {
  const p = new URLSearchParams();
  if (ips.trim()) p.set('ip', ips.trim());
  if (links) { p.set('links', 'true'); p.set('follow', 'true'); }
  if (refresh) p.set('refresh', 'true');
  const res = await fetch(`api/v1/message/${enc(id)}/deliverability?${p}`, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`${res.status}: ${(await res.text()).slice(0, 300).trim()}`);
  return res.json();
}

/** safeURL returns u when it is an https or http URL, else null (never javascript: and the like). */
function safeURL(u) {
  try {
    const url = new URL(u);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch { return null; }
}

const badge = (status, text) => h('span', { class: 'dv-badge dv-' + status, text: text || status });

/** statusOf maps an authentication result to pass/warn/fail colours. */
function statusOf(result) {
  if (result === 'pass') return 'pass';
  if (result === 'fail' || result === 'permerror') return 'fail';
  return 'warn';
}

/** fillDeliverability renders the tab into panel for message m. */
export async function fillDeliverability(panel, m) {
  const state = { ips: '', links: false };
  const body = h('div', { class: 'dv' });
  panel.append(body);
  const load = async (opts = {}) => {
    clear(body).append(h('p', { class: 'panel-note', text: 'Checking DKIM, SPF, DMARC and the providers’ rules…' }));
    let rep;
    try {
      rep = await fetchReport(m.ID, { ...state, ...opts });
    } catch (err) {
      clear(body).append(h('p', { class: 'panel-note error', text: 'Could not check this message: ' + err.message }));
      return;
    }
    render(body, rep, m, state, load);
  };
  await load();
}

function render(body, rep, m, state, load) {
  clear(body);
  body.dataset.verdict = rep.Verdict;

  // Verdict, summary, and the controls.
  const ipInput = h('input', {
    type: 'text', class: 'dv-ip', id: 'dv-ip', 'aria-label': 'Sending IP addresses',
    placeholder: 'e.g. 203.0.113.5', value: rep.SendingIPSource === 'client' ? '' : (rep.SendingIPs || []).join(', '),
  });
  const form = h('form', { class: 'dv-controls', onsubmit: (e) => { e.preventDefault(); state.ips = ipInput.value; load(); } },
    h('label', { for: 'dv-ip', text: 'Sending IP' }), ipInput,
    h('button', { type: 'submit', class: 'btn btn-sm', id: 'dv-recheck', text: 'Check' }),
    h('button', { type: 'button', class: 'btn btn-sm', id: 'dv-links', text: state.links ? 'Links checked' : 'Check links',
      onclick: () => { state.links = true; load(); } }),
    h('button', { type: 'button', class: 'btn btn-sm btn-ghost', id: 'dv-refresh', text: 'Refresh', onclick: () => load({ refresh: true }) }));
  body.append(
    h('div', { class: 'dv-head' }, badge(rep.Verdict, { pass: 'Likely delivered', warn: 'At risk', fail: 'Likely rejected or spam' }[rep.Verdict]),
      h('p', { class: 'dv-summary', id: 'dv-summary', text: rep.Summary })),
    form);
  const ipNote = rep.SendingIPSource === 'client'
    ? `SPF and reverse DNS judged for the SMTP client's address ${(rep.SendingIPs || []).join(', ')}.`
    : `SPF and reverse DNS judged for ${(rep.SendingIPs || []).join(', ')} (${rep.SendingIPSource}).`;
  body.append(h('p', { class: 'panel-note', text: ipNote + (rep.Bulk ? ` Judged as bulk mail: ${rep.BulkReason}.` : '') }));
  if (rep.SendingIPNote) body.append(h('p', { class: 'notice notice-warn dv-note', id: 'dv-ip-note', text: rep.SendingIPNote }));

  body.append(section('Checklist', 'dv-checklist', checklist(rep.Checklist || [])));
  body.append(section('Authentication', 'dv-auth', auth(rep)));
  if (rep.SpamAssassin) body.append(section('SpamAssassin', 'dv-spam', spam(rep.SpamAssassin)));
  if (rep.LinkCheck) body.append(section('Links', 'dv-linkcheck', links(rep.LinkCheck)));
  if (rep.HTMLCheck) body.append(section('HTML compatibility', 'dv-html', htmlCompat(rep.HTMLCheck, m.HTML || '')));
  body.append(h('p', { class: 'panel-note dv-computed', text: `Computed ${new Date(rep.Computed).toLocaleString()}${rep.Cached ? ' (cached)' : ''}.` }));
}

function section(title, id, ...content) {
  return h('section', { class: 'dv-section', id, 'aria-label': title }, h('h2', { class: 'dv-h', text: title }), content);
}

function checklist(rules) {
  return h('ul', { class: 'dv-rules' }, rules.map((r) => h('li', { class: 'dv-rule dv-rule-' + r.Status, dataset: { rule: r.ID, status: r.Status } },
    h('div', { class: 'dv-rule-head' }, badge(r.Status), h('span', { class: 'dv-rule-title', text: r.Title }), h('span', { class: 'muted dv-applies', text: r.Applies })),
    h('p', { class: 'dv-reason', text: r.Reason }),
    r.Fix ? h('p', { class: 'dv-fix' }, h('strong', { text: 'Fix: ' }), r.Fix) : null,
    h('p', { class: 'dv-sources muted' }, 'Source: ', (r.Sources || []).map((s, i) => {
      const href = safeURL(s.URL);
      const a = href ? h('a', { href, target: '_blank', rel: 'noopener noreferrer', text: s.Name }) : h('span', { text: s.Name });
      return i ? ['; ', a] : a;
    })))));
}

function kvList(rows) {
  return h('dl', { class: 'kv' }, rows.filter(Boolean).map(([k, v]) => h('div', { class: 'kv-row' }, h('dt', { text: k }), h('dd', {}, v))));
}

function auth(rep) {
  const out = [];
  const dkim = rep.DKIM || [];
  out.push(h('h3', { class: 'dv-h3', text: 'DKIM' }));
  if (!dkim.length) out.push(h('p', { class: 'panel-note', text: 'The message has no DKIM signature.' }));
  for (const d of dkim) {
    out.push(h('div', { class: 'dv-sig', dataset: { result: d.Result } }, kvList([
      ['Result', [badge(statusOf(d.Result), d.Result), ' ', d.Reason]],
      ['Domain, selector', h('span', { class: 'mono', text: `d=${d.Domain} s=${d.Selector}` })],
      ['Algorithm', h('span', { class: 'mono', text: d.Algorithm + (d.KeyBits ? ` (${d.KeyType} ${d.KeyBits} bits)` : '') })],
      ['Body hash', d.BodyHash || 'not checked'],
      ['Signed headers', h('span', { class: 'mono', text: (d.Headers || []).join(': ') })],
    ])));
  }
  const spf = rep.SPF || {};
  out.push(h('h3', { class: 'dv-h3', text: 'SPF' }), kvList([
    ['Result', [badge(statusOf(spf.Result), spf.Result), ' ', spf.Reason]],
    ['Domain', h('span', { class: 'mono', text: spf.Domain || '' })],
    ['Checks', h('ul', { class: 'plain-list' }, (spf.Checks || []).map((c) => h('li', {}, badge(statusOf(c.Result), c.Result), ' ',
      h('span', { class: 'mono', text: `${c.IP} ${c.Identity} ${c.Domain}` }))))],
    (spf.Chain || []).length ? ['Records', h('ul', { class: 'plain-list mono' }, spf.Chain.map((r) => h('li', { text: `${r.Domain}: ${r.Record}` })))] : null,
  ]));
  const d = rep.DMARC || {};
  out.push(h('h3', { class: 'dv-h3', text: 'DMARC' }), kvList([
    ['Result', [badge(statusOf(d.Result), d.Result), ' ', d.Reason]],
    ['From domain', h('span', { class: 'mono', text: d.FromDomain || '' })],
    d.Record ? ['Record', h('span', { class: 'mono', text: `_dmarc.${d.RecordDomain}: ${d.Record}` })] : null,
    d.Policy ? ['Policy', `${d.Policy}${d.Percent < 100 ? ` (pct=${d.Percent})` : ''}; a receiver would apply: ${d.AppliedPolicy}`] : null,
    ['Alignment', `DKIM ${d.DKIMAlignment}: ${d.DKIMAligned ? 'aligned (' + d.DKIMDomain + ')' : 'not aligned'}; SPF ${d.SPFAlignment}: ${d.SPFAligned ? 'aligned (' + d.SPFDomain + ')' : 'not aligned'}`],
  ]));
  const ptr = rep.ReverseDNS || [];
  if (ptr.length) {
    out.push(h('h3', { class: 'dv-h3', text: 'Reverse DNS' }),
      h('ul', { class: 'plain-list' }, ptr.map((p) => h('li', {}, badge(p.Result), ' ', h('span', { class: 'mono', text: p.IP }), ' ', p.Reason))));
  }
  return out;
}

function spam(sa) {
  if (sa.Error) return h('p', { class: 'panel-note error', text: 'SpamAssassin could not be asked: ' + sa.Error });
  return [
    h('p', {}, badge(sa.IsSpam ? 'fail' : 'pass', sa.IsSpam ? 'spam' : 'not spam'), ` Score ${sa.Score}`),
    h('table', { class: 'dv-table' }, h('thead', {}, h('tr', {}, h('th', { text: 'Points' }), h('th', { text: 'Rule' }), h('th', { text: 'Description' }))),
      h('tbody', {}, (sa.Rules || []).map((r) => h('tr', {}, h('td', { class: 'num', text: r.Score.toFixed(1) }), h('td', { class: 'mono', text: r.Name }), h('td', { text: r.Description }))))),
  ];
}

function links(lc) {
  return [
    h('p', { class: 'panel-note', text: `${lc.Links.length} links checked, ${lc.Errors} failed.` }),
    h('table', { class: 'dv-table' }, h('tbody', {}, lc.Links.map((l) => h('tr', { class: l.StatusCode === 0 || l.StatusCode >= 400 ? 'dv-bad' : null },
      h('td', { class: 'num', text: l.StatusCode ? String(l.StatusCode) : '–' }), h('td', { text: l.Status }), h('td', { class: 'mono dv-url', text: l.URL }))))),
  ];
}

/** htmlCompat shows the support per client family, then the HTML lines that use poorly supported features, each with its findings. */
function htmlCompat(hc, html) {
  const out = [];
  const t = hc.Total || {};
  out.push(h('p', { class: 'panel-note', text: `${Math.round(t.Supported)}% of email clients support every feature this HTML uses; ${Math.round(t.Partial)}% partly; ${Math.round(t.Unsupported)}% lack at least one.` }));
  out.push(h('ul', { class: 'dv-families' }, (hc.Families || []).map((f) => h('li', { class: 'dv-family' },
    h('span', { class: 'dv-family-name', text: f.Family }),
    h('span', { class: 'dv-bar', 'aria-hidden': 'true' }, h('span', { class: 'dv-bar-ok dv-w' + Math.round(f.Supported / 5) * 5 })),
    h('span', { class: 'muted', text: `${Math.round(f.Supported)}% supported` + (f.Missing.length ? ` — lacks ${f.Missing.slice(0, 4).join(', ')}${f.Missing.length > 4 ? '…' : ''}` : '') })))));

  // Findings by line.
  const byLine = new Map();
  for (const w of hc.Warnings || []) {
    for (const n of w.Lines || []) {
      if (!byLine.has(n)) byLine.set(n, []);
      byLine.get(n).push(w);
    }
  }
  const lines = html.split('\n');
  const shown = new Set();
  for (const n of byLine.keys()) for (let i = n - CONTEXT; i <= n + CONTEXT; i++) if (i >= 1 && i <= lines.length) shown.add(i);
  const order = [...shown].sort((a, b) => a - b);
  const listing = h('div', { class: 'dv-listing', role: 'table', 'aria-label': 'HTML lines with compatibility findings' });
  let prev = 0;
  for (const n of order) {
    if (prev && n > prev + 1) listing.append(h('div', { class: 'dv-gap', text: '⋯' }));
    prev = n;
    const text = lines[n - 1].length > MAX_LINE ? lines[n - 1].slice(0, MAX_LINE) + '…' : lines[n - 1];
    const found = byLine.get(n);
    listing.append(h('div', { class: 'dv-line' + (found ? ' dv-line-hit' : ''), role: 'row', dataset: { line: String(n) } },
      h('span', { class: 'dv-ln', role: 'cell', text: String(n) }), h('code', { class: 'dv-code', role: 'cell', text: text })));
    if (found) {
      listing.append(h('ul', { class: 'dv-findings', dataset: { line: String(n) } }, found.map((w) => {
        const href = safeURL(w.URL);
        return h('li', { class: 'dv-finding', dataset: { slug: w.Slug } },
          href ? h('a', { href, target: '_blank', rel: 'noopener noreferrer', text: w.Title }) : h('span', { text: w.Title }),
          h('span', { class: 'muted', text: ` — unsupported by ${Math.round(w.Score.Unsupported)}%, partly by ${Math.round(w.Score.Partial)}% of client versions` }));
      })));
    }
  }
  if (order.length) out.push(listing);
  else out.push(h('p', { class: 'panel-note', text: 'No poorly supported HTML or CSS features.' }));
  return out;
}
