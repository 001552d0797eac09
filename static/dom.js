// DOM helpers. Every string passed here ends up as a text node or an attribute
// value set through the DOM, never parsed as HTML: this is how the inbox shows
// untrusted mail safely.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** $ returns the element with the given id. */
export const $ = (id) => document.getElementById(id);

/**
 * h creates an element. props: class, text, dataset, on<event> handlers, and any
 * other attribute (set with setAttribute; true means present, null/false absent).
 * Children may be nodes, strings (become text nodes), arrays, null or false.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'style') throw new Error('inline styles are not allowed');
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** clear removes every child of el. */
export function clear(el) {
  el.replaceChildren();
  return el;
}

/** icon returns an SVG that uses a symbol of the sprite in index.html. */
export function icon(name, cls = '') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', ('icon ' + cls).trim());
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const use = document.createElementNS(SVG_NS, 'use');
  use.setAttribute('href', '#i-' + name);
  svg.append(use);
  return svg;
}

/** setIcon changes the symbol an icon (or the first icon inside el) uses. */
export function setIcon(el, name) {
  const use = el.querySelector('use');
  if (use) use.setAttribute('href', '#i-' + name);
}

let toastTimer = 0;

/** toast shows a short status message (announced to screen readers). */
export function toast(text, kind = 'info') {
  const el = $('toast');
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, kind === 'error' ? 6000 : 2500);
}

/** isTyping tells whether keyboard focus is in a text field. */
export function isTyping(target) {
  const t = target;
  if (!t || !t.tagName) return false;
  return t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName);
}

/** copyText copies text to the clipboard, falling back to selecting it. */
export async function copyText(text, fallbackEl) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied to the clipboard');
  } catch {
    if (fallbackEl) {
      const range = document.createRange();
      range.selectNodeContents(fallbackEl);
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      toast('Press Ctrl+C to copy');
    }
  }
}
