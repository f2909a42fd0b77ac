-- Finish a run once (the first caller wins).
-- With a status (cancel, failure), steps not yet finished end `cancelled`. With 'auto' (every
-- step's job is done: the root job settles the run), a step still live lost its job and ends
-- `failed`; the status follows from the failures (a required one → failed, optional ones →
-- partial_success, none → succeeded) and the output is read from the output steps. A run ended
-- `budget_exceeded` without an output given gets the outputs of its steps that succeeded (those
-- of its definition, not the steps they added), by step id. Sets
-- failedSteps, skippedSteps, the total usage, `run.finished`, and the retention TTL on every key
-- of the run and on its definition.
-- A run of at most COMPACT_MAX_STEPS steps none of which was running is then compacted into
-- its run hash (see keys.ts): no answer can arrive for it any more, and its step hashes, step
-- list, ref set and event list are deleted. A run with a step that was running keeps them (that
-- step's answer may still come, and is kept: see step-complete).
-- KEYS: run, steps, refs, events, outbox, queued runs, the run's holds, finish notices, the
--       workspace's subscriptions that take run.finished
-- ARGV: [1] status or 'auto', [2] output JSON, [3] error JSON, [4] now (ISO), [5] outbox on,
--       [6] retention seconds, [7] reason JSON given to steps that had not finished,
--       [8] step key prefix, [9] definition key prefix, [10] '' or, with 'auto', the steps as
--       the caller settled them (see finishRun's a.settled): [10] failed steps JSON, [11] skipped
--       ids JSON, [12] usage JSON, [13] number failed, [14] the first required step that failed ('')
-- Returns {1, status, {step id, its previous status, its agent ('' for none), ...} of the steps
-- it cancelled, the run's ref job ids, then afterFinish's holds and notice} when applied, {0, current status} when the run had
-- already finished ('missing' when there is no such run).
--@include finishRun
return finishRun({ KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9] }, {
  status = ARGV[1], output = ARGV[2], errorJson = ARGV[3], now = ARGV[4], outbox = ARGV[5] == '1',
  ttl = ARGV[6], reasonJson = ARGV[7], stepPrefix = ARGV[8], defPrefix = ARGV[9],
  settled = (ARGV[10] and ARGV[10] ~= '') and {
    failed = ARGV[10], skipped = ARGV[11], usage = ARGV[12], nFailed = tonumber(ARGV[13]),
    requiredFailed = ARGV[14] ~= '' and ARGV[14] or nil,
  } or nil,
})
