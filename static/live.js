// The live connection: the /api/events websocket, reconnected with
// exponential backoff and jitter.

import { paths } from './api.js';

/**
 * Live keeps a websocket open and calls onEvent({Type, Data}) for each frame,
 * onState(state, detail) for 'connecting' | 'open' | 'waiting' (detail = ms)
 * and onReconnect() after a connection was lost and is back.
 */
export class Live {
  constructor({ onEvent, onState, onReconnect }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.onReconnect = onReconnect;
    this.attempt = 0;
    this.wasOpen = false;
    this.timer = 0;
    this.ws = null;
    document.addEventListener('visibilitychange', () => {
      // Come back at once when the tab becomes visible while waiting.
      if (!document.hidden && this.timer) { clearTimeout(this.timer); this.timer = 0; this.connect(); }
    });
    addEventListener('online', () => {
      if (this.timer) { clearTimeout(this.timer); this.timer = 0; this.connect(); }
    });
  }

  connect() {
    this.onState('connecting');
    let ws;
    try {
      ws = new WebSocket(paths.events());
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.onState('open');
      if (this.wasOpen) this.onReconnect();
      this.wasOpen = true;
    };
    ws.onmessage = (e) => {
      let ev;
      try { ev = JSON.parse(e.data); } catch { return; }
      if (ev && typeof ev.Type === 'string') this.onEvent(ev);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.retry();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  retry() {
    // 0.5 s, 1 s, 2 s ... up to 30 s, with ±25 % jitter.
    const base = Math.min(30000, 500 * 2 ** Math.min(this.attempt, 6));
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt++;
    this.onState('waiting', delay);
    this.timer = setTimeout(() => { this.timer = 0; this.connect(); }, delay);
  }
}
