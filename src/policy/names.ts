/**
 * Names of repositories and datasets. They become snapshot tags and parts of file names,
 * so they are kept to letters, digits and `._-`.
 */
import { z } from 'zod';

/** A repository or dataset name. */
export const nameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
  error: 'names use letters, digits, ".", "_" and "-", and start with a letter or digit',
});
