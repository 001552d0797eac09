// Runs the npm clients of MailHog's and Mailpit's APIs against letterbox, one phase at a time
// (node npmclients.js PHASE), and prints what they returned as JSON for npm_test.go to check.
// LETTERBOX_HOST, LETTERBOX_PORT: the HTTP server. The packages come from NODE_PATH.
'use strict';

const host = process.env.LETTERBOX_HOST;
const port = Number(process.env.LETTERBOX_PORT);
const mailhog = require('mailhog')({ host, port });
const { MailpitClient } = require('mailpit-api');
const mailpit = new MailpitClient(`http://${host}:${port}`);

const phases = {
  // The npm mailhog client: list, search, the helpers it adds, one delete, then all.
  async mailhog() {
    const list = await mailhog.messages();
    const item = list.items.find((m) => m.subject === 'With an attachment');
    const found = await mailhog.search('attachment', 'containing');
    const latest = await mailhog.latestTo('dev@example.com');
    const out = {
      total: list.total, count: list.count,
      size: item.Content.Size, subject: item.subject, from: item.from, to: item.to,
      text: item.text, attachments: item.attachments.map((a) => a.name),
      searchCount: found.count, latestTo: latest && latest.subject,
    };
    const one = list.items.find((m) => m.subject !== 'With an attachment');
    await mailhog.deleteMessage(one.ID);
    out.afterDeleteOne = (await mailhog.messages()).total;
    const res = await mailhog.deleteAll();
    out.deleteAllStatus = res.statusCode;
    out.afterDeleteAll = (await mailhog.messages()).total;
    return out;
  },
  // mailpit-api: info, list, chaos as its methods send it.
  async mailpit() {
    const info = await mailpit.getInfo();
    const list = await mailpit.listMessages();
    const before = await mailpit.getChaosTriggers();
    const set = await mailpit.setChaosTriggers({ Sender: { ErrorCode: 451, Probability: 100 } });
    return { messages: info.Messages, listed: list.messages_count, before, set };
  },
  async mailpitReset() {
    const reset = await mailpit.setChaosTriggers();
    const deleted = await mailpit.deleteMessages();
    const info = await mailpit.getInfo();
    return { reset, deleted, messages: info.Messages, rejected: info.RuntimeStats.SMTPRejected };
  },
  async mailpitOff() {
    try {
      await mailpit.getChaosTriggers();
      return { error: '' };
    } catch (err) {
      return { error: err.message };
    }
  },
};

phases[process.argv[2]]().then(
  (out) => { process.stdout.write(JSON.stringify(out)); },
  (err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); },
);
