/**
 * The backup levels, from the most to the least work (R15, R16). Kept apart from the schema
 * (schedules.ts) so that the CLI can name them without loading zod at start-up.
 */
export const backupLevels = ['full', 'differential', 'incremental'] as const;
export type BackupLevel = (typeof backupLevels)[number];
