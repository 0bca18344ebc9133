import type { MessageInitShape } from '@bufbuild/protobuf';
import { EventKind, LinkRole, type TokenPayloadSchema } from '@winnow/proto';
import { sealToken, type Keyring } from './token-codec';

type Payload = Omit<MessageInitShape<typeof TokenPayloadSchema>, 'kind' | 'linkIndex' | 'linkRole' | 'targetUrl'>;

/** The path of a message's open pixel: `/o/<token>.gif`. */
export function pixelPath(keyring: Keyring, message: Payload): string {
  return `/o/${sealToken(keyring, { ...message, kind: EventKind.OPEN })}.gif`;
}

/** The path of a tracked link: `/c/<token>`; the target travels sealed inside the token. */
export function clickPath(keyring: Keyring, message: Payload, linkIndex: number, role: LinkRole, targetUrl: string): string {
  return `/c/${sealToken(keyring, { ...message, kind: EventKind.CLICK, linkIndex, linkRole: role, targetUrl })}`;
}
