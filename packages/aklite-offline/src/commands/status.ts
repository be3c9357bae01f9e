import { Flags } from '@oclif/core';
import { AkliteCommand } from '../base.js';
import { status } from '../lib/query.js';

export default class Status extends AkliteCommand {
  static override summary =
    'Show the booted commit, the applied and pending Targets, failed Targets, probation and deferrals.';
  static override description =
    'Exit codes: 0, or 1 when the device or its state cannot be read. --json shape in README.md.';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json'];
  static override flags = {
    json: Flags.boolean({ description: 'Print the status as JSON' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Status);
    let res;
    try {
      res = await status({
        deviceRoot: flags['device-root'],
        configPaths: flags.config ?? [],
        ports: this.ports(true),
      });
    } catch (err) {
      return this.fail(err);
    }
    if (flags.json) {
      this.log(JSON.stringify(res, null, 2));
    } else {
      this.log(`Hardware id: ${res.hardware_id}`);
      this.log(
        `Device type: ${res.device_type ?? 'unset (taken from the first bundle installed)'}`,
      );
      this.log(`Tag: ${res.tag || '(any)'}`);
      this.log(`Booted ostree hash: ${res.ostree_hash}`);
      this.log(
        `Applied Target: ${res.applied_target ? `${res.applied_target.name} (version ${res.applied_target.version})` : 'unknown'}`,
      );
      for (const a of res.applied_target?.apps ?? [])
        this.log(`\t${a.on ? 'on ' : 'off'}: ${a.name} -> ${a.uri}`);
      const p = res.pending_target;
      this.log(
        `Pending Target: ${p ? `${p.name} (${p.rollback ? 'rollback, ' : ''}${p.needs_reboot ? 'reboot needed' : 'run `aklite-offline run`'})` : 'none'}`,
      );
      for (const f of res.failed_targets) this.log(`Failed Target: ${f.name}: ${f.reason}`);
      const pr = res.probation;
      this.log(
        pr.state === 'good'
          ? 'System: good (no probation)'
          : `System: on probation (${pr.target}, since ${pr.started_at}, ` +
              `${pr.ends_at === null ? `held by ${pr.locks} lock(s)` : `ends ${pr.ends_at}`}, reboots ${pr.reboots})`,
      );
      this.log(
        `Updates: ${res.deferred_by.length === 0 ? 'allowed' : `deferred by ${res.deferred_by.map((d) => d.client).join(', ')}`}`,
      );
      this.log(`Last good Target: ${res.last_good_target?.name ?? 'unknown'}`);
      if (res.golden_target)
        this.log(
          `Golden system: ${res.golden_target.name ?? res.golden_target.ostree_hash}${res.golden_target.pinned ? ' (pinned)' : ' (NOT pinned)'}`,
        );
    }
    this.done(0);
  }
}
