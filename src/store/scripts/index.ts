/** The run-state scripts, one typed wrapper each (lua/ holds their source). */
export {
  createRun,
  DefinitionNotStoredError,
  type Admission,
  type CreateRunArgs,
  type CreateRunReply,
  type EnvelopeRead,
  type FairRequest,
} from './create-run.js';
export { gateDecide, type GateDecideReply, type GateDecision } from './gate-decide.js';
export { runFinish, stepsSettle, type RunFinishArgs, type RunFinishedFacts, type RunFinishReply, type SettledSteps } from './run-finish.js';
export { RUN_FIELDS, STEP_FIELDS, json, parseJson } from './script.js';
export { stepBegin, type StepBeginArgs, type StepBeginReply, type StepReading } from './step-begin.js';
export { stepCheckpoint, type RecordFields, type StepCheckpointArgs } from './step-checkpoint.js';
export { stepComplete, type ContextPublish, type StepCompleteArgs, type StepCompleteReply, type StepResult } from './step-complete.js';
export type { NewStep } from './step-plan.js';
export { stepProgress, type StepProgressArgs } from './step-progress.js';
export { stepDelta, type StepDeltaArgs } from './step-delta.js';
export { stepTransition, type StepTransition, type StepTransitionArgs, type StepTransitionReply } from './step-transition.js';
export { stepsAdd, type StepsAddArgs, type StepsAddReply } from './steps-add.js';
export { budgetReserve, budgetSettle, type BudgetReservation, type BudgetSettled, type EnvelopeAsk, type EnvelopeWarning, type HoldOwner } from './budget.js';
export { deliveryHolds, holdsRelease, type HoldsSelection } from './holds-release.js';
export { stepFeedback, type StepFeedbackReply } from './step-feedback.js';
export { agentPut } from './agent-put.js';
export { apiRateTake } from './api-rate.js';
export { fairTurns } from './fair-turns.js';
export { wsRunAdmit, wsStepTake } from './workspace-caps.js';
export { conversationPut } from './conversation-put.js';
export { sealedSwap } from './sealed-swap.js';
export { outputEmit, type OutputEmitArgs, type OutputEmitReply } from './output-emit.js';
export { contextDraft, type ContextDraftArgs, type ContextDraftReply } from './context-draft.js';
