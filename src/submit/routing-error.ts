/** No agent could be chosen for a capability: the request is refused (422), naming why for each candidate. */
import { ValidationError } from '../errors/index.js';
import type { RoutingCandidate } from '../model/routing.js';

export class RoutingError extends ValidationError {
  constructor(
    message: string,
    /** The agents that declare the capability, each with why it was excluded. */
    readonly candidates: RoutingCandidate[],
  ) {
    super(
      message,
      candidates.map((c) => ({ path: `capability.candidates.${c.agent}`, message: c.excluded ?? (c.healthy ? 'eligible' : c.problems.join('; ')) })),
    );
  }
}
