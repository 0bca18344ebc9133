/** The kubernetes-models class for an object (JSON-schema validators generated from the Kubernetes OpenAPI). */
export async function kubernetesModel(o: { apiVersion: string; kind: string }): Promise<new (data: unknown) => { validate(): void }> {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const path = group ? `kubernetes-models/${group}/${version}/${o.kind}` : `kubernetes-models/${version}/${o.kind}`;
  const mod = (await import(path)) as Record<string, new (data: unknown) => { validate(): void }>;
  return mod[o.kind]!;
}
