import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// Fixture images are made by the project's own Python (Pillow, scikit-image) in a temp folder;
// the tests find it through LABELBAY_E2E_FIXTURES.
export default function globalSetup(): void {
  const dir = mkdtempSync(join(tmpdir(), 'labelbay-e2e-fixtures-'));
  const python = resolve(import.meta.dirname, '../../.venv/bin/python');
  execFileSync(python, [resolve(import.meta.dirname, 'fixtures.py'), dir], { stdio: 'inherit' });
  process.env.LABELBAY_E2E_FIXTURES = dir;
}
