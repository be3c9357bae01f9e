#!/usr/bin/env node
// Test-only: `aklite-stop-at <checkpoint> <aklite-offline command> [args…]` (see src/aklite-stop-at.ts).
await import('../dist/src/aklite-stop-at.js');
