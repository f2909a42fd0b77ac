/**
 * Collaboration patterns (seed 001's delegate/sequential/parallel/hierarchical/consensus, seed
 * 004's POST /chat/multi) as workflows: a request names a pattern and its tasks, and becomes an
 * inline workflow definition, compiled, stored and run like any other.
 *
 * - sequential: each task after the one before, given its output as `previous` in its context;
 *   `strict` (default): the first failure fails the run and cancels the rest; otherwise the
 *   tasks are optional, the run goes on and ends `partial_success`.
 * - parallel: all at once; the output is the list of results in order with each one's status
 *   (a `concat` step, `as: list`); not `strict` (default), a failure leaves the others.
 * - hierarchical: the main task's subtasks on specialists in parallel (each given the main task
 *   as `mainTask`), then one aggregation: `concat` (default), `merge` (their JSON outputs
 *   deep-merged, conflicts listed), `vote` (their outputs voted on, as consensus does) or
 *   `synthesize` (a synthesize step: an agent given every result as `inputs`).
 * - consensus: one `vote` step: the question to every agent (with `quorum`, it ends as soon as
 *   that many answers agree).
 */
import { PatternFields, type PatternRequest, type PatternTask } from '../model/pattern.js';

// The pattern schemas are vocabulary (src/model/pattern.ts); the API's schemas read them from here too.
export { PatternFields, type PatternRequest };

/** What a pattern request's fields cannot do together (one problem, at a field of the request). */
export function patternProblem(req: PatternRequest): { path: string; message: string } | undefined {
  if (req.pattern !== 'hierarchical') return undefined;
  if (req.aggregate === 'synthesize' && !req.synthesizer) return { path: 'synthesizer', message: 'aggregate: synthesize needs the synthesizer agent' };
  if (req.aggregate === 'vote' && req.tasks.length < 2) return { path: 'tasks', message: 'aggregate: vote needs at least 2 tasks (each answer is a vote)' };
  return undefined;
}

/** The steps a pattern becomes (definitions, as in flows/*.yaml), ids under `prefix` (`<prefix>-t1`...) when given, and the step whose output is the pattern's. */
export function patternSteps(req: PatternRequest, prefix?: string): { steps: Record<string, unknown>[]; output: string } {
  const name = (local: string) => (prefix ? `${prefix}-${local}` : local);
  const id = (i: number) => name(`t${i + 1}`);
  const taskStep = (t: PatternTask, i: number, extra: { context?: Record<string, unknown>; dependsOn?: string[]; optional?: boolean } = {}) => {
    const context = { ...t.context, ...extra.context };
    return {
      id: id(i),
      agent: t.agent,
      input: { task: t.task, ...(Object.keys(context).length ? { context } : {}) },
      dependsOn: extra.dependsOn ?? [],
      optional: extra.optional ?? false,
    };
  };
  switch (req.pattern) {
    case 'sequential':
      return {
        steps: req.tasks.map((t, i) =>
          taskStep(t, i, { optional: !req.strict, ...(i > 0 ? { dependsOn: [id(i - 1)], context: { previous: `{{steps.${id(i - 1)}.output}}` } } : {}) }),
        ),
        output: id(req.tasks.length - 1),
      };
    case 'parallel':
      return {
        steps: [
          ...req.tasks.map((t, i) => taskStep(t, i, { optional: !req.strict })),
          { id: name('results'), kind: 'concat', as: 'list', dependsOn: req.tasks.map((_, i) => id(i)) },
        ],
        output: name('results'),
      };
    case 'hierarchical': {
      const subtasks = req.tasks.map((t, i) => taskStep(t, i, { context: { mainTask: req.task } }));
      const ids = subtasks.map((s) => s.id);
      const aggregate = {
        concat: { id: name('aggregate'), kind: 'concat', dependsOn: ids },
        merge: { id: name('aggregate'), kind: 'merge', dependsOn: ids },
        vote: { id: name('aggregate'), kind: 'vote', of: ids, dependsOn: ids, minAgreement: req.minAgreement },
        synthesize: { id: name('synthesis'), kind: 'synthesize', agent: req.synthesizer ?? '', dependsOn: ids, input: { task: req.task } },
      }[req.aggregate];
      return { steps: [...subtasks, aggregate], output: aggregate.id };
    }
    case 'consensus':
      return {
        steps: [
          {
            id: name('vote'),
            kind: 'vote',
            question: { task: req.question },
            voters: req.agents.map((agent) => ({ agent })),
            minAgreement: req.minAgreement,
            ...(req.compare ? { compare: req.compare } : {}),
            ...(req.quorum !== undefined ? { quorum: req.quorum } : {}),
          },
        ],
        output: name('vote'),
      };
  }
}

/** The workflow definition (as in flows/*.yaml) a pattern request runs. */
export function patternWorkflow(req: PatternRequest): Record<string, unknown> {
  const { steps, output } = patternSteps(req);
  const description =
    req.pattern === 'sequential'
      ? `${req.tasks.length} tasks in sequence${req.strict ? ' (strict)' : ''}`
      : req.pattern === 'parallel'
        ? `${req.tasks.length} tasks in parallel`
        : req.pattern === 'hierarchical'
          ? `${req.task} (${req.tasks.length} subtasks, ${req.aggregate})`
          : `consensus of ${req.agents.length} agents`;
  return { name: `pattern-${req.pattern}`, description, steps, ...(req.pattern === 'consensus' ? {} : { output: [output] }) };
}
