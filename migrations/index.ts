import { Initial1763800000000 } from './1763800000000-Initial';

/** Every migration, in order. New migrations are appended here. */
export const migrations = [Initial1763800000000];
