import { Source } from '@winnow/proto';
import { FINALIZER } from './tracking-domain.decision';
import { sameJson, setConditions, type Condition, type ConditionInput } from './conditions';

export type SelectionMode = 'AllAutomated' | 'Sources' | 'None';

export interface SuppressionSettingResource {
  name: string;
  uid: string;
  generation: number;
  creationTimestamp: string;
  deletionTimestamp?: string;
  finalizers: string[];
  spec: { tenant: string; opens?: { mode?: SelectionMode; sources?: string[] }; clicks?: { mode?: SelectionMode; sources?: string[] } };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

/** The policy in the shape of winnow.config.v1.SuppressionPolicy. */
export interface PolicyShape {
  tenant: string;
  opens: { allAutomated: boolean; sources: Source[] };
  clicks: { allAutomated: boolean; sources: Source[] };
}

export type SuppressionAction =
  | { kind: 'addFinalizer' }
  | { kind: 'removeFinalizer' }
  | { kind: 'pushPolicy'; policy: PolicyShape }
  | { kind: 'writeStatus'; status: { observedGeneration: number; conditions: Condition[] } };

const SOURCES: Record<string, Source> = {
  apple_mpp: Source.APPLE_MPP,
  gmail_prefetch: Source.GMAIL_PREFETCH,
  yahoo_proxy: Source.YAHOO_PROXY,
  security_scanner: Source.SECURITY_SCANNER,
  link_preview: Source.LINK_PREVIEW,
  client_helper: Source.CLIENT_HELPER,
  bot: Source.BOT,
};

function selection(sel: { mode?: SelectionMode; sources?: string[] } | undefined): { allAutomated: boolean; sources: Source[] } | string {
  const mode = sel?.mode ?? 'AllAutomated';
  if (mode === 'AllAutomated') return { allAutomated: true, sources: [] };
  if (mode === 'None') return { allAutomated: false, sources: [] };
  const out: Source[] = [];
  for (const s of sel?.sources ?? []) {
    const v = SOURCES[s];
    if (v === undefined) return `unknown source ${JSON.stringify(s)}`;
    out.push(v);
  }
  return out.length > 0 ? { allAutomated: false, sources: out } : 'mode Sources needs at least one source';
}

/** The default policy (leave out every automated source), what a deleted setting leaves behind. */
export const defaultPolicy = (tenant: string): PolicyShape => ({ tenant, opens: { allAutomated: true, sources: [] }, clicks: { allAutomated: true, sources: [] } });

/**
 * What to do for a SuppressionSetting. One setting per tenant: when several name the same tenant,
 * the oldest applies and the others report `DuplicateTenant`.
 */
export function decideSuppressionSetting(resource: SuppressionSettingResource, all: readonly SuppressionSettingResource[], now: string): SuppressionAction[] {
  const r = resource;
  const actions: SuppressionAction[] = [];
  const sameTenant = all
    .filter((s) => s.spec.tenant === r.spec.tenant && !s.deletionTimestamp)
    .sort((a, b) => a.creationTimestamp.localeCompare(b.creationTimestamp) || a.uid.localeCompare(b.uid));
  if (r.deletionTimestamp) {
    if (!r.finalizers.includes(FINALIZER)) return [];
    const successor = sameTenant.find((s) => s.uid !== r.uid);
    // Hand over to the next setting of the tenant if there is one, else back to the default.
    if (!successor) actions.push({ kind: 'pushPolicy', policy: defaultPolicy(r.spec.tenant) });
    actions.push({ kind: 'removeFinalizer' });
    return actions;
  }
  if (!r.finalizers.includes(FINALIZER)) actions.push({ kind: 'addFinalizer' });
  const conds: ConditionInput[] = [];
  const opens = selection(r.spec.opens);
  const clicks = selection(r.spec.clicks);
  if (sameTenant[0] && sameTenant[0].uid !== r.uid) {
    conds.push({ type: 'Ready', status: 'False', reason: 'DuplicateTenant', message: `${sameTenant[0].name} already sets the policy of tenant ${r.spec.tenant}` });
  } else if (typeof opens === 'string' || typeof clicks === 'string') {
    conds.push({ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: typeof opens === 'string' ? `opens: ${opens}` : `clicks: ${clicks as string}` });
  } else {
    actions.push({ kind: 'pushPolicy', policy: { tenant: r.spec.tenant, opens, clicks } });
    conds.push({ type: 'Ready', status: 'True', reason: 'PolicyApplied', message: '' });
  }
  const status = { observedGeneration: r.generation, conditions: setConditions(r.status?.conditions ?? [], conds, r.generation, now) };
  if (!sameJson(status, r.status ?? {})) actions.push({ kind: 'writeStatus', status });
  return actions;
}
