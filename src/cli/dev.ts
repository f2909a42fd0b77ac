/**
 * `switchyard dev`: the API and every worker pool in one process, with pretty logs, restarted
 * in place when the agents file or a workflow of flows/ changes. A change is checked first: a
 * broken file is reported and the running system kept. Otherwise the running system shuts down
 * as on SIGTERM (in-flight steps finish within SWITCHYARD_SHUTDOWN_TIMEOUT_MS; one cut short is
 * recovered by the new system's workers, as after any lost worker) and a new one boots.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { loadAgentsFile } from '../agents/registry.js';
import { boot, type Running } from '../bootstrap.js';
import { loadWorkflowsDir } from '../compile/loader.js';
import { loadConfig, type Config } from '../config/env.js';
import { ValidationError } from '../errors/index.js';
import { createLogger, type Logger } from '../logger.js';

/** Changes closer together than this are one reload (an editor saves in several writes). */
const SETTLE_MS = 300;

/** Watch the agents file (through its folder: editors replace files) and the flows folder; `onChange` with what changed. */
function watchDefinitions(config: Config, onChange: (what: string) => void, logger: Logger): FSWatcher[] {
  const agentsDir = path.dirname(path.resolve(config.agentsFile));
  const agentsName = path.basename(config.agentsFile);
  const watchers: FSWatcher[] = [];
  const add = (dir: string, accept: (file: string) => boolean) => {
    try {
      const w = watch(dir, (_event, file) => {
        if (file && accept(String(file))) onChange(path.join(dir, String(file)));
      });
      w.on('error', (err) => logger.warn({ err, dir }, 'stopped watching a folder'));
      watchers.push(w);
    } catch (err) {
      logger.warn({ err, dir }, 'cannot watch this folder: its changes will not reload');
    }
  };
  add(agentsDir, (file) => file === agentsName);
  add(path.resolve(config.flowsDir), (file) => /\.ya?ml$/i.test(file));
  return watchers;
}

/** Whether the agents file and flows/ load as they are now; logs why not. */
function definitionsLoad(config: Config, logger: Logger): boolean {
  try {
    const registry = loadAgentsFile(config.agentsFile, config);
    loadWorkflowsDir(config.flowsDir, registry.names(), config.bounds);
    return true;
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    logger.error(`not reloaded, the running version is kept: ${err.message}`);
    return false;
  }
}

/** Run the dev process until a signal; resolves with its exit code. */
export async function dev(env: Record<string, string | undefined>): Promise<number> {
  const config = loadConfig({ ...env, LOG_FORMAT: env.LOG_FORMAT ?? 'pretty' });
  const logger = createLogger(config.logLevel, { redactContent: config.logRedactContent, pretty: config.logFormat === 'pretty' });
  let running: Running | undefined = await boot(config, { api: true, workers: true }, logger);
  let timer: NodeJS.Timeout | undefined;
  const changed = new Set<string>();
  // One reload at a time: changes made while one runs start the next when it ends.
  let reloading: Promise<void> = Promise.resolve();

  const reload = async () => {
    const files = [...changed].map((f) => path.relative(process.cwd(), f) || f);
    changed.clear();
    if (!definitionsLoad(config, logger)) return;
    logger.info({ changed: files }, 'definitions changed: restarting (in-flight steps finish first)');
    const old = running;
    running = undefined;
    await old?.shutdown();
    // A restart that failed left nothing running: the next good change boots a system again.
    running = await boot(config, { api: true, workers: true }, logger);
  };
  const watchers = watchDefinitions(
    config,
    (file) => {
      changed.add(file);
      clearTimeout(timer);
      timer = setTimeout(() => {
        reloading = reloading.then(reload).catch((err: unknown) => {
          logger.error({ err }, 'the restart failed: fix the cause and save again, or stop with Ctrl-C');
        });
      }, SETTLE_MS);
    },
    logger,
  );
  logger.info({ watching: [config.agentsFile, config.flowsDir] }, 'dev mode: the agents file and flows/ reload on change');

  return new Promise<number>((resolve) => {
    let signals = 0;
    const stop = () => {
      if (++signals > 1) return resolve(1);
      clearTimeout(timer);
      for (const w of watchers) w.close();
      const hardStop = setTimeout(() => resolve(1), running?.hardStopMs ?? config.shutdownTimeoutMs + 15_000);
      hardStop.unref();
      reloading
        .then(() => running?.shutdown())
        .then(
          () => resolve(0),
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            resolve(1);
          },
        )
        .finally(() => clearTimeout(hardStop));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
