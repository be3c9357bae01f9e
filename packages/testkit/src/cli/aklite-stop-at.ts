/**
 * `aklite-stop-at <checkpoint> <command> [args…]`: runs the real `aklite-offline <command>`
 * (its oclif command class, flags, output and exit codes) with one port replaced: the
 * checkpoint port, which stops this process (SIGSTOP) when the library reaches
 * `<checkpoint>`. The power-cut tests then SIGKILL it there. Test-only: the shipped CLI has
 * no such hook and reads no variable for it.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config, flush, handle, type Command } from '@oclif/core';
import { CHECKPOINTS, type CheckpointName, type Ports } from '@offline-ota/aklite-offline';

/** What the override needs of an aklite-offline command class (AkliteCommand.ports). */
type AkliteCommandClass = new (
  argv: string[],
  config: Config,
) => { ports(quiet?: boolean): Partial<Ports> };

/** A checkpoint port that stops the process at `at`. */
export function stopAt(at: CheckpointName): Ports['checkpoint'] {
  return (step) => {
    if (step === at) process.kill(process.pid, 'SIGSTOP');
  };
}

async function main(argv: string[]): Promise<void> {
  const [step, id, ...rest] = argv;
  if (step === undefined || id === undefined || !(CHECKPOINTS as readonly string[]).includes(step))
    throw new Error(
      `usage: aklite-stop-at <checkpoint> <command> [args…]; checkpoints: ${CHECKPOINTS.join(', ')}`,
    );
  // <pkg>/dist/src/index.js → <pkg>
  const root = resolve(
    dirname(fileURLToPath(import.meta.resolve('@offline-ota/aklite-offline'))),
    '../..',
  );
  const config = await Config.load(root);
  const found = config.findCommand(id);
  if (found === undefined) throw new Error(`aklite-offline has no command ${id}`);
  const Base = (await found.load()) as unknown as AkliteCommandClass;
  const checkpoint = stopAt(step as CheckpointName);
  class Stopping extends Base {
    override ports(quiet?: boolean): Partial<Ports> {
      return { ...super.ports(quiet), checkpoint };
    }
  }
  Object.defineProperty(Stopping, 'id', { value: id });
  await (Stopping as unknown as Command.Class).run(rest, config);
}

await main(process.argv.slice(2)).then(
  () => flush(),
  (err: unknown) => handle(err as Error),
);
