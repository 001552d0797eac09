// The message list: a virtual scroller over the whole result, newest first.
//
// Only the rows in view (plus a margin) exist in the DOM, and only pages of
// summaries around the view are fetched, so the list stays smooth with any
// number of messages. Summaries are cached by their position counted from the
// oldest message ("key"): new mail arrives at the top without shifting the
// keys of what is already loaded, so live inserts need no refetch.

import * as api from './api.js';
import { h, icon } from './dom.js';
import * as fmt from './format.js';

const PAGE = 100; // summaries per request
const OVERSCAN = 6; // rows rendered above and below the view
const MAX_HEIGHT = 8_000_000; // px; taller lists are scaled to stay under browser limits
const CACHE_MAX = 2000; // summaries kept; the farthest from the view are dropped

/**
 * MessageList renders the list in root (the scrolling element). hrefFor(id)
 * gives each row's link; onChange() is called when counts or tags change.
 */
export class MessageList {
  constructor({ root, spacer, rowsEl, hrefFor, onChange, onError }) {
    this.root = root;
    this.spacer = spacer;
    this.rowsEl = rowsEl;
    this.hrefFor = hrefFor;
    this.onChange = onChange;
    this.onError = onError;
    this.rowH = parseFloat(getComputedStyle(root).getPropertyValue('--row-h')) || 76;

    this.query = '';
    this.error = ''; // why the server refused the search, if it did
    this.loaded = false; // the first page of the current query arrived
    this.total = 0; // messages matching the query
    this.unread = 0; // of those, unread
    this.storeTotal = 0; // whole store
    this.storeUnread = 0;
    this.tags = [];
    this.cache = new Map(); // key -> Summary
    this.byId = new Map(); // ID -> key
    this.gen = 0; // bumped when the cache is replaced; late responses are dropped
    this.inflight = new Set(); // page starts being fetched
    this.selectedId = '';
    this.openId = '';
    this.fresh = new Set(); // IDs that just arrived, highlighted once
    this.gone = new Set(); // IDs deleted here, whose delete events are still to come
    this.rows = new Map(); // index -> <li>
    this.pool = [];
    this.tick = 0; // bumped to refresh relative times
    this.raf = 0;
    this.fetchTimer = 0;
    this.reloadTimer = 0;
    this.reloadSince = 0;
    this.maxHeight = MAX_HEIGHT;
    this.seq = 0;
    this.statsTimer = 0;
    this.lastEvent = 0;
    this.epoch = 0; // bumped when a deletion shifts the positions of cached messages

    root.addEventListener('scroll', () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(root);
    setInterval(() => { this.tick++; this.schedule(); }, 30000);
  }

  keyOf(index) { return this.total - 1 - index; }

  /** indexOf returns the position of a loaded message in the list, or -1. */
  indexOf(id) {
    const key = this.byId.get(id);
    return key == null ? -1 : this.total - 1 - key;
  }

  /** get returns a loaded summary by ID. */
  get(id) {
    const key = this.byId.get(id);
    return key == null ? undefined : this.cache.get(key);
  }

  /** setQuery shows the messages matching q (all when empty), from the top. */
  setQuery(q) {
    this.query = q;
    return this.reload({ keepScroll: false });
  }

  /**
   * reload refetches the current view and swaps the cache when the answer
   * arrives, so nothing flickers. keepScroll keeps the scroll position.
   */
  async reload({ keepScroll = true } = {}) {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = 0;
    this.reloadSince = 0;
    const gen = ++this.gen;
    const t0 = performance.now();
    this.inflight.clear();
    const first = keepScroll ? this.visibleRange().first : 0;
    const start = Math.max(0, first - (first % PAGE));
    let res;
    try {
      res = await api.list({ query: this.query, start, limit: PAGE });
    } catch (err) {
      if (gen !== this.gen) return;
      if (err.status !== 400) {
        this.onError(err);
        return;
      }
      // The server refused the search: show why instead of stale results.
      this.cache.clear();
      this.byId.clear();
      this.total = this.unread = 0;
      this.error = err.message.replace(/^400: (webui: )?/, '');
      this.loaded = true;
      this.render();
      this.onChange();
      return;
    }
    if (gen !== this.gen) return;
    this.error = '';
    this.cache.clear();
    this.byId.clear();
    this.applyPage(res, start, true);
    this.loaded = true;
    if (!keepScroll) this.root.scrollTop = 0;
    this.render();
    this.onChange();
    // Events that came while the answer was on its way were applied to the
    // cache it just replaced: look again once things are quiet.
    if (this.lastEvent >= t0) this.scheduleReload();
  }

  /**
   * scheduleReload coalesces the reloads that bursts of events cause: it
   * reloads once events have been quiet for 250 ms, and at most about a second
   * after it was first asked, so a steady stream still shows up.
   */
  scheduleReload() {
    const now = performance.now();
    if (!this.reloadSince) this.reloadSince = now;
    clearTimeout(this.reloadTimer);
    const wait = now - this.reloadSince > 1000 ? 0 : 250;
    this.reloadTimer = setTimeout(() => {
      this.reloadSince = 0;
      this.reload();
    }, wait);
  }

  /**
   * applyPage caches a page of results. Keys come from the answer's own count,
   * so they are right even when events arrived meanwhile. Only a reload takes
   * the counts: a page fetched while scrolling may be older than the events
   * already applied, and must not undo them.
   */
  applyPage(res, start, counts) {
    const msgs = res.messages || [];
    const count = res.messages_count ?? res.total ?? msgs.length;
    if (counts) {
      this.total = count;
      this.unread = res.messages_unread ?? res.unread ?? 0;
      this.storeTotal = res.total ?? count;
      this.storeUnread = res.unread ?? this.unread;
      this.tags = res.tags || [];
    }
    msgs.forEach((m, j) => this.put(count - 1 - (start + j), m));
    this.evict();
  }

  put(key, m) {
    const old = this.cache.get(key);
    if (old && old.ID !== m.ID) this.byId.delete(old.ID);
    const prev = this.byId.get(m.ID);
    if (prev != null && prev !== key) this.cache.delete(prev);
    m._v = ++this.seq; // rows re-render when their summary object changes
    this.cache.set(key, m);
    this.byId.set(m.ID, key);
  }

  evict() {
    if (this.cache.size <= CACHE_MAX) return;
    const { first, last } = this.visibleRange();
    const mid = this.keyOf(Math.round((first + last) / 2));
    const keys = [...this.cache.keys()].sort((a, b) => Math.abs(b - mid) - Math.abs(a - mid));
    for (const k of keys.slice(0, this.cache.size - Math.floor(CACHE_MAX * 0.75))) {
      const m = this.cache.get(k);
      if (m.ID === this.selectedId || m.ID === this.openId) continue;
      this.cache.delete(k);
      this.byId.delete(m.ID);
    }
  }

  // --- live events ---------------------------------------------------------

  /** onNew handles a new-message event. */
  onNew(s) {
    this.lastEvent = performance.now();
    this.storeTotal++;
    if (!s.Read) this.storeUnread++;
    if (!s.Tags) s.Tags = [];
    for (const t of s.Tags) if (!this.tags.includes(t)) { this.tags.push(t); this.tags.sort(); }
    if (this.query || !this.loaded) {
      this.scheduleReload();
      this.onChange();
      return;
    }
    if (this.byId.has(s.ID)) return;
    const atTop = this.root.scrollTop < this.rowH / 2;
    this.put(this.total, s);
    this.total++;
    if (!s.Read) this.unread++;
    this.spacer.style.height = this.geometry().height + 'px';
    if (atTop) this.fresh.add(s.ID);
    else if (!this.scaled()) this.root.scrollTop += this.rowH; // keep what the reader sees in place
    this.evict();
    this.schedule();
    this.onChange();
  }

  /** onUpdate handles a read-state or tags change. */
  onUpdate(d) {
    this.lastEvent = performance.now();
    const s = this.get(d.ID);
    if (typeof d.Read === 'boolean') {
      if (s && s.Read !== d.Read) {
        this.unread += d.Read ? -1 : 1;
        this.storeUnread = Math.max(0, this.storeUnread + (d.Read ? -1 : 1));
        s.Read = d.Read;
      } else if (!s && !this.query) {
        this.scheduleReload(); // counts unknown
      }
    }
    if (s && Array.isArray(d.Tags)) s.Tags = d.Tags;
    if (s) { s._v = ++this.seq; this.schedule(); }
    this.onChange();
  }

  /** onDelete removes one message. */
  onDelete(d) {
    this.lastEvent = performance.now();
    const key = this.byId.get(d.ID);
    if (key == null) {
      if (this.gone.delete(d.ID)) return;
      this.scheduleReload();
      return;
    }
    const s = this.cache.get(key);
    this.epoch++;
    this.cache.delete(key);
    this.byId.delete(d.ID);
    this.total = Math.max(0, this.total - 1);
    this.storeTotal = Math.max(0, this.storeTotal - 1);
    if (s && !s.Read) {
      this.unread = Math.max(0, this.unread - 1);
      this.storeUnread = Math.max(0, this.storeUnread - 1);
    }
    // Messages newer than the deleted one move down one key.
    const moved = [];
    for (const [k, m] of this.cache) if (k > key) moved.push([k, m]);
    moved.sort((a, b) => a[0] - b[0]);
    for (const [k, m] of moved) {
      this.cache.delete(k);
      this.cache.set(k - 1, m);
      this.byId.set(m.ID, k - 1);
    }
    this.schedule();
    this.onChange();
  }

  /** removeLocal drops a message this page deleted, before its event arrives. */
  removeLocal(id) {
    if (!this.byId.has(id)) return;
    this.onDelete({ ID: id });
    this.gone.add(id);
    if (this.gone.size > 1000) this.gone.clear();
  }

  /** onTruncate empties the list. */
  onTruncate() {
    this.gen++;
    this.inflight.clear();
    this.cache.clear();
    this.byId.clear();
    this.total = this.unread = this.storeTotal = this.storeUnread = 0;
    this.tags = [];
    this.gone.clear();
    this.loaded = true;
    this.root.scrollTop = 0;
    this.render();
    this.onChange();
  }

  /**
   * checkTotalSoon reloads when the store's total and the list's still differ
   * once events have been quiet for a second. Stats run ahead of the events
   * still queued for this page, so during a burst a difference is normal, and
   * reloading then would count the queued messages twice.
   */
  checkTotalSoon() {
    if (this.statsTimer) return;
    this.statsTimer = setTimeout(() => {
      this.statsTimer = 0;
      if (this.query || this.storeTotal === this.total) return;
      if (performance.now() - this.lastEvent < 1000) this.checkTotalSoon();
      else this.reload();
    }, 1000);
  }

  /** onStats takes whole-store figures; a lasting mismatch means events were missed. */
  onStats(d) {
    if (typeof d.Total === 'number') {
      this.storeTotal = d.Total;
      if (!this.query && this.loaded && d.Total !== this.total) this.checkTotalSoon();
    }
    if (typeof d.Unread === 'number') this.storeUnread = d.Unread;
    this.onChange();
  }

  // --- selection -----------------------------------------------------------

  /** select moves the cursor to a message (by ID) and scrolls it into view. */
  select(id, { focus = false } = {}) {
    this.selectedId = id;
    const i = this.indexOf(id);
    if (i >= 0) this.scrollToIndex(i);
    this.render();
    if (focus) this.focusSelected();
  }

  setOpen(id) {
    this.openId = id;
    if (id) this.selectedId = id;
    this.schedule();
  }

  focusSelected() {
    const i = this.indexOf(this.selectedId);
    const li = this.rows.get(i);
    if (li) li.firstChild.focus({ preventScroll: true });
  }

  /**
   * neighbour returns the ID of the message delta rows away from id (or from
   * the top when id is not in the list), fetching it if needed; '' at the ends.
   */
  async neighbour(id, delta) {
    let i = this.indexOf(id);
    i = i < 0 ? (delta > 0 ? 0 : -1) : i + delta;
    if (i < 0 || i >= this.total) return '';
    let s = this.cache.get(this.keyOf(i));
    if (!s) {
      await this.fetchPage(Math.max(0, i - (i % PAGE)));
      s = this.cache.get(this.keyOf(i));
    }
    return s ? s.ID : '';
  }

  scrollToIndex(i) {
    if (this.scaled()) {
      const { k } = this.geometry();
      const st = this.root.scrollTop;
      const vtop = st * k;
      const vh = this.root.clientHeight;
      if (i * this.rowH < vtop || (i + 1) * this.rowH > vtop + vh) {
        this.root.scrollTop = Math.max(0, (i * this.rowH - vh / 3) / k);
      }
      return;
    }
    const top = i * this.rowH;
    const st = this.root.scrollTop;
    const vh = this.root.clientHeight;
    if (top < st) this.root.scrollTop = top;
    else if (top + this.rowH > st + vh) this.root.scrollTop = top + this.rowH - vh;
  }

  // --- rendering -----------------------------------------------------------

  schedule() {
    if (!this.raf) this.raf = requestAnimationFrame(() => this.render());
  }

  scaled() { return this.total * this.rowH > this.maxHeight; }

  geometry() {
    const vh = this.root.clientHeight;
    const full = this.total * this.rowH;
    const height = Math.min(full, this.maxHeight);
    const k = full > this.maxHeight && height > vh ? (full - vh) / (height - vh) : 1;
    return { vh, height, k };
  }

  visibleRange() {
    const { vh, k } = this.geometry();
    const vtop = this.root.scrollTop * k;
    const first = Math.max(0, Math.floor(vtop / this.rowH));
    const last = Math.min(this.total - 1, Math.ceil((vtop + vh) / this.rowH));
    return { first, last, vtop };
  }

  render() {
    cancelAnimationFrame(this.raf);
    this.raf = 0;
    const { height } = this.geometry();
    this.spacer.style.height = height + 'px';
    const st = this.root.scrollTop;
    const { first: f0, last: l0, vtop } = this.visibleRange();
    const first = Math.max(0, f0 - OVERSCAN);
    const last = Math.min(this.total - 1, l0 + OVERSCAN);

    for (const [i, li] of this.rows) {
      if (i < first || i > last) {
        this.rows.delete(i);
        li.remove();
        this.pool.push(li);
      }
    }
    let missing = false;
    const ordered = [];
    for (let i = first; i <= last; i++) {
      let li = this.rows.get(i);
      if (!li) {
        li = this.pool.pop() || this.makeRow();
        this.rows.set(i, li);
      }
      const s = this.cache.get(this.keyOf(i));
      if (!s) missing = true;
      this.fill(li, s, i);
      li.style.transform = `translateY(${Math.round(i * this.rowH - vtop + st)}px)`;
      ordered.push(li);
    }
    // Keep DOM order equal to visual order for focus and screen readers.
    const kids = this.rowsEl.children;
    let inOrder = kids.length === ordered.length;
    for (let j = 0; inOrder && j < ordered.length; j++) inOrder = kids[j] === ordered[j];
    if (!inOrder) {
      const focused = this.rowsEl.contains(document.activeElement) ? document.activeElement : null;
      this.rowsEl.replaceChildren(...ordered);
      if (focused && focused.isConnected) focused.focus({ preventScroll: true });
    }
    // Roving tabindex: one row is reachable with Tab.
    const sel = this.indexOf(this.selectedId);
    const tabIndex = sel >= first && sel <= last ? sel : first;
    for (const [i, li] of this.rows) li.firstChild.tabIndex = i === tabIndex ? 0 : -1;

    if (missing) this.scheduleFetch();
    this.fresh.clear();
  }

  makeRow() {
    const els = {};
    const li = h('li', { class: 'row' },
      els.link = h('a', { class: 'row-link', tabindex: '-1' },
        els.status = h('span', { class: 'visually-hidden' }),
        h('span', { class: 'row-top' },
          els.from = h('span', { class: 'row-from' }),
          els.clip = icon('clip', 'row-clip'),
          els.size = h('span', { class: 'row-size' }),
          els.time = h('time', { class: 'row-time' })),
        h('span', { class: 'row-mid' },
          els.subject = h('span', { class: 'row-subject' }),
          els.tags = h('span', { class: 'row-tags' })),
        els.snippet = h('span', { class: 'row-snippet' })));
    li._els = els;
    li._sig = '';
    return li;
  }

  fill(li, s, i) {
    li.setAttribute('aria-posinset', String(i + 1));
    li.setAttribute('aria-setsize', String(this.total));
    const sig = s ? `${s.ID}|${s._v}|${this.tick}|${s.ID === this.selectedId}|${s.ID === this.openId}` : 'loading';
    if (li._sig === sig && !this.fresh.has(s && s.ID)) return;
    li._sig = sig;
    const e = li._els;
    if (!s) {
      li.className = 'row loading';
      e.link.removeAttribute('href');
      e.link.removeAttribute('title');
      e.link.removeAttribute('aria-current');
      e.link.dataset.id = '';
      for (const k of ['status', 'from', 'size', 'time', 'subject', 'snippet']) e[k].textContent = '';
      e.tags.replaceChildren();
      e.clip.classList.add('hidden');
      return;
    }
    let cls = 'row';
    if (!s.Read) cls += ' unread';
    if (s.ID === this.selectedId) cls += ' selected';
    if (s.ID === this.openId) cls += ' open';
    if (this.fresh.has(s.ID)) cls += ' fresh';
    li.className = cls;
    e.link.href = this.hrefFor(s.ID);
    e.link.dataset.id = s.ID;
    if (s.ID === this.openId) e.link.setAttribute('aria-current', 'true');
    else e.link.removeAttribute('aria-current');

    const to = fmt.addrList(s.To);
    let tip = 'From: ' + fmt.addr(s.From) + '\nTo: ' + (to || '(none)');
    if (s.Cc && s.Cc.length) tip += '\nCc: ' + fmt.addrList(s.Cc);
    if (s.Bcc && s.Bcc.length) tip += '\nBcc: ' + fmt.addrList(s.Bcc);
    e.link.title = tip;
    e.status.textContent = s.Read ? '' : 'Unread, ';
    e.from.textContent = fmt.addrShort(s.From) || '(no sender)';
    e.subject.textContent = s.Subject || '(no subject)';
    e.subject.classList.toggle('none', !s.Subject);
    e.snippet.textContent = s.Snippet || '';
    e.size.textContent = fmt.size(s.Size);
    const d = new Date(s.Created);
    e.time.textContent = fmt.relative(d);
    e.time.dateTime = s.Created || '';
    e.time.title = 'Received ' + fmt.full(d);
    e.clip.classList.toggle('hidden', !(s.Attachments > 0));
    if (s.Attachments > 0) e.clip.setAttribute('aria-label', `${s.Attachments} attachment${s.Attachments > 1 ? 's' : ''}`);
    const tags = s.Tags || [];
    e.tags.replaceChildren(...tags.slice(0, 3).map((t) => h('span', { class: 'tag ' + tagClass(t), text: t })));
  }

  // --- fetching ------------------------------------------------------------

  scheduleFetch() {
    if (this.fetchTimer) return;
    this.fetchTimer = setTimeout(() => {
      this.fetchTimer = 0;
      this.fetchVisible();
    }, 40);
  }

  fetchVisible() {
    const { first, last } = this.visibleRange();
    const a = Math.max(0, first - OVERSCAN);
    const b = Math.min(this.total - 1, last + OVERSCAN);
    for (let p = a - (a % PAGE); p <= b; p += PAGE) {
      let need = false;
      for (let i = Math.max(p, a); i <= Math.min(p + PAGE - 1, b) && !need; i++) need = !this.cache.has(this.keyOf(i));
      if (need) this.fetchPage(p);
    }
  }

  async fetchPage(start) {
    if (this.inflight.has(start) || this.inflight.size >= 3) return;
    const gen = this.gen;
    const epoch = this.epoch;
    this.inflight.add(start);
    try {
      const res = await api.list({ query: this.query, start, limit: PAGE });
      if (gen !== this.gen) return;
      if (epoch !== this.epoch) {
        // A deletion shifted positions while this page was on its way: fetch again.
        this.schedule();
        return;
      }
      this.applyPage(res, start, false);
      this.schedule();
      this.onChange();
    } catch (err) {
      if (gen === this.gen) this.onError(err);
    } finally {
      if (gen === this.gen) this.inflight.delete(start);
    }
  }
}

/** tagClass picks one of eight tag colours from the tag's name. */
export function tagClass(t) {
  let x = 0;
  for (const c of t) x = (x * 31 + c.codePointAt(0)) >>> 0;
  return 'tag-c' + (x % 8);
}
