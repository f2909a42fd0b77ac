// A streaming step's text as it arrives (`step.delta {attempt, text}`, live only: never
// replayed, so a page opened mid-answer shows the text from then on). Kept per step for its
// latest attempt (a retried attempt's text is dropped), and shown under the run's panels
// while the step runs; once it has finished, its output is in the step's detail.
import { el } from './api.js';

/** Add a delta to `streams` (stepId -> {attempt, text}); true when it was kept. */
export function applyDelta(streams, event) {
  const { attempt, text } = event.data ?? {};
  if (!event.stepId || typeof text !== 'string') return false;
  const now = streams.get(event.stepId);
  if (now && now.attempt > attempt) return false;
  streams.set(event.stepId, now && now.attempt === attempt ? { attempt, text: now.text + text } : { attempt, text });
  return true;
}

/** The text streaming now of `step` (the one selected) or else of the first running step that streams; or nothing. */
export function drawStreaming(run, step, streams) {
  const running = [step, ...run.steps].find((s) => s?.status === 'running' && streams.get(s.stepId)?.attempt === s.attempts);
  if (!running) return '';
  const stream = streams.get(running.stepId);
  return el(
    'section',
    { class: 'streaming', id: 'streaming', 'data-step': running.stepId },
    el('h3', {}, `Streaming: ${running.stepId} (attempt ${stream.attempt})`),
    el('pre', { id: 'streaming-text' }, stream.text),
  );
}

/**
 * Show a delta without drawing the page again: the text shown grows in place. When no step's
 * text is shown yet, the page is drawn again (it may show this one now); a delta of another
 * step than the one shown changes nothing on the page.
 */
export function showDelta(streams, event, redraw) {
  const shown = document.getElementById('streaming')?.dataset.step;
  if (shown === undefined) redraw();
  else if (shown === event.stepId) document.getElementById('streaming-text').textContent = streams.get(event.stepId).text;
}
