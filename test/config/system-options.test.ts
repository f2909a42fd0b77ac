/**
 * The System's options that come from the configuration are mapped in one place
 * (system-parts.ts `configuredOptions`), which both `npm start` (bootstrap.ts) and the test
 * and bench builder (system-definitions.ts) spread: a setting such as
 * SWITCHYARD_SESSION_SUMMARIZER reaches the System either way.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { configuredOptions } from '../../src/system-parts.js';

describe('the options a System takes from the configuration', () => {
  it('carry every setting given, the session summarizer and the egress rules among them', () => {
    const config = loadConfig({
      SWITCHYARD_PREFIX: '{opts}',
      SWITCHYARD_SESSION_SUMMARIZER: 'summarizer',
      SWITCHYARD_RETENTION_SECONDS: '1234',
    });
    const opts = configuredOptions(config);
    expect(opts).toMatchObject({ prefix: '{opts}', sessionSummarizer: 'summarizer', retentionSeconds: 1234, egress: config.egress, bounds: config.bounds });
    expect(opts.credentials).toBe(config);
  });
});
