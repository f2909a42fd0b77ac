/**
 * Every command Redis receives for one single-step run and for one 3-step chain run, in order
 * (MONITOR on a Redis of its own, after a few warm-up runs): a script by its name, each other
 * command with its first key, and the connection that sent it (by its name). The round trips of
 * a run as ADR 005 lists them. `node --import tsx bench/probes/run-commands.ts`
 */
import type { Redis } from 'ioredis';
import { ownRedis } from '../../test/helpers/redis-server.js';
import { newRedis } from '../lib/redis.js';
import { scriptNames } from '../lib/script-names.js';
import { echoAgent, startSwitchyard } from '../lib/switchyard.js';

interface Seen {
  client: string;
  args: string[];
}

/** The commands sent while `round` runs (MONITOR), each with its client's name. */
async function monitored(redis: Redis, round: () => Promise<void>): Promise<Seen[]> {
  const seen: Seen[] = [];
  const monitor = await redis.monitor();
  monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ client: source, args }));
  await new Promise((r) => setTimeout(r, 50));
  await round();
  await new Promise((r) => setTimeout(r, 200));
  monitor.disconnect();
  const list = (await redis.client('LIST')) as string;
  const names = new Map(
    list
      .split('\n')
      .filter(Boolean)
      .map((l) => [/addr=(\S+)/.exec(l)?.[1] ?? '', /name=(\S*)/.exec(l)?.[1] ?? ''] as const),
  );
  return seen.map((s) => ({ ...s, client: names.get(s.client) || s.client }));
}

function show(title: string, seen: Seen[]): void {
  const names = scriptNames();
  const quiet = new Set(['info', 'client', 'ping', 'monitor']);
  const rows = seen.filter((s) => !quiet.has((s.args[0] ?? '').toLowerCase()));
  // BullMQ workers poll (bzpopmin/blocking moves): kept, they are part of the cost.
  console.log(`\n## ${title}: ${rows.length} commands`);
  for (const s of rows) {
    const cmd = (s.args[0] ?? '').toLowerCase();
    const what =
      cmd === 'evalsha' || cmd === 'eval'
        ? `${names.get(s.args[1] ?? '') ?? 'script?'} (${s.args.length - 3} keys+args)`
        : `${cmd} ${(s.args[1] ?? '').slice(0, 70)}`;
    console.log(`  [${s.client.slice(0, 28).padEnd(28)}] ${what}`);
  }
}

const own = await ownRedis({ aof: false });
const sy = await startSwitchyard({
  name: 'cmds',
  agents: { one: echoAgent(0, 8) },
  workflows: [
    {
      name: 'chain3',
      steps: [
        { id: 'a', agent: 'one', input: { task: 'a' } },
        { id: 'b', agent: 'one', input: { task: 'b' }, dependsOn: ['a'] },
        { id: 'c', agent: 'one', input: { task: 'c' }, dependsOn: ['b'] },
      ],
    },
  ],
  redisUrl: own.url,
});
const info = newRedis('probe-monitor', own.url);
try {
  const single = async () => {
    const { id } = await sy.system.api.submissions.submitAgentTask(sy.system.scope(), 'one', { task: 'hello' });
    await sy.finished(id);
  };
  for (let i = 0; i < 5; i++) await single();
  for (let i = 0; i < 2; i++) await sy.run('chain3');
  show('one single-step run', await monitored(info, single));
  show('one 3-step chain run', await monitored(info, async () => void (await sy.run('chain3'))));
} finally {
  await info.quit().catch(() => info.disconnect());
  await sy.close();
  await own.destroy();
}
