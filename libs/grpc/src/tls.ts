import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';

/**
 * Transport security between Winnow's services (docs/privacy.md, "Encrypted transport").
 * `off` is plain text (loopback, `npm start`); `tls` encrypts and lets clients check the server;
 * `mtls` also makes every server demand a client certificate signed by the same CA.
 */
export type TlsMode = 'off' | 'tls' | 'mtls';

export interface TlsSettings {
  mode: TlsMode;
  /** This process's certificate chain (PEM): the server's, and the client's under mTLS. */
  certFile: string;
  keyFile: string;
  /** The CA bundle (PEM) that peers' certificates are checked against. */
  caFile: string;
  /** The name clients expect in the server's certificate, when it is not the address's host. */
  serverName?: string | undefined;
  /** How often the files are read again (cert-manager renews them in place). */
  refreshMs: number;
}

export const PLAINTEXT: TlsSettings = { mode: 'off', certFile: '', keyFile: '', caFile: '', refreshMs: 60_000 };

/** A certificate or key file that cannot be used; the message names the file and what is wrong. */
export class TlsFileError extends Error {
  constructor(file: string, problem: string) {
    super(`TLS: ${file}: ${problem}`);
    this.name = 'TlsFileError';
  }
}

function read(file: string, what: string): Buffer {
  if (!file) throw new TlsFileError(`(no ${what} file)`, `a ${what} file is required with TLS on`);
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TlsFileError(file, `cannot read the ${what}: ${(err as Error).message}`);
  }
}

function certificate(file: string, what: string): X509Certificate {
  try {
    return new X509Certificate(read(file, what));
  } catch (err) {
    if (err instanceof TlsFileError) throw err;
    throw new TlsFileError(file, `is not a PEM certificate (${what}): ${(err as Error).message}`);
  }
}

/** What a process checked at start: the certificate it presents, if any. */
export interface TlsIdentity {
  subject: string;
  validTo: string;
}

/**
 * Reads the files once so that a wrong path, a key that does not match its certificate or an
 * expired certificate stops the process at start with a clear message, instead of failing every
 * handshake later. `needIdentity`: this process presents a certificate (servers; clients under mTLS).
 */
export function checkTlsFiles(t: TlsSettings, needIdentity: boolean): TlsIdentity | undefined {
  if (t.mode === 'off') return undefined;
  const needCa = t.mode === 'mtls' || !needIdentity;
  if (needCa) certificate(t.caFile, 'CA bundle');
  if (!needIdentity) return undefined;
  const cert = certificate(t.certFile, 'certificate');
  let key;
  try {
    key = createPrivateKey(read(t.keyFile, 'private key'));
  } catch (err) {
    if (err instanceof TlsFileError) throw err;
    throw new TlsFileError(t.keyFile, `is not a PEM private key: ${(err as Error).message}`);
  }
  if (!cert.checkPrivateKey(key)) throw new TlsFileError(t.keyFile, `does not belong to the certificate in ${t.certFile}`);
  if (Date.parse(cert.validTo) < Date.now()) throw new TlsFileError(t.certFile, `expired on ${cert.validTo}`);
  return { subject: cert.subject.replace(/\n/g, ', '), validTo: cert.validTo };
}

function identityProvider(t: TlsSettings): grpc.experimental.CertificateProvider {
  return new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: t.certFile,
    privateKeyFile: t.keyFile,
    refreshIntervalMs: t.refreshMs,
  });
}

function caProvider(t: TlsSettings): grpc.experimental.CertificateProvider {
  return new grpc.experimental.FileWatcherCertificateProvider({ caCertificateFile: t.caFile, refreshIntervalMs: t.refreshMs });
}

/**
 * Server credentials for the settings, after checking the files once (the certificate presented is
 * returned for the start-up log). The files are watched (grpc-js's FileWatcherCertificateProvider)
 * and new connections use what they hold now; connections already open keep theirs.
 */
export function serverCredentials(t: TlsSettings): { credentials: grpc.ServerCredentials; identity: TlsIdentity | undefined } {
  if (t.mode === 'off') return { credentials: grpc.ServerCredentials.createInsecure(), identity: undefined };
  const identity = checkTlsFiles(t, true);
  // grpc-js 1.14 hands this function's first argument to the credentials as the identity provider
  // and the second as the CA provider, whatever its declared names say; the mTLS test checks it.
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(
    identityProvider(t),
    (t.mode === 'mtls' ? caProvider(t) : null) as grpc.experimental.CertificateProvider,
    t.mode === 'mtls',
  );
  return { credentials, identity };
}

/** Channel credentials and options for a client under the settings. */
export function channelSecurity(t: TlsSettings): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  if (t.mode === 'off') return { credentials: grpc.credentials.createInsecure(), options: {} };
  checkTlsFiles(t, t.mode === 'mtls');
  const credentials = grpc.experimental.createCertificateProviderChannelCredentials(
    caProvider(t),
    t.mode === 'mtls' ? identityProvider(t) : null,
  );
  const options: grpc.ChannelOptions = t.serverName ? { 'grpc.ssl_target_name_override': t.serverName } : {};
  return { credentials, options };
}
