#!/usr/bin/env node
// Test-only: `aklite-stop-at <checkpoint> <aklite-offline command> [args…]` (see src/cli/aklite-stop-at.ts).
await import('../dist/src/cli/aklite-stop-at.js');
