// The DHCP server's public surface; see README.md beside this file.
export { startDhcpServer, type DhcpServer, type DhcpServerOptions } from './server.js';
export { migrateLeases, readLeases, LeaseStore } from './lease-store.js';
export { classifyClient, firmwareOfArch, type BootClient, type BootAnswer, type BootFor } from './classify.js';
export type { Lease, LeaseState } from './address-plan.js';
