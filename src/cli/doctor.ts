import { Command } from 'commander';
import { formatDoctorReport, runDoctor } from '../model/runtime/doctor.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('report onnxruntime version, usable execution providers, the Hugging Face cache and free disk')
    .action(async () => {
      const report = await runDoctor();
      process.stdout.write(formatDoctorReport(report).join('\n') + '\n');
    });
}
