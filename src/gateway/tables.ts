/** Tables owned by the gateway component (Kysely row types). */
export interface GatewayTables {}
