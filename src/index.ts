// The public API of warden: named re-exports only.

export {
  type EndpointInfo,
  EndpointRegistry,
  type RequestObserver,
} from './actors/endpoint-registry.js';
export { collect } from './actors/response-stream.js';
export {
  type ChildSpec,
  type ChildState,
  type ChildStatus,
  type Clock,
  createSupervisor,
  type RestartType,
  type SessionChildSpec,
  Supervisor,
  type SupervisorActor,
  type SupervisorChildSpec,
  type SupervisorEventMap,
  type SupervisorOptions,
  type SupervisorSnapshot,
} from './actors/supervisor.js';
export {
  type ReportHealthOptions,
  TransportServer,
  type TransportServerOptions,
} from './actors/transport-server.js';
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
  type EndpointStatus,
  type HealthReport,
  type ServerHealth,
  type ServerHealthInput,
  type SessionHealth,
  SystemHealth,
} from './core/health.js';
export {
  type CallOptions,
  type CallTarget,
  type EndpointHandler,
  type EndpointRegistration,
  endpointPath,
  INSTANCE_ID_PATTERN,
  NAME_PATTERN,
  newInstanceId,
  type RequestContext,
  type RequestPlaneClient,
  type RequestPlaneServer,
  type TransportName,
  type WireError,
} from './core/request-plane.js';
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
  type Discovery,
  type DiscoveryEvent,
  type DiscoveryPath,
  DiscoveryPathSchema,
  type InstanceRecord,
  InstanceRecordSchema,
  instanceKey,
  MemoryDiscovery,
  matchesPath,
  sameInstance,
  type WatchOptions,
} from './discovery/index.js';
export { createDashboard, type Dashboard, type DashboardOptions } from './inspect/dashboard.js';
export {
  machinesJson,
  machinesMarkdown,
  WARDEN_MACHINES,
  type WardenMachine,
} from './inspect/machines.js';
export { type MermaidOptions, toMermaid } from './inspect/mermaid.js';
export { createMetrics, type Metrics } from './inspect/metrics.js';
export {
  createStatusServer,
  type StatusServer,
  type StatusServerOptions,
  watchSupervisorHealth,
} from './inspect/status-server.js';
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
export {
  type TransportServerContext,
  type TransportServerEvent,
  type TransportServerState,
  transportServerMachine,
} from './machines/transport-server.js';
export {
  createRouter,
  type RouteAttempt,
  type RouteMode,
  type RoutePath,
  Router,
  type RouterClientOptions,
  type RouterOptions,
} from './routing/index.js';
