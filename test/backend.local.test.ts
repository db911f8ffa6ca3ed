import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { openBackend } from '../src/backend/location.js';
import { backendContract } from './support/backend-contract.js';
import { makeTempDir, removeTree } from './support/tmp.js';

backendContract('local', async () => {
  const root = await makeTempDir('backend-local');
  return {
    freshLocation: () => path.join(root, randomBytes(6).toString('hex')),
    open: (location) => openBackend(location),
    stop: () => removeTree(root),
  };
});
