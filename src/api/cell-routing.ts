/**
 * The API's services, routed to the cell of the workspace each call is for. Every method of
 * the services a route is given (submissions, queries, actions, workspace agents, schedules)
 * takes the request's scope first, and the scope names its cell (its tag): a call goes to that
 * cell's System (src/system.ts), whose queues, flow producer and run store are the cell's. With
 * one cell, the service itself.
 */
import type { System } from '../system.js';
import type { Scope } from '../store/scope.js';

/** `pick(system)`, each of whose method calls goes to the System of the cell its first argument (a scope) names. */
export function routedByScope<T extends object>(system: System, pick: (cell: System) => T): T {
  if (system.cells.length === 1) return pick(system);
  return new Proxy(pick(system), {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const scope = args[0] as Partial<Scope> | undefined;
        if (typeof scope?.tag !== 'string') throw new Error(`${String(prop)}: its first argument is no scope, so no cell to route it to`);
        const own = pick(system.forScope(scope as Scope));
        return (Reflect.get(own, prop) as (...a: unknown[]) => unknown).apply(own, args);
      };
    },
  });
}
