/**
 * The workflow's own fields: its `output` names known steps, its input defaults fit their
 * types, and a schedule has a valid cron, an input that fits, and an id (`flow.<name>`) within
 * the bounds.
 */
import { ValidationError } from '../../errors/index.js';
import { cronProblem } from '../../lang/cron.js';
import { FLOW_SCHEDULE_PREFIX, SCHEDULE_ID_MAX_LENGTH, ScheduleId } from '../../model/schedule.js';
import { fieldValueSchema, validateInputFields } from '../input.js';
import { formatPath } from './issues.js';
import type { CompileState } from './state.js';

export function workflowPass(state: CompileState): void {
  const { wf, issues } = state;
  wf.output?.forEach((id, i) => {
    if (!state.byId.has(id)) issues.push({ path: `output[${i}]`, message: `unknown step "${id}" in output; steps: ${state.ids.join(', ')}` });
  });
  for (const [name, field] of Object.entries(wf.input)) {
    if (field.default !== undefined && !fieldValueSchema(field.type).safeParse(field.default).success) {
      issues.push({ path: formatPath(['input', name, 'default']), message: `default does not match type ${field.type}` });
    }
  }
  if (wf.schedule) scheduleChecks(state, wf.schedule);
}

function scheduleChecks(state: CompileState, schedule: NonNullable<CompileState['wf']['schedule']>): void {
  const { wf, issues } = state;
  // Its scheduler is `flow.<name>`, which must itself be a valid ScheduleId (at most 100 characters).
  if (!ScheduleId.safeParse(`${FLOW_SCHEDULE_PREFIX}${wf.name}`).success) {
    const max = SCHEDULE_ID_MAX_LENGTH - FLOW_SCHEDULE_PREFIX.length;
    issues.push({
      path: 'name',
      message: `a scheduled workflow's name may be at most ${max} characters (this one has ${wf.name.length}), because its schedule id is "${FLOW_SCHEDULE_PREFIX}<name>" (at most ${SCHEDULE_ID_MAX_LENGTH})`,
    });
  }
  const cron = cronProblem(schedule.cron);
  if (cron) issues.push({ path: 'schedule.cron', message: cron });
  try {
    validateInputFields(wf.input, schedule.input, 'schedule.input');
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    issues.push(...err.issues);
  }
}
