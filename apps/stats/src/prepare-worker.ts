/**
 * The worker thread behind `EmailPreparer`: prepares one mail (parses the HTML, seals a token per
 * link, splices them in). Runs under piscina; loaded from the built file (dist/prepare-worker.js).
 */
import { PrepareError, prepareEmail, type PrepareOptions, type PreparedEmail } from '@winnow/mail';
import { Keyring } from '@winnow/tokens';

/** prepareEmail's options, with the keyring as data: the sealing key travels to the worker by copy, inside this process. */
export type PrepareTask = Omit<PrepareOptions, 'keyring'> & {
  html: string;
  keys: Array<{ id: string; secret: Uint8Array }>;
  sealingKeyId: string | undefined;
};

/** A mail the caller got wrong is an answer, not a thrown error (its class would not cross the thread). */
export type PrepareOutcome = { ok: true; prepared: PreparedEmail } | { ok: false; problem: string };

export default function prepare(task: PrepareTask): PrepareOutcome {
  const { html, keys, sealingKeyId, ...opts } = task;
  try {
    return { ok: true, prepared: prepareEmail(html, { ...opts, keyring: new Keyring(keys, sealingKeyId) }) };
  } catch (err) {
    if (err instanceof PrepareError) return { ok: false, problem: err.message };
    throw err;
  }
}
