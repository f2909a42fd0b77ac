/**
 * A rerun's workflow: the definition a finished run executed, in which every step not downstream
 * of the step it reruns from (and that succeeded) reuses its recorded output, and that step gets
 * the feedback given (with its previous answer). It is stored as a definition of its own.
 */
import { ValidationError } from '../errors/index.js';
import type { CompiledWorkflow } from '../kinds/definition.js';
import type { RunRecord, StepRecord } from '../model/run.js';

/** What a rerun reads of the run it reruns. */
export type RerunSource = Pick<RunRecord, 'status' | 'input'> & { steps: StepRecord[]; definition?: CompiledWorkflow | undefined };

/** The workflow of a rerun of `runId` (see Submissions.rerun): its own definition (reused outputs, feedback), stored as such. */
export function rerunWorkflow(
  runId: string,
  old: RerunSource,
  def: CompiledWorkflow,
  req: { fromStep: string; feedback?: string | undefined },
): CompiledWorkflow {
  const ids = def.steps.map((s) => s.id);
  if (!ids.includes(req.fromStep)) {
    const message = `"${req.fromStep}" is not a step of the run's workflow; its steps: ${ids.join(', ')}`;
    throw new ValidationError(message, [{ path: 'fromStep', message }]);
  }
  const dependents = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const s of def.steps) for (const d of s.dependsOn) dependents.get(d)?.push(s.id);
  const again = new Set<string>();
  const downstream = (id: string): void => {
    if (again.has(id)) return;
    again.add(id);
    for (const d of dependents.get(id) ?? []) downstream(d);
  };
  downstream(req.fromStep);
  // A step upstream that did not succeed has nothing to reuse: it runs again, with what needs it.
  const records = new Map(old.steps.map((s) => [s.stepId, s]));
  for (const s of def.steps) if (records.get(s.id)?.status !== 'succeeded') downstream(s.id);
  const from = def.steps.find((s) => s.id === req.fromStep)!;
  if (req.feedback !== undefined && from.kind !== 'agent') {
    const message = `feedback goes to an agent step; "${from.id}" is a ${from.kind} step`;
    throw new ValidationError(message, [{ path: 'feedback', message }]);
  }
  const steps = def.steps.map((s) => {
    if (!again.has(s.id)) {
      const r = records.get(s.id)!;
      return { ...s, reuse: { runId, output: r.output, ...(r.input !== null ? { input: r.input } : {}) } };
    }
    if (s.id === req.fromStep && s.kind === 'agent' && req.feedback !== undefined)
      return { ...s, feedback: { text: req.feedback, previousOutput: records.get(s.id)?.output ?? null } };
    return s;
  });
  return { ...def, steps, source: def.source === 'agent' ? 'rerun' : def.source };
}
