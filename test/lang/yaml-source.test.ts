import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/index.js';
import { readYaml } from '../../src/lang/yaml-source.js';
import { thrownBy } from '../helpers/errors.js';

const TEXT = [
  'agents:', //                       1
  '  my-agent:', //                   2
  '    provider: echo', //            3
  '    rateLimit: { max: lots }', //  4
  'steps:', //                        5
  '  - id: a', //                     6
  '    parallel:', //                 7
  '      - "odd key": 1', //          8
  '',
].join('\n');

describe('readYaml', () => {
  const source = readYaml(TEXT, 'f.yaml');

  it('gives the plain value', () => {
    expect(source.value).toMatchObject({ agents: { 'my-agent': { provider: 'echo' } } });
  });

  it('locates a dotted path whose keys hold a dash, at the value', () => {
    expect(source.locate('agents.my-agent.rateLimit.max')).toEqual({ line: 4, col: 23 });
  });

  it('locates bracketed indexes and quoted keys', () => {
    expect(source.locate('steps[0].parallel[0]["odd key"]')).toEqual({ line: 8, col: 20 });
    expect(source.locate('steps.0.id')).toEqual({ line: 6, col: 9 });
  });

  it('falls back to the nearest parent of a missing key', () => {
    expect(source.locate('steps[0].agent')).toEqual({ line: 6, col: 5 });
    expect(source.locate('')).toEqual({ line: 1, col: 1 });
  });

  it('names the file, line and column of malformed YAML, and an empty file', () => {
    expect(thrownBy(ConfigError, () => readYaml('a:\n  - b\n c: [\n', 'bad.yaml')).message).toMatch(/^bad\.yaml:3:\d+: malformed YAML/);
    expect(thrownBy(ConfigError, () => readYaml('# nothing\n', 'empty.yaml')).message).toBe('empty.yaml: file is empty');
  });
});
