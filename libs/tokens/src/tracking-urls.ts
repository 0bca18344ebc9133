import { EventKind, LinkRole } from '@winnow/proto';
import { sealToken, type Keyring } from './token-codec';

/** What every token of one message carries. */
export interface MessageRef {
  tenant: string;
  campaign: string;
  message: string;
  /** When the mail was prepared, seconds since the epoch, as a decimal string. */
  sentAtUnixS: string;
  /** Tracked links in the message, the trap link included. */
  links: number;
  /** The recipient's mail domain, never the address; optional. */
  recipientDomain?: string;
}

/** The path of a message's open pixel: `/o/<token>.gif`. */
export function pixelPath(keyring: Keyring, message: MessageRef): string {
  return `/o/${sealToken(keyring, { ...message, kind: EventKind.OPEN })}.gif`;
}

/** The path of a tracked link: `/c/<token>`; the target travels sealed inside the token. */
export function clickPath(keyring: Keyring, message: MessageRef, linkIndex: number, role: LinkRole, targetUrl: string): string {
  return `/c/${sealToken(keyring, { ...message, kind: EventKind.CLICK, linkIndex, linkRole: role, targetUrl })}`;
}
