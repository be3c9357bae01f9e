#!/usr/bin/env node
// compose-sim: a docker compose stand-in for simulated devices (see ../README.md).
import process from 'node:process';
import { runComposeSim } from '../dist/src/compose-sim.js';

const result = await runComposeSim(process.argv.slice(2), process.cwd());
process.stdout.write(result.stdout);
process.stderr.write(result.stderr);
process.exitCode = result.exitCode;
