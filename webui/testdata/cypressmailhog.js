// Runs cypress-mailhog's own commands (its index.js, unchanged) against letterbox outside a
// browser: a small stand-in for Cypress gives it Cypress.Commands.add, Cypress.env/config and a
// cy whose request() makes the real HTTP request cy.request would (method, url, auth, body,
// failOnStatusCode) and whose commands chain with then(). Prints what the commands returned as
// JSON for npm_test.go. LETTERBOX_HOST, LETTERBOX_PORT: the HTTP server; NODE_PATH: the package.
'use strict';

const base = `http://${process.env.LETTERBOX_HOST}:${process.env.LETTERBOX_PORT}/`;

// chain wraps a promise as a Cypress chainable: then(fn) yields fn's result, a chainable unwrapped.
const chain = (p) => ({
  isChain: true,
  promise: p,
  then(fn) { return chain(p.then((v) => { const r = fn(v); return r && r.isChain ? r.promise : r; })); },
});

const commands = {};
global.Cypress = {
  env: () => undefined,
  config: (key) => ({ mailHogUrl: base, defaultCommandTimeout: 1, responseTimeout: 5000 })[key],
  Commands: { add(name, a, b) { commands[name] = typeof a === 'function' ? a : b; } },
};
global.cy = new Proxy({
  wrap: (v) => chain(Promise.resolve(v)),
  verifyUpcomingAssertions: (v) => chain(Promise.resolve(v)),
  request(opts) {
    const headers = {};
    if (opts.auth && opts.auth.user) {
      headers.Authorization = 'Basic ' + Buffer.from(`${opts.auth.user}:${opts.auth.pass}`).toString('base64');
    }
    let body;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['Content-Type'] = 'application/json';
    }
    return chain(fetch(opts.url, { method: opts.method || 'GET', headers, body }).then(async (res) => {
      const text = await res.text();
      if (opts.failOnStatusCode !== false && (res.status < 200 || res.status > 299)) {
        throw new Error(`cy.request ${opts.method} ${opts.url}: ${res.status} ${text}`);
      }
      let parsed = text;
      if ((res.headers.get('content-type') || '').includes('json')) parsed = JSON.parse(text);
      return { status: res.status, body: parsed };
    }));
  },
}, { get: (t, name) => t[name] || ((...args) => commands[name](...args)) });

require('cypress-mailhog');

const run = (c) => c.promise;

(async () => {
  const out = {};
  out.jimBefore = await run(cy.mhGetJimMode());
  out.setOnStatus = (await run(cy.mhSetJimMode(true))).status;
  out.jimOn = await run(cy.mhGetJimMode());
  out.setOnAgainStatus = (await run(cy.mhSetJimMode(true))).status;
  out.setOffStatus = (await run(cy.mhSetJimMode(false))).status;
  out.jimAfter = await run(cy.mhGetJimMode());
  out.mails = (await run(cy.mhGetAllMails())).length;
  out.deleteAllStatus = (await run(cy.mhDeleteAll())).status;
  out.mailsAfter = (await run(cy.mhGetAllMails())).length;
  process.stdout.write(JSON.stringify(out));
})().catch((err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });
