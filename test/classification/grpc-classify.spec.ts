import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleLogger } from '@nestjs/common';
import { loadClassifierConfig } from '@winnow/config';
import { bearer, closeClient, createClient, type ClientOf } from '@winnow/grpc';
import { ClassifierService, Source } from '@winnow/proto';
import { Classifier, parseTraceLine, verdictLine } from '@winnow/classification';
import { sourceName } from '@winnow/engagement';
import { startClassifier } from '@winnow/classifier';
import type { RunningService } from '@winnow/observability';
import { edgeEventOf } from '@winnow/testing';

const KEY = 'classifier-test-service-key-0123456789';

describe('gRPC Classify', () => {
  let svc: RunningService;
  let client: ClientOf<typeof ClassifierService>;
  beforeAll(async () => {
    svc = await startClassifier(loadClassifierConfig({ WINNOW_CLASSIFIER_GRPC_PORT: '0', WINNOW_CLASSIFIER_HTTP_PORT: '0', WINNOW_STATS_ADDR: '127.0.0.1:1', WINNOW_SERVICE_KEY: KEY }), new ConsoleLogger({ logLevels: ['fatal'] }));
    client = createClient(ClassifierService, `127.0.0.1:${svc.ports.grpc}`, { metadata: bearer(KEY) });
  });
  afterAll(async () => {
    closeClient(client);
    await svc.close();
  });

  it('admits only the service key', async () => {
    const anon = createClient(ClassifierService, `127.0.0.1:${svc.ports.grpc}`);
    await expect(anon.classify({ events: [] })).rejects.toMatchObject({ code: 'unauthenticated' });
    closeClient(anon);
  });

  it('gives the same verdicts as the offline command for a whole trace', async () => {
    const lines = readFileSync(join(__dirname, '..', 'fixtures', 'examples.jsonl'), 'utf8').trim().split('\n');
    const traces = lines.map((l) => parseTraceLine(JSON.parse(l)));
    const offline = new Classifier().classify(traces).verdicts.map(verdictLine);
    const res = await client.classify({ events: traces.map(edgeEventOf) });
    expect(res.verdicts).toHaveLength(traces.length);
    res.verdicts.forEach((v, i) => {
      expect(v.eventId).toBe(traces[i]!.id);
      expect({ verdict: v.source === Source.HUMAN ? 'human' : 'automated', source: sourceName(v.source), confidence: v.confidence, reasons: v.reasons }).toEqual({
        verdict: offline[i]!['verdict'],
        source: offline[i]!['source'],
        confidence: offline[i]!['confidence'],
        reasons: offline[i]!['reasons'],
      });
      expect(v.rulesetVersion).toMatch(/^\d{4}\.\d+\.\d+$/);
    });
    // And the labels of the shared examples hold.
    const labels = lines.map((l) => JSON.parse(l).label.source as string);
    expect(res.verdicts.map((v) => sourceName(v.source))).toEqual(labels);
  });
});
