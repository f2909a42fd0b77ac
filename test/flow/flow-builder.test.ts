/** A run's flow without Redis: the ref ids its state records before its jobs are added are the refs of the flow built after. */
import type { FlowJob } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { buildRunFlow, refIdsOf } from '../../src/flow/flow-builder.js';
import type { CompiledStep } from '../../src/kinds/definition.js';

const step = (id: string, dependsOn: string[] = []) => ({ id, kind: 'agent', agent: 'a', dependsOn, optional: false }) as unknown as CompiledStep;

/** Every job id of ref jobs in `tree`. */
function refsIn(tree: FlowJob): string[] {
  return [...(tree.name === 'ref' ? [tree.opts!.jobId!] : []), ...(tree.children ?? []).flatMap(refsIn)];
}

const flow = (steps: CompiledStep[]) =>
  buildRunFlow({
    runId: 'run_x',
    workspaceId: 'default',
    steps,
    jobPolicy: () => ({ attempts: 1, backoff: { type: 'fixed', delayMs: 0, jitter: 0 } }),
    retentionSeconds: 60,
    keepCompletedJobs: 0,
    refSafetyDelayMs: 1000,
  });

describe('refIdsOf', () => {
  const shapes: Record<string, CompiledStep[]> = {
    'one step': [step('a')],
    chain: [step('a'), step('b', ['a']), step('c', ['b'])],
    'diamond with a cross-level edge and two sinks': [
      step('a'),
      step('b', ['a']),
      step('c', ['a']),
      step('d', ['b', 'c', 'a']),
      step('e', ['a', 'd']),
      step('f', ['c']),
    ],
  };
  for (const [name, steps] of Object.entries(shapes)) {
    it(`names exactly the ref jobs of the flow built for ${name}`, () => {
      const built = flow(steps);
      expect(new Set(refIdsOf('run_x', steps))).toEqual(new Set(built.refIds));
      expect(new Set(refsIn(built.tree))).toEqual(new Set(built.refIds));
      expect(refIdsOf('run_x', steps)).toHaveLength(built.refIds.length);
    });
  }
});
