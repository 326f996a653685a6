// The public API of warden: named re-exports only.

export {
  type ChildSpec,
  type ChildState,
  type ChildStatus,
  type Clock,
  createSupervisor,
  type RestartType,
  type SessionChildSpec,
  Supervisor,
  type SupervisorChildSpec,
  type SupervisorEventMap,
  type SupervisorOptions,
  type SupervisorSnapshot,
} from './actors/supervisor.js';
export {
  type Connector,
  type ConnectorFactory,
  defineConnector,
  isSession,
  type ReconnectHandle,
  type RunOutcome,
  type Session,
  type SessionContext,
} from './core/connector.js';
export { type ErrorCode, ErrorCodes, isWardenError, WardenError } from './core/errors.js';
export {
  createFailureReport,
  type FailureKind,
  type FailurePhase,
  type FailureReport,
} from './core/failure.js';
export {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  FRESH_BUDGET,
  type RandomSource,
  type RetryBudget,
  type RetryDecision,
  type RetryPolicy,
  type RetryPolicyInput,
  RetryPolicySchema,
  recordFailure,
  resolveRetryPolicy,
} from './core/retry.js';
export { describeIssues, type ValidationIssue } from './core/validate.js';
export {
  type AttemptCommand,
  type AttemptEvent,
  type AttemptInput,
  attemptLogic,
} from './machines/attempt.js';
export {
  type SessionCommand,
  type SessionContextData,
  type SessionEvent,
  type SessionInput,
  type SessionOutput,
  type SessionState,
  sessionMachine,
} from './machines/session.js';
export {
  type ChildExit,
  type Intensity,
  type Strategy,
  type SupervisorEvent,
  type SupervisorMachineInput,
  type SupervisorOps,
  type SupervisorOutput,
  supervisorMachine,
} from './machines/supervisor.js';
