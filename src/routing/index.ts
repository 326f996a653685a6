// Routing of request-plane calls over discovered instances: named re-exports only.

export type { RouterClientOptions } from './clients.js';
export {
  createRouter,
  type RouteAttempt,
  type RouteMode,
  type RoutePath,
  Router,
  type RouterOptions,
} from './router.js';
