// Formatting of sizes, dates and addresses for display.

const units = ['B', 'kB', 'MB', 'GB'];

/** size formats a byte count: 512 B, 4.2 kB, 13 MB. */
export function size(n) {
  n = Number(n) || 0;
  let u = 0;
  while (n >= 1000 && u < units.length - 1) { n /= 1000; u++; }
  const s = u === 0 || n >= 10 ? Math.round(n).toString() : n.toFixed(1);
  return s + '\u00a0' + units[u];
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const yearFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
const fullFmt = new Intl.DateTimeFormat(undefined, {
  weekday: 'short', year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
});

/** relative formats a date for the list: "now", "5 min", "14:02", "Mar 3", "Mar 3, 2024". */
export function relative(d, now = Date.now()) {
  const t = d.getTime();
  if (!Number.isFinite(t)) return '';
  const s = Math.round((now - t) / 1000);
  if (s < 45) return 'now';
  if (s < 3600) return Math.max(1, Math.round(s / 60)) + '\u00a0min';
  const today = new Date(now);
  if (d.toDateString() === today.toDateString()) return timeFmt.format(d);
  const yesterday = new Date(now - 86400000);
  if (d.toDateString() === yesterday.toDateString()) return 'Yesterday';
  if (d.getFullYear() === today.getFullYear()) return dayFmt.format(d);
  return yearFmt.format(d);
}

/** full formats a date with seconds and time zone, for tooltips and headers. */
export function full(d) {
  return Number.isFinite(d.getTime()) ? fullFmt.format(d) : '';
}

/** addr formats one address: "Name <a@b>" or "a@b". */
export function addr(a) {
  if (!a) return '';
  if (a.Name && a.Address) return `${a.Name} <${a.Address}>`;
  return a.Name || a.Address || '';
}

/** addrShort is the display name, else the address. */
export function addrShort(a) {
  return (a && (a.Name || a.Address)) || '';
}

/** addrList joins addresses for a tooltip. */
export function addrList(list) {
  return (list || []).map(addr).join(', ');
}

/** quoteTerm returns value quoted for the search syntax when it needs quotes. */
export function quoteTerm(v) {
  return /[\s"]/.test(v) ? '"' + v.replaceAll('"', '') + '"' : v;
}
