// npm run -s bench:prepare
//
// PrepareEmail's own cost (libs/mail, on one core, in this process): milliseconds per mail for a
// campaign whose recipients each get a text of their own (a name in it: every mail is parsed) and
// for one whose recipients share the text (parsed until it has come twice, then its analysis is
// reused; only the tokens are new). BENCH_MAILS mails each way (default 400), a 50 KB mail with 31
// links (BENCH_LINKS), the median of three rounds.
import { randomBytes } from 'node:crypto';
import { analysisCounts, prepareEmail } from '../libs/mail/dist/index.js';
import { Keyring } from '../libs/tokens/dist/index.js';

const mails = Number(process.env.BENCH_MAILS ?? 400);
const linkCount = Number(process.env.BENCH_LINKS ?? 30);
const keyring = new Keyring([{ id: 'k1', secret: randomBytes(32) }], 'k1');
let rows = '';
for (let i = 0; i < linkCount; i++) {
  rows += `<tr><td style="padding:12px;font-family:Arial,sans-serif;font-size:14px;color:#333">Paragraph ${i} about your appointment, with <a href="https://clinic.example/info/${i}?utm_source=mail&amp;utm_campaign=dec">a link</a>. ${'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(25)}</td></tr>\n`;
}
const mail = (greeting) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>Reminder</title></head><body><p>${greeting}</p><table width="600">${rows}</table><p><a href="https://clinic.example/unsubscribe">Unsubscribe</a></p></body></html>`;
const opts = (i) => ({ keyring, baseUrl: 'https://links.clinic.example', tenant: 'clinic', campaign: 'dec', message: `m-${i}`, sentAtS: Math.floor(Date.now() / 1000) });

function msPerMail(textOf) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < mails; i++) prepareEmail(textOf(i), opts(i));
  return Number(process.hrtime.bigint() - t) / 1e6 / mails;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const own = [];
const shared = [];
const shared0 = mail('Dear patient,');
let round = 0;
for (; round < 3; round++) {
  own.push(msPerMail((i) => mail(`Dear reader ${round}-${i},`)));
  shared.push(msPerMail(() => shared0));
  console.error(`round ${round + 1}: own text ${own.at(-1).toFixed(2)} ms a mail, shared text ${shared.at(-1).toFixed(2)} ms a mail`);
}
const counts = analysisCounts();
console.log(
  JSON.stringify(
    {
      mailKiB: Math.round(shared0.length / 1024),
      links: linkCount + 1,
      mailsEachWay: mails,
      msPerMailOwnText: Number(median(own).toFixed(2)),
      msPerMailSharedText: Number(median(shared).toFixed(2)),
      mailsPerSecondOwnText: Math.round(1000 / median(own)),
      mailsPerSecondSharedText: Math.round(1000 / median(shared)),
      parsed: counts.parsed,
      reused: counts.reused,
    },
    null,
    2,
  ),
);
