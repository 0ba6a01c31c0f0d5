import { Initial1763800000000 } from './1763800000000-Initial';
import { TokenService1763800000200 } from './1763800000200-TokenService';

/** Every migration, in order. New migrations are appended here. */
export const migrations = [Initial1763800000000, TokenService1763800000200];
