/**
 * Migration 3: HTTP handler routes.
 *
 *   wess_routes   id → RouteRecord JSON   one path per tenant (the unique index is what refuses a second)
 *
 * Nodes hold every route in memory (src/http/route-table.ts) and hear other nodes' changes through
 * wess_events (route.stored, route.deleted), like keys.
 */
export const ROUTES_SQL = `
CREATE TABLE wess_routes (
  id     text COLLATE "C" PRIMARY KEY,
  tenant text COLLATE "C" NOT NULL,
  path   text COLLATE "C" NOT NULL,
  record json NOT NULL,
  UNIQUE (tenant, path)
);
`;
