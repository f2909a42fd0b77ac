/** The pure parts of MCP tools: offered names, what a result says, approval rules. */
import { describe, expect, it } from 'vitest';
import { offeredNames, toolName } from '../../src/tools/mcp/names.js';
import { toOutcome } from '../../src/tools/mcp/outcome.js';
import { mcpApprovalRule as approvalRule } from '../../src/tools/approval.js';
import { McpServerSpec, ToolName } from '../../src/model/tool.js';
import { NonRetryableError } from '../../src/errors/index.js';

describe('the names MCP tools are offered under', () => {
  it('are <server>_<tool> with other characters made "_", valid for the providers', () => {
    expect(toolName('git', 'log.show')).toBe('git_log_show');
    expect(toolName('fs', 'read file/ü')).toBe('fs_read_file__');
    expect(ToolName.safeParse(toolName('fs', 'x'.repeat(100))).success).toBe(true);
  });

  it('are cut to 64 and made unique with a suffix, in the order the server lists its tools', () => {
    const long = 'a'.repeat(70);
    const names = offeredNames('srv', [`${long}1`, `${long}2`, 'x.y', 'x_y', 'x-y']);
    expect([...names.values()]).toEqual(['srv_' + 'a'.repeat(60), 'srv_' + 'a'.repeat(58) + '_2', 'srv_x_y', 'srv_x_y_2', 'srv_x-y']);
    for (const name of names.values()) expect(ToolName.safeParse(name).success).toBe(true);
  });
});

describe('what an MCP result says to the model', () => {
  it('joins text parts and summarizes the others', () => {
    const outcome = toOutcome({
      content: [
        { type: 'text', text: 'first' },
        { type: 'image', data: 'AAAA', mimeType: 'image/png' },
        { type: 'resource', resource: { uri: 'file:///a.txt', text: 'inline text' } },
        { type: 'resource', resource: { uri: 'file:///b.bin', blob: 'AAAA', mimeType: 'application/octet-stream' } },
        { type: 'resource_link', uri: 'file:///c', name: 'c' },
      ],
    });
    expect(outcome).toEqual({
      content: 'first\n[image: image/png, 3 bytes]\ninline text\n[resource: file:///b.bin, application/octet-stream]\n[resource link: file:///c (c)]',
    });
  });

  it('gives structured content as JSON when there is no other, and keeps isError', () => {
    expect(toOutcome({ content: [], structuredContent: { n: 1 } })).toEqual({ content: '{"n":1}' });
    expect(toOutcome({ content: [{ type: 'text', text: 'no' }], isError: true })).toEqual({ content: 'no', isError: true });
  });
});

describe('approval of an MCP tool call', () => {
  const spec = McpServerSpec.parse({
    command: 'x',
    approval: 'required',
    toolApproval: { read: 'never', pay: { when: 'args.amount > 100' } },
  });

  it("follows the tool's own rule, else the server's", () => {
    expect(approvalRule('s', spec, 'read')({})).toBe(false);
    expect(approvalRule('s', spec, 'delete')({})).toBe(true);
    expect(approvalRule('s', McpServerSpec.parse({ command: 'x' }), 'any')({})).toBe(false);
  });

  it('evaluates a when rule over the arguments, and asks a person when it cannot', () => {
    const pay = approvalRule('s', spec, 'pay');
    expect(pay({ amount: 50 })).toBe(false);
    expect(pay({ amount: 500 })).toBe(true);
    expect(pay('not an object')).toBe(false);
    // A text built past SWITCHYARD_MAX_RENDERED_BYTES cannot be evaluated: the call waits for a person.
    const big = approvalRule('s', McpServerSpec.parse({ command: 'x', approval: { when: 'args.s + args.s == ""' } }), 'any');
    expect(big({ s: 'x'.repeat(600_000) })).toBe(true);
    expect(big({ s: 'x' })).toBe(false);
  });

  it('refuses a when rule that does not parse, naming the server and the tool', () => {
    const bad = McpServerSpec.parse({ command: 'x', toolApproval: { pay: { when: 'amount >' } } });
    expect(() => approvalRule('s', bad, 'pay')).toThrow(NonRetryableError);
    expect(() => approvalRule('s', bad, 'pay')).toThrow(/^MCP server "s", tool "pay": approval when: /);
  });
});
