/**
 * The messages a newcomer meets first: each mistake gets a 4xx that says what is expected, not
 * a parser's or a schema library's words.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    name: 'messages',
    agents: { research: { provider: 'echo' } },
    pools: false,
    workflows: [{ name: 'brief', steps: [{ id: 'only', agent: 'research', input: { task: 'x' } }] }],
  });
});

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

describe('POST /v1/runs with a body of no accepted shape', () => {
  it('names the shapes it takes for {}', async () => {
    const res = await h.request('POST', '/v1/runs', {});
    expect(res.status).toBe(422);
    const { message } = res.body.error;
    expect(message).not.toContain('Invalid input');
    for (const shape of ['"agent"', '"workflow"', '"pattern"', '"sequential"']) expect(message).toContain(shape);
    expect(message).toContain('Closest: one agent on a task');
  });

  it('rewrites a seed-style {agent_type, task} into the closest shape, with its values', async () => {
    const res = await h.request('POST', '/v1/runs', { agent_type: 'research', task: 'AI agent trends' });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain('got "agent_type", "task"');
    expect(res.body.error.message).toContain('{"agent":"research","input":{"task":"AI agent trends"}}');
    const flow = await h.request('POST', '/v1/runs', { workflow_id: 'brief', input: {} });
    expect(flow.body.error.message).toContain('Closest: a workflow, by name or inline, e.g. {"workflow":"brief","input":{}}');
  });
});

describe('a workflow definition sent as the body itself', () => {
  it('is told to send it as {"workflow": <the definition>, "input": {}} (the suggested name named no stored workflow)', async () => {
    const definition = { name: 'my-flow', steps: [{ id: 'a', agent: 'research', input: { task: 't' } }] };
    const res = await h.request('POST', '/v1/runs', definition);
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain(`Closest: a workflow, by name or inline, e.g. ${JSON.stringify({ workflow: definition, input: {} })}`);
    // The suggestion works as it is.
    const fixed = await h.request('POST', '/v1/runs', { workflow: definition, input: {} });
    expect(fixed.status, JSON.stringify(fixed.body)).toBe(202);
    // A long definition is not repeated whole.
    const long = { name: 'long-flow', steps: Array.from({ length: 30 }, (_, i) => ({ id: `s${i}`, agent: 'research', input: { task: 't' } })) };
    const res2 = await h.request('POST', '/v1/runs', long);
    expect(res2.body.error.message).toContain('{"workflow":{"name":"long-flow","steps":"<your 30 steps>"},"input":{}}');
  });
});

describe('bodies that are not a JSON object', () => {
  it('says the body must be a JSON object for null, a string or an array (not "not valid JSON")', async () => {
    for (const [body, got] of [
      ['null', 'null'],
      ['"hello"', 'a string'],
      ['[1]', 'an array'],
    ] as const) {
      const res = await h.request('POST', '/v1/runs', body);
      expect(res.status, body).toBe(400);
      expect(res.body.error.message, body).toBe(`the body must be a JSON object ({...}); got ${got}`);
    }
    // Malformed JSON keeps its own message.
    const bad = await h.request('POST', '/v1/runs', '{"agent":');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('malformed_json');
  });

  it('answers 415 naming the content type for a body sent without a JSON one', async () => {
    const body = JSON.stringify({ agent: 'research', input: { task: 't' } });
    const form = await h.request('POST', '/v1/runs', body, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    expect(form.body.error.message).toContain('Content-Type: application/json (got application/x-www-form-urlencoded)');
    const none = await fetch(`${h.baseUrl}/v1/runs`, { method: 'POST', body: new Blob([body]) });
    expect(none.status).toBe(415);
    expect(((await none.json()) as { error: { message: string } }).error.message).toContain('no Content-Type was sent');
    const schedule = await h.request('PUT', '/v1/schedules/form', 'workflow=brief&cron=0+9+*+*+1', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(schedule.status).toBe(415);
  });

  it('still takes a POST without a body where none is needed', async () => {
    const run = await h.request('POST', '/v1/runs', { agent: 'research', input: { task: 't' } });
    expect(run.status).toBe(202);
    expect((await h.request('POST', `/v1/runs/${run.body.id}/cancel`)).status).toBe(200);
  });
});

describe('fields and parameters', () => {
  it('says an empty idempotencyKey must not be empty (not that it has spaces)', async () => {
    const res = await h.request('POST', '/v1/runs', { agent: 'research', input: { task: 't' }, idempotencyKey: '' });
    expect(res.status).toBe(422);
    expect(res.body.error.issues).toEqual([{ path: 'idempotencyKey', message: 'must not be empty (omit it for none)' }]);
    const spaced = await h.request('POST', '/v1/runs', { agent: 'research', input: { task: 't' }, idempotencyKey: 'a b' });
    expect(spaced.body.error.issues).toEqual([{ path: 'idempotencyKey', message: 'must not contain spaces' }]);
  });

  it('refuses query parameters a POST route does not take, naming them, as GET routes do', async () => {
    const res = await h.request('POST', '/v1/runs?dry=true', { agent: 'research', input: { task: 't' } });
    expect(res.status).toBe(422);
    expect(res.body.error.issues).toEqual([{ path: 'query.dry', message: expect.stringContaining('POST /v1/runs takes wait') }]);
    // wait (submit and wait) is a number of seconds, not a flag.
    const flag = await h.request('POST', '/v1/runs?wait=true', { agent: 'research', input: { task: 't' } });
    expect(flag.body.error.issues).toEqual([{ path: 'query.wait', message: expect.stringContaining('must be a number of seconds from 0 to 60') }]);
    const get = await h.request('GET', '/v1/runs?wait=true');
    expect(get.status).toBe(422);
    expect(get.body.error.issues[0].path).toContain('query');
    expect((await h.request('POST', '/v1/workflows/validate?dry=1', { name: 'x', steps: [] })).status).toBe(422);
  });

  it('refuses an unknown query parameter on every route, GET ones included, naming it and what the route takes', async () => {
    const run = (await h.request('POST', '/v1/runs', { agent: 'research', input: { task: 't' } })).body.id as string;
    const routes: [string, string, unknown?][] = [
      ['GET', '/v1/runs'],
      ['GET', `/v1/runs/${run}`],
      ['GET', `/v1/runs/${run}/context`],
      ['GET', `/v1/runs/${run}/events`],
      ['POST', `/v1/runs/${run}/cancel`],
      ['POST', `/v1/runs/${run}/rerun`, { fromStep: 'task' }],
      ['POST', `/v1/runs/${run}/steps/task/approve`, {}],
      ['POST', `/v1/runs/${run}/steps/task/reject`, {}],
      ['POST', `/v1/runs/${run}/steps/task/feedback`, { rating: 5 }],
      ['POST', '/v1/chat/multi', { message: 'm', agents: ['research'] }],
      ['GET', '/v1/agents'],
      ['GET', '/v1/agents/research'],
      ['POST', '/v1/agents', { name: 'mine', provider: 'echo' }],
      ['PATCH', '/v1/agents/mine', { maxTokens: 10 }],
      ['DELETE', '/v1/agents/mine'],
      ['POST', '/v1/agents/research/test', { prompt: 'p' }],
      ['GET', '/v1/stats'],
      ['GET', '/v1/workflows'],
      ['GET', '/v1/workflows/brief'],
      ['POST', '/v1/workflows/validate', { name: 'x', steps: [] }],
      ['GET', '/v1/schedules'],
      ['GET', '/v1/schedules/nightly'],
      ['PUT', '/v1/schedules/nightly', { workflow: 'brief', cron: '0 9 * * 1' }],
      ['DELETE', '/v1/schedules/nightly'],
      ['GET', '/v1/limits'],
      ['POST', '/v1/limits/openai%2Fgpt-4o/resume'],
    ];
    for (const [method, path, body] of routes) {
      const res = await h.request(method, `${path}?bogus=1`, body);
      expect(res.status, `${method} ${path}`).toBe(422);
      expect(res.body.error.issues, `${method} ${path}`).toEqual([
        { path: 'query.bogus', message: expect.stringContaining(`unknown query parameter "bogus": ${method} `) },
      ]);
    }
    // What the route takes is named.
    const listing = await h.request('GET', '/v1/runs?bogus=1');
    expect(listing.body.error.message).toContain('takes include, status, workflow, agent, limit, cursor');
    expect((await h.request('GET', '/v1/workflows?bogus=1')).body.error.message).toContain('GET /v1/workflows takes none');
    // The parameters a route takes still work.
    expect((await h.request('GET', `/v1/runs/${run}?include=definition`)).status).toBe(200);
  });

  it('says a cron in words is not a cron pattern, with an example', async () => {
    const res = await h.request('PUT', '/v1/schedules/words', { workflow: 'brief', cron: 'every monday 9am' });
    expect(res.status).toBe(422);
    expect(res.body.error.issues[0].path).toBe('cron');
    expect(res.body.error.message).not.toContain('alias');
    expect(res.body.error.message).toContain('"every monday 9am" is not a cron pattern');
    expect(res.body.error.message).toContain('"0 9 * * 1" is every Monday at 09:00');
  });
});
